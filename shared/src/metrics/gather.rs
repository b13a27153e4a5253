//! The figures `/metrics` and the embedded-metric lines read at scrape time from what
//! is kept anyway: the checkpoints (records and bytes copied, stalls, losses) and the
//! source's log ends (lag). Per task that is one store query and two batched ListOffsets
//! requests ([`ClusterAccess::log_bounds`]), whatever the partition count; nothing is
//! added to the replication path.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::task::JoinSet;

use super::recorder::{Figures, started};
use crate::kafka::ClusterAccess;
use crate::lifecycle::TaskRecord;
use crate::services::Services;
use crate::store::{PartitionRef, StoreError, now_ms};

/// Per partition: its log start and end, when known.
type Bounds = BTreeMap<PartitionRef, (Option<i64>, Option<i64>)>;

/// How long one task's figures may take: an unreachable source makes its task's lag
/// unknown, never the scrape slow.
const TASK_TIMEOUT: Duration = Duration::from_secs(5);

/// Whose tasks a scrape covers.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Every tenant's (a scrape the loopback-only listener answers without a token).
    All,
    Tenant(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TaskFigures {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub state: &'static str,
    /// Whether the source answered for its log ends within the time; without them there
    /// is no lag and no checkpoint age.
    pub source_reachable: bool,
    pub topics: Vec<TopicFigures>,
}

/// A source topic of a task: its counters (the sums of its partitions' checkpoints) and
/// its partitions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopicFigures {
    pub topic: String,
    pub copied: u64,
    pub bytes: u64,
    pub discarded: u64,
    pub dead_lettered: u64,
    pub lost: u64,
    pub partitions: Vec<PartitionFigures>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PartitionFigures {
    pub partition: i32,
    /// Records on the source not copied yet; `None` while the source does not answer.
    pub lag: Option<i64>,
    pub stalled: bool,
    pub lost: u64,
    /// How long the partition has had lag without its checkpoint moving: 0 without lag;
    /// counted from this process's start when it has not written the checkpoint since.
    pub checkpoint_age_secs: f64,
}

/// The figures of every task in `scope`, each gathered concurrently within its time.
pub async fn gather(
    services: &Services,
    scope: &Scope,
    recorded: &Figures,
) -> Result<Vec<TaskFigures>, StoreError> {
    let tasks = match scope {
        Scope::All => services.store.all_tasks().await?,
        Scope::Tenant(tenant) => services
            .store
            .list_tasks(tenant)
            .await?
            .into_iter()
            .map(|task| (tenant.clone(), task))
            .collect(),
    };
    let mut running = JoinSet::new();
    for (index, (tenant, task)) in tasks.into_iter().enumerate() {
        let services = services.clone();
        let times = recorded
            .checkpointed_at
            .get(&task.id)
            .cloned()
            .unwrap_or_default();
        running.spawn(async move {
            let figures = task_figures(&services, &tenant, task, &times).await;
            (index, figures)
        });
    }
    let mut gathered = Vec::new();
    while let Some(joined) = running.join_next().await {
        if let Ok((index, figures)) = joined {
            gathered.push((index, figures?));
        }
    }
    gathered.sort_by_key(|(index, _)| *index);
    Ok(gathered.into_iter().map(|(_, figures)| figures).collect())
}

/// One task's figures; its partitions are those it has checkpoints for.
pub async fn task_figures(
    services: &Services,
    tenant: &str,
    task: TaskRecord,
    checkpointed_at: &BTreeMap<PartitionRef, i64>,
) -> Result<TaskFigures, StoreError> {
    let checkpoints = services.store.checkpoints(&task.id).await?;
    let partitions: Vec<PartitionRef> = checkpoints.keys().cloned().collect();
    let marks = match services.access(tenant, task.spec.connection_ids()[0]).await {
        Ok(source) => log_bounds(&source, partitions).await,
        Err(_) => None,
    };
    let mut topics: Vec<TopicFigures> = Vec::new();
    for (p, checkpoint) in &checkpoints {
        if topics.last().is_none_or(|t| t.topic != p.topic) {
            topics.push(TopicFigures {
                topic: p.topic.clone(),
                ..TopicFigures::default()
            });
        }
        let topic = topics.last_mut().expect("pushed above");
        topic.copied += checkpoint.copied;
        topic.bytes += checkpoint.bytes;
        topic.discarded += checkpoint.discarded;
        topic.dead_lettered += checkpoint.dead_lettered;
        topic.lost += checkpoint.lost;
        let lag = marks.as_ref().and_then(|m| checkpoint.lag(*m.get(p)?));
        let age = match (lag, checkpointed_at.get(p)) {
            (Some(lag), Some(at)) if lag > 0 => (now_ms() - at).max(0) as f64 / 1000.0,
            (Some(lag), None) if lag > 0 => started().elapsed().as_secs_f64(),
            _ => 0.0,
        };
        topic.partitions.push(PartitionFigures {
            partition: p.partition,
            lag,
            stalled: checkpoint.stalled.is_some(),
            lost: checkpoint.lost,
            checkpoint_age_secs: age,
        });
    }
    Ok(TaskFigures {
        id: task.id,
        name: task.spec.name().to_owned(),
        kind: task.spec.kind().to_string(),
        state: task.state.as_str(),
        source_reachable: marks.is_some(),
        topics,
    })
}

/// Each partition's log start and end; `None` when the source does not answer in time.
async fn log_bounds(source: &ClusterAccess, partitions: Vec<PartitionRef>) -> Option<Bounds> {
    tokio::time::timeout(TASK_TIMEOUT, source.log_bounds(partitions, TASK_TIMEOUT))
        .await
        .ok()?
        .ok()
}
