//! A keyed work queue like client-go's: a key queued many times is processed once, never
//! by two workers at the same time, and failures come back after a growing delay.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Default)]
struct State {
    dirty: HashSet<String>,
    processing: HashSet<String>,
    failures: HashMap<String, u32>,
}

pub(crate) struct Queue {
    tx: mpsc::UnboundedSender<String>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
    state: Mutex<State>,
}

const BASE_DELAY: Duration = Duration::from_millis(50);
const MAX_DELAY: Duration = Duration::from_secs(60);

/// Delay before the `failures`th retry: doubling from 50 ms, capped at a minute.
pub(crate) fn backoff(failures: u32) -> Duration {
    BASE_DELAY
        .checked_mul(1u32 << failures.min(20))
        .unwrap_or(MAX_DELAY)
        .min(MAX_DELAY)
}

impl Queue {
    pub(crate) fn new() -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            tx,
            rx: tokio::sync::Mutex::new(rx),
            state: Mutex::new(State::default()),
        })
    }

    pub(crate) fn add(&self, key: String) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if !s.dirty.insert(key.clone()) {
            return;
        }
        // A key being processed is re-sent when its worker finishes.
        if !s.processing.contains(&key) {
            let _ = self.tx.send(key);
        }
    }

    pub(crate) fn add_after(self: &Arc<Self>, key: String, delay: Duration) {
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(key);
        });
    }

    async fn get(&self) -> Option<String> {
        let key = self.rx.lock().await.recv().await?;
        if let Ok(mut s) = self.state.lock() {
            s.dirty.remove(&key);
            s.processing.insert(key.clone());
        }
        Some(key)
    }

    fn done(self: &Arc<Self>, key: &str, ok: bool) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        s.processing.remove(key);
        let retry = if ok {
            s.failures.remove(key);
            None
        } else {
            let n = s.failures.entry(key.to_string()).or_insert(0);
            *n += 1;
            Some(backoff(*n - 1))
        };
        if s.dirty.contains(key) {
            let _ = self.tx.send(key.to_string());
        }
        drop(s);
        if let Some(delay) = retry {
            self.add_after(key.to_string(), delay);
        }
    }

    /// Runs `workers` loops calling `sync` for each key, forever.
    pub(crate) async fn run<F, Fut, E>(self: Arc<Self>, workers: usize, sync: F)
    where
        F: Fn(String) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send,
        E: std::fmt::Display,
    {
        let loops = (0..workers.max(1)).map(|_| {
            let (queue, sync) = (self.clone(), sync.clone());
            async move {
                while let Some(key) = queue.get().await {
                    let result = sync(key.clone()).await;
                    if let Err(e) = &result {
                        tracing::debug!(key, error = %e, "sync failed; will retry");
                    }
                    queue.done(&key, result.is_ok());
                }
            }
        });
        futures::future::join_all(loops).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(50));
        assert_eq!(backoff(3), Duration::from_millis(400));
        assert_eq!(backoff(40), MAX_DELAY);
    }

    #[tokio::test]
    async fn duplicates_collapse_and_keys_in_flight_are_redelivered() {
        let q = Queue::new();
        q.add("a".into());
        q.add("a".into());
        q.add("b".into());
        let first = q.get().await.unwrap();
        assert_eq!(first, "a");
        // Re-added while processing: not delivered until done.
        q.add("a".into());
        assert_eq!(q.get().await.unwrap(), "b");
        q.done("b", true);
        q.done("a", true);
        assert_eq!(q.get().await.unwrap(), "a");
        q.done("a", true);
        assert!(q.rx.lock().await.try_recv().is_err());
    }
}
