//! Consumer-group offset translation (DESIGN §3): the offset a group may commit on a
//! target partition, given the offset it committed on the source partition and the
//! replicator's offset map of that partition. Pure; the job that reads and commits
//! offsets is [`crate::offset_sync`].
//!
//! # The map
//!
//! The replicator learns the exact target offset of every record it copies from the
//! target's acknowledgement. It keeps them as runs `(source_start, target_start,
//! length)`: source offsets `source_start..source_start + length` were copied, in
//! order, to target offsets `target_start..target_start + length`. A run ends at every
//! gap in the source offsets it copies (transaction markers, aborted records, records
//! compaction removed, an echo it did not copy back) and at every take-over (the next
//! owner starts a run of its own); it grows while the copy stays contiguous on both
//! sides, so a partition without gaps has one run however much it copies.
//!
//! # The rule
//!
//! A committed offset `c` is the next record the group reads: it has consumed every
//! record below `c` and none at or above it. It translates to the target offset of the
//! first copied record whose source offset is at or after `c`: `target_start + (c -
//! source_start)` when a run covers `c`, the start of the next run when `c` falls in a
//! gap. A consumer starting there reads nothing twice and misses nothing, once the
//! group's position has been copied: **0 re-reads**. When the group is ahead of the copy
//! (`c` at or past the end of the last run) it translates to the end of what was copied
//! ([`Translation::ahead`]); the consumer then re-reads the copies of records it had
//! consumed on the source since, and the next run moves the group forward once the copy
//! has caught up (target offsets only ever move forward). A `c` before the first run (a
//! `latest` start, a copy not begun, or runs pruned below every group) is not translated.
//!
//! # Why it never skips a record the group has not consumed
//!
//! Runs are written by the partition's owner, in the same fenced write as a checkpoint
//! at their end, and every later record of the partition is copied after them — by the
//! same owner, or by the next one resuming from that checkpoint — through one producer
//! per partition that keeps their order. So **every source record at or after a run's
//! end is, or will be, copied to a target offset at or after the run's target end**,
//! and a gap between two runs holds no record that was copied (its source offsets held
//! no record the consumer delivers, or it is where a take-over started again). Copies
//! below a run's target start (a worker that stopped between sending a batch and
//! checkpointing it, and whose successor sent the batch again) are never read by a
//! consumer starting at the translation, and each such record is copied again within a
//! later run.

use crate::store::OffsetRun;

/// Where a group resumes on the target partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The offset to commit on the target partition.
    pub target_offset: i64,
    /// The group is ahead of the copy: `target_offset` is the end of what was copied,
    /// and a consumer there re-reads what it consumed on the source since.
    pub ahead: bool,
}

impl OffsetRun {
    pub fn source_end(&self) -> i64 {
        self.source_start + self.length
    }

    pub fn target_end(&self) -> i64 {
        self.target_start + self.length
    }

    /// Whether `next` continues this run on both sides.
    pub fn continued_by(&self, next: &OffsetRun) -> bool {
        self.source_end() == next.source_start && self.target_end() == next.target_start
    }
}

/// Translates the offset a group committed on a source partition (`committed`: the
/// next record it reads) through the partition's runs, sorted by source offset (as
/// [`crate::store::Store::mappings`] returns them). `None`: `committed` is negative (no
/// commit) or before the first run.
pub fn translate(runs: &[OffsetRun], committed: i64) -> Option<Translation> {
    let first = runs.first()?;
    if committed < first.source_start || committed < 0 {
        return None;
    }
    // The first run that ends after `committed`: it covers it, or `committed` lies in
    // the gap before it.
    let at = runs.partition_point(|r| r.source_end() <= committed);
    Some(match runs.get(at) {
        Some(run) => Translation {
            target_offset: run.target_start + (committed - run.source_start).max(0),
            ahead: false,
        },
        None => Translation {
            target_offset: runs[runs.len() - 1].target_end(),
            ahead: true,
        },
    })
}

