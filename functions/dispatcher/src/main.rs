//! The dispatcher Lambda function: every minute, initializes new tasks' metadata and
//! invokes the replicator asynchronously for every slot with something to copy that no
//! live worker holds.

use kafka_sync::lambda::{Replicator, dispatch};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

fn main() -> Result<(), Error> {
    kafka_sync::runtime::block_on(run())
}

async fn run() -> Result<(), Error> {
    kafka_sync::telemetry::init();
    let services = kafka_sync::lambda::services().await?;
    let replicator = Replicator::from_env().await?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let (services, replicator) = (services.clone(), replicator.clone());
        async move { dispatch(&services, &replicator).await }
    }))
    .await
}
