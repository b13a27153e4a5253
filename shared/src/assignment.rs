//! How a task's partitions are spread over its worker slots (DESIGN §3): slots =
//! min(total partitions, 20), partition i of the sorted list to slot i mod slots, so
//! every partition is covered exactly once and a change of partitions re-spreads them.

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

/// The routes of `slot` out of all the task's routes.
pub fn routes_of_slot(mut all: Vec<Route>, slot: usize) -> Vec<Route> {
    all.sort();
    let slots = slot_count(all.len());
    all.into_iter()
        .enumerate()
        .filter(|(i, _)| slots > 0 && i % slots == slot)
        .map(|(_, route)| route)
        .collect()
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

    #[test]
    fn every_partition_is_in_exactly_one_slot() {
        for (topics, slots) in [
            (vec![("a", 25)], 20),
            (vec![("a", 3), ("b", 5)], 8),
            (vec![("a", 1)], 1),
            (vec![("a", 40), ("b", 7)], 20),
        ] {
            let all = routes(&topics);
            assert_eq!(slot_count(all.len()), slots);
            let mut covered: Vec<Route> = (0..slots)
                .flat_map(|s| routes_of_slot(all.clone(), s))
                .collect();
            covered.sort();
            let mut expected = all.clone();
            expected.sort();
            assert_eq!(covered, expected);
            // Slots beyond the count get nothing.
            assert!(routes_of_slot(all, slots).is_empty());
        }
    }

    #[test]
    fn no_partitions_no_slots() {
        assert_eq!(slot_count(0), 0);
        assert!(routes_of_slot(Vec::new(), 0).is_empty());
    }
}
