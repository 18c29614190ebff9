//! Informers shared by every controller of the process. Pods are by far the most numerous
//! objects; one watch and one store of trimmed pods (see [`slim`]) serve all controllers
//! that need them, instead of one full copy per controller; the store keeps only a
//! projection ([`CachedPod`]) of each pod.
//!
//! Fan-out: every subscriber owns an unbounded channel of [`PodEvent`]s, written while the
//! store's lock is held, so each subscriber sees every change in store order and never
//! has to resync; a slow subscriber only delays itself (its backlog holds `Arc`s that
//! mostly share the stored pods). A subscriber that joins after the first list gets the
//! current content first, then `Synced`, then live changes.

mod cached;

pub use cached::{CachedPod, NamedPort};

use crate::{Error, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, watch};

/// `namespace/name`; one allocation shared by the map and the indexes.
type Key = Arc<str>;

/// One change of the shared pod store.
#[derive(Debug, Clone)]
pub enum PodEvent {
    /// `old` is what the store held before (None for a new pod), `new` what it holds now
    /// (None once the pod is gone).
    Changed {
        old: Option<Arc<CachedPod>>,
        new: Option<Arc<CachedPod>>,
    },
    /// The store holds a complete list (sent after every initial list and relist).
    Synced,
}

#[derive(Default)]
struct Inner {
    // Ordered so that one namespace is a contiguous range of keys.
    pods: BTreeMap<Key, Arc<CachedPod>>,
    /// controller owner uid → pods it controls.
    by_owner: HashMap<String, HashSet<Key>>,
    /// namespace → pods without a controller.
    orphans: HashMap<String, HashSet<Key>>,
    /// Pods of an unfinished (re)list, swapped in at InitDone.
    relist: Option<HashMap<Key, Arc<CachedPod>>>,
    ready: bool,
    subscribers: Vec<mpsc::UnboundedSender<PodEvent>>,
}

fn key_of(pod: &CachedPod) -> Key {
    Arc::from(pod.key())
}

fn namespace_of(key: &str) -> &str {
    key.split_once('/').map_or("", |(ns, _)| ns)
}

fn owner_uid(pod: &CachedPod) -> Option<&str> {
    pod.controller().map(|r| r.uid.as_str())
}

fn drop_from(index: &mut HashMap<String, HashSet<Key>>, at: &str, key: &str) {
    if let Some(set) = index.get_mut(at) {
        set.remove(key);
        if set.is_empty() {
            index.remove(at);
        }
    }
}

impl Inner {
    fn unindex(&mut self, key: &str) -> Option<Arc<CachedPod>> {
        let old = self.pods.remove(key)?;
        match owner_uid(&old) {
            Some(uid) => drop_from(&mut self.by_owner, uid, key),
            None => drop_from(&mut self.orphans, namespace_of(key), key),
        }
        Some(old)
    }

    fn index(&mut self, key: Key, pod: Arc<CachedPod>) -> Option<Arc<CachedPod>> {
        let old = self.unindex(&key);
        let set = match owner_uid(&pod) {
            Some(uid) => self.by_owner.entry(uid.to_string()).or_default(),
            None => self
                .orphans
                .entry(namespace_of(&key).to_string())
                .or_default(),
        };
        set.insert(key.clone());
        self.pods.insert(key, pod);
        old
    }

    fn send(&mut self, event: PodEvent) {
        self.subscribers.retain(|s| s.send(event.clone()).is_ok());
    }

    fn changed(&mut self, old: Option<Arc<CachedPod>>, new: Option<Arc<CachedPod>>) {
        self.send(PodEvent::Changed { old, new });
    }
}

/// The process's pod informer: a cheap handle, clone it freely.
#[derive(Clone)]
pub struct Pods {
    inner: Arc<RwLock<Inner>>,
    synced: Arc<watch::Sender<bool>>,
}

impl Default for Pods {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            synced: Arc::new(watch::channel(false).0),
        }
    }
}

