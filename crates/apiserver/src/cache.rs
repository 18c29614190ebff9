//! The watch cache: every object in memory, kept current from one store watch, so lists
//! and thousands of watchers never touch the store.

use crate::cached::CachedObject;
use rkube_store::{Event, EventKind, Store, StoreError};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Events kept for watches that resume from an older resourceVersion.
const HISTORY: usize = 50_000;
/// Per-watcher backlog before a slow watcher is dropped (it re-lists, as upstream's do).
const FANOUT: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct CacheEvent {
    pub kind: EventType,
    pub key: String,
    pub object: Arc<CachedObject>,
    /// The object before this change, so selector-filtered watchers can tell an object
    /// leaving their view.
    pub prev: Option<Arc<CachedObject>>,
    pub revision: i64,
    /// The event as a plain JSON watch frame, encoded once for all watchers that see it
    /// unchanged.
    pub frame: std::sync::OnceLock<bytes::Bytes>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Arc<CachedObject>>,
    capacity: usize,
    history: VecDeque<Arc<CacheEvent>>,
    revision: i64,
    /// History covers revisions after this one.
    oldest: i64,
}

/// One page of a listing; see [`WatchCache::page`].
#[derive(Default)]
pub struct Page {
    pub items: Vec<(String, Arc<CachedObject>)>,
    /// Objects that matched beyond the limit.
    pub remaining: usize,
    pub revision: i64,
}

pub struct WatchCache {
    state: RwLock<State>,
    events: broadcast::Sender<Arc<CacheEvent>>,
    revision: watch::Sender<i64>,
}

pub struct Subscription {
    pub replay: Vec<Arc<CacheEvent>>,
    pub live: broadcast::Receiver<Arc<CacheEvent>>,
}

impl WatchCache {
    /// Loads everything under /registry/ and follows the store from there.
    pub async fn start(store: Arc<dyn Store>) -> Result<Arc<Self>, StoreError> {
        Self::start_with_history(store, HISTORY).await
    }

