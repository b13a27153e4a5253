//! What every integration test needs: the two real clusters and DynamoDB Local that
//! `scripts/services.sh up` started, and names no other test uses.

pub mod admin;
pub mod brokers;
pub mod copies;
pub mod copy_task;
pub mod groups;
pub mod http;
pub mod lambda;
pub mod local;
pub mod local_dynamodb;
pub mod records;
pub mod task;
pub mod workers;

use std::sync::atomic::{AtomicU32, Ordering};

use kafka_sync::kafka::ClusterAccess;

/// The source cluster (`KSYNC_SOURCE_BOOTSTRAP`, default 127.0.0.1:19092).
pub fn source() -> ClusterAccess {
    ClusterAccess::plaintext(env_or("KSYNC_SOURCE_BOOTSTRAP", "127.0.0.1:19092"))
}

/// The target cluster (`KSYNC_TARGET_BOOTSTRAP`, default 127.0.0.1:29092).
pub fn target() -> ClusterAccess {
    ClusterAccess::plaintext(env_or("KSYNC_TARGET_BOOTSTRAP", "127.0.0.1:29092"))
}

/// The cluster only the Lambda end-to-end test uses as its source
/// (`KSYNC_LAMBDA_BOOTSTRAP`, default 127.0.0.1:39092): its task syncs group offsets,
/// which takes the all-topics range.
pub fn lambda_source() -> ClusterAccess {
    ClusterAccess::plaintext(env_or("KSYNC_LAMBDA_BOOTSTRAP", "127.0.0.1:39092"))
}

/// DynamoDB Local's address (`DYNAMODB_ENDPOINT`, default http://127.0.0.1:18000).
pub fn dynamodb_endpoint() -> String {
    env_or("DYNAMODB_ENDPOINT", "http://127.0.0.1:18000")
}

/// A DynamoDB client for DynamoDB Local, with the fixed local credentials it accepts.
pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(dynamodb_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "ksynclocal",
            "ksynclocal",
            None,
            None,
            "kafka-sync-tests",
        ))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// A name unique to this call, in this process and across processes, so tests can run in
/// parallel on shared clusters: `<prefix>-<pid>-<n>-<random>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}-{n}-{}", std::process::id(), &random[..8])
}

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// A benchmark's setting from the environment, `default` when unset or not a `T`.
pub fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Builds `packages` in the profile of the running test or benchmark and returns the
/// folder their binaries are in, beside this one's. A benchmark's is the bench profile:
/// the same settings as release, but `--release` would fingerprint every dependency
/// anew, and each `cargo bench` after it would rebuild them all again (3-4 minutes).
pub fn cargo_build(packages: &[&str]) -> std::path::PathBuf {
    let deps = std::env::current_exe().unwrap();
    let folder = deps.parent().unwrap().parent().unwrap().to_path_buf();
    let release = folder.file_name().is_some_and(|name| name == "release");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "-q"])
        .args(
            release
                .then_some(["--profile", "bench"])
                .into_iter()
                .flatten(),
        )
        .args(packages.iter().flat_map(|p| ["-p", p]))
        .status()
        .unwrap();
    assert!(status.success(), "building {packages:?} failed");
    folder
}

/// The two store backends every store and API test runs on.
#[derive(Clone, Copy, Debug)]
pub enum StoreKind {
    Embedded,
    DynamoDb,
}

/// A fresh, empty store of that kind: a new redb file, or a new DynamoDB Local table.
pub async fn fresh_store(kind: StoreKind) -> kafka_sync::store::Store {
    use kafka_sync::store::{Store, dynamodb::DynamoBackend, embedded::EmbeddedBackend};
    use std::sync::Arc;
    match kind {
        StoreKind::Embedded => {
            let path = scratch_dir().join(format!("{}.redb", unique_name("store")));
            Store::new(Arc::new(EmbeddedBackend::open(&path).unwrap()))
        }
        StoreKind::DynamoDb => {
            let backend = DynamoBackend::connect(dynamodb().await, unique_name("ksync"))
                .await
                .unwrap();
            Store::new(Arc::new(backend))
        }
    }
}

/// A port nothing listens on now, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A folder for this test run's files.
pub fn scratch_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("kafka-sync-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
