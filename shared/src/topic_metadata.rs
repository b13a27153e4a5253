//! The topic metadata rules of DESIGN §3, as one pure function: what the source and
//! target clusters hold, and what was seen before, in; the actions to take out.
//!
//! * A selected source topic missing on the target is created with the source's
//!   partition count, RF = min(source RF, target brokers) and the seven synced configs.
//! * A topic the target already has when the task first sees it is left untouched.
//! * Afterwards, every run: partitions only grow; `retention.ms` / `retention.bytes` are
//!   set on the target only when the source value is `-1`; nothing else is re-synced.
//! * Names longer than 128 characters map to their first 128; of two that collide, the
//!   first in name order keeps the name and the other is skipped.

use std::collections::{BTreeMap, BTreeSet};

use crate::task::TopicSelection;

/// The configs copied when a topic is created on the target.
pub const SYNCED_CONFIGS: [&str; 7] = [
    "retention.ms",
    "cleanup.policy",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "segment.ms",
    "retention.bytes",
    "max.message.bytes",
];

/// The configs kept in step after creation, and only towards "unlimited".
pub const UNLIMITED_ONLY_CONFIGS: [&str; 2] = ["retention.ms", "retention.bytes"];

const UNLIMITED: &str = "-1";
pub const MAX_TARGET_NAME_CHARS: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// Effective values of [`SYNCED_CONFIGS`] (a config the cluster did not report is absent).
    pub configs: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetTopic {
    pub partitions: i32,
    /// Effective values of at least [`UNLIMITED_ONLY_CONFIGS`].
    pub configs: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Create {
        source_topic: String,
        target_topic: String,
        partitions: i32,
        replication_factor: i32,
        configs: BTreeMap<String, String>,
    },
    GrowPartitions {
        target_topic: String,
        from: i32,
        to: i32,
    },
    SetUnlimited {
        target_topic: String,
        config: &'static str,
    },
    Skip {
        source_topic: String,
        reason: String,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Source topics seen for the first time in this run: from the next run on, the
    /// scheduled rules apply to them.
    pub newly_seen: Vec<String>,
}

/// The target name of a source topic: its first 128 characters.
pub fn target_name(source: &str) -> &str {
    match source.char_indices().nth(MAX_TARGET_NAME_CHARS) {
        Some((cut, _)) => &source[..cut],
        None => source,
    }
}

/// The selected source topics paired with their target names, in name order, and the
/// topics skipped because their truncated name is taken by an earlier one.
pub fn select<'a>(
    source_topics: impl IntoIterator<Item = &'a str>,
    selection: &TopicSelection,
) -> (Vec<(&'a str, &'a str)>, Vec<Action>) {
    let mut names: Vec<&str> = source_topics
        .into_iter()
        .filter(|t| selection.selects(t))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut claimed: BTreeMap<&str, &str> = BTreeMap::new();
    let mut selected = Vec::new();
    let mut skipped = Vec::new();
    for name in names {
        let target = target_name(name);
        match claimed.get(target) {
            Some(first) => skipped.push(Action::Skip {
                source_topic: name.to_owned(),
                reason: format!(
                    "its first {MAX_TARGET_NAME_CHARS} characters collide with source topic {first:?}, which maps to target topic {target:?}"
                ),
            }),
            None => {
                claimed.insert(target, name);
                selected.push((name, target));
            }
        }
    }
    (selected, skipped)
}

