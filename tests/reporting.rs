//! What the copy reports instead of hiding (DESIGN §3), and live edits of a running topic
//! task, end to end: `kafka-sync local` as a child process on the two real clusters, the
//! clusters changed under it the way an operator (or retention) would.
//!
//! - a record the target refuses for good stalls its partition alone, at that offset,
//!   with the target's code, in progress and in one coalescing event; fixing the cause
//!   lets it go on; a topic task dead-letters such a record instead;
//! - records deleted before they were copied are an event with the exact range and
//!   `lost` counters;
//! - a topic deleted and created again is an event, and the new log is copied from its
//!   beginning;
//! - a PATCH of `processing` or `on_error` reaches the running workers within 15 s.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use harness::admin::{delete_records_before, delete_topic, set_topic_configs};
use harness::copies::assert_all_copied;
use harness::local::{Local, binary};
use harness::records::{
    Record, base_timestamp, create_topic, create_topic_with, produce, produce_records, read_all,
};
use harness::unique_name;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};

/// The target's limit on a record batch in the refusal tests: well above a batch of the
/// small records (so only the large one is refused), well below the large record.
const TARGET_MAX_MESSAGE_BYTES: &str = "10000";
/// The large record: accepted by the source (Kafka's default limit is about 1 MB),
/// refused by a target topic limited to [`TARGET_MAX_MESSAGE_BYTES`].
const LARGE_VALUE: usize = 50_000;
const SMALL_VALUE: usize = 100;

/// A worker re-reads its task (and retries stalled partitions) every 10 s; DESIGN §3
/// and the brief give a live edit 15 s to reach it.
const LIVE_EDIT_LIMIT: Duration = Duration::from_secs(15);

/// One `kafka-sync local` with connections to both clusters.
struct Run {
    local: Local,
    log: PathBuf,
    source: String,
    target: String,
}

async fn start(prefix: &str, args: &[&str]) -> Run {
    let home = harness::scratch_dir().join(unique_name(prefix));
    let log = home.with_extension("log");
    let local = Local::start_with(&binary(), &home, &log, args).await;
    // The log is where a failure's cause is: say where it is before anything can fail.
    println!("kafka-sync local log: {}", log.display());
    let [source, target] = local.connect_both(["src", "tgt"]).await;
    Run {
        local,
        log,
        source,
        target,
    }
}

impl Run {
    /// A topic task with `spec`'s fields (source_topic, target_topic, processing, ...).
    async fn topic_task(&self, spec: Value) -> String {
        let mut body = json!({"name": unique_name("t"), "kind": "topic",
            "source": self.source, "target": self.target});
        for (k, v) in spec.as_object().unwrap() {
            body[k] = v.clone();
        }
        let reply = self
            .local
            .expect(201, "POST", "/v1/tasks", Some(body))
            .await;
        reply["id"].as_str().unwrap().to_owned()
    }

    /// An instance task copying metadata and messages of the source topics `regex`
    /// matches (a range of this test's own topics), from the earliest offset.
    async fn instance_task(&self, regex: &str) -> String {
        let body = json!({"name": unique_name("i"), "kind": "instance",
            "source": self.source, "target": self.target, "sync": "metadata+messages",
            "start_offset": "earliest", "topics": {"regex": regex}});
        let reply = self
            .local
            .expect(201, "POST", "/v1/tasks", Some(body))
            .await;
        reply["id"].as_str().unwrap().to_owned()
    }

    async fn events(&self, task: &str) -> Vec<Value> {
        let reply = self
            .local
            .expect(200, "GET", &format!("/v1/tasks/{task}/events"), None)
            .await;
        reply["events"].as_array().cloned().unwrap_or_default()
    }

    async fn events_of(&self, task: &str, kind: &str) -> Vec<Value> {
        self.events(task)
            .await
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect()
    }

