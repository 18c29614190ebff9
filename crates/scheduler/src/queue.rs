//! The scheduling queue (after upstream's backend/queue): an active heap ordered by
//! priority then arrival, a back-off queue (1 s doubling to 10 s per failed attempt), and
//! a pool of unschedulable pods that cluster events move back when they could help.

use crate::podinfo::PodInfo;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Unschedulable pods are retried at least this often even without a cluster event.
pub const MAX_UNSCHEDULABLE_STAY: Duration = Duration::from_secs(60);

/// Changes in the cluster that can make pending pods schedulable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A node appeared or changed labels, taints, allocatable or cordoning.
    NodeChanged,
    /// A pod left a node, freeing its resources, ports and domains.
    AssignedPodDeleted,
    /// A pod landed on a node; may satisfy affinity or spreading.
    AssignedPodAdded,
}

impl ClusterEvent {
    /// Whether a pod rejected by `plugins` might now fit (upstream's queueing hints,
    /// simplified to plugin granularity).
    fn may_help(self, plugins: &BTreeSet<&'static str>) -> bool {
        let relevant: &[&str] = match self {
            ClusterEvent::NodeChanged => return true,
            ClusterEvent::AssignedPodDeleted => &[
                "NodeResourcesFit",
                "NodePorts",
                "InterPodAffinity",
                "PodTopologySpread",
            ],
            ClusterEvent::AssignedPodAdded => &["InterPodAffinity", "PodTopologySpread"],
        };
        plugins.is_empty() || plugins.iter().any(|p| relevant.contains(p))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Place {
    Active,
    Backoff(Instant),
    Unschedulable {
        since: Instant,
        plugins: BTreeSet<&'static str>,
    },
    InFlight,
}

struct Entry {
    info: Arc<PodInfo>,
    attempts: u32,
    last_attempt: Option<Instant>,
    place: Place,
    seq: u64,
    /// Value of `moves` when popped: a move while in flight means retry soon.
    moves_at_pop: u64,
}

impl Entry {
    fn backoff_until(&self) -> Option<Instant> {
        let last = self.last_attempt?;
        let exp = self.attempts.saturating_sub(1).min(16);
        let d = INITIAL_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF);
        Some(last + d)
    }
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    active: BinaryHeap<(i32, Reverse<u64>, String)>,
    backoff: BTreeSet<(Instant, String)>,
    /// Keys of pods in the unschedulable pool, so events scan only those.
    unsched: std::collections::HashSet<String>,
    next_seq: u64,
    moves: u64,
}

impl Inner {
    fn activate(&mut self, key: &str) {
        self.unsched.remove(key);
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(e) = self.entries.get_mut(key) {
            e.place = Place::Active;
            e.seq = seq;
            let priority = e
                .info
                .pod()
                .spec
                .as_ref()
                .and_then(|s| s.priority)
                .unwrap_or(0);
            self.active.push((priority, Reverse(seq), key.to_string()));
        }
    }

    /// Back to active, or to back-off if the pod's back-off has not expired.
    fn reactivate(&mut self, key: &str, now: Instant) {
        self.unsched.remove(key);
        let until = self.entries.get(key).and_then(Entry::backoff_until);
        match until {
            Some(t) if t > now => {
                if let Some(e) = self.entries.get_mut(key) {
                    e.place = Place::Backoff(t);
                }
                self.backoff.insert((t, key.to_string()));
            }
            _ => self.activate(key),
        }
    }
}

/// A pod handed to the scheduling loop.
pub struct Popped {
    pub info: Arc<PodInfo>,
    pub attempts: u32,
}

#[derive(Default)]
pub struct Queue {
    inner: Mutex<Inner>,
    notify: Notify,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent data: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a pending pod, or refreshes one already queued.
    pub fn add(&self, info: Arc<PodInfo>, now: Instant) {
        let mut q = self.lock();
        let key = info.key.clone();
        let Some(e) = q.entries.get_mut(&key) else {
            q.entries.insert(
                key.clone(),
                Entry {
                    info,
                    attempts: 0,
                    last_attempt: None,
                    place: Place::Active,
                    seq: 0,
                    moves_at_pop: 0,
                },
            );
            q.activate(&key);
            drop(q);
            self.notify.notify_one();
            return;
        };
        // Status-only updates (including our own condition writes) change nothing the
        // plugins look at; a new spec or labels might.
        let changed = e.info.pod().spec != info.pod().spec
            || e.info.pod().metadata.labels != info.pod().metadata.labels;
        e.info = info;
        if changed && matches!(e.place, Place::Unschedulable { .. }) {
            q.reactivate(&key, now);
            drop(q);
            self.notify.notify_one();
        }
    }

