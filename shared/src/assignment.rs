//! How a task's partitions are spread over its worker slots (DESIGN §3 "Ownership").
//!
//! Slots = min(total partitions, 20). The assignment is stored (one item per task) and
//! changed only by [`Assignment::rebalance`], so it obeys, by construction:
//! - every selected partition is in exactly one slot below the slot count;
//! - while the slot count is unchanged, a partition keeps its slot: new partitions and
//!   topics go to the least-loaded slots, and nothing already placed moves;
//! - when the slot count grows, only as many partitions move as the new slots need to
//!   be balanced (each move goes from a most-loaded slot to a least-loaded one);
//! - when it shrinks, only the partitions of the slots that are gone move.
//!
//! Every writer computes the next assignment from the stored one with the same pure
//! function and writes it conditionally, so concurrent writers converge on one value.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::store::PartitionRef;

pub const MAX_SLOTS: usize = 20;

/// One source partition to copy, and the target topic it goes to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub source: PartitionRef,
    pub target_topic: String,
}

pub fn slot_count(partitions: usize) -> usize {
    partitions.min(MAX_SLOTS)
}

/// Which slot copies each source partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub slots: usize,
    /// Per source topic, the slot of each partition (index = partition number).
    pub topics: BTreeMap<String, Vec<usize>>,
}

impl Assignment {
    /// The slot that copies `partition`, if it is assigned.
    pub fn slot_of(&self, partition: &PartitionRef) -> Option<usize> {
        let slots = self.topics.get(&partition.topic)?;
        usize::try_from(partition.partition)
            .ok()
            .and_then(|p| slots.get(p).copied())
    }

    /// The routes of `slot` among `routes`.
    pub fn routes_of_slot(&self, routes: Vec<Route>, slot: usize) -> Vec<Route> {
        routes
            .into_iter()
            .filter(|r| self.slot_of(&r.source) == Some(slot))
            .collect()
    }

    /// The assignment for exactly `routes` that moves as little of `self` as the
    /// module's rules allow. A topic no longer in `routes` is dropped; partitions only
    /// grow in Kafka, so a topic's partitions are `0..n`.
    pub fn rebalance(&self, routes: &[Route]) -> Assignment {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for route in routes {
            let n = counts.entry(route.source.topic.as_str()).or_default();
            *n = (*n).max(route.source.partition as usize + 1);
        }
        let total: usize = counts.values().sum();
        let slots = slot_count(total);
        // What stays where it is: known partitions whose slot still exists.
        let mut placed: BTreeMap<(String, usize), usize> = BTreeMap::new();
        let mut unplaced: Vec<(String, usize)> = Vec::new();
        for (topic, n) in &counts {
            let known = self.topics.get(*topic);
            for p in 0..*n {
                match known.and_then(|k| k.get(p)).filter(|s| **s < slots) {
                    Some(slot) => {
                        placed.insert((topic.to_string(), p), *slot);
                    }
                    None => unplaced.push((topic.to_string(), p)),
                }
            }
        }
        let mut load = vec![BTreeSet::new(); slots];
        for (key, slot) in &placed {
            load[*slot].insert(key.clone());
        }
        for key in unplaced {
            let slot = least_loaded(&load);
            load[slot].insert(key);
        }
        // More slots than before: fill the new ones from the fullest, and no further.
        if slots > self.slots {
            loop {
                let (low, high) = (least_loaded(&load), most_loaded(&load));
                if load[high].len() <= load[low].len() + 1 {
                    break;
                }
                let moved = load[high]
                    .pop_last()
                    .expect("the fullest slot is not empty");
                load[low].insert(moved);
            }
        }
        let mut topics: BTreeMap<String, Vec<usize>> = counts
            .iter()
            .map(|(topic, n)| (topic.to_string(), vec![0; *n]))
            .collect();
        for (slot, keys) in load.iter().enumerate() {
            for (topic, p) in keys {
                topics.get_mut(topic).expect("counted above")[*p] = slot;
            }
        }
        Assignment { slots, topics }
    }
}

/// The lowest-numbered slot with the fewest partitions.
fn least_loaded<T>(load: &[BTreeSet<T>]) -> usize {
    (0..load.len())
        .min_by_key(|s| (load[*s].len(), *s))
        .expect("at least one slot")
}

