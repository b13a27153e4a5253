//! Slot leases: which worker may copy a slot's partitions, fenced by epochs that never
//! repeat.
//!
//! A lease item is never deleted while its task exists: releasing it (or dropping it
//! after a restart) writes it back as released, under the version read. So the item's
//! version — the lease epoch — only ever grows per slot, and a stale holder's
//! `Condition::Version(epoch)` can never pass again after a release and a re-acquire
//! (a deleted item would restart at version 1: the ABA problem).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    BackendError, Condition, Key, Result, Store, StoreError, Write, decode, encode, now_ms, task_pk,
};

/// A worker's hold on one slot of a task. `epoch` is the lease item's version: any later
/// acquire, renew or release changes it, which is what fences an older holder out.
///
/// Renewals and commits check the epoch alone: a version is held by exactly one write
/// and versions never repeat, so the epoch a worker acquired or renewed at also names
/// that worker as the owner. The owner is kept in the item for the humans and for
/// `acquire_lease`, which lets an owner take back its own live lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub task_id: String,
    pub slot: u32,
    pub owner: String,
    pub epoch: u64,
    /// 0 once released: expired for every clock, however skewed.
    pub expires_at_ms: i64,
}

/// The `expires_at_ms` of a released lease.
const RELEASED: i64 = 0;

#[derive(Serialize, Deserialize)]
struct LeaseBody {
    owner: String,
    expires_at_ms: i64,
}

impl Store {
    pub(super) fn lease_key(task_id: &str, slot: u32) -> Key {
        Key::new(task_pk(task_id), format!("lease#{slot:05}"))
    }

    /// The write that gives the slot up: the item stays, so its version keeps growing.
    fn released(key: Key, owner: &str, version: u64) -> Write {
        Write::Put {
            key,
            body: encode(&LeaseBody {
                owner: owner.to_owned(),
                expires_at_ms: RELEASED,
            }),
            expires_at: None,
            condition: Condition::Version(version),
        }
    }

    /// Takes the slot when it is free (never held, released or expired) or already
    /// `owner`'s; `None` when another worker holds it.
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

    /// Releases every task's leases: for a store only one process can open (the embedded
    /// file), whatever leases it holds were left by a process that is gone, and its
    /// successor need not wait for them to expire.
    pub async fn drop_all_leases(&self) -> Result<()> {
        for (_, task) in self.all_tasks().await? {
            for item in self.query_all(&task_pk(&task.id), "lease#").await? {
                let body: LeaseBody = decode(&item)?;
                if body.expires_at_ms != RELEASED {
                    self.backend
                        .write(vec![Self::released(item.key, &body.owner, item.version)])
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// The slot's current lease, live, expired or released (then `expires_at_ms` is in
    /// the past too).
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

    /// Every slot's lease of the task, by slot, in one query: slots never held have none.
    pub async fn leases(&self, task_id: &str) -> Result<BTreeMap<u32, Lease>> {
        let mut leases = BTreeMap::new();
        for item in self.query_all(&task_pk(task_id), "lease#").await? {
            let Some(slot) = item
                .key
                .sk
                .strip_prefix("lease#")
                .and_then(|s| s.parse().ok())
            else {
                continue;
            };
            let body: LeaseBody = decode(&item)?;
            leases.insert(
                slot,
                Lease {
                    task_id: task_id.to_owned(),
                    slot,
                    owner: body.owner,
                    epoch: item.version,
                    expires_at_ms: body.expires_at_ms,
                },
            );
        }
        Ok(leases)
    }

    /// Extends the lease; fails with `Fenced` once it was released or another worker has
    /// taken it.
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

    /// Gives the slot up so the next worker need not wait for expiry; `lease` can no
    /// longer renew or commit.
    pub async fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.fenced(
            lease,
            vec![Self::released(
                Self::lease_key(&lease.task_id, lease.slot),
                &lease.owner,
                lease.epoch,
            )],
        )
        .await
    }

    /// Writes under `lease`: a failed condition means the lease is no longer held.
    pub(super) async fn fenced(&self, lease: &Lease, writes: Vec<Write>) -> Result<()> {
        match self.write(writes).await {
            Err(BackendError::ConditionFailed) => Err(StoreError::Fenced {
                task: lease.task_id.clone(),
                slot: lease.slot,
            }),
            other => Ok(other?),
        }
    }
}
