//! One conformance suite, run unchanged on both store backends: the embedded database of
//! `kafka-sync local` and DynamoDB (Local).

use harness::{StoreKind, fresh_store};
use kafka_sync::connection::ConnectionRecord;
use kafka_sync::lifecycle::{TaskRecord, TaskState};
use kafka_sync::store::{Checkpoint, Level, OffsetMapping, PartitionRef, Store, StoreError};
use kafka_sync::task::parse_task_spec;
use serde_json::json;

fn connection(id: &str, name: &str, ca_pem_bytes: usize) -> ConnectionRecord {
    let ca = (ca_pem_bytes > 0).then(|| "x".repeat(ca_pem_bytes));
    ConnectionRecord {
        id: id.into(),
        name: name.into(),
        bootstrap: "127.0.0.1:19092".into(),
        security: serde_json::from_value(json!({"protocol": "SSL", "ca_pem": ca})).unwrap(),
        brokers: vec!["127.0.0.1:19092".into()],
        cluster_id: "cluster".into(),
        created_at: chrono::Utc::now(),
        secret_ref: None,
    }
}

fn task(id: &str, name: &str, source: &str, target: &str) -> TaskRecord {
    let spec = parse_task_spec(&json!({
        "name": name, "kind": "instance", "source": source, "target": target,
        "sync": "metadata+messages"
    }))
    .unwrap();
    TaskRecord::new(id.into(), spec)
}

fn at(next_offset: i64) -> Checkpoint {
    Checkpoint {
        next_offset,
        copied: next_offset as u64,
        bytes: 10 * next_offset as u64,
        discarded: 1,
        dead_lettered: 2,
    }
}

fn id(n: usize) -> String {
    format!("{n:032x}")
}

async fn connections_crud(store: Store) {
    let record = connection(&id(1), "src", 0);
    store.create_connection("t1", &record).await.unwrap();
    assert_eq!(store.get_connection("t1", &id(1)).await.unwrap(), record);
    assert_eq!(
        store.list_connections("t1").await.unwrap(),
        vec![record.clone()]
    );
    // Names are unique per tenant, not across tenants; tenants see only their own.
    let duplicate = store
        .create_connection("t1", &connection(&id(2), "src", 0))
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Duplicate(_))),
        "{duplicate:?}"
    );
    store
        .create_connection("t2", &connection(&id(3), "src", 0))
        .await
        .unwrap();
    assert!(matches!(
        store.get_connection("t2", &id(1)).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list_connections("t2").await.unwrap().len(), 1);
    store.delete_connection("t1", &id(1)).await.unwrap();
    assert!(store.list_connections("t1").await.unwrap().is_empty());
    // The name is free again after the delete.
    store
        .create_connection("t1", &connection(&id(4), "src", 0))
        .await
        .unwrap();
}

async fn tasks_crud_and_connection_in_use(store: Store) {
    store
        .create_connection("t", &connection(&id(1), "a", 0))
        .await
        .unwrap();
    store
        .create_connection("t", &connection(&id(2), "b", 0))
        .await
        .unwrap();
    let created = task(&id(10), "dr", &id(1), &id(2));
    store.create_task("t", &created).await.unwrap();
    assert_eq!(store.get_task("t", &id(10)).await.unwrap(), created);

    let in_use = store.delete_connection("t", &id(1)).await;
    assert!(matches!(in_use, Err(StoreError::InUse(_))), "{in_use:?}");

    // A task on a deleted (missing) connection cannot be created.
    let orphan = store
        .create_task("t", &task(&id(11), "x", &id(9), &id(2)))
        .await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");

    let renamed = store
        .update_task("t", &id(10), |t| {
            let mut next = t.with_state(TaskState::Paused, None);
            next.spec = task(&id(10), "dr-2", &id(1), &id(2)).spec;
            Ok(next)
        })
        .await
        .unwrap();
    assert_eq!(renamed.state, TaskState::Paused);
    // The old name is free, the new one taken.
    store
        .create_task("t", &task(&id(12), "dr", &id(1), &id(2)))
        .await
        .unwrap();
    let taken = store
        .create_task("t", &task(&id(13), "dr-2", &id(1), &id(2)))
        .await;
    assert!(matches!(taken, Err(StoreError::Duplicate(_))), "{taken:?}");

    let all = store.all_tasks().await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|(tenant, _)| tenant == "t"));

    store
        .add_event(&id(10), Level::Info, "state", "x")
        .await
        .unwrap();
    store.delete_task("t", &id(10)).await.unwrap();
    store.delete_task("t", &id(12)).await.unwrap();
    assert!(store.list_tasks("t").await.unwrap().is_empty());
    assert!(store.events(&id(10), 10).await.unwrap().is_empty());
    // Nothing uses the connections any more.
    store.delete_connection("t", &id(1)).await.unwrap();
    store.delete_connection("t", &id(2)).await.unwrap();
}

