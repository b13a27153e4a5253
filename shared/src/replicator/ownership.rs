//! Taking partitions, and holding them to the source log (DESIGN §3 "Ownership", "What
//! the copy reports instead of hiding").
//!
//! A worker takes a partition when the assignment gives it to its slot, reading its
//! checkpoint from the store at that moment (the former owner is fenced from then on).
//! Every partition it takes — and every one the consumer finds out of range while
//! copying — is compared with the source log:
//! - a checkpoint below the log start means retention deleted `[checkpoint, log start)`
//!   before it was copied: an event with the exact range, `lost` counted, and the copy
//!   goes on at the log start;
//! - a checkpoint above the log end means the log moved backwards (the topic was
//!   re-created or truncated): an event, the old log's offset mappings are discarded, and
//!   the new log is copied from its beginning. So does a topic id other than the one the
//!   checkpoint was taken with (the topic was deleted and created again, whatever its
//!   size now).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::worker::Context;
use super::{Worker, WorkerError};
use crate::kafka::TIMEOUT;
use crate::kafka_admin::KafkaAdmin;
use crate::store::{FROM_BEGINNING, Lease, Level, Owned, PartitionRef, Stall};

impl Worker<'_> {
    /// Takes `partitions` for the lease's slot and holds them to the source log.
    pub(super) async fn take(
        &self,
        lease: &Lease,
        context: &Context,
        partitions: Vec<PartitionRef>,
        owned: &mut HashMap<PartitionRef, Owned>,
    ) -> Result<(), WorkerError> {
        if !partitions.is_empty() {
            owned.extend(
                self.services
                    .store
                    .take_partitions(lease, &partitions)
                    .await?,
            );
        }
        self.hold_to_log(lease, context, partitions, owned).await
    }

    /// Compares the owned `partitions` with the source log, reports what it finds and
    /// commits the corrected checkpoints.
    pub(super) async fn hold_to_log(
        &self,
        lease: &Lease,
        context: &Context,
        partitions: Vec<PartitionRef>,
        owned: &mut HashMap<PartitionRef, Owned>,
    ) -> Result<(), WorkerError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let store = &self.services.store;
        let ids = topic_ids(&context.admin, &partitions).await?;
        let marks = context.source.watermarks(partitions, TIMEOUT).await?;
        let mut corrected = Vec::new();
        for (p, (low, high)) in marks {
            let Some(held) = owned.get(&p) else { continue };
            let mut checkpoint = held.checkpoint.clone();
            let next = checkpoint.next_offset;
            let id = ids.get(&p.topic);
            let recreated =
                matches!((&checkpoint.topic_id, id), (Some(old), Some(now)) if old != now);
            let rewound = if recreated {
                Some("the topic was deleted and created again (its id changed)".to_owned())
            } else if next > high {
                Some(format!(
                    "the source log moved backwards (the copy had reached offset {next}, the log now ends at {high}): the topic was re-created or truncated"
                ))
            } else {
                None
            };
            if let Some(why) = rewound {
                let message = format!(
                    "{}/{}: {why}; its old offset map is discarded and the new log is copied from its beginning",
                    p.topic, p.partition
                );
                let _ = store
                    .add_event(&self.task_id, Level::Warn, "rewound", &message)
                    .await;
                store.discard_mappings(lease, &p).await?;
                checkpoint.next_offset = FROM_BEGINNING;
                checkpoint.stalled = None;
                checkpoint.topic_id = id.cloned();
            } else if next >= 0 && next < low {
                let message = format!(
                    "{}/{}: offsets {next} to {} were deleted by retention before they were copied ({} offsets lost); copying goes on at {low}",
                    p.topic,
                    p.partition,
                    low - 1,
                    low - next
                );
                let _ = store
                    .add_event(&self.task_id, Level::Error, "lost", &message)
                    .await;
                checkpoint.lost += (low - next) as u64;
                checkpoint.next_offset = low;
            } else if checkpoint.topic_id.is_none() && id.is_some() {
                checkpoint.topic_id = id.cloned();
            } else {
                continue;
            }
            if checkpoint.topic_id.is_none() {
                checkpoint.topic_id = id.cloned();
            }
            corrected.push((
                p,
                Owned {
                    checkpoint,
                    version: held.version,
                },
            ));
        }
        let committed = store.commit_checkpoints(lease, corrected, &[]).await?;
        owned.extend(committed.owned);
        for p in committed.lost {
            owned.remove(&p);
        }
        Ok(())
    }

    /// Whether a topic of an owned partition was deleted and created again since its
    /// checkpoint was taken: one DescribeTopics request, cheap enough for every re-check.
    pub(super) async fn recreated(
        &self,
        context: &Context,
        owned: &HashMap<PartitionRef, Owned>,
    ) -> Result<Vec<PartitionRef>, WorkerError> {
        let partitions: Vec<PartitionRef> = owned.keys().cloned().collect();
        let ids = topic_ids(&context.admin, &partitions).await?;
        Ok(owned
            .iter()
            .filter(|(p, o)| {
                matches!((&o.checkpoint.topic_id, ids.get(&p.topic)), (Some(old), Some(now)) if old != now)
            })
            .map(|(p, _)| p.clone())
            .collect())
    }

    /// The one event of a stalled partition; identical repeats coalesce in the store.
    pub(super) async fn report_stall(&self, partition: &PartitionRef, stall: &Stall) {
        let message = format!(
            "{}/{} is stalled at offset {}: the target refused the record for good ({}: {}); the other partitions go on, and it is retried at each re-check or on resume",
            partition.topic, partition.partition, stall.offset, stall.code, stall.message
        );
        let _ = self
            .services
            .store
            .add_event(&self.task_id, Level::Error, "stalled", &message)
            .await;
    }
}

/// The ids of the partitions' topics now.
async fn topic_ids(
    admin: &KafkaAdmin,
    partitions: &[PartitionRef],
) -> Result<BTreeMap<String, String>, WorkerError> {
    let topics: BTreeSet<String> = partitions.iter().map(|p| p.topic.clone()).collect();
    let topics: Vec<String> = topics.into_iter().collect();
    admin
        .topic_ids(&topics, TIMEOUT)
        .await
        .map_err(WorkerError::Admin)
}
