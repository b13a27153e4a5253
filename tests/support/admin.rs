//! Changing a real cluster under a running task the way an operator would: raising a
//! topic config, deleting records below an offset (as retention would), and deleting a
//! topic to create it again under the same name.

use std::time::{Duration, Instant};

use kafka_sync::kafka::ClusterAccess;
use kafka_sync::kafka_admin::KafkaAdmin;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

fn admin(access: &ClusterAccess) -> AdminClient<DefaultClientContext> {
    access.client_config().create().unwrap()
}

/// Sets only `configs` on `topic` (incremental: every other config stays as it is, which
/// the legacy AlterConfigs of rdkafka's admin client would reset).
pub async fn set_topic_configs(access: &ClusterAccess, topic: &str, configs: &[(&str, &str)]) {
    let configs: Vec<(String, String)> = configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    KafkaAdmin::new(access)
        .unwrap()
        .set_topic_configs(topic, &configs, TIMEOUT)
        .await
        .unwrap();
}

/// Deletes the records of `topic`/`partition` below `offset` (the admin DeleteRecords
/// API, as `kafka-delete-records` does): the log start moves to `offset`, exactly as if
/// retention had deleted them. Returns once the broker reports the new log start.
pub async fn delete_records_before(
    access: &ClusterAccess,
    topic: &str,
    partition: i32,
    offset: i64,
) {
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, partition, Offset::Offset(offset))
        .unwrap();
    let result = admin(access)
        .delete_records(&offsets, &AdminOptions::new())
        .await
        .unwrap();
    for element in result.elements() {
        assert!(
            element.error().is_ok(),
            "deleting records of {topic}/{partition}: {:?}",
            element.error()
        );
    }
    let (low, _) = watermarks(access, topic, partition).await;
    assert_eq!(
        low, offset,
        "{topic}/{partition} log start after DeleteRecords"
    );
}

/// The low and high watermarks of `topic`/`partition` now.
pub async fn watermarks(access: &ClusterAccess, topic: &str, partition: i32) -> (i64, i64) {
    let (access, topic) = (access.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = access.client_config().create().unwrap();
        consumer
            .fetch_watermarks(&topic, partition, TIMEOUT)
            .unwrap()
    })
    .await
    .unwrap()
}

/// Deletes `topic` and waits until the cluster no longer lists it, so a topic created
/// under the same name afterwards is a new incarnation (a new topic id), not a failed
/// create against one still being deleted.
pub async fn delete_topic(access: &ClusterAccess, topic: &str) {
    let deleted = admin(access)
        .delete_topics(&[topic], &AdminOptions::new())
        .await
        .unwrap();
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
    let (access, topic) = (access.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = access.client_config().create().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let metadata = consumer.fetch_metadata(None, TIMEOUT).unwrap();
            if metadata.topics().iter().all(|t| t.name() != topic) {
                return;
            }
            assert!(Instant::now() < deadline, "{topic} was never deleted");
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .unwrap();
}
