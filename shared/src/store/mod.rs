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
//! | `task#{id}` | `lease#{slot}` | which worker holds a slot; its version is the lease epoch |
//! | `task#{id}` | `checkpoint#{topic}#{partition}` | next source offset to copy |
//! | `task#{id}` | `mapping#{topic}#{partition}#{source offset}` | source offset → target offset samples |
//! | `task#{id}` | `event#{at}#{uuid}` | the event center (expires after 30 days) |
//! | `task#{id}` | `seen#{topic}` | source topics metadata sync has initialized |
//! | `task#{id}` | `progress#{part}` | progress documents (`metadata`, `offsets`) |
//!
//! Every multi-item change is one conditional transaction: read, decide, write with the
//! versions read, and start over when another writer got there first.

pub mod backend;
pub mod dynamodb;
pub mod embedded;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

pub use backend::{Backend, BackendError, Condition, Item, Key, Order, Page, Write};

use crate::connection::ConnectionRecord;
use crate::lifecycle::TaskRecord;

/// Per-tenant limits (DESIGN §5).
pub const MAX_CONNECTIONS: u64 = 150;
pub const MAX_TASKS: u64 = 150;
/// Events are kept this long.
const EVENT_RETENTION_SECS: i64 = 30 * 24 * 3600;
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub level: Level,
    pub kind: String,
    pub message: String,
}

/// A worker's hold on one slot of a task. `epoch` is the lease item's version: any later
/// acquire or renew changes it, which is what fences an older holder out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub task_id: String,
    pub slot: u32,
    pub owner: String,
    pub epoch: u64,
    pub expires_at_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct LeaseBody {
    owner: String,
    expires_at_ms: i64,
}

/// Where a partition's copy has reached: the next source offset to copy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionRef {
    pub topic: String,
    pub partition: i32,
}

/// How far a partition's copy has come: the next source offset to copy, and how many
/// records and bytes were copied before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub next_offset: i64,
    #[serde(default)]
    pub copied: u64,
    #[serde(default)]
    pub bytes: u64,
    /// Topic-level tasks: messages skipped by the `discard` policy.
    #[serde(default)]
    pub discarded: u64,
    /// Topic-level tasks: messages sent to the dead-letter topic.
    #[serde(default)]
    pub dead_lettered: u64,
}

