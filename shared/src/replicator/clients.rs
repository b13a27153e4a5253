//! The librdkafka settings of a worker's clients, and how they learn a topic's metadata.

use std::sync::Arc;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::producer::{FutureProducer, Producer};

use super::{WorkerError, kafka};
use crate::kafka::{ClusterAccess, TIMEOUT};

/// What one worker's consumer may hold prefetched, over all its partitions: it is
/// split among the partitions it starts with, so a consumer costs the same memory
/// whether it reads one partition or many, and twenty of them (`kafka-sync local` on a
/// 20-slot task) stay bounded.
const PREFETCH_BYTES: usize = 256 * 1024;
/// Bounds of one partition's prefetch. At 128 KiB (was 512) the bench's 20-slot peak
/// RSS fell by about 20 MiB with no loss of throughput; below 32 KiB a fetch holds too
/// few records to keep up.
const PARTITION_PREFETCH: (usize, usize) = (32 * 1024, 128 * 1024);

/// How much of `PREFETCH_BYTES` each of `partitions` gets.
fn partition_prefetch(partitions: usize) -> usize {
    let (floor, ceiling) = PARTITION_PREFETCH;
    (PREFETCH_BYTES / partitions.max(1)).clamp(floor, ceiling)
}

/// The consumer settings of every worker, for one that starts with `partitions`
/// partitions. It reads by manual assignment from its own checkpoints; librdkafka wants
/// a group for assign(), but it is never joined or committed to.
pub fn consumer_config(
    source: &ClusterAccess,
    task_id: &str,
    partitions: usize,
) -> rdkafka::ClientConfig {
    let prefetch = partition_prefetch(partitions);
    let mut config = source.client_config();
    config
        .set("group.id", format!("ksync-replicator-{task_id}"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A position outside the log (retention deleted records before they were copied,
        // or the topic was re-created) is an error the worker reports and handles,
        // never a silent jump (DESIGN §3 "What the copy reports").
        .set("auto.offset.reset", "error")
        // librdkafka bounds what it prefetches per partition. A full prefetch queue must
        // not idle the worker for librdkafka's default second. A record larger than
        // these limits is still fetched whole (KIP-74); the response limit stays
        // librdkafka's 100 MB default `receive.message.max.bytes`.
        .set("fetch.max.bytes", PREFETCH_BYTES.to_string())
        .set("max.partition.fetch.bytes", prefetch.to_string())
        .set("queued.max.messages.kbytes", (prefetch / 1024).to_string())
        // librdkafka wants `fetch.max.bytes` at least this; it bounds the requests a
        // consumer sends, which are small.
        .set("message.max.bytes", PREFETCH_BYTES.to_string())
        .set("fetch.queue.backoff.ms", "5")
        .set("enable.partition.eof", "false")
        // KIP-714 metrics push (on by default) gives every broker connection latency
        // histograms: heaptrack put them at 7.2 of the 40 MiB heap peak at 20 slots
        // (issue 17). The service reports its own metrics; the source need not get them.
        .set("enable.metrics.push", "false");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_prefetches_the_same_in_all_within_the_partition_bounds() {
        assert_eq!(partition_prefetch(0), 128 * 1024);
        assert_eq!(partition_prefetch(1), 128 * 1024);
        assert_eq!(partition_prefetch(4), 64 * 1024);
        assert_eq!(partition_prefetch(100), 32 * 1024);
    }
}
