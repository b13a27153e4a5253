//! Metadata sync on the two real clusters: every rule of DESIGN §3, one run at a time.

use std::collections::BTreeMap;
use std::time::Duration;

use harness::records::{add_partitions, create_topic, create_topic_with, topic_configs};
use harness::task::{TENANT, instance_task};
use harness::unique_name;
use kafka_sync::kafka::ClusterAccess;
use kafka_sync::kafka_admin::KafkaAdmin;
use kafka_sync::lifecycle::TaskRecord;
use kafka_sync::metadata_sync::{self, MetadataProgress};
use kafka_sync::services::Services;
use kafka_sync::topic_metadata::SYNCED_CONFIGS;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

struct Sync {
    services: Services,
    task: TaskRecord,
}

impl Sync {
    /// A task syncing the topics matching `regex` (each test its own prefix).
    async fn new(regex: &str) -> Sync {
        let (services, task) =
            instance_task(json!({"sync": "metadata", "topics": {"regex": regex}})).await;
        Sync { services, task }
    }

    async fn run(&self) -> MetadataProgress {
        metadata_sync::run(&self.services, TENANT, &self.task)
            .await
            .unwrap()
    }
}

fn admin(access: &ClusterAccess) -> AdminClient<DefaultClientContext> {
    access.client_config().create().unwrap()
}

async fn partitions(access: &ClusterAccess, topic: &str) -> Option<usize> {
    access.topic_partition_count(topic, TIMEOUT).await.unwrap()
}

async fn set(access: &ClusterAccess, topic: &str, name: &str, value: &str) {
    KafkaAdmin::new(access)
        .unwrap()
        .set_topic_configs(topic, &[(name.to_owned(), value.to_owned())], TIMEOUT)
        .await
        .unwrap();
}

fn synced(all: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    SYNCED_CONFIGS
        .iter()
        .map(|name| (*name, all.get(*name).map_or("", String::as_str)))
        .collect()
}

#[tokio::test]
async fn a_missing_topic_is_created_with_partitions_rf_and_the_seven_configs() {
    let prefix = unique_name("meta-create");
    let topic = format!("{prefix}-orders");
    create_topic_with(
        &harness::source(),
        &topic,
        6,
        &[
            ("retention.ms", "86400000"),
            ("cleanup.policy", "compact"),
            ("segment.ms", "3600000"),
            ("max.message.bytes", "2097152"),
            ("retention.bytes", "1073741824"),
        ],
    )
    .await;
    let sync = Sync::new(&format!("^{prefix}")).await;
    let progress = sync.run().await;
    assert_eq!(progress.topics_created, 1);
    assert_eq!(partitions(&harness::target(), &topic).await, Some(6));
    let source_configs = topic_configs(&harness::source(), &topic).await;
    let target_configs = topic_configs(&harness::target(), &topic).await;
    assert_eq!(synced(&target_configs), synced(&source_configs));
    assert_eq!(target_configs["cleanup.policy"], "compact");
    // RF = min(source RF 1, target brokers 1).
    let metadata = admin(&harness::target())
        .inner()
        .fetch_metadata(Some(&topic), TIMEOUT)
        .unwrap();
    assert_eq!(metadata.topics()[0].partitions()[0].replicas().len(), 1);
    let events = sync.services.store.events(&sync.task.id, 10).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.message.contains("created target topic"))
    );
}

#[tokio::test]
async fn an_existing_target_topic_is_untouched_at_initialization() {
    let prefix = unique_name("meta-existing");
    let topic = format!("{prefix}-t");
    create_topic_with(
        &harness::source(),
        &topic,
        6,
        &[("retention.ms", "-1"), ("max.message.bytes", "3000000")],
    )
    .await;
    create_topic_with(
        &harness::target(),
        &topic,
        2,
        &[("retention.ms", "1000000"), ("max.message.bytes", "100000")],
    )
    .await;
    let before = topic_configs(&harness::target(), &topic).await;
    let sync = Sync::new(&format!("^{prefix}")).await;
    sync.run().await;
    assert_eq!(partitions(&harness::target(), &topic).await, Some(2));
    assert_eq!(topic_configs(&harness::target(), &topic).await, before);
}

#[tokio::test]
async fn partitions_grow_on_the_next_run_and_never_shrink() {
    let prefix = unique_name("meta-grow");
    let grows = format!("{prefix}-grows");
    let bigger = format!("{prefix}-bigger");
    create_topic(&harness::source(), &grows, 3).await;
    create_topic(&harness::source(), &bigger, 2).await;
    let sync = Sync::new(&format!("^{prefix}")).await;
    sync.run().await;
    assert_eq!(partitions(&harness::target(), &grows).await, Some(3));
    // The target copy of `bigger` is grown by hand beyond the source.
    add_partitions(&harness::target(), &bigger, 4).await;
    add_partitions(&harness::source(), &grows, 5).await;
    let progress = sync.run().await;
    assert_eq!(partitions(&harness::target(), &grows).await, Some(5));
    assert_eq!(partitions(&harness::target(), &bigger).await, Some(4));
    assert_eq!(progress.partitions_added, 2);
}

