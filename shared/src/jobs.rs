//! The scheduled jobs, one function each, called by a Lambda schedule in AWS and by a
//! timer in `kafka-sync local`.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::task::{JoinError, JoinSet};

use chrono::Utc;
use serde::Serialize;

use crate::lifecycle::{TaskRecord, TaskState};
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

/// How long one task's run of a job may take before the round gives up on it: an
/// unreachable cluster or a slow task delays only itself (DESIGN §8). Both jobs run
/// every minute or more; this leaves the round room within the dispatcher's 55 s.
pub const TASK_BUDGET: Duration = Duration::from_secs(45);

/// How one task's run ended in [`within_budget`].
pub(crate) enum Ended<T, E> {
    Done(T),
    Failed(E),
    OverBudget,
}

/// Runs `job` on each task concurrently, each within `budget`; a failure or a time-out
/// holds up that task alone. Gives each task's tenant, id and how its run ended, or the
/// join error of a run that panicked. The scheduled jobs and the dispatcher's rounds
/// share it.
pub(crate) async fn within_budget<F, Fut, T, E>(
    tasks: impl IntoIterator<Item = (String, TaskRecord)>,
    budget: Duration,
    job: F,
) -> Vec<Result<(String, String, Ended<T, E>), JoinError>>
where
    F: Fn(String, TaskRecord) -> Fut,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let mut running = JoinSet::new();
    for (tenant, task) in tasks {
        let id = task.id.clone();
        let run = job(tenant.clone(), task);
        running.spawn(async move {
            let ended = match tokio::time::timeout(budget, run).await {
                Ok(Ok(done)) => Ended::Done(done),
                Ok(Err(e)) => Ended::Failed(e),
                Err(_) => Ended::OverBudget,
            };
            (tenant, id, ended)
        });
    }
    let mut ended = Vec::new();
    while let Some(joined) = running.join_next().await {
        ended.push(joined);
    }
    ended
}

/// Runs `job` on each task (as [`within_budget`], within [`TASK_BUDGET`]) and counts
/// what it did. A job says whether it had work to do.
async fn each_task<F, Fut, E>(
    tasks: Vec<(String, TaskRecord)>,
    what: &'static str,
    job: F,
) -> JobReport
where
    F: Fn(String, TaskRecord) -> Fut,
    Fut: Future<Output = Result<bool, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let mut report = JobReport::default();
    for joined in within_budget(tasks, TASK_BUDGET, job).await {
        report.tasks += 1;
        match joined {
            Ok((_, _, Ended::Done(true))) => {}
            Ok((_, _, Ended::Done(false))) => report.tasks -= 1,
            Ok((_, task, Ended::Failed(e))) => {
                report.failed += 1;
                tracing::warn!(task = %task, error = %e, "{what} failed");
            }
            Ok((_, task, Ended::OverBudget)) => {
                report.failed += 1;
                tracing::warn!(task = %task, "{what} took longer than its budget");
            }
            Err(e) => {
                report.failed += 1;
                tracing::warn!(error = %e, "{what} task panicked");
            }
        }
    }
    report
}

/// Metadata sync for every running task never synced, or last synced longer than
/// `interval` ago (`None`: every one), or whose source has a topic not initialized yet.
/// A task that has never run is initialized at once by the first call after its
/// creation.
pub async fn metadata_sync(
    services: &Services,
    interval: Option<Duration>,
) -> Result<JobReport, StoreError> {
    let mut tasks = Vec::new();
    for (tenant, task) in services.store.all_tasks().await? {
        if task.state != TaskState::Running {
            continue;
        }
        let last: Option<MetadataProgress> = services.store.progress(&task.id, "metadata").await?;
        let is_due = match (interval, last.and_then(|p| p.last_sync_at)) {
            (None, _) | (_, None) => true,
            (Some(interval), Some(at)) => {
                Utc::now()
                    .signed_duration_since(at)
                    .to_std()
                    .unwrap_or_default()
                    >= interval
            }
        };
        tasks.push((tenant, task, is_due));
    }
    let due: HashMap<String, bool> = tasks.iter().map(|(_, t, d)| (t.id.clone(), *d)).collect();
    let tasks = tasks
        .into_iter()
        .map(|(tenant, task, _)| (tenant, task))
        .collect();
    Ok(each_task(tasks, "metadata sync", |tenant, task| {
        let services = services.clone();
        let is_due = due[&task.id];
        async move {
            if !is_due && !metadata_sync::has_new_topics(&services, &tenant, &task).await? {
                return Ok(false);
            }
            let started = std::time::Instant::now();
            metadata_sync::run(&services, &tenant, &task).await?;
            let ms = started.elapsed().as_millis() as u64;
            tracing::debug!(task = %task.id, ms, "metadata sync ran");
            Ok::<_, metadata_sync::SyncError>(true)
        }
    })
    .await)
}

/// Consumer-group offset sync for every running instance task whose `sync` includes
/// offsets: one run each (the schedule — every minute in AWS, `--offset-interval`
/// locally — sets the pace).
pub async fn offset_sync(services: &Services) -> Result<JobReport, StoreError> {
    let tasks: Vec<(String, TaskRecord)> = services
        .store
        .all_tasks()
        .await?
        .into_iter()
        .filter(|(_, task)| task.state == TaskState::Running && task.spec.syncs_offsets())
        .collect();
    Ok(each_task(tasks, "offset sync", |tenant, task| {
        let services = services.clone();
        async move {
            let outcome = offset_sync::run(&services, &tenant, &task).await;
            crate::metrics::offset_sync_run(&task.id, &outcome);
            outcome.map(|_| true)
        }
    })
    .await)
}