    /// Polls the events until `done` holds for those of `kind`, or fails after `limit`.
    async fn wait_events(
        &self,
        task: &str,
        kind: &str,
        limit: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let events = self.events_of(task, kind).await;
            if done(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "the {kind} events never got there: {:#?}\nall events: {:#?}\nlog: {}",
                events,
                self.events(task).await,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn wait(&self, task: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        self.local.wait_progress(task, limit, done).await
    }

    async fn patch(&self, task: &str, body: Value) {
        self.local
            .expect(200, "PATCH", &format!("/v1/tasks/{task}"), Some(body))
            .await;
    }
}

/// A topic's partition in a progress reply (`Null` when it is not there).
fn partition<'a>(progress: &'a Value, topic: &str, partition: i64) -> &'a Value {
    progress["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["topic"] == topic)
        .and_then(|t| {
            t["partitions"]
                .as_array()?
                .iter()
                .find(|p| p["partition"] == partition)
        })
        .unwrap_or(&Value::Null)
}

/// The partition is copying (not stalled) and its checkpoint and the target both
/// reached the source end `end`.
fn copied_to(p: &Value, end: i64) -> bool {
    p["state"] == "copying"
        && p["source_end_offset"] == end
        && p["next_offset"] == end
        && p["target_end_offset"] == end
}

/// A keyed record with a value of `size` bytes derived from its key, so every record of
/// a test is distinct (the copy checks match records by content).
fn sized(partition: i32, key: &str, size: usize) -> Record {
    let seed = key.bytes().map(usize::from).sum::<usize>();
    Record {
        partition,
        offset: 0,
        key: Some(key.as_bytes().to_vec()),
        value: Some((0..size).map(|b| (seed * 7 + b) as u8).collect()),
        headers: vec![("h".to_owned(), Some(key.as_bytes().to_vec()))],
        timestamp: Some(base_timestamp()),
    }
}

/// `count` small records for `partition`, keyed `<tag>-<partition>-<i>`; the one at
/// index `large` (if any) is [`LARGE_VALUE`] bytes.
fn records(tag: &str, partition: i32, count: usize, large: Option<usize>) -> Vec<Record> {
    (0..count)
        .map(|i| {
            let size = if Some(i) == large {
                LARGE_VALUE
            } else {
                SMALL_VALUE
            };
            sized(partition, &format!("{tag}-{partition}-{i}"), size)
        })
        .collect()
}

fn header<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    let (_, value) = record.headers.iter().find(|(k, _)| k == name)?;
    std::str::from_utf8(value.as_deref()?).ok()
}

fn key_of(record: &Record) -> String {
    String::from_utf8(record.key.clone().unwrap()).unwrap()
}

