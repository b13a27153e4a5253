//! What replication tests of a whole `kafka-sync local` share: an instance task over the
//! two real clusters, and checking that a target holds every source record.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use kafka_sync::replicator::{ORIGIN_HEADER, WorkerSettings};
use serde_json::{Value, json};

use crate::local::Local;
use crate::records::Record;

/// Creates connections to both clusters and an instance task copying metadata and
/// messages of the source topics `topics_regex` matches (a regex range, so the topics of
/// other tests are left alone); returns the task's id.
pub async fn create_instance_task(local: &Local, topics_regex: &str, start_offset: &str) -> String {
    create_task_with(local, topics_regex, json!({"start_offset": start_offset})).await
}

/// As [`create_instance_task`] from the earliest offsets, with `fields` added to (or
/// replacing fields of) the task, e.g. `{"same_partition": false}`.
pub async fn create_task_with(local: &Local, topics_regex: &str, fields: Value) -> String {
    let ids = local.connect_both(["src", "tgt"]).await;
    let mut spec = json!({"name": "copy", "kind": "instance", "source": ids[0],
        "target": ids[1], "sync": "metadata+messages", "start_offset": "earliest",
        "topics": {"regex": topics_regex}});
    for (k, v) in fields.as_object().expect("fields is an object") {
        spec[k] = v.clone();
    }
    let task = local.expect(201, "POST", "/v1/tasks", Some(spec)).await;
    task["id"].as_str().unwrap().to_owned()
}

/// A record's content as a map key: everything a copy must keep, without the offset and
/// the origin header the copy adds.
type Content = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
    Option<i64>,
);

fn content(record: &Record) -> Content {
    let Record {
        key,
        value,
        headers,
        timestamp,
        ..
    } = record.content_without(ORIGIN_HEADER);
    (key, value, headers, timestamp)
}

/// Asserts every source record is on the same target partition, equal but for the
/// origin header, its first copy in source order, and nothing else is there (at least
/// once: copies again are allowed after a crash, losses and strangers are not). Returns
/// how many target records are extra copies, per partition. The source records must be
/// distinct (as those of [`crate::records::produce`] are: each has its own key).
pub fn assert_all_copied(
    source: &BTreeMap<i32, Vec<Record>>,
    target: &BTreeMap<i32, Vec<Record>>,
) -> BTreeMap<i32, usize> {
    let mut duplicates = BTreeMap::new();
    for (partition, records) in source {
        let copies = target.get(partition).map(Vec::as_slice).unwrap_or_default();
        // Where each content first appears on the target, and how often.
        let mut first: HashMap<Content, (usize, usize)> = HashMap::new();
        for (index, copy) in copies.iter().enumerate() {
            first.entry(content(copy)).or_insert((index, 0)).1 += 1;
        }
        let mut previous = None;
        for record in records {
            let Some(&(at, _)) = first.get(&content(record)) else {
                panic!(
                    "partition {partition}: the record at source offset {} is not on the target",
                    record.offset
                );
            };
            assert!(
                previous < Some(at),
                "partition {partition}: the record at source offset {} was first copied before the record preceding it",
                record.offset
            );
            previous = Some(at);
        }
        let copied: usize = records.iter().map(|r| first[&content(r)].1).sum();
        assert_eq!(
            copied,
            copies.len(),
            "partition {partition}: the target holds records that are not from the source"
        );
        duplicates.insert(*partition, copies.len() - records.len());
    }
    duplicates
}

/// A quiet period for [`wait_settled`]: a worker's re-read of its partitions
/// (`reassign_every`), a local dispatch round (2 s) and a margin.
pub fn recheck_quiet() -> Duration {
    WorkerSettings::default().reassign_every + Duration::from_secs(5)
}

/// Waits until the task has copied every one of its `partitions` partitions up to the
/// source end, and then nothing changes for `quiet`: no record copied again, no target
/// partition growing. A worker only notices a change of its partitions when it re-reads
/// them, so a copy made again because of that change can start that long after the
/// task first looked caught up; `quiet` longer than that re-read interval lets such a
/// copy show before the target is counted.
pub async fn wait_settled(
    local: &Local,
    task_id: &str,
    partitions: usize,
    quiet: Duration,
    limit: Duration,
) -> Value {
    let deadline = Instant::now() + limit;
    let mut last: Option<(Vec<Value>, Instant)> = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let progress = local
            .wait_progress(task_id, remaining, |p| copied_up_to_end(p, partitions))
            .await;
        // What moves while anything is still being copied.
        let mut snapshot: Vec<Value> = partitions_of(&progress)
            .map(|p| p["target_end_offset"].clone())
            .collect();
        snapshot.push(progress["totals"]["messages"].clone());
        match &last {
            Some((before, since)) if *before == snapshot => {
                if since.elapsed() >= quiet {
                    return progress;
                }
            }
            _ => last = Some((snapshot, Instant::now())),
        }
        assert!(
            Instant::now() < deadline,
            "the copy never settled: {progress}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Every one of `partitions` partitions has its checkpoint at the source end, and the
/// target end is known.
fn copied_up_to_end(progress: &Value, partitions: usize) -> bool {
    progress["totals"]["lag"] == 0
        && partitions_of(progress).count() == partitions
        && partitions_of(progress)
            .all(|p| p["next_offset"] == p["source_end_offset"] && p["target_end_offset"].is_i64())
}

/// The partitions of every topic of a progress reply.
fn partitions_of(progress: &Value) -> impl Iterator<Item = &Value> {
    progress["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["partitions"].as_array().into_iter().flatten())
}
