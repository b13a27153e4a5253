//! The replicator Lambda function: invoked asynchronously by the dispatcher with one
//! (task, slot); copies until just before its deadline, then lets the next invocation
//! take over from the checkpoint.

use std::time::{Duration, Instant, SystemTime};

use kafka_sync::dispatcher::SlotRef;
use kafka_sync::replicator::{Worker, WorkerSettings, report_failure};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use tokio_util::sync::CancellationToken;

/// Time kept back from the deadline to finish the batch in flight and checkpoint it.
const STOP_BEFORE_DEADLINE: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), Error> {
    kafka_sync::telemetry::init();
    let services = kafka_sync::lambda::services().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SlotRef>| {
        let services = services.clone();
        async move {
            let deadline: SystemTime = event.context.deadline();
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .saturating_sub(STOP_BEFORE_DEADLINE);
            let slot = event.payload;
            let worker = Worker {
                services: &services,
                tenant: slot.tenant.clone(),
                task_id: slot.task_id.clone(),
                slot: slot.slot,
                owner: format!("lambda-{}", event.context.request_id),
                settings: WorkerSettings::default(),
            };
            match worker
                .run(&CancellationToken::new(), Some(Instant::now() + left))
                .await
            {
                Ok(exit) => Ok(format!("{exit:?}")),
                Err(e) => {
                    report_failure(&services, &slot.task_id, slot.slot, &e).await;
                    Err(Error::from(e.to_string()))
                }
            }
        }
    }))
    .await
}
