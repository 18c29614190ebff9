//! A small informer: a watch stream feeding a local cache of *projected* objects.
//!
//! Used for services, endpoints, slices, nodes and leases; pods come from the process's
//! shared pod informer (crate::shared), which `run_pods` can project further (node
//! lifecycle keeps its small per-node index that way). Each cache keeps only the fields
//! its controller reads. Unlike kube-rs's reflector this one hands the previous value to
//! the change callback, which the endpoint controllers need to notice a pod leaving a
//! service's selector.

use crate::shared::{CachedPod, PodEvent};
use futures::StreamExt;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// `namespace/name`, or `name` for cluster-scoped objects.
pub(crate) fn key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// A projected object: its cache key and, optionally, a secondary index value.
pub(crate) trait Cached: Send + Sync + 'static {
    fn cache_key(&self) -> String;
    /// Secondary index (e.g. the node a pod runs on).
    fn index_value(&self) -> Option<&str> {
        None
    }
}

struct Inner<T> {
    // Ordered so that one namespace is a contiguous range of keys.
    objects: BTreeMap<String, Arc<T>>,
    index: HashMap<String, BTreeSet<String>>,
}

pub(crate) struct Store<T> {
    inner: RwLock<Inner<T>>,
    synced: watch::Sender<bool>,
}

/// One change seen by the informer: `(old, new)`, `new` None for a deletion.
pub(crate) type Change<T> = (Option<Arc<T>>, Option<Arc<T>>);

impl<T: Cached> Store<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: RwLock::new(Inner {
                objects: BTreeMap::new(),
                index: HashMap::new(),
            }),
            synced: watch::channel(false).0,
        })
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<T>> {
        self.inner.read().ok()?.objects.get(key).cloned()
    }

    pub(crate) fn list(&self) -> Vec<Arc<T>> {
        self.inner
            .read()
            .map(|i| i.objects.values().cloned().collect())
            .unwrap_or_default()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.read().map(|i| i.objects.len()).unwrap_or(0)
    }

    /// Every object in `namespace`.
    pub(crate) fn in_namespace(&self, namespace: &str) -> Vec<Arc<T>> {
        // '0' sorts right after '/', so this range is exactly "ns/…".
        let (from, to) = (format!("{namespace}/"), format!("{namespace}0"));
        self.inner
            .read()
            .map(|i| i.objects.range(from..to).map(|(_, v)| v.clone()).collect())
            .unwrap_or_default()
    }

    /// Every object whose secondary index value is `value`.
    pub(crate) fn indexed(&self, value: &str) -> Vec<Arc<T>> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        inner
            .index
            .get(value)
            .into_iter()
            .flatten()
            .filter_map(|k| inner.objects.get(k).cloned())
            .collect()
    }

    pub(crate) async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    fn insert(inner: &mut Inner<T>, obj: Arc<T>) -> Option<Arc<T>> {
        let key = obj.cache_key();
        let old = inner.objects.insert(key.clone(), obj.clone());
        if let Some(v) = old.as_ref().and_then(|o| o.index_value()) {
            if Some(v) != obj.index_value() {
                if let Some(set) = inner.index.get_mut(v) {
                    set.remove(&key);
                    if set.is_empty() {
                        inner.index.remove(v);
                    }
                }
            }
        }
        if let Some(v) = obj.index_value() {
            inner.index.entry(v.to_string()).or_default().insert(key);
        }
        old
    }

    fn remove(inner: &mut Inner<T>, key: &str) -> Option<Arc<T>> {
        let old = inner.objects.remove(key)?;
        if let Some(v) = old.index_value() {
            if let Some(set) = inner.index.get_mut(v) {
                set.remove(key);
                if set.is_empty() {
                    inner.index.remove(v);
                }
            }
        }
        Some(old)
    }

    /// Applies one object; returns the change it made.
    pub(crate) fn apply(&self, obj: T) -> Option<Change<T>> {
        let obj = Arc::new(obj);
        let mut inner = self.inner.write().ok()?;
        let old = Self::insert(&mut inner, obj.clone());
        Some((old, Some(obj)))
    }

    pub(crate) fn delete(&self, key: &str) -> Option<Change<T>> {
        let mut inner = self.inner.write().ok()?;
        Self::remove(&mut inner, key).map(|old| (Some(old), None))
    }

    /// Replaces the whole content after a relist; returns every change it implies.
    fn replace(&self, objects: Vec<T>) -> Vec<Change<T>> {
        let Ok(mut inner) = self.inner.write() else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        let mut changes = Vec::new();
        for obj in objects {
            let obj = Arc::new(obj);
            seen.insert(obj.cache_key());
            let old = Self::insert(&mut inner, obj.clone());
            changes.push((old, Some(obj)));
        }
        let gone: Vec<String> = inner
            .objects
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(old) = Self::remove(&mut inner, &k) {
                changes.push((Some(old), None));
            }
        }
        changes
    }
}

