//! The dispatcher: which (task, slot) pairs need a replicator worker. Locally every slot
//! runs as a tokio task for as long as it exists ([`wanted_slots`]). In AWS the
//! dispatcher invokes the replicator function only for the slots that have something to
//! copy, or were never started, and that no live worker holds ([`slots_to_start`]): an
//! idle task costs nothing (DESIGN §8).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::assignment::{Assignment, Route};
use crate::jobs::{Ended, within_budget};
use crate::kafka::{ClusterAccess, TIMEOUT};
use crate::lifecycle::{TaskRecord, TaskState};
use crate::replicator::WorkerError;
use crate::services::Services;
use crate::store::{Checkpoint, FROM_BEGINNING, PartitionRef, StoreError, now_ms};
use crate::topology::task_routes;

/// One worker slot of one task.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SlotRef {
    pub tenant: String,
    pub task_id: String,
    pub slot: usize,
}

/// How long one task's slot count may take: an unreachable cluster delays only its own
/// task, never the round (DESIGN §8). A reachable task takes well under a second.
pub const TASK_BUDGET: Duration = Duration::from_secs(5);

/// Every slot of every running task that copies messages: min(partitions, 20) each.
pub async fn wanted_slots(services: &Services) -> Result<Vec<SlotRef>, StoreError> {
    each_copying_task(services, |services, tenant, task| async move {
        let (_, _, assignment) = placed(&services, &tenant, &task).await?;
        Ok((0..assignment.slots).collect())
    })
    .await
}

/// The slots a replicator invocation should start for: no live worker holds them, and
/// either one of their partitions has records past its checkpoint (or a log end that
/// cannot be read now) or the slot was never started. A worker that found nothing to
/// copy for a while ends (`WorkerSettings::idle_exit`), and its slot waits here until
/// records arrive.
pub async fn slots_to_start(services: &Services) -> Result<Vec<SlotRef>, StoreError> {
    each_copying_task(services, |services, tenant, task| async move {
        let (source, routes, assignment) = placed(&services, &tenant, &task).await?;
        let lagging = lagging_slots(&services, &source, &task, &routes, &assignment).await?;
        let leases = services.store.leases(&task.id).await?;
        let now = now_ms();
        Ok((0..assignment.slots)
            .filter(|slot| match leases.get(&(*slot as u32)) {
                None => true,
                Some(lease) => lease.expires_at_ms <= now && lagging[*slot],
            })
            .collect())
    })
    .await
}

/// Per slot, whether any of its partitions has something to copy.
async fn lagging_slots(
    services: &Services,
    source: &ClusterAccess,
    task: &TaskRecord,
    routes: &[Route],
    assignment: &Assignment,
) -> Result<Vec<bool>, WorkerError> {
    let partitions: Vec<PartitionRef> = routes.iter().map(|r| r.source.clone()).collect();
    let bounds = source.log_bounds(partitions, TIMEOUT).await?;
    let checkpoints: BTreeMap<PartitionRef, Checkpoint> =
        services.store.checkpoints(&task.id).await?;
    let never_copied = Checkpoint {
        next_offset: FROM_BEGINNING,
        ..Checkpoint::default()
    };
    let mut lagging = vec![false; assignment.slots];
    for route in routes {
        let Some(slot) = assignment.slot_of(&route.source) else {
            continue;
        };
        let checkpoint = checkpoints.get(&route.source).unwrap_or(&never_copied);
        let lag = bounds.get(&route.source).and_then(|b| checkpoint.lag(*b));
        if lag.is_none_or(|lag| lag > 0) {
            lagging[slot] = true;
        }
    }
    Ok(lagging)
}

/// The task's source, routes and their placement on slots. Placing here also places
/// partitions that appeared since, so the workers of new slots find them.
async fn placed(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
) -> Result<(ClusterAccess, Vec<Route>, Assignment), WorkerError> {
    let source = services
        .access(tenant, task.spec.connection_ids()[0])
        .await
        .map_err(|e| WorkerError::Config(e.to_string()))?;
    let routes = task_routes(&source, &task.spec).await?;
    let assignment = services.store.refresh_assignment(&task.id, &routes).await?;
    Ok((source, routes, assignment))
}

/// The slots `slots` picks of every running task that copies messages, the tasks asked
/// concurrently, each within [`TASK_BUDGET`]. A task whose source cannot be read now is
/// left out of this round.
async fn each_copying_task<F, Fut>(
    services: &Services,
    slots: F,
) -> Result<Vec<SlotRef>, StoreError>
where
    F: Fn(Services, String, TaskRecord) -> Fut,
    Fut: Future<Output = Result<Vec<usize>, WorkerError>> + Send + 'static,
{
    let copying = services
        .store
        .all_tasks()
        .await?
        .into_iter()
        .filter(|(_, task)| task.state == TaskState::Running && task.spec.copies_messages());
    let asked = within_budget(copying, TASK_BUDGET, |tenant, task| {
        slots(services.clone(), tenant, task)
    });
    let mut found = Vec::new();
    for (tenant, task_id, picked) in asked.await.into_iter().flatten() {
        match picked {
            Ended::Done(slots) => found.extend(slots.into_iter().map(|slot| SlotRef {
                tenant: tenant.clone(),
                task_id: task_id.clone(),
                slot,
            })),
            Ended::Failed(e) => {
                tracing::warn!(task = %task_id, error = %e, "cannot place the task's partitions")
            }
            Ended::OverBudget => {
                tracing::warn!(task = %task_id, "placing the task's partitions took too long")
            }
        }
    }
    found.sort_by(|a, b| (&a.task_id, a.slot).cmp(&(&b.task_id, b.slot)));
    Ok(found)
}
