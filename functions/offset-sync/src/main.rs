//! The offset-sync Lambda function: every minute, consumer-group offset sync for every
//! running instance task that syncs offsets.

use kafka_sync::jobs::{JobReport, offset_sync};
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
        async move {
            let before = kafka_sync::metrics::snapshot();
            let report = offset_sync(&services).await;
            // Runs, groups and errors of this invocation, as CloudWatch embedded-metric lines.
            kafka_sync::metrics::emf::emit_recorded(&before);
            Ok::<JobReport, Error>(report?)
        }
    }))
    .await
}
