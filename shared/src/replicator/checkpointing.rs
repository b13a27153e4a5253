//! When acknowledged progress is written to the store. A settled batch moves its
//! partitions' checkpoints in memory at once; the store gets them (with their offset-map
//! runs) at most every `WRITE_EVERY` or `WRITE_BYTES` of acknowledged records, and at
//! once whenever the worker stops, goes idle, changes what it reads (a stall, a probe, a
//! re-check, a partition lost) or settles everything for any other reason
//! (`Worker::settle_all`). So the store's writes per worker stay about one a second
//! however small the batches are cut, and a killed worker copies again at most what it
//! had in flight (two batches) plus what it had acknowledged in the last `WRITE_EVERY`.
//! A checkpoint still never runs ahead of what the target acknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::worker::Copying;
use super::{Worker, WorkerError};
use crate::metrics::checkpoints_written;
use crate::store::{Lease, OffsetRun, Owned, PartitionRef};

/// How long acknowledged progress may wait for its store write. A Kafka consumer's
/// auto-commit waits five times as long.
const WRITE_EVERY: Duration = Duration::from_secs(1);
/// How many acknowledged record bytes may wait for their store write: bounds what a
/// fast worker copies again after a crash.
const WRITE_BYTES: u64 = 16 * 1024 * 1024;

/// Progress acknowledged by the target and not yet written to the store.
#[derive(Default)]
pub(super) struct Unwritten {
    /// Partitions whose checkpoint in `Copying::owned` is ahead of the store's.
    partitions: BTreeSet<PartitionRef>,
    /// The offset-map runs to write with them, by partition and first source offset: a
    /// run extended again before it is written is written once, at its latest length.
    runs: BTreeMap<(PartitionRef, i64), OffsetRun>,
    bytes: u64,
    /// When the oldest progress still unwritten was acknowledged.
    since: Option<Instant>,
}

impl Unwritten {
    pub(super) fn add(
        &mut self,
        partitions: impl IntoIterator<Item = PartitionRef>,
        runs: &[(PartitionRef, OffsetRun)],
        bytes: u64,
    ) {
        self.partitions.extend(partitions);
        for (p, run) in runs {
            self.runs.insert((p.clone(), run.source_start), *run);
        }
        self.bytes += bytes;
        self.since.get_or_insert_with(Instant::now);
    }

    fn due(&self) -> bool {
        self.bytes >= WRITE_BYTES || self.since.is_some_and(|s| s.elapsed() >= WRITE_EVERY)
    }

    fn take(&mut self) -> (BTreeSet<PartitionRef>, Vec<(PartitionRef, OffsetRun)>) {
        let runs = std::mem::take(&mut self.runs)
            .into_iter()
            .map(|((p, _), run)| (p, run))
            .collect();
        self.bytes = 0;
        self.since = None;
        (std::mem::take(&mut self.partitions), runs)
    }
}

impl Worker<'_> {
    /// Writes the unwritten checkpoints and runs when they are due, or at once when
    /// `now`. True when the write found partitions another worker took (what the
    /// consumer reads must change).
    pub(super) async fn write_checkpoints(
        &self,
        lease: &Lease,
        copying: &mut Copying,
        now: bool,
    ) -> Result<bool, WorkerError> {
        if copying.unwritten.partitions.is_empty() || !(now || copying.unwritten.due()) {
            return Ok(false);
        }
        let (partitions, runs) = copying.unwritten.take();
        let checkpoints: Vec<(PartitionRef, Owned)> = partitions
            .into_iter()
            .filter_map(|p| copying.owned.get(&p).cloned().map(|owned| (p, owned)))
            .collect();
        let committed = self
            .services
            .store
            .commit_checkpoints(lease, checkpoints, &runs)
            .await?;
        checkpoints_written(&self.task_id, committed.owned.iter().map(|(p, _)| p));
        copying.owned.extend(committed.owned);
        Ok(copying.drop_lost(&committed.lost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(n: i32) -> PartitionRef {
        PartitionRef {
            topic: "t".into(),
            partition: n,
        }
    }

    #[test]
    fn a_run_extended_before_its_write_is_written_once_at_its_latest_length() {
        let mut unwritten = Unwritten::default();
        let run = |length| OffsetRun {
            source_start: 10,
            target_start: 3,
            length,
        };
        unwritten.add([partition(0)], &[(partition(0), run(5))], 100);
        unwritten.add([partition(0), partition(1)], &[(partition(0), run(9))], 100);
        assert!(!unwritten.due(), "200 bytes, just now");
        let (partitions, runs) = unwritten.take();
        assert_eq!(
            partitions.into_iter().collect::<Vec<_>>(),
            [partition(0), partition(1)]
        );
        assert_eq!(runs, [(partition(0), run(9))]);
        assert!(unwritten.partitions.is_empty() && unwritten.since.is_none());
    }

    #[test]
    fn progress_is_due_after_its_bytes_or_its_time() {
        let mut unwritten = Unwritten::default();
        unwritten.add([partition(0)], &[], WRITE_BYTES);
        assert!(unwritten.due());
        unwritten.take();
        unwritten.add([partition(0)], &[], 1);
        unwritten.since = Some(Instant::now() - WRITE_EVERY);
        assert!(unwritten.due());
    }
}
