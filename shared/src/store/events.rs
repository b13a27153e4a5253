//! The event center: what a task reports (failures with their reasons, state and
//! metadata changes). Identical repeats coalesce into one event, so a cause that recurs
//! at every re-check stays one entry with a count instead of flooding the list.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Condition, Key, Order, PAGE, Result, Store, Write, decode, encode, task_pk};

/// How many of the newest events a new one is compared with: causes that recur in turn
/// (two partitions stalled, each retried at every re-check) still coalesce.
const COALESCE_WINDOW: usize = 20;

/// Events are kept this long after their last repeat.
const EVENT_RETENTION_SECS: i64 = 30 * 24 * 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// When it first happened.
    pub at: DateTime<Utc>,
    pub level: Level,
    pub kind: String,
    pub message: String,
    /// How many times it happened (repeats among the newest events coalesce).
    #[serde(default = "one")]
    pub count: u64,
    /// When it last happened, once it repeated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<DateTime<Utc>>,
}

/// Events stored before repeats coalesced happened once.
fn one() -> u64 {
    1
}

impl Event {
    fn repeats(&self, level: Level, kind: &str, message: &str) -> bool {
        self.level == level && self.kind == kind && self.message == message
    }
}

impl Store {
    /// Records an event, or counts one more repeat when one of the task's newest events
    /// is the same (level, kind and message).
    pub async fn add_event(
        &self,
        task_id: &str,
        level: Level,
        kind: &str,
        message: &str,
    ) -> Result<()> {
        if level != Level::Info {
            // Every occurrence counts, a coalesced repeat too.
            crate::metrics::error(task_id, kind);
        }
        let pk = task_pk(task_id);
        self.retrying(|| async {
            let now = Utc::now();
            let newest = self
                .backend
                .query(&pk, "event#", None, Order::Descending, COALESCE_WINDOW)
                .await?
                .items;
            let mut repeat = None;
            for item in newest {
                let event: Event = decode(&item)?;
                if event.repeats(level, kind, message) {
                    repeat = Some((item, event));
                    break;
                }
            }
            let (key, condition, event) = match repeat {
                Some((item, event)) => (
                    item.key,
                    Condition::Version(item.version),
                    Event {
                        count: event.count + 1,
                        last_at: Some(now),
                        ..event
                    },
                ),
                None => (
                    Key::new(
                        &pk,
                        format!(
                            "event#{:015}#{}",
                            now.timestamp_millis(),
                            uuid::Uuid::new_v4().simple()
                        ),
                    ),
                    Condition::Absent,
                    Event {
                        at: now,
                        level,
                        kind: kind.to_owned(),
                        message: message.to_owned(),
                        count: 1,
                        last_at: None,
                    },
                ),
            };
            let write = Write::Put {
                key,
                body: encode(&event),
                expires_at: Some(now.timestamp() + EVENT_RETENTION_SECS),
                condition,
            };
            Ok((vec![write], ()))
        })
        .await
    }

    /// The newest `limit` events, newest first.
    pub async fn events(&self, task_id: &str, limit: usize) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        let mut after: Option<String> = None;
        while events.len() < limit {
            let page = self
                .backend
                .query(
                    &task_pk(task_id),
                    "event#",
                    after.as_deref(),
                    Order::Descending,
                    (limit - events.len()).min(PAGE),
                )
                .await?;
            for item in &page.items {
                events.push(decode(item)?);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_stored_before_coalescing_happened_once() {
        let event: Event = serde_json::from_value(serde_json::json!({
            "at": "2025-01-01T00:00:00Z", "level": "info", "kind": "state", "message": "x"
        }))
        .unwrap();
        assert_eq!((event.count, event.last_at), (1, None));
    }
}
