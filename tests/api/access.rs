//! Who may call what: tenants, tokens, health, the OpenAPI document and quotas.

use super::*;

pub(crate) async fn tenants_are_isolated(api: Api) {
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

pub(crate) async fn auth_health_and_openapi(api: Api) {
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

pub(crate) async fn quotas(api: Api) {
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

/// Off loopback `/metrics` needs the token and shows the caller's tasks only; the
/// dashboard's page and script need none.
pub(crate) async fn metrics_and_the_dashboard(api: Api) {
    let (status, _) = api
        .with_token(None)
        .call_text("GET", "/metrics", None)
        .await;
    assert_eq!(status, 401);
    let source = api.connection(&harness::source().bootstrap).await;
    let target = api.connection(&harness::target().bootstrap).await;
    let (status, task) = api
        .call(
            "POST",
            "/v1/tasks",
            Some(
                json!({"name": unique_name("m"), "kind": "instance", "source": source,
                "target": target, "sync": "metadata", "topics": {"regex": "^none-such$"}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    let id = task["id"].as_str().unwrap();
    let (status, mine) = api.call_text("GET", "/metrics", None).await;
    assert_eq!(status, 200, "{mine}");
    assert!(
        mine.contains(&format!(r#"kafka_sync_task_info{{task="{id}""#)),
        "{mine}"
    );
    let (status, theirs) = api
        .with_token(Some(TOKEN_B))
        .call_text("GET", "/metrics", None)
        .await;
    assert_eq!(status, 200);
    assert!(!theirs.contains(id), "another tenant's task: {theirs}");
    for (path, holds) in [("/", "/dashboard.js"), ("/dashboard.js", "/v1/tasks")] {
        let (status, asset) = api.with_token(None).call_text("GET", path, None).await;
        assert_eq!(status, 200, "{path}");
        assert!(asset.contains(holds), "{path} holds {holds}");
    }
}

/// `POST /v1/processing/regex`: a pattern that yields the marked parts, and a 400 naming
/// the part that is not in the sample.
pub(crate) async fn regex_generation(api: Api) {
    let (status, body) = api
        .call(
            "POST",
            "/v1/processing/regex",
            Some(json!({"sample": "GET /a 200 12ms",
                "extract": [{"name": "path", "text": "/a"}, {"name": "status", "text": "200"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fields"], json!({"path": "/a", "status": "200"}));
    let pattern = body["pattern"].as_str().unwrap();
    let (status, tested) = api
        .call(
            "POST",
            "/v1/processing/test",
            Some(
                json!({"processing": {"parse": {"mode": "regex", "pattern": pattern}},
                "messages": [{"value": "GET /b/c 404 7ms"}]}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(
        tested["results"][0]["outputs"][0]["value"],
        json!(r#"{"path":"/b/c","status":"404"}"#)
    );
    let (status, refused) = api
        .call(
            "POST",
            "/v1/processing/regex",
            Some(json!({"sample": "GET /a 200", "extract": [{"name": "status", "text": "500"}]})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        error_message(&refused).starts_with("extract[0].text"),
        "{refused}"
    );
}
