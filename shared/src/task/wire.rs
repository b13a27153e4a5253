//! The JSON of the task types whose shape serde's derive cannot say: a task, tagged by
//! `kind`; and the fields whose value is a string or an object (`start_offset`,
//! `on_error`, `topics`).
//!
//! Each of those fields has a `…Shape` type: the JSON it is written as, which also gives
//! the field its schema in the OpenAPI document, so what is served and what is documented
//! are one type. Reading is hand-written, so that a bad value is answered with the shapes
//! allowed ("`discard`, `retain` or {"dead_letter_topic": …}") rather than serde's
//! "data did not match any variant".

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Unexpected, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::model::{OnError, StartOffset, TaskKind, TaskSpec, TopicSelection, TopicStartOffset};
use super::validate::{MAX_TOPIC_REGEX_CHARS, TOPIC_NAME_PATTERN};
use crate::processing::{BODY, compile_regex, from_json};
use crate::validation::FieldError;

/// Decodes a task spec, without the rules of [`TaskSpec::validate`].
pub(super) fn decode_task_spec(body: &Value) -> Result<TaskSpec, FieldError> {
    let Value::Object(fields) = body else {
        return Err(FieldError::new(
            BODY,
            "a task must be a JSON object, e.g. {\"name\": ..., \"kind\": \"instance\", ...}",
        ));
    };
    let Some(kind) = fields.get("kind") else {
        return Err(FieldError::new(
            "kind",
            "required field is missing: give `instance` or `topic`",
        ));
    };
    if !kind.is_string() {
        return Err(FieldError::new("kind", "must be `instance` or `topic`"));
    }
    let kind: TaskKind = from_json(kind, "kind")?;
    // The fields of the kind, without the tag that chose it.
    let mut rest = fields.clone();
    rest.remove("kind");
    let rest = Value::Object(rest);
    Ok(match kind {
        TaskKind::Instance => TaskSpec::Instance(from_json(&rest, "")?),
        TaskKind::Topic => TaskSpec::Topic(from_json(&rest, "")?),
    })
}

impl<'de> Deserialize<'de> for TaskSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        decode_task_spec(&value).map_err(de::Error::custom)
    }
}

// ---- start_offset ---------------------------------------------------------------------

/// `"earliest"`, `"latest"` or `{"timestamp_ms": N}`.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub(super) enum TopicStartOffsetShape {
    Named(StartOffset),
    At(Timestamp),
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Timestamp {
    /// Milliseconds since the Unix epoch.
    #[serde(deserialize_with = "epoch_millis")]
    #[schemars(range(min = 0))]
    timestamp_ms: i64,
}

fn epoch_millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let ms = i64::deserialize(deserializer)?;
    if ms < 0 {
        return Err(de::Error::invalid_value(
            Unexpected::Signed(ms),
            &"a time in milliseconds since the Unix epoch (0 or more)",
        ));
    }
    Ok(ms)
}

impl Serialize for TopicStartOffset {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Earliest => TopicStartOffsetShape::Named(StartOffset::Earliest),
            Self::Latest => TopicStartOffsetShape::Named(StartOffset::Latest),
            Self::Timestamp(timestamp_ms) => TopicStartOffsetShape::At(Timestamp { timestamp_ms }),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TopicStartOffset {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StartVisitor;
        impl<'de> Visitor<'de> for StartVisitor {
            type Value = TopicStartOffset;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""earliest", "latest" or {"timestamp_ms": <milliseconds since the Unix epoch>}"#)
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                match value {
                    "earliest" => Ok(TopicStartOffset::Earliest),
                    "latest" => Ok(TopicStartOffset::Latest),
                    _ => Err(E::invalid_value(Unexpected::Str(value), &self)),
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let at = Timestamp::deserialize(MapAccessDeserializer::new(map))?;
                Ok(TopicStartOffset::Timestamp(at.timestamp_ms))
            }
        }
        deserializer.deserialize_any(StartVisitor)
    }
}

// ---- on_error -------------------------------------------------------------------------

/// `"discard"`, `"retain"` or `{"dead_letter_topic": T}`.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub(super) enum OnErrorShape {
    Policy(Policy),
    DeadLetter(DeadLetter),
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Policy {
    Discard,
    Retain,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DeadLetter {
    /// A topic on the target cluster.
    #[schemars(pattern(TOPIC_NAME_PATTERN))]
    dead_letter_topic: String,
}

impl Serialize for OnError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Discard => OnErrorShape::Policy(Policy::Discard),
            Self::Retain => OnErrorShape::Policy(Policy::Retain),
            Self::DeadLetter { topic } => OnErrorShape::DeadLetter(DeadLetter {
                dead_letter_topic: topic.clone(),
            }),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OnError {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OnErrorVisitor;
        impl<'de> Visitor<'de> for OnErrorVisitor {
            type Value = OnError;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""discard", "retain" or {"dead_letter_topic": "<topic>"}"#)
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                match value {
                    "discard" => Ok(OnError::Discard),
                    "retain" => Ok(OnError::Retain),
                    _ => Err(E::invalid_value(Unexpected::Str(value), &self)),
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let dead_letter = DeadLetter::deserialize(MapAccessDeserializer::new(map))?;
                Ok(OnError::DeadLetter {
                    topic: dead_letter.dead_letter_topic,
                })
            }
        }
        deserializer.deserialize_any(OnErrorVisitor)
    }
}

