//! Exact consumer-group offsets (DESIGN §3 "Consumer-group offsets", "Failover"; §5 the
//! failover and groups endpoints) on the two real clusters.
//!
//! A group committed at source offset `c` must resume on the target at the first copied
//! record whose source offset is at or after `c`. Its consumer then reads every source
//! record from `c` on, and nothing before `c`. This must hold across the gaps left by
//! transaction markers, aborted transactions and compaction. Every check reads back
//! with a real consumer of the group on the target (read_committed).
//!
//! The offset map comes from real replication. The first, second and fourth tests run
//! replicator workers in-process for a task with a regex range over the test's own
//! topic, and drive offset sync with `offset_sync::sync_groups`, as tests/offset_sync.rs
//! does. The failover test runs `kafka-sync local` over HTTP; its header says why it
//! changes the task's range in the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::admin::delete_records_before;
use harness::copies::create_instance_task;
use harness::copy_task::CopyTask;
use harness::groups::{LiveMember, commit_on, offsets_on};
use harness::local::{Local, binary};
use harness::records::{Record, create_topic, create_topic_with, produce, produce_records};
use harness::task::TENANT;
use harness::{local_dynamodb, unique_name};
use kafka_sync::kafka::ClusterAccess;
use kafka_sync::kafka_admin::{GroupOffset, KafkaAdmin};
use kafka_sync::offset_sync::{self, GroupStatus};
use kafka_sync::secrets::LocalSecrets;
use kafka_sync::services::Services;
use kafka_sync::task::{InstanceTaskSpec, SyncScope, TaskSpec, TopicSelection};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use tokio::task::JoinSet;

const TIMEOUT: Duration = Duration::from_secs(30);
/// The header that names each record the tests write. Values can be null (a compaction
/// tombstone), so they cannot serve as the record's identity.
const SEQ: &str = "seq";

/// What a consumer read, per partition: each record's offset and its [`SEQ`] header.
type Log = BTreeMap<i32, Vec<(i64, String)>>;

// ------------------------------------------------------------------- reading ----

/// The record's [`SEQ`] header as text. `harness::records::produce` writes it as 8
/// big-endian bytes, and the tests here write it as a decimal string.
fn seq_of(message: &impl Message) -> String {
    message
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == SEQ))
        .and_then(|h| h.value)
        .map(|v| String::from_utf8(v.to_vec()).unwrap_or_else(|_| format!("{v:?}")))
        .unwrap_or_else(|| panic!("offset {} has no {SEQ} header", message.offset()))
}

/// Reads each partition of `topic` in `starts`, from its start offset to the end of the
/// log at the time of the call, as a read_committed consumer. This is what a consumer
/// of a transactional topic gets: no aborted record, no marker. With `group`, the
/// consumer reads as a member of that group (it commits nothing).
fn read_from(access: &ClusterAccess, topic: &str, group: &str, starts: &BTreeMap<i32, i64>) -> Log {
    let consumer: BaseConsumer = access
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for (p, start) in starts {
        assignment
            .add_partition_offset(topic, *p, Offset::Offset(*start))
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut read: Log = starts.keys().map(|p| (*p, Vec::new())).collect();
    let mut open: BTreeSet<i32> = starts.keys().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !open.is_empty() {
        assert!(
            Instant::now() < deadline,
            "reading {topic} as {group} timed out; still open: {open:?}"
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            Some(Ok(message)) => {
                let entry = (message.offset(), seq_of(&message));
                read.get_mut(&message.partition()).unwrap().push(entry);
            }
        }
    }
    read
}

/// Every committed record of `topic` on the source, with each partition's log end.
async fn source_log(topic: &str, partitions: i32) -> (Log, BTreeMap<i32, i64>) {
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let access = harness::source();
        let starts = (0..partitions).map(|p| (p, 0)).collect();
        let log = read_from(&access, &topic, &unique_name("snapshot"), &starts);
        let consumer: BaseConsumer = access.client_config().create().unwrap();
        let ends = (0..partitions)
            .map(|p| (p, consumer.fetch_watermarks(&topic, p, TIMEOUT).unwrap().1))
            .collect();
        (log, ends)
    })
    .await
    .unwrap()
}

/// A consumer of `group` on the target. It starts at the group's committed offsets and
/// reads to the end. Returns those offsets (a partition without one is left out and is
/// not read) and what it read.
async fn read_as_group(group: &str, topic: &str, partitions: i32) -> (BTreeMap<i32, i64>, Log) {
    let (group, topic) = (group.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let access = harness::target();
        let consumer: BaseConsumer = access
            .client_config()
            .set("group.id", &group)
            .create()
            .unwrap();
        let mut all = TopicPartitionList::new();
        for p in 0..partitions {
            all.add_partition(&topic, p);
        }
        // The group's coordinator may be moving or loading (NotCoordinator,
        // CoordinatorLoadInProgress) while many groups are new; the consumer's own
        // lookup retries, as a real consumer's would.
        let deadline = Instant::now() + TIMEOUT;
        let offsets = loop {
            match consumer.committed_offsets(all.clone(), TIMEOUT) {
                Ok(offsets) => break offsets,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("{group}: committed offsets: {e}; again");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("{group}: committed offsets: {e}"),
            }
        };
        let committed: BTreeMap<i32, i64> = offsets
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect();
        let read = read_from(&access, &topic, &group, &committed);
        (committed, read)
    })
    .await
    .unwrap()
}

