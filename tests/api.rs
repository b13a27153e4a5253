//! The HTTP API over real sockets, against the real clusters, on both store backends.

use std::sync::Arc;

use harness::{StoreKind, fresh_store, unique_name};
use kafka_sync::api::{Auth, MetricsAccess, Services, router};
use kafka_sync::secrets::LocalSecrets;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use serde_json::{Value, json};

const TOKEN_A: &str = "token-a-secret";
const TOKEN_B: &str = "token-b-secret";

#[derive(Clone)]
struct Api {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Api {
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
        Api {
            base,
            token: Some(TOKEN_A.into()),
            client: reqwest::Client::new(),
        }
    }

    fn with_token(&self, token: Option<&str>) -> Api {
        Api {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        let content_type = bytes.as_ref().map(|_| "application/json");
        self.raw(method, path, content_type, bytes).await
    }

    /// Creates a connection and returns its id.
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
    let admin: AdminClient<DefaultClientContext> =
        harness::source().client_config().create().unwrap();
    let created = admin
        .create_topics(
            &[NewTopic::new(
                &topic,
                partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok));
    topic
}

fn sasl_connection(mechanism: &str, password: &str) -> Value {
    json!({
        "name": unique_name("sasl"),
        "bootstrap": std::env::var("KSYNC_SOURCE_SASL_BOOTSTRAP").unwrap_or("127.0.0.1:19094".into()),
        "security": {"protocol": "SASL_PLAINTEXT",
                     "sasl": {"mechanism": mechanism, "username": "ksync", "password": password}}
    })
}

async fn connections_lifecycle(api: Api) {
    let source = harness::source().bootstrap;
    let name = unique_name("src");
    let (status, created) = api
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"name": name, "bootstrap": source})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["name"], name.as_str());
    assert_eq!(created["brokers"], json!([source]));
    assert!(!created["cluster_id"].as_str().unwrap().is_empty());
    assert!(created["created_at"].is_string());

    let (status, read) = api
        .call("GET", &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!((status, &read), (200, &created));
    let (status, listed) = api.call("GET", "/v1/connections", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["connections"], json!([created]));

    let (status, duplicate) = api
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"name": name, "bootstrap": source})),
        )
        .await;
    assert_eq!(status, 409, "{duplicate}");

    let started = std::time::Instant::now();
    let (status, unreachable) = api
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"name": unique_name("dead"), "bootstrap": "127.0.0.1:1"})),
        )
        .await;
    assert_eq!(status, 422, "{unreachable}");
    assert!(error_message(&unreachable).contains("127.0.0.1:1"));
    assert!(started.elapsed() < std::time::Duration::from_secs(15));

    let (status, _) = api
        .call("DELETE", &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, gone) = api
        .call("GET", &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(status, 404, "{gone}");
}

async fn sasl_connections_keep_the_password_secret(api: Api) {
    let password = std::env::var("KSYNC_SASL_PASSWORD").unwrap_or("ksync-secret".into());
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let (status, created) = api
            .call(
                "POST",
                "/v1/connections",
                Some(sasl_connection(mechanism, &password)),
            )
            .await;
        assert_eq!(status, 201, "{mechanism}: {created}");
        assert!(!created.to_string().contains(&password));
        assert_eq!(created["security"]["sasl"]["username"], "ksync");

        // The stored password reaches the client: a topic task's source check logs in.
        let topic = create_source_topic(1).await;
        let target = api.connection(&harness::target().bootstrap).await;
        let (status, task) = api
            .call(
                "POST",
                "/v1/tasks",
                Some(json!({"name": unique_name("t"), "kind": "topic",
                    "source": created["id"], "source_topic": topic,
                    "target": target, "target_topic": topic})),
            )
            .await;
        assert_eq!(status, 201, "{mechanism}: {task}");
    }
    let (status, listed) = api.call("GET", "/v1/connections", None).await;
    assert_eq!(status, 200);
    assert!(!listed.to_string().contains(&password));

    let (status, refused) = api
        .call(
            "POST",
            "/v1/connections",
            Some(sasl_connection("PLAIN", "wrong-password")),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(!refused.to_string().contains("wrong-password"));
}

