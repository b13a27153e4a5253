//! What an operator sees, end to end against `kafka-sync local` on the two real clusters:
//! `/metrics` while a task copies, and the dashboard in a real browser (Debian's chromium
//! driven by playwright: tests/dashboard.py), which leaves a screenshot at
//! `$CARGO_TARGET_TMPDIR/dashboard.png`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::copies::create_instance_task;
use harness::local::{Local, TOKEN, binary};
use harness::records::{create_topic, produce};
use harness::{scratch_dir, unique_name};
use serde_json::json;

async fn start(prefix: &str) -> Local {
    let home = scratch_dir().join(unique_name(prefix));
    Local::start_logging(&binary(), &home, &home.with_extension("log"), &[], "info").await
}

/// `/metrics` without a token (the listener is on loopback).
async fn scrape(local: &Local) -> String {
    let response = reqwest::get(format!("{}/metrics", local.base))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the sample `series` (name and labels exactly), if there is one.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

#[tokio::test]
async fn metrics_count_what_a_task_copies_and_its_lag_falls_to_zero() {
    let local = start("metrics").await;
    let topic = unique_name("metrics");
    create_topic(&harness::source(), &topic, 3).await;
    produce(&harness::source(), &topic, 3, 0, 300, 100).await;
    let task = create_instance_task(&local, &format!("^{topic}$"), "earliest").await;

    let deadline = Instant::now() + Duration::from_secs(90);
    let labels = format!(r#"task="{task}",topic="{topic}""#);
    let text = loop {
        let text = scrape(&local).await;
        let copied = sample(
            &text,
            &format!("kafka_sync_records_copied_total{{{labels}}}"),
        );
        let lags: Vec<f64> = (0..3)
            .filter_map(|p| {
                sample(
                    &text,
                    &format!(r#"kafka_sync_lag_records{{{labels},partition="{p}"}}"#),
                )
            })
            .collect();
        if copied == Some(300.0) && lags == [0.0, 0.0, 0.0] {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "never copied everything:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        sample(&text, &format!("kafka_sync_bytes_copied_total{{{labels}}}")),
        Some(
            300.0 * 100.0
                + (0..300)
                    .map(|i| format!("key-{i}").len() as f64)
                    .sum::<f64>()
        )
    );
    // Every record copied by this process has its latency (stamped an hour ago).
    let latency = "kafka_sync_replication_latency_seconds";
    assert_eq!(
        sample(&text, &format!("{latency}_count{{{labels}}}")),
        Some(300.0)
    );
    assert_eq!(
        sample(&text, &format!(r#"{latency}_bucket{{{labels},le="+Inf"}}"#)),
        Some(300.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"kafka_sync_partitions{{{labels},state="stalled"}}"#)
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"kafka_sync_source_reachable{{task="{task}"}}"#)
        ),
        Some(1.0)
    );
    assert!(text.contains(&format!(
        r#"kafka_sync_task_info{{task="{task}",name="copy",kind="instance",state="running"}} 1"#
    )));
}

/// The Python of the venv `scripts/setup.sh` keeps, which has playwright.
fn python() -> PathBuf {
    let cache = std::env::var_os("KAFKA_SYNC_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/kafka-sync"),
        PathBuf::from,
    );
    cache.join("venv/bin/python")
}

#[tokio::test]
async fn the_dashboard_in_a_real_browser() {
    let local = start("dashboard").await;
    let topic = unique_name("dashboard");
    create_topic(&harness::source(), &topic, 2).await;
    create_topic(&harness::target(), &format!("{topic}-copy"), 2).await;
    let connection = |name: &str, bootstrap: String| json!({"name": name, "bootstrap": bootstrap});
    let source = local
        .expect(
            201,
            "POST",
            "/v1/connections",
            Some(connection("src", harness::source().bootstrap)),
        )
        .await;
    let target = local
        .expect(
            201,
            "POST",
            "/v1/connections",
            Some(connection("tgt", harness::target().bootstrap)),
        )
        .await;
    let task = local
        .expect(
            201,
            "POST",
            "/v1/tasks",
            Some(
                json!({"name": "orders-copy", "kind": "topic", "source": source["id"],
                "source_topic": topic, "target": target["id"],
                "target_topic": format!("{topic}-copy"), "start_offset": "earliest"}),
            ),
        )
        .await;

    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboard.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script)
            .env("KSYNC_BASE", &local.base)
            .env("KSYNC_TOKEN", TOKEN)
            .env("KSYNC_TASK_NAME", "orders-copy")
            .env("KSYNC_SOURCE_BOOTSTRAP", harness::source().bootstrap)
            .env("KSYNC_SOURCE_TOPIC", &topic)
            .env("KSYNC_SCREENSHOT", &screenshot)
            .output()
            .map(|output| (output, local))
    })
    .await
    .unwrap()
    .expect("the venv's python runs (scripts/setup.sh installs it with playwright)");
    let (output, local) = output;
    assert!(
        output.status.success(),
        "the browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // What the page changed, as the API tells it.
    let id = task["id"].as_str().unwrap();
    let after = local
        .expect(200, "GET", &format!("/v1/tasks/{id}"), None)
        .await;
    assert_eq!(
        (after["state"].as_str(), after["on_error"].as_str()),
        (Some("running"), Some("discard"))
    );
    let events = local
        .expect(200, "GET", &format!("/v1/tasks/{id}/events"), None)
        .await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"state"),
        "pause and resume are events: {events}"
    );
}
