//! Benchmark (not a test): one `/metrics` scrape of a task over 1,000 partitions: the
//! store query, the two batched ListOffsets requests and the encoding, as
//! `kafka_sync::metrics::render` does them for `GET /metrics`.
//! Run: `cargo bench -p kafka-sync-tests --bench scrape` (BENCH_PARTITIONS to change the
//! partition count, default 1000; BENCH_SCRAPES the scrapes timed, default 20).

use std::time::{Duration, Instant};

use harness::task::lagging_task;
use kafka_sync::metrics::{Scope, render};

#[tokio::main]
async fn main() {
    let partitions = harness::setting::<usize>("BENCH_PARTITIONS", 1000);
    let scrapes = harness::setting::<usize>("BENCH_SCRAPES", 20);
    let (services, task, _) = lagging_task("bench-scrape", partitions, false).await;
    // The source's part of a scrape on its own: both ListOffsets requests.
    let checkpoints = services.store.checkpoints(&task.id).await.unwrap();
    let partitions_of_task: Vec<_> = checkpoints.into_keys().collect();
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
