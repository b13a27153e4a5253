//! The Lambda functions' figures as CloudWatch embedded-metric-format (EMF) log lines:
//! one JSON object per line on stdout, which CloudWatch Logs turns into metrics of the
//! namespace `KafkaSync`. The replication figures take the names MSK Replicator uses
//! (ReplicationLatency, MessageLag, ReplicatorThroughput); the README lists every name
//! beside its Prometheus counterpart.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::gather::{TaskFigures, task_figures};
use super::recorder::{self, Figures};
use crate::services::Services;
use crate::store::now_ms;

pub const NAMESPACE: &str = "KafkaSync";

/// One EMF line: `dimensions` (name, value) and `metrics` (name, unit, value).
fn line(at_ms: i64, dimensions: &[(&str, &str)], metrics: &[(&str, &str, f64)]) -> String {
    let mut body = Map::new();
    for (name, value) in dimensions {
        body.insert((*name).to_owned(), json!(value));
    }
    for (name, _, value) in metrics {
        body.insert((*name).to_owned(), json!(value));
    }
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    body.insert(
        "_aws".into(),
        json!({
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": definitions,
            }]
        }),
    );
    Value::Object(body).to_string()
}

/// Per source topic of `task`: what this invocation copied (`delta`, over `elapsed`),
/// and the lag, checkpoint age, stalls and losses as they are now.
pub fn replication_lines(
    task: &TaskFigures,
    delta: &Figures,
    elapsed: Duration,
    at_ms: i64,
) -> Vec<String> {
    let seconds = elapsed.as_secs_f64().max(0.001);
    task.topics
        .iter()
        .map(|topic| {
            let key = (task.id.clone(), topic.topic.clone());
            let copied = delta.copied.get(&key).copied().unwrap_or_default();
            let lag: i64 = topic.partitions.iter().filter_map(|p| p.lag).sum();
            let age = topic
                .partitions
                .iter()
                .map(|p| p.checkpoint_age_secs)
                .fold(0.0, f64::max);
            let stalled = topic.partitions.iter().filter(|p| p.stalled).count();
            let lost = topic.partitions.iter().filter(|p| p.lost > 0).count();
            let mut metrics = vec![
                (
                    "ReplicatorThroughput",
                    "Bytes/Second",
                    copied.bytes as f64 / seconds,
                ),
                ("RecordsCopied", "Count", copied.records as f64),
                ("MessageLag", "Count", lag as f64),
                ("CheckpointAge", "Seconds", age),
                ("StalledPartitions", "Count", stalled as f64),
                ("LostPartitions", "Count", lost as f64),
            ];
            if let Some(mean) = delta.latency.get(&key).and_then(|h| h.mean_ms()) {
                metrics.insert(0, ("ReplicationLatency", "Milliseconds", mean));
            }
            line(
                at_ms,
                &[("Task", &task.id), ("Topic", &topic.topic)],
                &metrics,
            )
        })
        .collect()
}

/// Errors by kind and offset-sync runs recorded in `delta`, per task.
pub fn recorded_lines(delta: &Figures, at_ms: i64) -> Vec<String> {
    let errors = delta.errors.iter().map(|((task, kind), count)| {
        line(
            at_ms,
            &[("Task", task), ("Kind", kind)],
            &[("Errors", "Count", *count as f64)],
        )
    });
    let runs = delta.offset_runs.iter().map(|(task, runs)| {
        let groups = |statuses: &[&str]| -> f64 {
            statuses
                .iter()
                .map(|s| runs.groups.get(*s).copied().unwrap_or(0))
                .sum::<u64>() as f64
        };
        line(
            at_ms,
            &[("Task", task)],
            &[
                (
                    "OffsetSyncRuns",
                    "Count",
                    (runs.succeeded + runs.failed) as f64,
                ),
                ("OffsetSyncFailures", "Count", runs.failed as f64),
                ("GroupsSynced", "Count", groups(&["synced"])),
                (
                    "GroupsSkipped",
                    "Count",
                    groups(&["active_on_target", "waiting_for_data"]),
                ),
            ],
        )
    });
    errors.chain(runs).collect()
}

/// After a replicator invocation for `task_id` that began at `started` with `before`
/// recorded: its EMF lines on stdout. A task that cannot be read any more has none.
pub async fn emit_replication(
    services: &Services,
    tenant: &str,
    task_id: &str,
    before: &Figures,
    started: Instant,
) {
    let delta = recorder::snapshot().of_task(task_id).since(before);
    let at = now_ms();
    let mut lines = recorded_lines(&delta, at);
    if let Ok(task) = services.store.get_task(tenant, task_id).await {
        let times = delta
            .checkpointed_at
            .get(task_id)
            .cloned()
            .unwrap_or_default();
        if let Ok(figures) = task_figures(services, tenant, task, &times).await {
            lines.extend(replication_lines(&figures, &delta, started.elapsed(), at));
        }
    }
    for line in lines {
        println!("{line}");
    }
}

/// After a scheduled job that began with `before` recorded: its EMF lines on stdout.
pub fn emit_recorded(before: &Figures) {
    for line in recorded_lines(&recorder::snapshot().since(before), now_ms()) {
        println!("{line}");
    }
}
