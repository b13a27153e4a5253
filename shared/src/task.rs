//! Tasks (DESIGN §3, §4, §5): what `POST /v1/tasks` accepts and `PATCH /v1/tasks/{id}` may
//! change, and every rule about it that needs nothing but the request itself. Whether the
//! connections exist, or the name is taken, is for the API and the store to check.
//!
//! [`parse_task_spec`] decodes and validates a request body; [`apply_patch`] applies a
//! PATCH body to a stored spec and validates the result. A [`TaskSpec`] serializes back to
//! the JSON shape it was given in, with every default filled in.

use std::fmt;

use regex::Regex;
use serde::de::{self, MapAccess, Unexpected, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::names::validate_name;
use crate::processing::{self, BODY, ProcessingConfig, compile_regex, from_json};
use crate::validation::FieldError;

/// The longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A whole cluster onto another (DESIGN §3).
    Instance,
    /// One topic onto one topic, with processing (DESIGN §4).
    Topic,
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Instance => "instance",
            Self::Topic => "topic",
        })
    }
}

/// A task as `POST /v1/tasks` takes it: `{"kind": "instance", ...}` or
/// `{"kind": "topic", ...}`.
///
/// Deserializing one only decodes it (as the store does with what it wrote);
/// [`parse_task_spec`] also validates, and names the offending field of a bad request.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskSpec {
    Instance(InstanceTaskSpec),
    Topic(TopicTaskSpec),
}

/// An instance-level task: every selected topic of the `source` cluster onto the `target`
/// cluster, under the same names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceTaskSpec {
    pub name: String,
    /// Connection id.
    pub source: String,
    /// Connection id.
    pub target: String,
    pub sync: SyncScope,
    /// Defaults to `earliest`.
    #[serde(default)]
    pub start_offset: StartOffset,
    /// Defaults to `{"all": true}`.
    #[serde(default)]
    pub topics: TopicSelection,
    /// Source partition p → target partition p. Defaults to `true`.
    #[serde(default = "default_true")]
    pub same_partition: bool,
}

fn default_true() -> bool {
    true
}

/// A topic-level task: `source_topic` on the `source` cluster onto `target_topic` on the
/// `target` cluster, each message processed on the way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicTaskSpec {
    pub name: String,
    /// Connection id.
    pub source: String,
    pub source_topic: String,
    /// Connection id.
    pub target: String,
    pub target_topic: String,
    /// Defaults to `earliest`.
    #[serde(default)]
    pub start_offset: TopicStartOffset,
    /// `None`: every record is copied as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing: Option<ProcessingConfig>,
    /// Defaults to `retain`.
    #[serde(default)]
    pub on_error: OnError,
}

/// What an instance task synchronizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncScope {
    #[serde(rename = "metadata")]
    Metadata,
    #[serde(rename = "metadata+messages")]
    MetadataMessages,
    #[serde(rename = "metadata+messages+offsets")]
    MetadataMessagesOffsets,
}

impl SyncScope {
    /// Whether message data is copied.
    pub fn syncs_messages(self) -> bool {
        self != Self::Metadata
    }

    /// Whether consumer-group offsets are translated.
    pub fn syncs_offsets(self) -> bool {
        self == Self::MetadataMessagesOffsets
    }
}

/// Where an instance task starts reading a partition that has no checkpoint yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartOffset {
    #[default]
    Earliest,
    Latest,
}

/// Where a topic task starts reading a partition that has no checkpoint yet:
/// `"earliest"`, `"latest"` or `{"timestamp_ms": N}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TopicStartOffset {
    #[default]
    Earliest,
    Latest,
    /// The first record whose timestamp is at or after this time, in milliseconds since
    /// the Unix epoch; never negative.
    Timestamp(i64),
}

/// What a topic task does with a message it cannot process: `"discard"`, `"retain"` or
/// `{"dead_letter_topic": T}`.
///
/// The default is `retain`, because the contract leaves it open and it is the choice that
/// loses nothing silently: the task stops at the first bad message with the reason as an
/// event, like Kafka Connect's default `errors.tolerance=none`. An operator who wants to
/// carry on past bad messages says so with `discard` or a dead-letter topic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// Skip the message, count it, carry on.
    Discard,
    /// Stop the task (state `failed`, no retries), the reason an event.
    #[default]
    Retain,
    /// Send the original record, with its source coordinates and the reason as headers,
    /// to this topic on the target cluster, and carry on.
    DeadLetter { topic: String },
}

