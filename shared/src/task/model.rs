//! The task types: what a task is, with the questions the scheduled functions ask of it.
//! How each type reads and writes its JSON is in [`wire`](super::wire) where serde's
//! derive does not say it; the rules a valid task keeps are in
//! [`validate`](super::validate).

use std::fmt;

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::validate::{MAX_CONNECTION_ID_CHARS, TOPIC_NAME_PATTERN};
use super::wire;
use crate::names::NAME_PATTERN;
use crate::processing::ProcessingConfig;

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
/// [`parse_task_spec`](super::parse_task_spec) also validates, and names the offending
/// field of a bad request.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[schemars(
    description = "A task: `kind` `instance` copies a whole cluster onto another, \
    `topic` one topic onto one topic, processing each message on the way."
)]
pub enum TaskSpec {
    Instance(InstanceTaskSpec),
    Topic(TopicTaskSpec),
}

/// An instance-level task: every selected topic of the `source` cluster onto the `target`
/// cluster, under the same names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceTaskSpec {
    #[schemars(pattern(NAME_PATTERN))]
    pub name: String,
    /// Connection id.
    #[schemars(length(min = 1, max = MAX_CONNECTION_ID_CHARS))]
    pub source: String,
    /// Connection id.
    #[schemars(length(min = 1, max = MAX_CONNECTION_ID_CHARS))]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicTaskSpec {
    #[schemars(pattern(NAME_PATTERN))]
    pub name: String,
    /// Connection id.
    #[schemars(length(min = 1, max = MAX_CONNECTION_ID_CHARS))]
    pub source: String,
    #[schemars(pattern(TOPIC_NAME_PATTERN))]
    pub source_topic: String,
    /// Connection id.
    #[schemars(length(min = 1, max = MAX_CONNECTION_ID_CHARS))]
    pub target: String,
    #[schemars(pattern(TOPIC_NAME_PATTERN))]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartOffset {
    #[default]
    Earliest,
    Latest,
}

/// Where a topic task starts reading a partition that has no checkpoint yet:
/// `"earliest"`, `"latest"` or `{"timestamp_ms": N}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(with = "wire::TopicStartOffsetShape")]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(with = "wire::OnErrorShape")]
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
#[derive(Clone, Debug, Default, JsonSchema)]
#[schemars(with = "wire::TopicSelectionShape")]
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

    /// Whether the task copies message data, so the dispatcher keeps workers for it:
    /// every topic task, and an instance task whose `sync` includes messages.
    pub fn copies_messages(&self) -> bool {
        match self {
            Self::Instance(spec) => spec.sync.syncs_messages(),
            Self::Topic(_) => true,
        }
    }

    /// Whether the task's consumer groups are synchronized: an instance task with `sync` =
    /// `metadata+messages+offsets` over the all-topics range (validation guarantees the
    /// range and `same_partition`; the range is checked here too because offset sync
    /// translates every group of the cluster, which only the all-topics range covers).
    pub fn syncs_offsets(&self) -> bool {
        matches!(self, Self::Instance(spec) if spec.sync.syncs_offsets() && spec.topics.is_all())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{instance, instance_body, topic, with};
    use super::super::parse_task_spec;
    use super::*;
    use crate::processing::from_json;

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

    #[test]
    fn topic_tasks_and_instance_tasks_with_messages_copy_messages() {
        assert!(topic().copies_messages());
        assert!(instance().copies_messages());
        let sync = |scope: &str| parse_task_spec(&with(instance_body(), "sync", json!(scope)));
        assert!(sync("metadata+messages").unwrap().copies_messages());
        assert!(!sync("metadata").unwrap().copies_messages());
    }

    #[test]
    fn only_instance_tasks_with_offsets_over_all_topics_sync_them() {
        let spec = |sync: &str, topics: serde_json::Value| {
            parse_task_spec(&json!({"name": "t", "kind": "instance", "source": "a",
                "target": "b", "sync": sync, "topics": topics}))
            .unwrap()
        };
        assert!(spec("metadata+messages+offsets", json!({"all": true})).syncs_offsets());
        assert!(!spec("metadata+messages", json!({"all": true})).syncs_offsets());
        assert!(!spec("metadata+messages", json!({"regex": "^x"})).syncs_offsets());
        assert!(!topic().syncs_offsets());
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
}
