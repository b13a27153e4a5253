//! `json` mode: the message is one JSON object; its top-level keys are the fields, in
//! document order, nested values kept as JSON. Also the JSON reading that the
//! `json_array_*` modes share.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::processing::error::ProcessingError;
use crate::processing::raw::RawObject;
use crate::processing::record::{OrderedObject, Record};

/// How JSON objects are read, which depends on what the fields need of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::processing) enum JsonAs {
    /// Keys in document order, values decoded: to output every field.
    Ordered,
    /// Lazily: to look up a few values (mappings, single-value JSONPaths).
    Raw,
    /// A whole `serde_json::Value`: for JSONPaths that need the whole document.
    Value,
}

pub(in crate::processing) fn parse(
    text: &str,
    json_as: JsonAs,
) -> Result<Record<'_>, ProcessingError> {
    let shape = read_as(text, Expect::Object, json_as)?;
    match shape {
        Shape::Object(record) => Ok(record),
        Shape::Array(_) => Err(not_an_object("an array")),
        Shape::Other(what) => Err(not_an_object(what)),
    }
}

fn not_an_object(what: &str) -> ProcessingError {
    ProcessingError::new(
        ProcessingError::NOT_JSON_OBJECT,
        format!("expected a JSON object, found {what}"),
    )
}

/// What a JSON document is, as far as processing cares: an object (as `T`), an array of
/// elements, or something else (which is read but not kept).
#[derive(Debug)]
pub(super) enum Shape<T> {
    Object(T),
    Array(Vec<Shape<T>>),
    /// What it is, e.g. `"a string"`.
    Other(&'static str),
}

/// What is wanted of a JSON document; what is not wanted is only checked to be valid JSON.
#[derive(Clone, Copy, Debug)]
pub(super) enum Expect {
    /// An object; an array is `Shape::Array` with no elements kept.
    Object,
    /// An array of objects (its elements read with [`Expect::Object`]), all of them or only
    /// the first.
    Array { first_only: bool },
}

/// The representation an object is built into.
pub(super) trait Object<'de>: Sized {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// A `serde_json::Value::Object`, for lookups and JSONPaths.
impl<'de> Object<'de> for Value {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        serde::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

/// Raw values borrowed from the message, for a few lookups.
impl<'de> Object<'de> for RawObject<'de> {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        RawObject::from_map(map)
    }
}

/// Keys in document order, for output without `fields`.
impl<'de> Object<'de> for OrderedObject {
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut object = OrderedObject::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Value>()?;
            object.insert(key, value);
        }
        Ok(object)
    }
}

/// Reads `text` as one JSON document, objects as `json_as` says.
pub(super) fn read_as(
    text: &str,
    expect: Expect,
    json_as: JsonAs,
) -> Result<Shape<Record<'_>>, ProcessingError> {
    match json_as {
        JsonAs::Ordered => read(text, expect, Record::Ordered),
        JsonAs::Raw => read(text, expect, Record::Raw),
        JsonAs::Value => read(text, expect, Record::Json),
    }
}

/// Reads `text` as one JSON document, building objects as `O` and wrapping each in `wrap`.
fn read<'a, O: Object<'a>, T>(
    text: &'a str,
    expect: Expect,
    wrap: fn(O) -> T,
) -> Result<Shape<T>, ProcessingError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let shape = ShapeSeed { expect, wrap }
        .deserialize(&mut deserializer)
        .and_then(|shape| deserializer.end().map(|()| shape))
        .map_err(|err| {
            ProcessingError::new(
                ProcessingError::INVALID_JSON,
                format!("not valid JSON: {err}"),
            )
        })?;
    Ok(shape)
}

struct ShapeSeed<O, T> {
    expect: Expect,
    wrap: fn(O) -> T,
}

impl<O, T> Clone for ShapeSeed<O, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O, T> Copy for ShapeSeed<O, T> {}

impl<'de, O: Object<'de>, T> DeserializeSeed<'de> for ShapeSeed<O, T> {
    type Value = Shape<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Shape<T>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, O: Object<'de>, T> Visitor<'de> for ShapeSeed<O, T> {
    type Value = Shape<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape<T>, A::Error> {
        match self.expect {
            Expect::Object => O::from_map(map).map(|object| Shape::Object((self.wrap)(object))),
            Expect::Array { .. } => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Shape::Other("an object"))
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape<T>, A::Error> {
        let mut elements = Vec::new();
        if let Expect::Array { first_only } = self.expect {
            let element = ShapeSeed {
                expect: Expect::Object,
                wrap: self.wrap,
            };
            if first_only {
                elements.extend(seq.next_element_seed(element)?);
            } else {
                elements.reserve(seq.size_hint().unwrap_or(4));
                while let Some(shape) = seq.next_element_seed(element)? {
                    elements.push(shape);
                }
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shape::Array(elements))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape<T>, E> {
        Ok(Shape::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape<T>, E> {
        Ok(Shape::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape<T>, E> {
        Ok(Shape::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape<T>, E> {
        Ok(Shape::Other("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape<T>, E> {
        Ok(Shape::Other("a string"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Shape<T>, E> {
        Ok(Shape::Other("null"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keeps_document_order_without_fields_and_a_value_with_them() {
        let text = r#"{"z": 1, "a": {"y": [1, 2]}, "m": "x", "a": 2}"#;
        let Record::Ordered(object) = parse(text, JsonAs::Ordered).unwrap() else {
            panic!("ordered")
        };
        let keys: Vec<_> = object.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["z", "a", "m"],
            "a duplicate key keeps its first place"
        );
        assert_eq!(object["a"], json!(2), "and its last value");

        let Record::Json(value) = parse(text, JsonAs::Value).unwrap() else {
            panic!("value")
        };
        assert_eq!(value, json!({"z": 1, "a": 2, "m": "x"}));
    }

    #[test]
    fn anything_but_an_object_is_rejected_with_what_it_is() {
        for (text, kind, reason) in [
            (
                "[1, 2]",
                "not_json_object",
                "expected a JSON object, found an array",
            ),
            (
                "\"s\"",
                "not_json_object",
                "expected a JSON object, found a string",
            ),
            (
                "12.5",
                "not_json_object",
                "expected a JSON object, found a number",
            ),
            (
                "true",
                "not_json_object",
                "expected a JSON object, found a boolean",
            ),
            (
                "null",
                "not_json_object",
                "expected a JSON object, found null",
            ),
            (
                "{\"a\": }",
                "invalid_json",
                "not valid JSON: expected value at line 1 column 7",
            ),
            (
                "{} {}",
                "invalid_json",
                "not valid JSON: trailing characters at line 1 column 4",
            ),
            (
                "[1, }",
                "invalid_json",
                "not valid JSON: expected value at line 1 column 5",
            ),
            (
                "   ",
                "invalid_json",
                "not valid JSON: EOF while parsing a value at line 1 column 3",
            ),
        ] {
            for json_as in [JsonAs::Ordered, JsonAs::Raw, JsonAs::Value] {
                let err = parse(text, json_as).unwrap_err();
                assert_eq!((err.kind, err.reason.as_str()), (kind, reason), "{text}");
            }
        }
    }
}
