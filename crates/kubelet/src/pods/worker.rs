//! One pod's worker: a task that serialises syncs of its pod. Each sync reads what the
//! runtime holds, drives it towards the spec (sandbox, init containers in order,
//! containers with restart policy and back-off), then writes pods/status if it changed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod, PodStatus};
use kube::api::{Patch, PatchParams};
use kube::Api;
use rkube_client::events::EventType;
use tokio::sync::{mpsc, watch, Notify};

use super::backoff::Backoff;
use super::containers::{spec_hash, Kind};
use super::observed::{observe, ContainerInfo, Observed, State};
use super::status::{self, Waiting};
use super::{images, sandbox, Shared};
use crate::error::{Error, Result};
use crate::volumes::{self, PodVolumes};

/// How often a quiet pod is synced anyway (volume contents, probe-free drift).
const RESYNC: Duration = Duration::from_secs(30);
pub(super) const RETRY: Duration = Duration::from_secs(2);
/// Retry of a container that could not be configured or created (upstream's pod
/// worker back-off after a failed sync).
pub(super) const CONFIG_RETRY: Duration = Duration::from_secs(10);
const VOLUME_REFRESH: Duration = Duration::from_secs(60);

pub struct Worker {
    pub(super) shared: Arc<Shared>,
    pub(super) uid: String,
    pub(super) crash_backoff: Backoff,
    pub(super) pull_backoff: Backoff,
    pub(super) pull_errors: HashMap<String, String>,
    pub(super) waiting: HashMap<(Kind, String), Waiting>,
    pub(super) last_sent: Option<PodStatus>,
    pub(super) volumes: Option<(PodVolumes, Instant)>,
    /// Earliest moment a back-off ends and the pod needs another look.
    pub(super) wake: Option<Instant>,
}

/// The pod as the manager last saw it; `None` once it is gone from the API.
pub type PodSlot = Option<Arc<Pod>>;

pub fn spawn(
    shared: Arc<Shared>,
    uid: String,
    rx: watch::Receiver<PodSlot>,
    poke: Arc<Notify>,
    done: mpsc::UnboundedSender<String>,
) {
    let worker = Worker {
        shared,
        uid,
        crash_backoff: Backoff::default(),
        pull_backoff: Backoff::default(),
        pull_errors: HashMap::new(),
        waiting: HashMap::new(),
        last_sent: None,
        volumes: None,
        wake: None,
    };
    tokio::spawn(worker.run(rx, poke, done));
}

fn policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

fn should_restart(policy: &str, c: &ContainerInfo) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => !c.succeeded(),
        _ => true,
    }
}

pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

impl Worker {
    async fn run(
        mut self,
        mut rx: watch::Receiver<PodSlot>,
        poke: Arc<Notify>,
        done: mpsc::UnboundedSender<String>,
    ) {
        let mut last: Option<Arc<Pod>> = None;
        loop {
            let current = rx.borrow_and_update().clone();
            if let Some(p) = &current {
                last = Some(p.clone());
            }
            let Some(pod) = last.clone() else { return };
            self.wake = None;
            let removed = current.is_none();
            let result = if removed || pod.metadata.deletion_timestamp.is_some() {
                match self.terminate(&pod, removed).await {
                    Ok(()) => {
                        let _ = done.send(self.uid.clone());
                        return;
                    }
                    Err(e) => Err(e),
                }
            } else {
                self.sync(&pod).await
            };
            let next = match result {
                Ok(()) => self.wake.unwrap_or(Instant::now() + RESYNC),
                Err(e) => {
                    tracing::warn!(pod = %pod_key(&pod), error = %e, "pod sync failed; retrying");
                    Instant::now() + RETRY
                }
            };
            let next = next.min(Instant::now() + RESYNC);
            tokio::select! {
                changed = rx.changed() => {
                    // The manager is gone: the process is shutting down.
                    if changed.is_err() {
                        return;
                    }
                }
                _ = poke.notified() => {}
                _ = tokio::time::sleep_until(next.into()) => {}
            }
        }
    }

    pub(super) fn wake_in(&mut self, d: Duration) {
        let at = Instant::now() + d;
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }

    fn pod_ip(obs: &Observed) -> Option<IpAddr> {
        obs.pod_ips().first().and_then(|ip| ip.parse().ok())
    }