/// An instance task over two topics, one of whose target topics (pre-created by the
/// operator, so initialization leaves it alone) takes smaller records than the source:
/// only the partition with the large record stalls, exactly at it, with the target's
/// code, in progress and in one event that coalesces its repeats; every other partition
/// copies to the end meanwhile; once the operator raises the target's limit, the stalled
/// partition copies to the end too, in order, with nothing lost or doubled.
#[tokio::test]
async fn a_refused_record_stalls_only_its_partition_until_the_target_is_fixed() {
    let prefix = unique_name("rep-refused");
    let (narrow, other) = (format!("{prefix}.narrow"), format!("{prefix}.other"));
    let (source, target) = (harness::source(), harness::target());
    create_topic(&source, &narrow, 3).await;
    create_topic(&source, &other, 2).await;
    create_topic_with(
        &target,
        &narrow,
        3,
        &[("max.message.bytes", TARGET_MAX_MESSAGE_BYTES)],
    )
    .await;
    // Partition 1 of `narrow` has the large record at offset 10, after ten small ones
    // (likely in the same produce request to the target) and before nineteen more.
    const LARGE_AT: i64 = 10;
    for p in 0..3 {
        let large = (p == 1).then_some(LARGE_AT as usize);
        produce_records(&source, &narrow, &records("n", p, 30, large)).await;
    }
    for p in 0..2 {
        produce_records(&source, &other, &records("o", p, 30, None)).await;
    }
    let run = start("rep-refused", &[]).await;
    let task = run.instance_task(&format!("^{prefix}\\.")).await;
    let started = Instant::now();

    // Stalled, and the other four partitions copied in full meanwhile.
    let stalled = run
        .wait(&task, Duration::from_secs(120), |p| {
            partition(p, &narrow, 1)["state"] == "stalled"
                && [(&narrow, 0), (&narrow, 2), (&other, 0), (&other, 1)]
                    .iter()
                    .all(|(t, n)| copied_to(partition(p, t, *n), 30))
        })
        .await;
    println!(
        "stalled after {:?}: {}",
        started.elapsed(),
        partition(&stalled, &narrow, 1)
    );
    let at = partition(&stalled, &narrow, 1);
    assert_eq!(
        at["error"]["offset"], LARGE_AT,
        "stalled at the large record: {at}"
    );
    assert_eq!(at["error"]["code"], "MessageSizeTooLarge", "{at}");
    assert!(
        !at["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{at}"
    );
    assert_eq!(
        at["next_offset"], LARGE_AT,
        "the checkpoint stays at it: {at}"
    );
    assert_eq!(at["source_end_offset"], 30);
    assert_eq!(at["lag"], 30 - LARGE_AT);
    // The target holds exactly the records before the refused one: nothing past it was
    // acknowledged out of order, nothing before it was held back.
    let before_fix = read_all(&target, &narrow).await;
    let expected: Vec<String> = (0..LARGE_AT).map(|i| format!("n-1-{i}")).collect();
    let on_target: Vec<String> = before_fix[&1].iter().map(key_of).collect();
    assert_eq!(on_target, expected, "target partition 1 while stalled");
    assert_eq!(
        stalled["state"], "running",
        "a stall does not fail the task"
    );

    // The partition is retried at every re-check (10 s), refused again each time, and
    // that stays one event: it coalesces into a count and a last time.
    let events = run
        .wait_events(&task, "stalled", Duration::from_secs(45), |events| {
            events.len() > 1
                || events
                    .first()
                    .is_some_and(|e| e["count"].as_u64() >= Some(2))
        })
        .await;
    assert_eq!(events.len(), 1, "one stalled event: {events:#?}");
    let event = &events[0];
    let message = event["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{narrow}/1")) && message.contains(&format!("offset {LARGE_AT}")),
        "the event names the partition and the offset: {message}"
    );
    assert!(message.contains("MessageSizeTooLarge"), "{message}");
    assert_eq!(event["level"], "error");
    assert!(event["last_at"].is_string(), "{event}");
    // Still stalled at the same place after the retries.
    let retried = run.wait(&task, Duration::from_secs(10), |_| true).await;
    assert_eq!(partition(&retried, &narrow, 1)["error"]["offset"], LARGE_AT);

    // The operator raises the target topic's limit: seen at the next re-check.
    let fixed_at = Instant::now();
    set_topic_configs(&target, &narrow, &[("max.message.bytes", "1048588")]).await;
    let done = run
        .wait(&task, Duration::from_secs(60), |p| {
            (0..3).all(|n| copied_to(partition(p, &narrow, n), 30))
                && (0..2).all(|n| copied_to(partition(p, &other, n), 30))
        })
        .await;
    println!(
        "copied to the end {:?} after the fix ({:?} in all)",
        fixed_at.elapsed(),
        started.elapsed()
    );
    assert!(
        partition(&done, &narrow, 1).get("error").is_none(),
        "no error once it copies: {done}"
    );
    assert_eq!(done["totals"]["messages"], 150);
    assert_eq!(done["totals"]["lag"], 0);
    for topic in [&narrow, &other] {
        let duplicates = assert_all_copied(
            &read_all(&source, topic).await,
            &read_all(&target, topic).await,
        );
        assert!(
            duplicates.values().all(|d| *d == 0),
            "{topic}: copies again without a crash: {duplicates:?}"
        );
    }
    // The stall stayed one event, fixed or not.
    assert_eq!(run.events_of(&task, "stalled").await.len(), 1);
    run.local.kill();
}

