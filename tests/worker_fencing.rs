//! Two replicator workers started for one slot: only the lease holder's checkpoints land,
//! and a worker that has lost its lease stops without writing anything.

use std::time::{Duration, Instant};

use harness::records::{create_topic, produce, read_all};
use harness::task::instance_task;
use harness::unique_name;
use harness::workers::{slot, spawn};
use kafka_sync::replicator::{WorkerExit, WorkerSettings};
use kafka_sync::store::PartitionRef;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_worker_whose_lease_was_taken_over_stops_without_writing() {
    let topic = unique_name("fence");
    create_topic(&harness::source(), &topic, 1).await;
    create_topic(&harness::target(), &topic, 1).await;
    produce(&harness::source(), &topic, 1, 0, 5_000, 100).await;
    let (services, task) = instance_task(
        json!({"sync": "metadata+messages", "topics": {"regex": format!("^{topic}$")}}),
    )
    .await;
    let partition = PartitionRef {
        topic: topic.clone(),
        partition: 0,
    };
    let stop = CancellationToken::new();

    // The stale worker: a one-second lease it never renews, small batches.
    let stale_settings = WorkerSettings {
        lease_ttl: Duration::from_secs(1),
        renew_every: Duration::from_secs(3600),
        batch_records: 200,
        batch_window: Duration::from_millis(100),
        ..WorkerSettings::default()
    };
    let stale = spawn(
        &services,
        slot(&task.id, 0),
        "stale",
        stale_settings,
        &stop,
        None,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // While it holds the lease, a second worker for the slot gets nothing.
    let refused = spawn(
        &services,
        slot(&task.id, 0),
        "live",
        WorkerSettings::default(),
        &stop,
        None,
    );
    assert_eq!(refused.await.unwrap().unwrap(), WorkerExit::LeaseLost);

    // Once the stale lease has expired the live worker takes the slot over; new records
    // make the stale worker try to checkpoint again, and it is fenced out.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let live = spawn(
        &services,
        slot(&task.id, 0),
        "live",
        WorkerSettings::default(),
        &stop,
        None,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    produce(&harness::source(), &topic, 1, 5_000, 5_000, 100).await;
    let stale_exit = tokio::time::timeout(Duration::from_secs(60), stale)
        .await
        .expect("the stale worker stops");
    assert_eq!(stale_exit.unwrap().unwrap(), WorkerExit::LeaseLost);

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let next = services
            .store
            .checkpoints(&task.id)
            .await
            .unwrap()
            .get(&partition)
            .map(|c| c.next_offset);
        if next == Some(10_000) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the live worker did not finish: {next:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        services
            .store
            .lease(&task.id, 0)
            .await
            .unwrap()
            .unwrap()
            .owner,
        "live"
    );
    stop.cancel();
    assert_eq!(live.await.unwrap().unwrap(), WorkerExit::Stopped);
    let copies = read_all(&harness::target(), &topic).await[&0].len();
    assert!(copies >= 10_000, "nothing lost: {copies}");
}