async fn tasks_lifecycle(api: Api) {
    let source = api.connection(&harness::source().bootstrap).await;
    let target = api.connection(&harness::target().bootstrap).await;
    let name = unique_name("dr");
    let spec = json!({"name": name, "kind": "instance", "source": source, "target": target,
        "sync": "metadata+messages+offsets", "start_offset": "earliest",
        "topics": {"all": true}, "same_partition": true});
    let (status, created) = api.call("POST", "/v1/tasks", Some(spec.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["state"], "running");
    let id = created["id"].as_str().unwrap().to_owned();
    for (field, value) in spec.as_object().unwrap() {
        assert_eq!(&created[field], value, "{field}");
    }
    let task_path = format!("/v1/tasks/{id}");

    let (status, read) = api.call("GET", &task_path, None).await;
    assert_eq!((status, &read), (200, &created));
    let (status, listed) = api.call("GET", "/v1/tasks", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 1);

    let (status, duplicate) = api.call("POST", "/v1/tasks", Some(spec.clone())).await;
    assert_eq!(status, 409, "{duplicate}");

    let renamed = unique_name("dr-renamed");
    let (status, patched) = api
        .call("PATCH", &task_path, Some(json!({"name": renamed})))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], renamed.as_str());
    let (status, refused) = api
        .call("PATCH", &task_path, Some(json!({"sync": "metadata"})))
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(error_message(&refused).contains("sync"));

    let (status, paused) = api.call("POST", &format!("{task_path}/pause"), None).await;
    assert_eq!((status, paused["state"].as_str()), (200, Some("paused")));
    let (status, resumed) = api.call("POST", &format!("{task_path}/resume"), None).await;
    assert_eq!((status, resumed["state"].as_str()), (200, Some("running")));

    let (status, events) = api.call("GET", &format!("{task_path}/events"), None).await;
    assert_eq!(status, 200);
    let messages: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.first(), Some(&"state running"), "{messages:?}");
    assert!(messages.contains(&"state paused"));
    assert_eq!(messages.last(), Some(&"task created; state running"));
    let (status, limited) = api
        .call("GET", &format!("{task_path}/events?limit=1"), None)
        .await;
    assert_eq!(
        (status, limited["events"].as_array().unwrap().len()),
        (200, 1)
    );

    let (status, progress) = api
        .call("GET", &format!("{task_path}/progress"), None)
        .await;
    assert_eq!(status, 200, "{progress}");
    assert_eq!(progress["state"], "running");

    let (status, in_use) = api
        .call("DELETE", &format!("/v1/connections/{source}"), None)
        .await;
    assert_eq!(status, 409, "{in_use}");

    let (status, _) = api.call("DELETE", &task_path, None).await;
    assert_eq!(status, 204);
    let (status, _) = api.call("GET", &task_path, None).await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call("DELETE", &format!("/v1/connections/{source}"), None)
        .await;
    assert_eq!(status, 204);
}

async fn topic_task_needs_an_existing_source_topic(api: Api) {
    let source = api.connection(&harness::source().bootstrap).await;
    let target = api.connection(&harness::target().bootstrap).await;
    let missing = unique_name("missing");
    let body = |topic: &str| {
        json!({"name": unique_name("flat"), "kind": "topic", "source": source,
            "source_topic": topic, "target": target, "target_topic": "flat",
            "start_offset": {"timestamp_ms": 1767225600000u64},
            "processing": {"parse": {"mode": "json"},
                "fields": [{"name": "id", "op": "jsonpath", "path": "$.order.id"}],
                "output": {"format": "key_value", "kv_separator": "=", "separator": "&"}},
            "on_error": {"dead_letter_topic": "flat-dlq"}})
    };
    let (status, refused) = api.call("POST", "/v1/tasks", Some(body(&missing))).await;
    assert_eq!(status, 422, "{refused}");
    assert!(error_message(&refused).contains(&missing));

    let topic = create_source_topic(3).await;
    let (status, created) = api.call("POST", "/v1/tasks", Some(body(&topic))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["on_error"],
        json!({"dead_letter_topic": "flat-dlq"})
    );

    let (status, patched) = api
        .call(
            "PATCH",
            &format!("/v1/tasks/{}", created["id"].as_str().unwrap()),
            Some(json!({"on_error": "discard"})),
        )
        .await;
    assert_eq!((status, &patched["on_error"]), (200, &json!("discard")));
}

