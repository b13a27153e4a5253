//! JSON read lazily: the message is checked to be JSON once, its top-level object indexed as
//! key → raw text, and only the values that fields use are decoded. This is how JSON modes
//! read a message when every field is a `mapping`, a single-value JSONPath (`$.a.b[0]`), a
//! `system_time` or a `custom`: most of a message is then never turned into
//! `serde_json::Value`s.
//!
//! A decoded value is exactly what `serde_json` would have made of it (the last of duplicate
//! keys wins, escapes are decoded, numbers are numbers), so the output is the same as with a
//! whole `Value`. The parts no field uses are checked for JSON syntax only: a number out of
//! range, a lone surrogate escape or nesting deeper than 128 there is not an error.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::error::ProcessingError;
use super::record::FieldValue;

/// A JSON object's entries in document order, values as raw JSON text.
#[derive(Debug)]
pub(super) struct RawObject<'a> {
    entries: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    pub(super) fn from_map<A: MapAccess<'a>>(mut map: A) -> Result<Self, A::Error> {
        let mut entries = Vec::with_capacity(16);
        while let Some(key) = map.next_key_seed(Key)? {
            entries.push((key, map.next_value::<&'a RawValue>()?));
        }
        Ok(Self { entries })
    }

    /// The raw value of `key`; of duplicate keys, the last.
    pub(super) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|&(_, value)| value)
    }

    /// The whole object, decoded.
    pub(super) fn to_value(&self) -> Result<Value, ProcessingError> {
        let mut object = Map::new();
        for (key, value) in &self.entries {
            object.insert(key.clone().into_owned(), decode_value(value)?);
        }
        Ok(Value::Object(object))
    }
}

/// Decodes a raw value into a field value, borrowing a string without escapes.
pub(super) fn decode(raw: &RawValue) -> Result<FieldValue<'_>, ProcessingError> {
    let text = raw.get();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        // Valid JSON: without a backslash the string's text is its value.
        if !inner.contains('\\') {
            return Ok(FieldValue::Text(inner));
        }
    }
    decode_value(raw).map(FieldValue::Owned)
}

fn decode_value(raw: &RawValue) -> Result<Value, ProcessingError> {
    serde_json::from_str(raw.get()).map_err(|err| {
        // The position serde_json gives is within the value, not the message: leave it out.
        let message = err.to_string();
        let position = format!(" at line {} column {}", err.line(), err.column());
        let message = message.strip_suffix(&position).unwrap_or(&message);
        ProcessingError::new(
            ProcessingError::INVALID_JSON,
            format!("not valid JSON: {message}"),
        )
    })
}

/// The value of `key` in `raw` if it is an object that has it (the last of duplicates).
pub(super) fn member<'a>(raw: &'a RawValue, key: &str) -> Option<&'a RawValue> {
    if !raw.get().starts_with('{') {
        return None;
    }
    // The text was checked to be JSON when the message was read: reading it again cannot
    // fail.
    serde_json::Deserializer::from_str(raw.get())
        .deserialize_map(Member(key))
        .ok()
        .flatten()
}

/// Element `index` of `raw` if it is an array that has it (RFC 9535: a negative index
/// counts from the end).
pub(super) fn element(raw: &RawValue, index: i64) -> Option<&RawValue> {
    if !raw.get().starts_with('[') {
        return None;
    }
    serde_json::Deserializer::from_str(raw.get())
        .deserialize_seq(Element(index))
        .ok()
        .flatten()
}

/// A key, borrowed from the message when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

/// Whether a key is this one.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

struct Member<'k>(&'k str);

impl<'de> Visitor<'de> for Member<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_it) = map.next_key_seed(KeyIs(self.0))? {
            if is_it {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct Element(i64);

impl<'de> Visitor<'de> for Element {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let found = match usize::try_from(self.0) {
            Ok(index) => {
                let mut found = None;
                let mut at = 0;
                while let Some(element) = seq.next_element::<&'de RawValue>()? {
                    if at == index {
                        found = Some(element);
                        break;
                    }
                    at += 1;
                }
                found
            }
            Err(_) => {
                let mut elements = Vec::new();
                while let Some(element) = seq.next_element::<&'de RawValue>()? {
                    elements.push(element);
                }
                usize::try_from(self.0.unsigned_abs())
                    .ok()
                    .and_then(|back| elements.len().checked_sub(back))
                    .map(|index| elements[index])
            }
        };
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    fn object(text: &str) -> RawObject<'_> {
        serde_json::Deserializer::from_str(text)
            .deserialize_map(ObjectVisitor)
            .unwrap()
    }

    struct ObjectVisitor;

    impl<'de> Visitor<'de> for ObjectVisitor {
        type Value = RawObject<'de>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            RawObject::from_map(map)
        }
    }

    fn decoded(raw: &RawValue) -> Value {
        match decode(raw).unwrap() {
            FieldValue::Text(text) => Value::String(text.to_owned()),
            FieldValue::Owned(value) => value,
            FieldValue::Json(value) => value.clone(),
        }
    }

    #[test]
    fn decodes_like_serde_json() {
        let text = r#"{"a": 1, "\u0062": "x\ny", "a": {"z": 1.50, "y": [1e2, -0]}, "s": "plain"}"#;
        let object = object(text);
        assert_eq!(
            object.to_value().unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert_eq!(
            decoded(object.get("a").unwrap()),
            serde_json::from_str::<Value>(r#"{"z": 1.50, "y": [1e2, -0]}"#).unwrap()
        );
        assert_eq!(decoded(object.get("b").unwrap()), json!("x\ny"));
        assert!(matches!(
            decode(object.get("s").unwrap()),
            Ok(FieldValue::Text("plain"))
        ));
        assert!(object.get("c").is_none());
        let err = decode(raw("[1, 1e999]")).unwrap_err();
        assert_eq!(
            (err.kind, err.reason.as_str()),
            ("invalid_json", "not valid JSON: number out of range")
        );
    }

    #[test]
    fn finds_members_and_elements() {
        let doc = raw(r#"{"k": 1, "a": [10, {"b": 2}, 30], "k": [5], "\u006b2": 3}"#);
        assert_eq!(
            member(doc, "k").unwrap().get(),
            "[5]",
            "the last of duplicates"
        );
        assert_eq!(
            member(doc, "k2").unwrap().get(),
            "3",
            "escaped keys are decoded"
        );
        assert!(member(doc, "x").is_none());
        let array = member(doc, "a").unwrap();
        assert!(member(array, "b").is_none(), "not an object");
        assert_eq!(element(array, 0).unwrap().get(), "10");
        assert_eq!(element(array, 2).unwrap().get(), "30");
        assert!(element(array, 3).is_none());
        assert_eq!(element(array, -1).unwrap().get(), "30");
        assert_eq!(element(array, -3).unwrap().get(), "10");
        assert!(element(array, -4).is_none());
        assert!(element(array, i64::MIN).is_none());
        assert!(element(doc, 0).is_none(), "not an array");
        assert_eq!(member(element(array, 1).unwrap(), "b").unwrap().get(), "2");
    }
}
