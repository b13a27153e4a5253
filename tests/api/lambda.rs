//! The Lambda path: the router behind API Gateway (HTTP API, IAM auth).

use super::*;

/// An API Gateway HTTP API event, as IAM auth delivers it; each request sets its method,
/// path, body and caller.
const EVENT: &str = include_str!("../fixtures/apigw-http-iam-event.json");

/// A synthetic event through the same router: the tenant is the IAM caller.
#[tokio::test]
async fn lambda_tenant_is_the_iam_caller() {
    use tower::ServiceExt;
    let state = Services {
        store: fresh_store(StoreKind::Embedded).await,
        secrets: Arc::new(LocalSecrets::from_key(&rand_key())),
    };
    let app = router(state, Auth::Iam, MetricsAccess::Authenticated);
    let event = |caller: Option<&str>, method: &str, path: &str, body: Option<Value>| {
        let mut event: Value = serde_json::from_str(EVENT).unwrap();
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["method"] = json!(method);
        event["requestContext"]["http"]["path"] = json!(path);
        event["body"] = json!(body.map(|b| b.to_string()));
        let context = event["requestContext"].as_object_mut().unwrap();
        match caller {
            Some(arn) => context["authorizer"]["iam"]["userArn"] = json!(arn),
            None => {
                context.remove("authorizer");
            }
        }
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    let send = |request: lambda_http::Request| {
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let alice = Some("arn:aws:iam::123456789012:user/alice");
    let bob = Some("arn:aws:iam::123456789012:user/bob");
    let (status, created) = send(event(
        alice,
        "POST",
        "/v1/connections",
        Some(json!({"name": "src", "bootstrap": harness::source().bootstrap})),
    ))
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, mine) = send(event(alice, "GET", "/v1/connections", None)).await;
    assert_eq!(
        (status, mine["connections"].as_array().unwrap().len()),
        (200, 1)
    );
    let (status, theirs) = send(event(bob, "GET", "/v1/connections", None)).await;
    assert_eq!((status, theirs["connections"].clone()), (200, json!([])));
    let (status, _) = send(event(None, "GET", "/v1/connections", None)).await;
    assert_eq!(status, 401);
}