async fn tenants_are_isolated(api: Api) {
    let a = api.connection(&harness::source().bootstrap).await;
    let b = api.with_token(Some(TOKEN_B));
    let (status, _) = b.call("GET", &format!("/v1/connections/{a}"), None).await;
    assert_eq!(status, 404);
    let (status, listed) = b.call("GET", "/v1/connections", None).await;
    assert_eq!((status, listed["connections"].clone()), (200, json!([])));
    let (status, _) = b
        .call("DELETE", &format!("/v1/connections/{a}"), None)
        .await;
    assert_eq!(status, 404);
    // B cannot build a task on A's connection either.
    let target = b.connection(&harness::target().bootstrap).await;
    let (status, refused) = b
        .call(
            "POST",
            "/v1/tasks",
            Some(
                json!({"name": "x", "kind": "instance", "source": a, "target": target,
                "sync": "metadata"}),
            ),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(error_message(&refused).contains("source"));
}

async fn auth_health_and_openapi(api: Api) {
    let (status, missing) = api
        .with_token(None)
        .call("GET", "/v1/connections", None)
        .await;
    assert_eq!(status, 401, "{missing}");
    let (status, _) = api
        .with_token(Some("not-a-token"))
        .call("GET", "/v1/tasks", None)
        .await;
    assert_eq!(status, 401);
    let (status, health) = api.with_token(None).call("GET", "/healthz", None).await;
    assert_eq!((status, health), (200, json!("ok")));
    let (status, document) = api.call("GET", "/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    for (path, method) in [
        ("/v1/connections", "post"),
        ("/v1/connections/{id}", "delete"),
        ("/v1/tasks/{id}", "patch"),
        ("/v1/tasks/{id}/pause", "post"),
        ("/v1/tasks/{id}/resume", "post"),
        ("/v1/tasks/{id}/progress", "get"),
        ("/v1/tasks/{id}/events", "get"),
        ("/v1/processing/test", "post"),
    ] {
        assert!(
            document["paths"][path][method].is_object(),
            "{method} {path}"
        );
    }
}

async fn quotas(api: Api) {
    let bootstrap = harness::source().bootstrap;
    let mut ids = Vec::new();
    for n in 0..150 {
        let (status, body) = api
            .call(
                "POST",
                "/v1/connections",
                Some(json!({"name": format!("c{n}"), "bootstrap": bootstrap})),
            )
            .await;
        assert_eq!(status, 201, "{n}: {body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (status, over) = api
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"name": "c150", "bootstrap": bootstrap})),
        )
        .await;
    assert_eq!(status, 429, "{over}");

    for n in 0..150 {
        let (status, body) = api
            .call(
                "POST",
                "/v1/tasks",
                Some(json!({"name": format!("t{n}"), "kind": "instance",
                    "source": ids[0], "target": ids[1], "sync": "metadata"})),
            )
            .await;
        assert_eq!(status, 201, "{n}: {body}");
    }
    let (status, over) = api
        .call(
            "POST",
            "/v1/tasks",
            Some(json!({"name": "t150", "kind": "instance", "source": ids[0],
                "target": ids[1], "sync": "metadata"})),
        )
        .await;
    assert_eq!(status, 429, "{over}");
    // The other tenant is not limited by this one.
    let (status, _) = api
        .with_token(Some(TOKEN_B))
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"name": "c0", "bootstrap": bootstrap})),
        )
        .await;
    assert_eq!(status, 201);
}

