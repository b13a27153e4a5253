//! What the parse step gives and the output step takes: a parsed record, its field names
//! and field values. Values borrow from the message, the compiled config or the parsed
//! document wherever they can, so that a message is not copied field by field.

use std::borrow::Cow;
use std::io::Write as _;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::error::ProcessingError;
use super::raw::{self, RawObject};

/// A JSON object with its keys in document order. Of duplicate keys the last value wins, in
/// the place of the first (serde_json keeps the last value too).
pub(super) type OrderedObject = IndexMap<String, Value>;

/// One parsed message (or, in `json_array_multi` mode, one element of it).
#[derive(Debug)]
pub(super) enum Record<'a> {
    /// A JSON object (JSON modes with a JSONPath that can select several values): looked up
    /// by key, and itself the document that JSONPaths run on. Always a `Value::Object`.
    Json(Value),
    /// A JSON object in document order (JSON modes without `fields`, which output every
    /// key in order).
    Ordered(OrderedObject),
    /// A JSON object read lazily (JSON modes whose fields need no whole document: mappings
    /// and single-value JSONPaths): only the values looked up are decoded.
    Raw(RawObject<'a>),
    /// Text fields named by position, `"0"`, `"1"`, … (separator mode, and regex mode
    /// without named groups).
    Positional(Vec<&'a str>),
    /// The named groups of a regex, in pattern order; `None` for a group that took no part
    /// in the match.
    Named {
        names: &'a [String],
        values: Vec<Option<&'a str>>,
    },
}

/// The name of a field.
#[derive(Clone, Copy, Debug)]
pub(super) enum Name<'a> {
    Str(&'a str),
    /// A positional field, written as its decimal number.
    Index(usize),
}

/// The value of a field.
#[derive(Debug)]
pub(super) enum FieldValue<'a> {
    Json(&'a Value),
    /// Text, a JSON string.
    Text(&'a str),
    /// A value made for this message (a JSONPath's several results, the system time, a
    /// value decoded from a lazily read object).
    Owned(Value),
}

static NULL: Value = Value::Null;

impl<'a> Record<'a> {
    /// The value of the field named `key`, if the record has it. Only decoding a lazily
    /// read JSON value can fail.
    pub(super) fn get(&self, key: &str) -> Result<Option<FieldValue<'_>>, ProcessingError> {
        Ok(match self {
            Self::Json(value) => value.get(key).map(FieldValue::Json),
            Self::Ordered(object) => object.get(key).map(FieldValue::Json),
            Self::Raw(object) => object.get(key).map(raw::decode).transpose()?,
            Self::Positional(values) => position(key)
                .and_then(|index| values.get(index))
                .map(|text| FieldValue::Text(text)),
            Self::Named { names, values } => names
                .iter()
                .position(|name| name == key)
                .map(|index| named_value(values[index])),
        })
    }

    /// Calls `f` with every field, in parse order.
    pub(super) fn for_each_field(
        &self,
        mut f: impl FnMut(Name<'_>, FieldValue<'_>),
    ) -> Result<(), ProcessingError> {
        match self {
            Self::Json(value) => {
                for (key, value) in value.as_object().into_iter().flatten() {
                    f(Name::Str(key), FieldValue::Json(value));
                }
            }
            // Not read lazily when every field is output; decoded whole, like `Json`.
            Self::Raw(object) => {
                let value = object.to_value()?;
                for (key, value) in value.as_object().into_iter().flatten() {
                    f(Name::Str(key), FieldValue::Json(value));
                }
            }
            Self::Ordered(object) => {
                for (key, value) in object {
                    f(Name::Str(key), FieldValue::Json(value));
                }
            }
            Self::Positional(values) => {
                for (index, text) in values.iter().enumerate() {
                    f(Name::Index(index), FieldValue::Text(text));
                }
            }
            Self::Named { names, values } => {
                for (name, value) in names.iter().zip(values) {
                    f(Name::Str(name), named_value(*value));
                }
            }
        }
        Ok(())
    }

    /// The JSON document that JSONPaths run on: the JSON object itself, or for text modes
    /// an object of the parsed fields (`{"0": "a", "1": "b"}`, `{"level": "WARN"}`).
    pub(super) fn document(&self) -> Result<Cow<'_, Value>, ProcessingError> {
        Ok(match self {
            Self::Json(value) => Cow::Borrowed(value),
            Self::Ordered(object) => Cow::Owned(Value::Object(
                object
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
            )),
            Self::Raw(object) => Cow::Owned(object.to_value()?),
            Self::Positional(_) | Self::Named { .. } => {
                let mut object = Map::new();
                self.for_each_field(|name, value| {
                    let key = match name {
                        Name::Str(name) => name.to_owned(),
                        Name::Index(index) => index.to_string(),
                    };
                    object.insert(key, value.into_owned());
                })?;
                Cow::Owned(Value::Object(object))
            }
        })
    }
}

