//! Observability (DESIGN §5): `GET /metrics` in the Prometheus text format locally, the
//! same figures as CloudWatch embedded-metric-format lines in Lambda.
//!
//! - `gather`: what is read at scrape time from the store and the source (records
//!   copied, lag, stalls, losses), so the replication path pays nothing for it;
//! - `recorder`: what only this process sees (latency, checkpoint writes, errors,
//!   offset-sync runs, store writes), recorded once per batch or event;
//! - `latency`: the latency histogram; `prometheus` and `emf`: the two encodings.

pub mod emf;
mod gather;
mod latency;
mod prometheus;
mod recorder;
#[cfg(test)]
mod tests;

pub use gather::{PartitionFigures, Scope, TaskFigures, TopicFigures, gather, task_figures};
pub use latency::{BOUNDS_MS, Histogram, LatencyTally};
pub use prometheus::{CONTENT_TYPE, encode};
pub use recorder::{
    Copied, Figures, OffsetRuns, StoreWrites, batch_settled, checkpoints_written, error,
    offset_sync_run, snapshot, started, store_written,
};

use crate::services::Services;
use crate::store::StoreError;

/// The Prometheus exposition of every task in `scope`.
pub async fn render(services: &Services, scope: &Scope) -> Result<String, StoreError> {
    let recorded = snapshot();
    let tasks = gather(services, scope, &recorded).await?;
    Ok(encode(tasks, &recorded))
}
