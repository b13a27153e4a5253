//! Consumer groups on the real clusters, for tests of group offsets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::collections::BTreeMap;

use kafka_sync::kafka::ClusterAccess;
use kafka_sync::kafka_admin::{GroupOffset, KafkaAdmin};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

/// A consumer of `group` that commits only when told, starting where `reset` says
/// (`earliest` | `latest`) on a partition the group has not committed.
pub fn group_consumer(access: &ClusterAccess, group: &str, reset: &str) -> BaseConsumer {
    access
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", reset)
        .create()
        .unwrap()
}

/// The group's committed offset on each of `partitions` partitions of `topic` (`None`:
/// no commit).
pub fn committed(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, Option<i64>> {
    let mut all = TopicPartitionList::new();
    for p in 0..partitions {
        all.add_partition(topic, p);
    }
    let found = consumer
        .committed_offsets(all, Duration::from_secs(30))
        .unwrap();
    (0..partitions)
        .map(|p| {
            let at = match found.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            };
            (p, at)
        })
        .collect()
}

/// A consumer that joined `group` (subscribed to `topic`) and keeps polling on its own
/// thread until dropped, so the group has a live member meanwhile.
pub struct LiveMember {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveMember {
    pub fn join(access: &ClusterAccess, group: &str, topic: &str) -> Self {
        let consumer: BaseConsumer = access
            .client_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = consumer.poll(Duration::from_millis(100));
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for LiveMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Commits `offsets` for `group` on the cluster, as its consumers would.
pub async fn commit_on(access: &ClusterAccess, group: &str, offsets: &[GroupOffset]) {
    KafkaAdmin::new(access)
        .unwrap()
        .commit_group_offsets(group, offsets, Duration::from_secs(30))
        .await
        .unwrap();
}

/// The group's committed offsets on the cluster, by partition (tests of one topic).
pub async fn offsets_on(access: &ClusterAccess, group: &str) -> BTreeMap<i32, i64> {
    KafkaAdmin::new(access)
        .unwrap()
        .group_offsets(group, Duration::from_secs(30))
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.partition, o.offset))
        .collect()
}
