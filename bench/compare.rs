//! Benchmark (not a test): kafka-sync against MirrorMaker 2 on the same two local
//! clusters, one after the other on identical data, with the pipe limit measured in the
//! same run. Writes the figures as JSON for `bench/report.py`.
//! Run everything with `bench/run.sh`. Environment: BENCH_OUT (results file, default
//! bench/results.json), BENCH_SCALE (multiplies every record count, default 1),
//! BENCH_ONLY (comma-separated workload ids, plus `latency` and `new-topic`), BENCH_TOOLS
//! (comma-separated: kafka-sync, kafka-sync-dynamodb, mirrormaker2), BENCH_LOG (kafka-sync's
//! `RUST_LOG`, default warn; its log is `kafka-sync.log` in the run's scratch directory),
//! KAFKA_SYNC_CACHE (where the services script keeps the Kafka jars MirrorMaker 2 runs from).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::local::Local;
use harness::records::create_topics;
use harness::unique_name;
use kafka_sync::kafka::ClusterAccess;
use kafka_sync::replicator::{consumer_config, producer_config};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};

/// How long one tool may take to copy one workload before it is reported as failed.
const TOOL_LIMIT: Duration = Duration::from_secs(600);
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
const LATENCY_RATE: u64 = 5_000;
const LATENCY_SECONDS: u64 = 20;
const LATENCY_WARMUP: u64 = 200;
const LATENCY_PARTITIONS: i32 = 8;
/// kafka-sync on its embedded store and on DynamoDB Local, and MirrorMaker 2.
const TOOLS: [&str; 3] = ["kafka-sync", "kafka-sync-dynamodb", "mirrormaker2"];
/// How often the target is sampled until it holds its first record.
const FIRST_SAMPLE_EVERY: Duration = Duration::from_millis(10);
/// How long a topic created on the source while kafka-sync runs may take to reach the
/// target before the measurement gives up.
const NEW_TOPIC_LIMIT: Duration = Duration::from_secs(60);

struct Workload {
    id: &'static str,
    title: String,
    records: u64,
    record_bytes: usize,
    topics: usize,
    partitions: i32,
    offsets: bool,
}

impl Workload {
    fn partition_count(&self) -> usize {
        self.topics * self.partitions as usize
    }

    /// As the dispatcher counts them: one worker per partition, at most 20.
    fn slots(&self) -> usize {
        kafka_sync::assignment::slot_count(self.partition_count())
    }

    fn megabytes(&self) -> f64 {
        (self.records * self.record_bytes as u64) as f64 / 1e6
    }
}

fn workloads(scale: f64) -> Vec<Workload> {
    let count = |n: f64| (n * scale).max(1000.0) as u64;
    let workload = |id, records, record_bytes, topics, partitions, offsets| {
        let records = count(records);
        let title = format!(
            "{} × {} records, {} topic(s) × {} partitions{}",
            if record_bytes == 1024 {
                "1 KiB".to_owned()
            } else {
                format!("{record_bytes} B")
            },
            records,
            topics,
            partitions,
            if offsets {
                ", group offsets synced"
            } else {
                ""
            }
        );
        Workload {
            id,
            title,
            records,
            record_bytes,
            topics,
            partitions,
            offsets,
        }
    };
    vec![
        workload("1k", 1_000_000.0, 1024, 1, 8, false),
        workload("100b", 5_000_000.0, 100, 1, 8, false),
        workload("20x4", 400_000.0, 1024, 20, 4, false),
        workload("offsets", 200_000.0, 1024, 1, 8, true),
    ]
}

#[tokio::main]
async fn main() {
    let scale: f64 = env_parse("BENCH_SCALE").unwrap_or(1.0);
    let only: Option<Vec<String>> = std::env::var("BENCH_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_owned).collect());
    let wanted = |id: &str| only.as_ref().is_none_or(|o| o.iter().any(|w| w == id));
    let out = std::env::var("BENCH_OUT").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results.json"),
        PathBuf::from,
    );
    let binary = release_binary();
    let mut results = Vec::new();
    for workload in workloads(scale).into_iter().filter(|w| wanted(w.id)) {
        eprintln!("[bench] workload {}: {}", workload.id, workload.title);
        results.push(run_workload(&workload, &binary).await);
    }
    let latency = if wanted("latency") {
        eprintln!("[bench] latency at {LATENCY_RATE} records/s");
        run_latency(&binary).await
    } else {
        Value::Null
    };
    let new_topic = if wanted("new-topic") {
        eprintln!("[bench] a topic created while kafka-sync runs");
        run_new_topic(&binary).await
    } else {
        Value::Null
    };
    let report = json!({
        "generated_at": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "machine": machine(),
        "kafka_version": "4.3.1",
        "command": "bench/run.sh",
        "workloads": results,
        "latency": latency,
        "new_topic": new_topic,
    });
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap() + "\n").unwrap();
    eprintln!("[bench] wrote {}", out.display());
}