/// The topics an instance task selects: `{"all": true}` (the default) or
/// `{"regex": "..."}`, the regex compiled when the task is decoded.
///
/// Never selected, whatever the range: Kafka's internal topics and the service's own,
/// see [`is_internal_topic`].
#[derive(Clone, Debug, Default)]
pub enum TopicSelection {
    #[default]
    All,
    /// Topics in which the regex finds a match anywhere (unanchored, as with
    /// `Regex::is_match`): anchor it, as in `^orders\..*`, to match whole names.
    Regex(Regex),
}

impl PartialEq for TopicSelection {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::All, Self::All) => true,
            (Self::Regex(a), Self::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl TopicSelection {
    /// The all-topics range, the one under which consumer groups are synchronized.
    pub fn is_all(&self) -> bool {
        matches!(self, Self::All)
    }

    /// Whether the task synchronizes the source topic `topic`.
    pub fn selects(&self, topic: &str) -> bool {
        !is_internal_topic(topic)
            && match self {
                Self::All => true,
                Self::Regex(regex) => regex.is_match(topic),
            }
    }
}

/// Topics no instance task ever synchronizes: Kafka's internal topics
/// (`__consumer_offsets`, `__transaction_state`) and every other name starting with `__`,
/// the prefix Kafka, its tools and this service (`__ksync…`) keep for their own topics.
/// (The service keeps its own state in the store, not in Kafka topics.)
pub fn is_internal_topic(topic: &str) -> bool {
    topic.starts_with("__")
}

impl TaskSpec {
    pub fn kind(&self) -> TaskKind {
        match self {
            Self::Instance(_) => TaskKind::Instance,
            Self::Topic(_) => TaskKind::Topic,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Instance(spec) => &spec.name,
            Self::Topic(spec) => &spec.name,
        }
    }

    /// The connections the task uses: `[source, target]`.
    pub fn connection_ids(&self) -> [&str; 2] {
        match self {
            Self::Instance(spec) => [&spec.source, &spec.target],
            Self::Topic(spec) => [&spec.source, &spec.target],
        }
    }

    /// Checks every rule of the contract that needs nothing but the spec. A regex topic
    /// range always compiles: it is compiled when the spec is decoded (an invalid one is a
    /// [`FieldError`] on `topics.regex` from [`parse_task_spec`]).
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name("name", self.name())?;
        match self {
            Self::Instance(spec) => spec.validate(),
            Self::Topic(spec) => spec.validate(),
        }
    }

    /// The fields a PATCH may not change, for this kind of task.
    fn fixed_fields(&self) -> &'static [&'static str] {
        match self {
            Self::Instance(_) => &[
                "kind",
                "source",
                "target",
                "sync",
                "start_offset",
                "topics",
                "same_partition",
            ],
            Self::Topic(_) => &[
                "kind",
                "source",
                "source_topic",
                "target",
                "target_topic",
                "start_offset",
            ],
        }
    }

    /// The fields a PATCH may change, for this kind of task.
    fn patchable_fields(&self) -> &'static [&'static str] {
        match self {
            Self::Instance(_) => &["name"],
            Self::Topic(_) => &["name", "on_error", "processing"],
        }
    }
}

impl InstanceTaskSpec {
    fn validate(&self) -> Result<(), FieldError> {
        validate_connection_id("source", &self.source)?;
        validate_connection_id("target", &self.target)?;
        if self.source == self.target {
            return Err(FieldError::new(
                "target",
                "must be a different connection from `source`: an instance task copies topics under their own names, so a cluster synced onto itself would copy its own output forever",
            ));
        }
        if self.sync.syncs_offsets() {
            if !self.topics.is_all() {
                return Err(FieldError::new(
                    "sync",
                    "`metadata+messages+offsets` needs `topics` {\"all\": true}: consumer-group offsets are synchronized only with the all-topics range; use `metadata+messages` with a regex range",
                ));
            }
            if !self.same_partition {
                return Err(FieldError::new(
                    "sync",
                    "`metadata+messages+offsets` needs `same_partition` true: offsets are translated partition by partition, so source partition p must be copied to target partition p; use `metadata+messages` without same_partition",
                ));
            }
        }
        Ok(())
    }
}

