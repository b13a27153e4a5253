//! The scheduled jobs, one function each, called by a Lambda schedule in AWS and by a
//! timer in `kafka-sync local`.

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use crate::lifecycle::TaskState;
use crate::metadata_sync::{self, MetadataProgress};
use crate::offset_sync;
use crate::services::Services;
use crate::store::StoreError;

/// What a job run did, as the Lambda functions return it.
#[derive(Debug, Default, Serialize)]
pub struct JobReport {
    pub tasks: usize,
    pub failed: usize,
}

/// Metadata sync for every running task never synced, or last synced longer than
/// `interval` ago (`None`: every one). A task that has never run is initialized at once
/// by the first call after its creation.
pub async fn metadata_sync(
    services: &Services,
    interval: Option<Duration>,
) -> Result<JobReport, StoreError> {
    let mut report = JobReport::default();
    for (tenant, task) in services.store.all_tasks().await? {
        if task.state != TaskState::Running {
            continue;
        }
        let last: Option<MetadataProgress> = services.store.progress(&task.id, "metadata").await?;
        let due = match (interval, last.and_then(|p| p.last_sync_at)) {
            (None, _) | (_, None) => true,
            (Some(interval), Some(at)) => {
                Utc::now()
                    .signed_duration_since(at)
                    .to_std()
                    .unwrap_or_default()
                    >= interval
            }
        };
        if !due {
            continue;
        }
        report.tasks += 1;
        if let Err(e) = metadata_sync::run(services, &tenant, &task).await {
            report.failed += 1;
            tracing::warn!(task = %task.id, error = %e, "metadata sync failed");
        }
    }
    Ok(report)
}

/// Consumer-group offset sync for every running instance task whose `sync` includes
/// offsets: one run each (the schedule — every minute in AWS, `--offset-interval`
/// locally — sets the pace).
pub async fn offset_sync(services: &Services) -> Result<JobReport, StoreError> {
    let mut report = JobReport::default();
    for (tenant, task) in services.store.all_tasks().await? {
        if task.state != TaskState::Running || !offset_sync::syncs_offsets(&task.spec) {
            continue;
        }
        report.tasks += 1;
        if let Err(e) = offset_sync::run(services, &tenant, &task).await {
            report.failed += 1;
            tracing::warn!(task = %task.id, error = %e, "offset sync failed");
        }
    }
    Ok(report)
}
