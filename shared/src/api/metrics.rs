//! `GET /metrics`: the Prometheus exposition ([`crate::metrics`]). A listener bound to
//! loopback answers it without a token, for every tenant's tasks, so a Prometheus on the
//! same host scrapes with no secret in its config; anywhere else it needs the API's
//! authentication and covers the caller's tasks only.

use axum::extract::{Extension, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::Services;
use super::auth::Tenant;
use super::error::ApiResult;
use crate::metrics::{CONTENT_TYPE, Scope, render};

/// Who may scrape `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone who can connect: the listener is on loopback.
    Open,
    /// Only authenticated callers, each for their own tasks.
    Authenticated,
}

async fn exposition(services: &Services, scope: Scope) -> ApiResult<Response> {
    let text = render(services, &scope).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// Every tenant's tasks.
pub async fn open(State(services): State<Services>) -> ApiResult<Response> {
    exposition(&services, Scope::All).await
}

/// The caller's tasks.
pub async fn tenant(
    State(services): State<Services>,
    Extension(Tenant(tenant)): Extension<Tenant>,
) -> ApiResult<Response> {
    exposition(&services, Scope::Tenant(tenant)).await
}
