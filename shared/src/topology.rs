//! Which partitions a task copies, and where each starts: questions asked of the
//! clusters through [`ClusterAccess`], shared by the workers, the dispatcher, progress and
//! offset sync.

use crate::assignment::Route;
use crate::kafka::{AccessError, ClusterAccess, TIMEOUT};
use crate::store::{Checkpoint, PartitionRef};
use crate::task::{StartOffset, TaskSpec, TopicStartOffset};
use crate::topic_metadata::select;

/// Every partition the task copies, with its target topic: for an instance task, the
/// selected source topics (names over 128 characters truncated, collisions skipped);
/// for a topic task, its one topic.
pub async fn task_routes(
    source: &ClusterAccess,
    spec: &TaskSpec,
) -> Result<Vec<Route>, AccessError> {
    let partitions = source.topic_partitions(TIMEOUT).await?;
    let pairs: Vec<(&str, &str)> = match spec {
        TaskSpec::Instance(instance) => {
            select(partitions.keys().map(String::as_str), &instance.topics).0
        }
        TaskSpec::Topic(topic) => partitions
            .contains_key(topic.source_topic.as_str())
            .then_some((topic.source_topic.as_str(), topic.target_topic.as_str()))
            .into_iter()
            .collect(),
    };
    Ok(pairs
        .into_iter()
        .flat_map(|(source_topic, target_topic)| {
            (0..partitions[source_topic] as i32).map(move |partition| Route {
                source: PartitionRef {
                    topic: source_topic.to_owned(),
                    partition,
                },
                target_topic: target_topic.to_owned(),
            })
        })
        .collect())
}

/// Where each partition starts when it has no checkpoint: recorded when the task is
/// created, as checkpoints, for `latest` (the end offsets at that moment) and for a
/// start timestamp (the first offset at or after it). A partition without one — under
/// `earliest`, or one that appears later — is copied from its beginning.
pub async fn initial_checkpoints(
    source: &ClusterAccess,
    spec: &TaskSpec,
) -> Result<Vec<(PartitionRef, Checkpoint)>, AccessError> {
    let timestamp = match spec {
        TaskSpec::Instance(i) if i.start_offset == StartOffset::Latest => None,
        TaskSpec::Topic(t) => match t.start_offset {
            TopicStartOffset::Latest => None,
            TopicStartOffset::Timestamp(ms) => Some(ms),
            _ => return Ok(Vec::new()),
        },
        _ => return Ok(Vec::new()),
    };
    let partitions: Vec<PartitionRef> = task_routes(source, spec)
        .await?
        .into_iter()
        .map(|r| r.source)
        .collect();
    let ends = source.watermarks(partitions.clone(), TIMEOUT).await?;
    let found = match timestamp {
        Some(ms) => source.offsets_for_time(partitions, ms, TIMEOUT).await?,
        None => Default::default(),
    };
    Ok(ends
        .into_iter()
        .map(|(p, (_, high))| {
            // No record at or after the timestamp: start at the end.
            let next_offset = found.get(&p).copied().flatten().unwrap_or(high);
            let checkpoint = Checkpoint {
                next_offset,
                ..Checkpoint::default()
            };
            (p, checkpoint)
        })
        .collect())
}
