//! The `mapping` op: the value of a parsed field, by its exact name (a top-level key of a
//! JSON object, not a path into it; `"0"`, `"1"`, … for positional fields). A message
//! without that field is an error.

use crate::processing::error::ProcessingError;
use crate::processing::record::{FieldValue, Record};

pub(in crate::processing) fn evaluate<'a>(
    record: &'a Record<'_>,
    from: &str,
) -> Result<FieldValue<'a>, ProcessingError> {
    record.get(from)?.ok_or_else(|| {
        let reason = match record {
            Record::Positional(values) => format!(
                "the message has no field `{from}`: it has {} field{} (`0` to `{}`)",
                values.len(),
                if values.len() == 1 { "" } else { "s" },
                values.len().saturating_sub(1)
            ),
            _ => format!("the message has no key `{from}`"),
        };
        ProcessingError::new(ProcessingError::MISSING_KEY, reason)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn takes_an_existing_key_and_names_a_missing_one() {
        let record = Record::Json(json!({"user": {"name": "ann"}, "n": null}));
        assert!(matches!(
            evaluate(&record, "n"),
            Ok(FieldValue::Json(serde_json::Value::Null))
        ));
        let err = evaluate(&record, "user.name").unwrap_err();
        assert_eq!(
            (err.kind, err.reason.as_str()),
            ("missing_key", "the message has no key `user.name`")
        );
        let err = evaluate(&Record::Positional(vec!["a", "b"]), "2").unwrap_err();
        assert_eq!(
            err.reason,
            "the message has no field `2`: it has 2 fields (`0` to `1`)"
        );
    }
}
