//! The kubelet's part for pods bound to our nodes: one watch over all bound pods, a
//! work queue deduplicated per pod, and a bounded pool of API calls draining it.

use crate::types::SimPod;
use crate::{ipam, status, PodSlot, Sim};
use futures::{stream, StreamExt};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long "stopping the containers" of a deleted pod takes before we confirm the
/// deletion: short, so `kubectl delete` returns quickly, but not instant, so the pod is
/// visibly Terminating like on a real node.
const DELETE_DELAY: Duration = Duration::from_millis(500);
const POD_CONCURRENCY: usize = 32;
const RETRIES: u8 = 3;

enum Action {
    Status(Value),
    Delete { uid: String, not_before: Instant },
}

struct Work {
    namespace: String,
    name: String,
    action: Action,
    attempt: u8,
}

/// Latest work per pod plus a FIFO of keys: a pod that changes ten times while waiting
/// is handled once, with its newest state.
pub struct Queue {
    pending: Mutex<HashMap<u128, Work>>,
    tx: mpsc::UnboundedSender<u128>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<u128>>>,
}

impl Queue {
    pub fn new() -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            pending: Mutex::new(HashMap::new()),
            tx,
            rx: Mutex::new(Some(rx)),
        })
    }

    fn push(&self, key: u128, work: Work) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.insert(key, work).is_none() {
            // The receiver lives as long as the process; a send error cannot happen
            // while anyone still processes work.
            let _ = self.tx.send(key);
        }
    }

    fn take(&self, key: u128) -> Option<Work> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key)
    }
}

/// A pod uid as a number: UUIDs fit exactly; anything else is hashed.
pub fn uid_key(uid: &str) -> u128 {
    let hex: String = uid.chars().filter(|c| *c != '-').collect();
    if hex.len() == 32 {
        if let Ok(v) = u128::from_str_radix(&hex, 16) {
            return v;
        }
    }
    let half = |seed: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        uid.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

pub async fn watch_pods(sim: Arc<Sim>, queue: Arc<Queue>) {
    let api: Api<SimPod> = Api::all(sim.client.clone());
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let mut events = watcher(api, config).default_backoff().boxed();
    // Pods seen during a re-list: those we remember but did not see are gone.
    let mut seen: Option<HashSet<u128>> = None;
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(pod)) => on_pod(&sim, &queue, &pod),
            Ok(watcher::Event::InitApply(pod)) => {
                if let (Some(seen), Some(uid)) = (seen.as_mut(), pod.metadata.uid.as_deref()) {
                    seen.insert(uid_key(uid));
                }
                on_pod(&sim, &queue, &pod);
            }
            Ok(watcher::Event::Delete(pod)) => {
                if let Some(uid) = pod.metadata.uid.as_deref() {
                    forget(&sim, uid_key(uid));
                }
            }
            Ok(watcher::Event::Init) => seen = Some(HashSet::new()),
            Ok(watcher::Event::InitDone) => {
                if let Some(seen) = seen.take() {
                    let missing: Vec<u128> = {
                        let st = sim.state();
                        st.pods
                            .keys()
                            .filter(|k| !seen.contains(k))
                            .copied()
                            .collect()
                    };
                    missing.into_iter().for_each(|k| forget(&sim, k));
                }
            }
            Err(e) => tracing::debug!(error = %e, "watching pods"),
        }
    }
}

/// The pod is gone: its address is free again.
fn forget(sim: &Sim, key: u128) {
    let mut st = sim.state();
    if let Some(slot) = st.pods.remove(&key) {
        if let Some(node) = st.nodes.get_mut(slot.node as usize) {
            node.pool.release(slot.ip);
        }
    }
}

