//! Checkpoints, offset-map runs and the slot assignment, and who may write them
//! (DESIGN §3 "Ownership", "Delivery").
//!
//! A partition has one owner at a time. A worker takes a partition by rewriting its
//! checkpoint item conditioned on the version it read; each of its commits is then
//! conditioned on the version its own last write left. Another worker's take bumps the
//! version, so the former owner's next commit of that partition fails, and it learns that
//! it lost the partition. Checkpoint items are deleted only with their task, so versions
//! never go back and a stale owner's condition cannot hold again (no ABA). Every write
//! also checks the slot's lease epoch, which fences a worker that lost its whole slot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    BackendError, Condition, Key, Lease, PartitionRef, Result, Store, StoreError, Write, decode,
    encode, mapping_sk, partition_sk, task_pk,
};
use crate::assignment::{Assignment, Route};

/// How often a take or a commit is tried again when a condition fails for a reason that
/// re-reading can settle.
const ATTEMPTS: usize = 5;
/// One transaction holds 100 writes: the lease check and 99 more.
const CHUNK: usize = 99;

/// How far a partition's copy has come: the next source offset to copy, and what was
/// copied, skipped or lost before it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub next_offset: i64,
    #[serde(default)]
    pub copied: u64,
    #[serde(default)]
    pub bytes: u64,
    /// Topic-level tasks: messages skipped by the `discard` policy.
    #[serde(default)]
    pub discarded: u64,
    /// Topic-level tasks: messages sent to the dead-letter topic.
    #[serde(default)]
    pub dead_lettered: u64,
    /// Records retention deleted from the source before they were copied.
    #[serde(default)]
    pub lost: u64,
    /// The source topic's id when this checkpoint was taken: another id means the topic
    /// was deleted and created again, and the checkpoint describes a log that is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// Set while the target refuses the record at `next_offset` for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled: Option<Stall>,
}

impl Checkpoint {
    /// What is left to copy, given the partition's log start and end: from the
    /// checkpoint (or the log start, when the checkpoint is below it or not set yet) to
    /// the log end. `None` when a bound it needs is unknown.
    pub fn lag(&self, (start, end): (Option<i64>, Option<i64>)) -> Option<i64> {
        let next = match start {
            Some(start) => self.next_offset.max(start),
            None if self.next_offset >= 0 => self.next_offset,
            None => return None,
        };
        Some((end? - next).max(0))
    }
}

/// The `next_offset` of a partition that has never been copied: librdkafka's
/// `OFFSET_BEGINNING`, so that "from the log start" is told apart from offset 0 (which
/// retention may already have deleted past).
pub const FROM_BEGINNING: i64 = -2;

/// A record the target refused for good, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stall {
    pub offset: i64,
    /// The target's error code name (e.g. `MessageSizeTooLarge`).
    pub code: String,
    pub message: String,
}

/// Source offsets `source_start..source_start + length` copied, in order, to target
/// offsets `target_start..target_start + length` (see `offset_translation.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OffsetRun {
    pub source_start: i64,
    pub target_start: i64,
    pub length: i64,
}

/// A partition's checkpoint as its owner holds it: `version` is the stored item's after
/// the owner's last write, the condition of its next commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub checkpoint: Checkpoint,
    pub version: u64,
}

/// One transaction of a commit: its writes and the partitions (by index) they fence.
/// `final_write`: it writes their checkpoints (not only runs ahead of them).
struct Unit {
    writes: Vec<Write>,
    partitions: Vec<usize>,
    final_write: bool,
}

impl Unit {
    fn new(lease_check: Write, final_write: bool) -> Self {
        Self {
            writes: vec![lease_check],
            partitions: Vec::new(),
            final_write,
        }
    }
}

/// What a commit did: the checkpoints written (with their new versions), and the
/// partitions another worker had taken, whose checkpoints were not written.
#[derive(Debug, Default)]
pub struct Committed {
    pub owned: Vec<(PartitionRef, Owned)>,
    pub lost: Vec<PartitionRef>,
}

fn checkpoint_key(task_id: &str, p: &PartitionRef) -> Key {
    Key::new(task_pk(task_id), partition_sk("checkpoint", p))
}

