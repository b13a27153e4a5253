//! Consumer-group offset translation (DESIGN §3): the offset a group may commit on a
//! target partition, given the offset it committed on the source partition and the
//! replicator's offset-mapping samples of that partition. Pure; the job that reads and
//! commits offsets is [`crate::offset_sync`].
//!
//! # The rule
//!
//! A committed offset `c` is the next record the group reads: it has consumed every
//! record below `c` and none at or above it. A sample `(s, t)` says the source record at
//! offset `s` was copied to target offset `t`. Take the sample with the greatest source
//! offset `s <= c` (among samples of that same source offset, the lowest target offset):
//!
//! * `s == c`: commit `t`, the copy of the very record the group reads next;
//! * `s <  c`: commit `t + 1`, right after the copy of a record the group has consumed;
//! * no sample at or before `c` (or `c < 0`, "no commit"): nothing is translated.
//!   Nothing is guessed: the records before the first sample were never copied (a
//!   `latest` start, or a topic whose copy has not begun), so no target offset stands
//!   for them.
//!
//! # Why it never skips a record the group has not consumed
//!
//! Every sample the store holds was written by the worker that made that copy, in the
//! same fenced write as a checkpoint past it; so the worker (or, after a restart, the
//! next one, resuming from that checkpoint or later) copies every later source record
//! of the partition after it, to the same target partition, through one idempotent
//! producer that keeps their order. Hence the invariant: **every source record after
//! `s` is, or will be, copied to a target offset above `t`**. A target consumer starting
//! at `t + 1` (or at `t` when `s == c`, which also reads the copy of `c` itself) reads a
//! copy of every record at or after `c`. Copies that landed below `t` (a worker that
//! stopped between sending a batch and checkpointing it leaves its copies there, and
//! the next worker sends the batch again) never matter: each of those records is
//! copied again after the sample.
//!
//! The invariant holds for any sample at or before `c`, not only the greatest: choosing
//! an older one is also safe, it only re-reads more. That is why a sample with an
//! unusable target offset (negative) is passed over for the one before it, why the
//! lowest target offset wins among samples of one source offset (it is safe if either
//! is), and why an unsorted sample list can cost re-reads but never a skip.
//!
//! # How much a consumer may re-read
//!
//! It re-reads the copies of the records in `(s, c)`, which it had consumed on the
//! source: [`Translation::rereads`]. The replicator keeps a sample at the first record
//! of every batch, at least every `mapping_every` offsets within it, and at its last
//! record (the checkpoint). So when the group's position has been copied and
//! checkpointed (`c` at or below the partition's checkpoint), `s` lies in the same batch
//! as record `c - 1`, less than `mapping_every` offsets before `c`: **at most
//! `mapping_every - 1` records (999 by default) are read again** — see [`reread_bound`].
//! Records of that batch are never copied twice after `t` by workers that follow one
//! another; only a worker that lost its lease and was still sending that very batch
//! while its successor copied it can add a second copy of each (so at worst twice 999
//! copies). When the group is ahead of the copy (`c` beyond the checkpoint), the
//! consumer also re-reads what was not copied yet, `c - 1 - s` records, the
//! replication lag of that partition at that moment; the next run moves the group
//! forward once the copy has caught up (target offsets only ever move forward).

use crate::store::OffsetMapping;

/// Where a group resumes on the target partition, and the sample that says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The offset to commit on the target partition.
    pub target_offset: i64,
    /// The sample it was derived from: the greatest source offset at or before the
    /// group's committed offset.
    pub sample: OffsetMapping,
}

impl Translation {
    /// How many source records below `committed` (already consumed by the group) a
    /// consumer starting at [`Translation::target_offset`] reads again, at most: the
    /// offsets strictly between the sample and `committed` (fewer records when the
    /// partition has offset gaps). Not counting duplicate copies (see the module docs).
    pub fn rereads(&self, committed: i64) -> i64 {
        (committed - self.sample.source_offset - 1).max(0)
    }
}

/// The most records a group re-reads on the target once its position has been copied,
/// when the replicator keeps a sample at least every `mapping_every` offsets.
pub const fn reread_bound(mapping_every: i64) -> i64 {
    if mapping_every > 1 {
        mapping_every - 1
    } else {
        0
    }
}