/// At least 30 bad requests: each a 4xx whose message names the problem, never a 5xx.
async fn bad_requests_are_named_4xx(api: Api) {
    let source = api.connection(&harness::source().bootstrap).await;
    let target = api.connection(&harness::target().bootstrap).await;
    let instance = |extra: Value| {
        let mut body = json!({"name": "ok", "kind": "instance", "source": source,
            "target": target, "sync": "metadata+messages"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let topic = |processing: Value| {
        json!({"name": "ok", "kind": "topic", "source": source, "source_topic": "in",
            "target": target, "target_topic": "out", "processing": processing})
    };
    let long_name = "n".repeat(129);
    let json_body = |v: Value| Some(serde_json::to_vec(&v).unwrap());
    // (method, path, content type, body, expected status, text the message must hold)
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<Vec<u8>>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            Some(b"{not json".to_vec()),
            400,
            "not valid JSON",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            Some(b"[1,2]".to_vec()),
            400,
            "JSON object",
        ),
        (
            "POST",
            "/v1/connections",
            Some("text/plain"),
            json_body(json!({"name": "a", "bootstrap": "h:1"})),
            415,
            "Content-Type",
        ),
        (
            "POST",
            "/v1/connections",
            None,
            json_body(json!({"name": "a", "bootstrap": "h:1"})),
            415,
            "Content-Type",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            Some(vec![b' '; 5 * 1024 * 1024]),
            413,
            "exceeds",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"bootstrap": "h:1"})),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": "a"})),
            400,
            "bootstrap",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": 7, "bootstrap": "h:1"})),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": "a", "bootstrap": "h:1", "colour": 1})),
            400,
            "colour",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": "a b", "bootstrap": "h:1"})),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": "a", "bootstrap": "nohost"})),
            400,
            "bootstrap",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(json!({"name": "a", "bootstrap": "h:1", "security": {"protocol": "TLS"}})),
            400,
            "protocol",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(
                json!({"name": "a", "bootstrap": "h:1", "security": {"protocol": "SASL_SSL"}}),
            ),
            400,
            "security.sasl",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(
                json!({"name": "a", "bootstrap": "h:1", "security": {"protocol": "SASL_SSL", "sasl": {"mechanism": "MD5", "username": "u", "password": "p"}}}),
            ),
            400,
            "mechanism",
        ),
        (
            "POST",
            "/v1/connections",
            Some("application/json"),
            json_body(
                json!({"name": "a", "bootstrap": "h:1", "security": {"protocol": "PLAINTEXT", "ca_pem": "x"}}),
            ),
            400,
            "ca_pem",
        ),
        ("GET", "/v1/connections/not-an-id", None, None, 400, "id"),
        ("DELETE", "/v1/connections/ZZZ", None, None, 400, "id"),
        (
            "GET",
            "/v1/connections/0123456789abcdef0123456789abcdef",
            None,
            None,
            404,
            "not found",
        ),
        ("GET", "/v1/tasks/xyz", None, None, 400, "id"),
        ("POST", "/v1/tasks/xyz/pause", None, None, 400, "id"),
        (
            "GET",
            "/v1/tasks/0123456789abcdef0123456789abcdef/events?limit=0",
            None,
            None,
            400,
            "limit",
        ),
        (
            "GET",
            "/v1/tasks/0123456789abcdef0123456789abcdef/events?limit=abc",
            None,
            None,
            400,
            "limit",
        ),
        (
            "GET",
            "/v1/nothing-here",
            None,
            None,
            404,
            "no such endpoint",
        ),
        ("PUT", "/v1/connections", None, None, 405, "method"),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"kind": "cluster"}))),
            400,
            "kind",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"name": null}))),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"name": "has space"}))),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"name": long_name}))),
            400,
            "name",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"sync": "everything"}))),
            400,
            "sync",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"same_partition": "yes"}))),
            400,
            "same_partition",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"start_offset": "middle"}))),
            400,
            "start_offset",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"topics": {"regex": "("}}))),
            400,
            "topics.regex",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(
                json!({"sync": "metadata+messages+offsets", "topics": {"regex": "^a"}}),
            )),
            400,
            "sync",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(
                json!({"sync": "metadata+messages+offsets", "same_partition": false}),
            )),
            400,
            "sync",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(
                json!({"source": "0123456789abcdef0123456789abcdef"}),
            )),
            400,
            "source",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(instance(json!({"extra": true}))),
            400,
            "extra",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(topic(json!({"parse": {"mode": "xml"}}))),
            400,
            "processing.parse.mode",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(topic(
                json!({"parse": {"mode": "json"}, "fields": [{"name": "a", "op": "upper"}]}),
            )),
            400,
            "processing.fields[0].op",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(topic(
                json!({"parse": {"mode": "json"}, "output": {"format": "key_value", "kv_separator": "", "separator": "&"}}),
            )),
            400,
            "kv_separator",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(topic(
                json!({"parse": {"mode": "json"}, "fields": [{"name": "a", "op": "jsonpath", "path": "$[?("}]}),
            )),
            400,
            "processing.fields[0].path",
        ),
        (
            "POST",
            "/v1/tasks",
            Some("application/json"),
            json_body(topic(
                json!({"parse": {"mode": "regex", "pattern": "(unclosed"}}),
            )),
            400,
            "processing.parse.pattern",
        ),
        (
            "PATCH",
            "/v1/tasks/0123456789abcdef0123456789abcdef",
            Some("application/json"),
            Some(b"nope".to_vec()),
            400,
            "not valid JSON",
        ),
    ];
    assert!(cases.len() >= 30);
    for (method, path, content_type, body, want_status, want_text) in cases {
        let (status, reply) = api.raw(method, path, content_type, body).await;
        let message = error_message(&reply);
        assert!(status < 500, "{method} {path}: {status} {reply}");
        assert_eq!(status, want_status, "{method} {path}: {reply}");
        assert!(
            message.to_lowercase().contains(&want_text.to_lowercase()),
            "{method} {path}: {message:?} should mention {want_text:?}"
        );
    }
}

