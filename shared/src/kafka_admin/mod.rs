//! The Kafka admin operations that consumer-group offset sync and metadata sync need but
//! rdkafka's safe API lacks, as a small safe wrapper over librdkafka's C admin API.
//!
//! rdkafka 0.39 only offers the legacy AlterConfigs, which REPLACES a topic's whole
//! dynamic configuration (every config not named reverts to its default). Setting
//! `retention.ms` on a target topic that way would silently drop its `cleanup.policy`,
//! `max.message.bytes`, ... so metadata sync uses IncrementalAlterConfigs (op SET) here.
//! Offset sync needs to list consumer groups, read a group's committed offsets, commit
//! offsets for a group it is not a member of, and see whether a group has live members;
//! rdkafka has none of these as admin operations.
//!
//! How it works: [`KafkaAdmin`] holds the process's librdkafka client for a cluster. Every
//! operation runs on a blocking thread (so async callers never block the runtime): it
//! creates a private result queue and admin options, submits the request, polls the queue
//! until the result event arrives or the timeout passes, copies everything it needs out
//! of the event into owned Rust values, and frees every C object it created (each one is
//! held by an RAII wrapper, `ffi::Owned`). Every error librdkafka or a broker reports, for the
//! whole request, a resource, a group or a single partition, becomes an [`AdminError`].

mod ffi;
mod ops;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::kafka::ClusterAccess;
use crate::shared_clients::SharedClients;
use ffi::NativeClient;
use ops::{
    commit_group_offsets, describe_groups, group_offsets, list_groups, set_topic_configs, topic_ids,
};

/// One consumer group, as the cluster lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// librdkafka's name of the group state: `Stable`, `Empty`, `PreparingRebalance`,
    /// `CompletingRebalance`, `Dead` or `Unknown`. librdkafka knows no other names: the
    /// `Assigning` and `Reconciling` states of a KIP-848 (`group.protocol=consumer`)
    /// group come out as `Unknown`.
    pub state: String,
    /// A group that only commits offsets (no group protocol, no members ever joined).
    pub is_simple: bool,
}

/// The committed offset of a group on one partition: the next record the group reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// What a consumer group is doing right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// Same names as [`GroupListing::state`]; a group the cluster does not know is `Dead`.
    pub state: String,
    /// Members currently in the group: the test for "active" (any state but `Empty` and
    /// `Dead` may have members, including `Unknown`).
    pub members: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// librdkafka or a broker refused the request (or part of it).
    #[error("{name} ({code}): {message}")]
    Kafka {
        /// The Kafka protocol error code (negative for librdkafka's own errors).
        code: i32,
        /// Its librdkafka name, e.g. `UNKNOWN_TOPIC_OR_PART`, `INVALID_CONFIG`.
        name: String,
        /// What failed (topic, group, partition) and the broker's message.
        message: String,
    },
    /// The broker refused to commit offsets because the group has active members.
    #[error("consumer group {group} has active members: {message}")]
    GroupActive { group: String, message: String },
    /// No answer within the timeout.
    #[error("the Kafka admin request timed out")]
    Timeout,
    /// The blocking thread that ran the request panicked or was cancelled.
    #[error("admin task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// librdkafka could not build the request or its answer was not what the API
    /// promises (a NUL byte in a name, a missing result object, ...).
    #[error("{0}")]
    Other(String),
}

/// Kafka admin operations over the process's librdkafka client for one cluster: consumer
/// groups, topic configs and topic ids (named for all three, not only groups). Cheap to
/// share: clone the `Arc` it is in, or call it from many tasks at once (each call has its
/// own queue).
pub struct KafkaAdmin {
    client: Arc<NativeClient>,
}

impl std::fmt::Debug for KafkaAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAdmin").finish_non_exhaustive()
    }
}

