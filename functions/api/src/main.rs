//! The api Lambda function: the shared router behind API Gateway (IAM auth).

fn main() -> Result<(), lambda_http::Error> {
    kafka_sync::runtime::block_on(run())
}

async fn run() -> Result<(), lambda_http::Error> {
    kafka_sync::telemetry::init();
    let state = kafka_sync::lambda::services().await?;
    let router = kafka_sync::api::router(
        state,
        kafka_sync::api::Auth::Iam,
        kafka_sync::api::MetricsAccess::Authenticated,
    );
    lambda_http::run(router).await
}
