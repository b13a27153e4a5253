//! `/v1/connections`: create, read, update, delete, and SASL passwords kept secret.

use super::*;

pub(crate) async fn connections_lifecycle(api: Api) {
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

pub(crate) async fn sasl_connections_keep_the_password_secret(api: Api) {
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

fn sasl_connection(mechanism: &str, password: &str) -> Value {
    json!({
        "name": unique_name("sasl"),
        "bootstrap": std::env::var("KSYNC_SOURCE_SASL_BOOTSTRAP").unwrap_or("127.0.0.1:19094".into()),
        "security": {"protocol": "SASL_PLAINTEXT",
                     "sasl": {"mechanism": mechanism, "username": "ksync", "password": password}}
    })
}