fn parse_checkpoint_sk(sk: &str) -> Result<PartitionRef> {
    let corrupt = || StoreError::Corrupt(sk.to_owned());
    let (topic, partition) = sk["checkpoint#".len()..]
        .rsplit_once('#')
        .ok_or_else(corrupt)?;
    Ok(PartitionRef {
        topic: topic.to_owned(),
        partition: partition.parse().map_err(|_| corrupt())?,
    })
}

impl Store {
    /// Every checkpoint of the task, with its item's version.
    async fn checkpoint_items(&self, task_id: &str) -> Result<BTreeMap<PartitionRef, Owned>> {
        let mut checkpoints = BTreeMap::new();
        for item in self.query_all(&task_pk(task_id), "checkpoint#").await? {
            checkpoints.insert(
                parse_checkpoint_sk(&item.key.sk)?,
                Owned {
                    checkpoint: decode(&item)?,
                    version: item.version,
                },
            );
        }
        Ok(checkpoints)
    }

    pub async fn checkpoints(&self, task_id: &str) -> Result<BTreeMap<PartitionRef, Checkpoint>> {
        Ok(self
            .checkpoint_items(task_id)
            .await?
            .into_iter()
            .map(|(p, owned)| (p, owned.checkpoint))
            .collect())
    }

    /// Makes the lease's holder the owner of `partitions`, with their checkpoints as they
    /// are in the store now (default: none yet). Any former owner is fenced from here on.
    pub async fn take_partitions(
        &self,
        lease: &Lease,
        partitions: &[PartitionRef],
    ) -> Result<BTreeMap<PartitionRef, Owned>> {
        let mut taken = BTreeMap::new();
        let mut left: Vec<PartitionRef> = partitions.to_vec();
        for _ in 0..ATTEMPTS {
            let stored = self.checkpoint_items(&lease.task_id).await?;
            let mut failed = Vec::new();
            for chunk in left.chunks(CHUNK) {
                let mut writes = vec![self.lease_check(lease)];
                let mut owned = Vec::new();
                for p in chunk {
                    let (checkpoint, condition) = match stored.get(p) {
                        Some(o) => (o.checkpoint.clone(), Condition::Version(o.version)),
                        None => (
                            Checkpoint {
                                next_offset: FROM_BEGINNING,
                                ..Checkpoint::default()
                            },
                            Condition::Absent,
                        ),
                    };
                    writes.push(Write::Put {
                        key: checkpoint_key(&lease.task_id, p),
                        body: encode(&checkpoint),
                        expires_at: None,
                        condition,
                    });
                    let version = condition.next_version();
                    owned.push((
                        p.clone(),
                        Owned {
                            checkpoint,
                            version,
                        },
                    ));
                }
                match self.fenced(lease, writes).await {
                    Ok(()) => taken.extend(owned),
                    Err(StoreError::Fenced { .. }) if self.lease_holds(lease).await? => {
                        // A checkpoint changed between the read and the write: read again.
                        failed.extend_from_slice(chunk);
                    }
                    Err(e) => return Err(e),
                }
            }
            if failed.is_empty() {
                return Ok(taken);
            }
            left = failed;
        }
        Err(StoreError::Contention)
    }

