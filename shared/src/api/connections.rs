//! `/v1/connections`: register a cluster (discovering its brokers and id), list, read,
//! delete.

use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use super::auth::Tenant;
use super::body::{JsonBody, typed};
use super::error::{ApiError, ApiResult};
use super::{Services, checked_id};
use crate::connection::{ConnectionRecord, ConnectionRequest, ConnectionView};
use crate::kafka::ClusterAccess;

/// How long a connection create may spend reaching the cluster (DESIGN: bounded at 10 s).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn create(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let request: ConnectionRequest = typed(body)?;
    request.validate()?;
    let access = ClusterAccess {
        bootstrap: request.bootstrap.clone(),
        security: request.security.clone(),
    };
    let description = tokio::time::timeout(DISCOVERY_TIMEOUT, access.describe(DISCOVERY_TIMEOUT))
        .await
        .map_err(|_| {
            ApiError::unprocessable(format!(
                "cannot reach the cluster at {} within {} s",
                request.bootstrap,
                DISCOVERY_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;

    let id = super::new_id();
    let secret_ref = match &request.security.sasl {
        Some(sasl) => Some(app.secrets.put(&tenant, &id, &sasl.password).await?),
        None => None,
    };
    let record = ConnectionRecord {
        id,
        name: request.name,
        bootstrap: request.bootstrap,
        security: request.security,
        brokers: description.brokers,
        cluster_id: description.cluster_id,
        created_at: chrono::Utc::now(),
        secret_ref,
    };
    if let Err(e) = app.store.create_connection(&tenant, &record).await {
        // Leave no orphaned secret behind a refused create.
        if let Some(secret) = &record.secret_ref {
            let _ = app.secrets.delete(secret).await;
        }
        return Err(e.into());
    }
    tracing::info!(connection = %record.id, name = %record.name, "connection created");
    Ok((StatusCode::CREATED, Json(json!(record.view()))))
}

#[derive(Serialize, JsonSchema)]
pub struct ConnectionList<'a> {
    connections: Vec<ConnectionView<'a>>,
}

pub async fn list(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
) -> ApiResult<Json<Value>> {
    let connections = app.store.list_connections(&tenant).await?;
    let list = ConnectionList {
        connections: connections.iter().map(ConnectionRecord::view).collect(),
    };
    Ok(Json(json!(list)))
}

pub async fn get(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = app.store.get_connection(&tenant, checked_id(&id)?).await?;
    Ok(Json(json!(record.view())))
}

pub async fn delete(
    State(app): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let record = app
        .store
        .delete_connection(&tenant, checked_id(&id)?)
        .await?;
    if let Some(secret) = &record.secret_ref {
        app.secrets.delete(secret).await?;
    }
    tracing::info!(connection = %record.id, "connection deleted");
    Ok(StatusCode::NO_CONTENT)
}