/// A topic task with a dead-letter topic: the record the target topic refuses goes to
/// the dead-letter topic, as it was, with the target's error as its reason; everything
/// else reaches the target in order, and nothing stalls.
#[tokio::test]
async fn a_topic_task_dead_letters_a_record_the_target_refuses() {
    let (topic, out, dlq) = (
        unique_name("rep-dl-in"),
        unique_name("rep-dl-out"),
        unique_name("rep-dl-dlq"),
    );
    let (source, target) = (harness::source(), harness::target());
    create_topic(&source, &topic, 1).await;
    create_topic_with(
        &target,
        &out,
        1,
        &[("max.message.bytes", TARGET_MAX_MESSAGE_BYTES)],
    )
    .await;
    const LARGE_AT: usize = 7;
    let sent = produce_records(&source, &topic, &records("d", 0, 20, Some(LARGE_AT))).await;
    let run = start("rep-dl", &[]).await;
    let task = run
        .topic_task(json!({"source_topic": topic, "target_topic": out,
            "on_error": {"dead_letter_topic": dlq}}))
        .await;
    // Done once the checkpoint is at the end; what went where is checked after.
    let started = Instant::now();
    let done = run
        .wait(&task, Duration::from_secs(120), |p| {
            let p = partition(p, &topic, 0);
            p["next_offset"] == 20 && p["lag"] == 0
        })
        .await;
    println!(
        "copied past the refused record after {:?}",
        started.elapsed()
    );
    let copied = read_all(&target, &out).await;
    let keys: Vec<String> = copied.values().flatten().map(key_of).collect();
    let expected: Vec<String> = (0..20)
        .filter(|i| *i != LARGE_AT)
        .map(|i| format!("d-0-{i}"))
        .collect();
    assert_eq!(keys, expected, "every other record, in order, once");
    for copy in copied.values().flatten() {
        let original = sent.iter().find(|r| r.key == copy.key).unwrap();
        assert_eq!(copy.value, original.value, "{}", key_of(copy));
    }

    let dead = read_all(&target, &dlq).await;
    println!("both topics read back after {:?}", started.elapsed());
    let dead: Vec<&Record> = dead.values().flatten().collect();
    assert_eq!(dead.len(), 1, "exactly the refused record: {dead:?}");
    let record = dead[0];
    let original = &sent[LARGE_AT];
    assert_eq!(record.key, original.key, "original key kept");
    assert_eq!(record.value, original.value, "original value kept");
    assert_eq!(
        record.timestamp, original.timestamp,
        "original timestamp kept"
    );
    assert_eq!(header(record, "h"), Some("d-0-7"), "original headers kept");
    assert_eq!(header(record, "ksync.source.topic"), Some(topic.as_str()));
    assert_eq!(header(record, "ksync.source.partition"), Some("0"));
    assert_eq!(
        header(record, "ksync.source.offset"),
        Some(LARGE_AT.to_string().as_str())
    );
    let timestamp = original.timestamp.unwrap().to_string();
    assert_eq!(
        header(record, "ksync.source.timestamp"),
        Some(timestamp.as_str())
    );
    let reason = header(record, "ksync.error.reason").unwrap_or_default();
    // The reason names the target's error: librdkafka's code name or the broker's text.
    assert!(
        reason.contains("MessageSizeTooLarge") || reason.to_lowercase().contains("too large"),
        "reason: {reason:?}"
    );
    assert_eq!(done["totals"]["messages"], 19, "{done}");
    assert_eq!(done["totals"]["dead_lettered"], 1, "{done}");
    assert_eq!(done["totals"]["discarded"], 0, "{done}");
    let p = partition(&done, &topic, 0);
    assert_eq!(
        p["state"], "copying",
        "a dead-lettered refusal stalls nothing: {p}"
    );
    assert!(
        run.events_of(&task, "stalled").await.is_empty(),
        "no stall reported"
    );
    run.local.kill();
}

