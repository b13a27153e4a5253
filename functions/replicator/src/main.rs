//! The replicator Lambda function: invoked asynchronously by the dispatcher with one
//! (task, slot); copies until just before its deadline, then lets the next invocation
//! take over from the checkpoint; or until its partitions have had no lag for a minute.

use std::time::{Duration, Instant, SystemTime};

use kafka_sync::dispatcher::SlotRef;
use kafka_sync::metrics;
use kafka_sync::replicator::{LAMBDA_IDLE_EXIT, Worker, WorkerSettings, report_failure};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use tokio_util::sync::CancellationToken;

/// Time kept back from the deadline to settle the batches in flight and checkpoint
/// them: a tenth of the invocation's time, between 2 s and 60 s. A fixed 60 s left an
/// invocation of 60 s or less no time to copy at all; the template's 900 s timeout
/// keeps the full 60 s.
fn reserve(left: Duration) -> Duration {
    (left / 10).clamp(Duration::from_secs(2), Duration::from_secs(60))
}

fn main() -> Result<(), Error> {
    kafka_sync::runtime::block_on(run())
}

async fn run() -> Result<(), Error> {
    kafka_sync::telemetry::init();
    let services = kafka_sync::lambda::services().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SlotRef>| {
        let services = services.clone();
        async move {
            let deadline: SystemTime = event.context.deadline();
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            let left = left.saturating_sub(reserve(left));
            let slot = event.payload;
            let owner = format!("lambda-{}", event.context.request_id);
            // An idle slot ends early and costs nothing until it has lag (DESIGN §8).
            let worker = Worker::for_slot(&services, &slot, owner).with_settings(WorkerSettings {
                idle_exit: Some(LAMBDA_IDLE_EXIT),
                ..WorkerSettings::default()
            });
            let before = metrics::snapshot().of_task(&slot.task_id);
            let started = Instant::now();
            let outcome = worker
                .run(&CancellationToken::new(), Some(started + left))
                .await;
            if let Err(e) = &outcome {
                report_failure(&services, &slot.task_id, slot.slot, e).await;
            }
            // This invocation's figures, as CloudWatch embedded-metric lines.
            metrics::emf::emit_replication(
                &services,
                &slot.tenant,
                &slot.task_id,
                &before,
                started,
            )
            .await;
            outcome
                .map(|exit| format!("{exit:?}"))
                .map_err(|e| Error::from(e.to_string()))
        }
    }))
    .await
}