/// The tools to run: BENCH_TOOLS (comma-separated), else every one of `TOOLS`.
fn chosen_tools() -> impl Iterator<Item = &'static str> {
    let only = std::env::var("BENCH_TOOLS").ok();
    TOOLS
        .into_iter()
        .filter(move |t| only.as_ref().is_none_or(|o| o.split(',').any(|w| w == *t)))
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The release `kafka-sync` binary, built beside this benchmark.
fn release_binary() -> PathBuf {
    harness::cargo_build(&["kafka-sync"]).join("kafka-sync")
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0.0, |kb| kb as f64 / 1024.0 / 1024.0);
    format!("{cores} cores, {memory:.0} GiB, both clusters and the tool on this one machine")
}

fn topic_names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i:02}")).collect()
}

async fn run_workload(workload: &Workload, binary: &Path) -> Value {
    let prefix = unique_name(&format!("bench-{}", workload.id));
    let topics = topic_names(&prefix, workload.topics);
    create_topics(&harness::source(), &topics, workload.partitions, &[]).await;
    let load = produce_records(
        &harness::source(),
        &topics,
        workload,
        workload.slots(),
        None,
    )
    .await;
    eprintln!("[bench]   loaded the source in {:.1} s", load.as_secs_f64());
    let group = format!("{prefix}-group");
    if workload.offsets {
        commit_at_end(&harness::source(), &group, &topics, workload.partitions).await;
    }

    // The pipe limit: a plain consume of the source and a plain produce into the target,
    // with the workers' client settings and as many clients as the workers.
    let consume = consume_all(&harness::source(), &topics, workload).await;
    let pipe_topics = topic_names(&format!("{prefix}-pipe"), workload.topics);
    create_topics(&harness::target(), &pipe_topics, workload.partitions, &[]).await;
    let produce = produce_records(
        &harness::target(),
        &pipe_topics,
        workload,
        workload.slots(),
        None,
    )
    .await;
    delete_topics(&harness::target(), &pipe_topics).await;
    let rate = |d: Duration| {
        json!({
            "seconds": d.as_secs_f64(),
            "records_per_s": workload.records as f64 / d.as_secs_f64(),
            "mb_per_s": workload.megabytes() / d.as_secs_f64(),
        })
    };
    eprintln!(
        "[bench]   pipe limit: consume {:.0}/s, produce {:.0}/s",
        workload.records as f64 / consume.as_secs_f64(),
        workload.records as f64 / produce.as_secs_f64()
    );

    let mut tools = serde_json::Map::new();
    for tool in chosen_tools() {
        let figures = match run_tool(tool, binary, workload, &prefix, &topics, &group).await {
            Ok(run) => run.figures(workload),
            Err(error) => json!({ "error": error }),
        };
        eprintln!("[bench]   {tool}: {figures:.200}");
        tools.insert(tool.to_owned(), figures);
        delete_topics(&harness::target(), &topics).await;
    }
    delete_topics(&harness::source(), &topics).await;
    json!({
        "id": workload.id,
        "title": workload.title,
        "records": workload.records,
        "record_bytes": workload.record_bytes,
        "topics": workload.topics,
        "partitions": workload.partitions,
        "slots": workload.slots(),
        "offsets": workload.offsets,
        "pipe": { "consume": rate(consume), "produce": rate(produce) },
        "tools": tools,
    })
}

/// What one tool did on one workload.
struct ToolRun {
    seconds: f64,
    /// From the create call (MirrorMaker 2: from its start) to the first record on the
    /// target.
    first_record_s: f64,
    series: Vec<(f64, u64)>,
    /// kafka-sync's store write requests during the run (`/metrics`).
    store_writes: Option<u64>,
    usage: Usage,
    offsets_synced_after_s: Option<f64>,
    offsets_reread: Option<u64>,
}

