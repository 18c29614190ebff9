//! A pod cache indexed for the replica controllers: a sync needs the pods its owner
//! controls plus the orphans of its namespace (adoption candidates), never the whole
//! namespace, so with 150,000 pods a sync stays proportional to its own pods.

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::Event;
use rkube_client::objects::{controller_of, is_deleting};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

type Key = (String, String);

#[derive(Default)]
struct Inner {
    pods: HashMap<Key, Arc<Pod>>,
    /// controller owner uid → pods it controls.
    by_owner: HashMap<String, HashSet<Key>>,
    /// namespace → pods without a controller.
    orphans: HashMap<String, HashSet<Key>>,
    /// Pods of an unfinished relist, swapped in at InitDone.
    relist: Option<HashMap<Key, Arc<Pod>>>,
    ready: bool,
}

/// What a cache change means for expectations: a pod appeared, or started/finished going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Created { owner: String },
    Deleted { owner: String, name: String },
}

#[derive(Default, Clone)]
pub struct PodCache {
    inner: Arc<RwLock<Inner>>,
}

fn key_of(pod: &Pod) -> Key {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

fn owner_uid(pod: &Pod) -> Option<String> {
    controller_of(&pod.metadata).map(|r| r.uid.clone())
}

impl Inner {
    fn unindex(&mut self, key: &Key) -> Option<Arc<Pod>> {
        let old = self.pods.remove(key)?;
        match owner_uid(&old) {
            Some(uid) => {
                if let Some(set) = self.by_owner.get_mut(&uid) {
                    set.remove(key);
                    if set.is_empty() {
                        self.by_owner.remove(&uid);
                    }
                }
            }
            None => {
                if let Some(set) = self.orphans.get_mut(&key.0) {
                    set.remove(key);
                    if set.is_empty() {
                        self.orphans.remove(&key.0);
                    }
                }
            }
        }
        Some(old)
    }

    fn index(&mut self, pod: Arc<Pod>) -> Option<Arc<Pod>> {
        let key = key_of(&pod);
        let old = self.unindex(&key);
        match owner_uid(&pod) {
            Some(uid) => self.by_owner.entry(uid).or_default().insert(key.clone()),
            None => self
                .orphans
                .entry(key.0.clone())
                .or_default()
                .insert(key.clone()),
        };
        self.pods.insert(key, pod);
        old
    }
}

/// The expectation-relevant difference between an old and a new state of one pod.
fn observe(old: Option<&Pod>, new: Option<&Pod>, out: &mut Vec<Observed>) {
    match (old, new) {
        (None, Some(p)) => {
            if let Some(owner) = owner_uid(p) {
                out.push(Observed::Created { owner });
            }
            if is_deleting(&p.metadata) {
                observe(Some(p), None, out);
            }
        }
        (Some(o), None) if !is_deleting(&o.metadata) => {
            if let Some(owner) = owner_uid(o) {
                let name = o.metadata.name.clone().unwrap_or_default();
                out.push(Observed::Deleted { owner, name });
            }
        }
        (Some(o), Some(p)) if !is_deleting(&o.metadata) && is_deleting(&p.metadata) => {
            observe(Some(o), None, out);
        }
        _ => {}
    }
}

impl PodCache {
    /// Applies one watch event; returns what it means for expectations.
    pub fn apply(&self, event: Event<Pod>) -> Vec<Observed> {
        let mut out = Vec::new();
        let Ok(mut inner) = self.inner.write() else {
            return out;
        };
        match event {
            Event::Apply(pod) => {
                let pod = Arc::new(pod);
                let old = inner.index(pod.clone());
                observe(old.as_deref(), Some(&pod), &mut out);
            }
            Event::Delete(pod) => {
                let old = inner.unindex(&key_of(&pod));
                observe(old.as_deref().or(Some(&pod)), None, &mut out);
            }
            Event::Init => inner.relist = Some(HashMap::new()),
            Event::InitApply(pod) => {
                let pod = Arc::new(pod);
                inner
                    .relist
                    .get_or_insert_with(HashMap::new)
                    .insert(key_of(&pod), pod);
            }
            Event::InitDone => {
                let fresh = inner.relist.take().unwrap_or_default();
                let old: HashMap<Key, Arc<Pod>> = std::mem::take(&mut inner.pods);
                inner.by_owner.clear();
                inner.orphans.clear();
                for (key, pod) in &old {
                    if !fresh.contains_key(key) {
                        observe(Some(pod), None, &mut out);
                    }
                }
                for (key, pod) in fresh {
                    observe(old.get(&key).map(|p| p.as_ref()), Some(&pod), &mut out);
                    inner.index(pod);
                }
                inner.ready = true;
            }
        }
        out
    }

    /// Whether the first full list has arrived; before it no sync may act.
    pub fn is_ready(&self) -> bool {
        self.inner.read().map(|i| i.ready).unwrap_or(false)
    }

    /// Pods controlled by `owner_uid`, plus the orphans of `namespace`.
    pub fn candidates(&self, namespace: &str, owner_uid: &str) -> Vec<Arc<Pod>> {
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
    pub fn owned_by(&self, owner_uids: &[String]) -> Vec<Arc<Pod>> {
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
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};

    fn pod(name: &str, owner: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                owner_references: owner.map(|uid| {
                    vec![OwnerReference {
                        uid: uid.into(),
                        controller: Some(true),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn indexes_owned_and_orphans_and_reports_changes() {
        let c = PodCache::default();
        assert!(!c.is_ready());
        c.apply(Event::Init);
        c.apply(Event::InitApply(pod("a", Some("u1"))));
        let seen = c.apply(Event::InitDone);
        assert_eq!(seen, vec![Observed::Created { owner: "u1".into() }]);
        assert!(c.is_ready());
        c.apply(Event::Apply(pod("o", None)));
        let mut names: Vec<_> = c
            .candidates("ns", "u1")
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "o"]);
        assert!(c.candidates("other", "u2").is_empty());

        // Adopting the orphan moves it out of the orphan index.
        c.apply(Event::Apply(pod("o", Some("u2"))));
        assert_eq!(c.candidates("ns", "u1").len(), 1);
        assert_eq!(c.owned_by(&["u2".into()]).len(), 1);

        let mut going = pod("a", Some("u1"));
        going.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        let seen = c.apply(Event::Apply(going.clone()));
        assert_eq!(
            seen,
            vec![Observed::Deleted {
                owner: "u1".into(),
                name: "a".into()
            }]
        );
        // Its final removal is not a second observation.
        assert!(c.apply(Event::Delete(going)).is_empty());
        assert!(c.owned_by(&["u1".into()]).is_empty());
    }
}