impl Pods {
    /// A new stream of changes; see the module comment for what it delivers.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<PodEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut inner) = self.inner.write() {
            if inner.ready {
                for p in inner.pods.values() {
                    let _ = tx.send(PodEvent::Changed {
                        old: None,
                        new: Some(p.clone()),
                    });
                }
                let _ = tx.send(PodEvent::Synced);
            }
            inner.subscribers.push(tx);
        }
        rx
    }

    /// Runs the single pod watch feeding the store, forever.
    pub async fn run(self, client: kube::Client) -> Result<()> {
        let api: Api<Pod> = Api::all(client);
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(e) => self.apply(e),
                Err(e) => tracing::warn!(error = %e, "shared pod watch"),
            }
        }
        Err(Error::Other("pod watch ended".into()))
    }

    /// Applies one watch event to the store and tells every subscriber what changed.
    pub fn apply(&self, event: Event<Pod>) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        match event {
            Event::Apply(pod) => {
                let pod = Arc::new(CachedPod::from_pod(pod));
                let old = inner.index(key_of(&pod), pod.clone());
                inner.changed(old, Some(pod));
            }
            Event::Delete(pod) => {
                let pod = CachedPod::from_pod(pod);
                let old = inner.unindex(&pod.key()).unwrap_or_else(|| Arc::new(pod));
                inner.changed(Some(old), None);
            }
            Event::Init => inner.relist = Some(HashMap::new()),
            Event::InitApply(pod) => {
                let pod = Arc::new(CachedPod::from_pod(pod));
                inner
                    .relist
                    .get_or_insert_with(HashMap::new)
                    .insert(key_of(&pod), pod);
            }
            Event::InitDone => {
                let fresh = inner.relist.take().unwrap_or_default();
                let gone: Vec<Key> = inner
                    .pods
                    .keys()
                    .filter(|k| !fresh.contains_key(*k))
                    .cloned()
                    .collect();
                for k in gone {
                    if let Some(old) = inner.unindex(&k) {
                        inner.changed(Some(old), None);
                    }
                }
                for (key, pod) in fresh {
                    let old = inner.index(key, pod.clone());
                    inner.changed(old, Some(pod));
                }
                inner.ready = true;
                inner.send(PodEvent::Synced);
                self.synced.send_replace(true);
            }
        }
    }

    /// Whether the first full list has arrived.
    pub fn is_ready(&self) -> bool {
        self.inner.read().map(|i| i.ready).unwrap_or(false)
    }

    /// Waits until the first full list has arrived.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Every pod of `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<CachedPod>> {
        // '0' sorts right after '/', so this range is exactly "ns/…".
        let (from, to) = (format!("{namespace}/"), format!("{namespace}0"));
        self.inner
            .read()
            .map(|i| {
                i.pods
                    .range::<str, _>((
                        std::ops::Bound::Included(from.as_str()),
                        std::ops::Bound::Excluded(to.as_str()),
                    ))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<CachedPod>> {
        let key = format!("{namespace}/{name}");
        self.inner.read().ok()?.pods.get(key.as_str()).cloned()
    }

    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.pods.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pods controlled by `owner_uid`, plus the orphans of `namespace` (what a replica
    /// controller's sync may claim), so a sync stays proportional to its own pods.
    pub fn candidates(&self, namespace: &str, owner_uid: &str) -> Vec<Arc<CachedPod>> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let owned = inner.by_owner.get(owner_uid).into_iter().flatten();
        let orphans = inner.orphans.get(namespace).into_iter().flatten();
        owned
            .chain(orphans)
            .filter_map(|k| inner.pods.get(k).cloned())
            .collect()
    }

    /// Pods controlled by any of `owner_uids`.
    pub fn owned_by(&self, owner_uids: &[String]) -> Vec<Arc<CachedPod>> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        owner_uids
            .iter()
            .filter_map(|u| inner.by_owner.get(u))
            .flatten()
            .filter_map(|k| inner.pods.get(k).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests;
