//! The store alone (SqliteStore in this process, no HTTP) and the disk's raw
//! write+fdatasync rate in the same directory, to tell store cost from disk cost.

use crate::error::{BenchError, Result};
use crate::stats::Summary;
use bytes::Bytes;
use rkube_store::sqlite::SqliteStore;
use rkube_store::Store;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Concurrent `create` calls against one SqliteStore for `duration` (at most `max_ops`).
pub async fn commits(
    store: Arc<SqliteStore>,
    writers: usize,
    duration: Duration,
    max_ops: usize,
    tag: &str,
) -> Summary {
    let value = Bytes::from(vec![b'x'; 400]);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(writers);
    for _ in 0..writers {
        let (store, next, value) = (store.clone(), next.clone(), value.clone());
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0usize;
            let mut first_error = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max_ops || Instant::now() >= deadline {
                    break;
                }
                let key = format!("/registry/configmaps/bench/{tag}-{i}");
                let t0 = Instant::now();
                match store.create(&key, value.clone()).await {
                    Ok(_) => samples.push(t0.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            (samples, errors, first_error)
        }));
    }
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        if let Ok((s, e, f)) = task.await {
            samples.extend(s);
            errors += e;
            if first_error.is_none() {
                first_error = f;
            }
        } else {
            errors += 1;
        }
    }
    let mut summary = Summary::from_samples(samples, errors, started.elapsed());
    summary.first_error = first_error;
    summary
}

pub fn open_store(dir: &Path) -> Result<Arc<SqliteStore>> {
    std::fs::create_dir_all(dir).map_err(|e| BenchError::io(dir, e))?;
    Ok(Arc::new(SqliteStore::open(&dir.join("state.db"))?))
}

/// Overwrites one 4 KiB block and fdatasyncs it, in a loop, for `duration`: the rate an
/// fsync-per-commit design could reach on this disk at best.
pub fn fdatasync_rate(dir: &Path, duration: Duration, max_ops: usize) -> Result<Summary> {
    std::fs::create_dir_all(dir).map_err(|e| BenchError::io(dir, e))?;
    let path = dir.join("fdatasync.probe");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| BenchError::io(&path, e))?;
    let block = vec![0xa5u8; 4096];
    // Allocate the block first so the loop measures data syncs, not size changes.
    file.write_all_at(&block, 0)
        .and_then(|()| file.sync_all())
        .map_err(|e| BenchError::io(&path, e))?;
    let mut samples = Vec::new();
    let started = Instant::now();
    while samples.len() < max_ops && started.elapsed() < duration {
        let t0 = Instant::now();
        file.write_all_at(&block, 0)
            .and_then(|()| file.sync_data())
            .map_err(|e| BenchError::io(&path, e))?;
        samples.push(t0.elapsed());
    }
    let elapsed = started.elapsed();
    let _ = std::fs::remove_file(&path);
    Ok(Summary::from_samples(samples, 0, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdatasync_loop_respects_its_op_bound() {
        let dir = std::env::temp_dir().join(format!("rkube-bench-test-{}", std::process::id()));
        let s = fdatasync_rate(&dir, Duration::from_secs(5), 3).unwrap();
        assert_eq!(s.ok, 3);
        assert!(!dir.join("fdatasync.probe").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn store_commits_are_counted_and_readable() {
        let dir = std::env::temp_dir().join(format!("rkube-bench-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = open_store(&dir).unwrap();
        let s = commits(store.clone(), 4, Duration::from_secs(5), 20, "t").await;
        assert_eq!(s.ok, 20);
        assert_eq!(s.errors, 0);
        assert_eq!(store.current_revision(), 20);
        let page = store
            .list("/registry/configmaps/bench/", None, 0)
            .await
            .unwrap();
        assert_eq!(page.items.len(), 20);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