/// Input too big for a store item or key is refused before the store, as a 400 that
/// names the field, and never as the backend's own error.
async fn oversized_input_is_a_400_naming_the_field(api: Api) {
    let source = api.connection(&harness::source().bootstrap).await;
    let target = api.connection(&harness::target().bootstrap).await;
    let topic_task = json!({"name": unique_name("big"), "kind": "topic", "source": source,
        "source_topic": "in", "target": target, "target_topic": "out"});
    let mut long_source = topic_task.clone();
    long_source["source"] = json!("s".repeat(1100));
    let mut big_processing = topic_task;
    big_processing["processing"] = json!({"parse": {"mode": "json"},
        "fields": [{"name": "big", "op": "custom", "value": "v".repeat(300 * 1024)}]});
    let long_bootstrap =
        json!({"name": unique_name("c"), "bootstrap": format!("{}:9092", "h".repeat(5000))});
    for (path, body, field) in [
        ("/v1/tasks", long_source, "source"),
        ("/v1/tasks", big_processing, "processing"),
        ("/v1/connections", long_bootstrap, "bootstrap"),
    ] {
        let (status, reply) = api.call("POST", path, Some(body)).await;
        assert_eq!(status, 400, "{field}: {reply}");
        let message = error_message(&reply);
        assert!(message.starts_with(&format!("{field}: ")), "{message}");
        assert!(!message.contains("ValidationException"), "{message}");
    }
}