/// The runs offset sync no longer needs for commits at or after `floor` (every group's
/// committed offset on the partition, or the source log start, whichever is higher):
/// those that end at or before it, but the last of them, which tells a commit in the gap
/// after it from one before the copy began. The last run is always kept: the replicator
/// extends it.
pub fn prunable(runs: &[OffsetRun], floor: i64) -> Vec<OffsetRun> {
    let below = runs.partition_point(|r| r.source_end() <= floor);
    let keep_from = below.saturating_sub(1).min(runs.len().saturating_sub(1));
    runs[..keep_from].to_vec()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn run(source_start: i64, target_start: i64, length: i64) -> OffsetRun {
        OffsetRun {
            source_start,
            target_start,
            length,
        }
    }

    fn commit(runs: &[OffsetRun], committed: i64) -> Option<i64> {
        translate(runs, committed).map(|t| t.target_offset)
    }

    #[test]
    fn exact_inside_a_run_and_at_the_next_copy_across_a_gap() {
        // 0..100 copied to 0..100; 100 and 101 are transaction markers; 102..150 → 100..148.
        let runs = [run(0, 0, 100), run(102, 100, 48)];
        assert_eq!(commit(&runs, 0), Some(0));
        assert_eq!(commit(&runs, 57), Some(57));
        assert_eq!(commit(&runs, 100), Some(100), "a marker: the next copy");
        assert_eq!(commit(&runs, 101), Some(100));
        assert_eq!(commit(&runs, 102), Some(100));
        assert_eq!(commit(&runs, 149), Some(147));
    }

    #[test]
    fn ahead_of_the_copy_is_the_end_of_what_was_copied() {
        let runs = [run(0, 0, 100)];
        let t = translate(&runs, 100).unwrap();
        assert_eq!((t.target_offset, t.ahead), (100, true));
        let t = translate(&runs, 5000).unwrap();
        assert_eq!((t.target_offset, t.ahead), (100, true));
        assert!(!translate(&runs, 99).unwrap().ahead);
    }

    #[test]
    fn before_the_first_run_or_no_commit_is_no_translation() {
        assert_eq!(commit(&[], 10), None);
        // A `latest` start: the copy began at source offset 100.
        let runs = [run(100, 0, 50)];
        assert_eq!(commit(&runs, 99), None);
        assert_eq!(commit(&runs, -1), None, "no commit at all");
        assert_eq!(commit(&runs, 100), Some(0), "exactly where the copy began");
    }

    #[test]
    fn pruning_keeps_what_a_group_at_the_floor_needs_and_the_last_run() {
        let runs = [run(0, 0, 10), run(12, 10, 10), run(30, 20, 5)];
        assert_eq!(prunable(&runs, 5), vec![]);
        assert_eq!(prunable(&runs, 10), vec![]);
        assert_eq!(prunable(&runs, 22), vec![run(0, 0, 10)]);
        assert_eq!(prunable(&runs, 1000), vec![run(0, 0, 10), run(12, 10, 10)]);
        // What is left translates every floor-or-later commit as before.
        for floor in [5, 10, 22, 1000] {
            let pruned: BTreeSet<OffsetRun> = prunable(&runs, floor).into_iter().collect();
            let kept: Vec<OffsetRun> = runs
                .iter()
                .filter(|r| !pruned.contains(r))
                .copied()
                .collect();
            for c in floor..floor + 40 {
                assert_eq!(
                    translate(&kept, c),
                    translate(&runs, c),
                    "floor {floor}, c {c}"
                );
            }
        }
    }

    // ---- Exhaustive check against a model of the replicator ----

    /// One step of the replication of a partition, from its checkpoint.
    #[derive(Clone, Copy, Debug)]
    enum Step {
        /// The owner copies a batch of `n` records and checkpoints it with its runs.
        Batch(usize),
        /// The owner copies a batch of `n` records and stops before its checkpoint: the
        /// copies stay on the target; the next owner sends them again.
        Crash(usize),
        /// A worker that lost the partition sends a batch of `n` records while the new
        /// owner copies the same batch: their copies interleave; only the new owner's
        /// checkpoint and runs land.
        Zombie(usize),
    }

    /// The model: the source partition, the target log and the store's runs.
    #[derive(Clone, Debug)]
    struct Replica {
        /// Source offsets of the partition's records (increasing; gaps allowed).
        records: Vec<i64>,
        /// Index in `records` of the next record to copy (the checkpoint).
        next: usize,
        /// The target partition: the source offset of the record at each target offset.
        log: Vec<i64>,
        runs: Vec<OffsetRun>,
        /// Whether the current owner has written a run it may extend.
        open: bool,
    }

    impl Replica {
        fn new(records: Vec<i64>, start: usize) -> Self {
            Self {
                records,
                next: start,
                log: Vec::new(),
                runs: Vec::new(),
                open: false,
            }
        }

        fn batch(&self, n: usize) -> Vec<i64> {
            self.records[self.next..(self.next + n).min(self.records.len())].to_vec()
        }

        fn append(&mut self, source_offset: i64) -> OffsetRun {
            self.log.push(source_offset);
            run(source_offset, self.log.len() as i64 - 1, 1)
        }

        /// The owner's runs of one settled batch (`Tally::delivered`, `Worker::settle`):
        /// each delivery extends the open run when contiguous on both sides.
        fn checkpoint(&mut self, delivered: &[OffsetRun]) {
            for d in delivered {
                match self.runs.last_mut() {
                    Some(last) if self.open && last.continued_by(d) => last.length += 1,
                    _ => self.runs.push(*d),
                }
                self.open = true;
            }
            self.next += delivered.len();
        }

        fn apply(&mut self, step: Step) {
            match step {
                Step::Batch(n) => {
                    let batch = self.batch(n);
                    let delivered: Vec<OffsetRun> =
                        batch.into_iter().map(|s| self.append(s)).collect();
                    self.checkpoint(&delivered);
                }
                Step::Crash(n) => {
                    for s in self.batch(n) {
                        self.append(s);
                    }
                    self.open = false;
                }
                Step::Zombie(n) => {
                    self.open = false;
                    let batch = self.batch(n);
                    let mut delivered = Vec::new();
                    for s in &batch {
                        self.append(*s);
                        delivered.push(self.append(*s));
                    }
                    self.checkpoint(&delivered);
                    self.open = false;
                }
            }
        }

        /// What a consumer starting at `target` reads, as source offsets, in order.
        fn read_from(&self, target: i64) -> Vec<i64> {
            self.log[target as usize..].to_vec()
        }
    }

    /// Every translation of every committed offset, after every step sequence: the
    /// consumer misses nothing at or after `c` that was copied, and re-reads nothing
    /// below `c` unless the group is ahead of the copy.
    #[test]
    fn the_model_never_skips_and_never_rereads_a_copied_position() {
        let shapes: Vec<Vec<i64>> = vec![
            (0..40).collect(),
            // Gaps: transaction markers every 7 offsets, and a compacted stretch.
            (0..60)
                .filter(|o| o % 7 != 6 && !(20..27).contains(o))
                .collect(),
        ];
        let steps = [
            Step::Batch(3),
            Step::Batch(5),
            Step::Crash(4),
            Step::Zombie(3),
        ];
        for records in shapes {
            for start in [0, 5] {
                // `start` > 0 is a `latest` start: nothing before it is copied.
                for a in steps {
                    for b in steps {
                        for c_step in steps {
                            let mut replica = Replica::new(records.clone(), start);
                            for step in [a, b, c_step, Step::Batch(50)] {
                                replica.apply(step);
                            }
                            check(&replica, start);
                        }
                    }
                }
            }
        }
    }

    fn check(replica: &Replica, start: usize) {
        let first = replica.records[start];
        let last = *replica.records.last().unwrap();
        for c in first..=last + 2 {
            let t = translate(&replica.runs, c).expect("copied from the start");
            let read = replica.read_from(t.target_offset);
            let wanted: Vec<i64> = replica
                .records
                .iter()
                .copied()
                .filter(|o| *o >= c)
                .collect();
            let seen: BTreeSet<i64> = read.iter().copied().collect();
            assert!(
                wanted.iter().all(|o| seen.contains(o)),
                "c {c}: skipped a record; runs {:?}",
                replica.runs
            );
            if !t.ahead {
                let first_read = read.first().copied();
                assert!(
                    first_read.is_none_or(|s| s >= c),
                    "c {c}: re-read {first_read:?}; runs {:?}",
                    replica.runs
                );
            }
        }
        assert_eq!(translate(&replica.runs, first - 1), None);
    }
}