/// Compares what a target consumer of a group read (`read`, from `resumed_at`) with the
/// source records at or after the group's source commit `c`. Returns what is wrong:
/// records skipped, records re-read, and anything else read out of order.
fn inexact(
    source: &[(i64, String)],
    c: i64,
    resumed_at: Option<i64>,
    read: &[(i64, String)],
) -> Option<String> {
    let expected: Vec<&str> = source
        .iter()
        .filter(|(o, _)| *o >= c)
        .map(|(_, s)| s.as_str())
        .collect();
    let got: Vec<&str> = read.iter().map(|(_, s)| s.as_str()).collect();
    if resumed_at.is_none() {
        return Some(format!(
            "no commit on the target ({} records at or after it)",
            expected.len()
        ));
    }
    if got == expected {
        return None;
    }
    let wanted: BTreeSet<&str> = expected.iter().copied().collect();
    let seen: BTreeSet<&str> = got.iter().copied().collect();
    let before: BTreeSet<&str> = source
        .iter()
        .filter(|(o, _)| *o < c)
        .map(|(_, s)| s.as_str())
        .collect();
    let skipped: Vec<i64> = source
        .iter()
        .filter(|(o, s)| *o >= c && !seen.contains(s.as_str()))
        .map(|(o, _)| *o)
        .collect();
    let again: Vec<&str> = got.iter().copied().filter(|s| before.contains(s)).collect();
    Some(format!(
        "resumed at target {resumed_at:?}: {} skipped (source offsets {skipped:?}), {} re-read ({again:?}), {} read in all, {} wanted{}",
        skipped.len(),
        again.len(),
        got.len(),
        expected.len(),
        if skipped.is_empty() && again.is_empty() && seen == wanted {
            " (the same records, in another order or with copies again)"
        } else {
            ""
        }
    ))
}

// -------------------------------------------------------------------- groups ----

/// The main check of the gap tests. It commits one source group per offset `c` from 0
/// to the longest partition's end (each partition p at min(c, end[p])), runs one offset
/// sync, and reads every group back on the target. It asserts that each group read
/// exactly the source records at or after its commit. It collects every failure before
/// asserting, so that a failure shows every position that is wrong and not only the
/// first.
async fn check_every_position(copy: &CopyTask, source: &Log, ends: &BTreeMap<i32, i64>) {
    let last = *ends.values().max().unwrap();
    let prefix = unique_name("exact-g");
    let mut groups = Vec::new();
    let admin = Arc::new(KafkaAdmin::new(&harness::source()).unwrap());
    let mut commits = JoinSet::new();
    for c in 0..=last {
        let group = format!("{prefix}-{c:04}");
        let at: BTreeMap<i32, i64> = ends.iter().map(|(p, end)| (*p, c.min(*end))).collect();
        let offsets: Vec<GroupOffset> = at
            .iter()
            .map(|(p, o)| GroupOffset {
                topic: copy.topic.clone(),
                partition: *p,
                offset: *o,
            })
            .collect();
        groups.push((group.clone(), at));
        let admin = Arc::clone(&admin);
        commits.spawn(async move { admin.commit_group_offsets(&group, &offsets, TIMEOUT).await });
        if commits.len() >= 16 {
            commits.join_next().await.unwrap().unwrap().unwrap();
        }
    }
    while let Some(done) = commits.join_next().await {
        done.unwrap().unwrap();
    }

    let started = Instant::now();
    let progress = copy.sync().await;
    println!(
        "offset sync of {} groups: {:?}, {} partitions committed",
        groups.len(),
        started.elapsed(),
        progress.partitions_committed
    );
    let not_synced: Vec<_> = groups
        .iter()
        .filter(|(g, _)| progress.statuses.get(g) != Some(&GroupStatus::Synced))
        .map(|(g, _)| (g.clone(), progress.statuses.get(g).copied()))
        .collect();

    let mut reads = JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    for (group, at) in groups.clone() {
        let (topic, partitions, limit) = (copy.topic.clone(), copy.partitions, Arc::clone(&limit));
        reads.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            let (resumed, read) = read_as_group(&group, &topic, partitions).await;
            (group, at, resumed, read)
        });
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    while let Some(done) = reads.join_next().await {
        let (group, at, resumed, read) = done.unwrap();
        for (p, c) in &at {
            checked += 1;
            let none = Vec::new();
            if let Some(why) = inexact(
                &source[p],
                *c,
                resumed.get(p).copied(),
                read.get(p).unwrap_or(&none),
            ) {
                failures.push(format!(
                    "partition {p}, group at source {c} ({group}): {why}"
                ));
            }
        }
    }
    failures.sort();
    println!(
        "{checked} (group, partition) positions read back on the target, {} inexact",
        failures.len()
    );
    for failure in &failures {
        println!("  {failure}");
    }
    assert!(
        failures.is_empty() && not_synced.is_empty(),
        "{} of {checked} positions inexact:\n{}\ngroups the sync did not report as synced: {not_synced:?}",
        failures.len(),
        failures.join("\n")
    );
}