/// A source offset and the target offset the same record landed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetMapping {
    pub source_offset: i64,
    pub target_offset: i64,
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
            match self.backend.write(writes).await {
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
            self.backend.write(writes).await?;
        }
        Ok(())
    }

    // ---- events ----

    pub async fn add_event(
        &self,
        task_id: &str,
        level: Level,
        kind: &str,
        message: &str,
    ) -> Result<()> {
        let at = Utc::now();
        let event = Event {
            at,
            level,
            kind: kind.to_owned(),
            message: message.to_owned(),
        };
        let key = Key::new(
            task_pk(task_id),
            format!(
                "event#{:015}#{}",
                at.timestamp_millis(),
                uuid::Uuid::new_v4().simple()
            ),
        );
        self.backend
            .write(vec![Write::Put {
                key,
                body: encode(&event),
                expires_at: Some(at.timestamp() + EVENT_RETENTION_SECS),
                condition: Condition::Always,
            }])
            .await?;
        Ok(())
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
            self.backend.write(writes).await?;
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

    // ---- leases, checkpoints, offset mappings ----

    fn lease_key(task_id: &str, slot: u32) -> Key {
        Key::new(task_pk(task_id), format!("lease#{slot:05}"))
    }

    /// Takes the slot when it is free, expired, or already `owner`'s; `None` when another
    /// worker holds it.
    pub async fn acquire_lease(
        &self,
        task_id: &str,
        slot: u32,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<Option<Lease>> {
        let key = Self::lease_key(task_id, slot);
        let current = self.backend.get(&key).await?;
        let now = now_ms();
        let condition = match &current {
            None => Condition::Absent,
            Some(item) => {
                let body: LeaseBody = decode(item)?;
                if body.owner != owner && body.expires_at_ms > now {
                    return Ok(None);
                }
                Condition::Version(item.version)
            }
        };
        let body = LeaseBody {
            owner: owner.to_owned(),
            expires_at_ms: now + ttl_ms,
        };
        match self
            .backend
            .write(vec![Write::Put {
                key,
                body: encode(&body),
                expires_at: None,
                condition,
            }])
            .await
        {
            Ok(()) => Ok(Some(Lease {
                task_id: task_id.to_owned(),
                slot,
                owner: owner.to_owned(),
                epoch: condition.next_version(),
                expires_at_ms: body.expires_at_ms,
            })),
            // Someone else acquired it between our read and write.
            Err(BackendError::ConditionFailed) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Drops every task's leases: for a store only one process can open (the embedded
    /// file), whatever leases it holds were left by a process that is gone, and its
    /// successor need not wait for them to expire.
    pub async fn drop_all_leases(&self) -> Result<()> {
        for (_, task) in self.all_tasks().await? {
            for lease in self.query_all(&task_pk(&task.id), "lease#").await? {
                self.backend
                    .write(vec![Write::Delete {
                        key: lease.key,
                        condition: Condition::Version(lease.version),
                    }])
                    .await?;
            }
        }
        Ok(())
    }

    /// The slot's current lease, live or expired.
    pub async fn lease(&self, task_id: &str, slot: u32) -> Result<Option<Lease>> {
        let Some(item) = self.backend.get(&Self::lease_key(task_id, slot)).await? else {
            return Ok(None);
        };
        let body: LeaseBody = decode(&item)?;
        Ok(Some(Lease {
            task_id: task_id.to_owned(),
            slot,
            owner: body.owner,
            epoch: item.version,
            expires_at_ms: body.expires_at_ms,
        }))
    }

    /// Extends the lease; fails with `Fenced` once another worker has taken it.
    pub async fn renew_lease(&self, lease: &mut Lease, ttl_ms: i64) -> Result<()> {
        let condition = Condition::Version(lease.epoch);
        let expires_at_ms = now_ms() + ttl_ms;
        self.fenced(
            lease,
            vec![Write::Put {
                key: Self::lease_key(&lease.task_id, lease.slot),
                body: encode(&LeaseBody {
                    owner: lease.owner.clone(),
                    expires_at_ms,
                }),
                expires_at: None,
                condition,
            }],
        )
        .await?;
        lease.epoch = condition.next_version();
        lease.expires_at_ms = expires_at_ms;
        Ok(())
    }

    /// Gives the slot up so the next worker need not wait for expiry.
    pub async fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.fenced(
            lease,
            vec![Write::Delete {
                key: Self::lease_key(&lease.task_id, lease.slot),
                condition: Condition::Version(lease.epoch),
            }],
        )
        .await
    }

    async fn fenced(&self, lease: &Lease, writes: Vec<Write>) -> Result<()> {
        match self.backend.write(writes).await {
            Err(BackendError::ConditionFailed) => Err(StoreError::Fenced {
                task: lease.task_id.clone(),
                slot: lease.slot,
            }),
            other => Ok(other?),
        }
    }

    /// Records checkpoints and offset-mapping samples, only while `lease` is still held:
    /// a worker that lost its slot writes nothing.
    pub async fn commit_checkpoints(
        &self,
        lease: &Lease,
        checkpoints: &[(PartitionRef, Checkpoint)],
        mappings: &[(PartitionRef, OffsetMapping)],
    ) -> Result<()> {
        let writes = Self::checkpoint_writes(&lease.task_id, checkpoints, mappings);
        // One transaction holds 100 writes: the lease check and 99 more. Each chunk is
        // fenced on its own, so a chunk either lands under the lease or not at all.
        for chunk in writes.chunks(99) {
            let mut batch = vec![Write::Check {
                key: Self::lease_key(&lease.task_id, lease.slot),
                condition: Condition::Version(lease.epoch),
            }];
            batch.extend_from_slice(chunk);
            self.fenced(lease, batch).await?;
        }
        Ok(())
    }

    /// The starting positions of a new task (`latest`, or a start timestamp), written
    /// before any worker runs.
    pub async fn seed_checkpoints(
        &self,
        task_id: &str,
        checkpoints: &[(PartitionRef, Checkpoint)],
    ) -> Result<()> {
        for chunk in Self::checkpoint_writes(task_id, checkpoints, &[]).chunks(100) {
            self.backend.write(chunk.to_vec()).await?;
        }
        Ok(())
    }

    fn checkpoint_writes(
        task_id: &str,
        checkpoints: &[(PartitionRef, Checkpoint)],
        mappings: &[(PartitionRef, OffsetMapping)],
    ) -> Vec<Write> {
        let pk = task_pk(task_id);
        checkpoints
            .iter()
            .map(|(p, checkpoint)| Write::Put {
                key: Key::new(&pk, partition_sk("checkpoint", p)),
                body: encode(checkpoint),
                expires_at: None,
                condition: Condition::Always,
            })
            .chain(mappings.iter().map(|(p, m)| Write::Put {
                key: Key::new(&pk, mapping_sk(p, m.source_offset)),
                body: encode(m),
                expires_at: None,
                condition: Condition::Always,
            }))
            .collect()
    }

    pub async fn checkpoints(&self, task_id: &str) -> Result<BTreeMap<PartitionRef, Checkpoint>> {
        let mut checkpoints = BTreeMap::new();
        for item in self.query_all(&task_pk(task_id), "checkpoint#").await? {
            let (topic, partition) = item.key.sk["checkpoint#".len()..]
                .rsplit_once('#')
                .ok_or_else(|| StoreError::Corrupt(item.key.sk.clone()))?;
            let partition = partition
                .parse()
                .map_err(|_| StoreError::Corrupt(item.key.sk.clone()))?;
            checkpoints.insert(
                PartitionRef {
                    topic: topic.to_owned(),
                    partition,
                },
                decode(&item)?,
            );
        }
        Ok(checkpoints)
    }

    /// A partition's offset-mapping samples, in source-offset order.
    pub async fn mappings(
        &self,
        task_id: &str,
        partition: &PartitionRef,
    ) -> Result<Vec<OffsetMapping>> {
        let prefix = format!("{}#", partition_sk("mapping", partition));
        self.query_all(&task_pk(task_id), &prefix)
            .await?
            .iter()
            .map(decode)
            .collect()
    }
}

/// Where a store lives: `dynamodb://TABLE` (DynamoDB, or DynamoDB Local through
/// `DYNAMODB_ENDPOINT`), else the path of an embedded database file.
pub async fn open(location: &str) -> Result<Store> {
    let backend: Arc<dyn Backend> = match location.strip_prefix("dynamodb://") {
        Some(table) => {
            let client = dynamodb::DynamoBackend::client_from_env().await;
            Arc::new(dynamodb::DynamoBackend::connect(client, table).await?)
        }
        None => Arc::new(embedded::EmbeddedBackend::open(std::path::Path::new(
            location,
        ))?),
    };
    Ok(Store::new(backend))
}
