//! What the Lambda functions share: their state from the environment, and the
//! dispatcher's round of asynchronous replicator invocations.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use lambda_runtime::Error;
use serde::Serialize;

use crate::dispatcher::{SlotRef, slots_to_start};
use crate::secrets::AwsSecrets;
use crate::services::Services;
use crate::store::{Level, StoreLocation};

/// The store (DynamoDB table `TABLE_NAME`) and Secrets Manager, as the template wires them.
pub async fn services() -> Result<Services, Error> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let store = StoreLocation::DynamoDb { table }.open().await?;
    Ok(Services {
        store,
        secrets: Arc::new(AwsSecrets::from_env().await),
    })
}

/// What one dispatcher round did.
#[derive(Debug, Default, Serialize)]
pub struct Dispatched {
    pub started: usize,
    pub failed: usize,
}

/// The replicator function `function`, invoked asynchronously, one invocation per slot.
#[derive(Clone)]
pub struct Replicator {
    lambda: aws_sdk_lambda::Client,
    function: String,
}

impl Replicator {
    /// `REPLICATOR_FUNCTION` through the Lambda API (`AWS_ENDPOINT_URL_LAMBDA` overrides
    /// where that is, as for the local harness).
    pub async fn from_env() -> Result<Self, Error> {
        let function =
            std::env::var("REPLICATOR_FUNCTION").map_err(|_| "REPLICATOR_FUNCTION is not set")?;
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Ok(Self {
            lambda: aws_sdk_lambda::Client::new(&config),
            function,
        })
    }

    async fn invoke(&self, slot: &SlotRef) -> Result<(), String> {
        let payload = serde_json::to_vec(slot).map_err(|e| e.to_string())?;
        self.lambda
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_lambda::error::DisplayErrorContext(&e).to_string())
    }
}

/// One dispatcher round: tasks never synced get their topics first, then a replicator
/// invocation starts for every slot [`slots_to_start`] picks, all at once. A failed
/// Invoke is that slot's event; the round goes on (DESIGN §8).
pub async fn dispatch(services: &Services, replicator: &Replicator) -> Result<Dispatched, Error> {
    crate::jobs::metadata_sync(services, Some(Duration::MAX)).await?;
    let mut invoking = tokio::task::JoinSet::new();
    for slot in slots_to_start(services).await? {
        let replicator = replicator.clone();
        invoking.spawn(async move {
            let outcome = replicator.invoke(&slot).await;
            (slot, outcome)
        });
    }
    let mut round = Dispatched::default();
    while let Some(joined) = invoking.join_next().await {
        let (slot, outcome) = joined?;
        match outcome {
            Ok(()) => round.started += 1,
            Err(e) => {
                round.failed += 1;
                let message = format!("could not start the worker of slot {}: {e}", slot.slot);
                let _ = services
                    .store
                    .add_event(&slot.task_id, Level::Error, "replication", &message)
                    .await;
            }
        }
    }
    Ok(round)
}
