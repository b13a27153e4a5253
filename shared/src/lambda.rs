//! What the Lambda functions share: their state from the environment, and, for those
//! whose logic does not exist yet, an honest refusal.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

use crate::secrets::AwsSecrets;
use crate::services::Services;

/// The store (DynamoDB table `TABLE_NAME`) and Secrets Manager, as the template wires them.
pub async fn services() -> Result<Services, Error> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let store = crate::store::open(&format!("dynamodb://{table}")).await?;
    Ok(Services {
        store,
        secrets: Arc::new(AwsSecrets::from_env().await),
    })
}

/// Runs a Lambda handler that fails every invocation, saying which issue will build it,
/// so a deployed stack cannot be mistaken for a working one.
pub async fn run_not_built_yet(function: &'static str, issue: u32) -> Result<(), Error> {
    crate::telemetry::init();
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        Err::<Value, Error>(not_built_yet(function, issue).into())
    }))
    .await
}

/// The error every invocation of an unbuilt function returns.
pub fn not_built_yet(function: &str, issue: u32) -> String {
    format!("the {function} function is not built yet (issue #{issue}); it did nothing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_names_the_function_and_issue() {
        let message = not_built_yet("dispatcher", 5);
        assert!(message.contains("dispatcher"));
        assert!(message.contains("#5"));
    }
}