// ---- topics ---------------------------------------------------------------------------

/// `{"all": true}` or `{"regex": "<pattern>"}`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum TopicSelectionShape {
    /// Only `true`: to select some topics, give a regex.
    All(#[schemars(extend("enum" = [true]))] bool),
    /// Selects the topics in whose name it finds a match.
    Regex(#[schemars(length(min = 1, max = MAX_TOPIC_REGEX_CHARS))] String),
}

impl Serialize for TopicSelection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::All => TopicSelectionShape::All(true),
            Self::Regex(regex) => TopicSelectionShape::Regex(regex.as_str().to_owned()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TopicSelection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = r#"{"all": true} or {"regex": "<pattern>"}"#;

        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Key {
            All,
            Regex,
        }

        /// The value of `all`, which can only be `true`.
        struct AllTopics;
        impl<'de> Deserialize<'de> for AllTopics {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                match bool::deserialize(deserializer)? {
                    true => Ok(AllTopics),
                    false => Err(de::Error::invalid_value(
                        Unexpected::Bool(false),
                        &r#"true (to select only some topics, give {"regex": "<pattern>"} instead)"#,
                    )),
                }
            }
        }

        struct TopicsVisitor;
        impl<'de> Visitor<'de> for TopicsVisitor {
            type Value = TopicSelection;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut selection = None;
                while let Some(key) = map.next_key::<Key>()? {
                    let this = match key {
                        Key::All => {
                            map.next_value::<AllTopics>()?;
                            TopicSelection::All
                        }
                        Key::Regex => TopicSelection::Regex(map.next_value::<TopicRegex>()?.0),
                    };
                    if selection.replace(this).is_some() {
                        return Err(de::Error::custom(format!(
                            "give either {EXPECTED}, not both"
                        )));
                    }
                }
                selection.ok_or_else(|| de::Error::custom(format!("expected {EXPECTED}")))
            }
        }
        deserializer.deserialize_map(TopicsVisitor)
    }
}

/// The value of `topics.regex`, compiled.
struct TopicRegex(regex::Regex);

