//! Exponential back-off per key, the way upstream's flowcontrol.Backoff behaves for
//! container restarts and image pulls: 10 s doubling to 5 min, forgotten once the key
//! has been quiet for twice the maximum.

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Entry {
    delay: Duration,
    last_update: Instant,
}

#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(INITIAL, MAX)
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    /// An entry older than twice the maximum no longer counts: a container that ran
    /// fine for 10 minutes starts again from the initial delay.
    fn expired(&self, entry: &Entry, event: Instant) -> bool {
        event.saturating_duration_since(entry.last_update) > self.max * 2
    }

    /// Whether `key` must still wait after an event (a container exit, a failed pull)
    /// at `event`; returns the remaining wait.
    pub fn remaining(&self, key: &str, event: Instant, now: Instant) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        if self.expired(entry, event) {
            return None;
        }
        let until = event + entry.delay;
        (now < until).then(|| until - now)
    }

    /// Records another attempt for `key` at `event`: the first (or first after a quiet
    /// spell) waits `initial`, each later one twice the previous, up to `max`.
    pub fn next(&mut self, key: &str, event: Instant) {
        let delay = match self.entries.get(key) {
            Some(e) if !self.expired(e, event) => (e.delay * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                delay,
                last_update: event,
            },
        );
    }

    /// The current delay of `key` (for "back-off 20s restarting …" messages).
    pub fn delay(&self, key: &str) -> Option<Duration> {
        self.entries.get(key).map(|e| e.delay)
    }

    pub fn forget(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

/// Converts a CRI timestamp (ns since the epoch) into an `Instant` on our clock, so
/// a container that exited before a kubelet restart is still backed off correctly.
pub fn instant_of(unix_nanos: i64, now: Instant) -> Instant {
    let now_wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let ago = now_wall.saturating_sub(unix_nanos).max(0) as u64;
    now.checked_sub(Duration::from_nanos(ago)).unwrap_or(now)
}

/// "10s", "1m20s", "5m0s": Go's Duration text, as upstream's messages print it.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        let mut delays = Vec::new();
        for i in 0..8 {
            let t = t0 + Duration::from_secs(i);
            b.next("c", t);
            delays.push(b.delay("c").unwrap().as_secs());
        }
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn remaining_counts_from_the_event() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        assert_eq!(b.remaining("c", t0, t0), None);
        b.next("c", t0);
        b.next("c", t0);
        // 20 s after the exit at t0.
        assert_eq!(
            b.remaining("c", t0, t0 + Duration::from_secs(5)),
            Some(Duration::from_secs(15))
        );
        assert_eq!(b.remaining("c", t0, t0 + Duration::from_secs(20)), None);
    }

    #[test]
    fn resets_after_a_quiet_spell() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        b.next("c", t0);
        b.next("c", t0);
        let later = t0 + Duration::from_secs(601);
        assert_eq!(b.remaining("c", later, later), None);
        b.next("c", later);
        assert_eq!(b.delay("c"), Some(INITIAL));
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    }
}
