//! Brokers too old for offset sync: the Kafka APIs it depends on, checked against a
//! cluster's ApiVersions.

use std::collections::BTreeMap;

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
}
