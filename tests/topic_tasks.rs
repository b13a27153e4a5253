//! Topic-level tasks end to end: processing, error policies and start at a timestamp, with
//! `kafka-sync local` as a child process on the two real clusters.

use std::time::Duration;

use harness::local::{Local, binary};
use harness::records::{base_timestamp, create_topic, produce_values, read_all};
use harness::unique_name;
use serde_json::{Value, json};

/// 60 messages: every 7th is not JSON, every 11th lacks the `user` key.
fn mixed_messages() -> (Vec<String>, Vec<usize>) {
    let mut bad = Vec::new();
    let messages = (0..60)
        .map(|i| {
            if i % 7 == 3 {
                bad.push(i);
                format!("not json {i}")
            } else if i % 11 == 5 {
                bad.push(i);
                format!(r#"{{"order": {{"id": {i}}}}}"#)
            } else {
                format!(r#"{{"order": {{"id": {i}}}, "user": "u{i}"}}"#)
            }
        })
        .collect();
    (messages, bad)
}

fn processing() -> Value {
    json!({"parse": {"mode": "json"},
           "fields": [{"name": "id", "op": "jsonpath", "path": "$.order.id"},
                      {"name": "who", "op": "mapping", "from": "user"},
                      {"name": "region", "op": "custom", "value": "eu"}],
           "output": {"format": "key_value", "kv_separator": "=", "separator": "&"}})
}

struct Run {
    local: Local,
    source: String,
    target: String,
}

async fn start() -> Run {
    let home = harness::scratch_dir().join(unique_name("topic-task"));
    let local = Local::start(&binary(), &home, &home.with_extension("log")).await;
    let source = local
        .expect(
            201,
            "POST",
            "/v1/connections",
            Some(json!({"name": "src", "bootstrap": harness::source().bootstrap})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let target = local
        .expect(
            201,
            "POST",
            "/v1/connections",
            Some(json!({"name": "tgt", "bootstrap": harness::target().bootstrap})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Run {
        local,
        source,
        target,
    }
}

impl Run {
    async fn task(&self, spec: Value) -> String {
        let mut body = json!({"name": unique_name("t"), "kind": "topic", "source": self.source, "target": self.target});
        for (k, v) in spec.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.local
            .expect(201, "POST", "/v1/tasks", Some(body))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn wait(&self, task: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.local
            .wait_progress(task, Duration::from_secs(120), done)
            .await
    }
}

fn values(records: &std::collections::BTreeMap<i32, Vec<harness::records::Record>>) -> Vec<String> {
    records
        .values()
        .flatten()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect()
}

fn header<'a>(record: &'a harness::records::Record, name: &str) -> &'a str {
    let (_, value) = record
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no header {name}"));
    std::str::from_utf8(value.as_deref().unwrap()).unwrap()
}

fn expected_outputs(messages: &[String], bad: &[usize], below: usize) -> Vec<String> {
    (0..below.min(messages.len()))
        .filter(|i| !bad.contains(i))
        .map(|i| format!("id={i}&who=u{i}&region=eu"))
        .collect()
}

#[tokio::test]
async fn dead_letters_hold_exactly_the_bad_messages_with_their_headers() {
    let (messages, bad) = mixed_messages();
    let topic = unique_name("tt-dlq-in");
    let (out, dlq) = (unique_name("tt-dlq-out"), unique_name("tt-dlq"));
    create_topic(&harness::source(), &topic, 1).await;
    produce_values(&harness::source(), &topic, &messages).await;
    let run = start().await;
    let task = run
        .task(
            json!({"source_topic": topic, "target_topic": out, "processing": processing(),
                     "on_error": {"dead_letter_topic": dlq}}),
        )
        .await;
    let progress = run
        .wait(&task, |p| {
            p["totals"]["lag"] == 0
                && p["totals"]["dead_lettered"].as_u64() == Some(bad.len() as u64)
        })
        .await;
    assert_eq!(
        progress["totals"]["messages"].as_u64(),
        Some((messages.len() - bad.len()) as u64)
    );
    assert_eq!(
        values(&read_all(&harness::target(), &out).await),
        expected_outputs(&messages, &bad, messages.len())
    );
    let dead = read_all(&harness::target(), &dlq).await;
    let dead: Vec<_> = dead.values().flatten().collect();
    assert_eq!(dead.len(), bad.len());
    for (record, index) in dead.iter().zip(&bad) {
        assert_eq!(
            record.value.as_deref(),
            Some(messages[*index].as_bytes()),
            "original value kept"
        );
        assert_eq!(
            record.key.as_deref(),
            Some(format!("k{index}").as_bytes()),
            "original key kept"
        );
        assert_eq!(header(record, "ksync.source.topic"), topic);
        assert_eq!(header(record, "ksync.source.partition"), "0");
        assert_eq!(header(record, "ksync.source.offset"), index.to_string());
        assert_eq!(
            header(record, "ksync.source.timestamp"),
            (base_timestamp() + *index as i64).to_string()
        );
        assert!(!header(record, "ksync.error.reason").is_empty());
        assert_eq!(
            header(record, "trace"),
            format!("k{index}"),
            "original headers kept"
        );
    }
    run.local.kill();
}

#[tokio::test]
async fn retain_stops_at_the_first_bad_message_and_resumes_after_the_patch() {
    let (messages, bad) = mixed_messages();
    let topic = unique_name("tt-retain-in");
    let out = unique_name("tt-retain-out");
    create_topic(&harness::source(), &topic, 1).await;
    produce_values(&harness::source(), &topic, &messages).await;
    let run = start().await;
    let task = run
        .task(json!({"source_topic": topic, "target_topic": out, "processing": processing(), "on_error": "retain"}))
        .await;
    let failed = run.wait(&task, |p| p["state"] == "failed").await;
    let first_bad = bad[0];
    assert_eq!(
        failed["topics"][0]["partitions"][0]["next_offset"], first_bad,
        "the checkpoint stays before the bad message"
    );
    assert_eq!(
        values(&read_all(&harness::target(), &out).await),
        expected_outputs(&messages, &bad, first_bad)
    );
    let events = run
        .local
        .expect(200, "GET", &format!("/v1/tasks/{task}/events"), None)
        .await;
    assert!(
        events["events"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("offset {first_bad}")),
        "{events}"
    );

    run.local
        .expect(
            200,
            "PATCH",
            &format!("/v1/tasks/{task}"),
            Some(json!({"on_error": "discard"})),
        )
        .await;
    run.local
        .expect(200, "POST", &format!("/v1/tasks/{task}/resume"), None)
        .await;
    let done = run
        .wait(&task, |p| {
            p["totals"]["lag"] == 0 && p["totals"]["discarded"].as_u64() == Some(bad.len() as u64)
        })
        .await;
    assert_eq!(done["state"], "running");
    assert_eq!(
        done["totals"]["messages"].as_u64(),
        Some((messages.len() - bad.len()) as u64)
    );
    assert_eq!(
        values(&read_all(&harness::target(), &out).await),
        expected_outputs(&messages, &bad, messages.len())
    );
    run.local.kill();
}

#[tokio::test]
async fn a_start_timestamp_copies_exactly_the_records_at_or_after_it() {
    let messages: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    let topic = unique_name("tt-ts-in");
    let out = unique_name("tt-ts-out");
    create_topic(&harness::source(), &topic, 1).await;
    produce_values(&harness::source(), &topic, &messages).await;
    let run = start().await;
    let task = run
        .task(json!({"source_topic": topic, "target_topic": out, "start_offset": {"timestamp_ms": base_timestamp() + 40}}))
        .await;
    run.wait(&task, |p| {
        p["totals"]["lag"] == 0 && p["totals"]["messages"] == 60
    })
    .await;
    assert_eq!(
        values(&read_all(&harness::target(), &out).await),
        messages[40..].to_vec()
    );
    // A timestamp past the end starts at the end.
    let late = run
        .task(json!({"source_topic": topic, "target_topic": unique_name("tt-ts-late"), "start_offset": {"timestamp_ms": base_timestamp() + 7_200_000}}))
        .await;
    let progress = run
        .wait(&late, |p| {
            p["topics"][0]["partitions"][0]["next_offset"] == 100
        })
        .await;
    assert_eq!(progress["totals"]["messages"], 0);
    run.local.kill();
}
