//! Crashes while records keep arriving: the target broker SIGKILLed and started again on
//! its data, `kafka-sync local` SIGKILLed and started again on its store, partitions
//! added mid-run. Afterwards every source record is on the target (DESIGN §3
//! "Delivery": at least once, nothing lost), and the copies made again are counted.
//!
//! These tests kill the target broker every test of this binary uses, so they hold
//! [`BROKER`] for their whole run; no other test belongs in this binary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use harness::brokers::{kill_target, wait_partitions};
use harness::copies::{assert_all_copied, create_instance_task, recheck_quiet, wait_settled};
use harness::local::{Local, binary};
use harness::records::{add_partitions, create_topic, produce, read_all};
use harness::unique_name;
use serde_json::Value;
use tokio::task::JoinHandle;

/// Serializes the tests that kill the target broker.
static BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Records produced to the source in the background, in rounds of `chunk` records per
/// topic, until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    /// Each topic's partition count, as the producer spreads records over them.
    partitions: Vec<Arc<AtomicI32>>,
    handle: JoinHandle<(Vec<u64>, Duration)>,
}

impl Traffic {
    fn start(topics: &[(String, i32)], chunk: u64, pause: Duration) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let partitions: Vec<Arc<AtomicI32>> = topics
            .iter()
            .map(|(_, n)| Arc::new(AtomicI32::new(*n)))
            .collect();
        let names: Vec<String> = topics.iter().map(|(name, _)| name.clone()).collect();
        let handle = tokio::spawn({
            let (stop, partitions) = (stop.clone(), partitions.clone());
            async move {
                let started = Instant::now();
                let mut produced = vec![0u64; names.len()];
                // A forgotten stop must not produce for ever.
                let deadline = Instant::now() + Duration::from_secs(150);
                for _round in 0..5000 {
                    if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                        break;
                    }
                    for (i, topic) in names.iter().enumerate() {
                        let n = partitions[i].load(Ordering::Relaxed);
                        produce(&harness::source(), topic, n, produced[i], chunk, 100).await;
                        produced[i] += chunk;
                    }
                    tokio::time::sleep(pause).await;
                }
                (produced, started.elapsed())
            }
        });
        Traffic {
            stop,
            partitions,
            handle,
        }
    }

    /// From the next round on, topic `index` gets records on `partitions` partitions.
    fn spread_over(&self, index: usize, partitions: i32) {
        self.partitions[index].store(partitions, Ordering::Relaxed);
    }

    /// Stops after the round under way; returns how many records each topic got, and
    /// for how long records were produced.
    async fn stop(self) -> (Vec<u64>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.await.unwrap()
    }
}

/// The task's events, newest first.
async fn events(local: &Local, task_id: &str) -> Vec<Value> {
    let reply = local
        .expect(
            200,
            "GET",
            &format!("/v1/tasks/{task_id}/events?limit=1000"),
            None,
        )
        .await;
    reply["events"].as_array().cloned().unwrap_or_default()
}

/// A partition after the run: its source records and the extra copies on the target.
struct Copied {
    topic: String,
    partition: i32,
    records: usize,
    duplicates: usize,
}

/// Every source record of each topic is on the target; prints and returns what each
/// partition holds.
async fn check_topics(topics: &[(String, i32)]) -> Vec<Copied> {
    let mut copied = Vec::new();
    for (topic, _) in topics {
        let source = read_all(&harness::source(), topic).await;
        let target = read_all(&harness::target(), topic).await;
        let duplicates = assert_all_copied(&source, &target);
        println!(
            "{topic}: {} source records over {} partitions all on the target; {} copied again, per partition {:?}",
            source.values().map(Vec::len).sum::<usize>(),
            source.len(),
            duplicates.values().sum::<usize>(),
            duplicates.values().collect::<Vec<_>>()
        );
        for (partition, duplicates) in duplicates {
            copied.push(Copied {
                topic: topic.clone(),
                partition,
                records: source[&partition].len(),
                duplicates,
            });
        }
    }
    copied
}

/// How many times the task reported a replication failure: identical events are stored
/// once with a count, so the counts are what says whether each retry made one.
fn replication_failures(events: &[Value]) -> u64 {
    events
        .iter()
        .filter(|e| e["kind"] == "replication")
        .map(|e| e["count"].as_u64().unwrap_or(1))
        .sum()
}

/// Waits until the copy has begun: the task initialized, a worker copying.
async fn wait_copying(local: &Local, task_id: &str) {
    let started = Instant::now();
    local
        .wait_progress(task_id, Duration::from_secs(90), |p| {
            p["totals"]["messages"].as_u64().is_some_and(|m| m > 0)
        })
        .await;
    println!(
        "copying {:.1} s after the task was created",
        started.elapsed().as_secs_f64()
    );
}

/// Waits until the task's `partitions` partitions are copied and stay so past a
/// worker's re-read of its partitions, once records stopped arriving.
async fn settle(local: &Local, task_id: &str, partitions: usize) {
    let started = Instant::now();
    wait_settled(
        local,
        task_id,
        partitions,
        recheck_quiet(),
        Duration::from_secs(180),
    )
    .await;
    println!(
        "settled {:.0} s after the last record was produced ({:?} of them quiet)",
        started.elapsed().as_secs_f64(),
        recheck_quiet()
    );
}