/// Asserts the target holds exactly the source's committed records, in order, with no
/// extra copies. Without this, a wrong read-back could come from a duplicate made when
/// a worker stopped, and not from the translation.
async fn assert_copied_once(copy: &CopyTask, source: &Log) {
    let topic = copy.topic.clone();
    let starts: BTreeMap<i32, i64> = source.keys().map(|p| (*p, 0)).collect();
    let target = tokio::task::spawn_blocking(move || {
        read_from(&harness::target(), &topic, &unique_name("verify"), &starts)
    })
    .await
    .unwrap();
    for (p, records) in source {
        let seqs = |log: &[(i64, String)]| log.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>();
        assert_eq!(
            seqs(&target[p]),
            seqs(records),
            "partition {p}: the target is not the source's committed records, once each"
        );
    }
}

/// Per partition, the offset after its last committed record: where the copy is
/// complete.
fn copied_when(source: &Log) -> BTreeMap<i32, i64> {
    source
        .iter()
        .map(|(p, log)| (*p, log.last().map_or(0, |(o, _)| o + 1)))
        .collect()
}

/// The offsets of `log` that hold no record a consumer gets: the gaps.
fn gaps(log: &[(i64, String)], end: i64) -> Vec<i64> {
    let present: BTreeSet<i64> = log.iter().map(|(o, _)| *o).collect();
    (0..end).filter(|o| !present.contains(o)).collect()
}

// ----------------------------------------------------- transactional source ----

/// What one step of the transactional producer writes: how many records to each
/// partition.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A transaction that commits.
    Commit(usize, usize),
    /// A transaction that aborts.
    Abort(usize, usize),
    /// Records outside any transaction, from an idempotent producer.
    Plain(usize, usize),
}

#[tokio::test(flavor = "multi_thread")]
async fn transactional_source_commits_and_aborts_translate_exactly() {
    let topic = unique_name("exact-txn");
    create_topic(&harness::source(), &topic, 2).await;
    // Partition 0 starts with an aborted transaction, so its first copied record is
    // not at offset 0. Partition 1 starts with a committed one. The steps include
    // aborts back to back, a transaction that writes to one partition only, one-record
    // transactions, plain records between transactions, and an abort at the very end.
    let steps = [
        Step::Abort(3, 0),
        Step::Commit(5, 3),
        Step::Abort(4, 2),
        Step::Abort(3, 1),
        Step::Commit(6, 1),
        Step::Commit(1, 4),
        Step::Commit(0, 2),
        Step::Abort(2, 2),
        Step::Plain(3, 2),
        Step::Commit(3, 3),
        Step::Plain(2, 1),
        Step::Commit(1, 1),
        Step::Abort(2, 1),
    ];
    let producer: FutureProducer = harness::source()
        .client_config()
        .set("transactional.id", unique_name("exact-txn-producer"))
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    tokio::task::block_in_place(|| producer.init_transactions(TIMEOUT)).unwrap();
    let mut seq = 0u64;
    let mut aborted = 0;
    let mut next_record = |partition: i32| {
        seq += 1;
        Record {
            partition,
            offset: 0,
            key: Some(format!("k{seq}").into_bytes()),
            value: Some(format!("v{seq}").into_bytes()),
            headers: vec![(SEQ.to_owned(), Some(seq.to_string().into_bytes()))],
            timestamp: None,
        }
    };
    for step in steps {
        let (n0, n1, transactional) = match step {
            Step::Commit(a, b) | Step::Abort(a, b) => (a, b, true),
            Step::Plain(a, b) => (a, b, false),
        };
        let records: Vec<Record> = std::iter::repeat_n(0, n0)
            .chain(std::iter::repeat_n(1, n1))
            .map(&mut next_record)
            .collect();
        if !transactional {
            produce_records(&harness::source(), &topic, &records).await;
            continue;
        }
        producer.begin_transaction().unwrap();
        let mut deliveries = Vec::new();
        for r in &records {
            let headers = OwnedHeaders::new().insert(Header {
                key: SEQ,
                value: r.headers[0].1.as_deref(),
            });
            let out = FutureRecord::to(&topic)
                .partition(r.partition)
                .key(r.key.as_deref().unwrap())
                .payload(r.value.as_deref().unwrap())
                .headers(headers);
            deliveries.push(producer.send_result(out).map_err(|(e, _)| e).unwrap());
        }
        for d in deliveries {
            d.await.unwrap().map_err(|(e, _)| e).unwrap();
        }
        match step {
            Step::Abort(..) => {
                aborted += records.len();
                tokio::task::block_in_place(|| producer.abort_transaction(TIMEOUT)).unwrap()
            }
            _ => tokio::task::block_in_place(|| producer.commit_transaction(TIMEOUT)).unwrap(),
        }
    }

    let (source, ends) = source_log(&topic, 2).await;
    for (p, log) in &source {
        println!(
            "partition {p}: {} committed records, end {}, gaps (markers and aborted) at {:?}",
            log.len(),
            ends[p],
            gaps(log, ends[p])
        );
    }
    let committed: usize = source.values().map(Vec::len).sum();
    assert_eq!(
        committed as u64 + aborted as u64,
        seq,
        "read_committed hides the aborted ones"
    );
    assert!(
        gaps(&source[&0], ends[&0]).contains(&0),
        "partition 0 starts with a gap"
    );

    let copy = CopyTask::new(&topic, 2).await;
    copy.replicate_until(&copied_when(&source), Duration::from_secs(3))
        .await;
    assert_copied_once(&copy, &source).await;
    for p in 0..2 {
        println!(
            "partition {p}: checkpoint {:?} (log end {}), runs {:?}",
            copy.checkpoint(p).await,
            ends[&p],
            copy.runs(p).await
        );
    }
    // How the copy's lag is reported once everything committed is copied. The log ends
    // in markers and aborted records, which are never copied: an idle worker steps its
    // checkpoint over them, so the lag is 0.
    let progress = kafka_sync::progress::progress(&copy.services, TENANT, &copy.task)
        .await
        .unwrap();
    println!(
        "progress once every committed record is copied: lag {} ({})",
        progress["totals"]["lag"], progress["topics"][0]["partitions"]
    );
    assert_eq!(progress["totals"]["lag"], 0, "{progress}");
    check_every_position(&copy, &source, &ends).await;
}