impl ToolRun {
    fn figures(&self, workload: &Workload) -> Value {
        let records = workload.records as f64;
        // Between 10 % and 90 % of the records: the rate once started.
        let reached = |share: f64| {
            self.series
                .iter()
                .find(|(_, n)| *n as f64 >= share * records)
                .map(|(t, _)| *t)
        };
        let steady = match (reached(0.1), reached(0.9)) {
            (Some(a), Some(b)) if b > a => Some(0.8 * records / (b - a)),
            _ => None,
        };
        json!({
            "seconds": self.seconds,
            "records_per_s": records / self.seconds,
            "mb_per_s": workload.megabytes() / self.seconds,
            "steady_records_per_s": steady,
            "peak_rss_mib": self.usage.peak_rss_mib,
            "cpu_seconds": self.usage.cpu_seconds,
            "cpu_seconds_per_million": self.usage.cpu_seconds * 1e6 / records,
            "first_record_s": self.first_record_s,
            "store_writes_per_million": self.store_writes.map(|w| w as f64 * 1e6 / records),
            "offsets_synced_after_s": self.offsets_synced_after_s,
            "offsets_reread": self.offsets_reread,
            "series": self.series,
        })
    }
}

async fn run_tool(
    tool: &str,
    binary: &Path,
    workload: &Workload,
    prefix: &str,
    topics: &[String],
    group: &str,
) -> Result<ToolRun, String> {
    let started = Instant::now();
    let process = start_tool(
        tool,
        binary,
        &format!("^{prefix}-[0-9]+$"),
        workload.slots(),
        workload.offsets.then_some(group),
        true,
    )
    .await?;
    let pid = process.pid();
    let watched = watch_target(
        topics,
        workload.partitions,
        workload.records,
        started,
        TOOL_LIMIT,
    )
    .await
    .map_err(|e| format!("{tool}: {e}; log in {}", process.log().display()))?;
    let mut run = ToolRun {
        seconds: watched.seconds,
        first_record_s: watched
            .first
            .duration_since(process.created())
            .as_secs_f64(),
        series: watched.series,
        store_writes: None,
        usage: Usage::default(),
        offsets_synced_after_s: None,
        offsets_reread: None,
    };
    if workload.offsets {
        let full = Instant::now();
        let (synced_at, reread) = wait_group_offsets(group, topics, workload.partitions).await;
        run.offsets_synced_after_s = synced_at.map(|at| at.duration_since(full).as_secs_f64());
        run.offsets_reread = reread;
    }
    run.usage = Usage::of(pid);
    run.store_writes = process.store_writes().await;
    drop(process);
    Ok(run)
}

/// A tool running as a child process, stopped when dropped.
enum Process {
    KafkaSync {
        local: Local,
        home: PathBuf,
        created: Instant,
    },
    MirrorMaker {
        child: Child,
        dir: PathBuf,
        started: Instant,
    },
}

impl Process {
    fn pid(&self) -> u32 {
        match self {
            Process::KafkaSync { local, .. } => local.child.id(),
            Process::MirrorMaker { child, .. } => child.id(),
        }
    }

    /// When it was told what to copy: kafka-sync's create call, MirrorMaker 2's start
    /// (its configuration is its command line).
    fn created(&self) -> Instant {
        match self {
            Process::KafkaSync { created, .. } => *created,
            Process::MirrorMaker { started, .. } => *started,
        }
    }

    /// kafka-sync's store write requests so far, from its `/metrics`.
    async fn store_writes(&self) -> Option<u64> {
        let Process::KafkaSync { local, .. } = self else {
            return None;
        };
        let (_, text) = local.call("GET", "/metrics", None).await;
        text.lines()
            .find_map(|l| l.strip_prefix("kafka_sync_store_writes_total "))
            .and_then(|v| v.trim().parse().ok())
    }

