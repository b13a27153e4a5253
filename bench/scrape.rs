//! Benchmark (not a test): one `/metrics` scrape of a task over 1,000 partitions: the
//! store query, the two batched ListOffsets requests and the encoding, as
//! `kafka_sync::metrics::render` does them for `GET /metrics`.
//! Run: `cargo bench -p kafka-sync-tests --bench scrape` (BENCH_PARTITIONS to change the
//! partition count, default 1000; BENCH_SCRAPES the scrapes timed, default 20).

use std::time::{Duration, Instant};

use harness::records::{create_topic, produce};
use harness::task::instance_task;
use harness::unique_name;
use kafka_sync::metrics::{Scope, render};
use kafka_sync::topology::initial_checkpoints;
use serde_json::json;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let partitions = env_or("BENCH_PARTITIONS", 1000);
    let scrapes = env_or("BENCH_SCRAPES", 20);
    let topic = unique_name("bench-scrape");
    create_topic(&harness::source(), &topic, partitions as i32).await;
    // Records on every partition before the checkpoints too: producing waits for every
    // partition's leader, which the checkpoints' watermarks need.
    produce(
        &harness::source(),
        &topic,
        partitions as i32,
        0,
        partitions as u64,
        100,
    )
    .await;
    let (services, task) = instance_task(
        json!({"sync": "metadata+messages", "start_offset": "latest",
            "topics": {"regex": format!("^{topic}$")}}),
    )
    .await;
    let checkpoints = initial_checkpoints(&harness::source(), &task.spec)
        .await
        .unwrap();
    services
        .store
        .seed_checkpoints(&task.id, &checkpoints)
        .await
        .unwrap();
    // A record on every partition, after the checkpoints, so every partition has lag.
    produce(
        &harness::source(),
        &topic,
        partitions as i32,
        0,
        partitions as u64,
        100,
    )
    .await;

    // The source's part of a scrape on its own: both ListOffsets requests.
    let partitions_of_task: Vec<_> = checkpoints.iter().map(|(p, _)| p.clone()).collect();
    let started = Instant::now();
    let bounds = harness::source()
        .log_bounds(partitions_of_task, Duration::from_secs(30))
        .await
        .unwrap();
    println!(
        "log start and end of {} partitions: {:.1} ms",
        bounds.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let mut times: Vec<Duration> = Vec::new();
    let mut text = String::new();
    for _ in 0..scrapes {
        let started = Instant::now();
        text = render(&services, &Scope::All).await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    let lag_series = text
        .lines()
        .filter(|l| l.starts_with("kafka_sync_lag_records{"))
        .count();
    assert_eq!(lag_series, partitions, "every partition's lag is there");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("one scrape of a task over {partitions} partitions ({scrapes} scrapes):");
    println!(
        "  median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10]),
        ms(times[times.len() - 1])
    );
    println!(
        "  {series} series ({lag_series} of them lag), {:.0} KiB of text",
        text.len() as f64 / 1024.0
    );
}