    async fn sync(&mut self, pod: &Pod) -> Result<()> {
        let rt = self.shared.ctx.runtime.clone();
        let mut obs = observe(&rt, &self.uid).await?;
        let terminal = matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        );
        if terminal {
            // Finished pods keep their containers, stopped; the sandbox goes.
            if self.stop_all(pod, &obs, Some(2)).await? {
                obs = observe(&rt, &self.uid).await?;
            }
            return self.write_status(pod, &obs, false).await;
        }
        if obs.ready_sandbox().is_none() {
            let ran_before = obs.containers.iter().any(|c| c.kind == Kind::Regular);
            if policy(pod) == "Never" && ran_before {
                // Upstream does not make a new sandbox for a pod that must not restart.
                return self.write_status(pod, &obs, false).await;
            }
            if self.last_sent.is_none() {
                self.write_status(pod, &obs, false).await?;
            }
            self.stop_all(pod, &obs, Some(2)).await?;
            self.create_sandbox(pod, &obs).await?;
            obs = observe(&rt, &self.uid).await?;
        }
        let Some(sb) = obs.ready_sandbox().cloned() else {
            return Err(Error::Other("sandbox is not ready after creation".into()));
        };
        let pod_ip = Self::pod_ip(&obs);
        let stale = self
            .volumes
            .as_ref()
            .is_none_or(|(_, at)| at.elapsed() > VOLUME_REFRESH);
        if stale {
            match volumes::setup(
                &self.shared.ctx.client,
                &self.shared.ctx.config,
                pod,
                pod_ip,
            )
            .await
            {
                Ok(v) => self.volumes = Some((v, Instant::now())),
                Err(e) if self.volumes.is_some() => {
                    tracing::debug!(error = %e, "refreshing volumes");
                }
                Err(e) => {
                    self.shared.event(
                        pod,
                        None,
                        EventType::Warning,
                        "FailedMount",
                        format!("MountVolume.SetUp failed: {e}"),
                    );
                    self.write_status(pod, &obs, false).await?;
                    self.wake_in(RETRY);
                    return Ok(());
                }
            }
        }
        let changed = self.sync_containers(pod, &obs, &sb.id, pod_ip).await?;
        if changed {
            obs = observe(&rt, &self.uid).await?;
        }
        for c in obs.containers.iter().filter(|c| c.state == State::Running) {
            if let Some(spec) = find_spec(pod, c.kind, &c.name) {
                self.shared.probes.ensure(pod, spec, &c.id, pod_ip);
            }
        }
        self.write_status(pod, &obs, false).await
    }

    async fn create_sandbox(&mut self, pod: &Pod, obs: &Observed) -> Result<()> {
        let attempt = obs.newest_sandbox().map(|s| s.attempt + 1).unwrap_or(0);
        let config = sandbox::sandbox_config(
            pod,
            &self.shared.ctx.config,
            &self.shared.host_resolv,
            attempt,
        );
        std::fs::create_dir_all(&config.log_directory)
            .map_err(|e| Error::io("cannot create", &config.log_directory, e))?;
        if let Err(e) = self.shared.ctx.runtime.run_pod_sandbox(config, "").await {
            let msg = images::cri_message(&e);
            self.shared.event(
                pod,
                None,
                EventType::Warning,
                "FailedCreatePodSandBox",
                format!("Failed to create pod sandbox: {msg}"),
            );
            return Err(e.into());
        }
        Ok(())
    }

    /// Starts, restarts or kills containers; returns whether anything changed.
    async fn sync_containers(
        &mut self,
        pod: &Pod,
        obs: &Observed,
        sandbox_id: &str,
        pod_ip: Option<IpAddr>,
    ) -> Result<bool> {
        let Some(spec) = pod.spec.as_ref() else {
            return Ok(false);
        };
        let policy = policy(pod).to_string();
        let mut changed = false;
        let regular_started = spec
            .containers
            .iter()
            .any(|c| obs.in_sandbox(sandbox_id, Kind::Regular, &c.name).is_some());
        if !regular_started {
            for c in spec.init_containers.iter().flatten() {
                let sidecar = c.restart_policy.as_deref() == Some("Always");
                match obs.in_sandbox(sandbox_id, Kind::Init, &c.name) {
                    Some(cur) if cur.succeeded() && !sidecar => continue,
                    Some(cur) if cur.state == State::Running => {
                        if sidecar {
                            continue;
                        }
                        return Ok(changed);
                    }
                    Some(cur) => {
                        if policy == "Never" && !sidecar {
                            return Ok(changed);
                        }
                        let cur = cur.clone();
                        changed |= self
                            .start(pod, Kind::Init, c, obs, sandbox_id, pod_ip, Some(&cur))
                            .await?;
                        return Ok(changed);
                    }
                    None => {
                        let started = self
                            .start(pod, Kind::Init, c, obs, sandbox_id, pod_ip, None)
                            .await?;
                        changed |= started;
                        if !(sidecar && started) {
                            return Ok(changed);
                        }
                    }
                }
            }
        }
        for c in &spec.containers {
            let cur = obs.in_sandbox(sandbox_id, Kind::Regular, &c.name).cloned();
            match cur {
                Some(cur) if cur.state == State::Running => {
                    let hash_changed = !cur.hash.is_empty() && cur.hash != spec_hash(c);
                    let live_failed = self.shared.probes.liveness_failed(&cur.id);
                    if !hash_changed && !live_failed {
                        continue;
                    }
                    let why = if hash_changed {
                        format!("Container {} definition changed, will be restarted", c.name)
                    } else {
                        format!(
                            "Container {} failed liveness probe, will be restarted",
                            c.name
                        )
                    };
                    self.kill(pod, Kind::Regular, c, &cur, pod_ip, &why, None)
                        .await?;
                    changed = true;
                    if hash_changed || policy != "Never" {
                        // A deliberate restart is not a crash: no back-off.
                        self.start(pod, Kind::Regular, c, obs, sandbox_id, pod_ip, None)
                            .await?;
                    }
                }
                Some(cur) => {
                    let hash_changed = !cur.hash.is_empty() && cur.hash != spec_hash(c);
                    if should_restart(&policy, &cur) || (hash_changed && policy != "Never") {
                        changed |= self
                            .start(pod, Kind::Regular, c, obs, sandbox_id, pod_ip, Some(&cur))
                            .await?;
                    }
                }
                None => {
                    let previous = obs.latest(Kind::Regular, &c.name).0.cloned();
                    if previous
                        .as_ref()
                        .is_some_and(|p| !should_restart(&policy, p))
                    {
                        continue;
                    }
                    changed |= self
                        .start(
                            pod,
                            Kind::Regular,
                            c,
                            obs,
                            sandbox_id,
                            pod_ip,
                            previous.as_ref(),
                        )
                        .await?;
                }
            }
        }
        Ok(changed)
    }

    pub(super) async fn write_status(
        &mut self,
        pod: &Pod,
        obs: &Observed,
        terminating: bool,
    ) -> Result<()> {
        let probes = self.shared.probes.clone();
        let lookup = move |id: &str| (probes.readiness(id), probes.started(id));
        let built = status::build(&status::Inputs {
            pod,
            observed: obs,
            waiting: &self.waiting,
            probes: &lookup,
            host_ip: self.shared.ctx.host_ip,
            now: k8s_openapi::jiff::Timestamp::now(),
            terminating,
        });
        if pod.status.as_ref() == Some(&built) || self.last_sent.as_ref() == Some(&built) {
            return Ok(());
        }
        let api: Api<Pod> = Api::namespaced(
            self.shared.ctx.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        );
        let body = serde_json::json!({
            "metadata": {"uid": self.uid},
            "status": status::strategic_patch(&built),
        });
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let mut attempt = 0;
        loop {
            match api
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
                .await
            {
                Ok(_) => {
                    self.last_sent = Some(built);
                    return Ok(());
                }
                // Gone, or the name belongs to a new pod now.
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => return Ok(()),
                Err(e) if attempt < 2 => {
                    attempt += 1;
                    tracing::debug!(pod = name, error = %e, "writing pod status; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

pub fn find_spec<'a>(pod: &'a Pod, kind: Kind, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    match kind {
        Kind::Init => spec
            .init_containers
            .as_ref()?
            .iter()
            .find(|c| c.name == name),
        Kind::Regular => spec.containers.iter().find(|c| c.name == name),
    }
}
