//! What this process saw happen, kept in memory for `/metrics` and the Lambda functions'
//! embedded-metric lines: replication latency and records copied per (task, topic), when
//! each partition was last checkpointed, errors by kind, offset-sync runs. Everything the
//! store already keeps (records copied in total, lag, stalls, losses) is read from it at
//! scrape time instead; what is recorded here is recorded once per batch or per event,
//! never per record.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::latency::Histogram;
use crate::offset_sync::{OffsetProgress, OffsetSyncError};
use crate::store::{PartitionRef, now_ms};

/// Records and bytes the target acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub records: u64,
    pub bytes: u64,
}

/// Offset-sync runs of a task and what they did with its groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffsetRuns {
    pub succeeded: u64,
    pub failed: u64,
    /// Groups handled, by what the run did with them (`synced`, `active_on_target`, …).
    pub groups: BTreeMap<String, u64>,
}

/// Writes this process made to the task store (DynamoDB or the embedded file), for
/// what replication costs in store writes (a checkpoint commit is one request).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreWrites {
    /// Write requests: each is applied whole or not at all.
    pub requests: u64,
    /// Items those requests wrote, deleted or checked.
    pub items: u64,
}

/// Everything recorded, cumulative since the process started.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Per (task, source topic).
    pub latency: BTreeMap<(String, String), Histogram>,
    pub copied: BTreeMap<(String, String), Copied>,
    /// Per task: when each partition's checkpoint was last written (ms since the epoch).
    pub checkpointed_at: BTreeMap<String, BTreeMap<PartitionRef, i64>>,
    /// Per (task, kind).
    pub errors: BTreeMap<(String, String), u64>,
    pub offset_runs: BTreeMap<String, OffsetRuns>,
    /// For the whole process, every task's together.
    pub store_writes: StoreWrites,
}

impl Figures {
    const fn new() -> Self {
        Self {
            latency: BTreeMap::new(),
            copied: BTreeMap::new(),
            checkpointed_at: BTreeMap::new(),
            errors: BTreeMap::new(),
            offset_runs: BTreeMap::new(),
            store_writes: StoreWrites {
                requests: 0,
                items: 0,
            },
        }
    }

    /// Only what concerns `task`.
    pub fn of_task(&self, task: &str) -> Figures {
        let keyed = |(t, _): &&(String, String)| t == task;
        Figures {
            latency: clone_where(&self.latency, keyed),
            copied: clone_where(&self.copied, keyed),
            checkpointed_at: clone_where(&self.checkpointed_at, |t| t.as_str() == task),
            errors: clone_where(&self.errors, keyed),
            offset_runs: clone_where(&self.offset_runs, |t| t.as_str() == task),
            store_writes: StoreWrites::default(),
        }
    }
}

fn clone_where<K: Ord + Clone, V: Clone>(
    map: &BTreeMap<K, V>,
    keep: impl Fn(&&K) -> bool,
) -> BTreeMap<K, V> {
    map.iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

static FIGURES: Mutex<Figures> = Mutex::new(Figures::new());

fn figures() -> MutexGuard<'static, Figures> {
    // A panic while recording leaves counters that are still counters: go on with them.
    FIGURES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A copy of everything recorded so far.
pub fn snapshot() -> Figures {
    figures().clone()
}

/// When this process started recording: a partition with lag and no checkpoint written
/// since has a checkpoint at least this old.
pub fn started() -> Instant {
    static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

/// A settled batch of `task`: per source topic, its latencies and what it copied.
pub fn batch_settled<'a>(
    task: &str,
    topics: impl IntoIterator<Item = (&'a str, Option<&'a Histogram>, Copied)>,
) {
    let mut figures = figures();
    for (topic, latency, copied) in topics {
        let key = (task.to_owned(), topic.to_owned());
        if let Some(latency) = latency {
            figures.latency.entry(key.clone()).or_default().add(latency);
        }
        let total = figures.copied.entry(key).or_default();
        total.records += copied.records;
        total.bytes += copied.bytes;
    }
}

/// The checkpoints of `task`'s `partitions` were written to the store.
pub fn checkpoints_written<'a>(task: &str, partitions: impl IntoIterator<Item = &'a PartitionRef>) {
    let now = now_ms();
    let mut figures = figures();
    let times = figures.checkpointed_at.entry(task.to_owned()).or_default();
    for p in partitions {
        times.insert(p.clone(), now);
    }
}

/// A write request of `items` items reached the store.
pub fn store_written(items: usize) {
    let writes = &mut figures().store_writes;
    writes.requests += 1;
    writes.items += items as u64;
}

/// Something went wrong for `task` that someone may want to alert on.
pub fn error(task: &str, kind: &str) {
    *figures()
        .errors
        .entry((task.to_owned(), kind.to_owned()))
        .or_default() += 1;
}

/// One offset-sync run of `task` ended.
pub fn offset_sync_run(task: &str, outcome: &Result<OffsetProgress, OffsetSyncError>) {
    let mut figures = figures();
    let runs = figures.offset_runs.entry(task.to_owned()).or_default();
    match outcome {
        Ok(progress) => {
            runs.succeeded += 1;
            for status in progress.statuses.values() {
                let name = serde_json::to_value(status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("{status:?}"));
                *runs.groups.entry(name).or_default() += 1;
            }
        }
        Err(_) => runs.failed += 1,
    }
}

impl Figures {
    /// What was recorded after `earlier` (a snapshot taken before): a Lambda invocation's
    /// own figures. Checkpoint times are kept as they are now.
    pub fn since(&self, earlier: &Figures) -> Figures {
        let latency = self
            .latency
            .iter()
            .map(|(key, now)| {
                let delta = match earlier.latency.get(key) {
                    Some(before) => now.since(before),
                    None => now.clone(),
                };
                (key.clone(), delta)
            })
            .filter(|(_, delta)| delta.count > 0)
            .collect();
        let copied = self
            .copied
            .iter()
            .map(|(key, now)| {
                let before = earlier.copied.get(key).copied().unwrap_or_default();
                let delta = Copied {
                    records: now.records.saturating_sub(before.records),
                    bytes: now.bytes.saturating_sub(before.bytes),
                };
                (key.clone(), delta)
            })
            .collect();
        let errors = self
            .errors
            .iter()
            .map(|(key, now)| (key.clone(), now - earlier.errors.get(key).unwrap_or(&0)))
            .filter(|(_, delta)| *delta > 0)
            .collect();
        let offset_runs = self
            .offset_runs
            .iter()
            .map(|(task, now)| {
                let before = earlier.offset_runs.get(task).cloned().unwrap_or_default();
                (task.clone(), now.since(&before))
            })
            .filter(|(_, delta)| delta.succeeded + delta.failed > 0)
            .collect();
        Figures {
            latency,
            copied,
            checkpointed_at: self.checkpointed_at.clone(),
            errors,
            offset_runs,
            store_writes: StoreWrites {
                requests: self.store_writes.requests - earlier.store_writes.requests,
                items: self.store_writes.items - earlier.store_writes.items,
            },
        }
    }
}

impl OffsetRuns {
    fn since(&self, earlier: &OffsetRuns) -> OffsetRuns {
        OffsetRuns {
            succeeded: self.succeeded - earlier.succeeded,
            failed: self.failed - earlier.failed,
            groups: self
                .groups
                .iter()
                .map(|(status, n)| (status.clone(), n - earlier.groups.get(status).unwrap_or(&0)))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}
