//! One pass over a task's consumer groups: read their source commits, translate them
//! through the offset map, and commit what moves forward on the target — for every
//! group (the scheduled run), or for the groups a failover names, or only to report
//! (a dry run).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{
    DESCRIBE_BATCH, OffsetProgress, OffsetSyncError, TIMEOUT, access_error, admin_error, bounded,
    event, store_error,
};
use crate::kafka::ClusterAccess;
use crate::kafka_admin::{AdminError, GroupOffset, KafkaAdmin};
use crate::lifecycle::TaskRecord;
use crate::offset_translation::{prunable, translate};
use crate::services::Services;
use crate::store::{Level, OffsetRun, PartitionRef};
use crate::task::TaskSpec;
use crate::topic_metadata::select;

/// Which groups a pass handles, and whether it commits.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// `None`: every group with commits on the synced topics.
    pub groups: Option<BTreeSet<String>>,
    /// Report what would be committed, commit nothing, prune nothing.
    pub dry_run: bool,
}

/// What a pass did with one group (`GET /v1/tasks/{id}/groups`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    /// Its offsets on the target are at the translation (or ahead of it).
    Synced,
    /// Left alone: it has live members on the target.
    ActiveOnTarget,
    /// Some of its commits could not be translated yet (the copy has not reached them,
    /// or their target topic or partition does not exist yet); those that could are
    /// synced.
    WaitingForData,
    Failed,
}

/// One partition of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionReport {
    pub topic: String,
    pub partition: i32,
    pub target_topic: String,
    pub source_committed: i64,
    /// Where a consumer of the group resumes on the target; `None`: not translated.
    pub target_offset: Option<i64>,
    /// The group is ahead of the copy: `target_offset` is the end of what was copied.
    pub ahead_of_copy: bool,
    /// This pass committed `target_offset` (it moved the group forward).
    pub committed: bool,
}

/// One group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    pub group: String,
    pub status: GroupStatus,
    pub active_on_target: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub partitions: Vec<PartitionReport>,
}

/// The clients and names a pass works with.
struct Sides {
    source_access: ClusterAccess,
    target_access: ClusterAccess,
    source: Arc<KafkaAdmin>,
    target: Arc<KafkaAdmin>,
    /// Source topic → target topic, for the synced topics.
    target_of: Arc<BTreeMap<String, String>>,
}

/// Runs one pass over the groups with commits on `topics` (source topic names).
pub(super) async fn pass(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
    topics: &BTreeSet<String>,
    scope: &Scope,
) -> Result<(OffsetProgress, Vec<GroupReport>), OffsetSyncError> {
    let sides = sides(services, tenant, task, topics).await?;
    let (source_groups, mut failures) = source_commits(&sides, scope).await?;
    let (mut reports, runs) = translate_all(services, task, &sides, &source_groups).await?;
    let beyond_end = drop_beyond_end(&sides.target_access, &mut reports).await?;
    let members = live_members(&sides.target, &reports).await?;
    commit_all(&sides.target, &mut reports, &members, scope.dry_run).await;
    if !scope.dry_run && scope.groups.is_none() {
        let partitions = synced_partitions(&sides, topics).await?;
        prune(
            services,
            task,
            &sides.source_access,
            &source_groups,
            runs,
            partitions,
        )
        .await?;
    }
    for report in &reports {
        if report.status == GroupStatus::ActiveOnTarget {
            let why = report
                .reason
                .as_deref()
                .unwrap_or("it has active members there");
            let text = format!(
                "left consumer group {:?} alone on the target: {why}; its offsets are synced once it has none",
                report.group
            );
            event(services, &task.id, Level::Warn, &text).await;
        }
        if report.status == GroupStatus::Failed {
            failures.insert(
                report.group.clone(),
                report.reason.clone().unwrap_or_default(),
            );
        }
    }
    for (group, why) in &failures {
        let text = format!("could not sync consumer group {group:?}: {why}");
        event(services, &task.id, Level::Error, &text).await;
    }
    report_beyond_end(services, &task.id, &beyond_end).await;
    for (group, why) in failures {
        if !reports.iter().any(|r| r.group == group) {
            reports.push(GroupReport {
                group,
                status: GroupStatus::Failed,
                active_on_target: false,
                reason: Some(why),
                partitions: Vec::new(),
            });
        }
    }
    reports.sort_by(|a, b| a.group.cmp(&b.group));
    Ok((progress_of(&reports), reports))
}

