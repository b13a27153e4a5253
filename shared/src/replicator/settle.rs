//! Settling a batch: waiting for the target's answers, then checkpointing what it
//! acknowledged, under the partitions' ownership.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;

use super::batch::{Batch, Refusal, grown};
use super::handling::Handling;
use super::read::record_to;
use super::resend::resend_held;
use super::send::{Sent, copy_headers, error_code, send};
use super::worker::{Copying, ReadState};
use super::{Worker, WorkerError};
use crate::error_policy::{Decision, Origin, decide};
use crate::processing::ProcessingError;
use crate::store::{Lease, Owned, PartitionRef, Stall};

impl Worker<'_> {
    /// Settles every pending batch, oldest first, and writes every checkpoint; whether
    /// the consumer must be assigned again (see [`Worker::settle`]).
    pub(super) async fn settle_all(
        &self,
        lease: &Lease,
        producer: &Arc<FutureProducer>,
        handling: &Handling,
        copying: &mut Copying,
        pending: &mut VecDeque<Batch>,
    ) -> Result<bool, WorkerError> {
        let mut reassign = false;
        while let Some(batch) = pending.pop_front() {
            reassign |= self
                .settle(lease, producer, handling, copying, batch, pending)
                .await?;
        }
        reassign |= self.write_checkpoints(lease, copying, true).await?;
        Ok(reassign)
    }

    /// Waits for every record of the batch to be acknowledged, then checkpoints it (in
    /// memory; in the store when due: `checkpointing`). Only what the target
    /// acknowledged is checkpointed; a transient delivery failure stops the worker with
    /// its checkpoint before the batch. True when what the consumer reads must change: a
    /// partition stalled, was lost to another worker, or came out of a stall. `later` are the batches sent after it: when records of this one must
    /// be sent again alone, what those sent is acknowledged first, so no record sent
    /// again shares a produce request with them.
    pub(super) async fn settle(
        &self,
        lease: &Lease,
        producer: &Arc<FutureProducer>,
        handling: &Handling,
        copying: &mut Copying,
        mut batch: Batch,
        later: &mut VecDeque<Batch>,
    ) -> Result<bool, WorkerError> {
        let policy = handling.on_refusal();
        batch.acknowledged(policy).await?;
        let mut tally = batch.tally;
        if !tally.held.is_empty() {
            for batch in later.iter_mut() {
                batch.acknowledged(policy).await?;
            }
            resend_held(producer, &mut tally, |route| {
                copying.read_before_stall(route)
            })
            .await?;
        }
        for refusal in std::mem::take(&mut tally.dead_letters) {
            let source = copying.reading[refusal.sent.route].route.source.clone();
            self.send_refused_to_dead_letter(producer, handling, &source, refusal)
                .await?;
        }
        let mut reassign = false;
        let mut checkpoints = Vec::new();
        let mut stalls = Vec::new();
        let routes: HashSet<usize> = tally
            .growth
            .keys()
            .chain(tally.blocked.keys())
            .copied()
            .collect();
        for route in routes {
            let source = &copying.reading[route].route.source;
            let Some(owned) = copying.owned.get(source) else {
                continue;
            };
            if copying.read_before_stall(route) {
                continue;
            }
            let state = copying.states[route];
            let mut checkpoint = match tally.growth.get(&route) {
                Some(growth) => grown(&owned.checkpoint, growth),
                None => owned.checkpoint.clone(),
            };
            if let Some(refusal) = tally.blocked.get(&route) {
                let stall = Stall {
                    offset: refusal.sent.offset,
                    code: error_code(&refusal.error)
                        .map_or_else(|| "unknown".to_owned(), |c| format!("{c:?}")),
                    message: refusal.error.to_string(),
                };
                checkpoint.next_offset = refusal.sent.offset;
                checkpoint.stalled = Some(stall.clone());
                stalls.push((source.clone(), stall));
                copying.states[route] = ReadState::Skip;
                reassign = true;
            } else if matches!(state, ReadState::Probe(_)) {
                // Its refused record went through: it is read as usual again.
                copying.states[route] = ReadState::Copy;
                reassign = true;
            }
            let version = owned.version;
            checkpoints.push((
                source.clone(),
                Owned {
                    checkpoint,
                    version,
                },
            ));
        }
        let runs = copying.runs_to_write(tally.runs);
        self.observe_settled(copying, &tally.latency, &tally.growth);
        let bytes = tally.growth.values().map(|g| g.bytes).sum();
        copying
            .unwritten
            .add(checkpoints.iter().map(|(p, _)| p.clone()), &runs, bytes);
        copying.owned.extend(checkpoints);
        // The newest run of each partition is the one the next batch may extend.
        copying.open_runs.extend(runs);
        // A stall or a probe's end is written at once: it changes what is read.
        reassign |= self.write_checkpoints(lease, copying, reassign).await?;
        for (p, stall) in stalls {
            self.report_stall(&p, &stall).await;
        }
        Ok(reassign)
    }

    /// A record the target refused, sent to the topic task's dead-letter topic with the
    /// target's error as the reason.
    async fn send_refused_to_dead_letter(
        &self,
        producer: &Arc<FutureProducer>,
        handling: &Handling,
        source: &PartitionRef,
        refusal: Refusal,
    ) -> Result<(), WorkerError> {
        let Some(topic) = handling.dead_letter_topic() else {
            return Ok(());
        };
        let Some(record) = refusal.record else {
            return Ok(());
        };
        let error = ProcessingError {
            kind: "target_refused",
            reason: refusal.error.to_string(),
        };
        let at = Origin {
            topic: &source.topic,
            partition: source.partition,
            offset: refusal.sent.offset,
            timestamp: refusal.sent.timestamp,
        };
        let extra = dead_letter_headers(&at, &error);
        // The record's own headers, as on the source: the origin tag was the copy's.
        let headers = copy_headers(record.headers(), None).expect("no echo tag to match");
        let out = record_to(
            topic,
            headers,
            &extra,
            record.key(),
            record.payload(),
            refusal.sent.timestamp,
        );
        match send(producer, out).await? {
            Sent::Queued(delivery) => {
                delivery
                    .await
                    .map_err(|_| WorkerError::ProducerGone)?
                    .map_err(|(e, _)| WorkerError::Delivery(e))?;
                Ok(())
            }
            Sent::Refused(e) => Err(WorkerError::Delivery(e)),
        }
    }
}

/// The error-policy headers of a refused record, as `decide` writes them.
fn dead_letter_headers(at: &Origin<'_>, error: &ProcessingError) -> Vec<(&'static str, String)> {
    match decide(
        &crate::task::OnError::DeadLetter {
            topic: String::new(),
        },
        error,
        at,
    ) {
        Decision::DeadLetter { headers, .. } => headers,
        _ => Vec::new(),
    }
}
