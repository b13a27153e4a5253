//! `kafka-sync local` as a real child process: it starts on its embedded store with no
//! flags, keeps every record across a SIGKILL and restart, and never logs a password.

use harness::local::{Local, binary};
use harness::unique_name;
use serde_json::{Value, json};

#[tokio::test]
async fn restart_keeps_every_record_and_no_log_line_holds_the_password() {
    let binary = binary();
    let home = harness::scratch_dir().join(unique_name("home"));
    let log = home.with_extension("log");
    let password = std::env::var("KSYNC_SASL_PASSWORD").unwrap_or("ksync-secret".into());
    let sasl_bootstrap =
        std::env::var("KSYNC_SOURCE_SASL_BOOTSTRAP").unwrap_or("127.0.0.1:19094".into());

    let local = Local::start(&binary, &home, &log).await;
    assert!(
        home.join("store.redb").exists(),
        "the default store is the embedded file"
    );
    let mut replies = Vec::new();
    let (status, source) = local
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"name": "src", "bootstrap": sasl_bootstrap,
                "security": {"protocol": "SASL_PLAINTEXT",
                    "sasl": {"mechanism": "SCRAM-SHA-256", "username": "ksync", "password": password}}})),
        )
        .await;
    assert_eq!(status, 201, "{source}");
    replies.push(source.clone());
    let (status, wrong) = local
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"name": "bad", "bootstrap": sasl_bootstrap,
                "security": {"protocol": "SASL_PLAINTEXT",
                    "sasl": {"mechanism": "PLAIN", "username": "ksync", "password": format!("{password}-wrong")}}})),
        )
        .await;
    assert_eq!(status, 422, "{wrong}");
    replies.push(wrong);
    let (status, target) = local
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"name": "tgt", "bootstrap": harness::target().bootstrap})),
        )
        .await;
    assert_eq!(status, 201, "{target}");
    let source_id = serde_json::from_str::<Value>(&source).unwrap()["id"].clone();
    let target_id = serde_json::from_str::<Value>(&target).unwrap()["id"].clone();
    let (status, task) = local
        .call(
            "POST",
            "/v1/tasks",
            Some(
                json!({"name": "dr", "kind": "instance", "source": source_id,
                "target": target_id, "sync": "metadata+messages"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    let (_, connections_before) = local.call("GET", "/v1/connections", None).await;
    let (_, tasks_before) = local.call("GET", "/v1/tasks", None).await;
    replies.extend([connections_before.clone(), tasks_before.clone()]);
    local.kill();

    let restarted = Local::start(&binary, &home, &log).await;
    let (_, connections_after) = restarted.call("GET", "/v1/connections", None).await;
    let (_, tasks_after) = restarted.call("GET", "/v1/tasks", None).await;
    assert_eq!(connections_after, connections_before);
    assert_eq!(tasks_after, tasks_before);
    let task_id = serde_json::from_str::<Value>(&task).unwrap()["id"].clone();
    let (status, events) = restarted
        .call(
            "GET",
            &format!("/v1/tasks/{}/events", task_id.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(events.contains("task created"));
    replies.push(events);
    restarted.kill();

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("connection created"),
        "the log was captured"
    );
    for reply in &replies {
        assert!(
            !reply.contains(&password),
            "a reply holds the password: {reply}"
        );
    }
    assert!(!logged.contains(&password), "a log line holds the password");
    // The stored file holds only ciphertext.
    let stored = std::fs::read(home.join("store.redb")).unwrap();
    assert!(
        !stored
            .windows(password.len())
            .any(|w| w == password.as_bytes())
    );
}
