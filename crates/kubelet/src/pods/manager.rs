//! The pod manager: a watch on pods bound to this node feeding one worker per pod uid,
//! a once-a-second relist of the runtime (upstream's PLEG) that wakes the workers
//! whose containers changed, and clean-up of runtime objects no pod here owns.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use tokio::sync::{mpsc, watch, Notify};

use super::worker::{self, PodSlot};
use super::{termination, Shared};
use crate::error::Result;
use crate::meta;
use crate::probes::ProbeUpdate;

const RELIST_PERIOD: Duration = Duration::from_secs(1);

struct Handle {
    tx: watch::Sender<PodSlot>,
    poke: Arc<Notify>,
}

/// What one relist found.
struct Relist {
    /// Pods whose sandboxes or containers changed state since the previous relist.
    changed: Vec<String>,
    /// Every pod uid the runtime holds objects for.
    present: HashSet<String>,
}

/// Per pod uid: its objects and their states, to notice changes.
fn fingerprints(
    sandboxes: &[rkube_cri::api::PodSandbox],
    containers: &[rkube_cri::api::Container],
) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for s in sandboxes {
        if let Some(uid) = s.labels.get(meta::POD_UID) {
            out.entry(uid.clone())
                .or_default()
                .push(format!("s{}:{}", s.id, s.state));
        }
    }
    for c in containers {
        if let Some(uid) = c.labels.get(meta::POD_UID) {
            out.entry(uid.clone())
                .or_default()
                .push(format!("c{}:{}", c.id, c.state));
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn diff(old: &HashMap<String, Vec<String>>, new: &HashMap<String, Vec<String>>) -> Vec<String> {
    let mut changed: Vec<String> = new
        .iter()
        .filter(|(uid, f)| old.get(*uid) != Some(f))
        .map(|(uid, _)| uid.clone())
        .collect();
    changed.extend(old.keys().filter(|uid| !new.contains_key(*uid)).cloned());
    changed
}

async fn relist_loop(shared: Arc<Shared>, tx: mpsc::UnboundedSender<Relist>) {
    let rt = shared.ctx.runtime.clone();
    let mut previous: HashMap<String, Vec<String>> = HashMap::new();
    let mut tick = tokio::time::interval(RELIST_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let listed = tokio::try_join!(rt.list_pod_sandbox(None), rt.list_containers(None));
        let (sandboxes, containers) = match listed {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "relisting the runtime");
                continue;
            }
        };
        let now = fingerprints(&sandboxes, &containers);
        let report = Relist {
            changed: diff(&previous, &now),
            present: now.keys().cloned().collect(),
        };
        previous = now;
        if tx.send(report).is_err() {
            return;
        }
    }
}

struct Manager {
    shared: Arc<Shared>,
    workers: HashMap<String, Handle>,
    /// Pods whose worker finished (deleted and cleaned up): late events are ignored.
    finished: HashSet<String>,
    /// Orphan clean-ups in flight.
    cleaning: HashSet<String>,
    done_tx: mpsc::UnboundedSender<String>,
    orphan_tx: mpsc::UnboundedSender<String>,
}

impl Manager {
    fn upsert(&mut self, pod: Pod) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        if self.finished.contains(&uid) {
            return;
        }
        let pod = Arc::new(pod);
        if let Some(h) = self.workers.get(&uid) {
            h.tx.send_replace(Some(pod));
            return;
        }
        let (tx, rx) = watch::channel(Some(pod));
        let poke = Arc::new(Notify::new());
        worker::spawn(
            self.shared.clone(),
            uid.clone(),
            rx,
            poke.clone(),
            self.done_tx.clone(),
        );
        self.workers.insert(uid, Handle { tx, poke });
    }

    fn removed(&mut self, uid: &str) {
        if let Some(h) = self.workers.get(uid) {
            h.tx.send_replace(None);
        }
    }

    fn poke(&self, uid: &str) {
        if let Some(h) = self.workers.get(uid) {
            h.poke.notify_one();
        }
    }

    fn clean_orphans(&mut self, present: &HashSet<String>) {
        for uid in present {
            if self.workers.contains_key(uid) || !self.cleaning.insert(uid.clone()) {
                continue;
            }
            let (shared, uid, tx) = (self.shared.clone(), uid.clone(), self.orphan_tx.clone());
            tokio::spawn(async move {
                if let Err(e) = termination::cleanup_orphan(&shared, &uid).await {
                    tracing::warn!(uid, error = %e, "cleaning up an orphaned pod");
                }
                let _ = tx.send(uid);
            });
        }
    }
}

