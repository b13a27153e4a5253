//! `GET /v1/tasks/{id}/progress`: per partition, where the source ends, where the copy
//! has reached (the checkpoint), where the target ends, the lag, whether it is copying
//! or stalled, and what was lost; with totals and the metadata and offset sync summaries.
//! One client per cluster answers every partition's watermarks, so a task of 1,000
//! partitions answers within the API's time.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::ApiError;
use crate::kafka::TIMEOUT;
use crate::lifecycle::TaskRecord;
use crate::metadata_sync::MetadataProgress;
use crate::services::Services;
use crate::store::PartitionRef;
use crate::task::TaskSpec;
use crate::topology::task_routes;

pub async fn progress(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
) -> Result<Value, ApiError> {
    let [source_id, target_id] = task.spec.connection_ids();
    let source = services.access(tenant, source_id).await?;
    let target = services.access(tenant, target_id).await?;
    let checkpoints = services.store.checkpoints(&task.id).await?;
    let unreachable = |e: crate::kafka::AccessError| ApiError::unprocessable(e.to_string());
    let routes = task_routes(&source, &task.spec)
        .await
        .map_err(unreachable)?;
    let same_partition = match &task.spec {
        TaskSpec::Instance(i) => i.same_partition,
        TaskSpec::Topic(_) => true,
    };
    let sources: Vec<PartitionRef> = routes.iter().map(|r| r.source.clone()).collect();
    let source_marks = source
        .watermarks(sources, TIMEOUT)
        .await
        .map_err(unreachable)?;
    let target_marks: BTreeMap<PartitionRef, (i64, i64)> = if same_partition {
        let existing = target
            .topic_partitions(TIMEOUT)
            .await
            .map_err(unreachable)?;
        let wanted: Vec<PartitionRef> = routes
            .iter()
            .filter(|r| {
                existing
                    .get(&r.target_topic)
                    .is_some_and(|n| r.source.partition < *n as i32)
            })
            .map(|r| PartitionRef {
                topic: r.target_topic.clone(),
                partition: r.source.partition,
            })
            .collect();
        target.watermarks(wanted, TIMEOUT).await.unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    let (mut messages, mut bytes, mut lag, mut lost) = (0u64, 0u64, 0i64, 0u64);
    let (mut discarded, mut dead_lettered) = (0u64, 0u64);
    let mut topics: Vec<Value> = Vec::new();
    for route in routes {
        let p = &route.source;
        let (low, end) = source_marks.get(p).copied().unwrap_or_default();
        let checkpoint = checkpoints.get(p).cloned().unwrap_or_default();
        // Without a checkpoint the copy starts at the log start.
        let next_offset = checkpoint.next_offset.max(low);
        let partition_lag = (end - next_offset).max(0);
        let target_end = target_marks
            .get(&PartitionRef {
                topic: route.target_topic.clone(),
                partition: p.partition,
            })
            .map(|(_, high)| *high);
        messages += checkpoint.copied;
        bytes += checkpoint.bytes;
        discarded += checkpoint.discarded;
        dead_lettered += checkpoint.dead_lettered;
        lost += checkpoint.lost;
        lag += partition_lag;
        let mut entry = json!({
            "partition": p.partition, "state": "copying", "source_end_offset": end,
            "next_offset": next_offset, "target_end_offset": target_end, "lag": partition_lag,
            "lost": checkpoint.lost
        });
        if let Some(stall) = &checkpoint.stalled {
            entry["state"] = json!("stalled");
            entry["error"] = json!({
                "offset": stall.offset, "code": stall.code, "message": stall.message
            });
        }
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
                   "discarded": discarded, "dead_lettered": dead_lettered, "lost": lost},
        "topics": topics,
        "metadata": metadata.map(|m| json!({
            "last_sync_at": m.last_sync_at, "topics_created": m.topics_created,
            "partitions_added": m.partitions_added, "groups": m.groups
        })),
        "offsets": offsets,
    }))
}
