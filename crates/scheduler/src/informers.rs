//! Informers over nodes and pods (kube-rs watchers: list, then watch, relisting on 410)
//! feeding the cache and the scheduling queue.

use crate::podinfo::{pod_key, PodInfo};
use crate::queue::ClusterEvent;
use crate::wire::WatchedPod;
use crate::Shared;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

/// Informers the scheduling loop waits for before its first decision.
pub(crate) const COUNT: usize = 2;

/// Tracks which objects a (re)list delivered, so objects deleted while the watch was
/// down are dropped when the list completes.
#[derive(Default)]
struct Relist {
    known: HashSet<String>,
    seen: Option<HashSet<String>>,
    synced_once: bool,
}

impl Relist {
    fn present(&mut self, key: &str) {
        if let Some(seen) = self.seen.as_mut() {
            seen.insert(key.to_string());
        }
        if !self.known.contains(key) {
            self.known.insert(key.to_string());
        }
    }

    fn gone(&mut self, key: &str) {
        self.known.remove(key);
    }

    /// Keys known before the relist that it did not deliver.
    fn finish(&mut self) -> Vec<String> {
        let Some(seen) = self.seen.take() else {
            return Vec::new();
        };
        let vanished = self.known.difference(&seen).cloned().collect();
        self.known = seen;
        vanished
    }
}

fn mark_synced(shared: &Shared, relist: &mut Relist) {
    if !relist.synced_once {
        relist.synced_once = true;
        shared.synced.send_modify(|n| *n += 1);
    }
}

pub(crate) async fn watch_nodes(shared: Arc<Shared>) {
    let api: Api<Node> = Api::all(shared.client.clone());
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut relist = Relist::default();
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(error = %e, "node watch");
                continue;
            }
        };
        match event {
            watcher::Event::Init => relist.seen = Some(HashSet::new()),
            watcher::Event::Apply(node) | watcher::Event::InitApply(node) => {
                let name = node.metadata.name.clone().unwrap_or_default();
                relist.present(&name);
                let relevant = shared.cache().upsert_node(node);
                if relevant {
                    shared
                        .queue
                        .on_event(ClusterEvent::NodeChanged, Instant::now());
                }
            }
            watcher::Event::Delete(node) => {
                let name = node.metadata.name.unwrap_or_default();
                relist.gone(&name);
                shared.cache().remove_node(&name);
            }
            watcher::Event::InitDone => {
                for name in relist.finish() {
                    shared.cache().remove_node(&name);
                }
                mark_synced(&shared, &mut relist);
            }
        }
    }
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn on_pod(shared: &Shared, pod: Pod) {
    let key = pod_key(&pod);
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty());
    if let Some(node) = node {
        shared.queue.delete(&key);
        if is_terminal(&pod) {
            on_pod_gone(shared, &key);
            return;
        }
        let info = Arc::new(PodInfo::bound(&pod));
        let mut cache = shared.cache();
        let new = !cache.contains_pod(&key);
        cache.add_pod(info, &node, false);
        drop(cache);
        if new {
            shared
                .queue
                .on_event(ClusterEvent::AssignedPodAdded, Instant::now());
        }
        return;
    }
    let spec = pod.spec.as_ref();
    let name = spec
        .and_then(|s| s.scheduler_name.as_deref())
        .unwrap_or("default-scheduler");
    let ours = name == shared.options.scheduler_name;
    if ours && pod.metadata.deletion_timestamp.is_none() && !is_terminal(&pod) {
        shared
            .queue
            .add(Arc::new(PodInfo::new(Arc::new(pod))), Instant::now());
    } else {
        shared.queue.delete(&key);
    }
}

fn on_pod_gone(shared: &Shared, key: &str) {
    shared.queue.delete(key);
    let mut cache = shared.cache();
    if cache.contains_pod(key) {
        cache.remove_pod(key);
        drop(cache);
        shared
            .queue
            .on_event(ClusterEvent::AssignedPodDeleted, Instant::now());
    }
}

pub(crate) async fn watch_pods(shared: Arc<Shared>) {
    let api: Api<WatchedPod> = Api::all(shared.client.clone());
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut relist = Relist::default();
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(error = %e, "pod watch");
                continue;
            }
        };
        match event {
            watcher::Event::Init => relist.seen = Some(HashSet::new()),
            watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) => {
                let pod = Pod::from(pod);
                relist.present(&pod_key(&pod));
                on_pod(&shared, pod);
            }
            watcher::Event::Delete(pod) => {
                let key = pod_key(&Pod::from(pod));
                relist.gone(&key);
                on_pod_gone(&shared, &key);
            }
            watcher::Event::InitDone => {
                for key in relist.finish() {
                    on_pod_gone(&shared, &key);
                }
                mark_synced(&shared, &mut relist);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relist_reports_vanished_objects() {
        let mut r = Relist::default();
        r.present("a");
        r.present("b");
        r.seen = Some(HashSet::new());
        r.present("b");
        r.present("c");
        assert_eq!(r.finish(), ["a"]);
        r.gone("b");
        assert!(r.known.contains("c") && !r.known.contains("b"));
    }
}