pub async fn run(
    shared: Arc<Shared>,
    mut probe_updates: mpsc::UnboundedReceiver<ProbeUpdate>,
) -> Result<()> {
    let api: Api<Pod> = Api::all(shared.ctx.client.clone());
    let config = watcher::Config::default()
        .fields(&format!("spec.nodeName={}", shared.ctx.config.node_name));
    let mut events = watcher(api, config).default_backoff().boxed();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (orphan_tx, mut orphan_rx) = mpsc::unbounded_channel();
    let (relist_tx, mut relist_rx) = mpsc::unbounded_channel();
    tokio::spawn(relist_loop(shared.clone(), relist_tx));
    let mut m = Manager {
        shared,
        workers: HashMap::new(),
        finished: HashSet::new(),
        cleaning: HashSet::new(),
        done_tx,
        orphan_tx,
    };
    // Pods seen in the current (re)list; None between lists.
    let mut listing: Option<HashSet<String>> = None;
    // Orphans are only judged once the first list of pods is complete.
    let mut synced = false;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(watcher::Event::Apply(pod))) => m.upsert(pod),
                Some(Ok(watcher::Event::InitApply(pod))) => {
                    if let (Some(seen), Some(uid)) = (listing.as_mut(), pod.metadata.uid.as_ref()) {
                        seen.insert(uid.clone());
                    }
                    m.upsert(pod);
                }
                Some(Ok(watcher::Event::Delete(pod))) => {
                    if let Some(uid) = pod.metadata.uid.as_deref() {
                        m.removed(uid);
                    }
                }
                Some(Ok(watcher::Event::Init)) => listing = Some(HashSet::new()),
                Some(Ok(watcher::Event::InitDone)) => {
                    if let Some(seen) = listing.take() {
                        let gone: Vec<String> =
                            m.workers.keys().filter(|u| !seen.contains(*u)).cloned().collect();
                        gone.iter().for_each(|u| m.removed(u));
                    }
                    synced = true;
                }
                Some(Err(e)) => tracing::debug!(error = %e, "watching pods"),
                None => return Ok(()),
            },
            Some(update) = probe_updates.recv() => m.poke(&update.pod_uid),
            Some(report) = relist_rx.recv() => {
                report.changed.iter().for_each(|uid| m.poke(uid));
                if synced {
                    m.clean_orphans(&report.present);
                }
            }
            Some(uid) = done_rx.recv() => {
                m.workers.remove(&uid);
                if m.finished.len() > 10_000 {
                    m.finished.clear();
                }
                m.finished.insert(uid);
            }
            Some(uid) = orphan_rx.recv() => {
                m.cleaning.remove(&uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_cri::api;

    fn container(id: &str, uid: &str, state: i32) -> api::Container {
        api::Container {
            id: id.into(),
            state,
            labels: [(meta::POD_UID.to_string(), uid.to_string())].into(),
            ..Default::default()
        }
    }

    #[test]
    fn relist_diff_finds_changed_new_and_gone_pods() {
        let a = fingerprints(&[], &[container("c1", "p1", 1), container("c2", "p2", 1)]);
        let b = fingerprints(&[], &[container("c1", "p1", 2), container("c3", "p3", 1)]);
        let mut changed = diff(&a, &b);
        changed.sort();
        assert_eq!(changed, vec!["p1", "p2", "p3"]);
        assert!(diff(&b, &b).is_empty());
        // Objects without our labels are not ours.
        let foreign = api::Container {
            id: "x".into(),
            ..Default::default()
        };
        assert!(fingerprints(&[], &[foreign]).is_empty());
    }
}
