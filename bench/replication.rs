//! Benchmark (not a test): replication throughput of 1 KiB records over 8 partitions,
//! as a ratio to the raw produce rate into the target with the same producer settings,
//! both measured in this one run on the two real clusters; and what scraping `/metrics`
//! every second during the copy costs, as alternating rounds with and without a scraper
//! (a Prometheus scrapes every 15 s by default: this is 15 times as often).
//! Run: `cargo bench -p kafka-sync-tests --bench replication` (BENCH_RECORDS to change
//! the count, default 200000; BENCH_ROUNDS the rounds of each kind, default 2).

use std::time::{Duration, Instant};

use harness::records::{create_topic, produce};
use harness::task::instance_task;
use harness::{unique_name, workers};
use kafka_sync::metrics::{Scope, render};
use kafka_sync::replicator::{WorkerSettings, producer_config};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 8;
const RECORD_BYTES: usize = 1024;

#[tokio::main]
async fn main() {
    let records: u64 = std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let topic = loaded_topic("bench-repl", records).await;

    // The pipe limit: the same records produced straight into the target.
    let raw_topic = unique_name("bench-raw");
    create_topic(&harness::target(), &raw_topic, PARTITIONS).await;
    let producer: FutureProducer = producer_config(&harness::target()).create().unwrap();
    let value = vec![7u8; RECORD_BYTES];
    let started = Instant::now();
    let mut pending = Vec::with_capacity(50_000);
    for i in 0..records {
        let key = format!("key-{i}");
        let partition = (i % PARTITIONS as u64) as i32;
        loop {
            let record = FutureRecord::to(&raw_topic)
                .key(&key)
                .payload(&value)
                .partition(partition);
            match producer.send_result(record) {
                Ok(delivery) => break pending.push(delivery),
                // The queue is full: let it drain.
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
        if pending.len() == 50_000 {
            for delivery in pending.drain(..) {
                delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
            }
        }
    }
    for delivery in pending {
        delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    let raw = started.elapsed();

    create_topic(&harness::target(), &topic, PARTITIONS).await;
    let replicated = replicate(&topic, records, None).await;
    let mb = (records as f64 * RECORD_BYTES as f64) / 1_000_000.0;
    let rate = |d: Duration| records as f64 / d.as_secs_f64();
    println!("{records} records of {RECORD_BYTES} B over {PARTITIONS} partitions ({mb:.0} MB)");
    println!(
        "  raw produce into the target:  {:>9.0} records/s  {:>6.1} MB/s  ({:.2} s)",
        rate(raw),
        mb / raw.as_secs_f64(),
        raw.as_secs_f64()
    );
    println!(
        "  kafka-sync replication:       {:>9.0} records/s  {:>6.1} MB/s  ({:.2} s, until checkpointed)",
        rate(replicated),
        mb / replicated.as_secs_f64(),
        replicated.as_secs_f64()
    );
    println!(
        "  ratio replication / raw produce: {:.2}",
        raw.as_secs_f64() / replicated.as_secs_f64()
    );

    // Scraping: rounds alternate, so drift on a shared machine falls on both kinds.
    let (mut plain, mut scraped) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for scrape in [false, true] {
            let topic = loaded_topic("bench-scrape", records).await;
            create_topic(&harness::target(), &topic, PARTITIONS).await;
            let every = scrape.then_some(Duration::from_secs(1));
            let took = replicate(&topic, records, every).await;
            if scrape { &mut scraped } else { &mut plain }.push(rate(took));
        }
    }
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
    println!(
        "  with /metrics scraped every second: {:>9.0} records/s vs {:>9.0} without ({rounds} rounds each: {scraped:.0?} vs {plain:.0?})",
        mean(&scraped),
        mean(&plain)
    );
    println!(
        "  ratio scraped / not scraped: {:.3}",
        mean(&scraped) / mean(&plain)
    );
}

/// Copies `topic` (already on both clusters, `records` on the source) with one worker per
/// slot (8 partitions → 8 slots), as the dispatcher runs them, scraping `/metrics` every
/// `scrape_every` meanwhile; how long until every record is checkpointed.
/// A new source topic of `PARTITIONS` partitions holding `records` records.
async fn loaded_topic(prefix: &str, records: u64) -> String {
    let topic = unique_name(prefix);
    create_topic(&harness::source(), &topic, PARTITIONS).await;
    produce(
        &harness::source(),
        &topic,
        PARTITIONS,
        0,
        records,
        RECORD_BYTES,
    )
    .await;
    topic
}

async fn replicate(topic: &str, records: u64, scrape_every: Option<Duration>) -> Duration {
    let (services, task) = instance_task(
        json!({"sync": "metadata+messages", "topics": {"regex": format!("^{topic}$")}}),
    )
    .await;
    let stop = CancellationToken::new();
    let started = Instant::now();
    let workers: Vec<_> = (0..PARTITIONS as usize)
        .map(|n| {
            let (slot, settings) = (workers::slot(&task.id, n), WorkerSettings::default());
            workers::spawn(&services, slot, format!("bench-{n}"), settings, &stop, None)
        })
        .collect();
    let scraper = scrape_every.map(|every| {
        let (services, stop) = (services.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let text = render(&services, &Scope::All).await.unwrap();
                assert!(text.contains("kafka_sync_lag_records"));
                tokio::time::sleep(every).await;
            }
        })
    });
    loop {
        let copied: u64 = services
            .store
            .checkpoints(&task.id)
            .await
            .unwrap()
            .values()
            .map(|c| c.copied)
            .sum();
        if copied >= records {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let replicated = started.elapsed();
    stop.cancel();
    for worker in workers {
        worker.await.unwrap().unwrap();
    }
    if let Some(scraper) = scraper {
        scraper.await.unwrap();
    }
    replicated
}
