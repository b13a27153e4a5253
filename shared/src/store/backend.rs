//! The few operations every store backend provides. Everything kafka-sync keeps — and
//! every conditional rule about it — is built once on top of these, in `store/mod.rs`, so
//! DynamoDB and the embedded database behave the same by construction.

use async_trait::async_trait;
use serde_json::Value;

/// An item's address: a partition key and a sort key, as in DynamoDB.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: Key,
    pub body: Value,
    /// Bumped by every conditional put; the basis of optimistic concurrency and of lease
    /// epochs. Unconditional puts store 0.
    pub version: u64,
    /// Seconds since the epoch after which the item may be dropped (DynamoDB TTL).
    pub expires_at: Option<i64>,
}

impl Item {
    /// Whether the item is past its `expires_at` at `now` (seconds since the epoch).
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Seconds since the epoch, the unit of `expires_at`.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// What must hold for a write to happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Always,
    Absent,
    /// The item exists with exactly this version.
    Version(u64),
}

impl Condition {
    /// The version a put under this condition stores.
    pub fn next_version(self) -> u64 {
        match self {
            Condition::Always => 0,
            Condition::Absent => 1,
            Condition::Version(v) => v + 1,
        }
    }

    pub fn holds_for(self, current: Option<u64>) -> bool {
        match (self, current) {
            (Condition::Always, _) => true,
            (Condition::Absent, None) => true,
            (Condition::Version(want), Some(have)) => want == have,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    Put {
        key: Key,
        body: Value,
        expires_at: Option<i64>,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Writes nothing; only its condition must hold (e.g. the lease behind a checkpoint).
    Check {
        key: Key,
        condition: Condition,
    },
}

impl Write {
    pub fn key(&self) -> &Key {
        match self {
            Write::Put { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => key,
        }
    }

    pub fn condition(&self) -> Condition {
        match self {
            Write::Put { condition, .. }
            | Write::Delete { condition, .. }
            | Write::Check { condition, .. } => *condition,
        }
    }
}

/// One page of a query, in sort-key order; `next` resumes after its last item.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("a condition of the write did not hold")]
    ConditionFailed,
    #[error("store error: {0}")]
    Other(String),
}

/// `get` and `query` never return an expired item (see [`Item::expired`]): DynamoDB's TTL
/// deletes expired items up to days late, and they show up in reads until then.
#[async_trait]
pub trait Backend: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, BackendError>;

    /// Applies every write, or none of them when any condition fails. At most 100 writes,
    /// each on a different key.
    async fn write(&self, writes: Vec<Write>) -> Result<(), BackendError>;

    /// Items under `pk` whose sort key starts with `prefix`, after the cursor `after`. A page
    /// may hold fewer than `limit` items (expired ones are left out) and still have a `next`.
    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        order: Order,
        limit: usize,
    ) -> Result<Page, BackendError>;
}
