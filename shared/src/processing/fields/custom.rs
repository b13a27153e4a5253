//! The `custom` op: a constant, any JSON value, written as given.

use serde_json::Value;

use crate::processing::record::FieldValue;

pub(in crate::processing) fn evaluate(value: &Value) -> FieldValue<'_> {
    FieldValue::Json(value)
}
