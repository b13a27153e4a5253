//! Consumer groups on the real clusters, for tests of group offsets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kafka_sync::kafka::ClusterAccess;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// A consumer that joined `group` (subscribed to `topic`) and keeps polling on its own
/// thread until dropped, so the group has a live member meanwhile.
pub struct LiveMember {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveMember {
    pub fn join(access: &ClusterAccess, group: &str, topic: &str) -> Self {
        let consumer: BaseConsumer = access
            .client_config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = consumer.poll(Duration::from_millis(100));
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for LiveMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
