//! The embedded store of `kafka-sync local`: one redb database file. A redb write
//! transaction is serialized and atomic, which gives conditional writes directly.
//! `expires_at` works as DynamoDB's TTL: reads skip expired items, and opening the file
//! deletes them.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::backend::{Backend, BackendError, Item, Key, Order, Page, Write, now_secs};

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");

#[derive(Serialize, Deserialize)]
struct Stored {
    body: Value,
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

#[derive(Clone)]
pub struct EmbeddedBackend {
    db: Arc<Database>,
}

fn other(error: impl std::fmt::Display) -> BackendError {
    BackendError::Other(error.to_string())
}

const CACHE_BYTES: usize = 4 * 1024 * 1024;

impl EmbeddedBackend {
    /// Opens the database file, creating it (and its folder) when missing.
    pub fn open(path: &Path) -> Result<Self, BackendError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(other)?;
        }
        // The store holds little (tasks, leases, checkpoints, samples); redb's default
        // page cache may grow to 1 GiB, which `kafka-sync local` would carry as memory.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(other)?;
        let txn = db.begin_write().map_err(other)?;
        {
            let mut table = txn.open_table(ITEMS).map_err(other)?;
            let now = now_secs();
            // An unreadable item is kept: the read that meets it reports it.
            table
                .retain(|(pk, sk), bytes| {
                    decode(Key::new(pk, sk), bytes).map_or(true, |item| !item.expired(now))
                })
                .map_err(other)?;
        }
        txn.commit().map_err(other)?;
        Ok(Self { db: Arc::new(db) })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Database) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || job(&db))
            .await
            .map_err(other)?
    }
}

fn decode(key: Key, bytes: &[u8]) -> Result<Item, BackendError> {
    let stored: Stored = serde_json::from_slice(bytes).map_err(other)?;
    Ok(Item {
        key,
        body: stored.body,
        version: stored.version,
        expires_at: stored.expires_at,
    })
}

#[async_trait]
impl Backend for EmbeddedBackend {
    async fn get(&self, key: &Key) -> Result<Option<Item>, BackendError> {
        let key = key.clone();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(other)?;
            let table = txn.open_table(ITEMS).map_err(other)?;
            let found = table
                .get((key.pk.as_str(), key.sk.as_str()))
                .map_err(other)?;
            let item = found.map(|v| decode(key, v.value())).transpose()?;
            Ok(item.filter(|item| !item.expired(now_secs())))
        })
        .await
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), BackendError> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(other)?;
            {
                let mut table = txn.open_table(ITEMS).map_err(other)?;
                for write in &writes {
                    let key = write.key();
                    let current = table
                        .get((key.pk.as_str(), key.sk.as_str()))
                        .map_err(other)?
                        .map(|v| decode(key.clone(), v.value()).map(|item| item.version))
                        .transpose()?;
                    if !write.condition().holds_for(current) {
                        // Dropping the transaction without commit discards every write.
                        return Err(BackendError::ConditionFailed);
                    }
                }
                for write in writes {
                    match write {
                        Write::Put {
                            key,
                            body,
                            expires_at,
                            condition,
                        } => {
                            let stored = Stored {
                                body,
                                version: condition.next_version(),
                                expires_at,
                            };
                            let bytes = serde_json::to_vec(&stored).map_err(other)?;
                            table
                                .insert((key.pk.as_str(), key.sk.as_str()), bytes.as_slice())
                                .map_err(other)?;
                        }
                        Write::Delete { key, .. } => {
                            table
                                .remove((key.pk.as_str(), key.sk.as_str()))
                                .map_err(other)?;
                        }
                        Write::Check { .. } => {}
                    }
                }
            }
            txn.commit().map_err(other)
        })
        .await
    }

    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        order: Order,
        limit: usize,
    ) -> Result<Page, BackendError> {
        let (pk, prefix, after) = (pk.to_owned(), prefix.to_owned(), after.map(str::to_owned));
        self.blocking(move |db| {
            let now = now_secs();
            let txn = db.begin_read().map_err(other)?;
            let table = txn.open_table(ITEMS).map_err(other)?;
            // Every sort key with this prefix sorts below prefix + U+10FFFF.
            let end = format!("{prefix}{}", char::MAX);
            let range = table
                .range((pk.as_str(), prefix.as_str())..(pk.as_str(), end.as_str()))
                .map_err(other)?;
            let entries: Box<dyn Iterator<Item = _>> = match order {
                Order::Ascending => Box::new(range),
                Order::Descending => Box::new(range.rev()),
            };
            let mut page = Page::default();
            for entry in entries {
                let (key, value) = entry.map_err(other)?;
                let sk = key.value().1.to_owned();
                let past_cursor = match (&after, order) {
                    (None, _) => true,
                    (Some(a), Order::Ascending) => sk.as_str() > a.as_str(),
                    (Some(a), Order::Descending) => sk.as_str() < a.as_str(),
                };
                if !past_cursor {
                    continue;
                }
                let item = decode(Key::new(pk.clone(), sk), value.value())?;
                if item.expired(now) {
                    continue;
                }
                if page.items.len() == limit {
                    page.next = page.items.last().map(|item| item.key.sk.clone());
                    break;
                }
                page.items.push(item);
            }
            Ok(page)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::Condition;

    #[tokio::test]
    async fn opening_deletes_expired_items() {
        let path = std::env::temp_dir().join(format!(
            "kafka-sync-embedded-{}.redb",
            uuid::Uuid::new_v4().simple()
        ));
        let now = now_secs();
        let put = |sk: &str, expires_at| Write::Put {
            key: Key::new("p", sk),
            body: Value::Null,
            expires_at,
            condition: Condition::Always,
        };
        let backend = EmbeddedBackend::open(&path).unwrap();
        backend
            .write(vec![
                put("expired", Some(now - 1)),
                put("later", Some(now + 3600)),
                put("kept", None),
            ])
            .await
            .unwrap();
        drop(backend);

        let reopened = EmbeddedBackend::open(&path).unwrap();
        let txn = reopened.db.begin_read().unwrap();
        let table = txn.open_table(ITEMS).unwrap();
        let stored: Vec<String> = table
            .iter()
            .unwrap()
            .map(|entry| entry.unwrap().0.value().1.to_owned())
            .collect();
        assert_eq!(stored, ["kept", "later"]);
        drop((table, txn, reopened));
        std::fs::remove_file(&path).unwrap();
    }
}