impl KafkaAdmin {
    /// Admin operations on that cluster, through the process's admin client for it
    /// ([`SharedClients`]). A new client connects in the background; nothing is sent
    /// until the first operation.
    pub fn new(access: &ClusterAccess) -> Result<Self, AdminError> {
        Ok(Self {
            client: ADMIN_CLIENTS.get(access, |_| true, || NativeClient::new(access))?,
        })
    }

    /// Sets (op SET) only the given configs of a topic, leaving all others as they are.
    pub async fn set_topic_configs(
        &self,
        topic: &str,
        configs: &[(String, String)],
        timeout: Duration,
    ) -> Result<(), AdminError> {
        if configs.is_empty() {
            return Ok(());
        }
        let (topic, configs) = (topic.to_owned(), configs.to_vec());
        self.blocking(move |client| set_topic_configs(client, &topic, &configs, timeout))
            .await
    }

    /// Every consumer group of the cluster. Fails when any broker could not answer, so a
    /// result is never silently incomplete.
    pub async fn list_groups(&self, timeout: Duration) -> Result<Vec<GroupListing>, AdminError> {
        self.blocking(move |client| retrying(timeout, |left| list_groups(client, left)))
            .await
    }

    /// Committed offsets of every partition the group has committed
    /// (ListConsumerGroupOffsets with no partition list = all). A group with no commits,
    /// or that the cluster does not know, has none.
    pub async fn group_offsets(
        &self,
        group: &str,
        timeout: Duration,
    ) -> Result<Vec<GroupOffset>, AdminError> {
        let group = group.to_owned();
        self.blocking(move |client| retrying(timeout, |left| group_offsets(client, &group, left)))
            .await
    }

    /// Commits offsets for a group. The group must have no active members: otherwise the
    /// broker refuses and this returns [`AdminError::GroupActive`]. Any partition the
    /// broker refuses fails the call (the others may have been committed).
    pub async fn commit_group_offsets(
        &self,
        group: &str,
        offsets: &[GroupOffset],
        timeout: Duration,
    ) -> Result<(), AdminError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let (group, offsets) = (group.to_owned(), offsets.to_vec());
        // Committing the same offsets again is harmless, so a retry is too.
        self.blocking(move |client| {
            retrying(timeout, |left| {
                commit_group_offsets(client, &group, &offsets, left)
            })
        })
        .await
    }

    /// Member count and state of groups (DescribeConsumerGroups), in the order asked.
    /// The group ids must be distinct.
    pub async fn describe_groups(
        &self,
        groups: &[String],
        timeout: Duration,
    ) -> Result<Vec<GroupDescription>, AdminError> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let groups = groups.to_vec();
        self.blocking(move |client| {
            retrying(timeout, |left| describe_groups(client, &groups, left))
        })
        .await
    }

    /// Each existing topic's id (DescribeTopics), base64 as Kafka's tools print it; a
    /// topic deleted and created again under the same name has a new one.
    pub async fn topic_ids(
        &self,
        topics: &[String],
        timeout: Duration,
    ) -> Result<BTreeMap<String, String>, AdminError> {
        if topics.is_empty() {
            return Ok(BTreeMap::new());
        }
        let topics = topics.to_vec();
        self.blocking(move |client| topic_ids(client, &topics, timeout))
            .await
    }

    /// Runs one admin operation on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce(&NativeClient) -> Result<T, AdminError> + Send + 'static,
    ) -> Result<T, AdminError> {
        let client = Arc::clone(&self.client);
        let answer = tokio::task::spawn_blocking(move || job(&client))
            .await
            .unwrap_or_else(|join| Err(join.into()));
        if matches!(
            answer,
            Err(AdminError::Timeout | AdminError::Kafka { code: ..0, .. })
        ) {
            // The cluster did not answer (librdkafka's own errors are negative): the next
            // user gets a new client, and one for a cluster that is gone is let go.
            ADMIN_CLIENTS.forget(&self.client);
        }
        answer
    }
}

/// Every admin operation of the process on one cluster goes through one client.
static ADMIN_CLIENTS: SharedClients<NativeClient> = SharedClients::new();

