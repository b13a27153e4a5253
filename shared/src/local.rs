//! `kafka-sync local`: the API, the schedules (metadata sync, offset sync) and the
//! replicator workers in one process, on an embedded store by default.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{Auth, MetricsAccess, Services};
use crate::dispatcher::{SlotRef, wanted_slots};
use crate::replicator::{Worker, report_failure};
use crate::secrets::LocalSecrets;
use crate::store::StoreLocation;

/// The first and the longest wait before a worker that failed transiently runs again.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// How often the local dispatcher looks for slots to start or stop: well under the lease
/// TTL (`WorkerSettings::lease_ttl`, 30 s), so a slot whose worker died runs again soon
/// after its lease expires. The Lambda dispatcher ticks every minute (infra/template.yaml).
const DISPATCH_EVERY: Duration = Duration::from_secs(2);
/// How often metadata sync looks for tasks to initialize (and for due runs).
const METADATA_TICK: Duration = Duration::from_secs(1);

pub struct Options {
    pub listen: SocketAddr,
    pub store: StoreLocation,
    /// Seconds between metadata sync runs of a task (the CLI's default 180 matches the
    /// template's `rate(3 minutes)`).
    pub metadata_interval_secs: u64,
    /// Seconds between offset sync runs (the CLI's default 60 matches the template's
    /// `rate(1 minute)`).
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

pub fn default_store() -> StoreLocation {
    StoreLocation::Embedded(home().join("store.redb"))
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
    let store = options.store.open().await?;
    if options.store.is_private() {
        store.drop_all_leases().await?;
    }
    let secrets = LocalSecrets::from_env_or_file(&home().join("secret.key"))?;
    let state = Services {
        store,
        secrets: Arc::new(secrets),
    };
    let stop = CancellationToken::new();
    // A change through the API wakes metadata sync, which wakes the dispatcher as soon as
    // it has initialized a task: a new task's workers start without waiting for a tick.
    let changed = Arc::new(Notify::new());
    let initialized = Arc::new(Notify::new());
    let metadata = tokio::spawn(metadata_loop(
        state.clone(),
        Duration::from_secs(options.metadata_interval_secs),
        (changed.clone(), initialized.clone()),
        stop.clone(),
    ));
    let dispatcher = tokio::spawn(dispatch_loop(state.clone(), initialized, stop.clone()));
    let offsets = tokio::spawn(offset_loop(
        state.clone(),
        Duration::from_secs(options.offset_interval_secs.max(1)),
        stop.clone(),
    ));
    // A scraper that can reach a loopback listener runs on this host: it needs no token.
    let metrics = if options.listen.ip().is_loopback() {
        MetricsAccess::Open
    } else {
        MetricsAccess::Authenticated
    };
    let router = crate::api::router(state, Auth::Bearer(tokens()), metrics).layer(
        axum::middleware::from_fn(move |request, next| {
            notify_changes(changed.clone(), request, next)
        }),
    );
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(listen = %address, "kafka-sync local is serving");
    eprintln!(
        "kafka-sync local: dashboard at http://{address}/, metrics at http://{address}/metrics"
    );
    let shutdown = stop.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            shutdown.cancel();
        })
        .await?;
    stop.cancel();
    let _ = tokio::join!(metadata, dispatcher, offsets);
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// Wakes `changed` after every request that changed something.
async fn notify_changes(
    changed: Arc<Notify>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let changes = request.method() != axum::http::Method::GET;
    let response = next.run(request).await;
    if changes && response.status().is_success() {
        changed.notify_one();
    }
    response
}

/// Initializes new tasks at once (woken by `changed`, else every `METADATA_TICK`),
/// wakes `initialized` when it did, and re-runs metadata sync every `interval`.
async fn metadata_loop(
    services: Services,
    interval: Duration,
    (changed, initialized): (Arc<Notify>, Arc<Notify>),
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        match crate::jobs::metadata_sync(&services, Some(interval)).await {
            Ok(report) if report.tasks > 0 => initialized.notify_one(),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "metadata sync round failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(METADATA_TICK) => {}
            _ = changed.notified() => {}
            _ = stop.cancelled() => {}
        }
    }
}

/// Consumer-group offset sync every `interval`, the first one interval after start.
async fn offset_loop(services: Services, interval: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.cancelled() => return,
        }
        match crate::jobs::offset_sync(&services).await {
            Ok(report) => tracing::debug!(
                tasks = report.tasks,
                failed = report.failed,
                "offset sync round"
            ),
            Err(e) => tracing::warn!(error = %e, "offset sync round failed"),
        }
    }
}

/// Keeps one worker running per wanted slot, and stops the ones no longer wanted.
async fn dispatch_loop(services: Services, initialized: Arc<Notify>, stop: CancellationToken) {
    let owner_prefix = format!("local-{}", uuid::Uuid::new_v4().simple());
    let mut workers: HashMap<SlotRef, (CancellationToken, JoinHandle<()>)> = HashMap::new();
    while !stop.is_cancelled() {
        workers.retain(|_, (_, handle)| !handle.is_finished());
        match wanted_slots(&services).await {
            Ok(wanted) => {
                workers.retain(|slot, (cancel, _)| {
                    let keep = wanted.contains(slot);
                    if !keep {
                        cancel.cancel();
                    }
                    keep
                });
                for slot in wanted {
                    if workers.contains_key(&slot) {
                        continue;
                    }
                    let cancel = stop.child_token();
                    let handle = tokio::spawn(run_worker(
                        services.clone(),
                        slot.clone(),
                        format!("{owner_prefix}-{}", slot.slot),
                        cancel.clone(),
                    ));
                    workers.insert(slot, (cancel, handle));
                }
            }
            Err(e) => tracing::warn!(error = %e, "dispatch round failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(DISPATCH_EVERY) => {}
            _ = initialized.notified() => {}
            _ = stop.cancelled() => {}
        }
    }
    for (_, (cancel, handle)) in workers {
        cancel.cancel();
        let _ = handle.await;
    }
}

/// Runs a slot's worker; a transient failure (a broker restarting, a timeout) is
/// retried here with capped backoff and no event per retry (DESIGN §3).
async fn run_worker(services: Services, slot: SlotRef, owner: String, cancel: CancellationToken) {
    let mut backoff = RETRY_FIRST;
    loop {
        match Worker::for_slot(&services, &slot, &owner)
            .run(&cancel, None)
            .await
        {
            Ok(exit) => {
                tracing::debug!(task = %slot.task_id, slot = slot.slot, ?exit, "worker ended");
                return;
            }
            Err(e) => {
                report_failure(&services, &slot.task_id, slot.slot, &e).await;
                if !e.is_transient() {
                    return;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = cancel.cancelled() => return,
        }
        backoff = (backoff * 2).min(RETRY_MAX);
    }
}
