//! One consumer-group offset-sync run of an instance task (DESIGN §3): every source group
//! with commits on the synced topics gets, on the target, the same group with each
//! committed offset translated through the replicator's mapping samples
//! ([`crate::offset_translation`]). A group with live members on the target is left
//! alone; a target offset only ever moves forward; a partition whose target topic or
//! partition does not exist (yet) is skipped. What happened goes to the event center
//! (kind `offsets`) and to the task's `progress.offsets`.
//!
//! Per run: one ListGroups and one OffsetFetch per group on the source; one
//! DescribeGroups per 100 groups, one OffsetFetch and (when something moves) one
//! OffsetCommit per group on the target, at most [`CONCURRENCY`] requests at a time;
//! the mapping samples of each partition are read from the store once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::kafka::ClusterAccess;
use crate::kafka_admin::{AdminError, GroupAdmin, GroupOffset};
use crate::lifecycle::TaskRecord;
use crate::offset_translation::translate;
use crate::services::Services;
use crate::store::{Level, OffsetMapping, PartitionRef};
use crate::task::TaskSpec;
use crate::topic_metadata::select;
use crate::topology::task_routes;

/// The event kind of everything offset sync records.
pub const EVENT_KIND: &str = "offsets";
/// Group admin requests in flight at once, per cluster.
pub const CONCURRENCY: usize = 16;
const TIMEOUT: Duration = Duration::from_secs(30);
/// Groups per DescribeGroups request.
const DESCRIBE_BATCH: usize = 100;

/// `progress.offsets` of a task: what the last run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetProgress {
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Source groups with commits on the synced topics that the run brought up to date
    /// on the target (committed where behind, or already at or ahead): every such group
    /// but those left alone for live members and those whose sync failed.
    pub groups: u64,
    /// Target partitions whose group offset this run moved forward.
    pub partitions_committed: u64,
    /// Groups left alone because they have live members on the target.
    #[serde(default)]
    pub skipped_active: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OffsetSyncError(pub String);

fn admin_error(what: &str) -> impl Fn(AdminError) -> OffsetSyncError + '_ {
    move |e| OffsetSyncError(format!("{what}: {e}"))
}

/// Whether a task's consumer groups are synchronized: an instance task with `sync` =
/// `metadata+messages+offsets` (creation guarantees the all-topics range and
/// `same_partition`).
pub fn syncs_offsets(spec: &TaskSpec) -> bool {
    matches!(spec, TaskSpec::Instance(i) if i.sync.syncs_offsets() && i.topics.is_all())
}

/// One offset-sync run of a task that syncs offsets, over every topic it copies.
pub async fn run(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
) -> Result<OffsetProgress, OffsetSyncError> {
    let topics = async {
        if !syncs_offsets(&task.spec) {
            return Err(OffsetSyncError(
                "the task does not synchronize consumer-group offsets".into(),
            ));
        }
        let [source_id, _] = task.spec.connection_ids();
        let source = services
            .access(tenant, source_id)
            .await
            .map_err(|e| OffsetSyncError(e.to_string()))?;
        let routes = task_routes(&source, &task.spec)
            .await
            .map_err(|e| OffsetSyncError(format!("source topics: {e}")))?;
        Ok(routes
            .into_iter()
            .map(|route| route.source.topic)
            .collect::<BTreeSet<String>>())
    }
    .await;
    match topics {
        Ok(topics) => sync_groups(services, tenant, task, &topics).await,
        Err(e) => {
            failed(services, &task.id, &e).await;
            Err(e)
        }
    }
}

/// Syncs the groups with commits on `topics` (source topic names, narrowed to those the
/// task selects) of an instance task with `same_partition`, and records the run's
/// events and `progress.offsets`. It does not check the task's `sync` scope: [`run`]
/// does, and passes every topic the task copies; a test passes only its own topics.
pub async fn sync_groups(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
    topics: &BTreeSet<String>,
) -> Result<OffsetProgress, OffsetSyncError> {
    let outcome = sync(services, tenant, task, topics).await;
    if let Err(e) = &outcome {
        failed(services, &task.id, e).await;
    }
    outcome
}

