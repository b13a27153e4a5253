//! The HTTP API of DESIGN §5 as one axum router: `functions/api` serves it through
//! `lambda_http`, `kafka-sync local` through a TCP listener. Only the trigger differs.

mod auth;
mod body;
mod connections;
mod dashboard;
mod error;
mod failover;
mod metrics;
mod openapi;
mod processing;
mod routes;
mod tasks;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

pub use auth::{Auth, Tenant};
pub use body::MAX_BODY_BYTES;
pub use error::{ApiError, ApiResult};
pub use metrics::MetricsAccess;

pub use crate::services::Services;

/// The whole API. `/healthz` and the dashboard's assets are open; `/metrics` is open
/// when `metrics` says so; everything else needs `auth`.
pub fn router(state: Services, auth: Auth, metrics: MetricsAccess) -> Router {
    let mut authenticated = routes::routes()
        .into_iter()
        .fold(Router::new(), |router, route| {
            router.route(route.path, route.handler)
        })
        .route("/v1/openapi.json", get(openapi::document));
    let mut open = Router::new().route("/healthz", get(|| async { "ok" }));
    match metrics {
        MetricsAccess::Open => open = open.route("/metrics", get(metrics::open)),
        MetricsAccess::Authenticated => {
            authenticated = authenticated.route("/metrics", get(metrics::tenant))
        }
    }
    let authenticated = authenticated
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::authenticate,
        ))
        .with_state(state.clone());
    open.with_state(state)
        .merge(dashboard::routes())
        .merge(authenticated)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not accept that method",
            )
        })
}

/// A fresh record id: 32 lowercase hex digits.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// An id from a path, checked for shape so a typo is a 400 rather than a 404.
pub(crate) fn checked_id(id: &str) -> ApiResult<&str> {
    if id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(id)
    } else {
        Err(ApiError::bad_request(format!(
            "id: {id:?} is not a kafka-sync id (32 lowercase hex digits)"
        )))
    }
}
