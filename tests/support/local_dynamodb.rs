//! `kafka-sync local` on a DynamoDB Local table that the test opens too. Use it when a
//! test must read or change the store while the service runs. The embedded store file
//! belongs to one process at a time, so it does not allow that.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_sync::store::Store;
use kafka_sync::store::dynamodb::DynamoBackend;

use crate::local::{Local, TOKEN};

/// A new DynamoDB Local table, opened with the same credentials and region the child
/// gets from [`start`]. DynamoDB Local keeps one database per access key and region.
pub async fn fresh_table() -> (String, Store) {
    let table = crate::unique_name("ksync-local");
    let backend = DynamoBackend::connect(crate::dynamodb().await, table.clone())
        .await
        .unwrap();
    (table, Store::new(std::sync::Arc::new(backend)))
}

/// Starts `kafka-sync local --store dynamodb://<table>` with its home in `home`, logging
/// at debug level into `log`, and with `args` added.
pub async fn start(binary: &PathBuf, home: &Path, log: &Path, table: &str, args: &[&str]) -> Local {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let store = format!("dynamodb://{table}");
    let child = Command::new(binary)
        .args(["local", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--store", &store])
        .args(args)
        .env("KAFKA_SYNC_HOME", home)
        .env("KAFKA_SYNC_TOKEN", TOKEN)
        .env("RUST_LOG", "debug")
        .env("DYNAMODB_ENDPOINT", crate::dynamodb_endpoint())
        // Use the fixed credentials of `crate::dynamodb`, so that the child sees the
        // test's tables.
        .env("AWS_ACCESS_KEY_ID", "ksynclocal")
        .env("AWS_SECRET_ACCESS_KEY", "ksynclocal")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let local = Local {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("{}/healthz", local.base)).await
            && r.status().is_success()
        {
            return local;
        }
        assert!(Instant::now() < deadline, "kafka-sync local did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
