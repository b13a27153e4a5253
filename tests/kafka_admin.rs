//! `kafka_sync::kafka_admin` against the real clusters: incremental topic config changes,
//! and listing, reading, committing and describing consumer groups.

use std::time::{Duration, Instant};

use harness::groups::LiveMember;
use harness::records::{create_topic, create_topic_with};
use kafka_sync::kafka::ClusterAccess;
use kafka_sync::kafka_admin::{AdminError, GroupOffset, KafkaAdmin};
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

fn rdkafka_admin(access: &ClusterAccess) -> AdminClient<DefaultClientContext> {
    access.client_config().create().unwrap()
}

/// The value of one config of a topic, read back with rdkafka's DescribeConfigs.
async fn topic_config(access: &ClusterAccess, topic: &str, name: &str) -> Option<String> {
    let results = rdkafka_admin(access)
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    resource.get(name).and_then(|entry| entry.value.clone())
}

fn offset(topic: &str, partition: i32, offset: i64) -> GroupOffset {
    GroupOffset {
        topic: topic.to_owned(),
        partition,
        offset,
    }
}

#[tokio::test]
async fn setting_one_topic_config_keeps_all_the_others() {
    let target = harness::target();
    let topic = harness::unique_name("admin-configs");
    create_topic_with(
        &target,
        &topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("max.message.bytes", "2097152"),
            ("retention.ms", "3600000"),
        ],
    )
    .await;

    let admin = KafkaAdmin::new(&target).unwrap();
    admin
        .set_topic_configs(&topic, &[("retention.ms".into(), "-1".into())], TIMEOUT)
        .await
        .unwrap();

    assert_eq!(
        topic_config(&target, &topic, "retention.ms")
            .await
            .as_deref(),
        Some("-1")
    );
    assert_eq!(
        topic_config(&target, &topic, "cleanup.policy")
            .await
            .as_deref(),
        Some("compact")
    );
    assert_eq!(
        topic_config(&target, &topic, "max.message.bytes")
            .await
            .as_deref(),
        Some("2097152")
    );
}

#[tokio::test]
async fn setting_several_configs_at_once_sets_each() {
    let target = harness::target();
    let topic = harness::unique_name("admin-configs-many");
    create_topic_with(&target, &topic, 1, &[("cleanup.policy", "compact")]).await;

    let admin = KafkaAdmin::new(&target).unwrap();
    let configs = [
        ("retention.ms".to_owned(), "-1".to_owned()),
        ("retention.bytes".to_owned(), "-1".to_owned()),
        ("segment.ms".to_owned(), "7200000".to_owned()),
    ];
    admin
        .set_topic_configs(&topic, &configs, TIMEOUT)
        .await
        .unwrap();

    for (name, value) in &configs {
        assert_eq!(
            topic_config(&target, &topic, name).await.as_ref(),
            Some(value),
            "{name}"
        );
    }
    assert_eq!(
        topic_config(&target, &topic, "cleanup.policy")
            .await
            .as_deref(),
        Some("compact")
    );
}

#[tokio::test]
async fn setting_configs_of_a_missing_topic_fails_naming_it() {
    let target = harness::target();
    let topic = harness::unique_name("admin-no-such-topic");
    let admin = KafkaAdmin::new(&target).unwrap();

    let error = admin
        .set_topic_configs(&topic, &[("retention.ms".into(), "-1".into())], TIMEOUT)
        .await
        .unwrap_err();

    match &error {
        AdminError::Kafka { name, message, .. } => {
            assert_eq!(name, "UNKNOWN_TOPIC_OR_PART", "{error}");
            assert!(message.contains(&topic), "{error}");
        }
        other => panic!("expected a Kafka error, got {other:?}"),
    }
}

#[tokio::test]
async fn setting_an_unknown_config_fails_and_changes_nothing() {
    let target = harness::target();
    let topic = harness::unique_name("admin-bad-config");
    create_topic_with(&target, &topic, 1, &[("retention.ms", "3600000")]).await;
    let admin = KafkaAdmin::new(&target).unwrap();

    let error = admin
        .set_topic_configs(
            &topic,
            &[
                ("retention.ms".into(), "-1".into()),
                ("no.such.config".into(), "1".into()),
            ],
            TIMEOUT,
        )
        .await
        .unwrap_err();

    assert!(matches!(error, AdminError::Kafka { .. }), "{error:?}");
    assert!(error.to_string().contains(&topic), "{error}");
    // The resource's changes are applied atomically: the valid one did not happen either.
    assert_eq!(
        topic_config(&target, &topic, "retention.ms")
            .await
            .as_deref(),
        Some("3600000")
    );
}

