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
use kafka_sync::topology::initial_checkpoints;
use serde_json::{Value, json};

use crate::records::{create_topic, produce};
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
        ids.push(add_live_connection(&services, access).await);
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

/// Stores a connection (tenant [`TENANT`]) to `access` as the API would, with the
/// brokers and cluster id given; its id.
pub async fn add_connection(
    services: &Services,
    access: ClusterAccess,
    brokers: Vec<String>,
    cluster_id: String,
) -> String {
    let record = ConnectionRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name: unique_name("c"),
        bootstrap: access.bootstrap,
        security: access.security,
        brokers,
        cluster_id,
        created_at: chrono::Utc::now(),
        secret_ref: None,
    };
    services
        .store
        .create_connection(TENANT, &record)
        .await
        .unwrap();
    record.id
}

/// Stores a connection to a cluster that is reachable now, described as the API does.
pub async fn add_live_connection(services: &Services, access: ClusterAccess) -> String {
    let described = access.describe(Duration::from_secs(30)).await.unwrap();
    add_connection(services, access, described.brokers, described.cluster_id).await
}

/// A task over a new topic of `partitions` partitions (and the same topic on the target
/// when `on_target`, as metadata sync makes it), its start positions seeded as the API
/// does, then one record on every source partition: every partition has lag 1. For
/// benchmarks of what reads every partition of a task; the topic's name.
pub async fn lagging_task(
    prefix: &str,
    partitions: usize,
    on_target: bool,
) -> (Services, TaskRecord, String) {
    let topic = unique_name(prefix);
    let (count, records) = (partitions as i32, partitions as u64);
    let clusters = if on_target {
        vec![crate::source(), crate::target()]
    } else {
        vec![crate::source()]
    };
    for cluster in clusters {
        create_topic(&cluster, &topic, count).await;
        // Producing waits for every partition's leader, which the watermarks need.
        produce(&cluster, &topic, count, 0, records, 100).await;
    }
    let (services, task) = instance_task(
        json!({"sync": "metadata+messages", "start_offset": "latest",
            "topics": {"regex": format!("^{topic}$")}}),
    )
    .await;
    let checkpoints = initial_checkpoints(&crate::source(), &task.spec)
        .await
        .unwrap();
    services
        .store
        .seed_checkpoints(&task.id, &checkpoints)
        .await
        .unwrap();
    produce(&crate::source(), &topic, count, 0, records, 100).await;
    (services, task, topic)
}
