//! The librdkafka settings of a worker's clients, and how they learn a topic's metadata.

use std::sync::Arc;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::producer::{FutureProducer, Producer};

use super::{WorkerError, kafka};
use crate::kafka::{ClusterAccess, TIMEOUT};

/// The consumer settings of every worker. It reads by manual assignment from its own
/// checkpoints; librdkafka wants a group for assign(), but it is never joined or
/// committed to.
pub fn consumer_config(source: &ClusterAccess, task_id: &str) -> rdkafka::ClientConfig {
    let mut config = source.client_config();
    config
        .set("group.id", format!("ksync-replicator-{task_id}"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A position outside the log (retention deleted records before they were copied,
        // or the topic was re-created) is an error the worker reports and handles,
        // never a silent jump (DESIGN §3 "What the copy reports").
        .set("auto.offset.reset", "error")
        // Small prefetch: local mode runs up to 20 workers per task in one process, and
        // librdkafka bounds what it prefetches per partition, so 20 slots of 4 partitions
        // each could queue 80 x `queued.max.messages.kbytes`. At 128 KiB (was 512) the
        // bench's 20-slot peak RSS fell by about 20 MiB with no loss of throughput. A
        // full prefetch queue must not idle the worker for librdkafka's default second.
        // A record larger than these limits is still fetched whole (KIP-74); the
        // response limit stays librdkafka's 100 MB default `receive.message.max.bytes`.
        .set("fetch.max.bytes", "262144")
        .set("max.partition.fetch.bytes", "131072")
        .set("queued.max.messages.kbytes", "128")
        // librdkafka wants `fetch.max.bytes` at least this; it bounds the requests a
        // consumer sends, which are small.
        .set("message.max.bytes", "262144")
        .set("fetch.queue.backoff.ms", "5")
        .set("enable.partition.eof", "false");
    config
}

/// The producer settings of every worker: idempotent, acknowledged by all in-sync
/// replicas, batched.
pub fn producer_config(target: &ClusterAccess) -> rdkafka::ClientConfig {
    let mut config = target.client_config();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        // librdkafka refuses to queue a record larger than this bound, however empty the
        // queue: it must allow the largest record a target accepts (as
        // `message.max.bytes` below). How much is queued is bounded by the workers
        // instead: each has at most two batches unacknowledged.
        .set("queue.buffering.max.kbytes", "102400")
        .set("message.timeout.ms", "120000")
        // Keys land where the Java client's murmur2 partitioner puts them (DESIGN §3).
        .set("partitioner", "murmur2_random")
        // The broker enforces each topic's `max.message.bytes`; the client must never be
        // the tighter limit, so it allows what a broker accepts in one request at
        // Kafka's default `socket.request.max.bytes` (100 MiB).
        .set("message.max.bytes", "104857600");
    config
}

/// A worker's client that can read one topic's metadata, which teaches it the topic's
/// partitions and their leaders.
pub(super) trait ReadsMetadata: Send + Sync + 'static {
    fn read_metadata(&self, topic: &str) -> KafkaResult<()>;
}

impl ReadsMetadata for StreamConsumer {
    fn read_metadata(&self, topic: &str) -> KafkaResult<()> {
        self.fetch_metadata(Some(topic), TIMEOUT).map(drop)
    }
}

impl ReadsMetadata for FutureProducer {
    fn read_metadata(&self, topic: &str) -> KafkaResult<()> {
        self.client().fetch_metadata(Some(topic), TIMEOUT).map(drop)
    }
}

/// Has `client` read the metadata of each of `topics`, on a blocking thread (librdkafka
/// waits for the answer).
pub(super) async fn learn_topics<C: ReadsMetadata>(
    client: &Arc<C>,
    topics: Vec<String>,
) -> Result<(), WorkerError> {
    if topics.is_empty() {
        return Ok(());
    }
    let client = client.clone();
    tokio::task::spawn_blocking(move || {
        topics
            .iter()
            .try_for_each(|topic| client.read_metadata(topic).map_err(kafka("metadata")))
    })
    .await
    .map_err(|e| WorkerError::Join(e.to_string()))?
}
