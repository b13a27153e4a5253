//! What kafka-sync remembers, and every rule about remembering it, over any [`Backend`].
//!
//! Layout (one table, `pk` / `sk`):
//!
//! | pk | sk | holds |
//! |---|---|---|
//! | `tenant#{t}` | `connection#{id}` | a connection (never its password) |
//! | `tenant#{t}` | `task#{id}` | a task |
//! | `tenant#{t}` | `name#connection#{name}`, `name#task#{name}` | name → id, so names are unique per tenant |
//! | `tenant#{t}` | `count#connection`, `count#task` | how many the tenant has (quotas) |
//! | `tenant#{t}` | `uses#{connection id}` | how many tasks use a connection (it cannot be deleted while > 0) |
//! | `tasks` | `{t}#{task id}` | every task, for the scheduled functions |
//! | `task#{id}` | `lease#{slot}` | which worker holds a slot; its version is the lease epoch (kept when released, so epochs never repeat) |
//! | `task#{id}` | `checkpoint#{topic}#{partition}` | next source offset to copy; its version fences the partition's owner |
//! | `task#{id}` | `assignment` | which slot copies each partition |
//! | `task#{id}` | `mapping#{topic}#{partition}#{source start}` | a run of contiguous source → target offsets |
//! | `task#{id}` | `event#{at}#{uuid}` | the event center (repeats coalesce; expires 30 days after the last) |
//! | `task#{id}` | `seen#{topic}` | source topics metadata sync has initialized |
//! | `task#{id}` | `progress#{part}` | progress documents (`metadata`, `offsets`) |
//!
//! Every multi-item change is one conditional transaction: read, decide, write with the
//! versions read, and start over when another writer got there first.

pub mod backend;
mod checkpoint;
pub mod dynamodb;
pub mod embedded;
mod events;
mod lease;
mod location;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

pub use backend::{Backend, BackendError, Condition, Item, Key, Order, Page, Write};
pub use checkpoint::{Checkpoint, Committed, FROM_BEGINNING, OffsetRun, Owned, Stall};
pub use events::{Event, Level};
pub use lease::Lease;
pub use location::StoreLocation;

use crate::connection::ConnectionRecord;
use crate::lifecycle::TaskRecord;

/// Per-tenant limits (DESIGN §5).
pub const MAX_CONNECTIONS: u64 = 150;
pub const MAX_TASKS: u64 = 150;
/// How often a read-decide-write is retried when another writer wins the race.
const ATTEMPTS: usize = 8;
const PAGE: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Duplicate(String),
    #[error("{0}")]
    Quota(String),
    #[error("{0}")]
    InUse(String),
    /// The writer no longer holds the lease it wrote under.
    #[error("the lease of task {task} slot {slot} is held by another worker")]
    Fenced { task: String, slot: u32 },
    /// A change that is not allowed, found while applying it.
    #[error(transparent)]
    Invalid(#[from] crate::validation::FieldError),
    #[error("too many concurrent writers; try again")]
    Contention,
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where a partition's copy has reached: the next source offset to copy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionRef {
    pub topic: String,
    pub partition: i32,
}

#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

fn tenant_pk(tenant: &str) -> String {
    format!("tenant#{tenant}")
}

fn task_pk(task_id: &str) -> String {
    format!("task#{task_id}")
}

fn partition_sk(kind: &str, p: &PartitionRef) -> String {
    format!("{kind}#{}#{:010}", p.topic, p.partition)
}

/// Sort keys hold offsets zero-padded so that text order is numeric order.
fn mapping_sk(p: &PartitionRef, source_offset: i64) -> String {
    format!("{}#{source_offset:020}", partition_sk("mapping", p))
}

fn decode<T: DeserializeOwned>(item: &Item) -> Result<T> {
    serde_json::from_value(item.body.clone())
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.key.pk, item.key.sk)))
}

fn encode<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("records serialize to JSON")
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A counter item as read: its value and the condition that writes it back safely.
struct Counter {
    key: Key,
    count: u64,
    condition: Condition,
}

