//! The revisioned key-value store under the API server.
//!
//! Semantics follow etcd v3 as the API server uses it: one global revision counter that
//! every write advances, compare-and-swap on an object's last-modified revision, ordered
//! range reads, and watches that replay history from a revision before going live.
//! Backends: [`sqlite::SqliteStore`] (default, durable, group commit) and
//! [`memory::MemoryStore`] (unit tests).

mod hub;
pub mod memory;
pub mod sqlite;

pub use hub::WatchReceiver;

use async_trait::async_trait;
use bytes::Bytes;

/// One stored key at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision at which the key was created (its current incarnation).
    pub create_revision: i64,
    /// Revision of the last write to the key; becomes `resourceVersion`.
    pub mod_revision: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// A change to one key. For deletes, `kv` holds the last value and `kv.mod_revision` is
/// the revision of the delete itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    /// True when the Put created the key.
    pub created: bool,
}

impl Event {
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// A page of a range read.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub items: Vec<KeyValue>,
    /// More keys follow the last item.
    pub more: bool,
    /// The store revision the page was read at.
    pub revision: i64,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("key {0} already exists")]
    AlreadyExists(String),
    #[error("key {0} not found")]
    NotFound(String),
    /// The key's current revision differs from the one the caller read.
    #[error("key {key} was modified (now at revision {current})")]
    Conflict { key: String, current: i64 },
    /// The requested revision is older than the oldest retained one.
    #[error("required revision {requested} has been compacted (oldest is {oldest})")]
    Compacted { requested: i64, oldest: i64 },
    #[error("storage backend: {0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The storage contract the API server is written against.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;
    /// Keys with `prefix`, in key order, strictly after `start_after` when given.
    /// `limit` 0 means no limit.
    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize)
        -> Result<ListPage>;
    /// Create `key`; fails with AlreadyExists if present. Returns the new revision.
    async fn create(&self, key: &str, value: Bytes) -> Result<i64>;
    /// Replace `key` if its mod_revision is still `expected`. Returns the new revision.
    async fn update(&self, key: &str, value: Bytes, expected: i64) -> Result<i64>;
    /// Delete `key`, guarded by its mod_revision when `expected` is given. Returns the
    /// deleted value with `mod_revision` set to the delete's revision.
    async fn delete(&self, key: &str, expected: Option<i64>) -> Result<KeyValue>;
    /// Events under `prefix` with revision greater than `after`, then live ones.
    async fn watch(&self, prefix: &str, after: i64) -> Result<WatchReceiver>;
    /// Forget history at and below `revision`.
    async fn compact(&self, revision: i64) -> Result<()>;
    /// The newest committed revision.
    fn current_revision(&self) -> i64;
    /// The oldest revision a watch may start after.
    fn compacted_revision(&self) -> i64;
}

/// A write the backends execute; batching several lets the SQLite backend share one
/// fsync between concurrent callers.
#[derive(Debug, Clone)]
pub(crate) enum WriteOp {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: i64,
    },
    Delete {
        key: String,
        expected: Option<i64>,
    },
}

/// The smallest key greater than every key with `prefix`, for half-open range scans.
pub(crate) fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_string();
    end.push(char::MAX);
    end
}

#[cfg(test)]
mod contract_tests;
