//! `kafka-sync local`: the API (and, as they are built, the schedules and workers) in one
//! process, on an embedded store by default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::{Services, Auth};
use crate::secrets::LocalSecrets;

pub struct Options {
    pub listen: SocketAddr,
    /// An embedded database path, or `dynamodb://TABLE`.
    pub store: String,
    pub metadata_interval_secs: u64,
    pub offset_interval_secs: u64,
}

/// Where local state goes unless told otherwise: `$KAFKA_SYNC_HOME`, else
/// `~/.local/share/kafka-sync`.
pub fn home() -> PathBuf {
    std::env::var_os("KAFKA_SYNC_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let base = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            base.join(".local/share/kafka-sync")
        })
}

pub fn default_store() -> String {
    home().join("store.redb").display().to_string()
}

/// `KAFKA_SYNC_TOKEN` (comma-separated for several tenants), else a new token printed
/// once on stderr.
fn tokens() -> Vec<String> {
    match std::env::var("KAFKA_SYNC_TOKEN") {
        Ok(value) if !value.trim().is_empty() => value
            .split(',')
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect(),
        _ => {
            let token = uuid::Uuid::new_v4().simple().to_string();
            eprintln!("kafka-sync local: API token (set KAFKA_SYNC_TOKEN to choose one): {token}");
            vec![token]
        }
    }
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let store = crate::store::open(&options.store).await?;
    let secrets = LocalSecrets::from_env_or_file(&home().join("secret.key"))?;
    let state = Services {
        store,
        secrets: Arc::new(secrets),
    };
    tracing::info!(
        store = %options.store,
        metadata_interval_secs = options.metadata_interval_secs,
        offset_interval_secs = options.offset_interval_secs,
        "metadata sync, offset sync and replication workers are not built yet (issues #4, #5, #6); serving the API only"
    );
    let router = crate::api::router(state, Auth::Bearer(tokens()));
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    tracing::info!(listen = %listener.local_addr()?, "kafka-sync local is serving");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