/// Kafka error codes this module tells apart.
const COORDINATOR_LOAD_IN_PROGRESS: i32 = 14;
const COORDINATOR_NOT_AVAILABLE: i32 = 15;
const NOT_COORDINATOR: i32 = 16;
const UNKNOWN_MEMBER_ID: i32 = 25;
const REBALANCE_IN_PROGRESS: i32 = 27;
const GROUP_ID_NOT_FOUND: i32 = 69;

/// Pause between attempts of an operation the group coordinator was not ready for.
const RETRY_BACKOFF: Duration = Duration::from_millis(250);

/// Runs a group operation again while the group coordinator is not ready, within the
/// timeout. librdkafka retries such errors of a whole request, but not when the broker
/// reports them per group or per partition, which Kafka 4 does right after the cluster's
/// first group use creates `__consumer_offsets` (its coordinators are still loading).
fn retrying<T>(
    timeout: Duration,
    mut attempt: impl FnMut(Duration) -> Result<T, AdminError>,
) -> Result<T, AdminError> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match attempt(left) {
            Err(AdminError::Kafka { code, .. })
                if matches!(
                    code,
                    COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR
                ) && deadline.saturating_duration_since(Instant::now()) > RETRY_BACKOFF * 2 =>
            {
                tracing::debug!(code, "group coordinator not ready, retrying");
                std::thread::sleep(RETRY_BACKOFF);
            }
            outcome => return outcome,
        }
    }
}

/// An admin commit carries no member id, so the coordinator refuses it for a group with
/// members: UNKNOWN_MEMBER_ID (members joined), or REBALANCE_IN_PROGRESS (joining).
fn group_active_or(error: AdminError, group: &str) -> AdminError {
    match error {
        AdminError::Kafka { code, message, .. }
            if code == UNKNOWN_MEMBER_ID || code == REBALANCE_IN_PROGRESS =>
        {
            AdminError::GroupActive {
                group: group.to_owned(),
                message,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::ffi::kafka_error;
    use super::*;

    #[test]
    fn refused_admin_commits_of_a_live_group_are_group_active() {
        let refused = kafka_error(UNKNOWN_MEMBER_ID, Some("m".into()), "group g");
        assert!(matches!(
            group_active_or(refused, "g"),
            AdminError::GroupActive { group, .. } if group == "g"
        ));
        let other = kafka_error(3, None, "group g");
        assert!(matches!(
            group_active_or(other, "g"),
            AdminError::Kafka { .. }
        ));
    }

    #[test]
    fn coordinator_errors_are_retried_within_the_timeout() {
        let mut calls = 0;
        let outcome = retrying(Duration::from_secs(5), |_| {
            calls += 1;
            if calls < 3 {
                Err(kafka_error(NOT_COORDINATOR, None, "group g"))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(outcome.unwrap(), 3);

        let mut calls = 0;
        let outcome: Result<(), _> = retrying(Duration::from_secs(5), |_| {
            calls += 1;
            Err(kafka_error(UNKNOWN_MEMBER_ID, None, "group g"))
        });
        assert!(matches!(
            outcome,
            Err(AdminError::Kafka {
                code: UNKNOWN_MEMBER_ID,
                ..
            })
        ));
        assert_eq!(calls, 1, "other errors are final");

        let started = Instant::now();
        let outcome: Result<(), _> = retrying(Duration::from_millis(800), |_| {
            Err(kafka_error(COORDINATOR_LOAD_IN_PROGRESS, None, "group g"))
        });
        assert!(
            matches!(
                outcome,
                Err(AdminError::Kafka {
                    code: COORDINATOR_LOAD_IN_PROGRESS,
                    ..
                })
            ),
            "the last error is reported, not a bare timeout"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_client_is_created_and_freed_without_a_broker() {
        let admin = KafkaAdmin::new(&ClusterAccess::plaintext("127.0.0.1:1")).unwrap();
        drop(admin);
    }
}
