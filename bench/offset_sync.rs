//! Benchmark (not a test): one consumer-group offset-sync run over 1,000 source groups,
//! each with commits on the 10 partitions of one topic (10,000 partitions to translate
//! and commit), on the real clusters. The mapping samples come from real replication
//! (the task's replicator workers run in-process first). Then a second run, with
//! nothing left to move. The groups and topic are deleted afterwards.
//! Run: `cargo bench -p kafka-sync-tests --bench offset_sync`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::records::{create_topic, produce};
use harness::task::{TENANT, instance_task};
use harness::{unique_name, workers};
use kafka_sync::assignment::slot_count;
use kafka_sync::kafka_admin::{GroupOffset, KafkaAdmin};
use kafka_sync::replicator::WorkerSettings;
use kafka_sync::store::PartitionRef;
use kafka_sync::{metadata_sync, offset_sync};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

const GROUPS: usize = 1000;
const PARTITIONS: i32 = 10;
const RECORDS: u64 = 20_000;
const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() {
    let topic = unique_name("bench-offsets");
    create_topic(&harness::source(), &topic, PARTITIONS).await;
    produce(&harness::source(), &topic, PARTITIONS, 0, RECORDS, 20).await;
    let (services, task) = instance_task(
        json!({"sync": "metadata+messages", "topics": {"regex": format!("^{topic}$")}}),
    )
    .await;
    metadata_sync::run(&services, TENANT, &task).await.unwrap();

    // Replicate everything, so every partition has its mapping samples.
    let per_partition = (RECORDS / PARTITIONS as u64) as i64;
    loop {
        let checkpoints = services.store.checkpoints(&task.id).await.unwrap();
        let copied = (0..PARTITIONS).all(|partition| {
            let p = PartitionRef {
                topic: topic.clone(),
                partition,
            };
            checkpoints
                .get(&p)
                .is_some_and(|c| c.next_offset >= per_partition)
        });
        if copied {
            break;
        }
        let (until, stop) = (
            Instant::now() + Duration::from_secs(3),
            CancellationToken::new(),
        );
        let workers: Vec<_> = (0..slot_count(PARTITIONS as usize))
            .map(|n| {
                let (slot, settings) = (workers::slot(&task.id, n), WorkerSettings::default());
                workers::spawn(
                    &services,
                    slot,
                    format!("bench-{n}"),
                    settings,
                    &stop,
                    Some(until),
                )
            })
            .collect();
        for worker in workers {
            worker.await.unwrap().unwrap();
        }
    }

    // 1,000 groups commit on every partition of the source topic.
    let prefix = unique_name("bench-og");
    let groups: Vec<String> = (0..GROUPS).map(|i| format!("{prefix}-{i:04}")).collect();
    let source_admin = Arc::new(KafkaAdmin::new(&harness::source()).unwrap());
    let mut commits = JoinSet::new();
    for (i, group) in groups.iter().enumerate() {
        while commits.len() >= 16 {
            commits.join_next().await.unwrap().unwrap();
        }
        let (admin, group, topic) = (Arc::clone(&source_admin), group.clone(), topic.clone());
        commits.spawn(async move {
            let offsets: Vec<GroupOffset> = (0..PARTITIONS)
                .map(|partition| GroupOffset {
                    topic: topic.clone(),
                    partition,
                    offset: 1 + (i as i64 * 7 + partition as i64 * 13) % per_partition,
                })
                .collect();
            admin
                .commit_group_offsets(&group, &offsets, TIMEOUT)
                .await
                .unwrap();
        });
    }
    while let Some(done) = commits.join_next().await {
        done.unwrap();
    }

    let topics = BTreeSet::from([topic.clone()]);
    let started = Instant::now();
    let first = offset_sync::sync_groups(&services, TENANT, &task, &topics)
        .await
        .unwrap();
    let first_run = started.elapsed();
    let started = Instant::now();
    let second = offset_sync::sync_groups(&services, TENANT, &task, &topics)
        .await
        .unwrap();
    let second_run = started.elapsed();
    println!(
        "offset sync over {GROUPS} groups x {PARTITIONS} partitions ({} requests in flight at most):",
        offset_sync::CONCURRENCY
    );
    println!(
        "  first run, {} groups synced, {} partitions committed: {:.2} s",
        first.groups,
        first.partitions_committed,
        first_run.as_secs_f64()
    );
    println!(
        "  second run, nothing to move ({} committed): {:.2} s",
        second.partitions_committed,
        second_run.as_secs_f64()
    );
    assert_eq!(first.groups, GROUPS as u64);
    assert_eq!(
        first.partitions_committed,
        (GROUPS as u64) * PARTITIONS as u64
    );
    assert_eq!(second.partitions_committed, 0);

    // Leave the shared clusters as they were.
    let names: Vec<&str> = groups.iter().map(String::as_str).collect();
    for access in [harness::source(), harness::target()] {
        let admin: AdminClient<DefaultClientContext> = access.client_config().create().unwrap();
        for chunk in names.chunks(100) {
            let _ = admin.delete_groups(chunk, &AdminOptions::new()).await;
        }
        let _ = admin.delete_topics(&[&topic], &AdminOptions::new()).await;
    }
}
