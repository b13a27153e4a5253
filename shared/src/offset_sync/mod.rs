//! One consumer-group offset-sync run of an instance task (DESIGN §3): every source group
//! with commits on the synced topics gets, on the target, the same group with each
//! committed offset translated through the replicator's offset map
//! ([`crate::offset_translation`]). A group with live members on the target is left
//! alone; a target offset only ever moves forward; a partition whose target topic or
//! partition does not exist (yet) is skipped. What happened goes to the event center
//! (kind `offsets`) and to the task's `progress.offsets`.
//!
//! Per run: one ListGroups and one OffsetFetch per group on the source; one
//! DescribeGroups per 100 groups, one OffsetFetch and (when something moves) one
//! OffsetCommit per group on the target, at most [`CONCURRENCY`] requests at a time;
//! the offset map of each partition is read from the store once, and pruned below every
//! group's committed offset and the source log start.

mod groups;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

pub use groups::{GroupReport, GroupStatus, PartitionReport, Scope};
pub use support::{ApiNeed, BrokerTooOld, OFFSET_SYNC_APIS, check_offset_sync_support};

use crate::kafka::{AccessError, TIMEOUT};
use crate::kafka_admin::AdminError;
use crate::lifecycle::TaskRecord;
use crate::services::{AccessLookupError, Services};
use crate::store::{Level, StoreError};
use crate::topology::task_routes;

/// The event kind of everything offset sync records.
pub const EVENT_KIND: &str = "offsets";
/// Group admin requests in flight at once, per cluster.
pub const CONCURRENCY: usize = 16;
/// Groups per DescribeGroups request.
const DESCRIBE_BATCH: usize = 100;

/// `progress.offsets` of a task: what the last run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetProgress {
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Source groups with commits on the synced topics that the run brought up to date
    /// on the target (committed where behind, or already at or ahead): every such group
    /// but those left alone for live members and those whose sync failed.
    pub groups: u64,
    /// Target partitions whose group offset this run moved forward.
    pub partitions_committed: u64,
    /// Groups left alone because they have live members on the target.
    #[serde(default)]
    pub skipped_active: Vec<String>,
    /// What the run did with each group it handled.
    #[serde(default)]
    pub statuses: BTreeMap<String, GroupStatus>,
}

/// Why an offset-sync run (or a failover pass) did not complete. Each variant keeps the
/// error it wraps, and says what was being done.
#[derive(Debug, thiserror::Error)]
pub enum OffsetSyncError {
    /// The task cannot sync offsets: its kind, its `sync` scope or its partitioning.
    #[error("{0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    Lookup(#[from] AccessLookupError),
    #[error("{what}: {source}")]
    Access {
        what: &'static str,
        source: AccessError,
    },
    #[error("{what}: {source}")]
    Admin {
        what: &'static str,
        source: AdminError,
    },
    #[error("{what}: {source}")]
    Store {
        what: &'static str,
        source: StoreError,
    },
}

fn admin_error(what: &'static str) -> impl Fn(AdminError) -> OffsetSyncError {
    move |source| OffsetSyncError::Admin { what, source }
}

fn access_error(what: &'static str) -> impl Fn(AccessError) -> OffsetSyncError {
    move |source| OffsetSyncError::Access { what, source }
}

fn store_error(what: &'static str) -> impl Fn(StoreError) -> OffsetSyncError {
    move |source| OffsetSyncError::Store { what, source }
}

/// One offset-sync run of a task that syncs offsets, over every topic it copies.
pub async fn run(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
) -> Result<OffsetProgress, OffsetSyncError> {
    match synced_topics(services, tenant, task).await {
        Ok(topics) => sync_groups(services, tenant, task, &topics).await,
        Err(e) => {
            failed(services, &task.id, &e).await;
            Err(e)
        }
    }
}

/// Every source topic a task that syncs offsets copies.
async fn synced_topics(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
) -> Result<BTreeSet<String>, OffsetSyncError> {
    if !task.spec.syncs_offsets() {
        return Err(OffsetSyncError::Unsupported(
            "the task does not synchronize consumer-group offsets",
        ));
    }
    let [source_id, _] = task.spec.connection_ids();
    let source = services.access(tenant, source_id).await?;
    let routes = task_routes(&source, &task.spec)
        .await
        .map_err(access_error("source topics"))?;
    Ok(routes.into_iter().map(|route| route.source.topic).collect())
}

/// Syncs the groups with commits on `topics` (source topic names, narrowed to those the
/// task selects) of an instance task with `same_partition`, and records the run's
/// events and `progress.offsets`. It does not check the task's `sync` scope: [`run`]
/// does, and passes every topic the task copies; a test passes only its own topics.
pub async fn sync_groups(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
    topics: &BTreeSet<String>,
) -> Result<OffsetProgress, OffsetSyncError> {
    let outcome = async {
        let (progress, _) = groups::pass(services, tenant, task, topics, &Scope::default()).await?;
        services
            .store
            .put_progress(&task.id, "offsets", &progress)
            .await
            .map_err(store_error("recording progress"))?;
        Ok(progress)
    }
    .await;
    if let Err(e) = &outcome {
        failed(services, &task.id, e).await;
    }
    outcome
}

/// A failover pass (`POST /v1/tasks/{id}/failover`) over the groups in `scope`, on
/// every topic the task copies: what each group's consumers would get on the target,
/// committed at once unless `scope.dry_run`.
pub async fn failover(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
    scope: &Scope,
) -> Result<Vec<GroupReport>, OffsetSyncError> {
    let topics = synced_topics(services, tenant, task).await?;
    let (_, reports) = groups::pass(services, tenant, task, &topics, scope).await?;
    Ok(reports)
}

async fn failed(services: &Services, task_id: &str, error: &OffsetSyncError) {
    event(
        services,
        task_id,
        Level::Error,
        &format!("offset sync failed: {error}"),
    )
    .await;
}

async fn event(services: &Services, task_id: &str, level: Level, message: &str) {
    if let Err(e) = services
        .store
        .add_event(task_id, level, EVENT_KIND, message)
        .await
    {
        tracing::warn!(task = task_id, error = %e, "could not record an event");
    }
}

/// Runs `work` on every item, at most [`CONCURRENCY`] at a time; results in completion
/// order.
async fn bounded<I, T, F, Fut>(items: impl IntoIterator<Item = I>, work: F) -> Vec<T>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut running = JoinSet::new();
    let mut done = Vec::new();
    for item in items {
        while running.len() >= CONCURRENCY {
            if let Some(result) = running.join_next().await {
                done.push(joined(result));
            }
        }
        running.spawn(work(item));
    }
    while let Some(result) = running.join_next().await {
        done.push(joined(result));
    }
    done
}

/// A finished task's value; a panic in it is passed on (tasks here are never aborted).
fn joined<T>(result: Result<T, tokio::task::JoinError>) -> T {
    result.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}
