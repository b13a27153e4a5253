//! `/v1/tasks`: create (with every check DESIGN §3/§4 asks), read, change, pause, resume,
//! delete, progress and events; and `/v1/processing/test`.

use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Tenant;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::{Services, checked_id};
use crate::lifecycle::{TaskRecord, TaskState};
use crate::processing::{self, ProcessingConfig, from_json};
use crate::store::{Level, StoreError};
use crate::task::{TaskSpec, apply_patch, parse_task_spec};
use crate::topology::initial_checkpoints;

/// How long a task create may spend asking the source cluster about its topic.
const TOPIC_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

impl Services {
    async fn state_event(&self, task: &TaskRecord, message: String) {
        if let Err(e) = self
            .store
            .add_event(&task.id, Level::Info, "state", &message)
            .await
        {
            tracing::warn!(task = %task.id, error = %e, "could not record an event");
        }
    }
}

/// The checks that need the outside world: the connections exist, and a topic-level
/// task's source topic exists on its cluster.
async fn check_references(app: &Services, tenant: &str, spec: &TaskSpec) -> ApiResult<()> {
    for (field, id) in ["source", "target"].into_iter().zip(spec.connection_ids()) {
        match app.store.get_connection(tenant, id).await {
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => {
                return Err(ApiError::bad_request(format!(
                    "{field}: no connection with id {id:?}"
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let TaskSpec::Topic(topic) = spec {
        let access = app.access(tenant, &topic.source).await?;
        let partitions = access
            .topic_partition_count(&topic.source_topic, TOPIC_CHECK_TIMEOUT)
            .await
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
        if partitions.is_none() {
            return Err(ApiError::unprocessable(format!(
                "source_topic: topic {:?} does not exist on the source cluster",
                topic.source_topic
            )));
        }
    }
    Ok(())
}

pub async fn create(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let spec = parse_task_spec(&body)?;
    spec.validate()?;
    check_references(&app, &tenant, &spec).await?;
    let record = TaskRecord::new(super::new_id(), spec);
    // Start positions land before the task exists, so no worker can start without them.
    let source = app.access(&tenant, record.spec.connection_ids()[0]).await?;
    let positions = initial_checkpoints(&source, &record.spec)
        .await
        .map_err(|e| ApiError::unprocessable(format!("cannot read the source's offsets: {e}")))?;
    app.store.seed_checkpoints(&record.id, &positions).await?;
    app.store.create_task(&tenant, &record).await?;
    app.state_event(
        &record,
        format!("task created; state {}", record.state.as_str()),
    )
    .await;
    tracing::info!(task = %record.id, "task created");
    Ok((StatusCode::CREATED, Json(record.view())))
}

pub async fn list(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
) -> ApiResult<Json<Value>> {
    let tasks = app.store.list_tasks(&tenant).await?;
    let views: Vec<Value> = tasks.iter().map(TaskRecord::view).collect();
    Ok(Json(json!({ "tasks": views })))
}

pub async fn get(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = app.store.get_task(&tenant, checked_id(&id)?).await?;
    Ok(Json(task.view()))
}

pub async fn update(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody,
) -> ApiResult<Json<Value>> {
    let id = checked_id(&id)?;
    // Check the patch against the current spec first, so bad input is a 400 before any write.
    let current = app.store.get_task(&tenant, id).await?;
    apply_patch(&current.spec, &patch)?;
    let updated = app
        .store
        .update_task(&tenant, id, |task| {
            Ok(task.with_spec(apply_patch(&task.spec, &patch)?))
        })
        .await?;
    app.state_event(&updated, "task settings changed".into())
        .await;
    Ok(Json(updated.view()))
}

/// Moves a task to `to` from one of `from`; anything else is a 409 naming the state.
async fn transition(
    app: &Services,
    tenant: &str,
    id: &str,
    from: &[TaskState],
    to: TaskState,
) -> ApiResult<Json<Value>> {
    let id = checked_id(id)?;
    let updated = app
        .store
        .update_task(tenant, id, |task| {
            if task.state == to || from.contains(&task.state) {
                Ok(task.with_state(to, None))
            } else {
                Err(StoreError::InUse(format!(
                    "task {id} is {} and cannot become {}",
                    task.state.as_str(),
                    to.as_str()
                )))
            }
        })
        .await?;
    app.state_event(&updated, format!("state {}", to.as_str()))
        .await;
    Ok(Json(updated.view()))
}

pub async fn pause(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    transition(
        &app,
        &tenant,
        &id,
        &[TaskState::Running, TaskState::Failed],
        TaskState::Paused,
    )
    .await
}

pub async fn resume(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    transition(
        &app,
        &tenant,
        &id,
        &[TaskState::Paused, TaskState::Failed],
        TaskState::Running,
    )
    .await
}

pub async fn delete(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.store.delete_task(&tenant, checked_id(&id)?).await?;
    tracing::info!(task = %id, "task deleted");
    Ok(StatusCode::NO_CONTENT)
}

pub async fn progress(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = app.store.get_task(&tenant, checked_id(&id)?).await?;
    Ok(Json(crate::progress::progress(&app, &tenant, &task).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    limit: Option<usize>,
}

pub async fn events(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("query: {}", e.body_text())))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit: must be between 1 and 1000"));
    }
    let task = app.store.get_task(&tenant, checked_id(&id)?).await?;
    let events = app.store.events(&task.id, limit).await?;
    Ok(Json(json!({ "events": events })))
}

/// The most sample messages one processing test takes.
const MAX_TEST_MESSAGES: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestMessage {
    #[serde(default)]
    key: Option<String>,
    value: Option<String>,
}

/// `POST /v1/processing/test`: runs a processing config on sample messages, without a
/// task, and returns each one's outputs or error.
pub async fn processing_test(JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    let fields = body.as_object().expect("JsonBody holds an object");
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["processing", "messages"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "{unknown}: unknown field; expected processing, messages"
        )));
    }
    let config: ProcessingConfig = from_json(
        fields
            .get("processing")
            .ok_or_else(|| ApiError::bad_request("processing: required field is missing"))?,
        "processing",
    )?;
    let compiled = processing::compile(&config, "processing")?;
    let messages: Vec<TestMessage> = from_json(
        fields
            .get("messages")
            .ok_or_else(|| ApiError::bad_request("messages: required field is missing"))?,
        "messages",
    )?;
    if messages.len() > MAX_TEST_MESSAGES {
        return Err(ApiError::bad_request(format!(
            "messages: at most {MAX_TEST_MESSAGES} messages per test"
        )));
    }
    let now = crate::store::now_ms();
    let results: Vec<Value> = messages
        .iter()
        .map(|m| {
            match compiled.run(
                m.key.as_deref().map(str::as_bytes),
                m.value.as_deref().map(str::as_bytes),
                now,
            ) {
                Ok(outputs) => json!({"ok": true, "outputs": outputs.iter().map(|o| json!({
                "key": o.key.as_deref().map(String::from_utf8_lossy),
                "value": String::from_utf8_lossy(&o.value),
            })).collect::<Vec<_>>()}),
                Err(e) => json!({"ok": false, "error": format!("{}: {}", e.kind, e.reason)}),
            }
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}
