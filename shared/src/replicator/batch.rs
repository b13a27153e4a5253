//! Records read together and checkpointed together, and the rule of when a checkpoint
//! may advance: past a record only once the target acknowledged it (or the task's
//! policy disposed of it), and never past a record the target refused for good.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::task::{Context, Poll, Waker};

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::DeliveryFuture;
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::types::RDKafkaErrorCode;

use super::WorkerError;
use super::send::{error_code, refused_for_good};
use crate::store::{Checkpoint, OffsetRun};

/// What a delivered record adds to its partition's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    Copied,
    DeadLettered,
    /// A second or later output of a record already counted.
    Nothing,
}

/// What a record the target refuses for good comes to (DESIGN §3, §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnRefusal {
    /// Its partition stops at it (instance tasks).
    Stall,
    /// Topic tasks under `discard`: skipped and counted.
    Discard,
    /// Topic tasks with a dead-letter topic: sent there before the checkpoint moves.
    DeadLetter,
    /// Topic tasks under `retain`: the partition stops at it and the task fails.
    Fail,
}

/// A record the target refused for good.
#[derive(Debug)]
pub struct Refusal {
    pub sent: SentRecord,
    pub error: KafkaError,
    /// The record as it was to be written, when the producer handed it back.
    pub record: Option<OwnedMessage>,
    /// Refused on its own (by the client, or when sent alone): sending it again alone
    /// cannot tell anything new.
    pub alone: bool,
    /// What the refusal comes to.
    pub policy: OnRefusal,
}

impl Refusal {
    /// Whether the refusal may be another record's: the broker refuses a whole
    /// produce batch for one record too large for the topic (or for a batch larger than
    /// `max.message.bytes`), so each record of it is sent again alone to find which.
    pub fn may_be_anothers(&self) -> bool {
        !self.alone
            && self.record.is_some()
            && matches!(
                error_code(&self.error),
                Some(
                    RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge
                )
            )
    }
}

/// What the target said of one record sent.
#[derive(Debug)]
pub enum Outcome {
    Delivered(SentRecord, i64),
    Refused(Refusal),
}

impl Outcome {
    fn route(&self) -> usize {
        match self {
            Outcome::Delivered(sent, _) => sent.route,
            Outcome::Refused(refusal) => refusal.sent.route,
        }
    }
}

/// What the tally needs to know of a record sent.
#[derive(Clone, Copy, Debug)]
pub struct SentRecord {
    /// Index of the record's route in the worker's routes.
    pub route: usize,
    /// Its source offset.
    pub offset: i64,
    pub bytes: usize,
    pub counts: Counts,
    /// Whether its delivery goes into the offset map (instance tasks).
    pub sample: bool,
    /// The source record's timestamp, which a dead-letter copy or a second send keeps.
    pub timestamp: Option<i64>,
}

/// A record sent and not yet acknowledged.
pub struct InFlight {
    pub sent: SentRecord,
    pub delivery: DeliveryFuture,
}

/// Records read together and checkpointed together.
#[derive(Default)]
pub struct Batch {
    /// Sent, and not yet seen acknowledged, oldest first.
    pub in_flight: VecDeque<InFlight>,
    /// What the records acknowledged or done with so far add to the checkpoints. A
    /// record leaves `in_flight` for the tally as soon as its acknowledgement is seen,
    /// so a batch holds per-record state only for what the target has not acknowledged.
    pub tally: Tally,
    pub records: usize,
    pub bytes: usize,
    /// Full at this many records or bytes (see `budget`).
    limits: (usize, usize),
}

impl Batch {
    /// An empty batch, full at `limits` (records, bytes).
    pub fn with_limits(limits: (usize, usize)) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    pub fn is_full(&self) -> bool {
        self.records >= self.limits.0 || self.bytes >= self.limits.1
    }

    /// Adds a sent record, and folds in every acknowledgement already there.
    pub fn sent(&mut self, record: InFlight, policy: OnRefusal) -> Result<(), WorkerError> {
        self.in_flight.push_back(record);
        let mut seen = SeenAt::default();
        while let Some(oldest) = self.in_flight.front_mut() {
            let Poll::Ready(outcome) = poll_now(&mut oldest.delivery) else {
                break;
            };
            let record = self.in_flight.pop_front().expect("the oldest is there");
            self.tally
                .settled(record.sent, outcome, policy, &mut seen)?;
        }
        Ok(())
    }

