//! What happens to a message a topic-level task cannot process (DESIGN §4): discard it
//! (counted), stop the task (`retain`), or send it to a dead-letter topic with headers
//! that say where it came from and why.

use crate::processing::ProcessingError;
use crate::task::OnError;

pub const REASON_HEADER: &str = "ksync.error.reason";
pub const TOPIC_HEADER: &str = "ksync.source.topic";
pub const PARTITION_HEADER: &str = "ksync.source.partition";
pub const OFFSET_HEADER: &str = "ksync.source.offset";
pub const TIMESTAMP_HEADER: &str = "ksync.source.timestamp";

/// Where a failed message came from.
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<i64>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Discard,
    /// The task fails; the checkpoint stays before this message.
    Stop {
        reason: String,
    },
    DeadLetter {
        topic: String,
        headers: Vec<(&'static str, String)>,
    },
}

pub fn decide(policy: &OnError, error: &ProcessingError, origin: &Origin) -> Decision {
    match policy {
        OnError::Discard => Decision::Discard,
        OnError::Retain => Decision::Stop {
            reason: format!(
                "message {}/{} at offset {} cannot be processed ({}): {}",
                origin.topic, origin.partition, origin.offset, error.kind, error.reason
            ),
        },
        OnError::DeadLetter { topic } => Decision::DeadLetter {
            topic: topic.clone(),
            headers: vec![
                (REASON_HEADER, format!("{}: {}", error.kind, error.reason)),
                (TOPIC_HEADER, origin.topic.to_owned()),
                (PARTITION_HEADER, origin.partition.to_string()),
                (OFFSET_HEADER, origin.offset.to_string()),
                (
                    TIMESTAMP_HEADER,
                    origin.timestamp.map_or_else(String::new, |t| t.to_string()),
                ),
            ],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error() -> ProcessingError {
        ProcessingError {
            kind: ProcessingError::INVALID_JSON,
            reason: "expected value at line 1".into(),
        }
    }

    const ORIGIN: Origin = Origin {
        topic: "orders",
        partition: 3,
        offset: 42,
        timestamp: Some(1_700_000_000_000),
    };

    #[test]
    fn each_policy_decides_its_way() {
        assert_eq!(
            decide(&OnError::Discard, &error(), &ORIGIN),
            Decision::Discard
        );
        let Decision::Stop { reason } = decide(&OnError::Retain, &error(), &ORIGIN) else {
            panic!("retain stops");
        };
        assert!(
            reason.contains("orders/3") && reason.contains("42") && reason.contains("invalid_json")
        );
        let dead = decide(
            &OnError::DeadLetter {
                topic: "dlq".into(),
            },
            &error(),
            &ORIGIN,
        );
        assert_eq!(
            dead,
            Decision::DeadLetter {
                topic: "dlq".into(),
                headers: vec![
                    (
                        REASON_HEADER,
                        "invalid_json: expected value at line 1".into()
                    ),
                    (TOPIC_HEADER, "orders".into()),
                    (PARTITION_HEADER, "3".into()),
                    (OFFSET_HEADER, "42".into()),
                    (TIMESTAMP_HEADER, "1700000000000".into()),
                ],
            }
        );
    }
}
