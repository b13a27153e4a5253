//! The replicator Lambda function.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    kafka_sync::lambda::run_not_built_yet("replicator", 5).await
}