async fn failed(services: &Services, task_id: &str, error: &OffsetSyncError) {
    event(
        services,
        task_id,
        Level::Error,
        &format!("offset sync failed: {error}"),
    )
    .await;
}

async fn event(services: &Services, task_id: &str, level: Level, message: &str) {
    if let Err(e) = services
        .store
        .add_event(task_id, level, EVENT_KIND, message)
        .await
    {
        tracing::warn!(task = task_id, error = %e, "could not record an event");
    }
}

/// One partition of a group to commit on the target: its translated offset, and what
/// it was translated from.
#[derive(Clone, Debug)]
struct Candidate {
    target: GroupOffset,
    source: PartitionRef,
}

/// What happened to one group.
enum GroupOutcome {
    /// Up to date on the target; this many partitions were committed.
    Synced(usize),
    /// Live members on the target (seen by DescribeGroups, or the commit was refused).
    Active(String),
    Failed(String),
}

async fn sync(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
    topics: &BTreeSet<String>,
) -> Result<OffsetProgress, OffsetSyncError> {
    let TaskSpec::Instance(spec) = &task.spec else {
        return Err(OffsetSyncError(
            "consumer-group offsets are synchronized by instance tasks only".into(),
        ));
    };
    if !spec.same_partition {
        return Err(OffsetSyncError(
            "consumer-group offsets need same_partition: true (source partition p is target partition p)".into(),
        ));
    }
    let lookup = |e: crate::services::AccessLookupError| OffsetSyncError(e.to_string());
    let source_access = services
        .access(tenant, &spec.source)
        .await
        .map_err(lookup)?;
    let target_access = services
        .access(tenant, &spec.target)
        .await
        .map_err(lookup)?;
    let source = Arc::new(GroupAdmin::new(&source_access).map_err(admin_error("source"))?);
    let target = Arc::new(GroupAdmin::new(&target_access).map_err(admin_error("target"))?);

    // The synced topics, with their target names, and what the target has.
    let (pairs, _) = select(topics.iter().map(String::as_str), &spec.topics);
    let target_of: Arc<BTreeMap<String, String>> = Arc::new(
        pairs
            .into_iter()
            .map(|(s, t)| (s.to_owned(), t.to_owned()))
            .collect(),
    );
    let target_partitions = target_access
        .topic_partitions(crate::topology::TIMEOUT)
        .await
        .map_err(|e| OffsetSyncError(format!("target topics: {e}")))?;

    // 1. Source groups and their commits on the synced topics.
    let listed = source
        .list_groups(TIMEOUT)
        .await
        .map_err(admin_error("listing the source's consumer groups"))?;
    let read = bounded(listed.into_iter().map(|g| g.group_id), |group| {
        let (source, target_of) = (Arc::clone(&source), Arc::clone(&target_of));
        async move {
            let offsets = source.group_offsets(&group, TIMEOUT).await.map(|offsets| {
                offsets
                    .into_iter()
                    .filter(|o| target_of.contains_key(&o.topic))
                    .collect::<Vec<_>>()
            });
            (group, offsets)
        }
    })
    .await;
    let mut source_groups: BTreeMap<String, Vec<GroupOffset>> = BTreeMap::new();
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for (group, offsets) in read {
        match offsets {
            Ok(offsets) if offsets.is_empty() => {}
            Ok(offsets) => {
                source_groups.insert(group, offsets);
            }
            Err(e) => {
                failures.insert(group, format!("reading its offsets on the source: {e}"));
            }
        }
    }

    // 2. Translate, with each partition's samples read once.
    let mut samples: HashMap<PartitionRef, Vec<OffsetMapping>> = HashMap::new();
    let mut plans: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for (group, offsets) in &source_groups {
        let mut candidates = Vec::new();
        for committed in offsets {
            let target_topic = &target_of[&committed.topic];
            // Kafka refuses commits for partitions it does not have; metadata sync
            // creates them, a later run commits.
            if target_partitions
                .get(target_topic)
                .is_none_or(|n| committed.partition as usize >= *n)
            {
                continue;
            }
            let partition = PartitionRef {
                topic: committed.topic.clone(),
                partition: committed.partition,
            };
            if !samples.contains_key(&partition) {
                let read = services
                    .store
                    .mappings(&task.id, &partition)
                    .await
                    .map_err(|e| OffsetSyncError(format!("mapping samples: {e}")))?;
                samples.insert(partition.clone(), read);
            }
            if let Some(translation) = translate(&samples[&partition], committed.offset) {
                candidates.push(Candidate {
                    target: GroupOffset {
                        topic: target_topic.clone(),
                        partition: committed.partition,
                        offset: translation.target_offset,
                    },
                    source: partition,
                });
            }
        }
        plans.insert(group.clone(), candidates);
    }

    // 3. A translation past the target's end means the target partition is not the one
    //    the samples describe (deleted and created again): committing it would make a
    //    consumer reset, perhaps to the end, so it is not committed.
    let wanted: BTreeSet<(String, i32)> = plans
        .values()
        .flatten()
        .map(|c| (c.target.topic.clone(), c.target.partition))
        .collect();
    let ends = end_offsets(&target_access, wanted).await?;
    let mut beyond_end: BTreeSet<String> = BTreeSet::new();
    for candidates in plans.values_mut() {
        candidates.retain(|c| {
            let end = ends.get(&(c.target.topic.clone(), c.target.partition));
            let fits = end.is_some_and(|end| c.target.offset <= *end);
            if !fits {
                beyond_end.insert(format!(
                    "{}/{} (source {}/{})",
                    c.target.topic, c.target.partition, c.source.topic, c.source.partition
                ));
            }
            fits
        });
    }

    // 4. Live members on the target: left alone.
    let to_describe: Vec<String> = plans
        .iter()
        .filter(|(_, candidates)| !candidates.is_empty())
        .map(|(group, _)| group.clone())
        .collect();
    let mut members: HashMap<String, usize> = HashMap::new();
    for batch in to_describe.chunks(DESCRIBE_BATCH) {
        let described = target
            .describe_groups(batch, TIMEOUT)
            .await
            .map_err(admin_error("describing groups on the target"))?;
        members.extend(described.into_iter().map(|d| (d.group_id, d.members)));
    }

    // 5. Commit what moves forward, group by group.
    let outcomes = bounded(plans, |(group, candidates)| {
        let target = Arc::clone(&target);
        let live = members.get(&group).copied().unwrap_or(0);
        async move {
            let outcome = if candidates.is_empty() {
                GroupOutcome::Synced(0)
            } else if live > 0 {
                GroupOutcome::Active(format!("it has {live} active member(s) there"))
            } else {
                commit_forward(&target, &group, candidates).await
            };
            (group, outcome)
        }
    })
    .await;

    let mut progress = OffsetProgress {
        last_sync_at: Some(Utc::now()),
        ..OffsetProgress::default()
    };
    let mut outcomes: Vec<(String, GroupOutcome)> = outcomes;
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    for (group, outcome) in outcomes {
        match outcome {
            GroupOutcome::Synced(committed) => {
                progress.groups += 1;
                progress.partitions_committed += committed as u64;
            }
            GroupOutcome::Active(why) => {
                event(
                    services,
                    &task.id,
                    Level::Warn,
                    &format!(
                        "left consumer group {group:?} alone on the target: {why}; its offsets are synced once it has none"
                    ),
                )
                .await;
                progress.skipped_active.push(group);
            }
            GroupOutcome::Failed(why) => {
                failures.insert(group, why);
            }
        }
    }
    for (group, why) in &failures {
        event(
            services,
            &task.id,
            Level::Error,
            &format!("could not sync consumer group {group:?}: {why}"),
        )
        .await;
    }
    if !beyond_end.is_empty() {
        let shown: Vec<&str> = beyond_end.iter().take(10).map(String::as_str).collect();
        event(
            services,
            &task.id,
            Level::Warn,
            &format!(
                "did not commit {} target partition(s) whose translated offset is past their end (was the target topic deleted and created again?): {}{}",
                beyond_end.len(),
                shown.join(", "),
                if beyond_end.len() > shown.len() { ", ..." } else { "" }
            ),
        )
        .await;
    }
    services
        .store
        .put_progress(&task.id, "offsets", &progress)
        .await
        .map_err(|e| OffsetSyncError(e.to_string()))?;
    Ok(progress)
}