/// Records retention deleted before they were copied: the task paused, records written
/// and then deleted below a new log start (DeleteRecords, as retention does); on
/// resume, one event names the topic, the partition and the exact range, the partition
/// and the totals count them as lost, and the copy goes on at the log start. The
/// partition that lost nothing counts nothing.
#[tokio::test]
async fn records_deleted_before_they_were_copied_are_reported_lost_with_their_range() {
    let topic = unique_name("rep-lost");
    let (source, target) = (harness::source(), harness::target());
    create_topic(&source, &topic, 2).await;
    // Record i goes to partition i mod 2: 20 per partition, offsets 0..20.
    produce(&source, &topic, 2, 0, 40, 50).await;
    let run = start("rep-lost", &[]).await;
    let task = run.instance_task(&format!("^{topic}$")).await;
    run.wait(&task, Duration::from_secs(120), |p| {
        (0..2).all(|n| copied_to(partition(p, &topic, n), 20))
    })
    .await;

    run.local
        .expect(200, "POST", &format!("/v1/tasks/{task}/pause"), None)
        .await;
    // A worker notices the pause at its next re-check (every 10 s); until then it would
    // copy what is written, and nothing would be lost.
    tokio::time::sleep(Duration::from_secs(13)).await;
    // 20 more per partition (offsets 20..40), none copied while paused.
    produce(&source, &topic, 2, 40, 40, 50).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let paused = run.wait(&task, Duration::from_secs(10), |_| true).await;
    assert_eq!(paused["state"], "paused");
    for n in 0..2 {
        assert_eq!(
            partition(&paused, &topic, n)["next_offset"],
            20,
            "nothing copied while paused, or the test shows nothing: {paused}"
        );
    }
    let written = read_all(&source, &topic).await;
    // Partition 0 loses offsets 20..=29: its log now starts at 30.
    delete_records_before(&source, &topic, 0, 30).await;
    run.local
        .expect(200, "POST", &format!("/v1/tasks/{task}/resume"), None)
        .await;

    // Partition 0's target holds 30 records: the 10 lost are not there.
    let done = run
        .wait(&task, Duration::from_secs(90), |p| {
            let lossy = partition(p, &topic, 0);
            lossy["state"] == "copying"
                && lossy["next_offset"] == 40
                && lossy["target_end_offset"] == 30
                && copied_to(partition(p, &topic, 1), 40)
        })
        .await;
    assert_eq!(partition(&done, &topic, 0)["lost"], 10, "{done}");
    assert_eq!(partition(&done, &topic, 1)["lost"], 0, "{done}");
    assert_eq!(done["totals"]["lost"], 10, "{done}");
    assert_eq!(done["totals"]["messages"], 70, "{done}");

    let lost = run.events_of(&task, "lost").await;
    assert_eq!(lost.len(), 1, "one lost event: {lost:#?}");
    let message = lost[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{topic}/0")) && message.contains("offsets 20 to 29"),
        "the event names the partition and the exact range: {message}"
    );
    assert_eq!(lost[0]["count"], 1, "{lost:#?}");

    // Every record but the lost range is on the target, in order, once: offsets 0..20
    // copied before the pause, 30..40 after the resume (and all of partition 1).
    let mut expected = written;
    expected
        .get_mut(&0)
        .unwrap()
        .retain(|r| !(20..30).contains(&r.offset));
    let duplicates = assert_all_copied(&expected, &read_all(&target, &topic).await);
    assert!(duplicates.values().all(|d| *d == 0), "{duplicates:?}");
    run.local.kill();
}

