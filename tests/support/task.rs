//! A store holding connections to both real clusters and one instance task over them,
//! for tests and benchmarks that drive the jobs directly.

use std::sync::Arc;
use std::time::Duration;

use kafka_sync::connection::ConnectionRecord;
use kafka_sync::kafka::ClusterAccess;
use kafka_sync::lifecycle::TaskRecord;
use kafka_sync::secrets::LocalSecrets;
use kafka_sync::services::Services;
use kafka_sync::task::parse_task_spec;
use serde_json::{Value, json};

use crate::{StoreKind, fresh_store, unique_name};

pub const TENANT: &str = "t";

/// An instance task (tenant [`TENANT`]) with `fields` added to its spec, e.g.
/// `{"sync": "metadata", "topics": {"regex": "^x"}}`.
pub async fn instance_task(fields: Value) -> (Services, TaskRecord) {
    instance_task_between(crate::source(), crate::target(), fields).await
}

/// An instance task as [`instance_task`], copying from `from` to `to` (a reverse task
/// when `from` is the target cluster).
pub async fn instance_task_between(
    from: ClusterAccess,
    to: ClusterAccess,
    fields: Value,
) -> (Services, TaskRecord) {
    let services = Services {
        store: fresh_store(StoreKind::Embedded).await,
        secrets: Arc::new(LocalSecrets::from_key(&[3; 32])),
    };
    let mut ids = Vec::new();
    for access in [from, to] {
        let described = access.describe(Duration::from_secs(30)).await.unwrap();
        let record = ConnectionRecord {
            id: uuid::Uuid::new_v4().simple().to_string(),
            name: unique_name("c"),
            bootstrap: access.bootstrap.clone(),
            security: access.security.clone(),
            brokers: described.brokers,
            cluster_id: described.cluster_id,
            created_at: chrono::Utc::now(),
            secret_ref: None,
        };
        services
            .store
            .create_connection(TENANT, &record)
            .await
            .unwrap();
        ids.push(record.id);
    }
    let mut spec = json!({"name": unique_name("task"), "kind": "instance",
        "source": ids[0], "target": ids[1]});
    for (k, v) in fields.as_object().expect("fields is an object") {
        spec[k] = v.clone();
    }
    let task = TaskRecord::new(
        uuid::Uuid::new_v4().simple().to_string(),
        parse_task_spec(&spec).unwrap(),
    );
    services.store.create_task(TENANT, &task).await.unwrap();
    (services, task)
}