async fn quotas(store: Store) {
    for n in 0..150 {
        store
            .create_connection("q", &connection(&id(n), &format!("c{n}"), 0))
            .await
            .unwrap();
    }
    let over = store
        .create_connection("q", &connection(&id(150), "c150", 0))
        .await;
    assert!(matches!(over, Err(StoreError::Quota(_))), "{over:?}");
    // Another tenant has a quota of its own.
    store
        .create_connection("other", &connection(&id(151), "c", 0))
        .await
        .unwrap();
    // A delete frees a place.
    store.delete_connection("q", &id(0)).await.unwrap();
    store
        .create_connection("q", &connection(&id(150), "c150", 0))
        .await
        .unwrap();
}

async fn listing_past_one_page(store: Store) {
    // 130 items of ~10 KB: more than 100 items and more than 1 MB.
    for n in 0..130 {
        store
            .create_connection("big", &connection(&id(n), &format!("c{n}"), 10_000))
            .await
            .unwrap();
    }
    let listed = store.list_connections("big").await.unwrap();
    assert_eq!(listed.len(), 130);
    let mut ids: Vec<_> = listed.iter().map(|c| c.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 130);
}

async fn lease_lifecycle_and_fencing(store: Store) {
    let task = id(1);
    let first = store
        .acquire_lease(&task, 0, "w1", 60_000)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .acquire_lease(&task, 0, "w2", 60_000)
            .await
            .unwrap()
            .is_none()
    );
    // Another slot is independent.
    assert!(
        store
            .acquire_lease(&task, 1, "w2", 60_000)
            .await
            .unwrap()
            .is_some()
    );

    let mut held = first.clone();
    store.renew_lease(&mut held, 60_000).await.unwrap();
    assert!(held.epoch > first.epoch);

    let p0 = PartitionRef {
        topic: "orders".into(),
        partition: 0,
    };
    let mapping = OffsetMapping {
        source_offset: 9,
        target_offset: 19,
    };
    store
        .commit_checkpoints(&held, &[(p0.clone(), at(10))], &[(p0.clone(), mapping)])
        .await
        .unwrap();
    assert_eq!(store.checkpoints(&task).await.unwrap()[&p0], at(10));

    // A holder that renewed past `first` fences `first` out.
    let stale = store
        .commit_checkpoints(&first, &[(p0.clone(), at(99))], &[])
        .await;
    assert!(matches!(stale, Err(StoreError::Fenced { .. })), "{stale:?}");
    assert_eq!(store.checkpoints(&task).await.unwrap()[&p0], at(10));

    // Expired: another worker takes over and the old holder can neither renew nor commit.
    let mut short = store
        .acquire_lease(&task, 2, "w1", 200)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let taker = store
        .acquire_lease(&task, 2, "w2", 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taker.owner, "w2");
    assert!(matches!(
        store.renew_lease(&mut short, 60_000).await,
        Err(StoreError::Fenced { .. })
    ));
    assert!(matches!(
        store
            .commit_checkpoints(&short, &[(p0.clone(), at(500))], &[])
            .await,
        Err(StoreError::Fenced { .. })
    ));
    store
        .commit_checkpoints(&taker, &[(p0.clone(), at(20))], &[])
        .await
        .unwrap();
    assert_eq!(store.checkpoints(&task).await.unwrap()[&p0], at(20));

    // Released: free at once for the next worker.
    store.release_lease(&taker).await.unwrap();
    assert!(
        store
            .acquire_lease(&task, 2, "w3", 60_000)
            .await
            .unwrap()
            .is_some()
    );
}

