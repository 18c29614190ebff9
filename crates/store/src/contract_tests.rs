//! The same behavioural contract checked against every backend.

use crate::memory::MemoryStore;
use crate::sqlite::SqliteStore;
use crate::{EventKind, Store, StoreError};
use bytes::Bytes;

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

async fn crud_and_cas(store: &dyn Store) {
    let r1 = store
        .create("/registry/pods/default/a", b("1"))
        .await
        .unwrap();
    assert_eq!(
        store.create("/registry/pods/default/a", b("x")).await,
        Err(StoreError::AlreadyExists("/registry/pods/default/a".into()))
    );
    let r2 = store
        .update("/registry/pods/default/a", b("2"), r1)
        .await
        .unwrap();
    assert!(r2 > r1);
    assert!(matches!(
        store.update("/registry/pods/default/a", b("3"), r1).await,
        Err(StoreError::Conflict { current, .. }) if current == r2
    ));
    let got = store
        .get("/registry/pods/default/a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.value, got.create_revision, got.mod_revision),
        (b("2"), r1, r2)
    );
    assert!(matches!(
        store.delete("/registry/pods/default/a", Some(r1)).await,
        Err(StoreError::Conflict { .. })
    ));
    let deleted = store
        .delete("/registry/pods/default/a", Some(r2))
        .await
        .unwrap();
    assert_eq!(deleted.value, b("2"));
    assert!(deleted.mod_revision > r2);
    assert_eq!(store.current_revision(), deleted.mod_revision);
    assert_eq!(store.get("/registry/pods/default/a").await.unwrap(), None);
    assert_eq!(
        store.update("/registry/pods/default/a", b("4"), r2).await,
        Err(StoreError::NotFound("/registry/pods/default/a".into()))
    );
}

async fn paging(store: &dyn Store) {
    for i in 0..5 {
        store
            .create(&format!("/registry/cm/ns/k{i}"), b("v"))
            .await
            .unwrap();
    }
    store
        .create("/registry/cm/ns2/other", b("v"))
        .await
        .unwrap();
    store.create("/registry/cmx/ns/k0", b("v")).await.unwrap();
    let page = store.list("/registry/cm/ns/", None, 2).await.unwrap();
    let keys: Vec<_> = page.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/registry/cm/ns/k0", "/registry/cm/ns/k1"]);
    assert!(page.more);
    assert_eq!(page.revision, store.current_revision());
    let rest = store
        .list("/registry/cm/ns/", Some("/registry/cm/ns/k1"), 0)
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 3);
    assert!(!rest.more);
    let all = store.list("/registry/cm/", None, 0).await.unwrap();
    assert_eq!(all.items.len(), 6);
}

async fn watch_replay_live_and_compaction(store: &dyn Store) {
    let r1 = store.create("/registry/a/x", b("1")).await.unwrap();
    let r2 = store.update("/registry/a/x", b("2"), r1).await.unwrap();
    store.create("/registry/b/y", b("1")).await.unwrap();
    let mut w = store.watch("/registry/a/", r1).await.unwrap();
    let ev = w.recv().await.unwrap();
    assert_eq!((ev.kind, ev.revision()), (EventKind::Put, r2));
    store.delete("/registry/a/x", None).await.unwrap();
    let ev = w.recv().await.unwrap();
    assert_eq!(ev.kind, EventKind::Delete);
    assert_eq!(ev.kv.value, b("2"));
    store.compact(r2).await.unwrap();
    assert!(matches!(
        store.watch("/registry/a/", r1).await,
        Err(StoreError::Compacted { .. })
    ));
    let mut w2 = store.watch("/registry/", r2).await.unwrap();
    assert_eq!(w2.recv().await.unwrap().kv.key, "/registry/b/y");
}

/// Compaction drops history, never a live value: keys written before it are still
/// read, listed, updated and deleted (with their last value) after it, twice over.
async fn values_outlive_compaction(store: &dyn Store) {
    let kept = store.create("/registry/c/kept", b("k1")).await.unwrap();
    let moved = store.create("/registry/c/moved", b("m1")).await.unwrap();
    let gone = store.create("/registry/c/gone", b("g1")).await.unwrap();
    store.compact(store.current_revision()).await.unwrap();
    let moved = store
        .update("/registry/c/moved", b("m2"), moved)
        .await
        .unwrap();
    let last = store.delete("/registry/c/gone", Some(gone)).await.unwrap();
    assert_eq!(last.value, b("g1"));
    store.compact(store.current_revision()).await.unwrap();
    let moved = store
        .update("/registry/c/moved", b("m3"), moved)
        .await
        .unwrap();
    store.compact(store.current_revision()).await.unwrap();
    let page = store.list("/registry/c/", None, 0).await.unwrap();
    let items: Vec<_> = page
        .items
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone(), kv.mod_revision))
        .collect();
    assert_eq!(
        items,
        [
            ("/registry/c/kept", b("k1"), kept),
            ("/registry/c/moved", b("m3"), moved)
        ]
    );
    let got = store.get("/registry/c/kept").await.unwrap().unwrap();
    assert_eq!((got.value, got.create_revision), (b("k1"), kept));
    assert_eq!(store.get("/registry/c/gone").await.unwrap(), None);
    let last = store.delete("/registry/c/kept", None).await.unwrap();
    assert_eq!(last.value, b("k1"));
}

