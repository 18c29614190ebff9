//! The default backend: SQLite in WAL mode with a revision log and group commit.
//!
//! One writer thread owns the write connection. Callers queue their writes; the thread
//! takes every queued write, applies them in one transaction and commits once, so
//! concurrent writers share one fsync (`synchronous=FULL`: an acknowledged write is on
//! disk). `log` holds every revision not yet compacted, which is what watches replay,
//! and it is also where values live: `current` maps each live key to the revision that
//! holds its value, so an update appends one row and rewrites a few bytes of a small
//! index instead of moving the whole object through a B-tree of large rows (that was
//! three times the CPU per write). Compaction therefore keeps the log rows that are
//! some key's current value.

use crate::hub::{Hub, WatchReceiver};
use crate::{prefix_end, Event, EventKind, KeyValue, ListPage, Result, Store, StoreError, WriteOp};
use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// Upper bound of writes committed in one transaction.
const MAX_BATCH: usize = 4096;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS current (
    key TEXT PRIMARY KEY, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
    rev INTEGER PRIMARY KEY, key TEXT NOT NULL, deleted INTEGER NOT NULL,
    created INTEGER NOT NULL, create_rev INTEGER NOT NULL, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('revision', 0), ('compacted', 0);
";

/// Stores written before values moved to the log kept them in `current`: copy each
/// into the log at its revision (compaction may have removed that row), then keep only
/// the keys and revisions.
const MIGRATE_VALUES_TO_LOG: &str = "
BEGIN IMMEDIATE;
INSERT OR IGNORE INTO log
    SELECT mod_rev, key, 0, mod_rev = create_rev, create_rev, value FROM current;
CREATE TABLE current_keys (
    key TEXT PRIMARY KEY, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO current_keys SELECT key, create_rev, mod_rev FROM current;
DROP TABLE current;
ALTER TABLE current_keys RENAME TO current;
COMMIT;
";

/// A live key's row joined with the log row holding its value.
const SELECT_LIVE: &str = "SELECT c.key, l.value, c.create_rev, c.mod_rev
     FROM current c CROSS JOIN log l ON l.rev = c.mod_rev";

enum Request {
    Write(WriteOp, oneshot::Sender<Result<Event>>),
    Compact(i64, oneshot::Sender<Result<()>>),
}

struct Shared {
    hub: Hub,
    revision: AtomicI64,
    compacted: AtomicI64,
}

pub struct SqliteStore {
    reader: Mutex<Connection>,
    writer: mpsc::Sender<Request>,
    shared: Arc<Shared>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;",
    )
    .map_err(backend)?;
    Ok(conn)
}

fn meta(conn: &Connection, name: &str) -> Result<i64> {
    conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .map_err(backend)
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self> {
        let write_conn = open(path)?;
        // Checkpoint every ~32 MiB of WAL instead of SQLite's 4 MiB: the same pages (the
        // revision row, index pages) are rewritten by every commit, and a rarer
        // checkpoint copies each of them once instead of once per 1,000 pages. And a
        // 32 MiB page cache instead of 2 MiB: a batch touches a few hundred pages of
        // `current` and the log's tail, and pages evicted between batches were read
        // back from the file with a system call each.
        write_conn
            .execute_batch("PRAGMA wal_autocheckpoint=8192; PRAGMA cache_size=-32768;")
            .map_err(backend)?;
        write_conn.execute_batch(SCHEMA).map_err(backend)?;
        let values_in_current: bool = write_conn
            .query_row(
                "SELECT count(*) > 0 FROM pragma_table_info('current') WHERE name = 'value'",
                [],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if values_in_current {
            tracing::info!("moving stored values from `current` to the revision log");
            write_conn
                .execute_batch(MIGRATE_VALUES_TO_LOG)
                .map_err(backend)?;
        }
        let shared = Arc::new(Shared {
            hub: Hub::default(),
            revision: AtomicI64::new(meta(&write_conn, "revision")?),
            compacted: AtomicI64::new(meta(&write_conn, "compacted")?),
        });
        let reader = open(path)?;
        let (tx, rx) = mpsc::channel();
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(write_conn, rx, thread_shared))
            .map_err(backend)?;
        Ok(Self {
            reader: Mutex::new(reader),
            writer: tx,
            shared,
        })
    }

    fn reader(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.reader
            .lock()
            .map_err(|_| backend("reader lock poisoned"))
    }

    fn send(&self, req: Request) -> Result<()> {
        self.writer
            .send(req)
            .map_err(|_| backend("sqlite writer stopped"))
    }

    async fn write(&self, op: WriteOp) -> Result<Event> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Write(op, tx))?;
        rx.await.map_err(|_| backend("sqlite writer stopped"))?
    }
}