async fn racing_writers_one_lease_winner(store: Store) {
    let task = id(2);
    for slot in 0..10 {
        let (a, b) = tokio::join!(
            store.acquire_lease(&task, slot, "a", 60_000),
            store.acquire_lease(&task, slot, "b", 60_000)
        );
        let winners = [a.unwrap(), b.unwrap()].into_iter().flatten().count();
        assert_eq!(winners, 1, "slot {slot}");
    }
}

async fn racing_creates_respect_unique_names(store: Store) {
    let (first, second) = (connection(&id(1), "same", 0), connection(&id(2), "same", 0));
    let (a, b) = tokio::join!(
        store.create_connection("r", &first),
        store.create_connection("r", &second)
    );
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1);
    assert_eq!(store.list_connections("r").await.unwrap().len(), 1);
}

async fn mappings_in_numeric_order_and_events_newest_first(store: Store) {
    let task = id(3);
    let lease = store
        .acquire_lease(&task, 0, "w", 60_000)
        .await
        .unwrap()
        .unwrap();
    let p = PartitionRef {
        topic: "t".into(),
        partition: 3,
    };
    let samples: Vec<_> = [100, 9, 1000, 10]
        .into_iter()
        .map(|o| {
            (
                p.clone(),
                OffsetMapping {
                    source_offset: o,
                    target_offset: o + 1,
                },
            )
        })
        .collect();
    store
        .commit_checkpoints(&lease, &[], &samples)
        .await
        .unwrap();
    let offsets: Vec<i64> = store
        .mappings(&task, &p)
        .await
        .unwrap()
        .iter()
        .map(|m| m.source_offset)
        .collect();
    assert_eq!(offsets, vec![9, 10, 100, 1000]);
    // Another partition's samples stay apart (partition 3 vs 30).
    let p30 = PartitionRef {
        topic: "t".into(),
        partition: 30,
    };
    store
        .commit_checkpoints(
            &lease,
            &[],
            &[(
                p30,
                OffsetMapping {
                    source_offset: 1,
                    target_offset: 1,
                },
            )],
        )
        .await
        .unwrap();
    assert_eq!(store.mappings(&task, &p).await.unwrap().len(), 4);

    for n in 0..5 {
        store
            .add_event(&task, Level::Info, "k", &format!("e{n}"))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let events = store.events(&task, 3).await.unwrap();
    let messages: Vec<_> = events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, vec!["e4", "e3", "e2"]);
}

macro_rules! conformance {
    ($backend:ident, $kind:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn connections_crud() {
                super::connections_crud(fresh_store($kind).await).await;
            }
            #[tokio::test]
            async fn tasks_crud_and_connection_in_use() {
                super::tasks_crud_and_connection_in_use(fresh_store($kind).await).await;
            }
            #[tokio::test]
            async fn quotas() {
                super::quotas(fresh_store($kind).await).await;
            }
            #[tokio::test]
            async fn listing_past_one_page() {
                super::listing_past_one_page(fresh_store($kind).await).await;
            }
            #[tokio::test]
            async fn lease_lifecycle_and_fencing() {
                super::lease_lifecycle_and_fencing(fresh_store($kind).await).await;
            }
            #[tokio::test]
            async fn racing_writers_one_lease_winner() {
                super::racing_writers_one_lease_winner(fresh_store($kind).await).await;
            }
            #[tokio::test]
            async fn racing_creates_respect_unique_names() {
                super::racing_creates_respect_unique_names(fresh_store($kind).await).await;
            }
            #[tokio::test]
            async fn mappings_in_numeric_order_and_events_newest_first() {
                super::mappings_in_numeric_order_and_events_newest_first(fresh_store($kind).await)
                    .await;
            }
        }
    };
}

conformance!(embedded, StoreKind::Embedded);
conformance!(dynamodb, StoreKind::DynamoDb);
