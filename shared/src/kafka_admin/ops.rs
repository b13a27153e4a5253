//! The admin operations, each run on a blocking thread by [`super::KafkaAdmin`]: build
//! the request's C objects, submit it through [`run`], and copy the result out.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int};
use std::time::Duration;

use rdkafka_sys as sys;
use sys::rd_kafka_admin_op_t as AdminOp;

use super::ffi::{
    NativeClient, Owned, borrow_array, c_str, c_string, config_resource_error_code, error_object,
    group_result_partitions, kafka_error, non_null, run, state_name,
};
use super::{
    AdminError, GROUP_ID_NOT_FOUND, GroupDescription, GroupListing, GroupOffset, group_active_or,
};

pub(super) fn set_topic_configs(
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

pub(super) fn list_groups(
    client: &NativeClient,
    timeout: Duration,
) -> Result<Vec<GroupListing>, AdminError> {
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

pub(super) fn group_offsets(
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

pub(super) fn commit_group_offsets(
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

pub(super) fn describe_groups(
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

pub(super) fn topic_ids(
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