/// A source topic deleted and created again under the same name, with fewer records
/// than the copy had reached: one event per partition, the old checkpoint discarded, and
/// the new topic's records copied from its beginning, after what the old one left on the
/// target.
#[tokio::test]
async fn a_topic_created_again_is_reported_rewound_and_copied_from_its_beginning() {
    let topic = unique_name("rep-rewound");
    let (source, target) = (harness::source(), harness::target());
    create_topic(&source, &topic, 2).await;
    // 20 per partition in the first incarnation.
    produce(&source, &topic, 2, 0, 40, 50).await;
    let run = start("rep-rewound", &[]).await;
    let task = run.instance_task(&format!("^{topic}$")).await;
    run.wait(&task, Duration::from_secs(120), |p| {
        (0..2).all(|n| copied_to(partition(p, &topic, n), 20))
    })
    .await;
    let old = read_all(&source, &topic).await;

    // While the task runs: deleted, created again, 3 records per partition.
    let recreated_at = Instant::now();
    delete_topic(&source, &topic).await;
    create_topic(&source, &topic, 2).await;
    produce(&source, &topic, 2, 1000, 6, 50).await;
    let new = read_all(&source, &topic).await;

    let done = run
        .wait(&task, Duration::from_secs(90), |p| {
            (0..2).all(|n| {
                let p = partition(p, &topic, n);
                p["state"] == "copying"
                    && p["source_end_offset"] == 3
                    && p["next_offset"] == 3
                    && p["target_end_offset"] == 23
            })
        })
        .await;
    println!(
        "the new incarnation copied {:?} after the re-creation",
        recreated_at.elapsed()
    );
    assert_eq!(done["totals"]["lag"], 0, "{done}");
    let rewound = run
        .wait_events(&task, "rewound", Duration::from_secs(10), |events| {
            (0..2).all(|n| {
                events.iter().any(|e| {
                    e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(&format!("{topic}/{n}:")))
                })
            })
        })
        .await;
    assert_eq!(
        rewound.len(),
        2,
        "one rewound event per partition: {rewound:#?}"
    );
    assert!(run.events_of(&task, "lost").await.is_empty());

    // The target: the old incarnation's records, then the new one's, each once, in order.
    let mut both = old;
    for (p, records) in new {
        both.get_mut(&p).unwrap().extend(records);
    }
    let duplicates = assert_all_copied(&both, &read_all(&target, &topic).await);
    assert!(duplicates.values().all(|d| *d == 0), "{duplicates:?}");
    run.local.kill();
}