impl TopicTaskSpec {
    fn validate(&self) -> Result<(), FieldError> {
        validate_connection_id("source", &self.source)?;
        validate_connection_id("target", &self.target)?;
        validate_topic_name("source_topic", &self.source_topic)?;
        validate_topic_name("target_topic", &self.target_topic)?;
        if self.source == self.target && self.source_topic == self.target_topic {
            return Err(FieldError::new(
                "target_topic",
                "must differ from `source_topic` when `source` and `target` are the same connection: the task would read back its own output",
            ));
        }
        if let Some(processing) = &self.processing {
            processing::compile(processing, "processing")?;
        }
        if let OnError::DeadLetter { topic } = &self.on_error {
            const FIELD: &str = "on_error.dead_letter_topic";
            validate_topic_name(FIELD, topic)?;
            if *topic == self.source_topic {
                return Err(FieldError::new(
                    FIELD,
                    "must differ from `source_topic`: dead-lettered records must not be mistaken for the records they failed on",
                ));
            }
            if *topic == self.target_topic {
                return Err(FieldError::new(
                    FIELD,
                    "must differ from `target_topic`: dead-lettered records would be mixed into the output",
                ));
            }
        }
        Ok(())
    }
}

/// Decodes and validates the body of `POST /v1/tasks`. Every error names the offending
/// field by its path: an unknown field, a missing one, a wrong type, an unknown value
/// (with the allowed ones listed), or a broken rule.
pub fn parse_task_spec(body: &Value) -> Result<TaskSpec, FieldError> {
    let spec = decode_task_spec(body)?;
    spec.validate()?;
    Ok(spec)
}