    fn log(&self) -> PathBuf {
        match self {
            Process::KafkaSync { home, .. } => home.join("kafka-sync.log"),
            Process::MirrorMaker { dir, .. } => dir.join("mm2.log"),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Process::MirrorMaker { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
        // `Local` stops its own child when dropped.
    }
}

/// Starts a tool copying every source topic matching `regex` to the target, with group
/// offsets for `group` when given; `sync_configs` off leaves existing target topics'
/// configs alone (the latency run needs its LogAppendTime target).
async fn start_tool(
    tool: &str,
    binary: &Path,
    regex: &str,
    slots: usize,
    group: Option<&str>,
    sync_configs: bool,
) -> Result<Process, String> {
    let dir = harness::scratch_dir().join(unique_name(&format!("bench-{tool}")));
    std::fs::create_dir_all(&dir).unwrap();
    match tool {
        "kafka-sync" | "kafka-sync-dynamodb" => {
            let local = spawn_kafka_sync(binary, &dir, tool == "kafka-sync-dynamodb").await;
            start_kafka_sync(local, &dir, regex, group.is_some()).await
        }
        _ => start_mirror_maker(&dir, regex, slots, group, sync_configs),
    }
}

/// `kafka-sync local`, on its embedded store or on a fresh DynamoDB Local table.
async fn spawn_kafka_sync(binary: &Path, home: &Path, dynamodb: bool) -> Local {
    let log = home.join("kafka-sync.log");
    let args = ["--offset-interval", "2"];
    let level = std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".to_owned());
    if dynamodb {
        let (table, _) = harness::local_dynamodb::fresh_table().await;
        harness::local_dynamodb::start_logging(binary, home, &log, &table, &args, &level).await
    } else {
        Local::start_logging(binary, home, &log, &args, &level).await
    }
}

async fn start_kafka_sync(
    local: Local,
    home: &Path,
    regex: &str,
    offsets: bool,
) -> Result<Process, String> {
    let ids = local.connect_both(["source", "target"]).await;
    // Group offsets are synced only with the all-topics range (DESIGN §3), so that task
    // copies every topic of the source: run on fresh clusters, only the bench's own.
    let (sync, topics) = if offsets {
        ("metadata+messages+offsets", json!({"all": true}))
    } else {
        ("metadata+messages", json!({"regex": regex}))
    };
    let created = Instant::now();
    local
        .expect(
            201,
            "POST",
            "/v1/tasks",
            Some(json!({
                "name": "bench", "kind": "instance", "source": ids[0], "target": ids[1],
                "sync": sync, "start_offset": "earliest", "same_partition": true,
                "topics": topics,
            })),
        )
        .await;
    Ok(Process::KafkaSync {
        local,
        home: home.to_path_buf(),
        created,
    })
}

/// MirrorMaker 2 in dedicated mode, IdentityReplicationPolicy (target topics keep their
/// names, as kafka-sync's do), as many tasks as kafka-sync has workers, and the same
/// client settings as kafka-sync's workers: idempotent producer, acks=all, linger 5 ms,
/// 1 MB batches, 8 MiB fetches.
fn start_mirror_maker(
    dir: &Path,
    regex: &str,
    slots: usize,
    group: Option<&str>,
    sync_configs: bool,
) -> Result<Process, String> {
    // Fresh aliases per run, so no run reuses another's internal topics.
    let alias = unique_name("src").replace('-', "_");
    let offsets = group.is_some();
    let properties = format!(
        "clusters = {alias}, target
{alias}.bootstrap.servers = {source}
target.bootstrap.servers = {target}
{alias}->target.enabled = true
target->{alias}.enabled = false
{alias}->target.topics = {regex}
{alias}->target.groups = {groups}
replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy
tasks.max = {slots}
replication.factor = 1
checkpoints.topic.replication.factor = 1
heartbeats.topic.replication.factor = 1
offset-syncs.topic.replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
config.storage.replication.factor = 1
emit.heartbeats.enabled = false
emit.checkpoints.enabled = {offsets}
emit.checkpoints.interval.seconds = 2
sync.group.offsets.enabled = {offsets}
sync.group.offsets.interval.seconds = 2
refresh.groups.interval.seconds = 2
refresh.topics.interval.seconds = 5
sync.topic.configs.enabled = {sync_configs}
sync.topic.acls.enabled = false
target.producer.enable.idempotence = true
target.producer.acks = all
target.producer.linger.ms = 5
target.producer.batch.size = 1000000
target.producer.buffer.memory = 33554432
{alias}.consumer.fetch.max.bytes = 8388608
",
        source = harness::source().bootstrap,
        target = harness::target().bootstrap,
        groups = group.unwrap_or("^$"),
    );
    std::fs::write(dir.join("mm2.properties"), properties).unwrap();
    let log4j = format!(
        "rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName={}
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
",
        dir.join("mm2.log").display()
    );
    std::fs::write(dir.join("log4j2.properties"), log4j).unwrap();
    let cache = std::env::var("KAFKA_SYNC_CACHE").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/kafka-sync"),
        PathBuf::from,
    );
    let classpath = format!("{}/lib/kafka/*", cache.display());
    // The heap the stock connect-mirror-maker.sh gives it.
    let started = Instant::now();
    let child = Command::new("java")
        .args(["-Xms256M", "-Xmx2G", "-XX:+UseG1GC"])
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            dir.join("log4j2.properties").display()
        ))
        .args([
            "-cp",
            &classpath,
            "org.apache.kafka.connect.mirror.MirrorMaker",
        ])
        .arg(dir.join("mm2.properties"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting MirrorMaker 2: {e}"))?;
    Ok(Process::MirrorMaker {
        child,
        dir: dir.to_path_buf(),
        started,
    })
}

/// What the target's record count did while a tool copied.
struct Watched {
    /// Seconds from `started` until the target held every record.
    seconds: f64,
    /// When the first record was seen there.
    first: Instant,
    /// (seconds since `started`, records on the target).
    series: Vec<(f64, u64)>,
}

/// Samples the target's record count until it holds `expected` records (or `limit`
/// passes); often until the first record is there, then every `SAMPLE_EVERY`.
async fn watch_target(
    topics: &[String],
    partitions: i32,
    expected: u64,
    started: Instant,
    limit: Duration,
) -> Result<Watched, String> {
    let topics = topics.to_vec();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = harness::target().client_config().create().unwrap();
        let mut series = Vec::new();
        let mut first = None;
        loop {
            let count = record_count(&consumer, &topics, partitions);
            let at = started.elapsed();
            series.push((at.as_secs_f64(), count));
            if count > 0 {
                first.get_or_insert_with(Instant::now);
            }
            if let (true, Some(first)) = (count >= expected, first) {
                return Ok(Watched {
                    seconds: at.as_secs_f64(),
                    first,
                    series,
                });
            }
            if at > limit {
                return Err(format!(
                    "the target held {count} of {expected} records after {} s",
                    limit.as_secs()
                ));
            }
            std::thread::sleep(if first.is_some() {
                SAMPLE_EVERY
            } else {
                FIRST_SAMPLE_EVERY
            });
        }
    })
    .await
    .unwrap()
}

