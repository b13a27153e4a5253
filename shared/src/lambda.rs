//! What the Lambda functions share: their state from the environment.

use std::sync::Arc;

use lambda_runtime::Error;

use crate::secrets::AwsSecrets;
use crate::services::Services;
use crate::store::StoreLocation;

/// The store (DynamoDB table `TABLE_NAME`) and Secrets Manager, as the template wires them.
pub async fn services() -> Result<Services, Error> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let store = StoreLocation::DynamoDb { table }.open().await?;
    Ok(Services {
        store,
        secrets: Arc::new(AwsSecrets::from_env().await),
    })
}