    /// Waits for every acknowledgement still outstanding and folds it in.
    pub async fn acknowledged(&mut self, policy: OnRefusal) -> Result<(), WorkerError> {
        let mut seen = SeenAt::default();
        while let Some(mut record) = self.in_flight.pop_front() {
            let outcome = match poll_now(&mut record.delivery) {
                Poll::Ready(outcome) => outcome,
                Poll::Pending => {
                    let outcome = (&mut record.delivery).await;
                    seen = SeenAt::default();
                    outcome
                }
            };
            self.tally
                .settled(record.sent, outcome, policy, &mut seen)?;
        }
        Ok(())
    }
}

/// An acknowledgement's outcome if it is already there.
fn poll_now(delivery: &mut DeliveryFuture) -> Poll<<DeliveryFuture as Future>::Output> {
    std::pin::Pin::new(delivery).poll(&mut Context::from_waker(Waker::noop()))
}

/// When the worker saw the acknowledgements it folds in without waiting: the clock is
/// read once for all of them, not per record (at 100-byte records reading it per
/// record was about 1 % of the process's CPU, issue 17).
#[derive(Default)]
struct SeenAt(Option<i64>);

impl SeenAt {
    fn ms(&mut self) -> i64 {
        *self.0.get_or_insert_with(crate::store::now_ms)
    }
}

/// Per route (by index): how far its checkpoint moves and what its counters gain, the
/// offset-map runs of what was delivered, and the records the target refused.
#[derive(Default)]
pub struct Tally {
    pub growth: BTreeMap<usize, Checkpoint>,
    /// Contiguous runs of delivered (source, target) offsets, in delivery order.
    pub runs: HashMap<usize, Vec<OffsetRun>>,
    /// Routes stopped at a refused record: nothing later of theirs moves a checkpoint.
    pub blocked: BTreeMap<usize, Refusal>,
    /// Refused records to send to the dead-letter topic before the checkpoint moves.
    pub dead_letters: Vec<Refusal>,
    /// Routes with a refusal that may be another record's ([`Refusal::may_be_anothers`]):
    /// their outcomes from it on, in source order, held until each refused record was
    /// sent again alone (`resend`).
    pub held: BTreeMap<usize, Vec<Outcome>>,
    /// Replication latency of the records acknowledged, for the metrics.
    pub latency: crate::metrics::LatencyTally,
}

impl Tally {
    /// The record at `offset` is done with: the checkpoint may move past it. `None` when
    /// its route is blocked at an earlier record.
    pub fn done(&mut self, route: usize, offset: i64) -> Option<&mut Checkpoint> {
        if self.blocked.contains_key(&route) {
            return None;
        }
        let growth = self.growth.entry(route).or_default();
        growth.next_offset = growth.next_offset.max(offset + 1);
        Some(growth)
    }

    /// Folds in a delivery's outcome: an acknowledgement, a refusal (by `policy`), or a
    /// transient failure, which is the worker's error.
    fn settled<Canceled>(
        &mut self,
        record: SentRecord,
        outcome: Result<OwnedDeliveryResult, Canceled>,
        policy: OnRefusal,
        seen: &mut SeenAt,
    ) -> Result<(), WorkerError> {
        match outcome.map_err(|_| WorkerError::ProducerGone)? {
            Ok(delivery) => {
                if record.counts == Counts::Copied {
                    self.latency
                        .observe(record.route, delivery.timestamp, seen.ms());
                }
                self.take(Outcome::Delivered(record, delivery.offset));
                Ok(())
            }
            Err((error, message)) if error_code(&error).is_some_and(refused_for_good) => {
                self.take(Outcome::Refused(Refusal {
                    sent: record,
                    error,
                    record: Some(message),
                    alone: false,
                    policy,
                }));
                Ok(())
            }
            Err((error, _)) => Err(WorkerError::Delivery(error)),
        }
    }

