//! One conformance suite, run unchanged on both store backends: the embedded database of
//! `kafka-sync local` and DynamoDB (Local).

use std::sync::Arc;
use std::time::Duration;

use harness::{StoreKind, fresh_store};
use kafka_sync::assignment::Route;
use kafka_sync::connection::ConnectionRecord;
use kafka_sync::lifecycle::{TaskRecord, TaskState};
use kafka_sync::store::dynamodb::DynamoBackend;
use kafka_sync::store::embedded::EmbeddedBackend;
use kafka_sync::store::{
    Backend, Checkpoint, Condition, Event, Key, Lease, Level, OffsetRun, Order, Owned,
    PartitionRef, Store, StoreError, Write, now_ms,
};
use kafka_sync::task::parse_task_spec;
use serde_json::json;

/// A fresh backend of that kind, for the cases that write raw items.
async fn fresh_backend(kind: StoreKind) -> Arc<dyn Backend> {
    match kind {
        StoreKind::Embedded => {
            let path =
                harness::scratch_dir().join(format!("{}.redb", harness::unique_name("store")));
            Arc::new(EmbeddedBackend::open(&path).unwrap())
        }
        StoreKind::DynamoDb => Arc::new(
            DynamoBackend::connect(harness::dynamodb().await, harness::unique_name("ksync"))
                .await
                .unwrap(),
        ),
    }
}

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
        ..Checkpoint::default()
    }
}

/// Connections `a` (id 1) and `b` (id 2) of tenant `t`, for a task between them.
async fn connections_a_and_b(store: &Store) {
    for (n, name) in [(1, "a"), (2, "b")] {
        store
            .create_connection("t", &connection(&id(n), name, 0))
            .await
            .unwrap();
    }
}

/// Makes `lease`'s holder the partition's owner; returns the version its commits write at.
async fn take(store: &Store, lease: &Lease, p: &PartitionRef) -> u64 {
    store
        .take_partitions(lease, std::slice::from_ref(p))
        .await
        .unwrap()[p]
        .version
}

