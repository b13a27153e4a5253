//! Benchmark (not a test): one `GET /v1/tasks/{id}/progress` of a task over 1,000
//! partitions: the store reads, the source's and the target's watermarks and the JSON,
//! as `kafka_sync::progress::progress` does them for the API. Target: under 2 s for
//! 1,000 partitions (issue 15).
//! Run: `cargo bench -p kafka-sync-tests --bench progress` (BENCH_PARTITIONS to change the
//! partition count, default 1000; BENCH_PROGRESS_CALLS the calls timed, default 20).

use std::time::{Duration, Instant};

use harness::records::{create_topic, produce};
use harness::task::{TENANT, instance_task};
use harness::unique_name;
use kafka_sync::progress::progress;
use kafka_sync::topology::initial_checkpoints;
use serde_json::{Value, json};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How many partitions an answer lists, over all its topics.
fn partitions_listed(answer: &Value) -> usize {
    answer["topics"]
        .as_array()
        .expect("an answer has topics")
        .iter()
        .map(|t| t["partitions"].as_array().map_or(0, Vec::len))
        .sum()
}

#[tokio::main]
async fn main() {
    let partitions = env_or("BENCH_PARTITIONS", 1000);
    let calls = env_or("BENCH_PROGRESS_CALLS", 20);
    let topic = unique_name("bench-progress");
    // The target topic exists as metadata sync would have made it, so the target's
    // watermarks are read too, as for a task that has been running.
    for cluster in [harness::source(), harness::target()] {
        create_topic(&cluster, &topic, partitions as i32).await;
        // Producing waits for every partition's leader, which the watermarks need.
        produce(
            &cluster,
            &topic,
            partitions as i32,
            0,
            partitions as u64,
            100,
        )
        .await;
    }
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

    let mut times: Vec<Duration> = Vec::new();
    let mut answer = Value::Null;
    for _ in 0..calls {
        let started = Instant::now();
        answer = progress(&services, TENANT, &task).await.unwrap();
        times.push(started.elapsed());
        assert_eq!(
            partitions_listed(&answer),
            partitions,
            "every partition is listed"
        );
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("one progress answer of a task over {partitions} partitions ({calls} calls):");
    println!(
        "  median {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    println!(
        "  {} partitions listed, totals.lag {}",
        partitions_listed(&answer),
        answer["totals"]["lag"]
    );
}
