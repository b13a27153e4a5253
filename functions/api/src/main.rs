//! The api Lambda function.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    kafka_sync::lambda::run_not_built_yet("api", 3).await
}
