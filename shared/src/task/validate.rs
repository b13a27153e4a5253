//! The rules a task keeps that need nothing but the request itself, and the bounds that
//! keep every stored task well inside a store item (DynamoDB takes at most 400 KB).
//! Whether the connections exist, or the name is taken, is for the API and the store to
//! check.

use serde_json::Value;

use super::model::{InstanceTaskSpec, OnError, TaskSpec, TopicTaskSpec};
use super::wire::decode_task_spec;
use crate::names::validate_name;
use crate::processing;
use crate::validation::FieldError;

/// The longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// The rule of a topic name as a regular expression, for the OpenAPI document (which
/// does not say that `.` and `..` are not names).
pub const TOPIC_NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,249}$";

/// The longest connection id a task may name: ids this service gives are 32 characters,
/// so anything much longer is a mistake, and it is refused before it reaches the store
/// (whose keys hold it).
pub const MAX_CONNECTION_ID_CHARS: usize = 64;

/// The longest `topics.regex`: room for an alternation of a hundred topic names.
pub const MAX_TOPIC_REGEX_CHARS: usize = 4096;

/// The largest `processing`, as JSON. Every other field of a task is bounded to a few
/// hundred characters, so this bound keeps a whole task record well under DynamoDB's
/// 400 KB item limit.
pub const MAX_PROCESSING_BYTES: usize = 256 * 1024;

/// Decodes and validates the body of `POST /v1/tasks`. Every error names the offending
/// field by its path: an unknown field, a missing one, a wrong type, an unknown value
/// (with the allowed ones listed), or a broken rule.
pub fn parse_task_spec(body: &Value) -> Result<TaskSpec, FieldError> {
    let spec = decode_task_spec(body)?;
    spec.validate()?;
    Ok(spec)
}

impl TaskSpec {
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
            let bytes = serde_json::to_vec(processing)
                .expect("a processing config serializes")
                .len();
            if bytes > MAX_PROCESSING_BYTES {
                return Err(FieldError::new(
                    "processing",
                    format!("is {bytes} bytes of JSON; at most {MAX_PROCESSING_BYTES} are allowed"),
                ));
            }
            processing::compile(processing, "processing")?;
        }
        if let OnError::DeadLetter { topic } = &self.on_error {
            self.validate_dead_letter_topic(topic)?;
        }
        Ok(())
    }

    fn validate_dead_letter_topic(&self, topic: &str) -> Result<(), FieldError> {
        const FIELD: &str = "on_error.dead_letter_topic";
        validate_topic_name(FIELD, topic)?;
        if topic == self.source_topic {
            return Err(FieldError::new(
                FIELD,
                "must differ from `source_topic`: dead-lettered records must not be mistaken for the records they failed on",
            ));
        }
        if topic == self.target_topic {
            return Err(FieldError::new(
                FIELD,
                "must differ from `target_topic`: dead-lettered records would be mixed into the output",
            ));
        }
        Ok(())
    }
}

/// A Kafka topic name: 1 to [`MAX_TOPIC_NAME_LEN`] ASCII letters, digits, `.`, `_` and
/// `-`, and neither `.` nor `..`.
pub(super) fn validate_topic_name(field: &str, topic: &str) -> Result<(), FieldError> {
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
    let chars = id.chars().count();
    if chars > MAX_CONNECTION_ID_CHARS {
        return Err(FieldError::new(
            field,
            format!(
                "is {chars} characters long; a connection id (from POST /v1/connections) has at most {MAX_CONNECTION_ID_CHARS}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{field_of, instance_body, topic_body, with};
    use super::*;

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
    fn ids_and_processing_are_bounded_before_the_store() {
        let id_64 = "c".repeat(MAX_CONNECTION_ID_CHARS);
        parse_task_spec(&with(instance_body(), "source", json!(id_64))).unwrap();
        for field in ["source", "target"] {
            let long = "c".repeat(1100);
            let err = parse_task_spec(&with(topic_body(), field, json!(long))).unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.message.contains("1100 characters"), "{err}");
        }
        let custom =
            json!([{"name": "big", "op": "custom", "value": "v".repeat(MAX_PROCESSING_BYTES)}]);
        let err = parse_task_spec(&with(topic_body(), "processing.fields", custom)).unwrap_err();
        assert_eq!(err.field, "processing");
        assert!(err.message.contains("at most"), "{err}");
    }
}