async fn all(store: &dyn Store) {
    crud_and_cas(store).await;
    paging(store).await;
    watch_replay_live_and_compaction(store).await;
    values_outlive_compaction(store).await;
}

#[tokio::test]
async fn memory_backend() {
    all(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    all(&SqliteStore::open(&dir.path().join("db")).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_reopen_and_batches_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.create(&format!("/registry/k/{i:03}"), b("v")).await
        }));
    }
    let mut revs = Vec::new();
    for t in tasks {
        revs.push(t.await.unwrap().unwrap());
    }
    revs.sort();
    revs.dedup();
    assert_eq!(revs.len(), 64, "every write gets its own revision");
    let rev = store.current_revision();
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.current_revision(), rev);
    assert_eq!(
        reopened
            .list("/registry/k/", None, 0)
            .await
            .unwrap()
            .items
            .len(),
        64
    );
}

/// A store written by the layout that kept values in `current` opens with nothing lost,
/// including values whose log rows compaction had removed.
#[tokio::test]
async fn sqlite_opens_a_store_that_kept_values_in_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE current (key TEXT PRIMARY KEY, value BLOB NOT NULL,
             create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE log (rev INTEGER PRIMARY KEY, key TEXT NOT NULL, deleted INTEGER NOT NULL,
             created INTEGER NOT NULL, create_rev INTEGER NOT NULL, value BLOB NOT NULL);
         CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
         INSERT INTO meta VALUES ('revision', 4), ('compacted', 2);
         INSERT INTO current VALUES ('/registry/m/a', CAST('a2' AS BLOB), 1, 2), ('/registry/m/b', CAST('b1' AS BLOB), 4, 4);
         INSERT INTO log VALUES (3, '/registry/m/c', 0, 1, 3, CAST('c1' AS BLOB)), (4, '/registry/m/b', 0, 1, 4, CAST('b1' AS BLOB));",
    )
    .unwrap();
    drop(old);
    let store = SqliteStore::open(&path).unwrap();
    let page = store.list("/registry/m/", None, 0).await.unwrap();
    let items: Vec<_> = page
        .items
        .iter()
        .map(|kv| {
            (
                kv.key.as_str(),
                kv.value.clone(),
                kv.create_revision,
                kv.mod_revision,
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            ("/registry/m/a", b("a2"), 1, 2),
            ("/registry/m/b", b("b1"), 4, 4)
        ]
    );
    assert_eq!(page.revision, 4);
    store.update("/registry/m/a", b("a3"), 2).await.unwrap();
    let mut w = store.watch("/registry/m/", 2).await.unwrap();
    let replayed: Vec<_> = [
        w.recv().await.unwrap(),
        w.recv().await.unwrap(),
        w.recv().await.unwrap(),
    ]
    .iter()
    .map(|e| (e.kv.key.clone(), e.revision()))
    .collect();
    assert_eq!(
        replayed,
        [
            ("/registry/m/c".to_string(), 3),
            ("/registry/m/b".to_string(), 4),
            ("/registry/m/a".to_string(), 5)
        ]
    );
}

/// A compaction spanning several steps ends with every step done, writes interleaved
/// with it, and nothing live lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_compacts_in_steps() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
    let first = store.create("/registry/s/first", b("v")).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..50 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let key = format!("/registry/s/{t:02}-{i:03}");
                let rev = s.create(&key, b("1")).await.unwrap();
                s.update(&key, b("2"), rev).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let target = store.current_revision();
    assert!(target > 4 * super::sqlite::COMPACT_STEP);
    let compaction = store.compact(target);
    let during = store.create("/registry/s/during", b("d"));
    let (compacted, written) = tokio::join!(compaction, during);
    compacted.unwrap();
    written.unwrap();
    assert!(store.compacted_revision() >= target);
    assert!(matches!(
        store.watch("/registry/s/", first).await,
        Err(StoreError::Compacted { .. })
    ));
    let page = store.list("/registry/s/", None, 0).await.unwrap();
    assert_eq!(page.items.len(), 5_002);
    assert!(page
        .items
        .iter()
        .all(|kv| kv.value == b("2") || kv.key.ends_with("first") || kv.key.ends_with("during")));
}
