//! Writing and reading records on the real clusters, for tests that compare them.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_sync::kafka::ClusterAccess;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

/// The timestamp of record 0 of [`produce`] and [`produce_values`]: an hour ago, once
/// per process. Recent enough that no retention deletes the records under test.
pub fn base_timestamp() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| chrono::Utc::now().timestamp_millis() / 1000 * 1000 - 3_600_000)
}

/// One record as read back: everything replication must preserve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Option<i64>,
}

impl Record {
    /// The record without its offset and without the given header (the origin header
    /// replication adds), for comparing copies.
    pub fn content_without(&self, header: &str) -> Record {
        Record {
            offset: 0,
            headers: self
                .headers
                .iter()
                .filter(|(k, _)| k != header)
                .cloned()
                .collect(),
            ..self.clone()
        }
    }
}

pub async fn create_topic(access: &ClusterAccess, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = access.client_config().create().unwrap();
    let created = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
}

pub async fn add_partitions(access: &ClusterAccess, topic: &str, total: usize) {
    let admin: AdminClient<DefaultClientContext> = access.client_config().create().unwrap();
    let grown = admin
        .create_partitions(&[NewPartitions::new(topic, total)], &AdminOptions::new())
        .await
        .unwrap();
    assert!(grown.iter().all(Result::is_ok), "{grown:?}");
}

/// Produces `count` keyed records with two headers, numbered from `first`, record i to
/// partition i mod `partitions`, with timestamp [`base_timestamp`] + i.
pub async fn produce(
    access: &ClusterAccess,
    topic: &str,
    partitions: i32,
    first: u64,
    count: u64,
    value_bytes: usize,
) {
    let producer: FutureProducer = access
        .client_config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "10")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let mut pending = Vec::new();
    for i in first..first + count {
        let key = format!("key-{i}");
        let value: Vec<u8> = (0..value_bytes)
            .map(|b| (i as usize * 31 + b) as u8)
            .collect();
        let seq = i.to_be_bytes();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "seq",
                value: Some(&seq[..]),
            })
            .insert(Header {
                key: "empty",
                value: None::<&[u8]>,
            });
        let record = FutureRecord::to(topic)
            .key(&key)
            .payload(&value)
            .headers(headers)
            .partition((i % partitions as u64) as i32)
            .timestamp(base_timestamp() + i as i64);
        pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
        if pending.len() >= 50_000 {
            for delivery in pending.drain(..) {
                delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
            }
        }
    }
    for delivery in pending {
        delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
}

/// Every record of every partition of `topic`, up to the end offsets at the call.
pub async fn read_all(access: &ClusterAccess, topic: &str) -> BTreeMap<i32, Vec<Record>> {
    let access = access.clone();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = access
            .client_config()
            .set("group.id", crate::unique_name("reader"))
            .set("enable.partition.eof", "false")
            .create()
            .unwrap();
        let metadata = consumer.fetch_metadata(Some(&topic), TIMEOUT).unwrap();
        if metadata.topics()[0].error().is_some() {
            // No such topic (yet): nothing to read.
            return BTreeMap::new();
        }
        let partitions = metadata.topics()[0].partitions().len() as i32;
        let mut ends = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            let (_, high) = consumer.fetch_watermarks(&topic, p, TIMEOUT).unwrap();
            ends.insert(p, high);
            assignment
                .add_partition_offset(&topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut records: BTreeMap<i32, Vec<Record>> =
            (0..partitions).map(|p| (p, Vec::new())).collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        let done = |records: &BTreeMap<i32, Vec<Record>>| {
            ends.iter().all(|(p, end)| {
                records[p]
                    .last()
                    .map_or(*end == 0, |r| r.offset + 1 >= *end)
            })
        };
        while !done(&records) {
            assert!(
                std::time::Instant::now() < deadline,
                "reading {topic} timed out"
            );
            let Some(message) = consumer.poll(Duration::from_millis(500)) else {
                continue;
            };
            let message = message.unwrap();
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default();
            records.get_mut(&message.partition()).unwrap().push(Record {
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
                headers,
                timestamp: message.timestamp().to_millis(),
            });
        }
        records
    })
    .await
    .unwrap()
}

/// How many topics of the cluster start with `prefix`.
pub async fn topic_names(access: &ClusterAccess, prefix: &str) -> usize {
    let (access, prefix) = (access.clone(), prefix.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = access.client_config().create().unwrap();
        let metadata = consumer.fetch_metadata(None, TIMEOUT).unwrap();
        metadata
            .topics()
            .iter()
            .filter(|t| t.name().starts_with(&prefix))
            .count()
    })
    .await
    .unwrap()
}

/// Produces `values` in order to partition 0 of `topic`, keyed `k<i>`, with timestamps
/// [`base_timestamp`] + i and one header.
pub async fn produce_values(access: &ClusterAccess, topic: &str, values: &[String]) {
    let producer: FutureProducer = access
        .client_config()
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let mut pending = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let key = format!("k{i}");
        let record = FutureRecord::to(topic)
            .key(&key)
            .payload(value)
            .partition(0)
            .headers(OwnedHeaders::new().insert(Header {
                key: "trace",
                value: Some(key.as_bytes()),
            }))
            .timestamp(base_timestamp() + i as i64);
        pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    for delivery in pending {
        delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
}