    /// Takes in what the target said of a record: at once, or held behind a refusal
    /// that may be another record's.
    pub fn take(&mut self, outcome: Outcome) {
        let route = outcome.route();
        if let Some(held) = self.held.get_mut(&route) {
            held.push(outcome);
            return;
        }
        match outcome {
            Outcome::Refused(refusal)
                if refusal.may_be_anothers() && !self.blocked.contains_key(&route) =>
            {
                self.held.insert(route, vec![Outcome::Refused(refusal)]);
            }
            outcome => self.apply(outcome),
        }
    }

    /// What an outcome adds to the checkpoints, as final.
    pub fn apply(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Delivered(record, target_offset) => self.delivered(record, target_offset),
            Outcome::Refused(refusal) => self.refused(refusal),
        }
    }

    /// The target refused a record for good: by its policy.
    fn refused(&mut self, refusal: Refusal) {
        let SentRecord {
            route,
            offset,
            counts,
            ..
        } = refusal.sent;
        match refusal.policy {
            OnRefusal::Stall | OnRefusal::Fail => {
                self.blocked.entry(route).or_insert(refusal);
            }
            OnRefusal::Discard => {
                if let Some(growth) = self.done(route, offset)
                    && counts != Counts::Nothing
                {
                    growth.discarded += 1;
                }
            }
            OnRefusal::DeadLetter => {
                if let Some(growth) = self.done(route, offset) {
                    if counts != Counts::Nothing {
                        growth.dead_lettered += 1;
                    }
                    self.dead_letters.push(refusal);
                }
            }
        }
    }

    /// The target acknowledged `record` at `target_offset`.
    fn delivered(&mut self, record: SentRecord, target_offset: i64) {
        let Some(growth) = self.done(record.route, record.offset) else {
            return;
        };
        growth.bytes += record.bytes as u64;
        match record.counts {
            Counts::Copied => growth.copied += 1,
            Counts::DeadLettered => growth.dead_lettered += 1,
            Counts::Nothing => {}
        }
        if !record.sample {
            return;
        }
        let copy = OffsetRun {
            source_start: record.offset,
            target_start: target_offset,
            length: 1,
        };
        let runs = self.runs.entry(record.route).or_default();
        match runs.last_mut() {
            Some(last) if last.continued_by(&copy) => last.length += 1,
            _ => runs.push(copy),
        }
    }
}

