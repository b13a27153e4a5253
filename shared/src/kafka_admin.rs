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
//! How it works: [`GroupAdmin`] owns one dedicated librdkafka client handle. Every
//! operation runs on a blocking thread (so async callers never block the runtime): it
//! creates a private result queue and admin options, submits the request, polls the queue
//! until the result event arrives or the timeout passes, copies everything it needs out
//! of the event into owned Rust values, and frees every C object it created (each one is
//! held by an RAII [`Owned`] wrapper). Every error librdkafka or a broker reports, for the
//! whole request, a resource, a group or a single partition, becomes an [`AdminError`].

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char, c_int};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka_sys as sys;
use sys::rd_kafka_admin_op_t as AdminOp;

use crate::kafka::ClusterAccess;

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
    #[error("{0}")]
    Other(String),
}

/// Kafka admin operations over one dedicated librdkafka client. Cheap to share: clone
/// the `Arc` it is in, or call it from many tasks at once (each call has its own queue).
pub struct GroupAdmin {
    client: Arc<NativeClient>,
}

impl std::fmt::Debug for GroupAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupAdmin").finish_non_exhaustive()
    }
}

impl GroupAdmin {
    /// A client for that cluster. It connects in the background; nothing is sent until
    /// the first operation.
    pub fn new(access: &ClusterAccess) -> Result<Self, AdminError> {
        Ok(Self {
            client: Arc::new(NativeClient::new(access)?),
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
        tokio::task::spawn_blocking(move || job(&client))
            .await
            .unwrap_or_else(|join| Err(AdminError::Other(format!("admin task failed: {join}"))))
    }
}

// ---------------------------------------------------------------------------------------
// The operations, each on a blocking thread.
// ---------------------------------------------------------------------------------------

fn set_topic_configs(
    client: &NativeClient,
    topic: &str,
    configs: &[(String, String)],
    timeout: Duration,
) -> Result<(), AdminError> {
    let topic_c = c_string(topic, "topic name")?;
    // SAFETY: `topic_c` is a valid C string; librdkafka copies it. The new resource is
    // ours and is destroyed with rd_kafka_ConfigResource_destroy.
    let resource = unsafe {
        Owned::new(
            sys::rd_kafka_ConfigResource_new(
                sys::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
                topic_c.as_ptr(),
            ),
            sys::rd_kafka_ConfigResource_destroy,
        )
    }?;
    for (name, value) in configs {
        let name_c = c_string(name, "config name")?;
        let value_c = c_string(value, "config value")?;
        // SAFETY: `resource` is alive and the strings are valid C strings, which
        // librdkafka copies. The returned error, if any, is ours (wrapped right below).
        let error = unsafe {
            sys::rd_kafka_ConfigResource_add_incremental_config(
                resource.as_ptr(),
                name_c.as_ptr(),
                sys::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
                value_c.as_ptr(),
            )
        };
        if !error.is_null() {
            // SAFETY: a non-null error returned to us is ours to destroy.
            let error = unsafe { Owned::new(error, sys::rd_kafka_error_destroy) }?;
            let context = format!("topic {topic}, config {name}");
            // SAFETY: `error` is alive while it is read.
            return Err(unsafe { error_object(error.as_ptr(), &context) });
        }
    }
    let event = run(
        client,
        AdminOp::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
        sys::RD_KAFKA_EVENT_INCREMENTALALTERCONFIGS_RESULT,
        timeout,
        &format!("setting configs of topic {topic}"),
        |rk, options, queue| {
            let mut resources = [resource.as_ptr()];
            // SAFETY: all handles are alive for the call; librdkafka copies the resource
            // array and each resource, so they may be freed once this returns.
            unsafe {
                sys::rd_kafka_IncrementalAlterConfigs(
                    rk,
                    resources.as_mut_ptr(),
                    resources.len(),
                    options,
                    queue,
                )
            }
        },
    )?;
    // SAFETY: `event` is an IncrementalAlterConfigs result (run checked its type).
    let result = unsafe { sys::rd_kafka_event_IncrementalAlterConfigs_result(event.as_ptr()) };
    let result = non_null(result, "IncrementalAlterConfigs result")?;
    let mut count = 0;
    // SAFETY: `result` lives as long as `event`; `count` receives the array length.
    let resources = unsafe {
        let array = sys::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count);
        borrow_array(&event, array, count)
    };
    if resources.is_empty() {
        return Err(AdminError::Other(format!(
            "setting configs of topic {topic}: the result names no resource"
        )));
    }
    for &resource in resources {
        // SAFETY: each element is a resource result owned by `event`, which is alive.
        let (code, message) = unsafe {
            (
                config_resource_error_code(resource),
                c_str(sys::rd_kafka_ConfigResource_error_string(resource)),
            )
        };
        if code != 0 {
            return Err(kafka_error(code, message, &format!("topic {topic}")));
        }
    }
    Ok(())
}

fn list_groups(client: &NativeClient, timeout: Duration) -> Result<Vec<GroupListing>, AdminError> {
    let event = run(
        client,
        AdminOp::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS,
        sys::RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT,
        timeout,
        "listing consumer groups",
        // SAFETY: all handles are alive for the call.
        |rk, options, queue| unsafe { sys::rd_kafka_ListConsumerGroups(rk, options, queue) },
    )?;
    // SAFETY: `event` is a ListConsumerGroups result (run checked its type).
    let result = unsafe { sys::rd_kafka_event_ListConsumerGroups_result(event.as_ptr()) };
    let result = non_null(result, "ListConsumerGroups result")?;

    let mut error_count = 0;
    // SAFETY: `result` lives as long as `event`; `error_count` receives the length.
    let errors = unsafe {
        let array = sys::rd_kafka_ListConsumerGroups_result_errors(result, &mut error_count);
        borrow_array(&event, array, error_count)
    };
    if let Some(&first) = errors.first() {
        // A broker that did not answer: its groups are missing from the listing.
        // SAFETY: the error is owned by `event`, which is alive.
        return Err(unsafe {
            error_object(
                first,
                "listing consumer groups (a broker failed, the list would be incomplete)",
            )
        });
    }

    let mut count = 0;
    // SAFETY: as above.
    let listings = unsafe {
        let array = sys::rd_kafka_ListConsumerGroups_result_valid(result, &mut count);
        borrow_array(&event, array, count)
    };
    listings
        .iter()
        .map(|&listing| {
            // SAFETY: each listing is owned by `event`, which is alive; the state comes
            // from librdkafka's own enum, and its name is a static string.
            unsafe {
                Ok(GroupListing {
                    group_id: c_str(sys::rd_kafka_ConsumerGroupListing_group_id(listing))
                        .ok_or_else(|| AdminError::Other("a listed group has no id".into()))?,
                    state: state_name(sys::rd_kafka_ConsumerGroupListing_state(listing)),
                    is_simple: sys::rd_kafka_ConsumerGroupListing_is_simple_consumer_group(listing)
                        != 0,
                })
            }
        })
        .collect()
}

fn group_offsets(
    client: &NativeClient,
    group: &str,
    timeout: Duration,
) -> Result<Vec<GroupOffset>, AdminError> {
    let group_c = c_string(group, "group id")?;
    // SAFETY: `group_c` is a valid C string (copied); a null partition list asks for all
    // committed partitions. The request object is ours, destroyed with its destructor.
    let request = unsafe {
        Owned::new(
            sys::rd_kafka_ListConsumerGroupOffsets_new(group_c.as_ptr(), std::ptr::null()),
            sys::rd_kafka_ListConsumerGroupOffsets_destroy,
        )
    }?;
    let event = run(
        client,
        AdminOp::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
        sys::RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT,
        timeout,
        &format!("reading the offsets of group {group}"),
        |rk, options, queue| {
            let mut requests = [request.as_ptr()];
            // SAFETY: all handles are alive for the call; librdkafka copies the request.
            unsafe {
                sys::rd_kafka_ListConsumerGroupOffsets(
                    rk,
                    requests.as_mut_ptr(),
                    requests.len(),
                    options,
                    queue,
                )
            }
        },
    )?;
    // SAFETY: `event` is a ListConsumerGroupOffsets result (run checked its type).
    let result = unsafe { sys::rd_kafka_event_ListConsumerGroupOffsets_result(event.as_ptr()) };
    let result = non_null(result, "ListConsumerGroupOffsets result")?;
    let mut count = 0;
    // SAFETY: `result` lives as long as `event`; `count` receives the array length.
    let groups = unsafe {
        let array = sys::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count);
        borrow_array(&event, array, count)
    };
    let mut offsets = Vec::new();
    for &group_result in groups {
        // SAFETY: the group result is owned by `event`, which is alive.
        let partitions = unsafe { group_result_partitions(group_result, group) }?;
        for partition in partitions {
            // Only committed partitions come back; a negative offset means "none".
            if partition.offset >= 0 {
                offsets.push(partition);
            }
        }
    }
    offsets.sort();
    Ok(offsets)
}