/// Decodes a task spec, without the rules of [`TaskSpec::validate`].
fn decode_task_spec(body: &Value) -> Result<TaskSpec, FieldError> {
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

/// Applies the body of `PATCH /v1/tasks/{id}` to `spec` and validates the result.
///
/// A PATCH may change `name`, and of a topic task `on_error` and `processing` (`null`
/// removes the processing). Every other field of the task is fixed at creation; changing
/// it means creating a new task.
pub fn apply_patch(spec: &TaskSpec, patch: &Value) -> Result<TaskSpec, FieldError> {
    let Value::Object(changes) = patch else {
        return Err(FieldError::new(
            BODY,
            "a PATCH body must be a JSON object of the fields to change, e.g. {\"on_error\": \"discard\"}",
        ));
    };
    let mut patched = spec.clone();
    for (field, value) in changes {
        match (field.as_str(), &mut patched) {
            ("name", TaskSpec::Instance(task)) => task.name = from_json(value, field)?,
            ("name", TaskSpec::Topic(task)) => task.name = from_json(value, field)?,
            ("on_error", TaskSpec::Topic(task)) => task.on_error = from_json(value, field)?,
            ("processing", TaskSpec::Topic(task)) => task.processing = from_json(value, field)?,
            (field, patched) if patched.fixed_fields().contains(&field) => {
                return Err(FieldError::new(
                    field,
                    "cannot be changed after creation; create a new task instead",
                ));
            }
            (field, patched) => {
                let patchable: Vec<_> = patched
                    .patchable_fields()
                    .iter()
                    .map(|field| format!("`{field}`"))
                    .collect();
                return Err(FieldError::new(
                    field,
                    format!(
                        "unknown field; a PATCH of a {} task may change {}",
                        patched.kind(),
                        patchable.join(", ")
                    ),
                ));
            }
        }
    }
    patched.validate()?;
    Ok(patched)
}

/// A Kafka topic name: 1 to [`MAX_TOPIC_NAME_LEN`] ASCII letters, digits, `.`, `_` and
/// `-`, and neither `.` nor `..`.
fn validate_topic_name(field: &str, topic: &str) -> Result<(), FieldError> {
    const ALLOWED: &str = "a Kafka topic name has 1 to 249 characters, each an ASCII letter, a digit, `.`, `_` or `-`";
    let len = topic.chars().count();
    let problem = if len == 0 {
        "must not be empty".to_owned()
    } else if len > MAX_TOPIC_NAME_LEN {
        format!("is {len} characters long")
    } else if let Some(bad) = first_invalid_char(topic) {
        format!("contains {bad:?}")
    } else if topic == "." || topic == ".." {
        return Err(FieldError::new(
            field,
            "`.` and `..` are not allowed as Kafka topic names",
        ));
    } else {
        return Ok(());
    };
    Err(FieldError::new(field, format!("{problem}; {ALLOWED}")))
}

/// The first character that Kafka does not allow in a topic name.
fn first_invalid_char(topic: &str) -> Option<char> {
    topic
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
}

fn validate_connection_id(field: &str, id: &str) -> Result<(), FieldError> {
    if id.trim().is_empty() {
        return Err(FieldError::new(
            field,
            "must be the id of a connection (from POST /v1/connections)",
        ));
    }
    Ok(())
}

// ---- serde for the fields whose JSON is a string or an object -------------------------

impl Serialize for TopicStartOffset {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Earliest => serializer.serialize_str("earliest"),
            Self::Latest => serializer.serialize_str("latest"),
            Self::Timestamp(timestamp_ms) => Timestamp {
                timestamp_ms: *timestamp_ms,
            }
            .serialize(serializer),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Timestamp {
    #[serde(deserialize_with = "epoch_millis")]
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

impl Serialize for OnError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Discard => serializer.serialize_str("discard"),
            Self::Retain => serializer.serialize_str("retain"),
            Self::DeadLetter { topic } => DeadLetter {
                dead_letter_topic: topic.clone(),
            }
            .serialize(serializer),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadLetter {
    dead_letter_topic: String,
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

impl Serialize for TopicSelection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Topics<'a> {
            All(bool),
            Regex(&'a str),
        }
        match self {
            Self::All => Topics::All(true),
            Self::Regex(regex) => Topics::Regex(regex.as_str()),
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

        /// The value of `regex`, compiled.
        struct TopicRegex(Regex);
        impl<'de> Deserialize<'de> for TopicRegex {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let pattern = String::deserialize(deserializer)?;
                if pattern.is_empty() {
                    return Err(de::Error::custom(
                        r#"must not be empty; to select every topic, give {"all": true}"#,
                    ));
                }
                compile_regex(&pattern)
                    .map(TopicRegex)
                    .map_err(de::Error::custom)
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The instance-level example of DESIGN §5.
    fn instance_body() -> Value {
        json!({"name": "dr-east", "kind": "instance", "source": "conn-a", "target": "conn-b",
               "sync": "metadata+messages+offsets", "start_offset": "earliest",
               "topics": {"all": true}, "same_partition": true})
    }

    /// The topic-level example of DESIGN §5.
    fn topic_body() -> Value {
        json!({"name": "orders-flat", "kind": "topic",
               "source": "conn-a", "source_topic": "orders", "target": "conn-b", "target_topic": "orders-flat",
               "start_offset": {"timestamp_ms": 1767225600000_i64},
               "processing": {
                 "parse": {"mode": "json"},
                 "fields": [{"name": "id", "op": "jsonpath", "path": "$.order.id"},
                            {"name": "who", "op": "mapping", "from": "user"},
                            {"name": "at", "op": "system_time"},
                            {"name": "region", "op": "custom", "value": "eu"}],
                 "output": {"format": "key_value", "kv_separator": "=", "separator": "&"}},
               "on_error": {"dead_letter_topic": "orders-dlq"}})
    }

    /// `body` with `key` set to `value` (`key` may be `a.b` for a nested object).
    fn with(mut body: Value, key: &str, value: Value) -> Value {
        let mut target = &mut body;
        let mut keys: Vec<&str> = key.split('.').collect();
        let last = keys.pop().unwrap();
        for key in keys {
            target = &mut target[key];
        }
        target[last] = value;
        body
    }

    fn without(mut body: Value, key: &str) -> Value {
        body.as_object_mut().unwrap().remove(key);
        body
    }

    fn instance() -> TaskSpec {
        parse_task_spec(&instance_body()).unwrap()
    }

    fn topic() -> TaskSpec {
        parse_task_spec(&topic_body()).unwrap()
    }

    fn field_of(body: Value) -> String {
        parse_task_spec(&body)
            .expect_err("body must be rejected")
            .field
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
    fn every_processing_mode_of_the_design_is_accepted() {
        for parse in [
            json!({"mode": "separator", "separator": ","}),
            json!({"mode": "regex", "pattern": "(?<id>\\d+) (?P<user>\\w+)"}),
            json!({"mode": "json_array_single"}),
            json!({"mode": "json_array_multi"}),
        ] {
            let body = with(
                topic_body(),
                "processing",
                json!({"parse": parse, "output": {"format": "value", "separator": "|"}}),
            );
            parse_task_spec(&body).unwrap();
        }
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
        let TaskSpec::Topic(spec) = parse_task_spec(&minimal).unwrap() else {
            panic!("topic task")
        };
        assert_eq!(spec.start_offset, TopicStartOffset::Earliest);
        assert_eq!(spec.on_error, OnError::Retain);
        assert_eq!(spec.processing, None);
        // `null` processing is no processing.
        let spec = parse_task_spec(&with(minimal, "processing", Value::Null)).unwrap();
        assert_eq!(serde_json::to_value(&spec).unwrap().get("processing"), None);
    }

    #[test]
    fn helpers_for_the_api_and_the_store() {
        let spec = instance();
        assert_eq!(spec.kind(), TaskKind::Instance);
        assert_eq!(spec.name(), "dr-east");
        assert_eq!(spec.connection_ids(), ["conn-a", "conn-b"]);
        let spec = topic();
        assert_eq!(spec.kind(), TaskKind::Topic);
        assert_eq!(spec.kind().to_string(), "topic");
        assert_eq!(spec.name(), "orders-flat");
        assert_eq!(spec.connection_ids(), ["conn-a", "conn-b"]);

        assert!(!SyncScope::Metadata.syncs_messages());
        assert!(SyncScope::MetadataMessages.syncs_messages());
        assert!(!SyncScope::MetadataMessages.syncs_offsets());
        assert!(SyncScope::MetadataMessagesOffsets.syncs_offsets());
    }

    /// Each bad body, and the field its error must name.
    #[test]
    fn bad_bodies_name_the_offending_field() {
        let name_129 = "n".repeat(129);
        let topic_250 = "t".repeat(250);
        let cases: Vec<(&str, Value, &str)> = vec![
            ("missing name", without(instance_body(), "name"), "name"),
            (
                "empty name",
                with(instance_body(), "name", json!("")),
                "name",
            ),
            (
                "name with a space",
                with(instance_body(), "name", json!("dr east")),
                "name",
            ),
            (
                "name of 129 characters",
                with(instance_body(), "name", json!(name_129)),
                "name",
            ),
            (
                "name not a string",
                with(instance_body(), "name", json!(7)),
                "name",
            ),
            (
                "unknown sync",
                with(instance_body(), "sync", json!("all")),
                "sync",
            ),
            ("missing sync", without(instance_body(), "sync"), "sync"),
            (
                "unknown kind",
                with(instance_body(), "kind", json!("cluster")),
                "kind",
            ),
            (
                "kind not a string",
                with(instance_body(), "kind", json!(5)),
                "kind",
            ),
            ("missing kind", without(instance_body(), "kind"), "kind"),
            (
                "unknown top-level field",
                with(instance_body(), "colour", json!("red")),
                "colour",
            ),
            (
                "topic field on an instance task",
                with(instance_body(), "source_topic", json!("x")),
                "source_topic",
            ),
            (
                "wrong type",
                with(instance_body(), "same_partition", json!("yes")),
                "same_partition",
            ),
            (
                "missing source",
                without(instance_body(), "source"),
                "source",
            ),
            (
                "empty target",
                with(instance_body(), "target", json!("")),
                "target",
            ),
            (
                "instance onto itself",
                with(instance_body(), "target", json!("conn-a")),
                "target",
            ),
            (
                "instance start at a time",
                with(instance_body(), "start_offset", json!({"timestamp_ms": 0})),
                "start_offset",
            ),
            (
                "bad topics regex",
                with(instance_body(), "topics", json!({"regex": "("})),
                "topics.regex",
            ),
            (
                "empty topics regex",
                with(instance_body(), "topics", json!({"regex": ""})),
                "topics.regex",
            ),
            (
                "topics all false",
                with(instance_body(), "topics", json!({"all": false})),
                "topics.all",
            ),
            (
                "topics empty",
                with(instance_body(), "topics", json!({})),
                "topics",
            ),
            (
                "topics both",
                with(
                    instance_body(),
                    "topics",
                    json!({"all": true, "regex": "a"}),
                ),
                "topics",
            ),
            (
                "topics unknown key",
                with(instance_body(), "topics", json!({"names": ["a"]})),
                "topics.names",
            ),
            (
                "offsets with a regex range",
                with(instance_body(), "topics", json!({"regex": "^orders"})),
                "sync",
            ),
            (
                "offsets without same_partition",
                with(instance_body(), "same_partition", json!(false)),
                "sync",
            ),
            (
                "negative start timestamp",
                with(topic_body(), "start_offset", json!({"timestamp_ms": -1})),
                "start_offset.timestamp_ms",
            ),
            (
                "start timestamp a string",
                with(topic_body(), "start_offset", json!({"timestamp_ms": "now"})),
                "start_offset.timestamp_ms",
            ),
            (
                "start timestamp missing",
                with(topic_body(), "start_offset", json!({})),
                "start_offset.timestamp_ms",
            ),
            (
                "unknown start offset",
                with(topic_body(), "start_offset", json!("middle")),
                "start_offset",
            ),
            (
                "missing source_topic",
                without(topic_body(), "source_topic"),
                "source_topic",
            ),
            (
                "source_topic with a space",
                with(topic_body(), "source_topic", json!("my orders")),
                "source_topic",
            ),
            (
                "target_topic of 250 characters",
                with(topic_body(), "target_topic", json!(topic_250)),
                "target_topic",
            ),
            (
                "target_topic `..`",
                with(topic_body(), "target_topic", json!("..")),
                "target_topic",
            ),
            (
                "topic onto itself",
                with(
                    with(topic_body(), "target", json!("conn-a")),
                    "target_topic",
                    json!("orders"),
                ),
                "target_topic",
            ),
            (
                "unknown on_error",
                with(topic_body(), "on_error", json!("skip")),
                "on_error",
            ),
            (
                "on_error unknown key",
                with(topic_body(), "on_error", json!({"topic": "dlq"})),
                "on_error.topic",
            ),
            (
                "dead letter is the target",
                with(
                    topic_body(),
                    "on_error",
                    json!({"dead_letter_topic": "orders-flat"}),
                ),
                "on_error.dead_letter_topic",
            ),
            (
                "dead letter is the source",
                with(
                    topic_body(),
                    "on_error",
                    json!({"dead_letter_topic": "orders"}),
                ),
                "on_error.dead_letter_topic",
            ),
            (
                "dead letter `.`",
                with(topic_body(), "on_error", json!({"dead_letter_topic": "."})),
                "on_error.dead_letter_topic",
            ),
            (
                "unknown parse mode",
                with(topic_body(), "processing.parse", json!({"mode": "xml"})),
                "processing.parse.mode",
            ),
            (
                "empty separator",
                with(
                    topic_body(),
                    "processing.parse",
                    json!({"mode": "separator", "separator": ""}),
                ),
                "processing.parse.separator",
            ),
            (
                "bad parse regex",
                with(
                    topic_body(),
                    "processing.parse",
                    json!({"mode": "regex", "pattern": "(?<x>"}),
                ),
                "processing.parse.pattern",
            ),
            (
                "unknown op",
                with(
                    topic_body(),
                    "processing.fields",
                    json!([{"name": "a", "op": "upper"}]),
                ),
                "processing.fields[0].op",
            ),
            (
                "bad JSONPath",
                with(
                    topic_body(),
                    "processing.fields",
                    json!([{"name": "a", "op": "jsonpath", "path": "$..["}]),
                ),
                "processing.fields[0].path",
            ),
            (
                "duplicate field name",
                with(
                    topic_body(),
                    "processing.fields",
                    json!([{"name": "a", "op": "system_time"}, {"name": "a", "op": "system_time"}]),
                ),
                "processing.fields[1].name",
            ),
            (
                "unknown output format",
                with(topic_body(), "processing.output", json!({"format": "csv"})),
                "processing.output.format",
            ),
            (
                "empty kv_separator",
                with(topic_body(), "processing.output.kv_separator", json!("")),
                "processing.output.kv_separator",
            ),
            (
                "unknown processing key",
                with(topic_body(), "processing.filter", json!(true)),
                "processing.filter",
            ),
            ("not an object", json!(["dr-east"]), "body"),
        ];
        assert!(cases.len() >= 20);
        for (what, body, field) in cases {
            let err = parse_task_spec(&body).expect_err(what);
            assert_eq!(err.field, field, "{what}: {err}");
            assert!(!err.message.is_empty(), "{what}");
        }
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
    fn task_names() {
        let name_128 = "a".repeat(128);
        for good in ["dr-east", "a", "A_b-c.9", name_128.as_str()] {
            parse_task_spec(&with(instance_body(), "name", json!(good))).expect(good);
        }
        for bad in ["", "dr east", "dr/east", "naïve", "a\tb", &"a".repeat(129)] {
            let err = parse_task_spec(&with(instance_body(), "name", json!(bad))).expect_err(bad);
            assert_eq!(err.field, "name");
        }
        let err = field_of(with(instance_body(), "name", json!("dr east")));
        assert_eq!(err, "name");
        let err = parse_task_spec(&with(instance_body(), "name", json!("dr east"))).unwrap_err();
        assert!(
            err.message.contains("' '") && err.message.contains("letters, digits"),
            "{err}"
        );
        let err =
            parse_task_spec(&with(instance_body(), "name", json!("a".repeat(129)))).unwrap_err();
        assert!(err.message.contains("128"), "{err}");
    }

    #[test]
    fn kafka_topic_names() {
        let topic_249 = "t".repeat(249);
        for good in ["orders", "a", "orders.v1_x-y", "..a", topic_249.as_str()] {
            validate_topic_name("target_topic", good).expect(good);
        }
        for bad in ["", ".", "..", "a b", "a/b", "ördrë", &"t".repeat(250)] {
            let err = validate_topic_name("target_topic", bad).expect_err(bad);
            assert_eq!(err.field, "target_topic");
        }
        let err = validate_topic_name("source_topic", &"t".repeat(250)).unwrap_err();
        assert!(
            err.message.contains("250") && err.message.contains("249"),
            "{err}"
        );
    }

    #[test]
    fn offsets_need_all_topics_and_same_partition() {
        let err = parse_task_spec(&with(
            instance_body(),
            "topics",
            json!({"regex": "^orders"}),
        ))
        .unwrap_err();
        assert_eq!(err.field, "sync");
        assert!(err.message.contains("all"), "{err}");
        let err =
            parse_task_spec(&with(instance_body(), "same_partition", json!(false))).unwrap_err();
        assert_eq!(err.field, "sync");
        assert!(err.message.contains("same_partition"), "{err}");
        // Without offsets, both are fine.
        let body = with(instance_body(), "sync", json!("metadata+messages"));
        parse_task_spec(&with(body.clone(), "topics", json!({"regex": "^orders"}))).unwrap();
        parse_task_spec(&with(body, "same_partition", json!(false))).unwrap();
    }

    #[test]
    fn source_and_target_connections() {
        // An instance task never syncs a cluster onto itself.
        assert_eq!(
            field_of(with(instance_body(), "target", json!("conn-a"))),
            "target"
        );
        // A topic task may stay on one connection when the topics differ.
        let same = with(topic_body(), "target", json!("conn-a"));
        parse_task_spec(&same).unwrap();
        assert_eq!(
            field_of(with(same, "target_topic", json!("orders"))),
            "target_topic"
        );
        // And may keep the topic name across clusters.
        parse_task_spec(&with(topic_body(), "target_topic", json!("orders"))).unwrap();
    }

    #[test]
    fn dead_letter_topic_must_be_valid_and_its_own() {
        let with_dlq = |topic: &str| {
            with(
                topic_body(),
                "on_error",
                json!({"dead_letter_topic": topic}),
            )
        };
        parse_task_spec(&with_dlq("orders-dlq")).unwrap();
        for bad in ["orders", "orders-flat", "", "a b"] {
            assert_eq!(
                field_of(with_dlq(bad)),
                "on_error.dead_letter_topic",
                "{bad}"
            );
        }
    }

    #[test]
    fn start_offsets() {
        for (given, expected) in [
            (json!("earliest"), TopicStartOffset::Earliest),
            (json!("latest"), TopicStartOffset::Latest),
            (json!({"timestamp_ms": 0}), TopicStartOffset::Timestamp(0)),
        ] {
            let TaskSpec::Topic(spec) =
                parse_task_spec(&with(topic_body(), "start_offset", given)).unwrap()
            else {
                panic!("topic task")
            };
            assert_eq!(spec.start_offset, expected);
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
            let TaskSpec::Topic(spec) =
                parse_task_spec(&with(topic_body(), "on_error", given.clone())).unwrap()
            else {
                panic!("topic task")
            };
            assert_eq!(spec.on_error, expected);
            assert_eq!(serde_json::to_value(&spec.on_error).unwrap(), given);
        }
        assert_eq!(
            field_of(with(topic_body(), "on_error", json!(null))),
            "on_error"
        );
    }

    #[test]
    fn topic_selection_excludes_internal_topics_and_applies_the_regex() {
        let all = TopicSelection::All;
        assert!(all.is_all());
        assert!(all.selects("orders"));
        for internal in [
            "__consumer_offsets",
            "__transaction_state",
            "__ksync_state",
            "__amazon_msk_canary",
        ] {
            assert!(!all.selects(internal), "{internal}");
        }
        assert!(all.selects("_schemas"));

        let body = with(
            with(instance_body(), "sync", json!("metadata+messages")),
            "topics",
            json!({"regex": "^orders\\..*"}),
        );
        let TaskSpec::Instance(spec) = parse_task_spec(&body).unwrap() else {
            panic!("instance task")
        };
        assert!(!spec.topics.is_all());
        assert!(spec.topics.selects("orders.eu"));
        assert!(!spec.topics.selects("orders"));
        assert!(!spec.topics.selects("old.orders.eu"));

        // Unanchored: the regex may match anywhere in the name.
        let unanchored: TopicSelection = from_json(&json!({"regex": "orders"}), "topics").unwrap();
        assert!(unanchored.selects("eu.orders.v1"));
        let internal: TopicSelection = from_json(&json!({"regex": "offsets"}), "topics").unwrap();
        assert!(!internal.selects("__consumer_offsets"));
    }

    #[test]
    fn patch_changes_the_name() {
        let patched = apply_patch(&instance(), &json!({"name": "dr-west"})).unwrap();
        assert_eq!(patched.name(), "dr-west");
        let patched = apply_patch(&topic(), &json!({"name": "orders-2"})).unwrap();
        assert_eq!(patched.name(), "orders-2");
        // Unchanged otherwise.
        assert_eq!(apply_patch(&topic(), &json!({})).unwrap(), topic());
    }

    #[test]
    fn patch_changes_on_error_and_processing_of_topic_tasks() {
        let TaskSpec::Topic(patched) =
            apply_patch(&topic(), &json!({"on_error": "discard"})).unwrap()
        else {
            panic!("topic task")
        };
        assert_eq!(patched.on_error, OnError::Discard);
        assert_eq!(
            patched.processing,
            match topic() {
                TaskSpec::Topic(spec) => spec.processing,
                TaskSpec::Instance(_) => unreachable!(),
            }
        );

        let TaskSpec::Topic(patched) = apply_patch(&topic(), &json!({"processing": null})).unwrap()
        else {
            panic!("topic task")
        };
        assert_eq!(patched.processing, None);

        let processing = json!({"parse": {"mode": "separator", "separator": ";"}, "output": {"format": "value"}});
        let patched = apply_patch(
            &topic(),
            &json!({"processing": processing.clone(), "name": "x"}),
        )
        .unwrap();
        let shown = serde_json::to_value(&patched).unwrap();
        assert_eq!(shown["processing"], processing);
        assert_eq!(shown["name"], "x");
    }

    #[test]
    fn patch_errors_name_the_field() {
        let err =
            apply_patch(&topic(), &json!({"processing": {"parse": {"mode": "xml"}}})).unwrap_err();
        assert_eq!(err.field, "processing.parse.mode");
        let err = apply_patch(&topic(), &json!({"on_error": "skip"})).unwrap_err();
        assert_eq!(err.field, "on_error");
        let err = apply_patch(&topic(), &json!({"name": 5})).unwrap_err();
        assert_eq!(err.field, "name");
        // The result is validated again.
        let err = apply_patch(&topic(), &json!({"name": "bad name"})).unwrap_err();
        assert_eq!(err.field, "name");
        let err = apply_patch(
            &topic(),
            &json!({"on_error": {"dead_letter_topic": "orders-flat"}}),
        )
        .unwrap_err();
        assert_eq!(err.field, "on_error.dead_letter_topic");
        let err = apply_patch(&topic(), &json!(["name"])).unwrap_err();
        assert_eq!(err.field, "body");
    }

    #[test]
    fn patch_cannot_change_what_was_fixed_at_creation() {
        let fixed_instance = [
            "kind",
            "source",
            "target",
            "sync",
            "start_offset",
            "topics",
            "same_partition",
        ];
        for field in fixed_instance {
            let err = apply_patch(&instance(), &json!({ field: "x" })).unwrap_err();
            assert_eq!(err.field, field);
            assert!(
                err.message.contains("cannot be changed after creation"),
                "{err}"
            );
            assert!(err.message.contains("create a new task"), "{err}");
        }
        let fixed_topic = [
            "kind",
            "source",
            "source_topic",
            "target",
            "target_topic",
            "start_offset",
        ];
        for field in fixed_topic {
            let err = apply_patch(&topic(), &json!({ field: "x" })).unwrap_err();
            assert_eq!(err.field, field);
            assert!(
                err.message.contains("cannot be changed after creation"),
                "{err}"
            );
        }
    }

    #[test]
    fn patch_rejects_unknown_fields() {
        let err = apply_patch(&topic(), &json!({"colour": "red"})).unwrap_err();
        assert_eq!(err.field, "colour");
        assert!(err.message.starts_with("unknown field"), "{err}");
        assert!(err.message.contains("`on_error`"), "{err}");
        // Fields of topic tasks are not fields of instance tasks.
        for field in ["on_error", "processing", "source_topic"] {
            let err = apply_patch(&instance(), &json!({ field: null })).unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.message.starts_with("unknown field"), "{err}");
        }
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