/// Produces `values` to partition 0 of `topic` one every `every`, and returns when each
/// was acknowledged by the source (the moment it was written).
async fn trickle(topic: &str, values: Vec<String>, every: Duration) -> Vec<Instant> {
    let producer: FutureProducer = harness::source()
        .client_config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let mut written = Vec::new();
    for value in values {
        producer
            .send(
                FutureRecord::<str, str>::to(topic)
                    .partition(0)
                    .key(&value)
                    .payload(&value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        written.push(Instant::now());
        tokio::time::sleep(every).await;
    }
    written
}

fn tagging(tag: &str) -> Value {
    json!({"parse": {"mode": "json"},
           "fields": [{"name": "n", "op": "mapping", "from": "n"},
                      {"name": "edit", "op": "custom", "value": tag}],
           "output": {"format": "json"}})
}

/// A PATCH of `processing` on a running topic task: every record written 15 s or more
/// after it is processed the new way; the change happens once, at a batch boundary (no
/// record processed the old way after one processed the new way); what was copied before
/// stays as it was.
#[tokio::test]
async fn a_patched_processing_reaches_running_workers_within_15_s() {
    let (topic, out) = (unique_name("rep-edit-in"), unique_name("rep-edit-out"));
    create_topic(&harness::source(), &topic, 1).await;
    let run = start("rep-edit", &[]).await;
    let task = run
        .topic_task(json!({"source_topic": topic, "target_topic": out,
            "processing": tagging("before"), "on_error": "retain"}))
        .await;
    let early: Vec<String> = (0..5).map(|n| json!({"n": n}).to_string()).collect();
    trickle(&topic, early, Duration::ZERO).await;
    run.wait(&task, Duration::from_secs(120), |p| {
        copied_to(partition(p, &topic, 0), 5)
    })
    .await;

    run.patch(&task, json!({"processing": tagging("after")}))
        .await;
    let patched = Instant::now();
    // Records keep coming, one every 500 ms for 20 s: some before the edit reaches the
    // worker, many after.
    let later: Vec<String> = (5..45).map(|n| json!({"n": n}).to_string()).collect();
    let written = trickle(&topic, later, Duration::from_millis(500)).await;
    let done = run
        .wait(&task, Duration::from_secs(60), |p| {
            copied_to(partition(p, &topic, 0), 45)
        })
        .await;
    assert_eq!(done["state"], "running", "{done}");

    let outputs: Vec<Value> = read_all(&harness::target(), &out)
        .await
        .values()
        .flatten()
        .map(|r| serde_json::from_slice(r.value.as_deref().unwrap()).unwrap())
        .collect();
    let ns: Vec<u64> = outputs.iter().map(|o| o["n"].as_u64().unwrap()).collect();
    assert_eq!(
        ns,
        (0..45).collect::<Vec<u64>>(),
        "every record once, in order"
    );
    let tags: Vec<&str> = outputs
        .iter()
        .map(|o| o["edit"].as_str().unwrap())
        .collect();
    assert!(
        tags[..5].iter().all(|t| *t == "before"),
        "copied before the edit: {tags:?}"
    );
    let first_after = tags
        .iter()
        .position(|t| *t == "after")
        .expect("the edit never reached the worker");
    assert!(
        tags[first_after..].iter().all(|t| *t == "after"),
        "the edit takes effect once, at a batch boundary: {tags:?}"
    );
    let reached = written[first_after - 5].duration_since(patched);
    println!("the new processing applied to records written {reached:?} after the PATCH");
    for (i, at) in written.iter().enumerate() {
        if at.duration_since(patched) >= LIVE_EDIT_LIMIT {
            assert_eq!(
                tags[i + 5],
                "after",
                "record {} written {:?} after the PATCH: {tags:?}",
                i + 5,
                at.duration_since(patched)
            );
        }
    }
    run.local.kill();
}

/// A PATCH of `on_error` on a running topic task, from discard to a dead-letter topic:
/// every bad message written 15 s or more after it goes to the dead-letter topic; the
/// change happens once (the dead-lettered ones are exactly the bad messages from some
/// point on); the ones before were discarded and counted.
#[tokio::test]
async fn a_patched_on_error_reaches_running_workers_within_15_s() {
    let (topic, out, dlq) = (
        unique_name("rep-onerr-in"),
        unique_name("rep-onerr-out"),
        unique_name("rep-onerr-dlq"),
    );
    create_topic(&harness::source(), &topic, 1).await;
    // Created by the operator beforehand: what is measured is how soon the edit reaches
    // the workers, not how soon metadata sync would create the topic.
    create_topic(&harness::target(), &dlq, 1).await;
    let run = start("rep-onerr", &[]).await;
    let task = run
        .topic_task(json!({"source_topic": topic, "target_topic": out,
            "processing": tagging("x"), "on_error": "discard"}))
        .await;
    // Not JSON: processing fails on every one of them.
    let bad = |n: usize| format!("not json {n}");
    trickle(&topic, (0..5).map(bad).collect(), Duration::ZERO).await;
    run.wait(&task, Duration::from_secs(120), |p| {
        p["totals"]["discarded"] == 5 && partition(p, &topic, 0)["next_offset"] == 5
    })
    .await;

    run.patch(&task, json!({"on_error": {"dead_letter_topic": dlq}}))
        .await;
    let patched = Instant::now();
    let written = trickle(
        &topic,
        (5..45).map(bad).collect(),
        Duration::from_millis(500),
    )
    .await;
    let done = run
        .wait(&task, Duration::from_secs(60), |p| {
            let q = &p["totals"];
            partition(p, &topic, 0)["next_offset"] == 45
                && q["discarded"].as_u64().unwrap_or(0) + q["dead_lettered"].as_u64().unwrap_or(0)
                    == 45
        })
        .await;
    assert_eq!(done["state"], "running", "{done}");
    assert_eq!(done["totals"]["messages"], 0, "{done}");

    let dead = read_all(&harness::target(), &dlq).await;
    let offsets: Vec<usize> = dead
        .values()
        .flatten()
        .map(|r| header(r, "ksync.source.offset").unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        done["totals"]["dead_lettered"],
        offsets.len(),
        "counted as dead-lettered: {done}"
    );
    let first = *offsets.first().expect("the edit never reached the worker");
    assert!(first >= 5, "discarded before the edit: {offsets:?}");
    assert_eq!(
        offsets,
        (first..45).collect::<Vec<_>>(),
        "from the edit on, every bad message, once, in order"
    );
    println!(
        "dead-lettering began with a message written {:?} after the PATCH",
        written[first - 5].duration_since(patched)
    );
    for (i, at) in written.iter().enumerate() {
        if at.duration_since(patched) >= LIVE_EDIT_LIMIT {
            assert!(
                i + 5 >= first,
                "message {} written {:?} after the PATCH was discarded",
                i + 5,
                at.duration_since(patched)
            );
        }
    }
    run.local.kill();
}