/// Commits the candidates that are ahead of the group's current target offsets.
async fn commit_forward(
    target: &GroupAdmin,
    group: &str,
    candidates: Vec<Candidate>,
) -> GroupOutcome {
    let current: HashMap<(String, i32), i64> = match target.group_offsets(group, TIMEOUT).await {
        Ok(offsets) => offsets
            .into_iter()
            .map(|o| ((o.topic, o.partition), o.offset))
            .collect(),
        Err(e) => return GroupOutcome::Failed(format!("reading its offsets on the target: {e}")),
    };
    let forward: Vec<GroupOffset> = candidates
        .into_iter()
        .map(|c| c.target)
        .filter(|t| {
            current
                .get(&(t.topic.clone(), t.partition))
                .is_none_or(|now| t.offset > *now)
        })
        .collect();
    if forward.is_empty() {
        return GroupOutcome::Synced(0);
    }
    match target.commit_group_offsets(group, &forward, TIMEOUT).await {
        Ok(()) => GroupOutcome::Synced(forward.len()),
        // A member joined since DescribeGroups.
        Err(AdminError::GroupActive { message, .. }) => {
            GroupOutcome::Active(format!("the target refused the commit: {message}"))
        }
        Err(e) => GroupOutcome::Failed(format!("committing on the target: {e}")),
    }
}

