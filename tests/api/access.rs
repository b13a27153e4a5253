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