/// The actions one metadata run takes. `seen` holds the source topics earlier runs saw.
pub fn plan(
    source: &[SourceTopic],
    target: &BTreeMap<String, TargetTopic>,
    target_brokers: i32,
    selection: &TopicSelection,
    seen: &BTreeSet<String>,
) -> Plan {
    let by_name: BTreeMap<&str, &SourceTopic> =
        source.iter().map(|t| (t.name.as_str(), t)).collect();
    let (selected, mut actions) = select(by_name.keys().copied(), selection);
    let mut newly_seen = Vec::new();
    for (source_name, target_topic) in selected {
        let topic = by_name[source_name];
        let first_sight = !seen.contains(source_name);
        if first_sight {
            newly_seen.push(source_name.to_owned());
        }
        match target.get(target_topic) {
            None => actions.push(Action::Create {
                source_topic: source_name.to_owned(),
                target_topic: target_topic.to_owned(),
                partitions: topic.partitions,
                replication_factor: topic.replication_factor.min(target_brokers).max(1),
                configs: topic
                    .configs
                    .iter()
                    .filter(|(k, _)| SYNCED_CONFIGS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            }),
            Some(_) if first_sight => actions.push(Action::Skip {
                source_topic: source_name.to_owned(),
                reason: format!(
                    "target topic {target_topic:?} already exists; left untouched at initialization"
                ),
            }),
            Some(existing) => {
                if topic.partitions > existing.partitions {
                    actions.push(Action::GrowPartitions {
                        target_topic: target_topic.to_owned(),
                        from: existing.partitions,
                        to: topic.partitions,
                    });
                }
                for config in UNLIMITED_ONLY_CONFIGS {
                    let source_value = topic.configs.get(config).map(String::as_str);
                    let target_value = existing.configs.get(config).map(String::as_str);
                    if source_value == Some(UNLIMITED) && target_value != Some(UNLIMITED) {
                        actions.push(Action::SetUnlimited {
                            target_topic: target_topic.to_owned(),
                            config,
                        });
                    }
                }
            }
        }
    }
    Plan {
        actions,
        newly_seen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> TopicSelection {
        TopicSelection::All
    }

    fn regex(pattern: &str) -> TopicSelection {
        TopicSelection::Regex(regex::Regex::new(pattern).unwrap())
    }

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn source(name: &str, partitions: i32, rf: i32, pairs: &[(&str, &str)]) -> SourceTopic {
        SourceTopic {
            name: name.into(),
            partitions,
            replication_factor: rf,
            configs: configs(pairs),
        }
    }

    /// A target topic: name, partitions, configs.
    type TargetEntry<'a> = (&'a str, i32, &'a [(&'a str, &'a str)]);

    fn target(entries: &[TargetEntry]) -> BTreeMap<String, TargetTopic> {
        entries
            .iter()
            .map(|(name, partitions, pairs)| {
                (
                    name.to_string(),
                    TargetTopic {
                        partitions: *partitions,
                        configs: configs(pairs),
                    },
                )
            })
            .collect()
    }

    fn seen(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    const SEVEN: [(&str, &str); 7] = [
        ("retention.ms", "86400000"),
        ("cleanup.policy", "compact"),
        ("min.insync.replicas", "2"),
        ("unclean.leader.election.enable", "false"),
        ("segment.ms", "3600000"),
        ("retention.bytes", "1000000"),
        ("max.message.bytes", "2097152"),
    ];

    #[test]
    fn a_missing_topic_is_created_with_partitions_capped_rf_and_the_seven_configs() {
        let mut with_extra = SEVEN.to_vec();
        with_extra.push(("compression.type", "zstd"));
        let plan = plan(
            &[source("orders", 6, 3, &with_extra)],
            &target(&[]),
            1,
            &all(),
            &seen(&[]),
        );
        assert_eq!(
            plan.actions,
            vec![Action::Create {
                source_topic: "orders".into(),
                target_topic: "orders".into(),
                partitions: 6,
                replication_factor: 1,
                configs: configs(&SEVEN),
            }]
        );
        assert_eq!(plan.newly_seen, vec!["orders".to_string()]);
    }

    #[test]
    fn rf_is_the_source_rf_when_the_target_has_enough_brokers() {
        let plan = plan(
            &[source("a", 1, 2, &[])],
            &target(&[]),
            5,
            &all(),
            &seen(&[]),
        );
        assert!(matches!(
            plan.actions[0],
            Action::Create {
                replication_factor: 2,
                ..
            }
        ));
    }

    #[test]
    fn an_existing_target_topic_is_untouched_at_initialization() {
        let plan = plan(
            &[source("orders", 8, 1, &[("retention.ms", "-1")])],
            &target(&[("orders", 2, &[("retention.ms", "1000")])]),
            1,
            &all(),
            &seen(&[]),
        );
        assert!(matches!(&plan.actions[..], [Action::Skip { .. }]));
        assert_eq!(plan.newly_seen, vec!["orders".to_string()]);
    }

    #[test]
    fn partitions_only_grow() {
        let grow = plan(
            &[source("a", 5, 1, &[])],
            &target(&[("a", 3, &[])]),
            1,
            &all(),
            &seen(&["a"]),
        );
        assert_eq!(
            grow.actions,
            vec![Action::GrowPartitions {
                target_topic: "a".into(),
                from: 3,
                to: 5
            }]
        );
        for target_partitions in [5, 9] {
            let same_or_more = plan(
                &[source("a", 5, 1, &[])],
                &target(&[("a", target_partitions, &[])]),
                1,
                &all(),
                &seen(&["a"]),
            );
            assert!(same_or_more.actions.is_empty());
        }
    }

    #[test]
    fn retention_syncs_only_towards_unlimited() {
        let run = |source_ms: &str, source_bytes: &str, target_ms: &str| {
            plan(
                &[source(
                    "a",
                    1,
                    1,
                    &[
                        ("retention.ms", source_ms),
                        ("retention.bytes", source_bytes),
                    ],
                )],
                &target(&[(
                    "a",
                    1,
                    &[("retention.ms", target_ms), ("retention.bytes", "5")],
                )]),
                1,
                &all(),
                &seen(&["a"]),
            )
            .actions
        };
        assert_eq!(
            run("-1", "-1", "1000"),
            vec![
                Action::SetUnlimited {
                    target_topic: "a".into(),
                    config: "retention.ms"
                },
                Action::SetUnlimited {
                    target_topic: "a".into(),
                    config: "retention.bytes"
                }
            ]
        );
        // Shorter or longer but finite: never copied.
        assert!(run("10", "7", "1000").is_empty());
        // Already unlimited on the target: nothing to do.
        assert_eq!(run("-1", "7", "-1"), vec![]);
    }

    #[test]
    fn other_configs_are_never_resynced() {
        let plan = plan(
            &[source(
                "a",
                1,
                1,
                &[("max.message.bytes", "9"), ("cleanup.policy", "compact")],
            )],
            &target(&[("a", 1, &[])]),
            1,
            &all(),
            &seen(&["a"]),
        );
        assert!(plan.actions.is_empty());
    }

    #[test]
    fn a_topic_appearing_later_is_created() {
        let plan = plan(
            &[source("old", 1, 1, &[]), source("new", 2, 1, &[])],
            &target(&[("old", 1, &[])]),
            1,
            &all(),
            &seen(&["old"]),
        );
        assert!(matches!(
            &plan.actions[..],
            [Action::Create { target_topic, partitions: 2, .. }] if target_topic == "new"
        ));
        assert_eq!(plan.newly_seen, vec!["new".to_string()]);
    }

    #[test]
    fn long_names_truncate_to_128_and_collisions_skip_the_second() {
        let long = "x".repeat(200);
        assert_eq!(target_name(&long), &long[..128]);
        assert_eq!(target_name("short"), "short");
        let other = format!("{}-other", &long[..128]);
        let plan = plan(
            &[source(&long, 1, 1, &[]), source(&other, 1, 1, &[])],
            &target(&[]),
            1,
            &all(),
            &seen(&[]),
        );
        let created: Vec<_> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Create {
                    source_topic,
                    target_topic,
                    ..
                } => Some((source_topic.clone(), target_topic.len())),
                _ => None,
            })
            .collect();
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].1, 128);
        let skipped = plan
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Skip { reason, .. } if reason.contains("collide")))
            .count();
        assert_eq!(skipped, 1);
    }

    #[test]
    fn a_name_of_exactly_128_keeps_its_name_over_a_longer_one() {
        let exact = "y".repeat(128);
        let longer = format!("{exact}z");
        let (selected, skipped) = select([longer.as_str(), exact.as_str()], &all());
        assert_eq!(selected, vec![(exact.as_str(), exact.as_str())]);
        assert!(
            matches!(&skipped[..], [Action::Skip { source_topic, .. }] if *source_topic == longer)
        );
    }

    #[test]
    fn regex_ranges_and_internal_topics() {
        let plan = plan(
            &[
                source("orders.eu", 1, 1, &[]),
                source("payments", 1, 1, &[]),
                source("__consumer_offsets", 50, 1, &[]),
                source("__transaction_state", 50, 1, &[]),
                source("__orders.internal", 1, 1, &[]),
            ],
            &target(&[]),
            1,
            &regex(r"^(orders\.|__)"),
            &seen(&[]),
        );
        let created: Vec<_> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Create { target_topic, .. } => Some(target_topic.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(created, vec!["orders.eu"]);
        let everything = super::plan(
            &[
                source("__consumer_offsets", 50, 1, &[]),
                source("a", 1, 1, &[]),
            ],
            &target(&[]),
            1,
            &all(),
            &seen(&[]),
        );
        assert_eq!(everything.actions.len(), 1);
    }
}
