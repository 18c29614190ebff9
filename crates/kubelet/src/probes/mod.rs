//! Liveness, readiness and startup probes: one worker task per (container, probe kind)
//! that probes on the probe's period, counts thresholds, publishes results and records
//! Unhealthy events (upstream pkg/kubelet/prober).
//!
//! How the pod worker reads results: a container is ready when
//! `started(id) != Some(false)` and `readiness(id).unwrap_or(true)`; it must be
//! restarted when `liveness_failed(id)` (a failed liveness probe, or a startup probe
//! that used up its failureThreshold).

pub mod check;
pub mod worker;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Container, ObjectReference, Pod};
use rkube_client::events::{EventType, Recorder};
use rkube_cri::RuntimeClient;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use check::{Action, Outcome};
use worker::{Counter, Kind, Timing};

/// Sent whenever a probe result of a container changes; the pod worker re-syncs the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUpdate {
    pub pod_uid: String,
    pub container_id: String,
}

#[derive(Debug, Default)]
struct Entry {
    pod_uid: String,
    readiness: Option<bool>,
    started: Option<bool>,
    liveness_failed: bool,
    tasks: Vec<AbortHandle>,
}

struct Shared {
    runtime: RuntimeClient,
    recorder: Option<Recorder>,
    updates: mpsc::UnboundedSender<ProbeUpdate>,
    entries: Mutex<HashMap<String, Entry>>,
}

/// Runs probe workers per container and keeps their latest results. Cloning is cheap.
#[derive(Clone)]
pub struct ProbeManager {
    shared: Arc<Shared>,
}

fn container_reference(pod: &Pod, container: &str) -> ObjectReference {
    let mut r = rkube_client::events::reference(pod);
    let is_init = pod
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .any(|c| c.name == container);
    let list = if is_init {
        "initContainers"
    } else {
        "containers"
    };
    r.field_path = Some(format!("spec.{list}{{{container}}}"));
    r
}

impl ProbeManager {
    pub fn new(
        runtime: RuntimeClient,
        recorder: Recorder,
    ) -> (ProbeManager, mpsc::UnboundedReceiver<ProbeUpdate>) {
        Self::build(runtime, Some(recorder))
    }

    fn build(
        runtime: RuntimeClient,
        recorder: Option<Recorder>,
    ) -> (ProbeManager, mpsc::UnboundedReceiver<ProbeUpdate>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared {
            runtime,
            recorder,
            updates: tx,
            entries: Mutex::new(HashMap::new()),
        };
        (
            ProbeManager {
                shared: Arc::new(shared),
            },
            rx,
        )
    }

    /// Starts the container's probe workers once per container id (a no-op when they
    /// run already). Call from within the tokio runtime.
    pub fn ensure(
        &self,
        pod: &Pod,
        container: &Container,
        container_id: &str,
        pod_ip: Option<IpAddr>,
    ) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("probe workers need a tokio runtime");
            return;
        };
        let Ok(mut entries) = self.shared.entries.lock() else {
            return;
        };
        if entries.contains_key(container_id) {
            return;
        }
        let probes = [
            (Kind::Startup, container.startup_probe.as_ref()),
            (Kind::Liveness, container.liveness_probe.as_ref()),
            (Kind::Readiness, container.readiness_probe.as_ref()),
        ];
        let mut entry = Entry {
            pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
            readiness: container.readiness_probe.as_ref().map(|_| false),
            started: container.startup_probe.as_ref().map(|_| false),
            ..Default::default()
        };
        let reference = container_reference(pod, &container.name);
        for (kind, probe) in probes {
            let Some(probe) = probe else { continue };
            let task = Task {
                shared: self.shared.clone(),
                container_id: container_id.to_string(),
                kind,
                action: check::action(probe, container, pod_ip),
                timing: Timing::of(probe, kind),
                reference: reference.clone(),
            };
            entry.tasks.push(handle.spawn(task.run()).abort_handle());
        }
        entries.insert(container_id.to_string(), entry);
    }

    /// Stops the container's workers and drops its results.
    pub fn forget_container(&self, container_id: &str) {
        if let Ok(mut entries) = self.shared.entries.lock() {
            if let Some(e) = entries.remove(container_id) {
                e.tasks.iter().for_each(AbortHandle::abort);
            }
        }
    }

    pub fn forget_pod(&self, pod_uid: &str) {
        if let Ok(mut entries) = self.shared.entries.lock() {
            entries.retain(|_, e| {
                let keep = e.pod_uid != pod_uid;
                if !keep {
                    e.tasks.iter().for_each(AbortHandle::abort);
                }
                keep
            });
        }
    }

    fn read<T>(&self, container_id: &str, f: impl FnOnce(&Entry) -> T) -> Option<T> {
        self.shared
            .entries
            .lock()
            .ok()
            .and_then(|e| e.get(container_id).map(f))
    }

    /// None = the container has no readiness probe (or is unknown).
    pub fn readiness(&self, container_id: &str) -> Option<bool> {
        self.read(container_id, |e| e.readiness).flatten()
    }

    /// None = the container has no startup probe (or is unknown).
    pub fn started(&self, container_id: &str) -> Option<bool> {
        self.read(container_id, |e| e.started).flatten()
    }

    /// Whether the container must be restarted: its liveness probe failed, or its
    /// startup probe failed failureThreshold times.
    pub fn liveness_failed(&self, container_id: &str) -> bool {
        self.read(container_id, |e| e.liveness_failed)
            .unwrap_or(false)
    }
}

