//! Replicator workers run inside the test process, one per slot, as the dispatcher
//! would start them (`Worker::for_slot`).

use std::time::Instant;

use kafka_sync::dispatcher::SlotRef;
use kafka_sync::replicator::{Worker, WorkerError, WorkerExit, WorkerSettings};
use kafka_sync::services::Services;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::task::TENANT;

/// Slot `slot` of the task `task_id` of [`TENANT`].
pub fn slot(task_id: &str, slot: usize) -> SlotRef {
    SlotRef {
        tenant: TENANT.into(),
        task_id: task_id.into(),
        slot,
    }
}

/// Runs the worker of `slot` in the background until `stop` is cancelled or `deadline`
/// passes (or it loses its lease, or has nothing to do).
pub fn spawn(
    services: &Services,
    slot: SlotRef,
    owner: impl Into<String>,
    settings: WorkerSettings,
    stop: &CancellationToken,
    deadline: Option<Instant>,
) -> JoinHandle<Result<WorkerExit, WorkerError>> {
    let (services, owner, stop) = (services.clone(), owner.into(), stop.clone());
    tokio::spawn(async move {
        Worker::for_slot(&services, &slot, owner)
            .with_settings(settings)
            .run(&stop, deadline)
            .await
    })
}
