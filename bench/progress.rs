//! Benchmark (not a test): one `GET /v1/tasks/{id}/progress` of a task over 1,000
//! partitions: the store reads, the source's and the target's watermarks and the JSON,
//! as `kafka_sync::progress::progress` does them for the API. Target: under 2 s for
//! 1,000 partitions (issue 15).
//! Run: `cargo bench -p kafka-sync-tests --bench progress` (BENCH_PARTITIONS to change the
//! partition count, default 1000; BENCH_PROGRESS_CALLS the calls timed, default 20).

use std::time::{Duration, Instant};

use harness::task::{TENANT, lagging_task};
use kafka_sync::progress::progress;
use serde_json::Value;

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
    let partitions = harness::setting::<usize>("BENCH_PARTITIONS", 1000);
    let calls = harness::setting::<usize>("BENCH_PROGRESS_CALLS", 20);
    // The target topic exists as metadata sync would have made it, so the target's
    // watermarks are read too, as for a task that has been running.
    let (services, task, _) = lagging_task("bench-progress", partitions, true).await;

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