struct Task {
    shared: Arc<Shared>,
    container_id: String,
    kind: Kind,
    action: Action,
    timing: Timing,
    reference: ObjectReference,
}

impl Task {
    /// Some(may probe now) while the container is known; liveness and readiness wait for
    /// the startup probe.
    fn gate(&self) -> Option<bool> {
        let entries = self.shared.entries.lock().ok()?;
        let entry = entries.get(&self.container_id)?;
        Some(self.kind == Kind::Startup || entry.started != Some(false))
    }

    /// Stores a changed result and tells the pod worker.
    fn publish(&self, apply: impl FnOnce(&mut Entry)) {
        let pod_uid = {
            let Ok(mut entries) = self.shared.entries.lock() else {
                return;
            };
            let Some(entry) = entries.get_mut(&self.container_id) else {
                return;
            };
            apply(entry);
            entry.pod_uid.clone()
        };
        let _ = self.shared.updates.send(ProbeUpdate {
            pod_uid,
            container_id: self.container_id.clone(),
        });
    }

    async fn event(&self, message: String) {
        tracing::debug!(container = %self.container_id, "{message}");
        if let Some(recorder) = &self.shared.recorder {
            recorder
                .record(&self.reference, EventType::Warning, "Unhealthy", &message)
                .await;
        }
    }

    async fn run(self) {
        tokio::time::sleep(self.timing.initial_delay).await;
        let mut counter = Counter::new(self.kind, self.timing);
        loop {
            match self.gate() {
                None => return,
                Some(false) => {
                    tokio::time::sleep(self.timing.period).await;
                    continue;
                }
                Some(true) => {}
            }
            let outcome = check::run(
                &self.action,
                &self.shared.runtime,
                &self.container_id,
                self.timing.timeout,
            )
            .await;
            match &outcome {
                Outcome::Failure(m) => {
                    self.event(format!("{} probe failed: {m}", self.kind.title()))
                        .await
                }
                Outcome::Unknown(m) => {
                    self.event(format!(
                        "{} probe errored and resulted in unknown state: {m}",
                        self.kind.title()
                    ))
                    .await
                }
                Outcome::Success => {}
            }
            let changed = counter.observe(&outcome);
            match self.kind {
                Kind::Readiness => {
                    if let Some(ready) = changed {
                        self.publish(|e| e.readiness = Some(ready));
                    }
                }
                Kind::Liveness => {
                    if changed == Some(false) {
                        self.publish(|e| e.liveness_failed = true);
                        // The container is restarted under a new id with new workers.
                        return;
                    }
                }
                Kind::Startup => {
                    if changed == Some(true) {
                        self.publish(|e| e.started = Some(true));
                        return;
                    }
                    if counter.exhausted() {
                        self.publish(|e| e.liveness_failed = true);
                        return;
                    }
                }
            }
            tokio::time::sleep(self.timing.period).await;
        }
    }
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