#[tokio::test]
async fn offsets_a_consumer_committed_are_listed_exactly() {
    let source = harness::source();
    let topic = harness::unique_name("admin-committed");
    let group = harness::unique_name("admin-committer");
    create_topic(&source, &topic, 2).await;

    {
        let consumer: BaseConsumer = source
            .client_config()
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&topic, 0, Offset::Offset(5))
            .unwrap();
        offsets
            .add_partition_offset(&topic, 1, Offset::Offset(7))
            .unwrap();
        consumer.commit(&offsets, CommitMode::Sync).unwrap();
    }

    let admin = KafkaAdmin::new(&source).unwrap();
    let groups = admin.list_groups(TIMEOUT).await.unwrap();
    let listing = groups
        .iter()
        .find(|g| g.group_id == group)
        .unwrap_or_else(|| panic!("{group} not in {groups:?}"));
    assert_eq!(listing.state, "Empty", "{listing:?}");
    assert!(
        listing.is_simple,
        "only ever committed, never joined: {listing:?}"
    );

    assert_eq!(
        admin.group_offsets(&group, TIMEOUT).await.unwrap(),
        vec![offset(&topic, 0, 5), offset(&topic, 1, 7)]
    );
}

#[tokio::test]
async fn offsets_committed_for_a_fresh_group_read_back_and_move_forward() {
    let target = harness::target();
    let topic = harness::unique_name("admin-commit");
    let group = harness::unique_name("admin-fresh-group");
    create_topic(&target, &topic, 2).await;
    let admin = KafkaAdmin::new(&target).unwrap();
    assert_eq!(admin.group_offsets(&group, TIMEOUT).await.unwrap(), vec![]);

    admin
        .commit_group_offsets(
            &group,
            &[offset(&topic, 0, 10), offset(&topic, 1, 3)],
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(
        admin.group_offsets(&group, TIMEOUT).await.unwrap(),
        vec![offset(&topic, 0, 10), offset(&topic, 1, 3)]
    );

    admin
        .commit_group_offsets(&group, &[offset(&topic, 0, 25)], TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        admin.group_offsets(&group, TIMEOUT).await.unwrap(),
        vec![offset(&topic, 0, 25), offset(&topic, 1, 3)]
    );

    let groups = admin.list_groups(TIMEOUT).await.unwrap();
    assert!(groups.iter().any(|g| g.group_id == group), "{groups:?}");
}

#[tokio::test]
async fn committing_for_a_group_with_a_live_member_is_refused_as_group_active() {
    let target = harness::target();
    let topic = harness::unique_name("admin-live");
    let group = harness::unique_name("admin-live-group");
    create_topic(&target, &topic, 2).await;
    let admin = KafkaAdmin::new(&target).unwrap();
    let member = LiveMember::join(&target, &group, &topic);

    let deadline = Instant::now() + Duration::from_secs(60);
    let description = loop {
        let description = admin
            .describe_groups(std::slice::from_ref(&group), TIMEOUT)
            .await
            .unwrap()
            .into_iter()
            .next()
            .unwrap();
        if description.members >= 1 && description.state == "Stable" {
            break description;
        }
        assert!(Instant::now() < deadline, "never joined: {description:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(description.group_id, group);

    let error = admin
        .commit_group_offsets(&group, &[offset(&topic, 0, 1)], TIMEOUT)
        .await
        .unwrap_err();
    match &error {
        AdminError::GroupActive { group: refused, .. } => assert_eq!(refused, &group),
        other => panic!("expected GroupActive, got {other:?}"),
    }
    assert_eq!(admin.group_offsets(&group, TIMEOUT).await.unwrap(), vec![]);
    drop(member);
}

#[tokio::test]
async fn a_partition_the_broker_refuses_fails_the_commit_naming_it() {
    let target = harness::target();
    let topic = harness::unique_name("admin-partial");
    let group = harness::unique_name("admin-partial-group");
    create_topic(&target, &topic, 1).await;
    let admin = KafkaAdmin::new(&target).unwrap();

    // Partition 3 does not exist: Kafka 4 refuses offsets for unknown partitions.
    let error = admin
        .commit_group_offsets(
            &group,
            &[offset(&topic, 0, 4), offset(&topic, 3, 4)],
            TIMEOUT,
        )
        .await
        .unwrap_err();

    match &error {
        AdminError::Kafka { name, message, .. } => {
            assert_eq!(name, "UNKNOWN_TOPIC_OR_PART", "{error}");
            assert!(message.contains(&format!("{topic}/3")), "{error}");
        }
        other => panic!("expected a Kafka error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_group_has_no_members_and_no_offsets() {
    let target = harness::target();
    let group = harness::unique_name("admin-no-such-group");
    let admin = KafkaAdmin::new(&target).unwrap();

    let descriptions = admin
        .describe_groups(std::slice::from_ref(&group), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(descriptions.len(), 1);
    assert_eq!(descriptions[0].group_id, group);
    assert_eq!(descriptions[0].members, 0);
    assert_eq!(descriptions[0].state, "Dead");
    assert_eq!(admin.group_offsets(&group, TIMEOUT).await.unwrap(), vec![]);
}

#[tokio::test]
async fn an_unreachable_cluster_times_out() {
    let admin = KafkaAdmin::new(&ClusterAccess::plaintext("127.0.0.1:1")).unwrap();
    let started = Instant::now();
    let error = admin.list_groups(Duration::from_secs(2)).await.unwrap_err();
    assert!(matches!(error, AdminError::Timeout), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
