//! One metadata-sync run of an instance task: read both clusters, plan with
//! [`crate::topic_metadata`], apply the plan through the admin API, and record what was
//! done as events and in the task's `progress.metadata`.

use chrono::{DateTime, Utc};
use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::kafka::{AccessError, ClusterAccess, ClusterTopics, TIMEOUT};
use crate::kafka_admin::{AdminError, KafkaAdmin};
use crate::lifecycle::TaskRecord;
use crate::services::{AccessLookupError, Services};
use crate::store::{Level, StoreError};
use crate::task::{InstanceTaskSpec, OnError, TaskSpec, TopicTaskSpec};
use crate::topic_metadata::{
    Action, SYNCED_CONFIGS, SourceTopic, TargetTopic, UNLIMITED_ONLY_CONFIGS, plan, select,
};

/// Topics per DescribeConfigs request.
const DESCRIBE_BATCH: usize = 200;
/// Topics per CreateTopics / CreatePartitions request.
const ADMIN_BATCH: usize = 50;

/// `progress.metadata` of a task.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataProgress {
    pub last_sync_at: Option<DateTime<Utc>>,
    pub topics_created: u64,
    pub partitions_added: u64,
    /// Source consumer groups with commits on the synced topics (none for a regex range).
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Why a metadata-sync run failed; recorded as the task's event and retried next run.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lookup(#[from] AccessLookupError),
    #[error(transparent)]
    Cluster(#[from] AccessError),
    /// A request of rdkafka's admin API failed as a whole.
    #[error("{context}: {source}")]
    Kafka {
        context: &'static str,
        /// Boxed, as in [`AccessError`]: a `KafkaError` is large.
        source: Box<KafkaError>,
    },
    /// The broker refused to describe one topic's configs.
    #[error("describe configs of {topic}: {code}")]
    DescribeConfigs {
        topic: String,
        code: RDKafkaErrorCode,
    },
    /// A request of [`KafkaAdmin`] (groups and their offsets) failed.
    #[error("{context}: {source}")]
    Admin { context: String, source: AdminError },
    #[error("source topic {0:?} does not exist")]
    NoSourceTopic(String),
}

fn kafka_error(context: &'static str) -> impl Fn(KafkaError) -> SyncError {
    move |source| SyncError::Kafka {
        context,
        source: Box::new(source),
    }
}

fn admin_error(context: impl Into<String>) -> impl FnOnce(AdminError) -> SyncError {
    move |source| SyncError::Admin {
        context: context.into(),
        source,
    }
}

/// One cluster's rdkafka admin client, for the operations rdkafka's safe API has.
struct Cluster {
    admin: AdminClient<DefaultClientContext>,
}

impl Cluster {
    fn new(access: &ClusterAccess) -> Result<Self, SyncError> {
        Ok(Self {
            admin: access
                .client_config()
                .create()
                .map_err(kafka_error("admin client"))?,
        })
    }