/// Revisions one compaction step removes; writes queued meanwhile wait for one step
/// only, not for the whole compaction (a minute of a busy cluster's history took over a
/// second to delete in one go).
pub(crate) const COMPACT_STEP: i64 = 2_000;

/// A compaction under way: its target and who waits for it.
type Compaction = (i64, Vec<oneshot::Sender<Result<()>>>);

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Request>, shared: Arc<Shared>) {
    let mut compaction: Option<Compaction> = None;
    loop {
        let first = if compaction.is_some() {
            match rx.try_recv() {
                Ok(req) => Some(req),
                Err(mpsc::TryRecvError::Empty) => None,
                Err(mpsc::TryRecvError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(req) => Some(req),
                Err(_) => return,
            }
        };
        let mut writes = Vec::new();
        let mut next = first;
        while let Some(req) = next {
            match req {
                Request::Write(op, reply) => writes.push((op, reply)),
                Request::Compact(rev, reply) => {
                    // Never beyond what exists, so every step makes progress.
                    let rev = rev.min(shared.revision.load(Ordering::Acquire));
                    let (target, waiting) = compaction.get_or_insert((rev, Vec::new()));
                    *target = (*target).max(rev);
                    waiting.push(reply);
                }
            }
            next = if writes.len() < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !writes.is_empty() {
            commit_batch(&mut conn, writes, &shared);
        }
        if let Some((target, waiting)) = compaction.take() {
            let step = shared.compacted.load(Ordering::Acquire) + COMPACT_STEP;
            match compact(&conn, target.min(step), &shared) {
                Ok(()) if target > step => compaction = Some((target, waiting)),
                result => {
                    for reply in waiting {
                        let _ = reply.send(result.clone());
                    }
                }
            }
        }
    }
}

fn commit_batch(
    conn: &mut Connection,
    writes: Vec<(WriteOp, oneshot::Sender<Result<Event>>)>,
    shared: &Shared,
) {
    let start_rev = shared.revision.load(Ordering::Acquire);
    let compacted = shared.compacted.load(Ordering::Acquire);
    let outcome = (|| -> rusqlite::Result<(Vec<Result<Event>>, i64)> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut rev = start_rev;
        let mut results = Vec::with_capacity(writes.len());
        for (op, _) in &writes {
            let result = apply(&tx, op, rev + 1, compacted)?;
            if result.is_ok() {
                rev += 1;
            }
            results.push(result);
        }
        tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'revision'")?
            .execute([rev])?;
        tx.commit()?;
        Ok((results, rev))
    })();
    match outcome {
        Ok((results, rev)) => {
            shared.revision.store(rev, Ordering::Release);
            let events: Vec<Event> = results.iter().filter_map(|r| r.clone().ok()).collect();
            shared.hub.publish(&events);
            for ((_, reply), result) in writes.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "sqlite commit failed");
            for (_, reply) in writes {
                let _ = reply.send(Err(backend(&e)));
            }
        }
    }
}