fn commit_group_offsets(
    client: &NativeClient,
    group: &str,
    offsets: &[GroupOffset],
    timeout: Duration,
) -> Result<(), AdminError> {
    if let Some(bad) = offsets.iter().find(|o| o.offset < 0) {
        return Err(AdminError::Other(format!(
            "cannot commit offset {} for {}/{} of group {group}: offsets must be >= 0",
            bad.offset, bad.topic, bad.partition
        )));
    }
    let group_c = c_string(group, "group id")?;
    let size = c_int::try_from(offsets.len())
        .map_err(|_| AdminError::Other("too many offsets in one commit".into()))?;
    // SAFETY: a fresh, empty list that is ours; destroyed with its destructor.
    let list = unsafe {
        Owned::new(
            sys::rd_kafka_topic_partition_list_new(size),
            sys::rd_kafka_topic_partition_list_destroy,
        )
    }?;
    for offset in offsets {
        let topic_c = c_string(&offset.topic, "topic name")?;
        // SAFETY: `list` is alive and `topic_c` valid (librdkafka copies it). The returned
        // element points into `list`, which outlives this statement's use of it.
        unsafe {
            let element = sys::rd_kafka_topic_partition_list_add(
                list.as_ptr(),
                topic_c.as_ptr(),
                offset.partition,
            );
            if element.is_null() {
                return Err(AdminError::Other(
                    "librdkafka could not grow a partition list".into(),
                ));
            }
            (*element).offset = offset.offset;
        }
    }
    // SAFETY: `group_c` and `list` are valid; librdkafka copies both into the request,
    // which is ours and destroyed with its destructor.
    let request = unsafe {
        Owned::new(
            sys::rd_kafka_AlterConsumerGroupOffsets_new(group_c.as_ptr(), list.as_ptr()),
            sys::rd_kafka_AlterConsumerGroupOffsets_destroy,
        )
    }?;
    let event = run(
        client,
        AdminOp::RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS,
        sys::RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT,
        timeout,
        &format!("committing offsets of group {group}"),
        |rk, options, queue| {
            let mut requests = [request.as_ptr()];
            // SAFETY: all handles are alive for the call; librdkafka copies the request.
            unsafe {
                sys::rd_kafka_AlterConsumerGroupOffsets(
                    rk,
                    requests.as_mut_ptr(),
                    requests.len(),
                    options,
                    queue,
                )
            }
        },
    )
    .map_err(|e| group_active_or(e, group))?;
    // SAFETY: `event` is an AlterConsumerGroupOffsets result (run checked its type).
    let result = unsafe { sys::rd_kafka_event_AlterConsumerGroupOffsets_result(event.as_ptr()) };
    let result = non_null(result, "AlterConsumerGroupOffsets result")?;
    let mut count = 0;
    // SAFETY: `result` lives as long as `event`; `count` receives the array length.
    let groups = unsafe {
        let array = sys::rd_kafka_AlterConsumerGroupOffsets_result_groups(result, &mut count);
        borrow_array(&event, array, count)
    };
    if groups.is_empty() {
        return Err(AdminError::Other(format!(
            "committing offsets of group {group}: the result names no group"
        )));
    }
    for &group_result in groups {
        // SAFETY: the group result is owned by `event`, which is alive.
        unsafe { group_result_partitions(group_result, group) }
            .map_err(|e| group_active_or(e, group))?;
    }
    Ok(())
}