/// Translates the offset a group committed on a source partition (`committed`: the
/// next record it reads) into the offset to commit on the target partition, from the
/// partition's mapping samples sorted by source offset (as
/// [`crate::store::Store::mappings`] returns them). `None`: no sample at or before
/// `committed`, or `committed` is negative; nothing may be committed.
pub fn translate(samples: &[OffsetMapping], committed: i64) -> Option<Translation> {
    if committed < 0 {
        return None;
    }
    // Sorted input: everything before `end` is at or before `committed`. The filter
    // below keeps the result safe even for an unsorted list (see the module docs).
    let end = samples.partition_point(|s| s.source_offset <= committed);
    let mut best: Option<OffsetMapping> = None;
    for sample in samples[..end].iter().rev() {
        if sample.source_offset < 0 || sample.target_offset < 0 || sample.source_offset > committed
        {
            continue;
        }
        match best {
            None => best = Some(*sample),
            Some(chosen) if sample.source_offset == chosen.source_offset => {
                if sample.target_offset < chosen.target_offset {
                    best = Some(*sample);
                }
            }
            Some(_) => break,
        }
    }
    let sample = best?;
    let target_offset = if sample.source_offset == committed {
        sample.target_offset
    } else {
        sample.target_offset + 1
    };
    Some(Translation {
        target_offset,
        sample,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn m(source_offset: i64, target_offset: i64) -> OffsetMapping {
        OffsetMapping {
            source_offset,
            target_offset,
        }
    }

    fn commit(samples: &[OffsetMapping], committed: i64) -> Option<i64> {
        translate(samples, committed).map(|t| t.target_offset)
    }

    #[test]
    fn right_after_the_copy_of_the_last_consumed_record() {
        let samples = [m(0, 0), m(999, 999), m(1000, 1000), m(1999, 1999)];
        assert_eq!(commit(&samples, 1000), Some(1000), "sample at c");
        assert_eq!(commit(&samples, 2000), Some(2000), "sample at c - 1: exact");
        assert_eq!(commit(&samples, 1500), Some(1001), "re-reads 1001..1499");
        assert_eq!(translate(&samples, 1500).unwrap().rereads(1500), 499);
        assert_eq!(translate(&samples, 2000).unwrap().rereads(2000), 0);
        assert_eq!(translate(&samples, 1000).unwrap().rereads(1000), 0);
    }

    #[test]
    fn no_sample_at_or_before_the_commit_is_no_translation() {
        assert_eq!(commit(&[], 10), None);
        let samples = [m(100, 0), m(150, 50)];
        assert_eq!(commit(&samples, 99), None, "before the copy began");
        assert_eq!(commit(&samples, 0), None);
        assert_eq!(commit(&samples, -1), None, "no commit at all");
        assert_eq!(
            commit(&samples, 100),
            Some(0),
            "exactly where the copy began"
        );
        assert_eq!(commit(&samples, 0), None);
        assert_eq!(commit(&[m(0, 7)], 0), Some(7));
    }

    #[test]
    fn a_commit_beyond_the_copy_stops_after_the_last_sample() {
        let samples = [m(0, 0), m(499, 499)];
        let t = translate(&samples, 5000).unwrap();
        assert_eq!(t.target_offset, 500);
        assert_eq!(t.rereads(5000), 4500, "the replication lag");
    }

    #[test]
    fn among_samples_of_one_source_offset_the_lowest_target_wins() {
        for samples in [[m(5, 5), m(5, 9)], [m(5, 9), m(5, 5)]] {
            assert_eq!(commit(&samples, 6), Some(6));
            assert_eq!(commit(&samples, 5), Some(5));
        }
    }

    #[test]
    fn unusable_samples_are_passed_over_for_earlier_ones() {
        let samples = [m(0, 0), m(10, 10), m(20, -1)];
        assert_eq!(commit(&samples, 25), Some(11));
        let unsorted = [m(30, 30), m(10, 10), m(40, 40)];
        // Whatever the order, the sample used is at or before the commit.
        let t = translate(&unsorted, 35).unwrap();
        assert!(t.sample.source_offset <= 35, "{t:?}");
    }

    #[test]
    fn the_bound_follows_the_sampling_interval() {
        assert_eq!(reread_bound(1000), 999);
        assert_eq!(reread_bound(1), 0);
    }

    // ---- Exhaustive check against a model of the replicator ----

    /// One step of the replication of a partition, from its checkpoint.
    #[derive(Clone, Copy, Debug)]
    enum Step {
        /// A worker copies a batch of `n` records and checkpoints it (with samples).
        Batch(usize),
        /// A worker copies a batch of `n` records and stops before its checkpoint: the
        /// copies stay on the target, the next worker sends them again.
        Crash(usize),
        /// A worker that lost its lease sends a batch of `n` records while its successor
        /// copies the same batch: their copies interleave; only the successor's
        /// checkpoint and samples land.
        Zombie(usize),
    }

    /// The model: the source partition, the target log and the store's samples.
    #[derive(Clone, Debug)]
    struct Replica {
        /// Source offsets of the partition's records (increasing; gaps allowed).
        records: Vec<i64>,
        /// Index in `records` of the next record to copy (the checkpoint).
        next: usize,
        /// The target partition: the source offset of the record at each target offset.
        log: Vec<i64>,
        samples: Vec<OffsetMapping>,
        every: i64,
    }

    impl Replica {
        fn new(records: Vec<i64>, start: usize, every: i64) -> Self {
            Self {
                records,
                next: start,
                log: Vec::new(),
                samples: Vec::new(),
                every,
            }
        }

        fn batch(&self, n: usize) -> Vec<i64> {
            self.records[self.next..(self.next + n).min(self.records.len())].to_vec()
        }

        fn append(&mut self, source_offset: i64) -> OffsetMapping {
            self.log.push(source_offset);
            m(source_offset, self.log.len() as i64 - 1)
        }

        /// The replicator's sampling of one settled batch (`Worker::settle`): its first
        /// record, then one at least every `every` offsets, then its last.
        fn checkpoint(&mut self, delivered: &[OffsetMapping]) {
            let mut sampled: Option<i64> = None;
            for mapping in delivered {
                if sampled.is_none_or(|s| mapping.source_offset - s >= self.every) {
                    sampled = Some(mapping.source_offset);
                    self.samples.push(*mapping);
                }
            }
            if let Some(last) = delivered.last()
                && sampled != Some(last.source_offset)
            {
                self.samples.push(*last);
            }
            self.next += delivered.len();
            // The store keeps samples in source-offset order.
            self.samples
                .sort_by_key(|s| (s.source_offset, s.target_offset));
        }

        fn step(&mut self, step: Step) {
            match step {
                Step::Batch(n) => {
                    let delivered: Vec<_> =
                        self.batch(n).into_iter().map(|r| self.append(r)).collect();
                    self.checkpoint(&delivered);
                }
                Step::Crash(n) => {
                    for r in self.batch(n) {
                        self.append(r);
                    }
                }
                Step::Zombie(n) => {
                    let mut delivered = Vec::new();
                    for r in self.batch(n) {
                        self.append(r);
                        delivered.push(self.append(r));
                    }
                    self.checkpoint(&delivered);
                }
            }
        }

        /// The checkpoint as a source offset: every record below it is copied.
        fn checkpoint_offset(&self) -> Option<i64> {
            self.next.checked_sub(1).map(|i| self.records[i] + 1)
        }
    }

    /// Translates every possible committed offset with the samples of `at` (the moment
    /// of the run), then lets replication finish and reads the target as a consumer
    /// would from the committed offset, checking safety, exactness and the bound.
    fn check_every_commit(at: &Replica, zombies: usize) {
        let mut done = at.clone();
        done.step(Step::Batch(usize::MAX / 2));
        let last = at.records.last().copied().unwrap_or(0);
        for c in -1..=last + 2 {
            let translation = translate(&at.samples, c);
            let sample_at_or_before = at.samples.iter().any(|s| s.source_offset <= c);
            assert_eq!(
                translation.is_some(),
                c >= 0 && sample_at_or_before,
                "c={c} {at:?}"
            );
            let Some(translation) = translation else {
                continue;
            };
            let read = &done.log[translation.target_offset as usize..];
            // Never skips: every record at or after c is read.
            for r in at.records.iter().filter(|r| **r >= c) {
                assert!(
                    read.contains(r),
                    "record {r} skipped: c={c} {translation:?} {at:?}"
                );
            }
            // Re-reads: records below c read again.
            let reread: Vec<i64> = read.iter().copied().filter(|r| *r < c).collect();
            let distinct: BTreeSet<i64> = reread.iter().copied().collect();
            assert!(
                distinct.len() as i64 <= translation.rereads(c),
                "c={c} {translation:?} {at:?}"
            );
            if at.checkpoint_offset().is_some_and(|done_to| c <= done_to) {
                let bound = reread_bound(at.every) as usize;
                assert!(
                    distinct.len() <= bound,
                    "c={c}: {} re-read, bound {bound}; {at:?}",
                    distinct.len()
                );
                assert!(
                    reread.len() <= bound * (1 + zombies),
                    "c={c}: {} copies re-read; {at:?}",
                    reread.len()
                );
            }
            // Exact where a sample says exactly where the group stands.
            if let Some(s) = at.samples.iter().find(|s| s.source_offset == c) {
                assert_eq!(translation.target_offset, s.target_offset);
                assert!(reread.is_empty());
            } else if let Some(s) = at.samples.iter().find(|s| s.source_offset == c - 1) {
                assert_eq!(translation.target_offset, s.target_offset + 1);
            }
        }
    }

    fn scripts(steps: &[Step], depth: usize) -> Vec<Vec<Step>> {
        let mut all = vec![Vec::new()];
        let mut frontier = vec![Vec::new()];
        for _ in 0..depth {
            let mut next = Vec::new();
            for script in &frontier {
                for step in steps {
                    let mut longer: Vec<Step> = script.clone();
                    longer.push(*step);
                    next.push(longer);
                }
            }
            all.extend(next.iter().cloned());
            frontier = next;
        }
        all
    }

    #[test]
    fn exhaustively_never_skips_and_stays_within_the_bound() {
        let steps = [
            Step::Batch(1),
            Step::Batch(2),
            Step::Batch(5),
            Step::Crash(1),
            Step::Crash(3),
            Step::Zombie(2),
            Step::Zombie(4),
        ];
        let layouts: Vec<Vec<i64>> = (0..=9)
            .map(|n| (0..n).collect())
            .chain([
                // Offset gaps: compacted records, transaction markers.
                vec![0, 1, 3, 4, 6, 7, 9, 12],
                vec![2, 3, 5, 8, 9, 10, 14],
            ])
            .collect();
        let mut cases = 0;
        for every in 1..=4 {
            for records in &layouts {
                // From the beginning, and from a later start (`latest`): the records
                // before it are never copied.
                for start in [0, records.len().min(2)] {
                    for script in scripts(&steps, 3) {
                        let mut at = Replica::new(records.clone(), start, every);
                        for step in &script {
                            at.step(*step);
                        }
                        let zombies = script
                            .iter()
                            .filter(|s| matches!(s, Step::Zombie(_)))
                            .count();
                        check_every_commit(&at, zombies);
                        cases += 1;
                    }
                }
            }
        }
        assert!(cases > 10_000, "{cases}");
    }

    #[test]
    fn the_default_sampling_rereads_at_most_999() {
        // 10,000 records copied in batches of 3,700 (samples at batch starts, every
        // 1,000 offsets and each checkpoint): every committed offset of the copied
        // range re-reads at most 999 records.
        let mut at = Replica::new((0..10_000).collect(), 0, 1000);
        for _ in 0..3 {
            at.step(Step::Batch(3700));
        }
        let mut worst = 0;
        for c in 0..=10_000 {
            let t = translate(&at.samples, c).unwrap();
            // One copy of each record: the target consumer starts right after the
            // sample's copy, or at it when the sample is the record at c.
            let first = at.log.get(t.target_offset as usize).copied();
            let expected = if t.sample.source_offset == c {
                c
            } else {
                t.sample.source_offset + 1
            };
            assert_eq!(first.unwrap_or(expected), expected);
            assert!(expected <= c && c - expected <= 999, "c={c}");
            worst = worst.max(t.rereads(c));
        }
        // With contiguous offsets a sample every 1,000 offsets leaves at most 998
        // records strictly between two samples and the committed offset; offset gaps
        // can stretch that to 999 records, the documented bound.
        assert_eq!(worst, 998);
        assert!(worst <= reread_bound(1000));
    }
}
