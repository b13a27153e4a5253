//! A replicator worker: holds one slot of one task by lease, owns the partitions the
//! task's assignment gives that slot, copies them from the source to the target in
//! batches, and checkpoints a batch only after the target has acknowledged every record
//! of it. Runs until told to stop (locally) or until just before its Lambda deadline; a
//! worker that loses its lease stops without writing, and one that loses a partition
//! stops copying it (DESIGN §3 "Ownership", "Delivery").
//!
//! - `worker`: the loop; `ownership`: taking partitions and checking them against the
//!   source log; `batch`: when a checkpoint may advance; `checkpointing`: when it is
//!   written; `send`: the producer and what its answers mean; `resend`: finding the
//!   record of a refused batch the target refuses; `handling`: processing and refusal
//!   policy; `clients`: settings; `budget`: how much all workers of a process hold
//!   unsettled.

mod batch;
mod budget;
mod checkpointing;
mod clients;
mod handling;
mod markers;
mod observe;
mod ownership;
mod read;
mod resend;
mod send;
mod settle;
mod worker;

use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use tokio_util::sync::CancellationToken;

pub use clients::{consumer_config, producer_config};
pub use send::ORIGIN_HEADER;

use crate::dispatcher::SlotRef;
use crate::kafka::AccessError;
use crate::services::Services;
use crate::store::{Level, StoreError};

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// How long a slot's lease lasts unless renewed. The dispatcher starts a worker for
    /// a slot whose lease has expired, so a dead worker's slot waits at most this long
    /// plus one dispatcher tick (every minute in AWS: infra/template.yaml; every 2 s in
    /// `kafka-sync local`: `local::DISPATCH_EVERY`).
    pub lease_ttl: Duration,
    /// How often the lease is renewed; well under `lease_ttl`, so one slow store write
    /// does not lose it.
    pub renew_every: Duration,
    /// How often the worker re-reads its task and partitions: they may grow or be
    /// re-spread, `processing` or `on_error` may have been changed by a PATCH, and a
    /// stalled partition is tried again. Bounds how soon a live edit takes effect.
    pub reassign_every: Duration,
    /// A batch is sent once it has this many records ... (both limits are cut to the
    /// worker's share of the process's in-flight budget: `budget`)
    pub batch_records: usize,
    /// ... or this many bytes ... Two unsettled batches per partition, and what was
    /// acknowledged since the last store write (`checkpointing`), bound what a killed
    /// worker can duplicate (README "One owner per partition").
    pub batch_bytes: usize,
    /// ... or after waiting this long for more records: the latency a quiet partition
    /// adds at most.
    pub batch_window: Duration,
    /// A worker that found nothing to copy for this long ends ([`WorkerExit::Idle`]):
    /// in Lambda an idle slot then costs nothing until the dispatcher sees lag again
    /// (DESIGN §8: [`LAMBDA_IDLE_EXIT`]). `None`, as locally: it runs until stopped.
    pub idle_exit: Option<Duration>,
}

/// How long a replicator invocation waits with no lag before it ends (DESIGN §8).
pub const LAMBDA_IDLE_EXIT: Duration = Duration::from_secs(60);

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
            renew_every: Duration::from_secs(10),
            reassign_every: Duration::from_secs(10),
            batch_records: 10_000,
            batch_bytes: 16 * 1024 * 1024,
            batch_window: Duration::from_millis(200),
            idle_exit: None,
        }
    }
}

/// Why a worker stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum WorkerExit {
    /// Told to stop, or its deadline came: everything acknowledged is checkpointed.
    Stopped,
    /// Nothing to copy for `WorkerSettings::idle_exit`: everything is checkpointed.
    Idle,
    /// Another worker holds the slot (never started, or taken over).
    LeaseLost,
    /// The slot no longer exists (fewer partitions) or the task is not running.
    NothingToDo,
    /// A message could not be processed under the `retain` policy: the task is failed.
    TaskFailed,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cluster(#[from] AccessError),
    #[error("kafka: {context}: {source}")]
    Kafka {
        context: &'static str,
        source: KafkaError,
    },
    #[error("kafka admin: {0}")]
    Admin(crate::kafka_admin::AdminError),
    #[error("delivery to the target failed: {0}")]
    Delivery(KafkaError),
    #[error("the producer was dropped")]
    ProducerGone,
    #[error("a blocking task failed: {0}")]
    Join(String),
    /// The task cannot run as configured (a connection is gone, processing does not
    /// compile): retrying will not help until someone changes it.
    #[error("{0}")]
    Config(String),
}

impl WorkerError {
    /// Errors a retry may get past (a broker restarting, a leader moving, a timeout).
    /// They are retried with capped backoff and logged, never made events.
    pub fn is_transient(&self) -> bool {
        !matches!(self, WorkerError::Config(_))
    }
}

fn kafka(context: &'static str) -> impl Fn(KafkaError) -> WorkerError {
    move |source| WorkerError::Kafka { context, source }
}

/// One slot's worker, made by [`Worker::for_slot`].
pub struct Worker<'a> {
    services: &'a Services,
    tenant: String,
    task_id: String,
    slot: usize,
    owner: String,
    settings: WorkerSettings,
}

impl<'a> Worker<'a> {
    /// The worker of one slot, with the default settings. `owner` names this process or
    /// invocation in the lease it takes.
    pub fn for_slot(services: &'a Services, slot: &SlotRef, owner: impl Into<String>) -> Self {
        Self {
            services,
            tenant: slot.tenant.clone(),
            task_id: slot.task_id.clone(),
            slot: slot.slot,
            owner: owner.into(),
            settings: WorkerSettings::default(),
        }
    }

    /// The same worker with other settings (tests and benches that shorten the lease).
    pub fn with_settings(self, settings: WorkerSettings) -> Self {
        Self { settings, ..self }
    }

    /// Runs until `stop` is cancelled, `deadline` passes, the lease is lost or the slot
    /// has nothing to do.
    pub async fn run(
        &self,
        stop: &CancellationToken,
        deadline: Option<Instant>,
    ) -> Result<WorkerExit, WorkerError> {
        let store = &self.services.store;
        let Some(mut lease) = store
            .acquire_lease(
                &self.task_id,
                self.slot as u32,
                &self.owner,
                self.settings.lease_ttl.as_millis() as i64,
            )
            .await?
        else {
            return Ok(WorkerExit::LeaseLost);
        };
        let outcome = self.run_holding(&mut lease, stop, deadline).await;
        if !matches!(
            outcome,
            Ok(WorkerExit::LeaseLost) | Err(WorkerError::Store(StoreError::Fenced { .. }))
        ) {
            // Free the slot at once for whoever runs next; losing it already is fine.
            let _ = store.release_lease(&lease).await;
        }
        match outcome {
            Err(WorkerError::Store(StoreError::Fenced { .. })) => Ok(WorkerExit::LeaseLost),
            other => other,
        }
    }
}

/// Records a worker failure: an event when someone must act, a log line when a retry
/// may get past it (no event per retry).
pub async fn report_failure(services: &Services, task_id: &str, slot: usize, error: &WorkerError) {
    if error.is_transient() {
        crate::metrics::error(task_id, "transient");
        tracing::info!(task = task_id, slot, %error, "worker stopped; it retries from its checkpoint");
        return;
    }
    let message = format!("worker of slot {slot} stopped: {error}");
    if let Err(e) = services
        .store
        .add_event(task_id, Level::Error, "replication", &message)
        .await
    {
        tracing::warn!(task = task_id, error = %e, "could not record an event");
    }
}
