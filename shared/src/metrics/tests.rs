//! The two encodings of one set of figures: the Prometheus text a scraper parses, and
//! the EMF lines CloudWatch parses.

use std::time::Duration;

use serde_json::Value;

use super::emf::{NAMESPACE, recorded_lines, replication_lines};
use super::*;

fn task() -> TaskFigures {
    let partition = |partition, lag, stalled, lost| PartitionFigures {
        partition,
        lag,
        stalled,
        lost,
        checkpoint_age_secs: if lag.unwrap_or(0) > 0 { 12.5 } else { 0.0 },
    };
    TaskFigures {
        id: "t1".into(),
        name: "orders-dr".into(),
        kind: "instance".into(),
        state: "running",
        source_reachable: true,
        topics: vec![TopicFigures {
            topic: "orders".into(),
            copied: 1_000,
            bytes: 64_000,
            discarded: 0,
            dead_lettered: 0,
            lost: 7,
            partitions: vec![
                partition(0, Some(0), false, 0),
                partition(1, Some(40), true, 7),
                partition(2, None, false, 0),
            ],
        }],
    }
}

fn recorded() -> Figures {
    let mut figures = Figures::default();
    let mut latency = Histogram::default();
    for ms in [3, 8, 8, 700] {
        latency.observe(ms);
    }
    let key = ("t1".to_owned(), "orders".to_owned());
    figures.latency.insert(key.clone(), latency);
    figures.copied.insert(
        key,
        Copied {
            records: 500,
            bytes: 32_000,
        },
    );
    figures.errors.insert(("t1".into(), "stalled".into()), 2);
    // Another tenant's task, not in the scrape.
    figures.errors.insert(("t2".into(), "lost".into()), 1);
    let mut runs = OffsetRuns {
        succeeded: 3,
        failed: 1,
        ..OffsetRuns::default()
    };
    runs.groups.insert("synced".into(), 5);
    runs.groups.insert("active_on_target".into(), 1);
    figures.offset_runs.insert("t1".into(), runs);
    figures.store_writes = StoreWrites {
        requests: 12,
        items: 30,
    };
    figures
}

/// The value of the one sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> f64 {
    let values: Vec<f64> = text
        .lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
        .collect();
    assert_eq!(values.len(), 1, "{series} in:\n{text}");
    values[0]
}

#[test]
fn prometheus_text_has_every_figure_with_its_labels() {
    let text = encode(vec![task()], &recorded());
    assert_eq!(sample(&text, "kafka_sync_store_writes_total"), 12.0);
    assert_eq!(sample(&text, "kafka_sync_store_items_written_total"), 30.0);
    let t = r#"task="t1",topic="orders""#;
    assert_eq!(
        sample(&text, &format!("kafka_sync_records_copied_total{{{t}}}")),
        1000.0
    );
    assert_eq!(
        sample(&text, &format!("kafka_sync_bytes_copied_total{{{t}}}")),
        64000.0
    );
    assert_eq!(
        sample(&text, &format!("kafka_sync_records_lost_total{{{t}}}")),
        7.0
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"kafka_sync_lag_records{{{t},partition="1"}}"#)
        ),
        40.0
    );
    assert!(
        !text.contains(r#"partition="2""#),
        "no lag without the source"
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"kafka_sync_checkpoint_age_seconds{{{t},partition="1"}}"#)
        ),
        12.5
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"kafka_sync_partitions{{{t},state="stalled"}}"#)
        ),
        1.0
    );
    assert_eq!(
        sample(&text, &format!("kafka_sync_lost_partitions{{{t}}}")),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"kafka_sync_task_info{task="t1",name="orders-dr",kind="instance",state="running"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"kafka_sync_errors_total{task="t1",kind="stalled"}"#
        ),
        2.0
    );
    assert!(!text.contains(r#"task="t2""#), "only the scraped tasks");
    assert_eq!(
        sample(
            &text,
            r#"kafka_sync_offset_sync_runs_total{task="t1",outcome="failed"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"kafka_sync_offset_sync_groups_total{task="t1",status="synced"}"#
        ),
        5.0
    );
}

#[test]
fn the_latency_histogram_is_cumulative_in_seconds() {
    let text = encode(vec![task()], &recorded());
    let h = |le: &str| {
        sample(
            &text,
            &format!(
                r#"kafka_sync_replication_latency_seconds_bucket{{task="t1",topic="orders",le="{le}"}}"#
            ),
        )
    };
    assert_eq!(h("0.005"), 1.0);
    assert_eq!(h("0.01"), 3.0);
    assert_eq!(h("0.5"), 3.0);
    assert_eq!(h("1"), 4.0);
    assert_eq!(h("+Inf"), 4.0);
    let count = sample(
        &text,
        r#"kafka_sync_replication_latency_seconds_count{task="t1",topic="orders"}"#,
    );
    let sum = sample(
        &text,
        r#"kafka_sync_replication_latency_seconds_sum{task="t1",topic="orders"}"#,
    );
    assert_eq!((count, sum), (4.0, 0.719));
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).expect("an EMF line is one JSON object")
}