/// The end offset (high watermark) of each target partition.
async fn end_offsets(
    access: &ClusterAccess,
    partitions: BTreeSet<(String, i32)>,
) -> Result<HashMap<(String, i32), i64>, OffsetSyncError> {
    if partitions.is_empty() {
        return Ok(HashMap::new());
    }
    let access = access.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer = access
            .client_config()
            .create()
            .map_err(|e| OffsetSyncError(format!("target client: {e}")))?;
        partitions
            .into_iter()
            .map(|(topic, partition)| {
                let (_, high) = rdkafka::consumer::Consumer::fetch_watermarks(
                    &consumer, &topic, partition, TIMEOUT,
                )
                .map_err(|e| {
                    OffsetSyncError(format!(
                        "end offset of {topic}/{partition} on the target: {e}"
                    ))
                })?;
                Ok(((topic, partition), high))
            })
            .collect()
    })
    .await
    .map_err(|e| OffsetSyncError(e.to_string()))?
}

/// Runs `work` on every item, at most [`CONCURRENCY`] at a time; results in completion
/// order.
async fn bounded<I, T, F, Fut>(items: impl IntoIterator<Item = I>, work: F) -> Vec<T>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut running = JoinSet::new();
    let mut done = Vec::new();
    for item in items {
        while running.len() >= CONCURRENCY {
            if let Some(result) = running.join_next().await {
                done.push(joined(result));
            }
        }
        running.spawn(work(item));
    }
    while let Some(result) = running.join_next().await {
        done.push(joined(result));
    }
    done
}