#[tokio::test]
async fn target_broker_killed_mid_copy() {
    let _broker = BROKER.lock().await;
    let started = Instant::now();
    let base = unique_name("chaos-broker");
    let topics = [(format!("{base}-a"), 4), (format!("{base}-b"), 4)];
    for (topic, partitions) in &topics {
        create_topic(&harness::source(), topic, *partitions).await;
    }
    let home = harness::scratch_dir().join(unique_name("chaos-broker"));
    let log = home.with_extension("log");
    println!("kafka-sync local logs to {}", log.display());
    let local = Local::start(&binary(), &home, &log).await;
    let task_id = create_instance_task(&local, &format!("^{base}-(a|b)$"), "earliest").await;
    // About 20,000 records a second: the copy is busy when the broker dies.
    let traffic = Traffic::start(&topics, 1000, Duration::from_millis(50));
    wait_copying(&local, &task_id).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let down = kill_target().await;
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    down.restart().await;
    println!(
        "target broker down for {:.1} s (5 s dead, then its restart)",
        killed.elapsed().as_secs_f64()
    );
    // Records keep arriving a little after the broker is back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (produced, _) = traffic.stop().await;
    println!("produced {produced:?}");

    settle(&local, &task_id, 8).await;
    let copied = check_topics(&topics).await;
    let events = events(&local, &task_id).await;
    for event in &events {
        println!("event: {event}");
    }
    let failures = replication_failures(&events);
    println!(
        "target broker killed mid-copy: 0 lost, {} copied again, {failures} replication failure events, {:.0} s",
        copied.iter().map(|c| c.duplicates).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    // A broker restart is a transient error: retried with backoff, no event per retry
    // (DESIGN §3). Ideally none at all; one event for the whole outage is tolerated.
    assert!(
        failures <= 1,
        "{failures} replication failure events for one broker restart"
    );
    local.kill();
}

#[tokio::test]
async fn chaos_one_run() {
    let _broker = BROKER.lock().await;
    let started = Instant::now();
    let base = unique_name("chaos-run");
    // 24 partitions: more than the 20 slots, so slots hold two partitions and adding
    // partitions re-spreads them.
    let topics = [(format!("{base}-a"), 12), (format!("{base}-b"), 12)];
    for (topic, partitions) in &topics {
        create_topic(&harness::source(), topic, *partitions).await;
    }
    let home = harness::scratch_dir().join(unique_name("chaos-run"));
    let log = home.with_extension("log");
    println!("kafka-sync local logs to {}", log.display());
    let binary = binary();
    // Metadata sync every 2 s adds the target's partitions soon after the source's.
    let args = ["--metadata-interval", "2"];
    let mut local = Local::start_with(&binary, &home, &log, &args).await;
    let task_id = create_instance_task(&local, &format!("^{base}-(a|b)$"), "earliest").await;
    let traffic = Traffic::start(&topics, 1200, Duration::from_millis(50));
    let traffic_started = Instant::now();
    wait_copying(&local, &task_id).await;

    let restart = async |local: Local, kill: usize| -> Local {
        tokio::time::sleep(Duration::from_secs(2)).await;
        local.kill();
        println!("kafka-sync local SIGKILLed ({kill} of 3)");
        Local::start_with(&binary, &home, &log, &args).await
    };
    local = restart(local, 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    add_partitions(&harness::source(), &topics[0].0, 16).await;
    wait_partitions(&harness::source(), &topics[0].0, 16).await;
    traffic.spread_over(0, 16);
    let grown = Instant::now();
    println!("{} grew from 12 to 16 partitions", topics[0].0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    local = restart(local, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let down = kill_target().await;
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    down.restart().await;
    let outage = killed.elapsed();
    println!(
        "target broker SIGKILLed and restarted on its data: down {:.1} s",
        outage.as_secs_f64()
    );
    local = restart(local, 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (produced, producing) = traffic.stop().await;
    println!("produced {produced:?} in {:.0} s", producing.as_secs_f64());

    settle(&local, &task_id, 28).await;
    let copied = check_topics(&topics).await;
    let duplicates: usize = copied.iter().map(|c| c.duplicates).sum();
    let failures = replication_failures(&events(&local, &task_id).await);
    println!(
        "chaos run: 0 lost, {duplicates} copied again, {failures} replication failure events, {:.0} s",
        started.elapsed().as_secs_f64()
    );
    // The bound. A SIGKILL of the process re-copies, per partition, what its slot had
    // sent and not yet checkpointed: the batch waiting for acknowledgements and the one
    // being read (MAX_PENDING_BATCHES = 1), and what was acknowledged in the second
    // before (checkpoints are written at most a second apart). A batch closes after its 200 ms window, so
    // that is a fraction of a second of records, except while a slot drains a backlog:
    // then one batch (up to 10,000 records) can hold everything that piled up. The
    // largest backlog here is the target broker's outage (20-35 s), and the kill 2 s
    // after the broker is back can catch it in flight. The broker restart alone
    // re-copies nothing (`target_broker_killed_mid_copy`). So per partition: at most
    // its records of the outage plus 20 s (the other two kills' restarts, batch
    // windows, the producer's reconnect), at the partition's own rate. Measured over
    // four runs: 1,000 to 14,146 copied again in all, at most 1,900 of one partition,
    // about half its bound.
    let budget = outage + Duration::from_secs(20);
    for c in &copied {
        // The added partitions have records only since they were added.
        let active = if c.topic == topics[0].0 && c.partition >= 12 {
            producing.saturating_sub(grown.duration_since(traffic_started))
        } else {
            producing
        };
        let rate = c.records as f64 / active.as_secs_f64();
        let bound = (rate * budget.as_secs_f64()).ceil() as usize;
        assert!(
            c.duplicates <= bound,
            "{}/{}: {} records copied again, more than {bound} ({rate:.0} records/s for {budget:?})",
            c.topic,
            c.partition,
            c.duplicates
        );
    }
    local.kill();
}
