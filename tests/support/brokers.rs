//! Crashing a cluster's broker and starting it again on its data, through
//! `scripts/services.sh kill|restart`, for tests of recovery from a broker crash; and
//! waiting until a broker's metadata shows a change.
//!
//! Both clusters are shared by every test of a test binary: a test that kills one must
//! not run beside tests that use it (cargo runs test binaries one after another, so it is
//! enough to serialize the tests of its own binary).

use std::process::Command;
use std::time::{Duration, Instant};

use kafka_sync::kafka::ClusterAccess;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// How long a restarted broker may take to serve again: JVM start, log recovery after an
/// unclean stop, leadership of every partition.
const RESTART_LIMIT: Duration = Duration::from_secs(120);

fn services(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/services.sh");
    let status = Command::new(script).args(args).status().unwrap();
    assert!(status.success(), "scripts/services.sh {args:?}: {status}");
}

/// The target cluster's broker, SIGKILLed. Dropping it without [`DeadBroker::restart`]
/// (a test failing midway) still starts the broker again, so the tests after it find
/// their cluster.
#[must_use = "the broker stays down until restarted"]
pub struct DeadBroker {
    name: &'static str,
    access: ClusterAccess,
    restarted: bool,
}

/// SIGKILLs the target cluster's broker (no controlled shutdown); returns once the
/// process is gone.
pub async fn kill_target() -> DeadBroker {
    tokio::task::spawn_blocking(|| services(&["kill", "target"]))
        .await
        .unwrap();
    DeadBroker {
        name: "target",
        access: crate::target(),
        restarted: false,
    }
}

impl DeadBroker {
    /// Starts the broker again on its existing data, and waits until it serves metadata
    /// with a leader for every partition, so what follows meets a working cluster.
    pub async fn restart(mut self) {
        let name = self.name;
        tokio::task::spawn_blocking(move || services(&["restart", name]))
            .await
            .unwrap();
        self.restarted = true;
        let access = self.access.clone();
        tokio::task::spawn_blocking(move || wait_until_serving(&access))
            .await
            .unwrap();
    }
}

impl Drop for DeadBroker {
    fn drop(&mut self) {
        if !self.restarted {
            services(&["restart", self.name]);
        }
    }
}

/// Polls metadata until the cluster has a broker and every partition a leader.
fn wait_until_serving(access: &ClusterAccess) {
    let consumer: BaseConsumer = access.client_config().create().unwrap();
    let deadline = Instant::now() + RESTART_LIMIT;
    loop {
        if let Ok(metadata) = consumer.fetch_metadata(None, Duration::from_secs(5)) {
            let led = metadata
                .topics()
                .iter()
                .all(|t| t.error().is_none() && t.partitions().iter().all(|p| p.leader() >= 0));
            if !metadata.brokers().is_empty() && led {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} did not serve within {RESTART_LIMIT:?} of its restart",
            access.bootstrap
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Waits until a fresh client of `access` sees `partitions` partitions of `topic`, so a
/// producer made afterwards knows every one of them.
pub async fn wait_partitions(access: &ClusterAccess, topic: &str, partitions: usize) {
    let (access, topic) = (access.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = access.client_config().create().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let metadata = consumer
                .fetch_metadata(Some(&topic), Duration::from_secs(10))
                .unwrap();
            if metadata.topics()[0].partitions().len() == partitions {
                return;
            }
            assert!(Instant::now() < deadline, "{topic} never grew");
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
}
