//! Who is calling. In AWS the HTTP API is IAM-authorized and the tenant is the caller's
//! IAM identity; locally each bearer token is a tenant of its own.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use sha2::{Digest, Sha256};

use super::error::ApiError;

#[derive(Clone, Debug)]
pub enum Auth {
    /// The tenant is the IAM principal API Gateway verified.
    Iam,
    /// `Authorization: Bearer <token>` with one of these tokens.
    Bearer(Vec<String>),
}

/// The caller's tenant, placed in the request's extensions by [`authenticate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant(pub String);

impl Auth {
    fn tenant(&self, request: &Request) -> Result<Tenant, ApiError> {
        match self {
            Auth::Iam => iam_caller(request).map(Tenant).ok_or_else(|| {
                unauthorized("the request carries no IAM identity (call the API with SigV4)")
            }),
            Auth::Bearer(tokens) => {
                let presented = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .ok_or_else(|| unauthorized("missing Authorization: Bearer <token>"))?;
                tokens
                    .iter()
                    .find(|t| constant_time_eq(t.as_bytes(), presented.trim().as_bytes()))
                    .map(|t| Tenant(token_tenant(t)))
                    .ok_or_else(|| unauthorized("the bearer token is not valid"))
            }
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// A stable tenant id for a token that does not reveal it.
fn token_tenant(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("token-{hex}")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn iam_caller(request: &Request) -> Option<String> {
    match request.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(context) => {
            let iam = context.authorizer.as_ref()?.iam.as_ref()?;
            iam.user_arn.clone().or_else(|| iam.caller_id.clone())
        }
        _ => None,
    }
}

/// Middleware: rejects unauthenticated calls, else records the tenant for handlers.
pub async fn authenticate(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    match auth.tenant(&request) {
        Ok(tenant) => {
            request.extensions_mut().insert(tenant);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_token_is_its_own_tenant_and_is_not_revealed() {
        let a = token_tenant("alpha-token");
        assert_ne!(a, token_tenant("beta-token"));
        assert_eq!(a, token_tenant("alpha-token"));
        assert!(!a.contains("alpha"));
    }
}
