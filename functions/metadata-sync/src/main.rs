//! The metadata-sync Lambda function: every 3 minutes, metadata sync for every running
//! instance task.

use kafka_sync::jobs::{JobReport, metadata_sync};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

fn main() -> Result<(), Error> {
    kafka_sync::runtime::block_on(run())
}

async fn run() -> Result<(), Error> {
    kafka_sync::telemetry::init();
    let services = kafka_sync::lambda::services().await?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let services = services.clone();
        async move { Ok::<JobReport, Error>(metadata_sync(&services, None).await?) }
    }))
    .await
}