    pub fn delete(&self, key: &str) {
        let mut q = self.lock();
        q.entries.remove(key);
        q.unsched.remove(key);
    }

    pub fn contains(&self, key: &str) -> bool {
        self.lock().entries.contains_key(key)
    }

    /// The next pod to schedule, if any is active.
    pub fn try_pop(&self) -> Option<Popped> {
        let mut q = self.lock();
        while let Some((_, Reverse(seq), key)) = q.active.pop() {
            let moves = q.moves;
            let Some(e) = q.entries.get_mut(&key) else {
                continue;
            };
            if e.place != Place::Active || e.seq != seq {
                continue;
            }
            e.place = Place::InFlight;
            e.moves_at_pop = moves;
            return Some(Popped {
                info: e.info.clone(),
                attempts: e.attempts,
            });
        }
        None
    }

    pub async fn pop(&self) -> Popped {
        loop {
            if let Some(p) = self.try_pop() {
                return p;
            }
            self.notify.notified().await;
        }
    }

    /// The pod was bound (or is gone): forget it.
    pub fn done(&self, key: &str) {
        self.delete(key);
    }

    /// No node fit. The pod waits in the unschedulable pool unless the cluster changed
    /// while it was being scheduled, in which case it only backs off.
    pub fn unschedulable(&self, key: &str, plugins: BTreeSet<&'static str>, now: Instant) {
        let mut q = self.lock();
        let moves = q.moves;
        let Some(e) = q.entries.get_mut(key) else {
            return;
        };
        e.attempts += 1;
        e.last_attempt = Some(now);
        if e.moves_at_pop != moves {
            q.reactivate(key, now);
        } else {
            e.place = Place::Unschedulable {
                since: now,
                plugins,
            };
            q.unsched.insert(key.to_string());
        }
    }

    /// Scheduling or binding failed for another reason: retry after back-off.
    pub fn retry(&self, key: &str, now: Instant) {
        let mut q = self.lock();
        let Some(e) = q.entries.get_mut(key) else {
            return;
        };
        e.attempts += 1;
        e.last_attempt = Some(now);
        q.reactivate(key, now);
        drop(q);
        self.notify.notify_one();
    }

    /// Moves unschedulable pods the event may help to active or back-off.
    pub fn on_event(&self, event: ClusterEvent, now: Instant) {
        let mut q = self.lock();
        q.moves += 1;
        if q.unsched.is_empty() {
            return;
        }
        let keys: Vec<String> = q
            .unsched
            .iter()
            .filter(|k| {
                q.entries.get(*k).is_some_and(|e| match &e.place {
                    Place::Unschedulable { plugins, .. } => event.may_help(plugins),
                    _ => false,
                })
            })
            .cloned()
            .collect();
        let any = !keys.is_empty();
        for k in keys {
            q.reactivate(&k, now);
        }
        drop(q);
        if any {
            self.notify.notify_one();
        }
    }

    /// Moves pods whose back-off expired to active, and pods unschedulable for longer
    /// than `max_stay` back for another try.
    pub fn flush(&self, now: Instant, max_stay: Duration) {
        let mut q = self.lock();
        let mut moved = false;
        while let Some((t, key)) = q.backoff.first().cloned() {
            if t > now {
                break;
            }
            q.backoff.pop_first();
            if q.entries
                .get(&key)
                .is_some_and(|e| e.place == Place::Backoff(t))
            {
                q.activate(&key);
                moved = true;
            }
        }
        let stale: Vec<String> = q
            .unsched
            .iter()
            .filter(|k| {
                q.entries.get(*k).is_some_and(|e| {
                    matches!(&e.place, Place::Unschedulable { since, .. }
                        if now.duration_since(*since) >= max_stay)
                })
            })
            .cloned()
            .collect();
        for k in stale {
            q.reactivate(&k, now);
            moved = true;
        }
        drop(q);
        if moved {
            self.notify.notify_one();
        }
    }

