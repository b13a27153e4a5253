//! The `system_time` op: the time of processing, in milliseconds since the Unix epoch, as a
//! JSON number. The caller passes the time in, once per message.

use serde_json::Value;

use crate::processing::record::FieldValue;

pub(in crate::processing) fn evaluate(now_ms: i64) -> FieldValue<'static> {
    FieldValue::Owned(Value::from(now_ms))
}