async fn sides(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
    topics: &BTreeSet<String>,
) -> Result<Sides, OffsetSyncError> {
    let TaskSpec::Instance(spec) = &task.spec else {
        return Err(OffsetSyncError::Unsupported(
            "consumer-group offsets are synchronized by instance tasks only",
        ));
    };
    if !spec.same_partition {
        return Err(OffsetSyncError::Unsupported(
            "consumer-group offsets need same_partition: true (source partition p is target partition p)",
        ));
    }
    let source_access = services.access(tenant, &spec.source).await?;
    let target_access = services.access(tenant, &spec.target).await?;
    let source = Arc::new(KafkaAdmin::new(&source_access).map_err(admin_error("source"))?);
    let target = Arc::new(KafkaAdmin::new(&target_access).map_err(admin_error("target"))?);
    let (pairs, _) = select(topics.iter().map(String::as_str), &spec.topics);
    let target_of = pairs
        .into_iter()
        .map(|(s, t)| (s.to_owned(), t.to_owned()))
        .collect();
    Ok(Sides {
        source_access,
        target_access,
        source,
        target,
        target_of: Arc::new(target_of),
    })
}

type Commits = BTreeMap<String, Vec<GroupOffset>>;

/// 1. The groups in scope and their commits on the synced topics, and the groups whose
///    commits could not be read.
async fn source_commits(
    sides: &Sides,
    scope: &Scope,
) -> Result<(Commits, BTreeMap<String, String>), OffsetSyncError> {
    let listed = sides
        .source
        .list_groups(TIMEOUT)
        .await
        .map_err(admin_error("listing the source's consumer groups"))?;
    let wanted = listed
        .into_iter()
        .map(|g| g.group_id)
        .filter(|g| scope.groups.as_ref().is_none_or(|only| only.contains(g)));
    let read = bounded(wanted, |group| {
        let (source, target_of) = (Arc::clone(&sides.source), Arc::clone(&sides.target_of));
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
    let mut commits = BTreeMap::new();
    let mut failures = BTreeMap::new();
    for (group, offsets) in read {
        match offsets {
            Ok(offsets) if offsets.is_empty() => {}
            Ok(offsets) => {
                commits.insert(group, offsets);
            }
            Err(e) => {
                failures.insert(group, format!("reading its offsets on the source: {e}"));
            }
        }
    }
    Ok((commits, failures))
}

/// 2. Every commit translated, each partition's runs read from the store once.
async fn translate_all(
    services: &Services,
    task: &TaskRecord,
    sides: &Sides,
    commits: &Commits,
) -> Result<(Vec<GroupReport>, HashMap<PartitionRef, Vec<OffsetRun>>), OffsetSyncError> {
    let target_partitions = sides
        .target_access
        .topic_partitions(TIMEOUT)
        .await
        .map_err(access_error("target topics"))?;
    let mut runs: HashMap<PartitionRef, Vec<OffsetRun>> = HashMap::new();
    let mut reports = Vec::new();
    for (group, offsets) in commits {
        let mut partitions = Vec::new();
        for committed in offsets {
            let target_topic = sides.target_of[&committed.topic].clone();
            let partition = PartitionRef {
                topic: committed.topic.clone(),
                partition: committed.partition,
            };
            if !runs.contains_key(&partition) {
                let read = services
                    .store
                    .mappings(&task.id, &partition)
                    .await
                    .map_err(store_error("reading the offset map"))?;
                runs.insert(partition.clone(), read);
            }
            // Kafka refuses commits for partitions it does not have; metadata sync
            // creates them, a later run commits.
            let exists = target_partitions
                .get(&target_topic)
                .is_some_and(|n| (committed.partition as usize) < *n);
            let translation = translate(&runs[&partition], committed.offset).filter(|_| exists);
            partitions.push(PartitionReport {
                topic: committed.topic.clone(),
                partition: committed.partition,
                target_topic,
                source_committed: committed.offset,
                target_offset: translation.map(|t| t.target_offset),
                ahead_of_copy: translation.is_some_and(|t| t.ahead),
                committed: false,
            });
        }
        reports.push(GroupReport {
            group: group.clone(),
            status: GroupStatus::WaitingForData,
            active_on_target: false,
            reason: None,
            partitions,
        });
    }
    Ok((reports, runs))
}

/// 3. A translation past the target's end means the target partition is not the one
///    the map describes (deleted and created again): committing it would make a
///    consumer reset, perhaps to the end, so it is not translated. Returns those.
async fn drop_beyond_end(
    target: &ClusterAccess,
    reports: &mut [GroupReport],
) -> Result<BTreeSet<String>, OffsetSyncError> {
    let wanted: BTreeSet<PartitionRef> = reports
        .iter()
        .flat_map(|r| &r.partitions)
        .filter(|p| p.target_offset.is_some())
        .map(|p| PartitionRef {
            topic: p.target_topic.clone(),
            partition: p.partition,
        })
        .collect();
    let ends = target
        .watermarks(wanted.into_iter().collect(), TIMEOUT)
        .await
        .map_err(access_error("end offsets on the target"))?;
    let mut beyond = BTreeSet::new();
    for p in reports.iter_mut().flat_map(|r| r.partitions.iter_mut()) {
        let Some(offset) = p.target_offset else {
            continue;
        };
        let key = PartitionRef {
            topic: p.target_topic.clone(),
            partition: p.partition,
        };
        if ends.get(&key).is_none_or(|(_, end)| offset > *end) {
            beyond.insert(format!(
                "{}/{} (source {}/{})",
                p.target_topic, p.partition, p.topic, p.partition
            ));
            p.target_offset = None;
            p.ahead_of_copy = false;
        }
    }
    Ok(beyond)
}

/// 4. Live members on the target, per group with something to commit.
async fn live_members(
    target: &KafkaAdmin,
    reports: &[GroupReport],
) -> Result<HashMap<String, usize>, OffsetSyncError> {
    let to_describe: Vec<String> = reports
        .iter()
        .filter(|r| r.partitions.iter().any(|p| p.target_offset.is_some()))
        .map(|r| r.group.clone())
        .collect();
    let mut members = HashMap::new();
    for batch in to_describe.chunks(DESCRIBE_BATCH) {
        let described = target
            .describe_groups(batch, TIMEOUT)
            .await
            .map_err(admin_error("describing groups on the target"))?;
        members.extend(described.into_iter().map(|d| (d.group_id, d.members)));
    }
    Ok(members)
}

/// 5. Commits what moves forward, group by group (nothing in a dry run), and says what
///    happened to each.
async fn commit_all(
    target: &Arc<KafkaAdmin>,
    reports: &mut Vec<GroupReport>,
    members: &HashMap<String, usize>,
    dry_run: bool,
) {
    let done = bounded(std::mem::take(reports), |mut report| {
        let target = Arc::clone(target);
        let live = members.get(&report.group).copied().unwrap_or(0);
        async move {
            if report.partitions.iter().all(|p| p.target_offset.is_none()) {
                return report;
            }
            report.active_on_target = live > 0;
            if live > 0 {
                report.status = GroupStatus::ActiveOnTarget;
                report.reason = Some(format!("it has {live} active member(s) there"));
                return report;
            }
            // Synced only once every partition of it translates; until then the ones
            // that do are committed and it waits for the rest.
            let synced = if report.partitions.iter().all(|p| p.target_offset.is_some()) {
                GroupStatus::Synced
            } else {
                GroupStatus::WaitingForData
            };
            if dry_run {
                report.status = synced;
                return report;
            }
            match commit_forward(&target, &report.group, &mut report.partitions).await {
                Ok(()) => report.status = synced,
                Err(CommitError::Active(why)) => {
                    report.status = GroupStatus::ActiveOnTarget;
                    report.active_on_target = true;
                    report.reason = Some(why);
                }
                Err(CommitError::Failed(why)) => {
                    report.status = GroupStatus::Failed;
                    report.reason = Some(why);
                }
            }
            report
        }
    })
    .await;
    *reports = done;
}

enum CommitError {
    Active(String),
    Failed(String),
}

/// Commits the translations that are ahead of the group's current target offsets.
async fn commit_forward(
    target: &KafkaAdmin,
    group: &str,
    partitions: &mut [PartitionReport],
) -> Result<(), CommitError> {
    let current: HashMap<(String, i32), i64> = target
        .group_offsets(group, TIMEOUT)
        .await
        .map_err(|e| CommitError::Failed(format!("reading its offsets on the target: {e}")))?
        .into_iter()
        .map(|o| ((o.topic, o.partition), o.offset))
        .collect();
    let forward: Vec<usize> = (0..partitions.len())
        .filter(|i| {
            let p = &partitions[*i];
            p.target_offset.is_some_and(|offset| {
                current
                    .get(&(p.target_topic.clone(), p.partition))
                    .is_none_or(|now| offset > *now)
            })
        })
        .collect();
    if forward.is_empty() {
        return Ok(());
    }
    let offsets: Vec<GroupOffset> = forward
        .iter()
        .map(|i| {
            let p = &partitions[*i];
            GroupOffset {
                topic: p.target_topic.clone(),
                partition: p.partition,
                offset: p.target_offset.expect("filtered above"),
            }
        })
        .collect();
    match target.commit_group_offsets(group, &offsets, TIMEOUT).await {
        Ok(()) => {
            for i in forward {
                partitions[i].committed = true;
            }
            Ok(())
        }
        // A member joined since DescribeGroups.
        Err(AdminError::GroupActive { message, .. }) => Err(CommitError::Active(format!(
            "the target refused the commit: {message}"
        ))),
        Err(e) => Err(CommitError::Failed(format!(
            "committing on the target: {e}"
        ))),
    }
}

/// Every source partition of the synced topics that the target has too (only those are
/// copied by an instance task with `same_partition`).
async fn synced_partitions(
    sides: &Sides,
    topics: &BTreeSet<String>,
) -> Result<Vec<PartitionRef>, OffsetSyncError> {
    let counts = sides
        .source_access
        .topic_partitions(TIMEOUT)
        .await
        .map_err(access_error("source topics"))?;
    Ok(topics
        .iter()
        .filter(|t| sides.target_of.contains_key(*t))
        .flat_map(|t| {
            let count = counts.get(t).copied().unwrap_or(0);
            (0..count as i32).map(|partition| PartitionRef {
                topic: t.clone(),
                partition,
            })
        })
        .collect())
}

/// 6. Drops the runs no group needs: below every group's committed offset on the
///    partition, and below the source log start. A partition no group commits on is
///    pruned below its log start: its map would otherwise grow for as long as the task
///    copies it.
async fn prune(
    services: &Services,
    task: &TaskRecord,
    source: &ClusterAccess,
    commits: &Commits,
    mut runs: HashMap<PartitionRef, Vec<OffsetRun>>,
    partitions: Vec<PartitionRef>,
) -> Result<(), OffsetSyncError> {
    for p in partitions {
        if let std::collections::hash_map::Entry::Vacant(entry) = runs.entry(p) {
            let read = services
                .store
                .mappings(&task.id, entry.key())
                .await
                .map_err(store_error("reading the offset map"))?;
            entry.insert(read);
        }
    }
    // The newest run is always kept: only a partition with more has any to prune.
    runs.retain(|_, runs| runs.len() > 1);
    let mut floors: HashMap<PartitionRef, i64> = HashMap::new();
    for committed in commits.values().flatten() {
        let p = PartitionRef {
            topic: committed.topic.clone(),
            partition: committed.partition,
        };
        let floor = floors.entry(p).or_insert(i64::MAX);
        *floor = (*floor).min(committed.offset);
    }
    let starts = source
        .watermarks(runs.keys().cloned().collect(), TIMEOUT)
        .await
        .map_err(access_error("log starts on the source"))?;
    for (p, runs) in runs {
        let log_start = starts.get(&p).map_or(0, |(low, _)| *low);
        let floor = floors.get(&p).copied().unwrap_or(0).max(log_start);
        let gone = prunable(&runs, floor);
        if !gone.is_empty() {
            services
                .store
                .prune_runs(&task.id, &p, &gone)
                .await
                .map_err(store_error("pruning the offset map"))?;
        }
    }
    Ok(())
}

async fn report_beyond_end(services: &Services, task_id: &str, beyond_end: &BTreeSet<String>) {
    if beyond_end.is_empty() {
        return;
    }
    let shown: Vec<&str> = beyond_end.iter().take(10).map(String::as_str).collect();
    let text = format!(
        "did not commit {} target partition(s) whose translated offset is past their end (was the target topic deleted and created again?): {}{}",
        beyond_end.len(),
        shown.join(", "),
        if beyond_end.len() > shown.len() {
            ", ..."
        } else {
            ""
        }
    );
    event(services, task_id, Level::Warn, &text).await;
}

fn progress_of(reports: &[GroupReport]) -> OffsetProgress {
    let mut progress = OffsetProgress {
        last_sync_at: Some(Utc::now()),
        ..OffsetProgress::default()
    };
    for report in reports {
        match report.status {
            GroupStatus::Synced | GroupStatus::WaitingForData => {
                progress.groups += 1;
                progress.partitions_committed +=
                    report.partitions.iter().filter(|p| p.committed).count() as u64;
            }
            GroupStatus::ActiveOnTarget => progress.skipped_active.push(report.group.clone()),
            GroupStatus::Failed => {}
        }
        progress
            .statuses
            .insert(report.group.clone(), report.status);
    }
    progress
}