/// A finished task's value; a panic in it is passed on (tasks here are never aborted).
fn joined<T>(result: Result<T, tokio::task::JoinError>) -> T {
    result.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

// ---------------------------------------------------------------------------------------
// Brokers too old for offset sync.
// ---------------------------------------------------------------------------------------

/// A Kafka API offset sync depends on, at the lowest version that serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiNeed {
    pub api_key: i16,
    pub name: &'static str,
    pub min_version: i16,
    /// What offset sync needs it for, and the Kafka release that brought that version.
    pub why: &'static str,
}

/// What offset sync needs of both clusters. Every one is in Kafka 0.11.0; Kafka 0.10.2.1
/// and earlier lack the last two, on which the translation's safety rests (the copies
/// of a partition land on the target in source order, through the idempotent producer).
pub const OFFSET_SYNC_APIS: [ApiNeed; 6] = [
    ApiNeed {
        api_key: 16,
        name: "ListGroups",
        min_version: 0,
        why: "list the consumer groups (0.9.0)",
    },
    ApiNeed {
        api_key: 15,
        name: "DescribeGroups",
        min_version: 0,
        why: "see whether a group has live members (0.9.0)",
    },
    ApiNeed {
        api_key: 8,
        name: "OffsetCommit",
        min_version: 2,
        why: "commit a group's offsets in Kafka, not ZooKeeper (0.9.0)",
    },
    ApiNeed {
        api_key: 9,
        name: "OffsetFetch",
        min_version: 2,
        why: "read all of a group's committed offsets at once, KIP-88 (0.10.2.0)",
    },
    ApiNeed {
        api_key: 0,
        name: "Produce",
        min_version: 3,
        why: "record batches of message format v2, with headers and producer ids (0.11.0)",
    },
    ApiNeed {
        api_key: 22,
        name: "InitProducerId",
        min_version: 0,
        why: "the idempotent producer, which keeps each partition's copies in source order (0.11.0)",
    },
];

/// A broker that lacks what offset sync needs: the reason names every missing API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the broker is too old for consumer-group offset sync (Apache Kafka 0.11.0 or later is needed); it lacks {}",
    .missing.iter().map(|n| format!("{} v{}+ ({})", n.name, n.min_version, n.why)).collect::<Vec<_>>().join(", ")
)]
pub struct BrokerTooOld {
    pub missing: Vec<ApiNeed>,
}