/// Records in the topics' partitions that exist: the sum of their end offsets, read in
/// one ListOffsets request (one per partition took 80 round trips per sample on 20x4,
/// which blurred the first record's time).
fn record_count(consumer: &BaseConsumer, topics: &[String], partitions: i32) -> u64 {
    let timeout = Duration::from_secs(5);
    let Ok(metadata) = consumer.fetch_metadata(None, timeout) else {
        return 0;
    };
    let mut ends = TopicPartitionList::new();
    for topic in metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && topics.iter().any(|n| n == t.name()))
    {
        for p in 0..topic.partitions().len().min(partitions as usize) as i32 {
            ends.add_partition_offset(topic.name(), p, Offset::End)
                .expect("Offset::End is a valid offset");
        }
    }
    if ends.count() == 0 {
        return 0;
    }
    // A timestamp of -1 (Offset::End) asks for each partition's end offset.
    let Ok(ends) = consumer.offsets_for_times(ends, timeout) else {
        return 0;
    };
    ends.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(end) => Some(end.max(0) as u64),
            _ => None,
        })
        .sum()
}

/// How long the group's re-read count must stay unchanged to count as settled.
const SETTLED: Duration = Duration::from_secs(6);

/// Waits (up to a minute) until the group has a committed offset on the target for
/// every partition and they stop moving: when that first held, and how many records a
/// consumer of the group failing over would read again (end offset − committed).
/// "Stopped moving" means unchanged for `SETTLED`, three of both tools' 2 s sync
/// periods: two samples a second apart can fall within one period and see a count the
/// next sync would still lower.
async fn wait_group_offsets(
    group: &str,
    topics: &[String],
    partitions: i32,
) -> (Option<Instant>, Option<u64>) {
    let consumer: BaseConsumer = harness::target()
        .client_config()
        .set("group.id", group)
        .create()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut first_complete = None;
    let mut last: Option<(u64, Instant)> = None;
    while Instant::now() < deadline {
        let mut query = TopicPartitionList::new();
        for topic in topics {
            for p in 0..partitions {
                query.add_partition(topic, p);
            }
        }
        if let Ok(committed) = consumer.committed_offsets(query, Duration::from_secs(5)) {
            let offsets: Vec<(String, i32, Option<i64>)> = committed
                .elements()
                .iter()
                .map(|e| {
                    let offset = match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    };
                    (e.topic().to_owned(), e.partition(), offset)
                })
                .collect();
            if offsets.iter().all(|(_, _, o)| o.is_some()) {
                first_complete.get_or_insert_with(Instant::now);
                let reread: u64 = offsets
                    .iter()
                    .map(|(topic, p, o)| {
                        let (_, high) = consumer
                            .fetch_watermarks(topic, *p, Duration::from_secs(5))
                            .unwrap();
                        (high - o.unwrap()).max(0) as u64
                    })
                    .sum();
                match last {
                    _ if reread == 0 => return (first_complete, Some(0)),
                    Some((value, since)) if value == reread => {
                        if since.elapsed() >= SETTLED {
                            return (first_complete, Some(reread));
                        }
                    }
                    _ => last = Some((reread, Instant::now())),
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    (first_complete, last.map(|(value, _)| value))
}

/// Peak resident memory and CPU time of a live process, from /proc.
#[derive(Default)]
struct Usage {
    peak_rss_mib: f64,
    cpu_seconds: f64,
}

impl Usage {
    fn of(pid: u32) -> Usage {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let peak_kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime and stime are
        // the 12th and 13th, in clock ticks of 1/100 s.
        let ticks: f64 = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|v| v.parse::<f64>().ok())
                    .sum()
            })
            .unwrap_or(0.0);
        Usage {
            peak_rss_mib: peak_kb / 1024.0,
            cpu_seconds: ticks / 100.0,
        }
    }
}