fn describe_groups(
    client: &NativeClient,
    groups: &[String],
    timeout: Duration,
) -> Result<Vec<GroupDescription>, AdminError> {
    let names = groups
        .iter()
        .map(|g| c_string(g, "group id"))
        .collect::<Result<Vec<_>, _>>()?;
    let event = run(
        client,
        AdminOp::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
        sys::RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT,
        timeout,
        "describing consumer groups",
        |rk, options, queue| {
            let mut pointers: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
            // SAFETY: all handles and the strings in `names` are alive for the call;
            // librdkafka copies the group ids.
            unsafe {
                sys::rd_kafka_DescribeConsumerGroups(
                    rk,
                    pointers.as_mut_ptr(),
                    pointers.len(),
                    options,
                    queue,
                )
            }
        },
    )?;
    // SAFETY: `event` is a DescribeConsumerGroups result (run checked its type).
    let result = unsafe { sys::rd_kafka_event_DescribeConsumerGroups_result(event.as_ptr()) };
    let result = non_null(result, "DescribeConsumerGroups result")?;
    let mut count = 0;
    // SAFETY: `result` lives as long as `event`; `count` receives the array length.
    let descriptions = unsafe {
        let array = sys::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count);
        borrow_array(&event, array, count)
    };
    let mut out = Vec::with_capacity(descriptions.len());
    for &description in descriptions {
        // SAFETY: each description is owned by `event`, which is alive; so are the
        // strings and the error it hands out.
        unsafe {
            let group_id = c_str(sys::rd_kafka_ConsumerGroupDescription_group_id(description))
                .ok_or_else(|| AdminError::Other("a described group has no id".into()))?;
            let error = sys::rd_kafka_ConsumerGroupDescription_error(description);
            if !error.is_null() {
                let error = error_object(error, &format!("group {group_id}"));
                match error {
                    // A group the cluster does not know. librdkafka 2.12 turns Kafka 4's
                    // GROUP_ID_NOT_FOUND into a classic DescribeGroups, which says `Dead`;
                    // should the error come through anyway, it means the same.
                    AdminError::Kafka { code, .. } if code == GROUP_ID_NOT_FOUND => {
                        out.push(GroupDescription {
                            group_id,
                            state: "Dead".into(),
                            members: 0,
                        });
                        continue;
                    }
                    error => return Err(error),
                }
            }
            out.push(GroupDescription {
                state: state_name(sys::rd_kafka_ConsumerGroupDescription_state(description)),
                members: sys::rd_kafka_ConsumerGroupDescription_member_count(description),
                group_id,
            });
        }
    }
    Ok(out)
}

