//! Stopping pods: graceful container stops with preStop hooks and Killing events, the
//! final status, removal of every runtime object, volume and cgroup, and the
//! gracePeriodSeconds=0 DELETE that completes a graceful deletion.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{DeleteParams, Preconditions};
use kube::Api;
use rkube_client::events::EventType;
use rkube_cri::api;

use super::containers::Kind;
use super::observed::{observe, ContainerInfo, Observed, State};
use super::worker::{find_spec, Worker};
use super::{hooks, resources, Shared};
use crate::error::Result;
use crate::{meta, volumes};

/// Upstream never gives a container less than this to stop.
const MIN_GRACE: i64 = 2;

/// The grace period of a deletion: the one the API set, else the pod's own.
pub fn grace_seconds(pod: &Pod) -> i64 {
    pod.metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30)
        .max(MIN_GRACE)
}

/// Runs the preStop hook within the grace period, then stops the container with
/// what is left of it (SIGTERM, then SIGKILL from the runtime).
async fn stop_one(
    shared: &Shared,
    pod: &Pod,
    spec: Option<&Container>,
    c: &ContainerInfo,
    pod_ip: Option<IpAddr>,
    message: String,
    grace: i64,
) {
    let deadline = Instant::now() + Duration::from_secs(grace as u64);
    shared.event(
        pod,
        Some(c.kind.field_path(&c.name)),
        EventType::Normal,
        "Killing",
        message,
    );
    let rt = &shared.ctx.runtime;
    if let Some((spec, handler)) =
        spec.and_then(|s| s.lifecycle.as_ref()?.pre_stop.as_ref().map(|h| (s, h)))
    {
        let budget = deadline.saturating_duration_since(Instant::now());
        if let Err(msg) = hooks::run(rt, handler, spec, &c.id, pod_ip, budget).await {
            shared.event(
                pod,
                Some(c.kind.field_path(&c.name)),
                EventType::Warning,
                "FailedPreStopHook",
                msg,
            );
        }
    }
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(MIN_GRACE as u64));
    match rt.stop_container(&c.id, left).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => tracing::warn!(id = %c.id, error = %e, "stopping container"),
    }
    shared.probes.forget_container(&c.id);
}

fn pod_ip(obs: &Observed) -> Option<IpAddr> {
    obs.pod_ips().first().and_then(|ip| ip.parse().ok())
}

