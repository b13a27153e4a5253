//! The dispatcher Lambda function: every minute, initializes new tasks' metadata and
//! invokes the replicator asynchronously for every slot no live worker holds.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use kafka_sync::dispatcher::{free_slots, wanted_slots};
use kafka_sync::store::Level;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    kafka_sync::telemetry::init();
    let services = kafka_sync::lambda::services().await?;
    let replicator =
        std::env::var("REPLICATOR_FUNCTION").map_err(|_| "REPLICATOR_FUNCTION is not set")?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let (services, lambda, replicator) = (services.clone(), lambda.clone(), replicator.clone());
        async move {
            // Tasks never synced get their topics before their workers start.
            kafka_sync::jobs::metadata_sync(&services, Some(Duration::MAX)).await?;
            let free = free_slots(&services, wanted_slots(&services).await?).await?;
            let mut started = 0;
            for slot in &free {
                let invoked = lambda
                    .invoke()
                    .function_name(&replicator)
                    .invocation_type(InvocationType::Event)
                    .payload(Blob::new(serde_json::to_vec(slot)?))
                    .send()
                    .await;
                // A failed Invoke is that slot's event; the round goes on (DESIGN §8).
                match invoked {
                    Ok(_) => started += 1,
                    Err(e) => {
                        let message = format!(
                            "could not start the worker of slot {}: {}",
                            slot.slot,
                            aws_sdk_lambda::error::DisplayErrorContext(&e)
                        );
                        let _ = services
                            .store
                            .add_event(&slot.task_id, Level::Error, "replication", &message)
                            .await;
                    }
                }
            }
            Ok::<Value, Error>(json!({ "started": started, "failed": free.len() - started }))
        }
    }))
    .await
}
