//! The process's in-flight budget: how many records and bytes all its workers together
//! may have read and the target not yet acknowledged. Each worker's batches are cut to
//! its share, so memory stays about the same whether a process runs one worker (a
//! Lambda invocation) or twenty (`kafka-sync local` on a 20-partition task).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::WorkerSettings;

/// Records every worker of the process may hold unsettled, together. Each record held
/// costs librdkafka's message, its place in a produce request and its delivery future
/// (about 400 B beside its bytes). Measured at 100-byte records, 8 workers (issue 17):
/// 64,000 peaked at 114 MiB RSS, 16,000 at 94 MiB, at the same rate (glibc). With
/// jemalloc (BENCH_SCALE 0.5): 32,000 peaked at 84-93 MiB, 16,000 at 69, 8,000 at 63,
/// all at 580-660k records/s; at 8 workers 8,000 is the 500-record floor per batch.
const RECORDS: usize = 8_000;
/// Record bytes every worker of the process may hold unsettled, together; librdkafka
/// holds each twice while it is in flight (its message and the produce request).
/// Measured at 1 KiB records, 8 workers (issue 17): 32 MiB peaked at 104 MiB RSS, 8 MiB
/// at 67 MiB, at the same rate; the price is smaller batches, which costs no store
/// writes (those go by time: `checkpointing`). With jemalloc, 4 MiB against 8 MiB
/// (BENCH_SCALE 0.5, back to back): 1k 55 MiB against 61, 20x4 77 against 83, at the
/// same rate.
const BYTES: usize = 4 * 1024 * 1024;
/// The smallest batch a share cuts to: below it, settling a batch (its acknowledgements
/// awaited, its tally) costs more than the memory saved. Twenty workers sit at the floor
/// (128 KiB each, 5 MiB together).
const MIN_RECORDS: usize = 500;
const MIN_BYTES: usize = 128 * 1024;
/// A worker holds at most this many batches unsettled: the one being read and the
/// pending ones (`worker::MAX_PENDING_BATCHES`).
const BATCHES_HELD: usize = super::worker::MAX_PENDING_BATCHES + 1;

static WORKERS: AtomicUsize = AtomicUsize::new(0);

/// A running worker's claim on the budget, given up when dropped.
pub(super) struct Share;

impl Share {
    pub(super) fn claim() -> Share {
        WORKERS.fetch_add(1, Ordering::Relaxed);
        Share
    }

    /// The batch limits of one worker now: the settings', cut to an even share of the
    /// budget among the workers running in this process.
    pub(super) fn batch_limits(&self, settings: &WorkerSettings) -> (usize, usize) {
        limits(settings, WORKERS.load(Ordering::Relaxed))
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        WORKERS.fetch_sub(1, Ordering::Relaxed);
    }
}

fn limits(settings: &WorkerSettings, workers: usize) -> (usize, usize) {
    let held = workers.max(1) * BATCHES_HELD;
    (
        settings
            .batch_records
            .min((RECORDS / held).max(MIN_RECORDS)),
        settings.batch_bytes.min((BYTES / held).max(MIN_BYTES)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_shrink_with_the_workers_and_keep_a_floor() {
        let settings = WorkerSettings::default();
        // One worker (a Lambda invocation): 4,000 records, a quarter of the settings' bytes.
        assert_eq!(limits(&settings, 1), (4_000, 2 * 1024 * 1024));
        assert_eq!(limits(&settings, 8), (MIN_RECORDS, 256 * 1024));
        assert_eq!(limits(&settings, 20), (MIN_RECORDS, MIN_BYTES));
        assert_eq!(limits(&settings, 200), (MIN_RECORDS, MIN_BYTES));
    }
}
