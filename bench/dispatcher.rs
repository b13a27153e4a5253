//! Benchmark (not a test): one dispatcher round, `kafka_sync::dispatcher::slots_to_start`,
//! over 150 running instance tasks in one store: 145 over source topics of 4 partitions
//! with records past their checkpoints, 5 whose source no longer answers (127.0.0.1 on a
//! port nothing listens on). The store is a DynamoDB Local table, as the Lambda
//! dispatcher's is. Target: under 10 s per round (issue 15).
//! Run: `cargo bench -p kafka-sync-tests --bench dispatcher` (BENCH_ROUNDS the rounds
//! timed, default 5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::records::{create_topics, produce};
use harness::task::{TENANT, add_connection, add_live_connection};
use harness::{StoreKind, fresh_store, unique_name};
use kafka_sync::dispatcher::slots_to_start;
use kafka_sync::kafka::ClusterAccess;
use kafka_sync::lifecycle::TaskRecord;
use kafka_sync::secrets::LocalSecrets;
use kafka_sync::services::Services;
use kafka_sync::task::parse_task_spec;
use kafka_sync::topology::initial_checkpoints;
use serde_json::json;

const TASKS: usize = 150;
const UNREACHABLE: usize = 5;
const TOPICS: usize = 5;
const PARTITIONS: i32 = 4;

/// A running messages task over `topic`, its start positions seeded when `seeded`
/// (as the API does at create; a source that is gone now cannot give them).
async fn task(services: &Services, source: &str, target: &str, topic: &str, seeded: bool) {
    let spec = parse_task_spec(&json!({"name": unique_name("task"), "kind": "instance",
        "source": source, "target": target, "sync": "metadata+messages",
        "start_offset": "latest", "topics": {"regex": format!("^{topic}$")}}))
    .unwrap();
    let record = TaskRecord::new(uuid::Uuid::new_v4().simple().to_string(), spec);
    if seeded {
        let positions = initial_checkpoints(&harness::source(), &record.spec)
            .await
            .unwrap();
        services
            .store
            .seed_checkpoints(&record.id, &positions)
            .await
            .unwrap();
    }
    services.store.create_task(TENANT, &record).await.unwrap();
}

#[tokio::main]
async fn main() {
    let rounds = harness::setting::<usize>("BENCH_ROUNDS", 5);
    let services = Services {
        store: fresh_store(StoreKind::DynamoDb).await,
        secrets: Arc::new(LocalSecrets::from_key(&[3; 32])),
    };
    let topics: Vec<String> = (0..TOPICS).map(|_| unique_name("bench-dispatch")).collect();
    create_topics(&harness::source(), &topics, PARTITIONS, &[]).await;
    // Producing waits for every partition's leader, which the start positions need.
    for topic in &topics {
        produce(&harness::source(), topic, PARTITIONS, 0, 100, 100).await;
    }
    let source = add_live_connection(&services, harness::source()).await;
    let target = add_live_connection(&services, harness::target()).await;
    // A port that was free a moment ago: connections to it are refused, as to a cluster
    // that is gone.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead_bootstrap = format!("127.0.0.1:{dead_port}");
    let dead = add_connection(
        &services,
        ClusterAccess::plaintext(dead_bootstrap.clone()),
        vec![dead_bootstrap],
        "gone".to_owned(),
    )
    .await;

    let started = Instant::now();
    for i in 0..TASKS - UNREACHABLE {
        task(&services, &source, &target, &topics[i % TOPICS], true).await;
    }
    for i in 0..UNREACHABLE {
        task(&services, &dead, &target, &topics[i % TOPICS], false).await;
    }
    println!(
        "{TASKS} tasks created in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Records past every checkpoint, so every reachable partition has lag.
    for topic in &topics {
        produce(&harness::source(), topic, PARTITIONS, 100, 100, 100).await;
    }

    let mut times: Vec<Duration> = Vec::new();
    let mut slots = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        slots = slots_to_start(&services).await.unwrap().len();
        times.push(started.elapsed());
        // No worker ever ran: every slot of every reachable task, none of the others.
        assert_eq!(slots, (TASKS - UNREACHABLE) * PARTITIONS as usize);
    }
    times.sort();
    let s = |d: Duration| d.as_secs_f64();
    println!(
        "one dispatcher round over {TASKS} tasks, {UNREACHABLE} unreachable ({rounds} rounds):"
    );
    println!(
        "  median {:.2} s, min {:.2} s, max {:.2} s",
        s(times[times.len() / 2]),
        s(times[0]),
        s(times[times.len() - 1])
    );
    println!("  {slots} slots to start");
}