#[tokio::test]
async fn retention_follows_only_towards_unlimited_and_nothing_else_is_resynced() {
    let prefix = unique_name("meta-retention");
    let topic = format!("{prefix}-t");
    create_topic_with(
        &harness::source(),
        &topic,
        1,
        &[("retention.ms", "86400000"), ("retention.bytes", "1000000")],
    )
    .await;
    let sync = Sync::new(&format!("^{prefix}")).await;
    sync.run().await;
    let (source, target) = (harness::source(), harness::target());

    set(&source, &topic, "retention.ms", "-1").await;
    sync.run().await;
    assert_eq!(topic_configs(&target, &topic).await["retention.ms"], "-1");

    set(&source, &topic, "retention.ms", "3600000").await;
    set(&source, &topic, "retention.bytes", "-1").await;
    sync.run().await;
    let after = topic_configs(&target, &topic).await;
    assert_eq!(
        after["retention.ms"], "-1",
        "a finite source value is not copied"
    );
    assert_eq!(after["retention.bytes"], "-1");

    set(&source, &topic, "retention.bytes", "5000").await;
    set(&source, &topic, "max.message.bytes", "4000000").await;
    let before = topic_configs(&target, &topic).await;
    sync.run().await;
    assert_eq!(topic_configs(&target, &topic).await, before);
}

#[tokio::test]
async fn a_topic_created_later_appears_with_full_configs() {
    let prefix = unique_name("meta-later");
    create_topic(&harness::source(), &format!("{prefix}-first"), 1).await;
    let sync = Sync::new(&format!("^{prefix}")).await;
    sync.run().await;
    let later = format!("{prefix}-later");
    create_topic_with(
        &harness::source(),
        &later,
        3,
        &[
            ("cleanup.policy", "compact"),
            ("min.insync.replicas", "1"),
            ("segment.ms", "7200000"),
        ],
    )
    .await;
    sync.run().await;
    assert_eq!(partitions(&harness::target(), &later).await, Some(3));
    let (source, target) = (
        topic_configs(&harness::source(), &later).await,
        topic_configs(&harness::target(), &later).await,
    );
    assert_eq!(synced(&target), synced(&source));
}

#[tokio::test]
async fn a_200_character_name_becomes_its_first_128() {
    let prefix = unique_name("meta-long");
    let long = format!("{prefix}-{}", "x".repeat(200 - prefix.len() - 1));
    assert_eq!(long.len(), 200);
    create_topic(&harness::source(), &long, 1).await;
    Sync::new(&format!("^{prefix}")).await.run().await;
    assert_eq!(partitions(&harness::target(), &long[..128]).await, Some(1));
    assert_eq!(partitions(&harness::target(), &long).await, None);
}

#[tokio::test]
async fn a_regex_range_syncs_only_matching_topics_and_no_groups() {
    let prefix = unique_name("meta-regex");
    let (wanted, other, internal) = (
        format!("{prefix}-orders"),
        format!("{prefix}-payments"),
        format!("__{prefix}"),
    );
    for topic in [&wanted, &other, &internal] {
        create_topic(&harness::source(), topic, 1).await;
    }
    commit_group(&wanted).await;
    let progress = Sync::new(&format!("^(__)?{prefix}-orders|^__{prefix}"))
        .await
        .run()
        .await;
    assert_eq!(partitions(&harness::target(), &wanted).await, Some(1));
    assert_eq!(partitions(&harness::target(), &other).await, None);
    assert_eq!(
        partitions(&harness::target(), &internal).await,
        None,
        "internal topics never"
    );
    assert!(progress.groups.is_empty(), "a regex range syncs no groups");
}

/// A group with a commit on `topic`; returns its name.
async fn commit_group(topic: &str) -> String {
    let group = unique_name("meta-group");
    let consumer: BaseConsumer = harness::source()
        .client_config()
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, Offset::Offset(0))
        .unwrap();
    consumer.commit(&offsets, CommitMode::Sync).unwrap();
    group
}

#[tokio::test]
async fn groups_with_commits_on_synced_topics_are_listed() {
    let prefix = unique_name("meta-groups");
    let (synced_topic, other) = (format!("{prefix}-in"), format!("{prefix}-out"));
    create_topic(&harness::source(), &synced_topic, 1).await;
    create_topic(&harness::source(), &other, 1).await;
    let on_synced = commit_group(&synced_topic).await;
    let on_other = commit_group(&other).await;
    let topics = [synced_topic.as_str()].into_iter().collect();
    let groups = metadata_sync::groups_on(&harness::source(), &topics)
        .await
        .unwrap();
    assert!(groups.contains(&on_synced));
    assert!(!groups.contains(&on_other));
}