fn on_pod(sim: &Sim, queue: &Queue, pod: &SimPod) {
    let Some(index) = pod
        .spec
        .node_name
        .as_deref()
        .and_then(|n| sim.node_index(n))
    else {
        return;
    };
    let (Some(namespace), Some(name), Some(uid)) = (
        pod.metadata.namespace.clone(),
        pod.metadata.name.clone(),
        pod.metadata.uid.clone(),
    ) else {
        return;
    };
    let key = uid_key(&uid);
    if pod.metadata.deletion_timestamp.is_some() {
        let not_before = Instant::now() + DELETE_DELAY;
        let action = Action::Delete { uid, not_before };
        queue.push(
            key,
            Work {
                namespace,
                name,
                action,
                attempt: 0,
            },
        );
        return;
    }
    if matches!(pod.status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return;
    }
    let (host_ip, pod_ip) = {
        let mut st = sim.state();
        let known = st.pods.get(&key).map(|s| s.ip);
        let node = &mut st.nodes[index];
        if node.gone || node.stopped {
            return;
        }
        let ip = match known {
            Some(ip) => ip,
            None => {
                let existing = pod.status.pod_ip.as_deref().and_then(ipam::parse_ip);
                let ip = match existing {
                    Some(ip) => {
                        node.pool.adopt(ip);
                        ip
                    }
                    None => match node.pool.allocate() {
                        Some(ip) => ip,
                        None => {
                            tracing::warn!(node = %node.name, range = %node.pool.range(),
                                "no free pod address; pod stays Pending");
                            return;
                        }
                    },
                };
                st.pods.insert(
                    key,
                    PodSlot {
                        node: index as u32,
                        ip,
                    },
                );
                ip
            }
        };
        (ipam::text(ipam::node_ip(index)), ipam::text(ip))
    };
    if !status::needs_update(pod, &pod_ip) {
        return;
    }
    let now = status::time_text(chrono::Utc::now());
    // The uid in the patch makes it fail if the name now belongs to another pod.
    let body = json!({
        "metadata": {"uid": uid},
        "status": status::pod_status(pod, &host_ip, &pod_ip, &now),
    });
    let action = Action::Status(body);
    queue.push(
        key,
        Work {
            namespace,
            name,
            action,
            attempt: 0,
        },
    );
}

/// Drains the queue forever with at most POD_CONCURRENCY calls in flight.
pub async fn work(sim: Arc<Sim>, queue: Arc<Queue>) {
    let rx = queue.rx.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(mut rx) = rx else { return };
    stream::poll_fn(move |cx| rx.poll_recv(cx))
        .for_each_concurrent(POD_CONCURRENCY, |key| {
            let (sim, queue) = (&sim, &queue);
            async move {
                if let Some(work) = queue.take(key) {
                    process(sim, queue, key, work).await;
                }
            }
        })
        .await;
}

async fn process(sim: &Sim, queue: &Queue, key: u128, work: Work) {
    let api: Api<SimPod> = Api::namespaced(sim.client.clone(), &work.namespace);
    let result = match &work.action {
        Action::Status(body) => api
            .patch_status(&work.name, &PatchParams::default(), &Patch::Merge(body))
            .await
            .map(|_| ()),
        Action::Delete { uid, not_before } => {
            tokio::time::sleep_until(*not_before).await;
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            api.delete(&work.name, &params).await.map(|_| ())
        }
    };
    match result {
        Ok(()) => {}
        // Gone already, or the name now belongs to another pod: nothing to do.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
        Err(e) if work.attempt + 1 < RETRIES => {
            tracing::debug!(pod = %work.name, error = %e, "simulated kubelet call, retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Newer work for the pod, if any arrived meanwhile, wins.
            let mut pending = queue.pending.lock().unwrap_or_else(|e| e.into_inner());
            if let std::collections::hash_map::Entry::Vacant(v) = pending.entry(key) {
                v.insert(Work {
                    attempt: work.attempt + 1,
                    ..work
                });
                let _ = queue.tx.send(key);
            }
        }
        Err(e) => tracing::warn!(pod = %work.name, error = %e, "simulated kubelet call failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_keys() {
        let a = uid_key("0f8fad5b-d9cb-469f-a165-70867728950e");
        assert_eq!(a, 0x0f8fad5bd9cb469fa16570867728950e);
        assert_ne!(uid_key("not-a-uuid"), uid_key("not-a-uuid2"));
        assert_eq!(uid_key("x"), uid_key("x"));
    }
}
