//! Benchmark (not a test): what the Lambda deployment costs, measured on the Lambda
//! harness (tests/support/lambda.rs: the functions' real binaries under AWS's runtime
//! interface emulator, the DynamoDB Local table, the two clusters).
//! - Copying: replicator GB-s (invocation time × the template's 512 MB) and table writes
//!   per GB copied, from the first dispatch until the lag is 0.
//! - The idle tail: GB-s the invocations spend after that, until their idle exit.
//! - An idle day: the schedules' invocations (dispatcher and offset sync every minute,
//!   metadata sync every 3 minutes, 256 MB each), timed here, and the table writes they
//!   make, scaled to a day; no replicator runs.
//!
//! Run: `cargo bench -p kafka-sync-tests --bench lambda_cost` (BENCH_RECORDS, default
//! 200,000 records of 1 KiB over 4 partitions; BENCH_IDLE_ROUNDS, default 10).

use std::time::{Duration, Instant};

use harness::lambda::Lambda;
use harness::records::{create_topic, produce};
use harness::{source, unique_name};
use serde_json::json;

const REPLICATOR_GB: f64 = 0.5;
const SCHEDULE_GB: f64 = 0.25;
const PARTITIONS: i32 = 4;
const VALUE_BYTES: usize = 1024;

#[tokio::main]
async fn main() {
    let records = harness::setting::<u64>("BENCH_RECORDS", 200_000);
    let idle_rounds = harness::setting::<u64>("BENCH_IDLE_ROUNDS", 10);
    let lambda = Lambda::start(Duration::from_secs(900), PARTITIONS as usize).await;
    let topic = unique_name("bench-lambda");
    create_topic(&source(), &topic, PARTITIONS).await;
    produce(&source(), &topic, PARTITIONS, 0, records, VALUE_BYTES).await;
    let connection = json!({"name": "src", "bootstrap": source().bootstrap});
    let task = lambda
        .create_task(
            connection,
            json!({"regex": format!("^{topic}$")}),
            "metadata+messages",
        )
        .await;

    let writes_before = lambda.table_writes().await;
    let started = Instant::now();
    lambda.dispatch().await;
    while lambda.lag(&task).await != Some(0) {
        assert!(started.elapsed() < Duration::from_secs(600), "not copied");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let copied = Instant::now();
    let copy_writes = lambda.table_writes().await - writes_before;
    while lambda.running() > 0 {
        assert!(copied.elapsed() < Duration::from_secs(120), "no idle exit");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (mut copying, mut tail) = (0.0, 0.0);
    for invocation in lambda.invocations() {
        let (ended, _) = invocation.ended.expect("every invocation ended");
        let until = ended.min(copied);
        copying += until
            .saturating_duration_since(invocation.started)
            .as_secs_f64();
        tail += ended.saturating_duration_since(copied).as_secs_f64();
    }
    let gb = (records * VALUE_BYTES as u64) as f64 / (1u64 << 30) as f64;

    // An idle day: every schedule's invocation timed, the table's writes counted.
    let writes_before = lambda.table_writes().await;
    let (mut dispatching, mut syncing_offsets, mut syncing_metadata) = (0.0, 0.0, 0.0);
    for _ in 0..idle_rounds {
        let at = Instant::now();
        lambda.dispatch().await;
        dispatching += at.elapsed().as_secs_f64();
        let at = Instant::now();
        lambda.offset_sync().await;
        syncing_offsets += at.elapsed().as_secs_f64();
        let at = Instant::now();
        lambda.metadata_sync().await;
        syncing_metadata += at.elapsed().as_secs_f64();
    }
    let rounds = idle_rounds as f64;
    let idle_writes = (lambda.table_writes().await - writes_before) as f64 / rounds;
    assert_eq!(lambda.running(), 0, "an idle round started a replicator");
    // Per day: 1,440 dispatcher and offset-sync runs, 480 metadata syncs.
    let idle_gbs = SCHEDULE_GB
        * (1440.0 * dispatching / rounds
            + 1440.0 * syncing_offsets / rounds
            + 480.0 * syncing_metadata / rounds);

    println!(
        "copied {records} records of {VALUE_BYTES} B ({gb:.3} GiB) over {PARTITIONS} partitions in {:.1} s, {} invocations",
        (copied - started).as_secs_f64(),
        lambda.invocations().len()
    );
    println!("| figure | measured |");
    println!("|---|---|");
    println!(
        "| replicator GB-s per GiB copied | {:.1} |",
        copying * REPLICATOR_GB / gb
    );
    println!(
        "| table writes per GiB copied | {:.0} |",
        copy_writes as f64 / gb
    );
    println!(
        "| idle tail after a burst, GB-s per slot | {:.1} |",
        tail * REPLICATOR_GB / PARTITIONS as f64
    );
    println!(
        "| schedules' GB-s per idle day | {idle_gbs:.0} (dispatcher {:.2} s, offset sync {:.2} s, metadata sync {:.2} s per run) |",
        dispatching / rounds,
        syncing_offsets / rounds,
        syncing_metadata / rounds
    );
    println!(
        "| table writes per idle day | {:.0} ({idle_writes:.1} per round of the three) |",
        idle_writes * 1440.0
    );
}