/// Deletes the topics that exist and waits until they are gone, so the next tool
/// starts from an empty target.
async fn delete_topics(access: &ClusterAccess, topics: &[String]) {
    let admin: AdminClient<DefaultClientContext> = access.client_config().create().unwrap();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let _ = admin.delete_topics(&names, &AdminOptions::new()).await;
    let consumer: BaseConsumer = access.client_config().create().unwrap();
    for _ in 0..120 {
        let remaining = consumer
            .fetch_metadata(None, Duration::from_secs(5))
            .map(|m| {
                m.topics()
                    .iter()
                    .filter(|t| t.error().is_none() && names.contains(&t.name()))
                    .count()
            })
            .unwrap_or(1);
        if remaining == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Incompressible-looking bytes to cut record values from.
fn value_source(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Produces the workload's records over its topics' partitions with `clients`
/// producers of the workers' settings (partition j of all of them to client j mod
/// clients); each record's value starts with `stamp()` when given. The time until every
/// record is acknowledged.
async fn produce_records(
    access: &ClusterAccess,
    topics: &[String],
    workload: &Workload,
    clients: usize,
    stamp: Option<fn() -> u64>,
) -> Duration {
    let started = Instant::now();
    let partition_count = topics.len() * workload.partitions as usize;
    let handles: Vec<_> = (0..clients)
        .map(|client| {
            let producer: FutureProducer = producer_config(access).create().unwrap();
            let topics = topics.to_vec();
            let (records, bytes, partitions) = (
                workload.records,
                workload.record_bytes,
                workload.partitions as usize,
            );
            tokio::spawn(async move {
                let source = value_source(bytes + 1024);
                let mut pending: VecDeque<DeliveryFuture> = VecDeque::new();
                let mut i = client as u64;
                while i < records {
                    let j = (i % partition_count as u64) as usize;
                    let key = format!("k{i}");
                    let mut value = source[(i % 1024) as usize..][..bytes].to_vec();
                    if let Some(stamp) = stamp {
                        value[..8].copy_from_slice(&stamp().to_be_bytes());
                    }
                    let mut record = FutureRecord::to(&topics[j / partitions])
                        .key(&key)
                        .payload(&value)
                        .partition((j % partitions) as i32);
                    loop {
                        match producer.send_result(record) {
                            Ok(delivery) => break pending.push_back(delivery),
                            Err((_, returned)) => {
                                // The queue is full: wait for the oldest record.
                                record = returned;
                                if let Some(oldest) = pending.pop_front() {
                                    oldest.await.unwrap().map_err(|(e, _)| e).unwrap();
                                } else {
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                }
                            }
                        }
                    }
                    i += clients as u64;
                }
                for delivery in pending {
                    delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    started.elapsed()
}

/// Reads every record of the topics with `slots` consumers of the workers' settings,
/// each assigned its share of the partitions: the time until the last one is done.
async fn consume_all(access: &ClusterAccess, topics: &[String], workload: &Workload) -> Duration {
    let started = Instant::now();
    let partitions: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| (0..workload.partitions).map(move |p| (t.clone(), p)))
        .collect();
    let slots = workload.slots();
    let handles: Vec<_> = (0..slots)
        .map(|slot| {
            let mine: Vec<(String, i32)> = partitions
                .iter()
                .enumerate()
                .filter(|(j, _)| j % slots == slot)
                .map(|(_, p)| p.clone())
                .collect();
            let access = access.clone();
            tokio::task::spawn_blocking(move || {
                let consumer: BaseConsumer =
                    consumer_config(&access, &unique_name("bench-pipe"), mine.len())
                        .create()
                        .unwrap();
                let mut assignment = TopicPartitionList::new();
                let mut expected = 0;
                for (topic, p) in &mine {
                    let (low, high) = consumer
                        .fetch_watermarks(topic, *p, Duration::from_secs(10))
                        .unwrap();
                    expected += high - low;
                    assignment
                        .add_partition_offset(topic, *p, Offset::Beginning)
                        .unwrap();
                }
                consumer.assign(&assignment).unwrap();
                let mut read = 0;
                while read < expected {
                    if let Some(message) = consumer.poll(Duration::from_secs(10)) {
                        message.unwrap();
                        read += 1;
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    started.elapsed()
}

/// Commits the group at the end of every partition on the source, as a consumer that
/// has read everything would.
async fn commit_at_end(access: &ClusterAccess, group: &str, topics: &[String], partitions: i32) {
    let consumer: BaseConsumer = access
        .client_config()
        .set("group.id", group)
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    for topic in topics {
        for p in 0..partitions {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            offsets
                .add_partition_offset(topic, p, Offset::Offset(high))
                .unwrap();
        }
    }
    consumer.commit(&offsets, CommitMode::Sync).unwrap();
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// End-to-end latency at a steady rate: each tool copies its own fresh topic into a
/// target topic with LogAppendTime, so a copied record's timestamp is the moment the
/// target appended it; its value starts with the moment it was produced.
async fn run_latency(binary: &Path) -> Value {
    let mut tools = serde_json::Map::new();
    for tool in chosen_tools() {
        let figures = match latency_of(tool, binary).await {
            Ok(figures) => figures,
            Err(error) => json!({ "error": error }),
        };
        eprintln!("[bench]   {tool}: {figures}");
        tools.insert(tool.to_owned(), figures);
    }
    json!({
        "rate_per_s": LATENCY_RATE,
        "seconds": LATENCY_SECONDS,
        "partitions": LATENCY_PARTITIONS,
        "tools": tools,
    })
}

async fn latency_of(tool: &str, binary: &Path) -> Result<Value, String> {
    let topic = vec![unique_name("bench-latency")];
    create_topics(&harness::source(), &topic, LATENCY_PARTITIONS, &[]).await;
    create_topics(
        &harness::target(),
        &topic,
        LATENCY_PARTITIONS,
        &[("message.timestamp.type", "LogAppendTime")],
    )
    .await;
    let slots = kafka_sync::assignment::slot_count(LATENCY_PARTITIONS as usize);
    let process = start_tool(tool, binary, &format!("^{}$", topic[0]), slots, None, false).await?;
    let warmup = Workload {
        id: "latency-warmup",
        title: String::new(),
        records: LATENCY_WARMUP,
        record_bytes: 1024,
        topics: 1,
        partitions: LATENCY_PARTITIONS,
        offsets: false,
    };
    produce_records(&harness::source(), &topic, &warmup, 1, Some(|| 0)).await;
    watch_target(
        &topic,
        LATENCY_PARTITIONS,
        LATENCY_WARMUP,
        Instant::now(),
        Duration::from_secs(180),
    )
    .await
    .map_err(|e| format!("{tool} never copied the warm-up records: {e}"))?;

    let total = LATENCY_RATE * LATENCY_SECONDS;
    paced_produce(&topic[0], total).await;
    watch_target(
        &topic,
        LATENCY_PARTITIONS,
        LATENCY_WARMUP + total,
        Instant::now(),
        Duration::from_secs(180),
    )
    .await
    .map_err(|e| format!("{tool}: {e}"))?;
    let usage = Usage::of(process.pid());
    drop(process);
    let mut latencies = append_latencies(&topic[0]).await;
    delete_topics(&harness::source(), &topic).await;
    delete_topics(&harness::target(), &topic).await;
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(json!({
        "samples": latencies.len(),
        "p50_ms": quantile(0.5),
        "p99_ms": quantile(0.99),
        "max_ms": quantile(1.0),
        "peak_rss_mib": usage.peak_rss_mib,
        "cpu_seconds": usage.cpu_seconds,
    }))
}

/// How soon kafka-sync copies a topic created on the source after its task started:
/// from the topic's creation to its first record on the target.
async fn run_new_topic(binary: &Path) -> Value {
    let mut tools = serde_json::Map::new();
    for tool in chosen_tools().filter(|t| t.starts_with("kafka-sync")) {
        let figures = match new_topic_of(tool, binary).await {
            Ok(seconds) => json!({ "seconds": seconds }),
            Err(error) => json!({ "error": error }),
        };
        eprintln!("[bench]   {tool}: {figures}");
        tools.insert(tool.to_owned(), figures);
    }
    json!({ "tools": tools })
}

async fn new_topic_of(tool: &str, binary: &Path) -> Result<f64, String> {
    let prefix = unique_name("bench-new");
    let [first, later] = [0, 1].map(|i| vec![format!("{prefix}-{i}")]);
    let one = Workload {
        id: "new-topic",
        title: String::new(),
        records: 1,
        record_bytes: 100,
        topics: 1,
        partitions: 1,
        offsets: false,
    };
    create_topics(&harness::source(), &first, 1, &[]).await;
    produce_records(&harness::source(), &first, &one, 1, None).await;
    let process = start_tool(tool, binary, &format!("^{prefix}-[0-9]+$"), 1, None, true).await?;
    let limit = NEW_TOPIC_LIMIT;
    watch_target(&first, 1, 1, Instant::now(), limit)
        .await
        .map_err(|e| format!("{tool}: {e}; log in {}", process.log().display()))?;
    let created = Instant::now();
    create_topics(&harness::source(), &later, 1, &[]).await;
    produce_records(&harness::source(), &later, &one, 1, None).await;
    let watched = watch_target(&later, 1, 1, created, limit)
        .await
        .map_err(|e| format!("{tool}: {e}; log in {}", process.log().display()))?;
    drop(process);
    for topics in [&first, &later] {
        delete_topics(&harness::source(), topics).await;
        delete_topics(&harness::target(), topics).await;
    }
    Ok(watched.first.duration_since(created).as_secs_f64())
}

/// `total` records at LATENCY_RATE per second, sent in small groups every 2 ms, each
/// value stamped with its send time in microseconds.
async fn paced_produce(topic: &str, total: u64) {
    let producer: FutureProducer = producer_config(&harness::source())
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let per_tick = LATENCY_RATE / 500;
    let started = tokio::time::Instant::now();
    let padding = value_source(1024);
    let mut pending = Vec::with_capacity(total as usize);
    for tick in 0..total / per_tick {
        tokio::time::sleep_until(started + Duration::from_millis(2 * tick)).await;
        for n in 0..per_tick {
            let i = tick * per_tick + n;
            let mut value = padding.clone();
            value[..8].copy_from_slice(&now_micros().to_be_bytes());
            let key = format!("k{i}");
            let record = FutureRecord::to(topic)
                .key(&key)
                .payload(&value)
                .partition((i % LATENCY_PARTITIONS as u64) as i32);
            pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
        }
    }
    for delivery in pending {
        delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
}

/// Milliseconds from each stamped record's send time to its append on the target.
async fn append_latencies(topic: &str) -> Vec<f64> {
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let target = harness::target();
        let consumer: BaseConsumer = consumer_config(
            &target,
            &unique_name("bench-latency"),
            LATENCY_PARTITIONS as usize,
        )
        .create()
        .unwrap();
        let mut assignment = TopicPartitionList::new();
        let mut expected = 0;
        for p in 0..LATENCY_PARTITIONS {
            let (_, high) = consumer
                .fetch_watermarks(&topic, p, Duration::from_secs(10))
                .unwrap();
            expected += high;
            assignment
                .add_partition_offset(&topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut latencies = Vec::new();
        let mut read = 0;
        while read < expected {
            let Some(message) = consumer.poll(Duration::from_secs(10)) else {
                continue;
            };
            let message = message.unwrap();
            read += 1;
            let sent = u64::from_be_bytes(message.payload().unwrap()[..8].try_into().unwrap());
            if let (Timestamp::LogAppendTime(appended), true) = (message.timestamp(), sent > 0) {
                latencies.push((appended * 1000 - sent as i64) as f64 / 1000.0);
            }
        }
        latencies
    })
    .await
    .unwrap()
}