    /// As [`WatchCache::start`], keeping `capacity` events of history.
    pub async fn start_with_history(
        store: Arc<dyn Store>,
        capacity: usize,
    ) -> Result<Arc<Self>, StoreError> {
        let mut state = State {
            capacity,
            ..State::default()
        };
        let mut after: Option<String> = None;
        loop {
            let page = store.list("/registry/", after.as_deref(), 10_000).await?;
            state.revision = state.revision.max(page.revision);
            for kv in &page.items {
                if let Some(o) = CachedObject::from_stored(&kv.key, &kv.value, kv.mod_revision) {
                    state.objects.insert(kv.key.clone(), Arc::new(o));
                }
            }
            after = page.items.last().map(|kv| kv.key.clone());
            if !page.more {
                break;
            }
        }
        state.oldest = state.revision;
        let revision = state.revision;
        let (events, _) = broadcast::channel(FANOUT);
        let cache = Arc::new(Self {
            state: RwLock::new(state),
            events,
            revision: watch::channel(revision).0,
        });
        let mut rx = store.watch("/registry/", revision).await?;
        let weak = Arc::downgrade(&cache);
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let Some(cache) = weak.upgrade() else { break };
                cache.apply(ev);
            }
        });
        Ok(cache)
    }

    fn apply(&self, ev: Event) {
        let rev = ev.revision();
        let Some(object) = CachedObject::from_stored(&ev.kv.key, &ev.kv.value, rev) else {
            tracing::warn!(key = %ev.kv.key, "undecodable object in store");
            return;
        };
        let object = Arc::new(object);
        let Ok(mut st) = self.state.write() else {
            return;
        };
        let (kind, prev) = match ev.kind {
            EventKind::Put => {
                let prev = st.objects.insert(ev.kv.key.clone(), object.clone());
                let kind = if prev.is_some() {
                    EventType::Modified
                } else {
                    EventType::Added
                };
                (kind, prev)
            }
            EventKind::Delete => (EventType::Deleted, st.objects.remove(&ev.kv.key)),
        };
        let event = Arc::new(CacheEvent {
            kind,
            key: ev.kv.key,
            object,
            prev,
            revision: rev,
            frame: std::sync::OnceLock::new(),
        });
        st.history.push_back(event.clone());
        if st.history.len() > st.capacity {
            if let Some(old) = st.history.pop_front() {
                st.oldest = old.revision;
            }
        }
        st.revision = rev;
        let _ = self.events.send(event);
        drop(st);
        self.revision.send_replace(rev);
    }

    pub fn revision(&self) -> i64 {
        *self.revision.borrow()
    }

    /// Waits until the cache has seen `rev`; false on timeout.
    pub async fn wait_for(&self, rev: i64) -> bool {
        let mut rx = self.revision.subscribe();
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|r| *r >= rev)).await,
            Ok(Ok(_))
        );
        ok
    }

    pub fn get(&self, key: &str) -> Option<Arc<CachedObject>> {
        self.state.read().ok()?.objects.get(key).cloned()
    }

    /// Objects under `prefix`, and the revision they are at.
    pub fn list(&self, prefix: &str) -> (Vec<(String, Arc<CachedObject>)>, i64) {
        let page = self.page(prefix, None, 0, |_| true);
        (page.items, page.revision)
    }

    /// Up to `limit` (0: all) objects under `prefix` strictly after `start_after` that
    /// `keep`, and how many more follow. A page starts where the previous one ended and
    /// clones only what it returns: a chunked LIST (kubectl's and informers' 500 at a
    /// time) costs its pages, not the whole prefix once per page.
    pub fn page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        keep: impl Fn(&CachedObject) -> bool,
    ) -> Page {
        use std::ops::Bound;
        let Ok(st) = self.state.read() else {
            return Page::default();
        };
        let end = format!("{prefix}\u{10FFFF}");
        let mut page = Page {
            revision: st.revision,
            ..Page::default()
        };
        let from = match start_after {
            // A continue token from another listing: nothing of this prefix follows it
            // (and a range starting past its end would panic).
            Some(after) if after >= end.as_str() => return page,
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let range = st
            .objects
            .range::<str, _>((from, Bound::Excluded(end.as_str())));
        for (key, obj) in range.filter(|(_, o)| keep(o)) {
            if limit > 0 && page.items.len() == limit {
                page.remaining += 1;
            } else {
                page.items.push((key.clone(), obj.clone()));
            }
        }
        page
    }

    /// Events after `after` followed by live ones, or Compacted when history no longer
    /// reaches back that far.
    pub fn subscribe(&self, after: i64) -> Result<Subscription, StoreError> {
        let st = self
            .state
            .read()
            .map_err(|_| StoreError::Backend("watch cache lock poisoned".into()))?;
        if after < st.oldest {
            return Err(StoreError::Compacted {
                requested: after,
                oldest: st.oldest,
            });
        }
        // History is in revision order: start at the first event after `after`.
        let start = st.history.partition_point(|e| e.revision <= after);
        let replay = st.history.range(start..).cloned().collect();
        Ok(Subscription {
            replay,
            live: self.events.subscribe(),
        })
    }

    /// Current objects under `prefix` plus live events after them, for watches without
    /// a starting resourceVersion.
    pub fn snapshot_and_subscribe(
        &self,
        prefix: &str,
    ) -> (
        Vec<Arc<CachedObject>>,
        i64,
        broadcast::Receiver<Arc<CacheEvent>>,
    ) {
        let Ok(st) = self.state.read() else {
            return (Vec::new(), 0, self.events.subscribe());
        };
        let end = format!("{prefix}\u{10FFFF}");
        let objects = st
            .objects
            .range(prefix.to_string()..end)
            .map(|(_, v)| v.clone())
            .collect();
        (objects, st.revision, self.events.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_store::memory::MemoryStore;

    fn cm(name: &str) -> bytes::Bytes {
        bytes::Bytes::from(format!(
            r#"{{"kind":"ConfigMap","metadata":{{"name":"{name}"}}}}"#
        ))
    }

    #[tokio::test]
    async fn replays_recent_history_and_expires_old() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        store
            .create("/registry/configmaps/d/a", cm("a"))
            .await
            .unwrap();
        let cache = WatchCache::start_with_history(store.clone(), 2)
            .await
            .unwrap();
        let r2 = store
            .create("/registry/configmaps/d/b", cm("b"))
            .await
            .unwrap();
        let r3 = store
            .create("/registry/configmaps/d/c", cm("c"))
            .await
            .unwrap();
        let r4 = store
            .delete("/registry/configmaps/d/a", None)
            .await
            .unwrap()
            .mod_revision;
        assert!(cache.wait_for(r4).await);
        // History holds the last two events only.
        assert!(matches!(
            cache.subscribe(r2 - 1),
            Err(StoreError::Compacted { .. })
        ));
        let sub = cache.subscribe(r2).unwrap();
        let seen: Vec<(EventType, i64)> = sub.replay.iter().map(|e| (e.kind, e.revision)).collect();
        assert_eq!(seen, [(EventType::Added, r3), (EventType::Deleted, r4)]);
        let (items, rev) = cache.list("/registry/configmaps/d/");
        assert_eq!(rev, r4);
        let names: Vec<&str> = items.iter().map(|(_, v)| v.name()).collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(
            items[0].1.value()["metadata"]["resourceVersion"],
            r2.to_string()
        );
        // Live events follow the replay.
        let mut live = sub.live;
        store
            .create("/registry/configmaps/d/e", cm("e"))
            .await
            .unwrap();
        let ev = live.recv().await.unwrap();
        assert_eq!(
            (ev.kind, ev.key.as_str()),
            (EventType::Added, "/registry/configmaps/d/e")
        );
    }

    #[tokio::test]
    async fn pages_start_after_the_token_and_count_the_rest() {
        let store: Arc<dyn Store> = Arc::new(rkube_store::memory::MemoryStore::new());
        for name in ["a", "b", "c", "d", "e"] {
            let key = format!("/registry/configmaps/d/{name}");
            store.create(&key, cm(name)).await.unwrap();
        }
        store
            .create("/registry/configmaps/e/z", cm("z"))
            .await
            .unwrap();
        let cache = WatchCache::start(store.clone()).await.unwrap();
        let names = |p: &Page| -> Vec<String> {
            p.items.iter().map(|(_, o)| o.name().to_string()).collect()
        };
        let prefix = "/registry/configmaps/d/";
        let first = cache.page(prefix, None, 2, |_| true);
        assert_eq!(
            (names(&first), first.remaining),
            (vec!["a".into(), "b".into()], 3)
        );
        let after = first.items.last().map(|(k, _)| k.clone());
        let second = cache.page(prefix, after.as_deref(), 2, |o| o.name() != "d");
        assert_eq!(
            (names(&second), second.remaining),
            (vec!["c".into(), "e".into()], 0)
        );
        // Tokens from before or beyond the prefix neither panic nor leak other keys.
        let all = cache.page(prefix, Some("/registry/a"), 0, |_| true);
        assert_eq!(all.items.len(), 5);
        let none = cache.page(prefix, Some("/registry/configmaps/e/z"), 0, |_| true);
        assert!(none.items.is_empty());
    }
}