/// The checkpoint `at(next_offset)` of `p`, committed by an owner at `version`.
fn owned(p: &PartitionRef, next_offset: i64, version: u64) -> Vec<(PartitionRef, Owned)> {
    vec![(
        p.clone(),
        Owned {
            checkpoint: at(next_offset),
            version,
        },
    )]
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
    connections_a_and_b(&store).await;
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
    let mapping = OffsetRun {
        source_start: 9,
        target_start: 19,
        length: 1,
    };
    let version = take(&store, &held, &p0).await;
    store
        .commit_checkpoints(&held, owned(&p0, 10, version), &[(p0.clone(), mapping)])
        .await
        .unwrap();
    assert_eq!(store.checkpoints(&task).await.unwrap()[&p0], at(10));

    // A holder that renewed past `first` fences `first` out.
    let stale = store
        .commit_checkpoints(&first, owned(&p0, 99, version + 1), &[])
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
            .commit_checkpoints(&short, owned(&p0, 500, version + 1), &[])
            .await,
        Err(StoreError::Fenced { .. })
    ));
    let version = take(&store, &taker, &p0).await;
    store
        .commit_checkpoints(&taker, owned(&p0, 20, version), &[])
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
                OffsetRun {
                    source_start: o,
                    target_start: o + 1,
                    length: 1,
                },
            )
        })
        .collect();
    // Runs are written with their partition's checkpoint, by its owner.
    let version = take(&store, &lease, &p).await;
    store
        .commit_checkpoints(&lease, owned(&p, 1001, version), &samples)
        .await
        .unwrap();
    let offsets: Vec<i64> = store
        .mappings(&task, &p)
        .await
        .unwrap()
        .iter()
        .map(|m| m.source_start)
        .collect();
    assert_eq!(offsets, vec![9, 10, 100, 1000]);
    // Another partition's samples stay apart (partition 3 vs 30).
    let p30 = PartitionRef {
        topic: "t".into(),
        partition: 30,
    };
    let version = take(&store, &lease, &p30).await;
    store
        .commit_checkpoints(
            &lease,
            owned(&p30, 2, version),
            &[(
                p30.clone(),
                OffsetRun {
                    source_start: 1,
                    target_start: 1,
                    length: 1,
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

/// The ABA of lease epochs: A's lease expires, B takes the slot over and releases it, A
/// acquires it again. Were the released lease deleted, A's new epoch would equal its old
/// one and A's stale handle would pass every fence.
async fn lease_epochs_never_repeat(store: Store) {
    let task = id(4);
    let p = PartitionRef {
        topic: "orders".into(),
        partition: 0,
    };
    let mut a = store
        .acquire_lease(&task, 0, "a", 200)
        .await
        .unwrap()
        .unwrap();
    let a_version = take(&store, &a, &p).await;
    let mut epochs = vec![a.epoch];

    // A stalls past its TTL; B takes over, copies and releases the slot.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = store
        .acquire_lease(&task, 0, "b", 60_000)
        .await
        .unwrap()
        .unwrap();
    epochs.push(b.epoch);
    let b_version = take(&store, &b, &p).await;
    store
        .commit_checkpoints(&b, owned(&p, 5, b_version), &[])
        .await
        .unwrap();
    store.release_lease(&b).await.unwrap();
    let released = store.lease(&task, 0).await.unwrap().unwrap();
    assert!(
        released.expires_at_ms <= now_ms(),
        "a released lease is not live: {released:?}"
    );
    epochs.push(released.epoch);
    assert!(matches!(
        store.renew_lease(&mut b.clone(), 60_000).await,
        Err(StoreError::Fenced { .. })
    ));

    let again = store
        .acquire_lease(&task, 0, "a", 60_000)
        .await
        .unwrap()
        .unwrap();
    epochs.push(again.epoch);
    assert!(epochs.windows(2).all(|w| w[0] < w[1]), "{epochs:?}");

    // A's stale handle writes nothing and cannot renew.
    let mapping = OffsetRun {
        source_start: 98,
        target_start: 98,
        length: 1,
    };
    let stale = store
        .commit_checkpoints(&a, owned(&p, 99, a_version), &[(p.clone(), mapping)])
        .await;
    assert!(matches!(stale, Err(StoreError::Fenced { .. })), "{stale:?}");
    assert_eq!(store.checkpoints(&task).await.unwrap()[&p], at(5));
    assert!(store.mappings(&task, &p).await.unwrap().is_empty());
    assert!(matches!(
        store.renew_lease(&mut a, 60_000).await,
        Err(StoreError::Fenced { .. })
    ));

    // The new holder works as usual.
    let version = take(&store, &again, &p).await;
    store
        .commit_checkpoints(&again, owned(&p, 6, version), &[])
        .await
        .unwrap();
    assert_eq!(store.checkpoints(&task).await.unwrap()[&p], at(6));
}

/// `drop_all_leases` (the embedded store's restart) releases leases as `release_lease`
/// does: the slots are free at once, and their epochs keep growing.
async fn dropped_leases_stay_fenced(store: Store) {
    connections_a_and_b(&store).await;
    let task_id = id(10);
    store
        .create_task("t", &task(&task_id, "dr", &id(1), &id(2)))
        .await
        .unwrap();
    let mut gone = store
        .acquire_lease(&task_id, 0, "gone", 60_000)
        .await
        .unwrap()
        .unwrap();
    store.drop_all_leases().await.unwrap();
    let dropped = store.lease(&task_id, 0).await.unwrap().unwrap();
    assert!(dropped.epoch > gone.epoch);
    assert!(dropped.expires_at_ms <= now_ms(), "{dropped:?}");
    // A released lease is left as it is.
    store.drop_all_leases().await.unwrap();
    assert_eq!(
        store.lease(&task_id, 0).await.unwrap(),
        Some(dropped.clone())
    );

    let next = store
        .acquire_lease(&task_id, 0, "next", 60_000)
        .await
        .unwrap()
        .unwrap();
    assert!(next.epoch > dropped.epoch);
    assert!(matches!(
        store.renew_lease(&mut gone, 60_000).await,
        Err(StoreError::Fenced { .. })
    ));
}

/// Items past their `expires_at` are invisible, as DynamoDB's TTL would make them — but
/// DynamoDB deletes them days late, so reads filter them on both backends.
async fn expired_items_are_invisible(backend: Arc<dyn Backend>) {
    let now = chrono::Utc::now().timestamp();
    let put = |sk: &str, expires_at: Option<i64>, body: serde_json::Value| Write::Put {
        key: Key::new("p", sk),
        body,
        expires_at,
        condition: Condition::Always,
    };
    backend
        .write(vec![
            put("a#1", Some(now - 60), json!({})),
            put("a#2", Some(now + 3600), json!({})),
            put("a#3", None, json!({})),
            put("a#4", Some(now - 60), json!({})),
        ])
        .await
        .unwrap();
    assert!(backend.get(&Key::new("p", "a#1")).await.unwrap().is_none());
    assert!(backend.get(&Key::new("p", "a#2")).await.unwrap().is_some());
    for order in [Order::Ascending, Order::Descending] {
        // Pages of one item: expired items between pages do not end the listing.
        let mut listed = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = backend
                .query("p", "a#", after.as_deref(), order, 1)
                .await
                .unwrap();
            listed.extend(page.items.into_iter().map(|item| item.key.sk));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        if order == Order::Descending {
            listed.reverse();
        }
        assert_eq!(listed, ["a#2", "a#3"], "{order:?}");
    }

    // An expired event is neither listed nor counted as the newest one to coalesce with.
    let task = id(6);
    let expired = json!({
        "at": "2020-01-01T00:00:00Z", "level": "warn", "kind": "k", "message": "same", "count": 7
    });
    backend
        .write(vec![Write::Put {
            key: Key::new(format!("task#{task}"), "event#999999999999999#x"),
            body: expired,
            expires_at: Some(now - 60),
            condition: Condition::Always,
        }])
        .await
        .unwrap();
    let store = Store::new(backend);
    store
        .add_event(&task, Level::Warn, "k", "same")
        .await
        .unwrap();
    let events = store.events(&task, 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].count, events[0].last_at), (1, None));
}

/// Identical repeats of a recent event coalesce into it: a count and a last time, also
/// when other events came between (two stalled partitions retried in turn).
async fn identical_events_coalesce(store: Store) {
    let task = id(5);
    let stalled = "orders/0 stalled at offset 7: MessageSizeTooLarge";
    for _ in 0..3 {
        store
            .add_event(&task, Level::Warn, "replication", stalled)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    // Only the same level, kind and message coalesce, with other events between too.
    store
        .add_event(&task, Level::Info, "state", "state paused")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(3)).await;
    for (level, kind) in [
        (Level::Warn, "replication"),
        (Level::Error, "replication"),
        (Level::Error, "metadata"),
    ] {
        store.add_event(&task, level, kind, stalled).await.unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let events = store.events(&task, 10).await.unwrap();
    let counts: Vec<u64> = events.iter().map(|e| e.count).collect();
    assert_eq!(counts, [1, 1, 1, 4], "{events:?}");
    let repeated = &events[3];
    assert_eq!(
        (
            repeated.level,
            repeated.kind.as_str(),
            repeated.message.as_str()
        ),
        (Level::Warn, "replication", stalled)
    );
    let last_at = repeated.last_at.expect("a repeated event has a last time");
    assert!(last_at > repeated.at, "{repeated:?}");
    assert!(events[..3].iter().all(|e| e.last_at.is_none()));

    // What the API shows: `count` always, `last_at` once repeated.
    let shown = serde_json::to_value(repeated).unwrap();
    assert_eq!(shown["count"], 4);
    assert!(shown["last_at"].is_string(), "{shown}");
    assert_eq!(&serde_json::from_value::<Event>(shown).unwrap(), repeated);
    let single = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(single["count"], 1);
    assert!(single.get("last_at").is_none(), "{single}");

    // Concurrent repeats are each counted once.
    store
        .add_event(&task, Level::Warn, "racing", "again")
        .await
        .unwrap();
    let (a, b, c, d) = tokio::join!(
        store.add_event(&task, Level::Warn, "racing", "again"),
        store.add_event(&task, Level::Warn, "racing", "again"),
        store.add_event(&task, Level::Warn, "racing", "again"),
        store.add_event(&task, Level::Warn, "racing", "again"),
    );
    for added in [a, b, c, d] {
        added.unwrap();
    }
    let newest = store.events(&task, 1).await.unwrap();
    assert_eq!(
        (newest[0].kind.as_str(), newest[0].count),
        ("racing", 5),
        "{newest:?}"
    );
}

/// A partition that moves to another slot: the new owner reads the checkpoint as it is
/// at the take, and the former owner's next commit of it is refused (reported lost)
/// while its other partitions still commit.
async fn a_taken_partition_fences_its_former_owner(store: Store) {
    let task = id(6);
    let a = store
        .acquire_lease(&task, 0, "a", 60_000)
        .await
        .unwrap()
        .unwrap();
    let b = store
        .acquire_lease(&task, 1, "b", 60_000)
        .await
        .unwrap()
        .unwrap();
    let (p, q) = (
        PartitionRef {
            topic: "t".into(),
            partition: 0,
        },
        PartitionRef {
            topic: "t".into(),
            partition: 1,
        },
    );
    let held = store
        .take_partitions(&a, &[p.clone(), q.clone()])
        .await
        .unwrap();
    let committed = store
        .commit_checkpoints(&a, owned(&p, 10, held[&p].version), &[])
        .await
        .unwrap();
    let a_version = committed.owned[0].1.version;
    // b takes p and sees where a left it.
    let b_version = take(&store, &b, &p).await;
    assert_eq!(store.checkpoints(&task).await.unwrap()[&p], at(10));
    // a, not knowing, commits p further and q: q lands, p is lost and stays at 10.
    let mut stale = owned(&p, 99, a_version);
    stale.extend(owned(&q, 5, held[&q].version));
    let outcome = store.commit_checkpoints(&a, stale, &[]).await.unwrap();
    assert_eq!(outcome.lost, vec![p.clone()]);
    let stored = store.checkpoints(&task).await.unwrap();
    assert_eq!((&stored[&p], &stored[&q]), (&at(10), &at(5)));
    // b's commit goes through; versions only grow.
    let done = store
        .commit_checkpoints(&b, owned(&p, 20, b_version), &[])
        .await
        .unwrap();
    assert!(done.lost.is_empty() && done.owned[0].1.version > a_version);
    assert_eq!(store.checkpoints(&task).await.unwrap()[&p], at(20));
}

/// Writers that see the same partitions agree on one stored assignment, and growing
/// a topic moves none of what was placed.
async fn assignment_is_stored_once_and_stable(store: Store) {
    let task = id(7);
    let routes = |n: i32| -> Vec<Route> {
        (0..n)
            .map(|partition| Route {
                source: PartitionRef {
                    topic: "t".into(),
                    partition,
                },
                target_topic: "t".into(),
            })
            .collect()
    };
    let first = routes(24);
    let (x, y) = tokio::join!(
        store.refresh_assignment(&task, &first),
        store.refresh_assignment(&task, &first)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x, y);
    assert_eq!(x.slots, 20);
    let grown = store.refresh_assignment(&task, &routes(28)).await.unwrap();
    assert_eq!(grown.topics["t"][..24], x.topics["t"][..]);
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
            async fn a_taken_partition_fences_its_former_owner() {
                super::a_taken_partition_fences_its_former_owner(fresh_store($kind).await).await;
            }
            #[tokio::test]
            async fn assignment_is_stored_once_and_stable() {
                super::assignment_is_stored_once_and_stable(fresh_store($kind).await).await;
            }
            #[tokio::test]
            async fn mappings_in_numeric_order_and_events_newest_first() {
                super::mappings_in_numeric_order_and_events_newest_first(fresh_store($kind).await)
                    .await;
            }
            #[tokio::test]
            async fn lease_epochs_never_repeat() {
                super::lease_epochs_never_repeat(fresh_store($kind).await).await;
            }
            #[tokio::test]
            async fn dropped_leases_stay_fenced() {
                super::dropped_leases_stay_fenced(fresh_store($kind).await).await;
            }
            #[tokio::test]
            async fn expired_items_are_invisible() {
                super::expired_items_are_invisible(fresh_backend($kind).await).await;
            }
            #[tokio::test]
            async fn identical_events_coalesce() {
                super::identical_events_coalesce(fresh_store($kind).await).await;
            }
        }
    };
}

conformance!(embedded, StoreKind::Embedded);
conformance!(dynamodb, StoreKind::DynamoDb);