    /// Records checkpoints and the offset-map runs up to them: each partition's only
    /// while its writer still owns it, all only while `lease` is held. A partition taken
    /// by another worker is reported in [`Committed::lost`], and neither its checkpoint
    /// nor its runs are written. A partition's runs land in the same transaction as its
    /// checkpoint, or in earlier ones that check its ownership, so the map never has a
    /// hole below a checkpoint and never holds a run of a stale owner. Runs of
    /// partitions not in `checkpoints` are not written.
    pub async fn commit_checkpoints(
        &self,
        lease: &Lease,
        checkpoints: Vec<(PartitionRef, Owned)>,
        runs: &[(PartitionRef, OffsetRun)],
    ) -> Result<Committed> {
        let mut runs_of: BTreeMap<&PartitionRef, Vec<&OffsetRun>> = BTreeMap::new();
        for (p, run) in runs {
            runs_of.entry(p).or_default().push(run);
        }
        let mut committed = Committed::default();
        let mut left = checkpoints;
        for _ in 0..ATTEMPTS {
            let mut retry = Vec::new();
            for unit in self.units(lease, &left, &runs_of) {
                let partitions: Vec<&(PartitionRef, Owned)> =
                    unit.partitions.iter().map(|i| &left[*i]).collect();
                match self.fenced(lease, unit.writes).await {
                    Ok(()) if unit.final_write => {
                        committed.owned.extend(partitions.iter().map(|(p, owned)| {
                            let version = owned.version + 1;
                            let checkpoint = owned.checkpoint.clone();
                            (
                                p.clone(),
                                Owned {
                                    checkpoint,
                                    version,
                                },
                            )
                        }))
                    }
                    Ok(()) => {}
                    Err(StoreError::Fenced { .. }) if self.lease_holds(lease).await? => {
                        let stored = self.checkpoint_items(&lease.task_id).await?;
                        for (p, owned) in partitions {
                            match stored.get(p) {
                                Some(now) if now.version == owned.version => {
                                    retry.push((p.clone(), owned.clone()))
                                }
                                _ => committed.lost.push(p.clone()),
                            }
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            if retry.is_empty() {
                committed.lost.sort();
                committed.lost.dedup();
                return Ok(committed);
            }
            retry.sort_by(|a, b| a.0.cmp(&b.0));
            retry.dedup_by(|a, b| a.0 == b.0);
            left = retry;
        }
        Err(StoreError::Contention)
    }

    /// The transactions of a commit. Partitions are packed whole (checkpoint and runs)
    /// into transactions of at most 100 writes; a partition with more runs than fit
    /// writes the surplus first, each transaction checking (not bumping) its version.
    fn units(
        &self,
        lease: &Lease,
        checkpoints: &[(PartitionRef, Owned)],
        runs_of: &BTreeMap<&PartitionRef, Vec<&OffsetRun>>,
    ) -> Vec<Unit> {
        let put_run = |p: &PartitionRef, run: &OffsetRun| Write::Put {
            key: Key::new(task_pk(&lease.task_id), mapping_sk(p, run.source_start)),
            body: encode(run),
            expires_at: None,
            condition: Condition::Always,
        };
        let mut units = Vec::new();
        let mut open = Unit::new(self.lease_check(lease), true);
        for (index, (p, owned)) in checkpoints.iter().enumerate() {
            let key = checkpoint_key(&lease.task_id, p);
            let runs = runs_of.get(p).map(Vec::as_slice).unwrap_or_default();
            // Whatever does not fit beside the checkpoint goes first, checked.
            let (early, late) = runs.split_at(runs.len().saturating_sub(CHUNK - 1));
            for chunk in early.chunks(CHUNK - 1) {
                let mut unit = Unit::new(self.lease_check(lease), false);
                unit.writes.push(Write::Check {
                    key: key.clone(),
                    condition: Condition::Version(owned.version),
                });
                unit.writes.extend(chunk.iter().map(|r| put_run(p, r)));
                unit.partitions.push(index);
                units.push(unit);
            }
            if open.writes.len() + 1 + late.len() > CHUNK + 1 {
                units.push(std::mem::replace(
                    &mut open,
                    Unit::new(self.lease_check(lease), true),
                ));
            }
            open.writes.push(Write::Put {
                key,
                body: encode(&owned.checkpoint),
                expires_at: None,
                condition: Condition::Version(owned.version),
            });
            open.writes.extend(late.iter().map(|r| put_run(p, r)));
            open.partitions.push(index);
        }
        if !open.partitions.is_empty() {
            units.push(open);
        }
        units
    }

    fn lease_check(&self, lease: &Lease) -> Write {
        Write::Check {
            key: Self::lease_key(&lease.task_id, lease.slot),
            condition: Condition::Version(lease.epoch),
        }
    }

    /// Whether `lease` is still the slot's current lease.
    async fn lease_holds(&self, lease: &Lease) -> Result<bool> {
        let current = self
            .backend
            .get(&Self::lease_key(&lease.task_id, lease.slot))
            .await?;
        Ok(current.is_some_and(|item| item.version == lease.epoch))
    }

    /// The starting positions of a new task (`latest`, or a start timestamp), written
    /// before any worker runs.
    pub async fn seed_checkpoints(
        &self,
        task_id: &str,
        checkpoints: &[(PartitionRef, Checkpoint)],
    ) -> Result<()> {
        let writes: Vec<Write> = checkpoints
            .iter()
            .map(|(p, checkpoint)| Write::Put {
                key: checkpoint_key(task_id, p),
                body: encode(checkpoint),
                expires_at: None,
                condition: Condition::Absent,
            })
            .collect();
        for chunk in writes.chunks(CHUNK + 1) {
            self.write(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// A partition's offset-map runs, in source-offset order.
    pub async fn mappings(
        &self,
        task_id: &str,
        partition: &PartitionRef,
    ) -> Result<Vec<OffsetRun>> {
        let prefix = format!("{}#", partition_sk("mapping", partition));
        self.query_all(&task_pk(task_id), &prefix)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// Deletes a partition's offset-map runs, under the lease: they describe a
    /// source log that is gone (the topic was re-created or truncated).
    pub async fn discard_mappings(&self, lease: &Lease, partition: &PartitionRef) -> Result<()> {
        let prefix = format!("{}#", partition_sk("mapping", partition));
        let items = self.query_all(&task_pk(&lease.task_id), &prefix).await?;
        for chunk in items.chunks(CHUNK) {
            let mut writes = vec![self.lease_check(lease)];
            writes.extend(chunk.iter().map(|item| Write::Delete {
                key: item.key.clone(),
                condition: Condition::Always,
            }));
            self.fenced(lease, writes).await?;
        }
        Ok(())
    }

    /// Deletes offset-map runs no group needs any more (see
    /// `offset_translation::prunable`). Not fenced: the runs it deletes are below every
    /// position the partition's owner is still writing at.
    pub async fn prune_runs(
        &self,
        task_id: &str,
        partition: &PartitionRef,
        runs: &[OffsetRun],
    ) -> Result<()> {
        let deletes: Vec<Write> = runs
            .iter()
            .map(|run| Write::Delete {
                key: Key::new(task_pk(task_id), mapping_sk(partition, run.source_start)),
                condition: Condition::Always,
            })
            .collect();
        for chunk in deletes.chunks(CHUNK + 1) {
            self.write(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// The task's slot assignment for exactly `routes`: the stored one when it already
    /// covers them, else the stored one rebalanced (see `assignment.rs`) and written back.
    /// Concurrent callers compute the same value, and the conditional write settles who
    /// stores it.
    pub async fn refresh_assignment(&self, task_id: &str, routes: &[Route]) -> Result<Assignment> {
        let key = Key::new(task_pk(task_id), "assignment");
        for _ in 0..ATTEMPTS {
            let item = self.backend.get(&key).await?;
            let (stored, condition) = match &item {
                Some(item) => (
                    decode::<Assignment>(item)?,
                    Condition::Version(item.version),
                ),
                None => (Assignment::default(), Condition::Absent),
            };
            let next = stored.rebalance(routes);
            if item.is_some() && next == stored {
                return Ok(next);
            }
            let write = Write::Put {
                key: key.clone(),
                body: encode(&next),
                expires_at: None,
                condition,
            };
            match self.write(vec![write]).await {
                Ok(()) => return Ok(next),
                Err(BackendError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Contention)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(next_offset: i64) -> Checkpoint {
        Checkpoint {
            next_offset,
            ..Checkpoint::default()
        }
    }

    #[test]
    fn lag_counts_from_the_checkpoint_or_the_log_start() {
        assert_eq!(at(40).lag((Some(0), Some(100))), Some(60));
        // Retention deleted past the checkpoint: what is left starts at the log start.
        assert_eq!(at(40).lag((Some(70), Some(100))), Some(30));
        // Never copied (from the beginning): the whole log.
        assert_eq!(at(FROM_BEGINNING).lag((Some(10), Some(100))), Some(90));
        assert_eq!(at(FROM_BEGINNING).lag((None, Some(100))), None);
        assert_eq!(at(120).lag((Some(0), Some(100))), Some(0));
        assert_eq!(at(5).lag((Some(0), None)), None);
    }
}
