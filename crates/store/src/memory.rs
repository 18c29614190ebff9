//! An in-memory backend with the same semantics as SQLite, for unit tests.

use crate::hub::{Hub, WatchReceiver};
use crate::{prefix_end, Event, EventKind, KeyValue, ListPage, Result, Store, StoreError, WriteOp};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
struct State {
    current: BTreeMap<String, KeyValue>,
    log: Vec<Event>,
    revision: i64,
    compacted: i64,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    hub: Hub,
    revision: AtomicI64,
    compacted: AtomicI64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
    }

    fn write(&self, op: WriteOp) -> Result<Event> {
        let mut st = self.lock()?;
        let rev = st.revision + 1;
        let event = match op {
            WriteOp::Create { key, value } => {
                if st.current.contains_key(&key) {
                    return Err(StoreError::AlreadyExists(key));
                }
                let kv = KeyValue {
                    key: key.clone(),
                    value,
                    create_revision: rev,
                    mod_revision: rev,
                };
                st.current.insert(key, kv.clone());
                Event {
                    kind: EventKind::Put,
                    kv,
                    created: true,
                }
            }
            WriteOp::Update {
                key,
                value,
                expected,
            } => {
                let Some(existing) = st.current.get_mut(&key) else {
                    return Err(StoreError::NotFound(key));
                };
                if existing.mod_revision != expected {
                    let current = existing.mod_revision;
                    return Err(StoreError::Conflict { key, current });
                }
                existing.value = value;
                existing.mod_revision = rev;
                Event {
                    kind: EventKind::Put,
                    kv: existing.clone(),
                    created: false,
                }
            }
            WriteOp::Delete { key, expected } => {
                let Some(existing) = st.current.get(&key) else {
                    return Err(StoreError::NotFound(key));
                };
                if let Some(expected) = expected {
                    if existing.mod_revision != expected {
                        let current = existing.mod_revision;
                        return Err(StoreError::Conflict { key, current });
                    }
                }
                let mut kv = st.current.remove(&key).ok_or(StoreError::NotFound(key))?;
                kv.mod_revision = rev;
                Event {
                    kind: EventKind::Delete,
                    kv,
                    created: false,
                }
            }
        };
        st.revision = rev;
        st.log.push(event.clone());
        self.revision.store(rev, Ordering::Release);
        drop(st);
        self.hub.publish(std::slice::from_ref(&event));
        Ok(event)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.lock()?.current.get(key).cloned())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage> {
        let st = self.lock()?;
        let end = prefix_end(prefix);
        let mut items = Vec::new();
        let mut more = false;
        for (k, kv) in st.current.range(prefix.to_string()..end) {
            if start_after.is_some_and(|s| k.as_str() <= s) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                more = true;
                break;
            }
            items.push(kv.clone());
        }
        Ok(ListPage {
            items,
            more,
            revision: st.revision,
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<i64> {
        let key = key.to_string();
        self.write(WriteOp::Create { key, value })
            .map(|e| e.revision())
    }

    async fn update(&self, key: &str, value: Bytes, expected: i64) -> Result<i64> {
        let key = key.to_string();
        self.write(WriteOp::Update {
            key,
            value,
            expected,
        })
        .map(|e| e.revision())
    }

    async fn delete(&self, key: &str, expected: Option<i64>) -> Result<KeyValue> {
        let key = key.to_string();
        self.write(WriteOp::Delete { key, expected }).map(|e| e.kv)
    }

    async fn watch(&self, prefix: &str, after: i64) -> Result<WatchReceiver> {
        self.hub.subscribe(prefix, after, || {
            let st = self.lock()?;
            if after < st.compacted {
                return Err(StoreError::Compacted {
                    requested: after,
                    oldest: st.compacted,
                });
            }
            Ok(st
                .log
                .iter()
                .filter(|e| e.revision() > after)
                .cloned()
                .collect())
        })
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let mut st = self.lock()?;
        let revision = revision.min(st.revision);
        st.log.retain(|e| e.revision() > revision);
        st.compacted = st.compacted.max(revision);
        self.compacted.store(st.compacted, Ordering::Release);
        Ok(())
    }

    fn current_revision(&self) -> i64 {
        self.revision.load(Ordering::Acquire)
    }

    fn compacted_revision(&self) -> i64 {
        self.compacted.load(Ordering::Acquire)
    }
}
