//! The HTTP API over real sockets, against the real clusters, on both store backends:
//! one module per resource, in one test binary (each binary links librdkafka).

mod access;
mod bad_requests;
mod connections;
mod lambda;
mod processing;
mod tasks;

use std::sync::Arc;

use harness::http::Client;
use harness::records::create_topic;
use harness::{StoreKind, fresh_store, unique_name};
use kafka_sync::api::{Auth, MetricsAccess, Services, router};
use kafka_sync::secrets::LocalSecrets;
use serde_json::{Value, json};

const TOKEN_A: &str = "token-a-secret";
const TOKEN_B: &str = "token-b-secret";

/// A client of the router under test, with tenant A's token.
type Api = Client;

/// The shared router on a real TCP port, over a fresh store of `kind`.
async fn start(kind: StoreKind) -> Api {
    let state = Services {
        store: fresh_store(kind).await,
        secrets: Arc::new(LocalSecrets::from_key(&rand_key())),
    };
    let app = router(
        state,
        Auth::Bearer(vec![TOKEN_A.into(), TOKEN_B.into()]),
        MetricsAccess::Authenticated,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Client::new(base, Some(TOKEN_A))
}

/// What most tests need first.
trait Connections {
    /// Creates a connection and returns its id.
    async fn connection(&self, bootstrap: &str) -> String;
}

impl Connections for Api {
    async fn connection(&self, bootstrap: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/v1/connections",
                Some(json!({"name": unique_name("c"), "bootstrap": bootstrap})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }
}

fn rand_key() -> [u8; 32] {
    *uuid::Uuid::new_v4()
        .as_bytes()
        .repeat(2)
        .first_chunk()
        .unwrap()
}

fn error_message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn create_source_topic(partitions: i32) -> String {
    let topic = unique_name("api-topic");
    create_topic(&harness::source(), &topic, partitions).await;
    topic
}

macro_rules! api_tests {
    ($backend:ident, $kind:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn connections_lifecycle() {
                crate::connections::connections_lifecycle(start($kind).await).await;
            }
            #[tokio::test]
            async fn sasl_connections_keep_the_password_secret() {
                crate::connections::sasl_connections_keep_the_password_secret(start($kind).await)
                    .await;
            }
            #[tokio::test]
            async fn tasks_lifecycle() {
                crate::tasks::tasks_lifecycle(start($kind).await).await;
            }
            #[tokio::test]
            async fn topic_task_needs_an_existing_source_topic() {
                crate::tasks::topic_task_needs_an_existing_source_topic(start($kind).await).await;
            }
            #[tokio::test]
            async fn tenants_are_isolated() {
                crate::access::tenants_are_isolated(start($kind).await).await;
            }
            #[tokio::test]
            async fn auth_health_and_openapi() {
                crate::access::auth_health_and_openapi(start($kind).await).await;
            }
            #[tokio::test]
            async fn metrics_and_the_dashboard() {
                crate::access::metrics_and_the_dashboard(start($kind).await).await;
            }
            #[tokio::test]
            async fn regex_generation() {
                crate::access::regex_generation(start($kind).await).await;
            }
            #[tokio::test]
            async fn quotas() {
                crate::access::quotas(start($kind).await).await;
            }
            #[tokio::test]
            async fn bad_requests_are_named_4xx() {
                crate::bad_requests::bad_requests_are_named_4xx(start($kind).await).await;
            }
            #[tokio::test]
            async fn oversized_input_is_a_400_naming_the_field() {
                crate::bad_requests::oversized_input_is_a_400_naming_the_field(start($kind).await)
                    .await;
            }
        }
    };
}

api_tests!(embedded, StoreKind::Embedded);
api_tests!(dynamodb, StoreKind::DynamoDb);
