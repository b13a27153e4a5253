//! Handing records to the target's producer, and what its answers mean.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::clients::{learn_topics, producer_config};
use super::{WorkerError, kafka};
use crate::kafka::ClusterAccess;
use crate::shared_clients::SharedClients;

/// The header every replicated record carries: the cluster it was copied from, as
/// [`origin_tag`]. A record whose origin is the target itself is not copied back, so two
/// tasks syncing a pair of clusters both ways do not echo.
pub const ORIGIN_HEADER: &str = "ksync.origin";

/// A cluster's origin tag: the first 8 bytes of the SHA-256 of its cluster id. Short,
/// because every copied record carries it: 22 bytes of encoded header where the former
/// `ksync.origin.cluster` with the 22-character cluster id took 44 (a fifth of a
/// 100-byte record); 64 bits keep two clusters of one deployment from sharing a tag.
pub fn origin_tag(cluster_id: &str) -> [u8; 8] {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(cluster_id.as_bytes());
    digest[..8]
        .try_into()
        .expect("a SHA-256 digest has 32 bytes")
}

/// How long `send` waits for room in a full producer queue before it gives up.
const QUEUE_FULL_LIMIT: Duration = Duration::from_secs(300);

/// Whether the target refuses a record for good: retrying the same record cannot help
/// until someone changes the target (DESIGN §3). Anything else is transient.
pub fn refused_for_good(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        MessageSizeTooLarge
            | MessageBatchTooLarge
            | TopicAuthorizationFailed
            | ClusterAuthorizationFailed
            | PolicyViolation
            | InvalidRecord
            | InvalidTimestamp
            | InvalidTopic
            | UnknownTopicOrPartition
            | UnknownTopic
            | UnknownPartition
    )
}

/// The error code of a produce or delivery failure, if it has one.
pub fn error_code(error: &KafkaError) -> Option<RDKafkaErrorCode> {
    match error {
        KafkaError::MessageProduction(code) => Some(*code),
        other => other.rdkafka_error_code(),
    }
}

/// The record's headers without any origin header, or `None` when its origin is the
/// target cluster (`target_tag`; `None` copies whatever the origin). Order, repeated
/// names and null values are kept.
pub fn copy_headers<H: Headers + ?Sized>(
    existing: Option<&H>,
    target_tag: Option<&[u8]>,
) -> Option<OwnedHeaders> {
    let mut headers = OwnedHeaders::new();
    // By index: a borrowed message's headers are unsized, which `Headers::iter` refuses.
    let all = existing
        .into_iter()
        .flat_map(|h| (0..h.count()).map(|i| h.get(i)));
    for header in all {
        if header.key == ORIGIN_HEADER {
            if target_tag.is_some() && header.value == target_tag {
                return None;
            }
            continue;
        }
        headers = headers.insert(header);
    }
    Some(headers)
}

/// The process's producer for a target cluster, made on first use. Workers share it:
/// one client batches every partition's records into fewer, larger requests, with one
/// bounded queue for the whole process. A producer that failed a delivery is replaced.
pub fn shared_producer(target: &ClusterAccess) -> Result<Arc<FutureProducer>, WorkerError> {
    PRODUCERS.get(
        target,
        |producer| producer.client().fatal_error().is_none(),
        || producer_config(target).create().map_err(kafka("producer")),
    )
}

static PRODUCERS: SharedClients<FutureProducer> = SharedClients::new();

/// What handing a record to the producer came to.
pub enum Sent {
    Queued(DeliveryFuture),
    /// The producer refused it at once, for good (e.g. the target topic is gone).
    Refused(KafkaError),
}

/// Enqueues a record, waiting while the producer queue is full. The shared producer may
/// not know a partition added since it last read the topic's metadata: it reads it
/// again once, then retries.
pub async fn send(
    producer: &Arc<FutureProducer>,
    mut record: FutureRecord<'_, [u8], [u8]>,
) -> Result<Sent, WorkerError> {
    // Read the clock only once the queue is full: per record it cost about 1 % of the
    // process's CPU at 100-byte records (issue 17).
    let mut full_since = None;
    let mut refreshed = false;
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return Ok(Sent::Queued(delivery)),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                let since = *full_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > QUEUE_FULL_LIMIT {
                    return Err(WorkerError::Delivery(KafkaError::MessageProduction(
                        RDKafkaErrorCode::QueueFull,
                    )));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::UnknownPartition), returned))
                if !refreshed =>
            {
                record = returned;
                refreshed = true;
                learn_topics(producer, vec![record.topic.to_owned()]).await?;
            }
            Err((e, _)) if error_code(&e).is_some_and(refused_for_good) => {
                return Ok(Sent::Refused(e));
            }
            Err((e, _)) => return Err(WorkerError::Delivery(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_tags_are_short_stable_and_distinct() {
        let (a, b) = (
            origin_tag("MkU3OEVBNTcwNTJENDM2Qk"),
            origin_tag("5L6g3nShT-eMCtK--X86sw"),
        );
        assert_eq!(a, origin_tag("MkU3OEVBNTcwNTJENDM2Qk"));
        assert_ne!(a, b);
        // Encoded as a record header: key length, key, value length, value (varints of 1 byte).
        assert_eq!(1 + ORIGIN_HEADER.len() + 1 + a.len(), 22);
    }
}
