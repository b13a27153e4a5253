//! Failback (DESIGN §3 "Failover"): a forward task (source → target) and a reverse task
//! (target → source) over the same topic run at once, with producers on both sides.
//! Nothing echoes: each record appears once on each side. Each direction translates a
//! group's offsets through its own map: a group moved to the other side reads every
//! record of its side's origin it had not consumed, and none it had.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use harness::copy_task::CopyTask;
use harness::groups::{commit_on, offsets_on};
use harness::records::{Record, create_topic, produce_records, read_all};
use harness::unique_name;
use kafka_sync::kafka::ClusterAccess;
use kafka_sync::kafka_admin::GroupOffset;
use kafka_sync::offset_sync::GroupStatus;

const TIMEOUT: Duration = Duration::from_secs(30);
const PARTITIONS: i32 = 2;

fn key_of(record: &Record) -> String {
    String::from_utf8_lossy(record.key.as_deref().unwrap_or_default()).into_owned()
}

/// `count` records per partition written natively on one side, keyed `{side}-{round}-{p}-{i}`.
fn native(side: &str, round: usize, count: usize) -> Vec<Record> {
    (0..PARTITIONS)
        .flat_map(|p| {
            (0..count).map(move |i| Record {
                partition: p,
                offset: 0,
                key: Some(format!("{side}-{round}-{p}-{i}").into_bytes()),
                value: Some(format!("value {i}").into_bytes()),
                headers: Vec::new(),
                timestamp: None,
            })
        })
        .collect()
}

/// Runs both tasks until each has copied its source side to the end, twice in a row with
/// nothing new: a copy adds records to the other side, which the other task then reads
/// (and skips as an echo).
async fn settle(forward: &CopyTask, reverse: &CopyTask) {
    let (a, b) = (harness::source(), harness::target());
    let mut quiet = 0;
    while quiet < 2 {
        let (ends_a, ends_b) = (
            ends(&a, &forward.topic).await,
            ends(&b, &reverse.topic).await,
        );
        let (before_a, before_b) = (ends_a.clone(), ends_b.clone());
        tokio::join!(
            forward.replicate_until(&ends_a, Duration::from_secs(2)),
            reverse.replicate_until(&ends_b, Duration::from_secs(2)),
        );
        let unchanged = ends(&a, &forward.topic).await == before_a
            && ends(&b, &reverse.topic).await == before_b;
        quiet = if unchanged { quiet + 1 } else { 0 };
    }
}

async fn ends(access: &ClusterAccess, topic: &str) -> BTreeMap<i32, i64> {
    let partitions = (0..PARTITIONS)
        .map(|p| kafka_sync::store::PartitionRef {
            topic: topic.to_owned(),
            partition: p,
        })
        .collect();
    access
        .watermarks(partitions, TIMEOUT)
        .await
        .unwrap()
        .into_iter()
        .map(|(p, (_, high))| (p.partition, high))
        .collect()
}

/// Each key appears exactly once on the side, and the side holds exactly `keys`.
fn assert_once(side: &str, log: &BTreeMap<i32, Vec<Record>>, keys: &[String]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for record in log.values().flatten() {
        *seen.entry(key_of(record)).or_default() += 1;
    }
    let doubled: Vec<(&String, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        doubled.is_empty(),
        "{side}: copied twice (an echo?): {doubled:?}"
    );
    for key in keys {
        assert!(seen.contains_key(key), "{side}: {key} is missing");
    }
    assert_eq!(seen.len(), keys.len(), "{side}: records nobody wrote");
}

/// Commits `group` on `from` at the offset of the `nth` record of each partition
/// (so it has consumed the `nth` before it), lets `task` translate it, and checks the
/// translation against what the group had consumed: on `to`, from the translated
/// offset on, it reads every record of `origin` it had not consumed on `from`, and
/// none it had.
async fn check_translation(
    task: &CopyTask,
    from: &ClusterAccess,
    to: &ClusterAccess,
    origin: &str,
    nth: usize,
) {
    let group = unique_name(&format!("failback-{origin}"));
    let (log_from, log_to) = (
        read_all(from, &task.topic).await,
        read_all(to, &task.topic).await,
    );
    let mut commits = Vec::new();
    for (p, records) in &log_from {
        commits.push(GroupOffset {
            topic: task.topic.clone(),
            partition: *p,
            offset: records[nth].offset,
        });
    }
    commit_on(from, &group, &commits).await;
    let progress = task.sync().await;
    assert_eq!(
        progress.statuses.get(&group),
        Some(&GroupStatus::Synced),
        "{progress:?}"
    );
    let translated = offsets_on(to, &group).await;
    for (p, records) in &log_from {
        let is_origin = |r: &&Record| key_of(r).starts_with(origin);
        let consumed: Vec<String> = records[..nth]
            .iter()
            .filter(is_origin)
            .map(key_of)
            .collect();
        let unread: Vec<String> = records[nth..]
            .iter()
            .filter(is_origin)
            .map(key_of)
            .collect();
        let at = translated[p];
        let on_to = &log_to[p];
        let read: Vec<String> = on_to
            .iter()
            .filter(|r| r.offset >= at)
            .filter(is_origin)
            .map(key_of)
            .collect();
        let before: Vec<String> = on_to
            .iter()
            .filter(|r| r.offset < at)
            .filter(is_origin)
            .map(key_of)
            .collect();
        println!(
            "{origin} records of partition {p}: committed at {} on one side, resumes at {at} on the other: {} unread, {} consumed",
            records[nth].offset,
            unread.len(),
            consumed.len()
        );
        assert_eq!(
            read, unread,
            "partition {p}: exactly the unread ones, in order"
        );
        assert_eq!(
            before, consumed,
            "partition {p}: the consumed ones stay behind"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_and_reverse_tasks_copy_each_record_once_and_translate_both_ways() {
    let topic = unique_name("failback");
    let (a, b) = (harness::source(), harness::target());
    create_topic(&a, &topic, PARTITIONS).await;
    create_topic(&b, &topic, PARTITIONS).await;
    let forward = CopyTask::between(a.clone(), b.clone(), &topic, PARTITIONS).await;
    let reverse = CopyTask::between(b.clone(), a.clone(), &topic, PARTITIONS).await;

    // Three rounds: both sides write, and both tasks copy while the other side writes.
    let mut keys = Vec::new();
    for round in 0..3 {
        let (on_a, on_b) = (native("a", round, 40), native("b", round, 25));
        keys.extend(on_a.iter().chain(&on_b).map(key_of));
        tokio::join!(
            produce_records(&a, &topic, &on_a),
            produce_records(&b, &topic, &on_b)
        );
        settle(&forward, &reverse).await;
    }

    let (log_a, log_b) = (read_all(&a, &topic).await, read_all(&b, &topic).await);
    assert_once("source", &log_a, &keys);
    assert_once("target", &log_b, &keys);

    // A group that read the source's own records moves to the target, and one that
    // read the target's own records moves back to the source.
    check_translation(&forward, &a, &b, "a", 70).await;
    check_translation(&reverse, &b, &a, "b", 50).await;
}
