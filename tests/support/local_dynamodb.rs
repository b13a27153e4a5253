//! `kafka-sync local` on a DynamoDB Local table that the test opens too. Use it when a
//! test must read or change the store while the service runs. The embedded store file
//! belongs to one process at a time, so it does not allow that.

use std::path::Path;

use kafka_sync::store::Store;
use kafka_sync::store::dynamodb::DynamoBackend;

use crate::local::Local;

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
pub async fn start(binary: &Path, home: &Path, log: &Path, table: &str, args: &[&str]) -> Local {
    start_logging(binary, home, log, table, args, "debug").await
}

/// As [`start`], logging at `level` (`RUST_LOG`).
pub async fn start_logging(
    binary: &Path,
    home: &Path,
    log: &Path,
    table: &str,
    args: &[&str],
    level: &str,
) -> Local {
    let store = format!("dynamodb://{table}");
    let args = [&["--store", store.as_str()][..], args].concat();
    let env = [
        ("DYNAMODB_ENDPOINT", crate::dynamodb_endpoint()),
        // The fixed credentials of `crate::dynamodb`, so that the child sees the test's
        // tables.
        ("AWS_ACCESS_KEY_ID", "ksynclocal".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "ksynclocal".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ];
    Local::spawn(binary, home, log, &args, level, &env).await
}
