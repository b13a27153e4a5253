//! `/v1/tasks`: create (with every check DESIGN §3/§4 asks), read, change, pause, resume,
//! delete, progress and events.

use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Tenant;
use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use super::{Services, checked_id};
use crate::lifecycle::{TaskRecord, TaskState, TaskView};
use crate::store::{Event, Level, StoreError};
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
) -> ApiResult<(StatusCode, Json<TaskView>)> {
    let spec = parse_task_spec(&body)?;
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

#[derive(Serialize, JsonSchema)]
pub struct TaskList {
    tasks: Vec<TaskView>,
}

pub async fn list(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
) -> ApiResult<Json<TaskList>> {
    let tasks = app.store.list_tasks(&tenant).await?;
    Ok(Json(TaskList {
        tasks: tasks.iter().map(TaskRecord::view).collect(),
    }))
}

pub async fn get(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskView>> {
    let task = app.store.get_task(&tenant, checked_id(&id)?).await?;
    Ok(Json(task.view()))
}

pub async fn update(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody,
) -> ApiResult<Json<TaskView>> {
    let id = checked_id(&id)?;
    // A patch that does not apply is a 400 from inside the update, before anything is written.
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
) -> ApiResult<Json<TaskView>> {
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
) -> ApiResult<Json<TaskView>> {
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
) -> ApiResult<Json<TaskView>> {
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

/// The query of `GET /v1/tasks/{id}/events`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// How many of the newest events.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 1000))]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

#[derive(Serialize, JsonSchema)]
pub struct EventList {
    /// Newest first.
    events: Vec<Event>,
}

pub async fn events(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<EventList>> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("query: {}", e.body_text())))?;
    if !(1..=1000).contains(&query.limit) {
        return Err(ApiError::bad_request("limit: must be between 1 and 1000"));
    }
    let task = app.store.get_task(&tenant, checked_id(&id)?).await?;
    let events = app.store.events(&task.id, query.limit).await?;
    Ok(Json(EventList { events }))
}
