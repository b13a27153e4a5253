//! `GET /v1/tasks/{id}/progress`: per partition, where the source ends, where the copy
//! has reached (the checkpoint), where the target ends, and the lag; with totals and the
//! metadata and offset sync summaries.

use std::time::Duration;

use serde_json::{Value, json};

use crate::api::ApiError;
use crate::kafka::ClusterAccess;
use crate::lifecycle::TaskRecord;
use crate::metadata_sync::MetadataProgress;
use crate::services::Services;
use crate::task::TaskSpec;
use crate::topology::task_routes;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A partition's low and high watermarks.
async fn watermarks(
    access: &ClusterAccess,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), ApiError> {
    let (access, topic) = (access.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer = access
            .client_config()
            .create()
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
        rdkafka::consumer::Consumer::fetch_watermarks(&consumer, &topic, partition, TIMEOUT)
            .map_err(|e| ApiError::unprocessable(format!("{topic}/{partition}: {e}")))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
}

pub async fn progress(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
) -> Result<Value, ApiError> {
    let [source_id, target_id] = task.spec.connection_ids();
    let source = services.access(tenant, source_id).await?;
    let target = services.access(tenant, target_id).await?;
    let checkpoints = services.store.checkpoints(&task.id).await?;
    let routes = task_routes(&source, &task.spec)
        .await
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let same_partition = match &task.spec {
        TaskSpec::Instance(i) => i.same_partition,
        TaskSpec::Topic(_) => true,
    };
    let (mut messages, mut bytes, mut lag) = (0u64, 0u64, 0i64);
    let (mut discarded, mut dead_lettered) = (0u64, 0u64);
    let mut topics: Vec<Value> = Vec::new();
    for route in routes {
        let p = &route.source;
        let (low, end) = watermarks(&source, &p.topic, p.partition).await?;
        let checkpoint = checkpoints.get(p).cloned().unwrap_or_default();
        // Without a checkpoint the copy starts at the log start.
        let next_offset = checkpoint.next_offset.max(low);
        let partition_lag = (end - next_offset).max(0);
        let target_end = if same_partition {
            watermarks(&target, &route.target_topic, p.partition)
                .await
                .ok()
                .map(|(_, high)| high)
        } else {
            None
        };
        messages += checkpoint.copied;
        bytes += checkpoint.bytes;
        discarded += checkpoint.discarded;
        dead_lettered += checkpoint.dead_lettered;
        lag += partition_lag;
        let entry = json!({
            "partition": p.partition, "source_end_offset": end, "next_offset": next_offset,
            "target_end_offset": target_end, "lag": partition_lag
        });
        match topics.iter_mut().find(|t| t["topic"] == p.topic.as_str()) {
            Some(topic) => topic["partitions"]
                .as_array_mut()
                .expect("built below with an array")
                .push(entry),
            None => topics.push(json!({
                "topic": p.topic, "target_topic": route.target_topic, "partitions": [entry]
            })),
        }
    }
    let metadata: Option<MetadataProgress> = services.store.progress(&task.id, "metadata").await?;
    let offsets: Option<Value> = services.store.progress(&task.id, "offsets").await?;
    Ok(json!({
        "state": task.state.as_str(),
        "totals": {"messages": messages, "bytes": bytes, "lag": lag,
                   "discarded": discarded, "dead_lettered": dead_lettered},
        "topics": topics,
        "metadata": metadata.map(|m| json!({
            "last_sync_at": m.last_sync_at, "topics_created": m.topics_created,
            "partitions_added": m.partitions_added, "groups": m.groups
        })),
        "offsets": offsets,
    }))
}