fn topic_ids(
    client: &NativeClient,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, String>, AdminError> {
    let names = topics
        .iter()
        .map(|t| c_string(t, "topic"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut pointers: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    // SAFETY: the strings are alive for the call; librdkafka copies them.
    let collection = unsafe {
        Owned::new(
            sys::rd_kafka_TopicCollection_of_topic_names(pointers.as_mut_ptr(), pointers.len()),
            sys::rd_kafka_TopicCollection_destroy,
        )
    }?;
    let event = run(
        client,
        AdminOp::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
        sys::RD_KAFKA_EVENT_DESCRIBETOPICS_RESULT,
        timeout,
        "describing topics",
        // SAFETY: all handles and the collection are alive for the call.
        |rk, options, queue| unsafe {
            sys::rd_kafka_DescribeTopics(rk, collection.as_ptr(), options, queue)
        },
    )?;
    // SAFETY: `event` is a DescribeTopics result (run checked its type).
    let result = unsafe { sys::rd_kafka_event_DescribeTopics_result(event.as_ptr()) };
    let result = non_null(result, "DescribeTopics result")?;
    let mut count = 0;
    // SAFETY: `result` lives as long as `event`; `count` receives the array length.
    let descriptions = unsafe {
        let array = sys::rd_kafka_DescribeTopics_result_topics(result, &mut count);
        borrow_array(&event, array, count)
    };
    let mut ids = BTreeMap::new();
    for &description in descriptions {
        // SAFETY: each description, its strings and its id are owned by `event`.
        unsafe {
            // A topic that is gone, or not allowed, has no id to compare.
            if !sys::rd_kafka_TopicDescription_error(description).is_null() {
                continue;
            }
            let (Some(name), Some(id)) = (
                c_str(sys::rd_kafka_TopicDescription_name(description)),
                c_str(sys::rd_kafka_Uuid_base64str(
                    sys::rd_kafka_TopicDescription_topic_id(description),
                )),
            ) else {
                continue;
            };
            ids.insert(name, id);
        }
    }
    Ok(ids)
}

// ---------------------------------------------------------------------------------------
// Requests and results.
// ---------------------------------------------------------------------------------------

/// Kafka error codes this module tells apart.
const COORDINATOR_LOAD_IN_PROGRESS: i32 = 14;
const COORDINATOR_NOT_AVAILABLE: i32 = 15;
const NOT_COORDINATOR: i32 = 16;
const UNKNOWN_MEMBER_ID: i32 = 25;
const REBALANCE_IN_PROGRESS: i32 = 27;
const GROUP_ID_NOT_FOUND: i32 = 69;
/// librdkafka's own "timed out" code.
const TIMED_OUT: i32 = -185;

/// Extra time to wait for librdkafka's own timeout result (it runs the request with the
/// same timeout), so a slow answer is reported as librdkafka saw it.
const POLL_GRACE: Duration = Duration::from_secs(1);

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

/// Submits one admin request on a private queue and waits for its result event, which
/// is returned only when neither librdkafka nor the broker reported a request-level error.
fn run(
    client: &NativeClient,
    op: AdminOp,
    result_type: c_int,
    timeout: Duration,
    what: &str,
    submit: impl FnOnce(
        *mut sys::rd_kafka_t,
        *const sys::rd_kafka_AdminOptions_t,
        *mut sys::rd_kafka_queue_t,
    ),
) -> Result<Owned<sys::rd_kafka_event_t>, AdminError> {
    let rk = client.handle.as_ptr();
    // SAFETY: `rk` is alive as long as `client`. The queue is ours; destroying it while a
    // late result is still on its way is safe (librdkafka reference-counts queues).
    let queue = unsafe { Owned::new(sys::rd_kafka_queue_new(rk), sys::rd_kafka_queue_destroy) }?;
    // SAFETY: `rk` is alive and `op` a valid operation. The options are ours.
    let options = unsafe {
        Owned::new(
            sys::rd_kafka_AdminOptions_new(rk, op),
            sys::rd_kafka_AdminOptions_destroy,
        )
    }?;
    // librdkafka accepts 0..=1 hour.
    let timeout = timeout.min(Duration::from_secs(3600));
    let timeout_ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
    let mut errstr = [0 as c_char; 512];
    // SAFETY: `options` is alive; `errstr` is a writable buffer of the given length.
    let code = unsafe {
        sys::rd_kafka_AdminOptions_set_request_timeout(
            options.as_ptr(),
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if code != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka wrote a NUL-terminated message into `errstr` (or left it
        // zeroed, an empty string); the buffer is alive.
        let message = unsafe { c_str(errstr.as_ptr()) }.unwrap_or_default();
        return Err(AdminError::Other(format!(
            "{what}: invalid timeout: {message}"
        )));
    }

    submit(rk, options.as_ptr(), queue.as_ptr());

    let deadline = Instant::now() + timeout + POLL_GRACE;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(AdminError::Timeout);
        }
        let wait_ms = c_int::try_from(remaining.as_millis().max(1)).unwrap_or(c_int::MAX);
        // SAFETY: the queue is alive. A returned event is ours (wrapped right below).
        let event = unsafe { sys::rd_kafka_queue_poll(queue.as_ptr(), wait_ms) };
        let Some(event) = NonNull::new(event) else {
            continue; // nothing yet: the loop re-checks the deadline
        };
        // SAFETY: a non-null event from rd_kafka_queue_poll is ours to destroy.
        let event = unsafe { Owned::from_non_null(event, sys::rd_kafka_event_destroy) };
        // SAFETY: the event is alive.
        if unsafe { sys::rd_kafka_event_type(event.as_ptr()) } != result_type {
            continue; // not ours (the queue is private, so this should not happen)
        }
        // SAFETY: the event is alive; its error string lives as long as it.
        let (code, message) = unsafe {
            (
                event_error_code(event.as_ptr()),
                c_str(sys::rd_kafka_event_error_string(event.as_ptr())),
            )
        };
        if code != 0 {
            return Err(kafka_error(code, message, what));
        }
        return Ok(event);
    }
}

/// The partitions of a group result, failing on the group's error or any partition's.
///
/// # Safety
/// `group_result` must point to a group result owned by a live event.
unsafe fn group_result_partitions(
    group_result: *const sys::rd_kafka_group_result_t,
    group: &str,
) -> Result<Vec<GroupOffset>, AdminError> {
    // SAFETY: the caller guarantees the group result is alive; so are the error and the
    // partition list it hands out, whose `elems` holds `cnt` initialized elements.
    unsafe {
        let error = sys::rd_kafka_group_result_error(group_result);
        if !error.is_null() {
            return Err(error_object(error, &format!("group {group}")));
        }
        let list = sys::rd_kafka_group_result_partitions(group_result);
        if list.is_null() {
            return Ok(Vec::new());
        }
        let count = usize::try_from((*list).cnt).unwrap_or(0);
        let elements = (*list).elems;
        if count == 0 || elements.is_null() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(count);
        for index in 0..count {
            // Fields are read through the raw pointer, never through a reference to the
            // element: its `err` field is typed as a Rust enum the code may not fit.
            let element = elements.add(index);
            let topic = c_str((*element).topic)
                .ok_or_else(|| AdminError::Other("a result partition has no topic".into()))?;
            let partition = (*element).partition;
            // Read `err` as the plain C int it is (see `event_error_code`).
            let code = std::ptr::addr_of!((*element).err).cast::<c_int>().read();
            if code != 0 {
                return Err(kafka_error(
                    code,
                    None,
                    &format!("group {group}, partition {topic}/{partition}"),
                ));
            }
            out.push(GroupOffset {
                topic,
                partition,
                offset: (*element).offset,
            });
        }
        Ok(out)
    }
}

/// A Kafka error from a code and the broker's message (librdkafka's description of the
/// code when the broker gave none), naming what failed.
fn kafka_error(code: c_int, message: Option<String>, context: &str) -> AdminError {
    if code == TIMED_OUT {
        return AdminError::Timeout;
    }
    // SAFETY: rd_kafka_err2name / err2str accept any code and return static strings.
    let (name, description) = unsafe { (c_str(err2name(code)), c_str(err2str(code))) };
    let message = message
        .filter(|m| !m.is_empty())
        .or(description)
        .unwrap_or_default();
    AdminError::Kafka {
        code,
        name: name.unwrap_or_else(|| format!("ERR_{code}")),
        message: format!("{context}: {message}"),
    }
}

/// Turns an error object (owned by the caller, or by something alive) into an
/// [`AdminError`] naming `context`.
///
/// # Safety
/// `error` must point to a live rd_kafka_error_t.
unsafe fn error_object(error: *const sys::rd_kafka_error_t, context: &str) -> AdminError {
    // SAFETY: the caller guarantees `error` is alive; its string lives as long as it and
    // is copied here.
    let (code, message) = unsafe { (error_code(error), c_str(sys::rd_kafka_error_string(error))) };
    kafka_error(code, message, context)
}

/// librdkafka's name of a group state.
fn state_name(state: sys::rd_kafka_consumer_group_state_t) -> String {
    // SAFETY: accepts any state of the enum, returns a static string.
    unsafe { c_str(sys::rd_kafka_consumer_group_state_name(state)) }
        .unwrap_or_else(|| "Unknown".into())
}

// ---------------------------------------------------------------------------------------
// Native handles.
// ---------------------------------------------------------------------------------------

// librdkafka passes broker error codes through unchanged, and a newer broker may send a
// code that rdkafka-sys's `rd_kafka_resp_err_t` Rust enum lacks: receiving such a value as
// that enum would be undefined behaviour. These declarations of the same C functions use
// the plain C int that `rd_kafka_resp_err_t` is in C.
unsafe extern "C" {
    #[link_name = "rd_kafka_event_error"]
    fn event_error_code(event: *mut sys::rd_kafka_event_t) -> c_int;
    #[link_name = "rd_kafka_error_code"]
    fn error_code(error: *const sys::rd_kafka_error_t) -> c_int;
    #[link_name = "rd_kafka_ConfigResource_error"]
    fn config_resource_error_code(config: *const sys::rd_kafka_ConfigResource_t) -> c_int;
    #[link_name = "rd_kafka_err2name"]
    fn err2name(code: c_int) -> *const c_char;
    #[link_name = "rd_kafka_err2str"]
    fn err2str(code: c_int) -> *const c_char;
}

/// The dedicated librdkafka client (a producer-type handle that never produces: the
/// lightest kind; admin requests work on either kind).
struct NativeClient {
    handle: Owned<sys::rd_kafka_t>,
}

// SAFETY: librdkafka's client handle is thread-safe: every API used here may be called
// from any thread, concurrently. The handle is only destroyed on drop, once.
unsafe impl Send for NativeClient {}
// SAFETY: as above; `&NativeClient` only hands out the pointer for thread-safe calls.
unsafe impl Sync for NativeClient {}

impl NativeClient {
    fn new(access: &ClusterAccess) -> Result<Self, AdminError> {
        let config = access
            .client_config()
            .create_native_config()
            .map_err(|e| AdminError::Other(format!("invalid client configuration: {e}")))?;
        // SAFETY: the config is alive; `log_to_tracing` matches the callback signature and
        // is safe to call from librdkafka's threads.
        unsafe { sys::rd_kafka_conf_set_log_cb(config.ptr(), Some(log_to_tracing)) };
        // rd_kafka_new takes ownership of the config only when it succeeds.
        let config = ManuallyDrop::new(config);
        let mut errstr = [0 as c_char; 512];
        // SAFETY: the config is alive and `errstr` is a writable buffer of that length.
        let handle = unsafe {
            sys::rd_kafka_new(
                sys::rd_kafka_type_t::RD_KAFKA_PRODUCER,
                config.ptr(),
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        let Some(handle) = NonNull::new(handle) else {
            // Still ours: free it.
            drop(ManuallyDrop::into_inner(config));
            // SAFETY: librdkafka wrote a NUL-terminated message (or left zeros).
            let message = unsafe { c_str(errstr.as_ptr()) }.unwrap_or_default();
            return Err(AdminError::Other(format!(
                "cannot create a Kafka client for {}: {message}",
                access.bootstrap
            )));
        };
        Ok(Self {
            // SAFETY: a fresh handle that now owns the config; destroyed once, on drop.
            handle: unsafe { Owned::from_non_null(handle, sys::rd_kafka_destroy) },
        })
    }
}

/// librdkafka's log lines (at the `log_level` of the client config) into `tracing`.
unsafe extern "C" fn log_to_tracing(
    _rk: *const sys::rd_kafka_t,
    level: c_int,
    facility: *const c_char,
    message: *const c_char,
) {
    // SAFETY: librdkafka passes NUL-terminated strings valid for the call (or null).
    let (facility, message) = unsafe { (c_str(facility), c_str(message)) };
    let (facility, message) = (facility.unwrap_or_default(), message.unwrap_or_default());
    match level {
        ..=3 => tracing::error!(target: "librdkafka", %facility, "{message}"),
        4 => tracing::warn!(target: "librdkafka", %facility, "{message}"),
        5 | 6 => tracing::info!(target: "librdkafka", %facility, "{message}"),
        _ => tracing::debug!(target: "librdkafka", %facility, "{message}"),
    }
}

/// A C object this code owns, freed with its destructor when dropped.
struct Owned<T> {
    ptr: NonNull<T>,
    destroy: unsafe extern "C" fn(*mut T),
}

impl<T> Owned<T> {
    /// Takes ownership of what a librdkafka constructor returned; null means it failed.
    ///
    /// # Safety
    /// A non-null `ptr` must be an object the caller owns, and `destroy` its destructor.
    unsafe fn new(ptr: *mut T, destroy: unsafe extern "C" fn(*mut T)) -> Result<Self, AdminError> {
        let ptr = NonNull::new(ptr).ok_or_else(|| {
            AdminError::Other(format!(
                "librdkafka could not create a {}",
                std::any::type_name::<T>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("object")
            ))
        })?;
        // SAFETY: forwarded from the caller.
        Ok(unsafe { Self::from_non_null(ptr, destroy) })
    }

    /// # Safety
    /// As for [`Owned::new`].
    unsafe fn from_non_null(ptr: NonNull<T>, destroy: unsafe extern "C" fn(*mut T)) -> Self {
        Self { ptr, destroy }
    }

    fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        // SAFETY: the object is ours (constructor contract) and destroyed only here.
        unsafe { (self.destroy)(self.ptr.as_ptr()) }
    }
}

/// A result array owned by `event`, as a slice that cannot outlive it.
///
/// # Safety
/// `array` must be null or point to `count` elements owned by `event`.
unsafe fn borrow_array<T>(
    _event: &Owned<sys::rd_kafka_event_t>,
    array: *mut *const T,
    count: usize,
) -> &[*const T] {
    if array.is_null() || count == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `count` elements, alive as long as `event`.
        unsafe { std::slice::from_raw_parts(array.cast_const(), count) }
    }
}

/// A C string copied into a Rust string (invalid UTF-8 replaced); `None` for null.
///
/// # Safety
/// `ptr` must be null or a NUL-terminated string valid for the call.
unsafe fn c_str(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: the caller guarantees a valid NUL-terminated string.
        Some(
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}

fn c_string(value: &str, what: &str) -> Result<CString, AdminError> {
    CString::new(value)
        .map_err(|_| AdminError::Other(format!("{what} {value:?} contains a NUL byte")))
}

fn non_null<T>(ptr: *const T, what: &str) -> Result<*const T, AdminError> {
    if ptr.is_null() {
        Err(AdminError::Other(format!("librdkafka returned no {what}")))
    } else {
        Ok(ptr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_get_librdkafka_names_and_a_context() {
        let AdminError::Kafka {
            code,
            name,
            message,
        } = kafka_error(3, Some(String::new()), "topic t")
        else {
            panic!("not a Kafka error");
        };
        assert_eq!((code, name.as_str()), (3, "UNKNOWN_TOPIC_OR_PART"));
        assert!(message.starts_with("topic t: "), "{message}");
        assert!(matches!(
            kafka_error(TIMED_OUT, None, "x"),
            AdminError::Timeout
        ));
    }

    #[test]
    fn codes_librdkafka_does_not_know_are_still_reported() {
        let AdminError::Kafka { code, message, .. } =
            kafka_error(4242, Some("new broker error".into()), "group g")
        else {
            panic!("not a Kafka error");
        };
        assert_eq!(code, 4242);
        assert_eq!(message, "group g: new broker error");
    }

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
    fn state_names_are_librdkafkas() {
        use sys::rd_kafka_consumer_group_state_t as S;
        assert_eq!(
            state_name(S::RD_KAFKA_CONSUMER_GROUP_STATE_STABLE),
            "Stable"
        );
        assert_eq!(state_name(S::RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY), "Empty");
    }

    #[test]
    fn a_client_is_created_and_freed_without_a_broker() {
        let admin = GroupAdmin::new(&ClusterAccess::plaintext("127.0.0.1:1")).unwrap();
        drop(admin);
    }

    #[test]
    fn nul_bytes_are_refused_before_reaching_c() {
        assert!(matches!(
            c_string("a\0b", "topic name"),
            Err(AdminError::Other(_))
        ));
    }
}
