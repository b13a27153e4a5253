//! The API's one error shape: `{"error": {"code", "message"}}` with the status of DESIGN §5.
//!
//! A 500 says only that something failed inside: what the backend said (a DynamoDB
//! request id, a table name, a secret's ARN) is for the service log, never for the caller.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::secrets::SecretError;
use crate::store::StoreError;
use crate::validation::FieldError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// A failure inside the service. `cause` is logged, and not answered.
    pub fn internal(what: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{what}; the service log has the details"),
        )
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::bad_request(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::NotFound(_) => Self::not_found(message),
            StoreError::Duplicate(_) | StoreError::InUse(_) | StoreError::Fenced { .. } => {
                Self::conflict(message)
            }
            StoreError::Invalid(_) => Self::bad_request(message),
            StoreError::Quota(_) => Self::new(StatusCode::TOO_MANY_REQUESTS, "quota", message),
            StoreError::Contention => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "contention", message)
            }
            StoreError::Backend(_) | StoreError::Corrupt(_) => {
                Self::internal("store failure", &message)
            }
        }
    }
}

impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> Self {
        Self::internal("secret store failure", &e)
    }
}

impl From<crate::services::AccessLookupError> for ApiError {
    fn from(e: crate::services::AccessLookupError) -> Self {
        match e {
            crate::services::AccessLookupError::Store(e) => e.into(),
            crate::services::AccessLookupError::Secret(e) => e.into(),
        }
    }
}

/// The body of every error answer.
#[derive(Serialize, JsonSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, JsonSchema)]
struct ErrorDetail {
    /// Stable, for programs: `bad_request`, `not_found`, `conflict`, ….
    code: &'static str,
    /// For people; a 400 names the offending field first (`processing.parse.mode: …`).
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