    /// The effective values of `names` for each topic.
    async fn configs(
        &self,
        topics: &[&str],
        names: &[&str],
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, SyncError> {
        let mut result = BTreeMap::new();
        for batch in topics.chunks(DESCRIBE_BATCH) {
            let resources: Vec<_> = batch.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
            let described = self
                .admin
                .describe_configs(
                    &resources,
                    &AdminOptions::new().request_timeout(Some(TIMEOUT)),
                )
                .await
                .map_err(kafka_error("describe configs"))?;
            for (topic, resource) in batch.iter().zip(described) {
                let resource = resource.map_err(|code| SyncError::DescribeConfigs {
                    topic: (*topic).to_owned(),
                    code,
                })?;
                let values = resource
                    .entries
                    .into_iter()
                    .filter(|e| names.contains(&e.name.as_str()))
                    .filter_map(|e| Some((e.name, e.value?)))
                    .collect();
                result.insert((*topic).to_owned(), values);
            }
        }
        Ok(result)
    }
}

/// Whether an instance task's source has a selected topic that metadata sync has not
/// initialized yet. One metadata request: cheap enough to ask at every tick, so a topic
/// created on the source is copied within seconds locally and within one dispatcher
/// period in Lambda (DESIGN §3), while the 3-minute schedule keeps partition growth and
/// the retention rule.
pub async fn has_new_topics(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
) -> Result<bool, SyncError> {
    if !matches!(task.spec, TaskSpec::Instance(_)) {
        return Ok(false);
    }
    let source = services
        .access(tenant, task.spec.connection_ids()[0])
        .await?;
    let routes = crate::topology::task_routes(&source, &task.spec).await?;
    let seen = services.store.seen_topics(&task.id).await?;
    Ok(routes.iter().any(|r| !seen.contains(&r.source.topic)))
}

/// Runs metadata sync for one task, recording events and progress: the full rules for
/// an instance task; for a topic task, its target (and dead-letter) topic is created
/// when missing, with the source topic's partition count.
pub async fn run(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
) -> Result<MetadataProgress, SyncError> {
    let outcome = match &task.spec {
        TaskSpec::Instance(spec) => sync(services, tenant, task, spec).await,
        TaskSpec::Topic(spec) => ensure_topic_task_topics(services, tenant, task, spec).await,
    };
    if let Err(e) = &outcome {
        event(
            services,
            &task.id,
            Level::Error,
            &format!("metadata sync failed: {e}"),
        )
        .await;
    }
    outcome
}

async fn event(services: &Services, task_id: &str, level: Level, message: &str) {
    if let Err(e) = services
        .store
        .add_event(task_id, level, "metadata", message)
        .await
    {
        tracing::warn!(task = task_id, error = %e, "could not record an event");
    }
}

/// Both clusters of a task, as this run found them.
struct Pair {
    source_access: ClusterAccess,
    target_access: ClusterAccess,
    source: Cluster,
    target: Cluster,
    source_topics: ClusterTopics,
    target_topics: ClusterTopics,
}

impl Pair {
    async fn read(services: &Services, tenant: &str, task: &TaskRecord) -> Result<Pair, SyncError> {
        let [source_id, target_id] = task.spec.connection_ids();
        let source_access = services.access(tenant, source_id).await?;
        let target_access = services.access(tenant, target_id).await?;
        let (source, target) = (Cluster::new(&source_access)?, Cluster::new(&target_access)?);
        let (source_topics, target_topics) =
            tokio::try_join!(source_access.topics(TIMEOUT), target_access.topics(TIMEOUT))?;
        Ok(Pair {
            source_access,
            target_access,
            source,
            target,
            source_topics,
            target_topics,
        })
    }
}

async fn sync(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
    spec: &InstanceTaskSpec,
) -> Result<MetadataProgress, SyncError> {
    let pair = Pair::read(services, tenant, task).await?;
    let (source_topics, target_topics) = (&pair.source_topics, &pair.target_topics);
    let seen = services.store.seen_topics(&task.id).await?;

    // Configs only of what the plan can use: all seven of the selected source topics,
    // and the retention pair of target topics that already exist.
    let (selected, _) = select(
        source_topics.topics.keys().map(String::as_str),
        &spec.topics,
    );
    let selected_sources: Vec<&str> = selected.iter().map(|(s, _)| *s).collect();
    let existing_targets: Vec<&str> = selected
        .iter()
        .filter(|(s, t)| seen.contains(*s) && target_topics.topics.contains_key(*t))
        .map(|(_, t)| *t)
        .collect();
    let (source_configs, target_configs) = tokio::try_join!(
        pair.source.configs(&selected_sources, &SYNCED_CONFIGS),
        pair.target
            .configs(&existing_targets, &UNLIMITED_ONLY_CONFIGS)
    )?;
    let sources: Vec<SourceTopic> = selected_sources
        .iter()
        .map(|name| {
            let shape = source_topics.topics[*name];
            SourceTopic {
                name: (*name).to_owned(),
                partitions: shape.partitions as i32,
                replication_factor: shape.replication_factor as i32,
                configs: source_configs.get(*name).cloned().unwrap_or_default(),
            }
        })
        .collect();
    let targets: BTreeMap<String, TargetTopic> = target_topics
        .topics
        .iter()
        .map(|(name, shape)| {
            let configs = target_configs.get(name).cloned().unwrap_or_default();
            (
                name.clone(),
                TargetTopic {
                    partitions: shape.partitions as i32,
                    configs,
                },
            )
        })
        .collect();
    let plan = plan(
        &sources,
        &targets,
        target_topics.brokers as i32,
        &spec.topics,
        &seen,
    );

    let mut progress = apply(services, &task.id, &pair, &plan.actions).await?;
    services.store.mark_seen(&task.id, &plan.newly_seen).await?;

    progress.groups = if spec.topics.is_all() {
        groups_on(
            &pair.source_access,
            &selected_sources.iter().copied().collect(),
        )
        .await?
    } else {
        Vec::new()
    };
    save_progress(services, &task.id, &mut progress).await?;
    Ok(progress)
}

/// Applies `actions` to the pair's target, recording each outcome as an event and in the
/// task's stored progress, which it returns (not yet saved).
async fn apply(
    services: &Services,
    task_id: &str,
    pair: &Pair,
    actions: &[Action],
) -> Result<MetadataProgress, SyncError> {
    let mut progress = load_progress(services, task_id).await?;
    create_topics(services, task_id, &pair.target, actions, &mut progress).await?;
    grow_partitions(services, task_id, &pair.target, actions, &mut progress).await?;
    set_unlimited(services, task_id, &pair.target_access, actions).await?;
    Ok(progress)
}

async fn create_topics(
    services: &Services,
    task_id: &str,
    target: &Cluster,
    actions: &[Action],
    progress: &mut MetadataProgress,
) -> Result<(), SyncError> {
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let creates: Vec<NewTopic> = actions
        .iter()
        .filter_map(|action| match action {
            Action::Create {
                target_topic,
                partitions,
                replication_factor,
                configs,
                ..
            } => Some(configs.iter().fold(
                NewTopic::new(
                    target_topic,
                    *partitions,
                    TopicReplication::Fixed(*replication_factor),
                ),
                |topic, (name, value)| topic.set(name, value),
            )),
            _ => None,
        })
        .collect();
    // A KRaft controller refuses one operation of too many records (PolicyViolation), so
    // topics are created a batch at a time.
    for batch in creates.chunks(ADMIN_BATCH) {
        let results = target
            .admin
            .create_topics(batch, &options)
            .await
            .map_err(kafka_error("create topics"))?;
        for result in results {
            match result {
                Ok(topic) => {
                    progress.topics_created += 1;
                    event(
                        services,
                        task_id,
                        Level::Info,
                        &format!("created target topic {topic:?}"),
                    )
                    .await;
                }
                // Another run created it first: nothing lost.
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    event(
                        services,
                        task_id,
                        Level::Error,
                        &format!("could not create target topic {topic:?}: {code}"),
                    )
                    .await;
                }
            }
        }
    }
    Ok(())
}