// ---------------------------------------------------------- compacted topic ----

#[tokio::test]
async fn compacted_topic_with_offset_gaps_translates_exactly() {
    let topic = unique_name("exact-compact");
    // Each segment rolls 100 ms after its first record, and the cleaner takes any
    // closed segment with dirty records. So each round below, written 150 ms after the
    // one before, is compacted once the next round has closed its segment.
    create_topic_with(
        &harness::source(),
        &topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.ms", "100"),
            ("min.cleanable.dirty.ratio", "0.001"),
            ("min.compaction.lag.ms", "0"),
            ("delete.retention.ms", "86400000"),
        ],
    )
    .await;
    // The target topic exists before the task starts, so metadata sync leaves it as it
    // is: it does not compact. Compaction on the target would remove older copies of
    // keys that the source still keeps. That is correct for a compacted topic, but it
    // would hide what this test checks, namely which copies a consumer reads.
    create_topic_with(
        &harness::target(),
        &topic,
        1,
        &[("cleanup.policy", "delete")],
    )
    .await;

    // Each round writes three hot keys that every later round overwrites, two keys of
    // its own that are never overwritten, and from round 2 on a tombstone for a key of
    // the round two before. Compaction leaves gaps of one and two offsets between the
    // records that survive. Offset 0 holds a hot key, so the log starts with a gap.
    let mut seq = 0u64;
    let mut record = |key: String, value: Option<Vec<u8>>| {
        seq += 1;
        Record {
            partition: 0,
            offset: 0,
            key: Some(key.into_bytes()),
            value,
            headers: vec![(SEQ.to_owned(), Some(seq.to_string().into_bytes()))],
            timestamp: None,
        }
    };
    let rounds = 25;
    // Each record's key, by its seq, to tell when compaction is complete.
    let mut key_of: HashMap<String, Vec<u8>> = HashMap::new();
    for r in 0..rounds {
        let mut batch = vec![
            record("hot-0".into(), Some(format!("h0-{r}").into_bytes())),
            record(format!("own-{r}-a"), Some(b"a".to_vec())),
            record("hot-1".into(), Some(format!("h1-{r}").into_bytes())),
            record(format!("own-{r}-b"), Some(b"b".to_vec())),
            record("hot-2".into(), Some(format!("h2-{r}").into_bytes())),
            record("hot-0".into(), Some(format!("h0-{r}-again").into_bytes())),
        ];
        if r >= 2 {
            batch.push(record(format!("own-{}-b", r - 2), None));
        }
        for written in &batch {
            let seq = String::from_utf8(written.headers[0].1.clone().unwrap()).unwrap();
            key_of.insert(seq, written.key.clone().unwrap());
        }
        produce_records(&harness::source(), &topic, &batch).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // One more record, so that the last round's segment closes too.
    let last = record("last".into(), None);
    key_of.insert(
        String::from_utf8(last.headers[0].1.clone().unwrap()).unwrap(),
        last.key.clone().unwrap(),
    );
    produce_records(&harness::source(), &topic, &[last]).await;

    // Waits for the cleaner, which wakes every 15 s (log.cleaner.backoff.ms), until
    // compaction is complete: every key appears once. No later pass can change the
    // log after that (tombstones stay for delete.retention.ms, a day), so the snapshot
    // taken here is what the copy reads. A snapshot taken after a partial pass could
    // lose records to a later pass while the copy runs.
    let deadline = Instant::now() + Duration::from_secs(150);
    let (source, ends) = loop {
        let (log, ends) = source_log(&topic, 1).await;
        let keys: BTreeSet<&[u8]> = log[&0].iter().map(|(_, s)| key_of[s].as_slice()).collect();
        if keys.len() == log[&0].len() {
            break (log, ends);
        }
        assert!(
            Instant::now() < deadline,
            "the source was not compacted: {} records for {} keys",
            log[&0].len(),
            keys.len()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let missing = gaps(&source[&0], ends[&0]);
    println!(
        "compacted: {} records left of {} offsets; gone: {missing:?}",
        source[&0].len(),
        ends[&0]
    );
    assert!(missing.contains(&0), "the log starts with a gap");

    let copy = CopyTask::new(&topic, 1).await;
    copy.replicate_until(&copied_when(&source), Duration::from_secs(3))
        .await;
    // The snapshot is still what the copy read: no later compaction pass ran between
    // the snapshot and the copy.
    assert_copied_once(&copy, &source).await;
    let runs = copy.runs(0).await;
    println!(
        "{} runs (store items) for {} records: {runs:?}",
        runs.len(),
        source[&0].len()
    );
    check_every_position(&copy, &source, &ends).await;
}

// ---------------------------------------------------------- bounded state ----

/// The number of records copied on the single partition.
const MANY: i64 = 1_000_000;

#[tokio::test(flavor = "multi_thread")]
async fn store_items_per_partition_stay_bounded_over_a_million_records() {
    let topic = unique_name("exact-bounded");
    create_topic(&harness::source(), &topic, 1).await;
    let copy = CopyTask::new(&topic, 1).await;
    let started = Instant::now();
    // The producer runs while the copy runs, as steady traffic does.
    let producing = tokio::spawn({
        let topic = topic.clone();
        async move {
            for chunk in 0..10 {
                produce(&harness::source(), &topic, 1, chunk * 100_000, 100_000, 10).await;
            }
        }
    });
    let group = unique_name("exact-bounded-g");
    let source = harness::source();
    // Per round: (records copied, group commit, items before the sync, items after).
    let mut figures: Vec<(i64, i64, usize, usize)> = Vec::new();
    loop {
        // A Lambda-sized invocation: each is a new owner and writes runs of its own.
        copy.invoke_workers(Duration::from_secs(2)).await;
        let copied = copy.checkpoint(0).await.unwrap_or(0);
        // The group's consumer keeps up with the copy, 5,000 records behind it.
        let at = (copied - 5_000).max(0);
        commit_on(
            &source,
            &group,
            &[GroupOffset {
                topic: topic.clone(),
                partition: 0,
                offset: at,
            }],
        )
        .await;
        let before = copy.runs(0).await.len();
        copy.sync().await;
        let after = copy.runs(0).await.len();
        figures.push((copied, at, before, after));
        // The topic has no gaps and the target topic started empty, so the exact
        // translation is the same offset.
        if at > 0 {
            assert_eq!(
                offsets_on(&harness::target(), &group).await.get(&0),
                Some(&at),
                "{figures:?}"
            );
        }
        if copied >= MANY {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(400),
            "the copy is too slow: {figures:?}"
        );
    }
    producing.await.unwrap();
    let copy_time = started.elapsed();

    // The group catches up with the end: only the last run is left.
    commit_on(
        &source,
        &group,
        &[GroupOffset {
            topic: topic.clone(),
            partition: 0,
            offset: MANY,
        }],
    )
    .await;
    copy.sync().await;
    let last = copy.runs(0).await;
    assert_eq!(
        offsets_on(&harness::target(), &group).await.get(&0),
        Some(&MANY)
    );

    println!(
        "{MANY} records copied in {copy_time:?}; per round (copied, group at, store items before the sync, after):"
    );
    for f in &figures {
        println!("  {f:?}");
    }
    println!(
        "after the group reached the end: {} item(s): {last:?}",
        last.len()
    );
    let most = figures.iter().map(|f| f.3).max().unwrap();
    println!(
        "store items per partition: at most {most} after a sync, at most {} before one, {} at the end",
        figures.iter().map(|f| f.2).max().unwrap(),
        last.len()
    );
    // Every run below the group is pruned but the one just below it. Besides that one,
    // the partition keeps the run the group is in and the run the last invocation
    // wrote.
    assert!(most <= 3, "{figures:?}");
    assert_eq!(last.len(), 1, "{last:?}");
}

#[tokio::test]
async fn runs_of_a_partition_no_group_reads_are_pruned_below_the_log_start() {
    let topic = unique_name("exact-nogroup");
    create_topic(&harness::source(), &topic, 1).await;
    let copy = CopyTask::new(&topic, 1).await;
    // Four rounds of 250 records, each copied by worker invocations of its own. Each
    // invocation is a new owner, so there are at least four runs.
    for round in 0..4 {
        produce(&harness::source(), &topic, 1, round * 250, 250, 10).await;
        let wanted = BTreeMap::from([(0, (round as i64 + 1) * 250)]);
        copy.replicate_until(&wanted, Duration::from_secs(1)).await;
    }
    copy.sync().await;
    let unread = copy.runs(0).await;
    println!(
        "no group on the partition, log start 0: {} item(s) after a sync: {unread:?}",
        unread.len()
    );
    assert!(unread.len() >= 4, "{unread:?}");

    // Retention (here DeleteRecords) moves the log start past the first three rounds.
    // No group commits on the topic, so this partition is pruned only if the offset-sync
    // pass prunes partitions that no group reads.
    delete_records_before(&harness::source(), &topic, 0, 750).await;
    copy.sync().await;
    let left = copy.runs(0).await;
    println!(
        "no group, log start 750: {} item(s) after a sync: {left:?}",
        left.len()
    );
    // `prunable` keeps the last run that ends at or below the floor, and every run
    // after it: here the run ending at 750 and the one after it.
    assert!(
        left.len() <= 2,
        "runs below the log start (750) were not pruned: {left:?}"
    );
}

// ------------------------------------------------------------- failover API ----
//
// The failover endpoint serves only a metadata+messages+offsets task, and the API
// requires such a task to range over all topics. On the shared clusters, a running
// all-topics task would copy every other test's topics. So the test:
// 1. creates a regex task over its own topic through the API and lets `kafka-sync
//    local` copy that topic;
// 2. pauses the task, so that no worker, metadata sync or offset sync runs it;
// 3. changes the task's `topics` and `sync` in the store to those of an all-topics
//    offsets task. `kafka-sync local` runs on a DynamoDB Local table that the test opens
//    too.
// The offset map is then exactly what an all-topics task would have written for that
// topic. Failover calls with named groups touch only those groups.

/// The partition `p` of a failover reply group.
fn partition_of(group: &Value, p: i64) -> &Value {
    group["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["partition"] == p)
        .unwrap_or_else(|| panic!("no partition {p} in {group}"))
}

fn group_of<'a>(reply: &'a Value, name: &str) -> &'a Value {
    reply["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("no group {name} in {reply}"))
}

async fn commit_source(group: &str, topic: &str, offsets: &[i64]) {
    let offsets: Vec<GroupOffset> = offsets
        .iter()
        .enumerate()
        .map(|(p, o)| GroupOffset {
            topic: topic.to_owned(),
            partition: p as i32,
            offset: *o,
        })
        .collect();
    commit_on(&harness::source(), group, &offsets).await;
}

async fn wait_members(group: &str) {
    let admin = KafkaAdmin::new(&harness::target()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin
        .describe_groups(&[group.to_owned()], TIMEOUT)
        .await
        .unwrap()[0]
        .members
        == 0
    {
        assert!(Instant::now() < deadline, "{group} never got a member");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A failover call that must succeed; prints how long it took.
async fn failover(local: &Local, task: &str, body: Value) -> Value {
    let started = Instant::now();
    let path = format!("/v1/tasks/{task}/failover");
    let reply = local.expect(200, "POST", &path, Some(body.clone())).await;
    println!("POST failover {body} answered in {:?}", started.elapsed());
    reply
}

#[tokio::test]
async fn failover_dry_run_reports_and_commits_nothing_and_the_real_run_commits() {
    // Built first, so the timings below are the service's own.
    let binary = binary();
    let topic = unique_name("exact-fo");
    create_topic(&harness::source(), &topic, 2).await;
    // Records 0..1000: record i goes to partition i mod 2 with timestamp base + i.
    produce(&harness::source(), &topic, 2, 0, 1_000, 20).await;

    let (table, store) = local_dynamodb::fresh_table().await;
    let home = harness::scratch_dir().join(unique_name("exact-fo"));
    let log = home.with_extension("log");
    let local = local_dynamodb::start(&binary, &home, &log, &table, &[]).await;
    let started = Instant::now();
    let task = create_instance_task(&local, &format!("^{topic}$"), "earliest").await;
    local
        .wait_progress(&task, Duration::from_secs(120), |p| {
            p["totals"]["lag"] == 0 && p["totals"]["messages"] == 1_000
        })
        .await;
    println!(
        "kafka-sync local copied the topic in {:?}",
        started.elapsed()
    );
    let path = format!("/v1/tasks/{task}/failover");

    // Bad input is a 400 that names the field at fault. It is checked before the task.
    for (body, field) in [
        (json!({"groups": []}), "groups"),
        (json!({"groups": "some"}), "groups"),
        (json!({"groups": 7}), "groups"),
        (json!({"groups": [1, 2]}), "groups"),
        (json!({"dry_run": true}), "groups"),
        (json!({"groups": "all", "dry_run": "yes"}), "dry_run"),
        (json!({"groups": "all", "extra": 1}), "extra"),
    ] {
        let (status, text) = local.call("POST", &path, Some(body.clone())).await;
        println!("{body} -> {status} {text}");
        assert_eq!(status, 400, "{body}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert!(error["error"]["code"].is_string(), "{body}: {text}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    let (status, text) = local
        .call(
            "POST",
            "/v1/tasks/0123456789abcdef0123456789abcdef/failover",
            Some(json!({"groups": "all", "dry_run": true})),
        )
        .await;
    assert_eq!(status, 404, "{text}");
    // A task that does not sync offsets has no failover.
    let (status, text) = local
        .call(
            "POST",
            &path,
            Some(json!({"groups": "all", "dry_run": true})),
        )
        .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("offsets"), "{text}");

    // Step 2: pause the task. The dispatcher stops its workers within its 2 s period.
    local
        .expect(200, "POST", &format!("/v1/tasks/{task}/pause"), None)
        .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    // Records 1000..1200 are not copied: 100 per partition, spanning 198 ms of record
    // timestamps on each partition (1000 + p to 1198 + p).
    produce(&harness::source(), &topic, 2, 1_000, 200, 20).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let progress = local
        .expect(200, "GET", &format!("/v1/tasks/{task}/progress"), None)
        .await;
    assert_eq!(
        progress["totals"]["messages"], 1_000,
        "the pause took effect: {progress}"
    );

    // Step 3: make it the offsets task it stands for.
    let (tenant, _) = store
        .all_tasks()
        .await
        .unwrap()
        .into_iter()
        .find(|(_, t)| t.id == task)
        .unwrap();
    let changed = store
        .update_task(&tenant, &task, |current| {
            let mut next = current.clone();
            let TaskSpec::Instance(spec) = &mut next.spec else {
                unreachable!("an instance task")
            };
            let InstanceTaskSpec { topics, sync, .. } = spec;
            *topics = TopicSelection::All;
            *sync = SyncScope::MetadataMessagesOffsets;
            Ok(next)
        })
        .await
        .unwrap();
    assert!(changed.spec.syncs_offsets());
    let services = Services {
        store: store.clone(),
        secrets: Arc::new(LocalSecrets::from_key(&[3; 32])),
    };

    // a: inside the copy, and already at 50 on the target on partition 0.
    // b: at the end of the copy (p0) and past it (p1).
    // c: inside the copy, with a live member on the target.
    let [a, b, c] = ["a", "b", "c"].map(|n| format!("{}-{n}", unique_name("exact-fo-g")));
    commit_source(&a, &topic, &[200, 300]).await;
    commit_source(&b, &topic, &[500, 550]).await;
    commit_source(&c, &topic, &[100, 100]).await;
    commit_on(
        &harness::target(),
        &a,
        &[GroupOffset {
            topic: topic.clone(),
            partition: 0,
            offset: 50,
        }],
    )
    .await;
    let _member = LiveMember::join(&harness::target(), &c, &topic);
    wait_members(&c).await;

    // The dry run reports everything and commits nothing.
    let dry = failover(&local, &task, json!({"groups": [a, b, c], "dry_run": true})).await;
    println!("dry run: {dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["groups"].as_array().unwrap().len(), 3, "{dry}");
    for (group, committed, target, ahead, active) in [
        (&a, [200, 300], [200, 300], false, false),
        (&b, [500, 550], [500, 500], true, false),
        (&c, [100, 100], [100, 100], false, true),
    ] {
        let reply = group_of(&dry, group);
        assert_eq!(reply["active_on_target"], active, "{reply}");
        assert_eq!(reply["partitions"].as_array().unwrap().len(), 2, "{reply}");
        for p in 0..2 {
            let part = partition_of(reply, p);
            assert_eq!(part["topic"], topic.as_str(), "{part}");
            assert_eq!(
                part["source_committed"], committed[p as usize],
                "{group} {part}"
            );
            assert_eq!(part["target_offset"], target[p as usize], "{group} {part}");
            assert_eq!(part["ahead_of_copy"], ahead, "{group} {part}");
            assert_eq!(part["committed"], false, "{part}");
            assert_eq!(
                part["not_yet_copied"],
                json!({"records": 100, "ms": 198}),
                "{group} {part}"
            );
        }
    }
    assert_eq!(
        offsets_on(&harness::target(), &a).await,
        BTreeMap::from([(0, 50)]),
        "the dry run moved a"
    );
    assert!(
        offsets_on(&harness::target(), &b).await.is_empty(),
        "the dry run committed b"
    );
    assert!(
        offsets_on(&harness::target(), &c).await.is_empty(),
        "the dry run committed c"
    );

    // Nothing ran offset sync yet: the groups list is empty.
    let listed = local
        .expect(200, "GET", &format!("/v1/tasks/{task}/groups"), None)
        .await;
    assert_eq!(listed["groups"], json!([]), "{listed}");

    // The real run commits a and b and says so. c has a member and is left alone.
    let real = failover(
        &local,
        &task,
        json!({"groups": [a, b, c], "dry_run": false}),
    )
    .await;
    println!("real run: {real}");
    assert_eq!(real["dry_run"], false);
    for group in [&a, &b] {
        for p in 0..2 {
            let part = partition_of(group_of(&real, group), p);
            assert_eq!(part["committed"], true, "{group} {part}");
        }
    }
    let c_reply = group_of(&real, &c);
    assert_eq!(c_reply["active_on_target"], true, "{c_reply}");
    assert!(
        c_reply["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["committed"] == false),
        "{c_reply}"
    );
    assert_eq!(
        offsets_on(&harness::target(), &a).await,
        BTreeMap::from([(0, 200), (1, 300)])
    );
    assert_eq!(
        offsets_on(&harness::target(), &b).await,
        BTreeMap::from([(0, 500), (1, 500)])
    );
    assert!(offsets_on(&harness::target(), &c).await.is_empty());

    // A consumer of a on the target reads exactly the copied source records from a's
    // commits on: the first 1000 records, so offsets 0..500 of each partition.
    let (source, _) = source_log(&topic, 2).await;
    let (resumed, read) = read_as_group(&a, &topic, 2).await;
    for (p, c_at) in [(0, 200), (1, 300)] {
        let copied: Vec<(i64, String)> = source[&p]
            .iter()
            .filter(|(o, _)| *o < 500)
            .cloned()
            .collect();
        assert_eq!(
            inexact(&copied, c_at, resumed.get(&p).copied(), &read[&p]),
            None,
            "partition {p}"
        );
    }

    // Again: nothing moves, and the reply says so.
    let again = failover(&local, &task, json!({"groups": [a, b], "dry_run": false})).await;
    for group in [&a, &b] {
        for p in 0..2 {
            assert_eq!(
                partition_of(group_of(&again, group), p)["committed"],
                false,
                "{again}"
            );
        }
    }

    // `"all"` includes the test's groups (and every other group of the shared source).
    let all = failover(&local, &task, json!({"groups": "all", "dry_run": true})).await;
    for group in [&a, &b, &c] {
        group_of(&all, group);
    }
    println!(
        "\"all\" covered {} groups of the shared source",
        all["groups"].as_array().unwrap().len()
    );
    // What a failover reports for a group that never committed on the source. The
    // contract does not say, so this is printed and not asserted.
    let unknown = unique_name("exact-fo-never");
    let reply = failover(&local, &task, json!({"groups": [unknown], "dry_run": true})).await;
    println!("a group with no commits: {reply}");
    // Whether a real failover run shows in the groups list. Only offset sync runs are
    // recorded so far, so this is printed and not asserted.
    let listed = local
        .expect(200, "GET", &format!("/v1/tasks/{task}/groups"), None)
        .await;
    println!("groups after the real failover runs, before any offset sync: {listed}");

    // A scheduled offset sync run over the test's topics. The run of `kafka-sync local`
    // is driven here because the task is paused. A second source topic, which has no
    // target topic, gives a group that waits for data. The groups endpoint then lists
    // what the run did with each group.
    let other = unique_name("exact-fo-other");
    create_topic(&harness::source(), &other, 1).await;
    produce(&harness::source(), &other, 1, 0, 10, 10).await;
    let waiting = format!("{}-w", unique_name("exact-fo-g"));
    commit_on(
        &harness::source(),
        &waiting,
        &[GroupOffset {
            topic: other.clone(),
            partition: 0,
            offset: 5,
        }],
    )
    .await;
    let topics = BTreeSet::from([topic.clone(), other.clone()]);
    let progress = offset_sync::sync_groups(&services, &tenant, &changed, &topics)
        .await
        .unwrap();
    println!("offset sync: {progress:?}");
    let listed = local
        .expect(200, "GET", &format!("/v1/tasks/{task}/groups"), None)
        .await;
    println!("groups: {listed}");
    assert!(listed["last_sync_at"].is_string(), "{listed}");
    let status: BTreeMap<String, Value> = listed["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["group"].as_str().unwrap().to_owned(), g["status"].clone()))
        .collect();
    for (group, want) in [
        (&a, "synced"),
        (&b, "synced"),
        (&c, "active_on_target"),
        (&waiting, "waiting_for_data"),
    ] {
        assert_eq!(
            status.get(group.as_str()),
            Some(&json!(want)),
            "{group}: {listed}"
        );
    }
    local.kill();
}
