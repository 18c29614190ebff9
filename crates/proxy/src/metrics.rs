//! Sync duration and network programming latency, kept as recent samples so a caller can
//! read percentiles (the lead exposes them; we log them at debug).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Samples kept per series; old ones fall off so percentiles describe recent behaviour.
const WINDOW: usize = 4096;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Samples ever recorded (not only those in the window).
    pub count: u64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

#[derive(Debug, Default)]
struct Series {
    total: u64,
    recent: VecDeque<Duration>,
}

impl Series {
    fn push(&mut self, d: Duration) {
        self.total += 1;
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(d);
    }

    fn summary(&self) -> Summary {
        let mut v: Vec<Duration> = self.recent.iter().copied().collect();
        v.sort();
        // Nearest-rank percentile over the window.
        let pct = |p: usize| -> Duration {
            if v.is_empty() {
                return Duration::ZERO;
            }
            let rank = (p * v.len()).div_ceil(100).max(1);
            v[rank - 1]
        };
        Summary {
            count: self.total,
            p50: pct(50),
            p90: pct(90),
            p99: pct(99),
            max: v.last().copied().unwrap_or_default(),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    sync: Series,
    programming: Series,
    last_error: Option<String>,
}

/// Cheap to clone; all clones share the same samples.
#[derive(Clone, Debug, Default)]
pub struct ProxyMetrics {
    inner: Arc<Mutex<Inner>>,
}

impl ProxyMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-update; the numbers stay usable.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Time from building the rules to the kernel holding them.
    pub fn record_sync(&self, d: Duration) {
        self.with(|i| i.sync.push(d));
    }

    /// Time from an endpoint change (its trigger time) to the rules being live.
    pub fn record_programming(&self, d: Duration) {
        self.with(|i| i.programming.push(d));
    }

    pub fn record_error(&self, e: Option<String>) {
        self.with(|i| i.last_error = e);
    }

    pub fn sync_duration(&self) -> Summary {
        self.with(|i| i.sync.summary())
    }

    pub fn programming_latency(&self) -> Summary {
        self.with(|i| i.programming.summary())
    }

    /// The error of the last sync, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.with(|i| i.last_error.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let m = ProxyMetrics::new();
        for ms in (1..=100).rev() {
            m.record_sync(Duration::from_millis(ms));
        }
        let s = m.sync_duration();
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p90, Duration::from_millis(90));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(m.programming_latency(), Summary::default());
    }

    #[test]
    fn window_drops_old_samples_but_counts_them() {
        let m = ProxyMetrics::new();
        for _ in 0..WINDOW {
            m.record_programming(Duration::from_secs(9));
        }
        for _ in 0..WINDOW {
            m.record_programming(Duration::from_millis(1));
        }
        let s = m.programming_latency();
        assert_eq!(s.count, 2 * WINDOW as u64);
        assert_eq!(s.max, Duration::from_millis(1));
    }
}