async fn grow_partitions(
    services: &Services,
    task_id: &str,
    target: &Cluster,
    actions: &[Action],
    progress: &mut MetadataProgress,
) -> Result<(), SyncError> {
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let grows: Vec<NewPartitions> = actions
        .iter()
        .filter_map(|action| match action {
            Action::GrowPartitions {
                target_topic, to, ..
            } => Some(NewPartitions::new(target_topic, *to as usize)),
            _ => None,
        })
        .collect();
    let grown: Vec<&Action> = actions
        .iter()
        .filter(|a| matches!(a, Action::GrowPartitions { .. }))
        .collect();
    for (batch, batch_actions) in grows.chunks(ADMIN_BATCH).zip(grown.chunks(ADMIN_BATCH)) {
        let results = target
            .admin
            .create_partitions(batch, &options)
            .await
            .map_err(kafka_error("create partitions"))?;
        for (result, action) in results.into_iter().zip(batch_actions.iter().copied()) {
            let Action::GrowPartitions {
                target_topic,
                from,
                to,
            } = action
            else {
                continue;
            };
            match result {
                Ok(_) => {
                    progress.partitions_added += (to - from) as u64;
                    event(
                        services,
                        task_id,
                        Level::Info,
                        &format!(
                            "grew target topic {target_topic:?} from {from} to {to} partitions"
                        ),
                    )
                    .await;
                }
                Err((_, code)) => {
                    event(services, task_id, Level::Error, &format!("could not grow target topic {target_topic:?} to {to} partitions: {code}")).await;
                }
            }
        }
    }
    Ok(())
}

