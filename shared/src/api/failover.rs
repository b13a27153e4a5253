//! `POST /v1/tasks/{id}/failover` and `GET /v1/tasks/{id}/groups` (DESIGN §3
//! "Failover", §5): what each consumer group would get if its consumers moved to the
//! target now, synced at once unless it is a dry run; and what offset sync did last.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::{Extension, Path, State};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Tenant;
use super::body::{JsonBody, typed};
use super::error::{ApiError, ApiResult};
use super::{Services, checked_id};
use crate::kafka::TIMEOUT;
use crate::offset_sync::{self, GroupReport, OffsetProgress, Scope};
use crate::store::PartitionRef;

/// The body of a failover call.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailoverRequest {
    /// The groups to fail over: their names, or `"all"`.
    groups: Groups,
    /// Only report what would be committed.
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum Groups {
    Named(Vec<String>),
    /// Must be `"all"`.
    Keyword(String),
}

pub async fn failover(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let request: FailoverRequest = typed(body)?;
    let groups = match request.groups {
        Groups::Named(names) if names.is_empty() => {
            return Err(ApiError::bad_request(
                "groups: name at least one group, or \"all\"",
            ));
        }
        Groups::Named(names) => Some(names.into_iter().collect::<BTreeSet<_>>()),
        Groups::Keyword(all) if all == "all" => None,
        Groups::Keyword(other) => {
            return Err(ApiError::bad_request(format!(
                "groups: {other:?} is neither a list of group names nor \"all\""
            )));
        }
    };
    let task = app.store.get_task(&tenant, checked_id(&id)?).await?;
    if !task.spec.syncs_offsets() {
        return Err(ApiError::bad_request(
            "the task does not synchronize consumer-group offsets (sync must be metadata+messages+offsets)",
        ));
    }
    let scope = Scope {
        groups,
        dry_run: request.dry_run,
    };
    let reports = offset_sync::failover(&app, &tenant, &task, &scope)
        .await
        .map_err(|e| match e {
            // The store's own failure is the API's (a 500 without the backend's text).
            offset_sync::OffsetSyncError::Store { source, .. } => ApiError::from(source),
            other => ApiError::unprocessable(other.to_string()),
        })?;
    let behind = not_yet_copied(&app, &tenant, &task, &reports).await?;
    let groups: Vec<Value> = reports
        .iter()
        .map(|report| {
            let partitions: Vec<Value> = report
                .partitions
                .iter()
                .map(|p| {
                    let source = PartitionRef {
                        topic: p.topic.clone(),
                        partition: p.partition,
                    };
                    let (records, ms) = behind.get(&source).copied().unwrap_or((0, 0));
                    json!({
                        "topic": p.topic, "partition": p.partition, "target_topic": p.target_topic,
                        "source_committed": p.source_committed, "target_offset": p.target_offset,
                        "ahead_of_copy": p.ahead_of_copy, "committed": p.committed,
                        "not_yet_copied": {"records": records, "ms": ms}
                    })
                })
                .collect();
            json!({
                "group": report.group, "status": report.status,
                "active_on_target": report.active_on_target, "reason": report.reason,
                "partitions": partitions
            })
        })
        .collect();
    Ok(Json(
        json!({ "dry_run": request.dry_run, "groups": groups }),
    ))
}

/// Per source partition of the reports: the records not copied yet (from the
/// checkpoint to the log end), and how many milliseconds of records they span (the
/// newest record's timestamp less the oldest uncopied one's).
async fn not_yet_copied(
    app: &Services,
    tenant: &str,
    task: &crate::lifecycle::TaskRecord,
    reports: &[GroupReport],
) -> ApiResult<BTreeMap<PartitionRef, (i64, i64)>> {
    let partitions: BTreeSet<PartitionRef> = reports
        .iter()
        .flat_map(|r| &r.partitions)
        .map(|p| PartitionRef {
            topic: p.topic.clone(),
            partition: p.partition,
        })
        .collect();
    let source = app.access(tenant, task.spec.connection_ids()[0]).await?;
    let checkpoints = app.store.checkpoints(&task.id).await?;
    let unreachable = |e: crate::kafka::AccessError| ApiError::unprocessable(e.to_string());
    let marks = source
        .watermarks(partitions.into_iter().collect(), TIMEOUT)
        .await
        .map_err(unreachable)?;
    let mut oldest = Vec::new();
    let mut newest = Vec::new();
    let mut records = BTreeMap::new();
    for (p, (low, high)) in marks {
        let next = checkpoints.get(&p).map_or(low, |c| c.next_offset.max(low));
        let left = (high - next).max(0);
        if left > 0 {
            oldest.push((p.clone(), next));
            newest.push((p.clone(), high - 1));
        }
        records.insert(p, left);
    }
    let oldest = source
        .first_timestamps(oldest, std::time::Duration::from_secs(5))
        .await
        .map_err(unreachable)?;
    let newest = source
        .first_timestamps(newest, std::time::Duration::from_secs(5))
        .await
        .map_err(unreachable)?;
    Ok(records
        .into_iter()
        .map(|(p, left)| {
            let ms = match (oldest.get(&p), newest.get(&p)) {
                (Some(first), Some(last)) => (last - first).max(0),
                _ => 0,
            };
            (p, (left, ms))
        })
        .collect())
}

/// `GET /v1/tasks/{id}/groups`: each group offset sync handles and what its last run
/// did with it.
pub async fn groups(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = app.store.get_task(&tenant, checked_id(&id)?).await?;
    let progress: OffsetProgress = app
        .store
        .progress(&task.id, "offsets")
        .await?
        .unwrap_or_default();
    let groups: Vec<Value> = progress
        .statuses
        .iter()
        .map(|(group, status)| json!({"group": group, "status": status}))
        .collect();
    Ok(Json(
        json!({"last_sync_at": progress.last_sync_at, "groups": groups}),
    ))
}