/// Applies one write at revision `rev`. The outer error aborts the whole batch (SQLite
/// failed); the inner one is the caller's precondition failing, which writes nothing.
fn apply(
    conn: &Connection,
    op: &WriteOp,
    rev: i64,
    compacted: i64,
) -> rusqlite::Result<Result<Event>> {
    let key = match op {
        WriteOp::Create { key, .. } | WriteOp::Update { key, .. } | WriteOp::Delete { key, .. } => {
            key
        }
    };
    let existing: Option<(i64, i64)> = conn
        .prepare_cached("SELECT create_rev, mod_rev FROM current WHERE key = ?1")?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (event, previous) = match (op, existing) {
        (WriteOp::Create { .. }, Some(_)) => {
            return Ok(Err(StoreError::AlreadyExists(key.clone())))
        }
        (WriteOp::Update { .. } | WriteOp::Delete { .. }, None) => {
            return Ok(Err(StoreError::NotFound(key.clone())))
        }
        (WriteOp::Update { expected, .. }, Some((_, current)))
        | (
            WriteOp::Delete {
                expected: Some(expected),
                ..
            },
            Some((_, current)),
        ) if current != *expected => {
            return Ok(Err(StoreError::Conflict {
                key: key.clone(),
                current,
            }))
        }
        (WriteOp::Create { value, .. }, None) => {
            conn.prepare_cached("INSERT INTO current VALUES (?1, ?2, ?2)")?
                .execute(params![key, rev])?;
            (put_event(key, value, rev, rev, true), None)
        }
        (WriteOp::Update { value, .. }, Some((create_rev, previous))) => {
            conn.prepare_cached("UPDATE current SET mod_rev = ?2 WHERE key = ?1")?
                .execute(params![key, rev])?;
            (
                put_event(key, value, create_rev, rev, false),
                Some(previous),
            )
        }
        (WriteOp::Delete { .. }, Some((create_rev, previous))) => {
            // The deletion's event carries the last value, as etcd's does. A missing
            // row would be a broken store; the delete still goes ahead (failing here
            // would fail every write of the batch).
            let old: Vec<u8> = conn
                .prepare_cached("SELECT value FROM log WHERE rev = ?1")?
                .query_row([previous], |r| r.get(0))
                .optional()?
                .unwrap_or_else(|| {
                    tracing::warn!(key = %key, revision = previous, "no stored value");
                    Vec::new()
                });
            conn.prepare_cached("DELETE FROM current WHERE key = ?1")?
                .execute([key])?;
            let kv = KeyValue {
                key: key.clone(),
                value: Bytes::from(old),
                create_revision: create_rev,
                mod_revision: rev,
            };
            let event = Event {
                kind: EventKind::Delete,
                kv,
                created: false,
            };
            (event, Some(previous))
        }
    };
    // A value older than the compacted revision was kept only because it was current.
    if let Some(previous) = previous.filter(|p| *p <= compacted) {
        conn.prepare_cached("DELETE FROM log WHERE rev = ?1")?
            .execute([previous])?;
    }
    conn.prepare_cached("INSERT INTO log VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![
            rev,
            key,
            event.kind == EventKind::Delete,
            event.created,
            event.kv.create_revision,
            &event.kv.value[..]
        ])?;
    Ok(Ok(event))
}

fn put_event(key: &str, value: &Bytes, create_rev: i64, rev: i64, created: bool) -> Event {
    Event {
        kind: EventKind::Put,
        kv: KeyValue {
            key: key.to_string(),
            value: value.clone(),
            create_revision: create_rev,
            mod_revision: rev,
        },
        created,
    }
}