    /// (active, back-off, unschedulable) counts, for tests and logs.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let q = self.lock();
        let mut sizes = (0, 0, 0);
        for e in q.entries.values() {
            match e.place {
                Place::Active => sizes.0 += 1,
                Place::Backoff(_) => sizes.1 += 1,
                Place::Unschedulable { .. } => sizes.2 += 1,
                Place::InFlight => {}
            }
        }
        sizes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::pod_info;
    use serde_json::json;

    fn p(name: &str, priority: i32) -> Arc<PodInfo> {
        pod_info(json!({"metadata": {"name": name, "namespace": "d"},
            "spec": {"priority": priority, "containers": [{"name": "c"}]}}))
    }

    fn fit_rejected() -> BTreeSet<&'static str> {
        ["NodeResourcesFit"].into()
    }

    #[test]
    fn priority_then_fifo() {
        let q = Queue::default();
        let now = Instant::now();
        q.add(p("low", 0), now);
        q.add(p("high", 10), now);
        q.add(p("low2", 0), now);
        let order: Vec<String> = std::iter::from_fn(|| q.try_pop())
            .map(|p| p.info.key.clone())
            .collect();
        assert_eq!(order, ["d/high", "d/low", "d/low2"]);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let q = Queue::default();
        let t0 = Instant::now();
        q.add(p("a", 0), t0);
        let mut expected = [1u64, 2, 4, 8, 10, 10].into_iter();
        let mut now = t0;
        for _ in 0..6 {
            let popped = q.try_pop().expect("active");
            assert_eq!(popped.info.key, "d/a");
            q.retry("d/a", now);
            let wait = Duration::from_secs(expected.next().unwrap());
            q.flush(
                now + wait - Duration::from_millis(1),
                MAX_UNSCHEDULABLE_STAY,
            );
            assert!(q.try_pop().is_none(), "released before its back-off");
            now += wait;
            q.flush(now, MAX_UNSCHEDULABLE_STAY);
        }
    }

    #[test]
    fn unschedulable_pool_moves_on_events() {
        let q = Queue::default();
        let t0 = Instant::now();
        q.add(p("a", 0), t0);
        q.try_pop().unwrap();
        q.unschedulable("d/a", fit_rejected(), t0);
        assert_eq!(q.sizes(), (0, 0, 1));
        // Adding a pod elsewhere does not help a resource shortage.
        q.on_event(ClusterEvent::AssignedPodAdded, t0);
        assert_eq!(q.sizes(), (0, 0, 1));
        // A new node does; still within back-off, so it waits there first.
        q.on_event(ClusterEvent::NodeChanged, t0);
        assert_eq!(q.sizes(), (0, 1, 0));
        q.flush(t0 + INITIAL_BACKOFF, MAX_UNSCHEDULABLE_STAY);
        assert_eq!(q.try_pop().unwrap().attempts, 1);
    }

    #[test]
    fn move_while_in_flight_is_not_lost() {
        let q = Queue::default();
        let t0 = Instant::now();
        q.add(p("a", 0), t0);
        q.try_pop().unwrap();
        q.on_event(ClusterEvent::NodeChanged, t0);
        q.unschedulable("d/a", fit_rejected(), t0);
        assert_eq!(q.sizes(), (0, 1, 0));
    }

    #[test]
    fn periodic_flush_and_updates() {
        let q = Queue::default();
        let t0 = Instant::now();
        q.add(p("a", 0), t0);
        q.try_pop().unwrap();
        q.unschedulable("d/a", fit_rejected(), t0);
        q.flush(t0 + Duration::from_secs(30), MAX_UNSCHEDULABLE_STAY);
        assert_eq!(q.sizes(), (0, 0, 1));
        q.flush(t0 + MAX_UNSCHEDULABLE_STAY, MAX_UNSCHEDULABLE_STAY);
        assert_eq!(q.sizes(), (1, 0, 0));
        // A spec change of an unschedulable pod retries it; deletion forgets it.
        q.try_pop().unwrap();
        q.unschedulable("d/a", fit_rejected(), t0);
        q.add(p("a", 5), t0 + Duration::from_secs(20));
        assert_eq!(q.sizes(), (1, 0, 0));
        q.delete("d/a");
        assert!(q.try_pop().is_none());
        assert!(!q.contains("d/a"));
    }
}