/// Each metric an EMF line declares, with its unit and the value the line gives it.
fn declared(line: &Value) -> Vec<(String, String, f64)> {
    let definition = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(definition["Namespace"], NAMESPACE);
    definition["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["Name"].as_str().unwrap().to_owned();
            let value = line[&name].as_f64().expect("each metric has its value");
            (name, m["Unit"].as_str().unwrap().to_owned(), value)
        })
        .collect()
}

#[test]
fn emf_lines_carry_msk_replicator_names_per_task_and_topic() {
    let lines = replication_lines(&task(), &recorded(), Duration::from_secs(4), 1_700_000);
    assert_eq!(lines.len(), 1, "one line per topic");
    let line = parse(&lines[0]);
    assert_eq!(line["_aws"]["Timestamp"], 1_700_000);
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Task", "Topic"]])
    );
    assert_eq!(
        (line["Task"].as_str(), line["Topic"].as_str()),
        (Some("t1"), Some("orders"))
    );
    let metrics = declared(&line);
    let find = |name: &str| {
        metrics
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("{name} in {line}"))
            .clone()
    };
    assert_eq!(find("ReplicationLatency").1, "Milliseconds");
    assert_eq!(find("ReplicationLatency").2, 179.75, "mean of 3, 8, 8, 700");
    assert_eq!(
        find("ReplicatorThroughput"),
        ("ReplicatorThroughput".into(), "Bytes/Second".into(), 8000.0)
    );
    assert_eq!(find("MessageLag").2, 40.0);
    assert_eq!(find("RecordsCopied").2, 500.0);
    assert_eq!(find("CheckpointAge").2, 12.5);
    assert_eq!(find("StalledPartitions").2, 1.0);
    assert_eq!(find("LostPartitions").2, 1.0);
}

#[test]
fn emf_lines_for_errors_and_offset_sync_runs() {
    let lines: Vec<Value> = recorded_lines(&recorded(), 5)
        .iter()
        .map(|l| parse(l))
        .collect();
    let errors: Vec<&Value> = lines.iter().filter(|l| l.get("Errors").is_some()).collect();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["Kind"], "stalled");
    let runs = lines
        .iter()
        .find(|l| l.get("OffsetSyncRuns").is_some())
        .unwrap();
    let metrics = declared(runs);
    let value = |name: &str| metrics.iter().find(|(n, _, _)| n == name).unwrap().2;
    assert_eq!(value("OffsetSyncRuns"), 4.0);
    assert_eq!(value("OffsetSyncFailures"), 1.0);
    assert_eq!(value("GroupsSynced"), 5.0);
    assert_eq!(value("GroupsSkipped"), 1.0);
}

#[test]
fn an_invocation_reports_only_what_it_added() {
    let before = recorded();
    let mut after = before.clone();
    let key = ("t1".to_owned(), "orders".to_owned());
    after.latency.get_mut(&key).unwrap().observe(20);
    after.copied.get_mut(&key).unwrap().records += 10;
    *after
        .errors
        .get_mut(&("t1".into(), "stalled".into()))
        .unwrap() += 1;
    let delta = after.since(&before);
    assert_eq!(delta.latency[&key].count, 1);
    assert_eq!(delta.copied[&key].records, 10);
    assert_eq!(delta.errors.len(), 1);
    assert!(delta.offset_runs.is_empty(), "no run since");
}