impl Worker {
    /// Kills one container on purpose (liveness failure, changed spec).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn kill(
        &mut self,
        pod: &Pod,
        _kind: Kind,
        spec: &Container,
        c: &ContainerInfo,
        pod_ip: Option<IpAddr>,
        message: &str,
        grace: Option<i64>,
    ) -> Result<()> {
        let grace = grace
            .or_else(|| {
                pod.spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30)
            .max(MIN_GRACE);
        stop_one(
            &self.shared,
            pod,
            Some(spec),
            c,
            pod_ip,
            message.to_string(),
            grace,
        )
        .await;
        Ok(())
    }

    /// Stops every running container and every ready sandbox of the pod; returns
    /// whether anything was running.
    pub(super) async fn stop_all(
        &mut self,
        pod: &Pod,
        obs: &Observed,
        grace: Option<i64>,
    ) -> Result<bool> {
        let grace = grace.unwrap_or_else(|| grace_seconds(pod));
        let ip = pod_ip(obs);
        let running: Vec<&ContainerInfo> = obs
            .containers
            .iter()
            .filter(|c| c.state == State::Running)
            .collect();
        let shared = self.shared.clone();
        join_all(running.iter().map(|c| {
            stop_one(
                &shared,
                pod,
                find_spec(pod, c.kind, &c.name),
                c,
                ip,
                format!("Stopping container {}", c.name),
                grace,
            )
        }))
        .await;
        let mut any = !running.is_empty();
        for s in obs.sandboxes.iter().filter(|s| s.ready) {
            any = true;
            match shared.ctx.runtime.stop_pod_sandbox(&s.id).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(any)
    }

    /// Tears the pod down. `removed`: the pod is already gone from the API (no final
    /// status, no DELETE).
    pub(super) async fn terminate(&mut self, pod: &Pod, removed: bool) -> Result<()> {
        let rt = self.shared.ctx.runtime.clone();
        let obs = observe(&rt, &self.uid).await?;
        self.stop_all(pod, &obs, None).await?;
        self.shared.probes.forget_pod(&self.uid);
        let obs = observe(&rt, &self.uid).await?;
        if !removed {
            self.write_status(pod, &obs, true).await?;
        }
        remove_runtime_objects(&self.shared, &obs).await?;
        let qos = pod
            .status
            .as_ref()
            .and_then(|s| s.qos_class.clone())
            .unwrap_or_else(|| resources::qos_class(pod).to_string());
        clean_host(
            &self.shared,
            &self.uid,
            &[qos.as_str()],
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref(),
        )
        .await?;
        if removed {
            return Ok(());
        }
        let api: Api<Pod> = Api::namespaced(
            self.shared.ctx.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        );
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api
            .delete(pod.metadata.name.as_deref().unwrap_or_default(), &params)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Removes the pod's containers and sandboxes from the runtime.
async fn remove_runtime_objects(shared: &Shared, obs: &Observed) -> Result<()> {
    let rt = &shared.ctx.runtime;
    for c in &obs.containers {
        match rt.remove_container(&c.id).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    for s in &obs.sandboxes {
        for r in [
            rt.stop_pod_sandbox(&s.id).await,
            rt.remove_pod_sandbox(&s.id).await,
        ] {
            match r {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Volumes, the pod cgroup (for each QoS class it may have been under) and logs.
async fn clean_host(
    shared: &Shared,
    uid: &str,
    qos_classes: &[&str],
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<()> {
    let config = &shared.ctx.config;
    volumes::teardown(config, uid).await?;
    for qos in qos_classes {
        let cgroup = resources::cgroup_parent(&config.cgroup_root, qos, uid);
        if let Err(e) = rkube_cri::host::remove_cgroup(&cgroup) {
            tracing::debug!(cgroup, error = %e, "removing pod cgroup");
        }
    }
    if let (Some(ns), Some(name)) = (namespace, name) {
        let dir = meta::pod_log_dir(&config.pod_log_dir, ns, name, uid);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::debug!(dir = %dir.display(), error = %e, "removing pod logs"),
        }
    }
    Ok(())
}

/// Removes everything the runtime and host hold for a pod that no longer exists here
/// (deleted while the kubelet was down, or bound elsewhere).
pub async fn cleanup_orphan(shared: &Shared, uid: &str) -> Result<()> {
    let rt = &shared.ctx.runtime;
    let obs = observe(rt, uid).await?;
    let labels: HashMap<String, String> = rt
        .list_pod_sandbox(Some(api::PodSandboxFilter {
            label_selector: [(meta::POD_UID.to_string(), uid.to_string())].into(),
            ..Default::default()
        }))
        .await?
        .into_iter()
        .next()
        .map(|s| s.labels)
        .unwrap_or_default();
    tracing::info!(
        uid,
        "removing containers of a pod that is no longer bound here"
    );
    let grace = Duration::from_secs(MIN_GRACE as u64);
    join_all(
        obs.containers
            .iter()
            .filter(|c| c.state == State::Running)
            .map(|c| rt.stop_container(&c.id, grace)),
    )
    .await;
    shared.probes.forget_pod(uid);
    remove_runtime_objects(shared, &obs).await?;
    clean_host(
        shared,
        uid,
        &["Guaranteed", "Burstable", "BestEffort"],
        labels.get(meta::POD_NAMESPACE).map(String::as_str),
        labels.get(meta::POD_NAME).map(String::as_str),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;

    #[test]
    fn grace_prefers_the_deletion_and_has_a_floor() {
        let mut pod = Pod {
            spec: Some(PodSpec {
                termination_grace_period_seconds: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(grace_seconds(&pod), 10);
        pod.metadata.deletion_grace_period_seconds = Some(5);
        assert_eq!(grace_seconds(&pod), 5);
        pod.metadata.deletion_grace_period_seconds = Some(0);
        assert_eq!(grace_seconds(&pod), MIN_GRACE);
        pod.spec = None;
        pod.metadata.deletion_grace_period_seconds = None;
        assert_eq!(grace_seconds(&pod), 30);
    }
}