/// Feeds `store` from a watch on `api` forever, calling `on_change` after each change.
/// Watch errors are retried with kube-rs's default backoff, so this never returns early.
pub(crate) async fn run<K, T>(
    api: Api<K>,
    config: watcher::Config,
    store: Arc<Store<T>>,
    project: impl Fn(K) -> T,
    mut on_change: impl FnMut(Change<T>),
) where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    T: Cached,
{
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut buffer: Vec<T> = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(obj)) => {
                if let Some(change) = store.apply(project(obj)) {
                    on_change(change);
                }
            }
            Ok(watcher::Event::Delete(obj)) => {
                let key = project(obj).cache_key();
                if let Some(change) = store.delete(&key) {
                    on_change(change);
                }
            }
            Ok(watcher::Event::Init) => buffer.clear(),
            Ok(watcher::Event::InitApply(obj)) => buffer.push(project(obj)),
            Ok(watcher::Event::InitDone) => {
                for change in store.replace(std::mem::take(&mut buffer)) {
                    on_change(change);
                }
                store.synced.send_replace(true);
            }
            Err(e) => tracing::debug!(error = %e, "watch failed; retrying"),
        }
    }
}

/// Feeds `store` from the process's shared pod informer instead of a watch of its own:
/// each controller keeps only its projection, and the pods are listed and watched once.
pub(crate) async fn run_pods<T: Cached>(
    mut events: tokio::sync::mpsc::UnboundedReceiver<PodEvent>,
    store: Arc<Store<T>>,
    project: impl Fn(&CachedPod) -> T,
    mut on_change: impl FnMut(Change<T>),
) {
    while let Some(event) = events.recv().await {
        let change = match event {
            PodEvent::Changed { new: Some(pod), .. } => store.apply(project(&pod)),
            PodEvent::Changed {
                old: Some(pod),
                new: None,
            } => store.delete(&project(&pod).cache_key()),
            PodEvent::Changed { .. } => None,
            PodEvent::Synced => {
                store.synced.send_replace(true);
                None
            }
        };
        if let Some(change) = change {
            on_change(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item {
        key: String,
        node: Option<String>,
    }
    impl Cached for Item {
        fn cache_key(&self) -> String {
            self.key.clone()
        }
        fn index_value(&self) -> Option<&str> {
            self.node.as_deref()
        }
    }
    fn item(key: &str, node: Option<&str>) -> Item {
        Item {
            key: key.into(),
            node: node.map(Into::into),
        }
    }

    #[test]
    fn namespace_ranges_and_index_follow_changes() {
        let s = Store::new();
        s.apply(item("a/p1", Some("n1")));
        s.apply(item("a/p2", Some("n1")));
        s.apply(item("ab/p3", Some("n2")));
        s.apply(item("b/p4", None));
        assert_eq!(s.in_namespace("a").len(), 2);
        assert_eq!(s.in_namespace("ab").len(), 1);
        assert_eq!(s.indexed("n1").len(), 2);
        // Moving p2 to n2 must drop it from n1's index.
        let (old, new) = s.apply(item("a/p2", Some("n2"))).unwrap();
        assert_eq!(old.unwrap().node.as_deref(), Some("n1"));
        assert!(new.is_some());
        assert_eq!(s.indexed("n1").len(), 1);
        assert_eq!(s.indexed("n2").len(), 2);
        let changes = s.replace(vec![item("a/p1", Some("n1"))]);
        // p1 re-applied, three others gone.
        assert_eq!(changes.iter().filter(|c| c.1.is_none()).count(), 3);
        assert_eq!(s.len(), 1);
        assert!(s.indexed("n2").is_empty());
    }
}