impl Counter {
    fn put(&self, count: u64) -> Write {
        Write::Put {
            key: self.key.clone(),
            body: json!({ "count": count }),
            expires_at: None,
            condition: self.condition,
        }
    }
}

fn put_new(key: Key, body: Value) -> Write {
    Write::Put {
        key,
        body,
        expires_at: None,
        condition: Condition::Absent,
    }
}

fn delete_at(item: &Item) -> Write {
    Write::Delete {
        key: item.key.clone(),
        condition: Condition::Version(item.version),
    }
}

impl Store {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// Every write goes through here, so `/metrics` counts what the store is asked to do.
    async fn write(&self, writes: Vec<Write>) -> std::result::Result<(), BackendError> {
        crate::metrics::store_written(writes.len());
        self.backend.write(writes).await
    }

    async fn counter(&self, key: Key) -> Result<Counter> {
        Ok(match self.backend.get(&key).await? {
            Some(item) => Counter {
                count: item.body["count"].as_u64().unwrap_or(0),
                condition: Condition::Version(item.version),
                key,
            },
            None => Counter {
                key,
                count: 0,
                condition: Condition::Absent,
            },
        })
    }

    /// Every item under `pk` with the prefix, across pages.
    async fn query_all(&self, pk: &str, prefix: &str) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .backend
                .query(pk, prefix, after.as_deref(), Order::Ascending, PAGE)
                .await?;
            items.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// Runs a read-decide-write until its conditions hold, or gives up. Each attempt
    /// returns its writes and the value the caller gets when they land.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<Write>, T)>>,
    {
        for _ in 0..ATTEMPTS {
            let (writes, outcome) = attempt().await?;
            match self.write(writes).await {
                Err(BackendError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
                Ok(()) => return Ok(outcome),
            }
        }
        Err(StoreError::Contention)
    }

    /// The writes that add one named record of `kind` for a tenant, within its quota and
    /// with a name no other record of that kind has.
    async fn claim_name_and_quota(
        &self,
        tenant: &str,
        kind: &str,
        name: &str,
        id: &str,
        limit: u64,
    ) -> Result<Vec<Write>> {
        let pk = tenant_pk(tenant);
        let name_key = Key::new(&pk, format!("name#{kind}#{name}"));
        if self.backend.get(&name_key).await?.is_some() {
            return Err(StoreError::Duplicate(format!(
                "a {kind} named {name:?} already exists"
            )));
        }
        let counter = self.counter(Key::new(&pk, format!("count#{kind}"))).await?;
        if counter.count >= limit {
            return Err(StoreError::Quota(format!(
                "the quota of {limit} {kind}s per tenant is reached"
            )));
        }
        Ok(vec![
            put_new(name_key, json!({ "id": id })),
            counter.put(counter.count + 1),
        ])
    }

    /// The writes that remove a named record's name and its place in the quota.
    async fn release_name_and_quota(
        &self,
        tenant: &str,
        kind: &str,
        name: &str,
    ) -> Result<Vec<Write>> {
        let pk = tenant_pk(tenant);
        let counter = self.counter(Key::new(&pk, format!("count#{kind}"))).await?;
        Ok(vec![
            Write::Delete {
                key: Key::new(&pk, format!("name#{kind}#{name}")),
                condition: Condition::Always,
            },
            counter.put(counter.count.saturating_sub(1)),
        ])
    }

    // ---- connections ----

    pub async fn create_connection(&self, tenant: &str, record: &ConnectionRecord) -> Result<()> {
        self.retrying(|| async {
            let mut writes = self
                .claim_name_and_quota(
                    tenant,
                    "connection",
                    &record.name,
                    &record.id,
                    MAX_CONNECTIONS,
                )
                .await?;
            writes.push(put_new(
                Key::new(tenant_pk(tenant), format!("connection#{}", record.id)),
                encode(record),
            ));
            Ok((writes, ()))
        })
        .await
    }

    async fn connection_item(&self, tenant: &str, id: &str) -> Result<Item> {
        self.backend
            .get(&Key::new(tenant_pk(tenant), format!("connection#{id}")))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("connection {id}")))
    }

    pub async fn get_connection(&self, tenant: &str, id: &str) -> Result<ConnectionRecord> {
        decode(&self.connection_item(tenant, id).await?)
    }

    pub async fn list_connections(&self, tenant: &str) -> Result<Vec<ConnectionRecord>> {
        self.query_all(&tenant_pk(tenant), "connection#")
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// Deletes a connection no task uses; the deleted record is returned so its secret
    /// can be removed too.
    pub async fn delete_connection(&self, tenant: &str, id: &str) -> Result<ConnectionRecord> {
        self.retrying(|| async {
            let item = self.connection_item(tenant, id).await?;
            let record: ConnectionRecord = decode(&item)?;
            let uses = self
                .counter(Key::new(tenant_pk(tenant), format!("uses#{id}")))
                .await?;
            if uses.count > 0 {
                return Err(StoreError::InUse(format!(
                    "connection {id} is used by {} task(s); delete them first",
                    uses.count
                )));
            }
            let mut writes = self
                .release_name_and_quota(tenant, "connection", &record.name)
                .await?;
            writes.push(delete_at(&item));
            // The usage count must still be zero when the delete lands.
            writes.push(Write::Delete {
                key: uses.key.clone(),
                condition: uses.condition,
            });
            Ok((writes, record))
        })
        .await
    }

    /// The writes that count one more (or one fewer) task using each connection, and
    /// that fail if a connection is deleted meanwhile.
    async fn connection_uses(&self, tenant: &str, ids: &[&str], delta: i64) -> Result<Vec<Write>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut writes = Vec::new();
        for id in ids {
            let connection = self.connection_item(tenant, id).await?;
            writes.push(Write::Check {
                key: connection.key.clone(),
                condition: Condition::Version(connection.version),
            });
            let uses = self
                .counter(Key::new(tenant_pk(tenant), format!("uses#{id}")))
                .await?;
            writes.push(uses.put(uses.count.saturating_add_signed(delta)));
        }
        Ok(writes)
    }

    // ---- tasks ----

    fn task_key(tenant: &str, id: &str) -> Key {
        Key::new(tenant_pk(tenant), format!("task#{id}"))
    }

    fn task_index_key(tenant: &str, id: &str) -> Key {
        Key::new("tasks", format!("{tenant}#{id}"))
    }

    pub async fn create_task(&self, tenant: &str, record: &TaskRecord) -> Result<()> {
        self.retrying(|| async {
            let mut writes = self
                .claim_name_and_quota(tenant, "task", record.spec.name(), &record.id, MAX_TASKS)
                .await?;
            writes.extend(
                self.connection_uses(tenant, &record.spec.connection_ids(), 1)
                    .await?,
            );
            writes.push(put_new(Self::task_key(tenant, &record.id), encode(record)));
            writes.push(put_new(
                Self::task_index_key(tenant, &record.id),
                json!({ "tenant": tenant, "id": record.id }),
            ));
            Ok((writes, ()))
        })
        .await
    }

    async fn task_item(&self, tenant: &str, id: &str) -> Result<Item> {
        self.backend
            .get(&Self::task_key(tenant, id))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("task {id}")))
    }

    pub async fn get_task(&self, tenant: &str, id: &str) -> Result<TaskRecord> {
        decode(&self.task_item(tenant, id).await?)
    }

    pub async fn list_tasks(&self, tenant: &str) -> Result<Vec<TaskRecord>> {
        self.query_all(&tenant_pk(tenant), "task#")
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// Every task of every tenant, with its tenant: the scheduled functions' work list.
    pub async fn all_tasks(&self) -> Result<Vec<(String, TaskRecord)>> {
        let mut tasks = Vec::new();
        for entry in self.query_all("tasks", "").await? {
            let tenant = entry.body["tenant"].as_str().unwrap_or_default().to_owned();
            let id = entry.body["id"].as_str().unwrap_or_default();
            match self.get_task(&tenant, id).await {
                Ok(task) => tasks.push((tenant, task)),
                // Deleted between the two reads.
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(tasks)
    }

    /// Changes a task with `change`, which sees the current record; a rename moves the
    /// name claim in the same transaction. Returns the stored result.
    pub async fn update_task<F>(&self, tenant: &str, id: &str, change: F) -> Result<TaskRecord>
    where
        F: Fn(&TaskRecord) -> Result<TaskRecord>,
    {
        self.retrying(|| async {
            let item = self.task_item(tenant, id).await?;
            let current: TaskRecord = decode(&item)?;
            let next = change(&current)?;
            let mut writes = vec![Write::Put {
                key: item.key.clone(),
                body: encode(&next),
                expires_at: None,
                condition: Condition::Version(item.version),
            }];
            if next.spec.name() != current.spec.name() {
                let pk = tenant_pk(tenant);
                let new_name = Key::new(&pk, format!("name#task#{}", next.spec.name()));
                if self.backend.get(&new_name).await?.is_some() {
                    return Err(StoreError::Duplicate(format!(
                        "a task named {:?} already exists",
                        next.spec.name()
                    )));
                }
                writes.push(put_new(new_name, json!({ "id": id })));
                writes.push(Write::Delete {
                    key: Key::new(&pk, format!("name#task#{}", current.spec.name())),
                    condition: Condition::Always,
                });
            }
            Ok((writes, next))
        })
        .await
    }

    /// Deletes a task with its name, quota place, connection uses, leases, checkpoints,
    /// mappings and events.
    pub async fn delete_task(&self, tenant: &str, id: &str) -> Result<()> {
        self.retrying(|| async {
            let item = self.task_item(tenant, id).await?;
            let record: TaskRecord = decode(&item)?;
            let mut writes = self
                .release_name_and_quota(tenant, "task", record.spec.name())
                .await?;
            writes.extend(
                self.connection_uses(tenant, &record.spec.connection_ids(), -1)
                    .await?,
            );
            writes.push(delete_at(&item));
            writes.push(Write::Delete {
                key: Self::task_index_key(tenant, id),
                condition: Condition::Always,
            });
            Ok((writes, ()))
        })
        .await?;
        // The task's own partition is unreachable once the task is gone; clear it.
        for chunk in self.query_all(&task_pk(id), "").await?.chunks(50) {
            let writes = chunk
                .iter()
                .map(|item| Write::Delete {
                    key: item.key.clone(),
                    condition: Condition::Always,
                })
                .collect();
            self.write(writes).await?;
        }
        Ok(())
    }

    // ---- per-task documents: metadata state and progress ----

    /// Source topics an earlier metadata run has seen.
    pub async fn seen_topics(&self, task_id: &str) -> Result<BTreeSet<String>> {
        Ok(self
            .query_all(&task_pk(task_id), "seen#")
            .await?
            .into_iter()
            .map(|item| item.key.sk["seen#".len()..].to_owned())
            .collect())
    }

    pub async fn mark_seen(&self, task_id: &str, topics: &[String]) -> Result<()> {
        let pk = task_pk(task_id);
        for chunk in topics.chunks(100) {
            let writes = chunk
                .iter()
                .map(|topic| Write::Put {
                    key: Key::new(&pk, format!("seen#{topic}")),
                    body: json!({}),
                    expires_at: None,
                    condition: Condition::Always,
                })
                .collect();
            self.write(writes).await?;
        }
        Ok(())
    }

    pub async fn progress<T: DeserializeOwned>(
        &self,
        task_id: &str,
        part: &str,
    ) -> Result<Option<T>> {
        self.backend
            .get(&Key::new(task_pk(task_id), format!("progress#{part}")))
            .await?
            .map(|item| decode(&item))
            .transpose()
    }

    pub async fn put_progress<T: Serialize>(
        &self,
        task_id: &str,
        part: &str,
        value: &T,
    ) -> Result<()> {
        self.backend
            .write(vec![Write::Put {
                key: Key::new(task_pk(task_id), format!("progress#{part}")),
                body: encode(value),
                expires_at: None,
                condition: Condition::Always,
            }])
            .await?;
        Ok(())
    }
}