macro_rules! api_tests {
    ($backend:ident, $kind:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn connections_lifecycle() {
                super::connections_lifecycle(Api::start($kind).await).await;
            }
            #[tokio::test]
            async fn sasl_connections_keep_the_password_secret() {
                super::sasl_connections_keep_the_password_secret(Api::start($kind).await).await;
            }
            #[tokio::test]
            async fn tasks_lifecycle() {
                super::tasks_lifecycle(Api::start($kind).await).await;
            }
            #[tokio::test]
            async fn topic_task_needs_an_existing_source_topic() {
                super::topic_task_needs_an_existing_source_topic(Api::start($kind).await).await;
            }
            #[tokio::test]
            async fn tenants_are_isolated() {
                super::tenants_are_isolated(Api::start($kind).await).await;
            }
            #[tokio::test]
            async fn auth_health_and_openapi() {
                super::auth_health_and_openapi(Api::start($kind).await).await;
            }
            #[tokio::test]
            async fn quotas() {
                super::quotas(Api::start($kind).await).await;
            }
            #[tokio::test]
            async fn bad_requests_are_named_4xx() {
                super::bad_requests_are_named_4xx(Api::start($kind).await).await;
            }
            #[tokio::test]
            async fn oversized_input_is_a_400_naming_the_field() {
                super::oversized_input_is_a_400_naming_the_field(Api::start($kind).await).await;
            }
        }
    };
}

api_tests!(embedded, StoreKind::Embedded);
api_tests!(dynamodb, StoreKind::DynamoDb);

/// The Lambda path: a synthetic API Gateway (HTTP API, IAM auth) event through the same
/// router; the tenant is the IAM caller.
#[tokio::test]
async fn lambda_tenant_is_the_iam_caller() {
    use tower::ServiceExt;
    let state = Services {
        store: fresh_store(StoreKind::Embedded).await,
        secrets: Arc::new(LocalSecrets::from_key(&rand_key())),
    };
    let app = router(state, Auth::Iam, MetricsAccess::Authenticated);
    let event = |caller: Option<&str>, method: &str, path: &str, body: Option<Value>| {
        let mut context = json!({
            "accountId": "123456789012", "apiId": "api", "domainName": "x.execute-api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "25/Nov/2026:12:00:00 +0000", "timeEpoch": 0
        });
        if let Some(arn) = caller {
            context["authorizer"] = json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012",
                "callerId": "AIDA", "userArn": arn, "userId": "AIDA"}});
        }
        let event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": context,
            "body": body.map(|b| b.to_string()), "isBase64Encoded": false
        });
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

#[tokio::test]
async fn the_processing_test_endpoint_runs_a_config_on_samples() {
    let api = Api::start(StoreKind::Embedded).await;
    let (status, reply) = api
        .call(
            "POST",
            "/v1/processing/test",
            Some(json!({
                "processing": {"parse": {"mode": "json"},
                    "fields": [{"name": "id", "op": "jsonpath", "path": "$.order.id"},
                               {"name": "who", "op": "mapping", "from": "user"},
                               {"name": "region", "op": "custom", "value": "eu"}],
                    "output": {"format": "key_value", "kv_separator": "=", "separator": "&"}},
                "messages": [
                    {"key": "k1", "value": "{\"order\": {\"id\": 7}, \"user\": \"ann\"}"},
                    {"value": "not json"},
                    {"key": "k3", "value": "{\"order\": {\"id\": 9}}"}
                ]
            })),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let results = reply["results"].as_array().unwrap();
    assert_eq!(
        results[0],
        json!({"ok": true, "outputs": [{"key": "k1", "value": "id=7&who=ann&region=eu"}]})
    );
    assert_eq!(results[1]["ok"], false);
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid_json")
    );
    assert_eq!(results[2]["ok"], false);
    assert!(results[2]["error"].as_str().unwrap().contains("user"));

    let (status, bad) = api
        .call(
            "POST",
            "/v1/processing/test",
            Some(json!({"processing": {"parse": {"mode": "xml"}}, "messages": []})),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert!(error_message(&bad).contains("processing.parse.mode"));
}