/// Decides from a broker's ApiVersions answer (API key → highest version it serves)
/// whether offset sync can run against it.
pub fn check_offset_sync_support(max_versions: &BTreeMap<i16, i16>) -> Result<(), BrokerTooOld> {
    let missing: Vec<ApiNeed> = OFFSET_SYNC_APIS
        .iter()
        .filter(|need| {
            max_versions
                .get(&need.api_key)
                .is_none_or(|max| *max < need.min_version)
        })
        .copied()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(BrokerTooOld { missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(i16, i16)]) -> BTreeMap<i16, i16> {
        entries.iter().copied().collect()
    }

    /// ApiVersions of Apache Kafka 0.10.2.1 (key, max version).
    fn kafka_0_10_2_1() -> BTreeMap<i16, i16> {
        table(&[
            (0, 2),  // Produce
            (1, 3),  // Fetch
            (2, 1),  // ListOffsets
            (3, 2),  // Metadata
            (4, 0),  // LeaderAndIsr
            (5, 0),  // StopReplica
            (6, 3),  // UpdateMetadata
            (7, 1),  // ControlledShutdown
            (8, 2),  // OffsetCommit
            (9, 2),  // OffsetFetch
            (10, 0), // GroupCoordinator
            (11, 1), // JoinGroup
            (12, 0), // Heartbeat
            (13, 0), // LeaveGroup
            (14, 0), // SyncGroup
            (15, 0), // DescribeGroups
            (16, 0), // ListGroups
            (17, 0), // SaslHandshake
            (18, 0), // ApiVersions
            (19, 1), // CreateTopics
            (20, 0), // DeleteTopics
        ])
    }

    /// ApiVersions of Apache Kafka 0.11.0.0.
    fn kafka_0_11_0() -> BTreeMap<i16, i16> {
        let mut versions = kafka_0_10_2_1();
        versions.extend([
            (0, 3),
            (1, 5),
            (2, 2),
            (3, 4),
            (8, 3),
            (9, 3),
            (10, 1),
            (11, 2),
            (12, 1),
            (13, 1),
            (14, 1),
            (15, 1),
            (16, 1),
            (18, 1),
            (19, 2),
            (20, 1),
        ]);
        versions.extend((21..=33).map(|key| (key, 0)));
        versions
    }

    /// ApiVersions of Apache Kafka 2.0.0.
    fn kafka_2_0() -> BTreeMap<i16, i16> {
        table(&[
            (0, 6),
            (1, 8),
            (2, 3),
            (3, 6),
            (4, 1),
            (5, 0),
            (6, 4),
            (7, 1),
            (8, 4),
            (9, 4),
            (10, 2),
            (11, 3),
            (12, 2),
            (13, 2),
            (14, 2),
            (15, 2),
            (16, 2),
            (17, 1),
            (18, 2),
            (19, 3),
            (20, 2),
            (21, 1),
            (22, 1),
            (23, 1),
            (24, 1),
            (25, 1),
            (26, 1),
            (27, 0),
            (28, 1),
            (29, 1),
            (30, 1),
            (31, 1),
            (32, 2),
            (33, 1),
            (34, 1),
            (35, 1),
            (36, 0),
            (37, 1),
            (38, 1),
            (39, 1),
            (40, 1),
            (41, 1),
            (42, 1),
        ])
    }

    #[test]
    fn kafka_0_10_2_1_is_too_old_and_the_reason_says_why() {
        let error = check_offset_sync_support(&kafka_0_10_2_1()).unwrap_err();
        let names: Vec<&str> = error.missing.iter().map(|n| n.name).collect();
        assert_eq!(names, ["Produce", "InitProducerId"]);
        let message = error.to_string();
        assert!(message.contains("too old"), "{message}");
        assert!(message.contains("0.11.0"), "{message}");
        assert!(message.contains("InitProducerId v0+"), "{message}");
    }

    #[test]
    fn kafka_0_11_and_2_x_are_supported() {
        assert_eq!(check_offset_sync_support(&kafka_0_11_0()), Ok(()));
        assert_eq!(check_offset_sync_support(&kafka_2_0()), Ok(()));
    }

    #[test]
    fn older_brokers_lack_more() {
        // 0.10.1: OffsetFetch v1 only (no "all partitions of the group").
        let mut versions = kafka_0_10_2_1();
        versions.insert(9, 1);
        let error = check_offset_sync_support(&versions).unwrap_err();
        assert!(error.missing.iter().any(|n| n.name == "OffsetFetch"));
        // Nothing known: everything is missing.
        let error = check_offset_sync_support(&BTreeMap::new()).unwrap_err();
        assert_eq!(error.missing.len(), OFFSET_SYNC_APIS.len());
    }

    #[test]
    fn only_instance_tasks_with_offsets_over_all_topics_sync_them() {
        use crate::task::parse_task_spec;
        use serde_json::json;
        let spec = |sync: &str, topics: serde_json::Value| {
            parse_task_spec(&json!({"name": "t", "kind": "instance", "source": "a",
                "target": "b", "sync": sync, "topics": topics}))
            .unwrap()
        };
        assert!(syncs_offsets(&spec(
            "metadata+messages+offsets",
            json!({"all": true})
        )));
        assert!(!syncs_offsets(&spec(
            "metadata+messages",
            json!({"all": true})
        )));
        assert!(!syncs_offsets(&spec(
            "metadata+messages",
            json!({"regex": "^x"})
        )));
    }
}
