//! `json_array_single` and `json_array_multi` modes: the message is a JSON array of
//! objects; the first object is the output, or each object is an output of its own.

use super::json::{Expect, JsonAs, Shape, read_as};
use crate::processing::error::ProcessingError;
use crate::processing::record::Record;

/// `json_array_single`: the first element, which must be an object. The elements after it
/// need only be valid JSON; they are not kept.
pub(in crate::processing) fn first(
    text: &str,
    json_as: JsonAs,
) -> Result<Record<'_>, ProcessingError> {
    let mut elements = array(text, true, json_as)?;
    if elements.is_empty() {
        return Err(ProcessingError::new(
            ProcessingError::EMPTY_JSON_ARRAY,
            "the JSON array is empty: there is no first object to output",
        ));
    }
    object(0, elements.swap_remove(0))
}

/// `json_array_multi`: every element, each of which must be an object. An empty array is
/// no output at all.
pub(in crate::processing) fn each(
    text: &str,
    json_as: JsonAs,
) -> Result<Vec<Record<'_>>, ProcessingError> {
    array(text, false, json_as)?
        .into_iter()
        .enumerate()
        .map(|(index, element)| object(index, element))
        .collect()
}

fn array(
    text: &str,
    first_only: bool,
    json_as: JsonAs,
) -> Result<Vec<Shape<Record<'_>>>, ProcessingError> {
    match read_as(text, Expect::Array { first_only }, json_as)? {
        Shape::Array(elements) => Ok(elements),
        Shape::Object(_) => Err(not_an_array("an object")),
        Shape::Other(what) => Err(not_an_array(what)),
    }
}

fn not_an_array(what: &str) -> ProcessingError {
    ProcessingError::new(
        ProcessingError::NOT_JSON_ARRAY,
        format!("expected a JSON array of objects, found {what}"),
    )
}

fn object(index: usize, element: Shape<Record<'_>>) -> Result<Record<'_>, ProcessingError> {
    let what = match element {
        Shape::Object(record) => return Ok(record),
        Shape::Array(_) => "an array",
        Shape::Other(what) => what,
    };
    Err(ProcessingError::new(
        ProcessingError::NOT_JSON_OBJECT,
        format!("element {index} of the JSON array is {what}, not an object"),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn values(records: Vec<Record<'static>>) -> Vec<serde_json::Value> {
        records
            .into_iter()
            .map(|record| match record {
                Record::Json(value) => value,
                other => panic!("a value: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn single_takes_the_first_object_and_only_checks_the_rest_is_json() {
        let Record::Json(first) = first(r#"[{"a": 1}, 2, [3]]"#, JsonAs::Value).unwrap() else {
            panic!("value")
        };
        assert_eq!(first, json!({"a": 1}));
        let err = first_err(r#"[{"a": 1}, {"b": ]"#);
        assert_eq!(err.kind, "invalid_json");
        let err = first_err("[]");
        assert_eq!(err.kind, "empty_json_array");
        let err = first_err(r#"["a", {"b": 1}]"#);
        assert_eq!(
            (err.kind, err.reason.as_str()),
            (
                "not_json_object",
                "element 0 of the JSON array is a string, not an object"
            )
        );
    }

    fn first_err(text: &str) -> ProcessingError {
        first(text, JsonAs::Value).unwrap_err()
    }

    #[test]
    fn multi_takes_every_object_and_rejects_any_other_element() {
        assert_eq!(
            values(each(r#"[{"a": 1}, {"a": 2}]"#, JsonAs::Value).unwrap()),
            [json!({"a": 1}), json!({"a": 2})]
        );
        assert!(each(" [ ] ", JsonAs::Ordered).unwrap().is_empty());
        let err = each(r#"[{"a": 1}, [{"a": 2}]]"#, JsonAs::Ordered).unwrap_err();
        assert_eq!(
            (err.kind, err.reason.as_str()),
            (
                "not_json_object",
                "element 1 of the JSON array is an array, not an object"
            )
        );
    }

    #[test]
    fn anything_but_an_array_is_rejected_with_what_it_is() {
        for json_as in [JsonAs::Ordered, JsonAs::Raw, JsonAs::Value] {
            for (text, what) in [(r#"{"a": [1]}"#, "an object"), ("7", "a number")] {
                let err = each(text, json_as).unwrap_err();
                assert_eq!(err.kind, "not_json_array");
                assert_eq!(
                    err.reason,
                    format!("expected a JSON array of objects, found {what}")
                );
                assert_eq!(first(text, json_as).unwrap_err(), err);
            }
        }
    }
}
