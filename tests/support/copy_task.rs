//! A task copying exactly one topic, driven in-process: its replicator workers run as
//! Lambda invocations would (one per slot, each ending at a deadline), and its offset
//! sync runs when the test says.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_sync::kafka::ClusterAccess;
use kafka_sync::lifecycle::TaskRecord;
use kafka_sync::metadata_sync;
use kafka_sync::offset_sync::{self, OffsetProgress};
use kafka_sync::services::Services;
use kafka_sync::store::{OffsetRun, PartitionRef};
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::task::{TENANT, instance_task_between};
use crate::workers;

pub struct CopyTask {
    pub services: Services,
    pub task: TaskRecord,
    pub topic: String,
    pub partitions: i32,
}

impl CopyTask {
    /// A metadata+messages task from the source to the target cluster with a regex
    /// range over `topic` alone. Metadata sync initializes it: it creates the target
    /// topic unless the topic already exists there.
    pub async fn new(topic: &str, partitions: i32) -> CopyTask {
        Self::between(crate::source(), crate::target(), topic, partitions).await
    }

    /// As [`CopyTask::new`], from `from` to `to`.
    pub async fn between(
        from: ClusterAccess,
        to: ClusterAccess,
        topic: &str,
        partitions: i32,
    ) -> CopyTask {
        let fields = json!({"sync": "metadata+messages",
            "topics": {"regex": format!("^{topic}$")}});
        let (services, task) = instance_task_between(from, to, fields).await;
        metadata_sync::run(&services, TENANT, &task).await.unwrap();
        CopyTask {
            services,
            task,
            topic: topic.to_owned(),
            partitions,
        }
    }

    pub fn partition(&self, partition: i32) -> PartitionRef {
        PartitionRef {
            topic: self.topic.clone(),
            partition,
        }
    }

    pub async fn checkpoint(&self, partition: i32) -> Option<i64> {
        let checkpoints = self
            .services
            .store
            .checkpoints(&self.task.id)
            .await
            .unwrap();
        checkpoints
            .get(&self.partition(partition))
            .map(|c| c.next_offset)
    }

    /// Runs the workers in invocations of `invocation` until every partition p has its
    /// checkpoint at `wanted[p]` or beyond. A partition whose log ends in a transaction
    /// marker or in aborted records has nothing left to copy from its last committed
    /// record + 1 on, so the caller passes that offset and not the log end.
    pub async fn replicate_until(&self, wanted: &BTreeMap<i32, i64>, invocation: Duration) {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let mut done = true;
            for (p, want) in wanted {
                done &= self.checkpoint(*p).await.is_some_and(|at| at >= *want);
            }
            if done {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "replication did not reach {wanted:?}"
            );
            self.invoke_workers(invocation).await;
        }
    }

    /// Runs the workers (invocations of 3 s) until every partition is checkpointed at
    /// its source end as it is now.
    pub async fn replicate_to_end(&self) {
        let mut ends = BTreeMap::new();
        for p in 0..self.partitions {
            let end = crate::source()
                .end_offset(&self.topic, p, Duration::from_secs(30))
                .await
                .unwrap();
            ends.insert(p, end);
        }
        self.replicate_until(&ends, Duration::from_secs(3)).await;
    }

    /// One invocation of every slot's worker, each stopping after `invocation`, as the
    /// Lambda replicator does. Each invocation is a new owner, so it starts runs of its
    /// own.
    pub async fn invoke_workers(&self, invocation: Duration) {
        let stop = CancellationToken::new();
        let mut running = JoinSet::new();
        for slot in 0..kafka_sync::assignment::slot_count(self.partitions as usize) {
            running.spawn(workers::spawn(
                &self.services,
                workers::slot(&self.task.id, slot),
                format!("copy-task-{slot}"),
                Default::default(),
                &stop,
                Some(Instant::now() + invocation),
            ));
        }
        while let Some(outcome) = running.join_next().await {
            outcome.unwrap().unwrap().unwrap();
        }
    }

    /// One scheduled offset-sync run over the task's topic.
    pub async fn sync(&self) -> OffsetProgress {
        let topics = BTreeSet::from([self.topic.clone()]);
        offset_sync::sync_groups(&self.services, TENANT, &self.task, &topics)
            .await
            .unwrap()
    }

    pub async fn runs(&self, partition: i32) -> Vec<OffsetRun> {
        self.services
            .store
            .mappings(&self.task.id, &self.partition(partition))
            .await
            .unwrap()
    }
}