/// Sets the retention configs the plan makes unlimited (-1) on the target, as on the
/// source, and records the skipped source topics.
async fn set_unlimited(
    services: &Services,
    task_id: &str,
    target_access: &ClusterAccess,
    actions: &[Action],
) -> Result<(), SyncError> {
    let mut unlimited: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for action in actions {
        match action {
            Action::SetUnlimited {
                target_topic,
                config,
            } => unlimited
                .entry(target_topic)
                .or_default()
                .push(((*config).to_owned(), "-1".to_owned())),
            Action::Skip {
                source_topic,
                reason,
            } => {
                event(
                    services,
                    task_id,
                    Level::Info,
                    &format!("skipped source topic {source_topic:?}: {reason}"),
                )
                .await;
            }
            _ => {}
        }
    }
    if !unlimited.is_empty() {
        let admin = KafkaAdmin::new(target_access).map_err(admin_error("admin client"))?;
        for (topic, configs) in unlimited {
            let names: Vec<&str> = configs.iter().map(|(n, _)| n.as_str()).collect();
            match admin.set_topic_configs(topic, &configs, TIMEOUT).await {
                Ok(()) => {
                    event(
                        services,
                        task_id,
                        Level::Info,
                        &format!(
                            "set {} to -1 (unlimited) on target topic {topic:?}, as on the source",
                            names.join(", ")
                        ),
                    )
                    .await
                }
                Err(e) => {
                    event(
                        services,
                        task_id,
                        Level::Error,
                        &format!(
                            "could not set {} on target topic {topic:?}: {e}",
                            names.join(", ")
                        ),
                    )
                    .await
                }
            }
        }
    }
    Ok(())
}

async fn ensure_topic_task_topics(
    services: &Services,
    tenant: &str,
    task: &TaskRecord,
    spec: &TopicTaskSpec,
) -> Result<MetadataProgress, SyncError> {
    let pair = Pair::read(services, tenant, task).await?;
    let (source_topics, target_topics) = (&pair.source_topics, &pair.target_topics);
    let Some(shape) = source_topics.topics.get(&spec.source_topic).copied() else {
        return Err(SyncError::NoSourceTopic(spec.source_topic.clone()));
    };
    let mut wanted = vec![spec.target_topic.as_str()];
    if let OnError::DeadLetter { topic } = &spec.on_error {
        wanted.push(topic);
    }
    let actions: Vec<Action> = wanted
        .into_iter()
        .filter(|topic| !target_topics.topics.contains_key(*topic))
        .map(|topic| Action::Create {
            source_topic: spec.source_topic.clone(),
            target_topic: topic.to_owned(),
            partitions: shape.partitions as i32,
            replication_factor: shape.replication_factor.min(target_topics.brokers).max(1) as i32,
            configs: BTreeMap::new(),
        })
        .collect();
    let mut progress = apply(services, &task.id, &pair, &actions).await?;
    save_progress(services, &task.id, &mut progress).await?;
    Ok(progress)
}

async fn load_progress(services: &Services, task_id: &str) -> Result<MetadataProgress, SyncError> {
    Ok(services
        .store
        .progress(task_id, "metadata")
        .await?
        .unwrap_or_default())
}

/// Stamps the run's time on the progress and stores it.
async fn save_progress(
    services: &Services,
    task_id: &str,
    progress: &mut MetadataProgress,
) -> Result<(), SyncError> {
    progress.last_sync_at = Some(Utc::now());
    Ok(services
        .store
        .put_progress(task_id, "metadata", progress)
        .await?)
}

/// The source groups with committed offsets on any of `topics`, sorted.
pub async fn groups_on(
    access: &ClusterAccess,
    topics: &BTreeSet<&str>,
) -> Result<Vec<String>, SyncError> {
    let admin = KafkaAdmin::new(access).map_err(admin_error("admin client"))?;
    let listed = admin
        .list_groups(TIMEOUT)
        .await
        .map_err(admin_error("list groups"))?;
    let mut groups = Vec::new();
    for group in listed {
        let offsets = admin
            .group_offsets(&group.group_id, TIMEOUT)
            .await
            .map_err(admin_error(format!(
                "offsets of group {:?}",
                group.group_id
            )))?;
        if offsets.iter().any(|o| topics.contains(o.topic.as_str())) {
            groups.push(group.group_id);
        }
    }
    groups.sort();
    Ok(groups)
}
