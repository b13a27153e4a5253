//! Tasks (DESIGN §3, §4, §5): what `POST /v1/tasks` accepts and `PATCH /v1/tasks/{id}` may
//! change, and every rule about it that needs nothing but the request itself.
//!
//! [`parse_task_spec`] decodes and validates a request body; [`apply_patch`] applies a
//! PATCH body to a stored spec and validates the result. A [`TaskSpec`] serializes back to
//! the JSON shape it was given in, with every default filled in.
//!
//! Layout: `model` holds the types and what the scheduled functions ask of a task,
//! `wire` their JSON where serde's derive does not say it, `validate` the rules and
//! bounds, `patch` what a PATCH may change.

mod model;
mod patch;
mod validate;
mod wire;

#[cfg(test)]
mod fixtures;

pub use model::{
    InstanceTaskSpec, OnError, StartOffset, SyncScope, TaskKind, TaskSpec, TopicSelection,
    TopicStartOffset, TopicTaskSpec, is_internal_topic,
};
pub use patch::{TaskPatch, apply_patch};
pub use validate::{MAX_TOPIC_NAME_LEN, parse_task_spec};

/// Errors of decoding and of the rules alike name the field, so these cases cover both.
#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::fixtures::{instance_body, topic_body, with, without};
    use super::*;

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
}
