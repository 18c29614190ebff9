//! Fan-out of committed events to watchers.

use crate::{Event, StoreError};
use std::sync::Mutex;
use tokio::sync::mpsc;

pub type WatchReceiver = mpsc::UnboundedReceiver<Event>;

struct Subscriber {
    prefix: String,
    tx: mpsc::UnboundedSender<Event>,
    /// Highest revision already delivered: a commit that landed in the replay and is
    /// published afterwards must not be delivered twice.
    delivered: i64,
}

/// Registered watchers. Replay and registration happen under one lock, and publishing takes
/// the same lock, so no event falls between replay and live delivery.
#[derive(Default)]
pub(crate) struct Hub {
    subscribers: Mutex<Vec<Subscriber>>,
}

impl Hub {
    /// Registers a watcher: `replay` runs under the hub lock and returns the history to
    /// deliver first.
    pub(crate) fn subscribe(
        &self,
        prefix: &str,
        after: i64,
        replay: impl FnOnce() -> Result<Vec<Event>, StoreError>,
    ) -> Result<WatchReceiver, StoreError> {
        let mut subs = self
            .subscribers
            .lock()
            .map_err(|_| StoreError::Backend("watch hub lock poisoned".into()))?;
        let history = replay()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut delivered = after;
        for ev in history {
            delivered = delivered.max(ev.revision());
            if ev.kv.key.starts_with(prefix) {
                let _ = tx.send(ev);
            }
        }
        subs.push(Subscriber {
            prefix: prefix.to_string(),
            tx,
            delivered,
        });
        Ok(rx)
    }

    pub(crate) fn publish(&self, events: &[Event]) {
        let Ok(mut subs) = self.subscribers.lock() else {
            return;
        };
        subs.retain_mut(|s| {
            for ev in events {
                if ev.revision() <= s.delivered {
                    continue;
                }
                s.delivered = ev.revision();
                if ev.kv.key.starts_with(&s.prefix) && s.tx.send(ev.clone()).is_err() {
                    return false;
                }
            }
            !s.tx.is_closed()
        });
    }
}
