//! The dispatcher: which (task, slot) pairs need a replicator worker. In AWS it invokes
//! the replicator function for each free slot; locally it runs each as a tokio task.

use std::collections::HashMap;
use std::time::Duration;

use crate::lifecycle::{TaskRecord, TaskState};
use crate::replicator::WorkerError;
use crate::services::Services;
use crate::store::{StoreError, now_ms};
use crate::topology::task_routes;

/// One worker slot of one task.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SlotRef {
    pub tenant: String,
    pub task_id: String,
    pub slot: usize,
}

/// How long one task's slot count may take: an unreachable cluster delays only its own
/// task, never the round (DESIGN §8). Well within the dispatcher's one-minute schedule.
pub const TASK_BUDGET: Duration = Duration::from_secs(10);

/// Every slot of every running task that copies messages: min(partitions, 20) each,
/// the tasks asked about concurrently, each within [`TASK_BUDGET`]. A task whose source
/// cannot be read now is left out of this round.
pub async fn wanted_slots(services: &Services) -> Result<Vec<SlotRef>, StoreError> {
    let mut counting = tokio::task::JoinSet::new();
    for (tenant, task) in services.store.all_tasks().await? {
        if task.state != TaskState::Running || !task.spec.copies_messages() {
            continue;
        }
        let services = services.clone();
        counting.spawn(async move {
            let slots =
                tokio::time::timeout(TASK_BUDGET, slots_of(&services, &tenant, &task)).await;
            (tenant, task.id, slots)
        });
    }
    let mut wanted = Vec::new();
    while let Some(joined) = counting.join_next().await {
        let Ok((tenant, task_id, slots)) = joined else {
            continue;
        };
        match slots {
            Ok(Ok(slots)) => wanted.extend((0..slots).map(|slot| SlotRef {
                tenant: tenant.clone(),
                task_id: task_id.clone(),
                slot,
            })),
            Ok(Err(e)) => {
                tracing::warn!(task = %task_id, error = %e, "cannot count the task's partitions")
            }
            Err(_) => {
                tracing::warn!(task = %task_id, "counting the task's partitions took too long")
            }
        }
    }
    wanted.sort_by(|a, b| (&a.task_id, a.slot).cmp(&(&b.task_id, b.slot)));
    Ok(wanted)
}

async fn slots_of(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
) -> Result<usize, WorkerError> {
    let source = services
        .access(tenant, task.spec.connection_ids()[0])
        .await
        .map_err(|e| WorkerError::Config(e.to_string()))?;
    let routes = task_routes(&source, &task.spec).await?;
    // The stored assignment says how many slots there are; counting here also places
    // partitions that appeared since, so the workers of new slots find them.
    Ok(services
        .store
        .refresh_assignment(&task.id, &routes)
        .await?
        .slots)
}

/// The wanted slots no live worker holds: their lease is absent or expired.
pub async fn free_slots(
    services: &Services,
    wanted: Vec<SlotRef>,
) -> Result<Vec<SlotRef>, StoreError> {
    let now = now_ms();
    let mut expiry: HashMap<(String, usize), i64> = HashMap::new();
    for slot in &wanted {
        if let Some(lease) = services
            .store
            .lease(&slot.task_id, slot.slot as u32)
            .await?
        {
            expiry.insert((slot.task_id.clone(), slot.slot), lease.expires_at_ms);
        }
    }
    Ok(wanted
        .into_iter()
        .filter(|s| {
            expiry
                .get(&(s.task_id.clone(), s.slot))
                .is_none_or(|at| *at <= now)
        })
        .collect())
}
