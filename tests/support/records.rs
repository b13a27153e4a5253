//! Writing and reading records on the real clusters, for tests that compare them.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_sync::kafka::ClusterAccess;
use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
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

/// One record: everything replication must preserve. [`read_all`] fills in where it
/// was read; [`produce_records`] writes it to its `partition` and ignores its `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
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
    create_topic_with(access, topic, partitions, &[]).await;
}

/// Creates `topic` with `configs` set on it, e.g. `[("cleanup.policy", "compact")]`.
pub async fn create_topic_with(
    access: &ClusterAccess,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) {
    create_topics(access, &[topic.to_owned()], partitions, configs).await;
}

/// Creates every one of `topics` alike in one request (callers keep a request under
/// the controller's limit: a few hundred topics).
pub async fn create_topics(
    access: &ClusterAccess,
    topics: &[String],
    partitions: i32,
    configs: &[(&str, &str)],
) {
    let admin: AdminClient<DefaultClientContext> = access.client_config().create().unwrap();
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|topic| {
            configs.iter().fold(
                NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
                |t, (k, v)| t.set(k, v),
            )
        })
        .collect();
    let created = admin
        .create_topics(&new_topics, &AdminOptions::new())
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
}

/// Every config of `topic` that has a value, effective ones included.
pub async fn topic_configs(access: &ClusterAccess, topic: &str) -> BTreeMap<String, String> {
    let admin: AdminClient<DefaultClientContext> = access.client_config().create().unwrap();
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap();
    described
        .into_iter()
        .next()
        .unwrap()
        .unwrap()
        .entries
        .into_iter()
        .filter_map(|e| Some((e.name, e.value?)))
        .collect()
}

pub async fn add_partitions(access: &ClusterAccess, topic: &str, total: usize) {
    let admin: AdminClient<DefaultClientContext> = access.client_config().create().unwrap();
    let grown = admin
        .create_partitions(&[NewPartitions::new(topic, total)], &AdminOptions::new())
        .await
        .unwrap();
    assert!(grown.iter().all(Result::is_ok), "{grown:?}");
}

/// The tests' producer: idempotent (records land in the order given), and the broker,
/// never the client, limits a record's size: librdkafka's default `message.max.bytes`
/// (1 MB) would refuse records a topic with a larger `max.message.bytes` accepts.
fn producer(access: &ClusterAccess) -> FutureProducer {
    access
        .client_config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "10")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.max.bytes", "104857600")
        .create()
        .unwrap()
}

/// Writes `records` to `topic` in order, each exactly as given: key and value (`None`
/// stays null, an empty one stays empty), headers in order (duplicate names and null
/// values included), timestamp (`None`: the producer's clock) and partition. Returns
/// where each landed: the records with the offsets the broker gave them.
async fn send_all(
    access: &ClusterAccess,
    topic: &str,
    records: impl IntoIterator<Item = Record>,
) -> Vec<Record> {
    let producer = producer(access);
    let mut written = Vec::new();
    let mut pending = Vec::new();
    // Deliveries are awaited in windows, so millions of records need no unbounded queue.
    async fn settle(
        pending: &mut Vec<(Record, rdkafka::producer::DeliveryFuture)>,
        written: &mut Vec<Record>,
    ) {
        for (mut record, delivery) in pending.drain(..) {
            let delivered = delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
            record.partition = delivered.partition;
            record.offset = delivered.offset;
            written.push(record);
        }
    }
    for record in records {
        let headers = record
            .headers
            .iter()
            .fold(OwnedHeaders::new(), |h, (k, v)| {
                h.insert(Header {
                    key: k,
                    value: v.as_deref(),
                })
            });
        let mut out = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(record.partition)
            .headers(headers);
        if let Some(key) = &record.key {
            out = out.key(key);
        }
        if let Some(value) = &record.value {
            out = out.payload(value);
        }
        if let Some(timestamp) = record.timestamp {
            out = out.timestamp(timestamp);
        }
        let delivery = producer.send_result(out).map_err(|(e, _)| e).unwrap();
        pending.push((record, delivery));
        if pending.len() >= 50_000 {
            settle(&mut pending, &mut written).await;
        }
    }
    settle(&mut pending, &mut written).await;
    written
}

/// Writes `records` to `topic` exactly as given (see [`Record`]), in order, and returns
/// them with the offsets they got.
pub async fn produce_records(
    access: &ClusterAccess,
    topic: &str,
    records: &[Record],
) -> Vec<Record> {
    send_all(access, topic, records.iter().cloned()).await
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
    let records = (first..first + count).map(|i| Record {
        partition: (i % partitions as u64) as i32,
        offset: 0,
        key: Some(format!("key-{i}").into_bytes()),
        value: Some(
            (0..value_bytes)
                .map(|b| (i as usize * 31 + b) as u8)
                .collect(),
        ),
        headers: vec![
            ("seq".to_owned(), Some(i.to_be_bytes().to_vec())),
            ("empty".to_owned(), None),
        ],
        timestamp: Some(base_timestamp() + i as i64),
    });
    send_all(access, topic, records).await;
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
                partition: message.partition(),
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
    let records = values.iter().enumerate().map(|(i, value)| {
        let key = format!("k{i}").into_bytes();
        Record {
            partition: 0,
            offset: 0,
            headers: vec![("trace".to_owned(), Some(key.clone()))],
            key: Some(key),
            value: Some(value.clone().into_bytes()),
            timestamp: Some(base_timestamp() + i as i64),
        }
    });
    send_all(access, topic, records).await;
}