/// The position a positional field named `key` has: `"0"`, `"1"`, … but not `"01"` or `"+1"`.
fn position(key: &str) -> Option<usize> {
    let canonical =
        key.bytes().all(|b| b.is_ascii_digit()) && (key == "0" || !key.starts_with('0'));
    if canonical { key.parse().ok() } else { None }
}

fn named_value(value: Option<&str>) -> FieldValue<'_> {
    value.map_or(FieldValue::Json(&NULL), FieldValue::Text)
}

impl Name<'_> {
    /// Writes the name as it is (`value` and `key_value` output).
    pub(super) fn write_text(self, out: &mut Vec<u8>) {
        match self {
            Self::Str(name) => out.extend_from_slice(name.as_bytes()),
            Self::Index(index) => write_int(out, index),
        }
    }

    /// Writes the name as a JSON string (`json` output).
    pub(super) fn write_json(self, out: &mut Vec<u8>) {
        match self {
            Self::Str(name) => write_json(out, name),
            Self::Index(index) => {
                out.push(b'"');
                write_int(out, index);
                out.push(b'"');
            }
        }
    }
}

impl FieldValue<'_> {
    pub(super) fn into_owned(self) -> Value {
        match self {
            Self::Json(value) => value.clone(),
            Self::Text(text) => Value::String(text.to_owned()),
            Self::Owned(value) => value,
        }
    }

    /// Writes the value as JSON, types kept (`json` output).
    pub(super) fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Self::Json(value) => write_json(out, value),
            Self::Owned(value) => write_json(out, value),
            Self::Text(text) => write_json(out, text),
        }
    }

    /// Writes the value as text (`value` and `key_value` output): a string as it is, a
    /// number, boolean or null as its JSON text, an object or array as compact JSON.
    pub(super) fn write_text(&self, out: &mut Vec<u8>) {
        match self {
            Self::Text(text) => out.extend_from_slice(text.as_bytes()),
            Self::Json(Value::String(text)) | Self::Owned(Value::String(text)) => {
                out.extend_from_slice(text.as_bytes());
            }
            Self::Json(value) => write_json(out, value),
            Self::Owned(value) => write_json(out, value),
        }
    }
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing to a Vec cannot fail, and neither can serializing a `Value` or a `str`.
    serde_json::to_writer(out, value).expect("JSON serializes into a Vec");
}

fn write_int(out: &mut Vec<u8>, n: usize) {
    let _ = write!(out, "{n}");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(record: &Record<'_>) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let done = record.for_each_field(|name, value| {
            let (mut n, mut v) = (Vec::new(), Vec::new());
            name.write_json(&mut n);
            value.write_json(&mut v);
            found.push((String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()));
        });
        done.unwrap();
        found
    }

    #[test]
    fn positional_fields_are_named_by_canonical_index() {
        let record = Record::Positional(vec!["a", "b"]);
        assert!(matches!(record.get("1"), Ok(Some(FieldValue::Text("b")))));
        for missing in ["01", "2", "+1", "", "x"] {
            assert!(matches!(record.get(missing), Ok(None)), "{missing}");
        }
        assert_eq!(
            fields(&record),
            [
                ("\"0\"".to_owned(), "\"a\"".to_owned()),
                ("\"1\"".to_owned(), "\"b\"".to_owned())
            ]
        );
        assert_eq!(*record.document().unwrap(), json!({"0": "a", "1": "b"}));
    }

    #[test]
    fn a_named_group_that_took_no_part_is_null() {
        let names = ["a".to_owned(), "b".to_owned()];
        let record = Record::Named {
            names: &names,
            values: vec![None, Some("x")],
        };
        assert!(matches!(
            record.get("a"),
            Ok(Some(FieldValue::Json(Value::Null)))
        ));
        assert!(matches!(record.get("b"), Ok(Some(FieldValue::Text("x")))));
        assert_eq!(*record.document().unwrap(), json!({"a": null, "b": "x"}));
    }
}