fn compact(conn: &Connection, revision: i64, shared: &Shared) -> Result<()> {
    let revision = revision.min(shared.revision.load(Ordering::Acquire));
    let previous = shared.compacted.load(Ordering::Acquire);
    if revision <= previous {
        return Ok(());
    }
    // One transaction, so the recorded compacted revision never lags the deleted rows
    // (a watch from between them would silently miss events). Rows at or below the
    // previous compaction are already only current values.
    let tx = conn.unchecked_transaction().map_err(backend)?;
    tx.execute(
        "DELETE FROM log WHERE rev > ?1 AND rev <= ?2 AND NOT EXISTS
             (SELECT 1 FROM current c WHERE c.key = log.key AND c.mod_rev = log.rev)",
        [previous, revision],
    )
    .map_err(backend)?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'compacted'",
        [revision],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    shared.compacted.store(revision, Ordering::Release);
    Ok(())
}

fn row_kv(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: r.get(0)?,
        value: Bytes::from(r.get::<_, Vec<u8>>(1)?),
        create_revision: r.get(2)?,
        mod_revision: r.get(3)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let conn = self.reader()?;
        conn.prepare_cached(&format!("{SELECT_LIVE} WHERE c.key = ?1"))
            .and_then(|mut s| s.query_row([key], row_kv).optional())
            .map_err(backend)
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage> {
        let conn = self.reader()?;
        let end = prefix_end(prefix);
        let from = start_after.unwrap_or("");
        // One row beyond the limit tells whether more follow.
        let fetch = if limit == 0 { -1 } else { limit as i64 + 1 };
        let read = || -> rusqlite::Result<ListPage> {
            let tx = conn.unchecked_transaction()?;
            let revision: i64 =
                tx.query_row("SELECT value FROM meta WHERE name = 'revision'", [], |r| {
                    r.get(0)
                })?;
            let mut stmt = tx.prepare_cached(&format!(
                "{SELECT_LIVE} WHERE c.key >= ?1 AND c.key < ?2 AND c.key > ?3
                 ORDER BY c.key LIMIT ?4"
            ))?;
            let mut items = stmt
                .query_map(params![prefix, end, from, fetch], row_kv)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let more = limit > 0 && items.len() > limit;
            items.truncate(if limit == 0 { items.len() } else { limit });
            drop(stmt);
            tx.finish()?;
            Ok(ListPage {
                items,
                more,
                revision,
            })
        };
        read().map_err(backend)
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<i64> {
        let key = key.to_string();
        self.write(WriteOp::Create { key, value })
            .await
            .map(|e| e.revision())
    }

    async fn update(&self, key: &str, value: Bytes, expected: i64) -> Result<i64> {
        let key = key.to_string();
        let op = WriteOp::Update {
            key,
            value,
            expected,
        };
        self.write(op).await.map(|e| e.revision())
    }

    async fn delete(&self, key: &str, expected: Option<i64>) -> Result<KeyValue> {
        let key = key.to_string();
        self.write(WriteOp::Delete { key, expected })
            .await
            .map(|e| e.kv)
    }

    async fn watch(&self, prefix: &str, after: i64) -> Result<WatchReceiver> {
        self.shared.hub.subscribe(prefix, after, || {
            let compacted = self.shared.compacted.load(Ordering::Acquire);
            if after < compacted {
                return Err(StoreError::Compacted {
                    requested: after,
                    oldest: compacted,
                });
            }
            let conn = self.reader()?;
            let end = prefix_end(prefix);
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key, value, create_rev, rev, deleted, created FROM log
                     WHERE rev > ?1 AND key >= ?2 AND key < ?3 ORDER BY rev",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![after, prefix, end], |r| {
                    let kv = row_kv(r)?;
                    let deleted: bool = r.get(4)?;
                    Ok(Event {
                        kind: if deleted {
                            EventKind::Delete
                        } else {
                            EventKind::Put
                        },
                        kv,
                        created: r.get(5)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Compact(revision, tx))?;
        rx.await.map_err(|_| backend("sqlite writer stopped"))?
    }

    fn current_revision(&self) -> i64 {
        self.shared.revision.load(Ordering::Acquire)
    }

    fn compacted_revision(&self) -> i64 {
        self.shared.compacted.load(Ordering::Acquire)
    }
}