/// The lowest-numbered slot with the most partitions.
fn most_loaded<T>(load: &[BTreeSet<T>]) -> usize {
    (0..load.len())
        .max_by_key(|s| (load[*s].len(), std::cmp::Reverse(*s)))
        .expect("at least one slot")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(topics: &[(&str, i32)]) -> Vec<Route> {
        topics
            .iter()
            .flat_map(|(topic, n)| {
                (0..*n).map(move |p| Route {
                    source: PartitionRef {
                        topic: topic.to_string(),
                        partition: p,
                    },
                    target_topic: topic.to_string(),
                })
            })
            .collect()
    }

    /// How many partitions of topics still assigned changed slot.
    fn moved(before: &Assignment, after: &Assignment) -> usize {
        before
            .topics
            .iter()
            .filter(|(t, _)| after.topics.contains_key(*t))
            .flat_map(|(t, slots)| slots.iter().enumerate().map(move |(p, s)| (t, p, *s)))
            .filter(|(t, p, s)| after.topics.get(*t).and_then(|a| a.get(*p)) != Some(s))
            .count()
    }

    fn loads(a: &Assignment) -> Vec<usize> {
        let mut load = vec![0; a.slots];
        for slots in a.topics.values() {
            for s in slots {
                load[*s] += 1;
            }
        }
        load
    }

    #[test]
    fn every_partition_is_in_exactly_one_slot_and_slots_are_balanced() {
        for (topics, slots) in [
            (vec![("a", 25)], 20),
            (vec![("a", 3), ("b", 5)], 8),
            (vec![("a", 1)], 1),
            (vec![("a", 40), ("b", 7)], 20),
        ] {
            let all = routes(&topics);
            let a = Assignment::default().rebalance(&all);
            assert_eq!(a.slots, slots);
            let covered: usize = (0..slots)
                .map(|s| a.routes_of_slot(all.clone(), s).len())
                .sum();
            assert_eq!(covered, all.len());
            assert!(a.routes_of_slot(all.clone(), slots).is_empty());
            let load = loads(&a);
            assert!(load.iter().max().unwrap() - load.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn adding_partitions_or_topics_moves_nothing_at_the_same_slot_count() {
        // The reported case: two topics of 12 over 20 slots, then 4 partitions more.
        let before = Assignment::default().rebalance(&routes(&[("a", 12), ("b", 12)]));
        let grown = before.rebalance(&routes(&[("a", 16), ("b", 12)]));
        assert_eq!(moved(&before, &grown), 0);
        let more = grown.rebalance(&routes(&[("a", 16), ("b", 12), ("c", 30)]));
        assert_eq!(moved(&grown, &more), 0);
        // New partitions still went to the least-loaded slots.
        let load = loads(&more);
        assert!(load.iter().max().unwrap() - load.iter().min().unwrap() <= 1);
        // The same input gives the same assignment: concurrent writers agree.
        assert_eq!(grown.rebalance(&routes(&[("a", 16), ("b", 12)])), grown);
    }

    #[test]
    fn a_growing_slot_count_moves_as_few_as_balance_needs() {
        // 3 → 4 partitions: a new slot for the new partition, nothing moves.
        let three = Assignment::default().rebalance(&routes(&[("a", 3)]));
        let four = three.rebalance(&routes(&[("a", 4)]));
        assert_eq!((four.slots, moved(&three, &four)), (4, 0));
        // 10 partitions in 10 slots, then a 15-partition topic joins: 20 slots for 25
        // partitions. The 10 stay; the newcomers fill the other slots.
        let ten = Assignment::default().rebalance(&routes(&[("a", 10)]));
        let joined = ten.rebalance(&routes(&[("a", 10), ("b", 15)]));
        assert_eq!((joined.slots, moved(&ten, &joined)), (20, 0));
        // A slot count restored after a topic is gone only moves what balance needs.
        let shrunk = joined.rebalance(&routes(&[("b", 15)]));
        assert_eq!(shrunk.slots, 15);
        let regrown = shrunk.rebalance(&routes(&[("b", 15), ("c", 5)]));
        assert_eq!(moved(&shrunk, &regrown), 0);
    }

    #[test]
    fn a_shrinking_slot_count_moves_only_the_partitions_of_dropped_slots() {
        // Topics are placed in name order: b's partitions sit in slots 6 to 11.
        let before = Assignment::default().rebalance(&routes(&[("a", 6), ("b", 6)]));
        let after = before.rebalance(&routes(&[("b", 6), ("c", 2)]));
        assert_eq!(after.slots, 8);
        let in_dropped = before.topics["b"].iter().filter(|s| **s >= 8).count();
        assert_eq!((in_dropped, moved(&before, &after)), (4, 4));
    }

    #[test]
    fn no_partitions_no_slots() {
        let a = Assignment::default().rebalance(&[]);
        assert_eq!(a.slots, 0);
        assert!(a.routes_of_slot(Vec::new(), 0).is_empty());
    }
}
