//! Stepping a caught-up partition's checkpoint over what no consumer sees at the end of
//! its log: transaction markers and aborted records. Without it a partition of a
//! transactional topic shows a lag of at least one (its last commit marker) for as long
//! as nothing new is written (librdkafka confluentinc/librdkafka#2539).

use rdkafka::Offset;
use rdkafka::consumer::{Consumer, StreamConsumer};

use super::worker::{Copying, ReadState};
use super::{Worker, WorkerError, kafka};
use crate::store::{Lease, Owned};

impl Worker<'_> {
    /// Once a batch found nothing to read, everything sent is settled, and what the
    /// consumer reads did not change since the batch began: every partition read as
    /// usual whose consumer position is past its checkpoint moves its checkpoint there.
    /// Every record below the position was handed to the worker and settled (a probed
    /// or stalled partition, whose records are passed over, is not read as usual), so
    /// what lies between is only what the consumer skips. True when a partition was
    /// lost to another worker meanwhile.
    pub(super) async fn step_over_markers(
        &self,
        lease: &Lease,
        consumer: &StreamConsumer,
        copying: &mut Copying,
    ) -> Result<bool, WorkerError> {
        let positions = consumer.position().map_err(kafka("position"))?;
        let mut checkpoints = Vec::new();
        for element in positions.elements() {
            let Offset::Offset(position) = element.offset() else {
                continue;
            };
            let Some(route) = copying.find(element.topic(), element.partition()) else {
                continue;
            };
            if copying.states[route] != ReadState::Copy {
                continue;
            }
            let source = &copying.reading[route].route.source;
            let Some(owned) = copying.owned.get(source) else {
                continue;
            };
            if owned.checkpoint.stalled.is_some() || position <= owned.checkpoint.next_offset {
                continue;
            }
            let mut checkpoint = owned.checkpoint.clone();
            checkpoint.next_offset = position;
            checkpoints.push((
                source.clone(),
                Owned {
                    checkpoint,
                    version: owned.version,
                },
            ));
        }
        if checkpoints.is_empty() {
            return Ok(false);
        }
        let committed = self
            .services
            .store
            .commit_checkpoints(lease, checkpoints, &[])
            .await?;
        copying.owned.extend(committed.owned);
        Ok(copying.drop_lost(&committed.lost))
    }
}
