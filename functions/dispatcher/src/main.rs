//! The dispatcher Lambda function.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    kafka_sync::lambda::run_not_built_yet("dispatcher", 5).await
}