impl<'de> Deserialize<'de> for TopicRegex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pattern = String::deserialize(deserializer)?;
        if pattern.is_empty() {
            return Err(de::Error::custom(
                r#"must not be empty; to select every topic, give {"all": true}"#,
            ));
        }
        let chars = pattern.chars().count();
        if chars > MAX_TOPIC_REGEX_CHARS {
            return Err(de::Error::custom(format!(
                "is {chars} characters long; at most {MAX_TOPIC_REGEX_CHARS} are allowed"
            )));
        }
        compile_regex(&pattern)
            .map(TopicRegex)
            .map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{field_of, instance_body, topic, topic_body, with, without};
    use super::super::model::TopicTaskSpec;
    use super::super::parse_task_spec;
    use super::*;

    fn topic_spec(body: Value) -> TopicTaskSpec {
        match parse_task_spec(&body).unwrap() {
            TaskSpec::Topic(spec) => spec,
            TaskSpec::Instance(_) => panic!("topic task"),
        }
    }

    #[test]
    fn design_examples_parse_and_round_trip() {
        for body in [
            instance_body(),
            with(instance_body(), "topics", json!({"regex": "^orders\\..*"})),
            with(instance_body(), "sync", json!("metadata+messages")),
            topic_body(),
        ] {
            let body = if body["topics"].get("regex").is_some() {
                with(body, "sync", json!("metadata+messages"))
            } else {
                body
            };
            let spec = parse_task_spec(&body).unwrap();
            assert_eq!(serde_json::to_value(&spec).unwrap(), body);
            // What the store writes, it reads back.
            let stored: TaskSpec =
                serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
            assert_eq!(stored, spec);
        }
        let TaskSpec::Topic(spec) = topic() else {
            panic!("topic task")
        };
        assert_eq!(
            spec.start_offset,
            TopicStartOffset::Timestamp(1_767_225_600_000)
        );
        assert_eq!(
            spec.on_error,
            OnError::DeadLetter {
                topic: "orders-dlq".into()
            }
        );
    }

    #[test]
    fn defaults_are_filled_in_and_shown() {
        let minimal = json!({"name": "n", "kind": "instance", "source": "a", "target": "b", "sync": "metadata"});
        let spec = parse_task_spec(&minimal).unwrap();
        assert_eq!(
            serde_json::to_value(&spec).unwrap(),
            json!({"kind": "instance", "name": "n", "source": "a", "target": "b", "sync": "metadata",
                   "start_offset": "earliest", "topics": {"all": true}, "same_partition": true})
        );

        let minimal = json!({"name": "n", "kind": "topic", "source": "a", "source_topic": "in",
                             "target": "b", "target_topic": "out"});
        let spec = topic_spec(minimal.clone());
        assert_eq!(spec.start_offset, TopicStartOffset::Earliest);
        assert_eq!(spec.on_error, OnError::Retain);
        assert_eq!(spec.processing, None);
        // `null` processing is no processing.
        let spec = parse_task_spec(&with(minimal, "processing", Value::Null)).unwrap();
        assert_eq!(serde_json::to_value(&spec).unwrap().get("processing"), None);
    }

    #[test]
    fn start_offsets() {
        for (given, expected) in [
            (json!("earliest"), TopicStartOffset::Earliest),
            (json!("latest"), TopicStartOffset::Latest),
            (json!({"timestamp_ms": 0}), TopicStartOffset::Timestamp(0)),
        ] {
            let spec = topic_spec(with(topic_body(), "start_offset", given.clone()));
            assert_eq!(spec.start_offset, expected);
            assert_eq!(serde_json::to_value(spec.start_offset).unwrap(), given);
        }
        let TaskSpec::Instance(spec) =
            parse_task_spec(&with(instance_body(), "start_offset", json!("latest"))).unwrap()
        else {
            panic!("instance task")
        };
        assert_eq!(spec.start_offset, StartOffset::Latest);
        let err = parse_task_spec(&with(
            topic_body(),
            "start_offset",
            json!({"timestamp_ms": -1}),
        ))
        .unwrap_err();
        assert!(err.message.contains("0 or more"), "{err}");
        assert_eq!(
            field_of(with(
                topic_body(),
                "start_offset",
                json!({"timestamp_ms": 1, "tz": "utc"})
            )),
            "start_offset.tz"
        );
    }

    #[test]
    fn on_error_values() {
        for (given, expected) in [
            (json!("discard"), OnError::Discard),
            (json!("retain"), OnError::Retain),
            (
                json!({"dead_letter_topic": "dlq"}),
                OnError::DeadLetter {
                    topic: "dlq".into(),
                },
            ),
        ] {
            let spec = topic_spec(with(topic_body(), "on_error", given.clone()));
            assert_eq!(spec.on_error, expected);
            assert_eq!(serde_json::to_value(&spec.on_error).unwrap(), given);
        }
        assert_eq!(
            field_of(with(topic_body(), "on_error", json!(null))),
            "on_error"
        );
    }

    #[test]
    fn unknown_values_list_the_allowed_ones() {
        let err = parse_task_spec(&with(instance_body(), "sync", json!("all"))).unwrap_err();
        assert!(err.message.contains("`metadata+messages+offsets`"), "{err}");
        let err = parse_task_spec(&with(instance_body(), "kind", json!("cluster"))).unwrap_err();
        assert!(err.message.contains("`instance` or `topic`"), "{err}");
        let err = parse_task_spec(&without(instance_body(), "kind")).unwrap_err();
        assert!(err.message.contains("`instance` or `topic`"), "{err}");
        let err = parse_task_spec(&with(topic_body(), "on_error", json!("skip"))).unwrap_err();
        assert!(
            err.message
                .contains(r#""discard", "retain" or {"dead_letter_topic""#),
            "{err}"
        );
        let err =
            parse_task_spec(&with(topic_body(), "start_offset", json!("middle"))).unwrap_err();
        assert!(
            err.message
                .contains(r#""earliest", "latest" or {"timestamp_ms""#),
            "{err}"
        );
        let err = parse_task_spec(&with(instance_body(), "colour", json!(1))).unwrap_err();
        assert!(err.message.contains("unknown field `colour`"), "{err}");
        let err = parse_task_spec(&without(instance_body(), "name")).unwrap_err();
        assert_eq!(err.message, "required field is missing");
    }

    #[test]
    fn topic_regexes_are_bounded_before_they_are_compiled() {
        let body = with(instance_body(), "sync", json!("metadata+messages"));
        let longest = "a".repeat(MAX_TOPIC_REGEX_CHARS);
        parse_task_spec(&with(body.clone(), "topics", json!({"regex": longest}))).unwrap();
        let err = parse_task_spec(&with(
            body,
            "topics",
            json!({"regex": "a".repeat(MAX_TOPIC_REGEX_CHARS + 1)}),
        ))
        .unwrap_err();
        assert_eq!(err.field, "topics.regex");
        assert!(err.message.contains("at most"), "{err}");
    }

    #[test]
    fn deserialize_reports_the_field_too() {
        let err = serde_json::from_value::<TaskSpec>(with(instance_body(), "sync", json!("all")))
            .unwrap_err();
        assert!(err.to_string().starts_with("sync: "), "{err}");
        // Decoding alone does not apply the rules: the store reads back what it wrote.
        let onto_itself = with(instance_body(), "target", json!("conn-a"));
        assert!(serde_json::from_value::<TaskSpec>(onto_itself).is_ok());
    }
}
