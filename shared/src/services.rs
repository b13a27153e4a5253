//! What every function works with: the store and the secret store, and from them, how to
//! reach a tenant's cluster.

use std::sync::Arc;

use crate::kafka::ClusterAccess;
use crate::secrets::{SecretError, SecretStore};
use crate::store::{Store, StoreError};

#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub secrets: Arc<dyn SecretStore>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessLookupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl Services {
    /// How to reach a stored connection, its password read back from the secret store.
    pub async fn access(
        &self,
        tenant: &str,
        connection_id: &str,
    ) -> Result<ClusterAccess, AccessLookupError> {
        let record = self.store.get_connection(tenant, connection_id).await?;
        let password = match &record.secret_ref {
            Some(secret) => Some(self.secrets.get(secret).await?),
            None => None,
        };
        Ok(record.access(password))
    }
}