/// A checkpoint moved on by what a batch adds to it.
pub fn grown(stored: &Checkpoint, growth: &Checkpoint) -> Checkpoint {
    Checkpoint {
        next_offset: stored.next_offset.max(growth.next_offset),
        copied: stored.copied + growth.copied,
        bytes: stored.bytes + growth.bytes,
        discarded: stored.discarded + growth.discarded,
        dead_lettered: stored.dead_lettered + growth.dead_lettered,
        lost: stored.lost,
        topic_id: stored.topic_id.clone(),
        // A record past the refused one went through: the partition is no longer stalled.
        stalled: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(route: usize, offset: i64) -> SentRecord {
        SentRecord {
            route,
            offset,
            bytes: 10,
            counts: Counts::Copied,
            sample: true,
            timestamp: None,
        }
    }

    fn refusal(route: usize, offset: i64, policy: OnRefusal) -> Refusal {
        Refusal {
            sent: record(route, offset),
            error: KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
            record: None,
            alone: true,
            policy,
        }
    }

    fn delivered(tally: &mut Tally, route: usize, offset: i64, target: i64) {
        tally.take(Outcome::Delivered(record(route, offset), target));
    }

    fn refused(tally: &mut Tally, route: usize, offset: i64, policy: OnRefusal) {
        tally.take(Outcome::Refused(refusal(route, offset, policy)));
    }

    #[test]
    fn a_checkpoint_moves_past_acknowledged_records_only() {
        let mut tally = Tally::default();
        delivered(&mut tally, 0, 5, 100);
        delivered(&mut tally, 0, 6, 101);
        // Offsets 7 and 8 are gaps (a transaction marker): the next record is 9.
        delivered(&mut tally, 0, 9, 102);
        let growth = &tally.growth[&0];
        assert_eq!(
            (growth.next_offset, growth.copied, growth.bytes),
            (10, 3, 30)
        );
        // Nothing was said of route 1: its checkpoint does not move.
        assert!(!tally.growth.contains_key(&1));
    }

    #[test]
    fn a_refused_record_stops_its_route_and_no_other() {
        let mut tally = Tally::default();
        delivered(&mut tally, 0, 1, 10);
        refused(&mut tally, 0, 2, OnRefusal::Stall);
        // Later records of the route went through, but the checkpoint stays at 2.
        delivered(&mut tally, 0, 3, 11);
        refused(&mut tally, 0, 4, OnRefusal::Stall);
        delivered(&mut tally, 1, 7, 50);
        assert_eq!(tally.growth[&0].next_offset, 2);
        assert_eq!(tally.blocked[&0].sent.offset, 2);
        assert_eq!(tally.growth[&1].next_offset, 8);
    }

    #[test]
    fn topic_task_policies_move_past_a_refused_record_and_count_it() {
        let mut tally = Tally::default();
        refused(&mut tally, 0, 2, OnRefusal::Discard);
        refused(&mut tally, 1, 4, OnRefusal::DeadLetter);
        assert_eq!(
            (tally.growth[&0].next_offset, tally.growth[&0].discarded),
            (3, 1)
        );
        assert_eq!(
            (tally.growth[&1].next_offset, tally.growth[&1].dead_lettered),
            (5, 1)
        );
        assert_eq!(tally.dead_letters.len(), 1);
        assert!(tally.blocked.is_empty());
    }

    #[test]
    fn a_size_refusal_holds_its_route_until_each_record_was_sent_alone() {
        let mut tally = Tally::default();
        delivered(&mut tally, 0, 0, 100);
        // The broker refused the produce batch holding offsets 1 and 2 as too large.
        let mut batch_refusal = refusal(0, 1, OnRefusal::Stall);
        batch_refusal.alone = false;
        batch_refusal.record = Some(OwnedMessage::new(
            None,
            None,
            "t".into(),
            rdkafka::Timestamp::NotAvailable,
            0,
            -1,
            None,
        ));
        assert!(batch_refusal.may_be_anothers());
        tally.take(Outcome::Refused(batch_refusal));
        refused(&mut tally, 0, 2, OnRefusal::Stall);
        // A later request of the route went through; a second route is not held.
        delivered(&mut tally, 0, 3, 101);
        delivered(&mut tally, 1, 9, 7);
        assert_eq!(tally.growth[&0].next_offset, 1, "held, not yet moved");
        assert_eq!(tally.growth[&1].next_offset, 10);
        let held: Vec<i64> = tally.held[&0]
            .iter()
            .map(|o| match o {
                Outcome::Delivered(sent, _) => sent.offset,
                Outcome::Refused(r) => r.sent.offset,
            })
            .collect();
        assert_eq!(held, vec![1, 2, 3], "in source order");
        assert!(tally.blocked.is_empty());
    }

    #[test]
    fn runs_grow_while_both_sides_are_contiguous_and_break_at_gaps() {
        let mut tally = Tally::default();
        for offset in 0..10 {
            delivered(&mut tally, 0, offset, 1000 + offset);
        }
        // A transaction marker at source 10; then another producer's record landed on
        // the target at 1010, so the next copy is at 1011.
        delivered(&mut tally, 0, 11, 1010);
        delivered(&mut tally, 0, 12, 1012);
        let runs = &tally.runs[&0];
        let shape: Vec<(i64, i64, i64)> = runs
            .iter()
            .map(|r| (r.source_start, r.target_start, r.length))
            .collect();
        assert_eq!(shape, vec![(0, 1000, 10), (11, 1010, 1), (12, 1012, 1)]);
    }

    #[test]
    fn a_grown_checkpoint_adds_counters_and_clears_a_stall() {
        let stored = Checkpoint {
            next_offset: 4,
            copied: 4,
            lost: 2,
            stalled: Some(crate::store::Stall {
                offset: 4,
                code: "MessageSizeTooLarge".into(),
                message: "too large".into(),
            }),
            ..Checkpoint::default()
        };
        let growth = Checkpoint {
            next_offset: 6,
            copied: 2,
            ..Checkpoint::default()
        };
        let next = grown(&stored, &growth);
        assert_eq!((next.next_offset, next.copied, next.lost), (6, 6, 2));
        assert!(next.stalled.is_none());
    }
}
