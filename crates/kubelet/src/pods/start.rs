//! Starting one container: crash back-off, image, environment and mounts, the CRI
//! create and start calls with their events, the postStart hook, and removal of
//! attempts older than the previous one.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod};
use rkube_client::events::EventType;

use super::backoff::{go_duration, instant_of};
use super::containers::{self, spec_hash, Kind};
use super::observed::{ContainerInfo, Observed, State};
use super::status::Waiting;
use super::worker::{pod_key, Worker, CONFIG_RETRY, RETRY};
use super::{hooks, images, resources, sandbox};
use crate::error::{Error, Result};

impl Worker {
    pub(super) fn set_waiting(&mut self, kind: Kind, name: &str, w: Waiting) {
        self.waiting.insert((kind, name.to_string()), w);
    }

    /// Creates and starts one container. `last` is the attempt it replaces; when that
    /// one crashed recently the start waits out the back-off. Returns whether a
    /// container was started.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn start(
        &mut self,
        pod: &Pod,
        kind: Kind,
        c: &Container,
        obs: &Observed,
        sandbox_id: &str,
        pod_ip: Option<IpAddr>,
        last: Option<&ContainerInfo>,
    ) -> Result<bool> {
        let shared = self.shared.clone();
        let path = Some(kind.field_path(&c.name));
        let key = format!("{:?}/{}/{}", kind, c.name, spec_hash(c));
        if let Some(last) = last {
            let ended = if last.finished_at > 0 {
                last.finished_at
            } else {
                last.created_at
            };
            let now = Instant::now();
            let event_time = instant_of(ended, now);
            if let Some(rest) = self.crash_backoff.remaining(&key, event_time, now) {
                let delay = self.crash_backoff.delay(&key).unwrap_or(rest);
                self.set_waiting(
                    kind,
                    &c.name,
                    Waiting {
                        reason: "CrashLoopBackOff".into(),
                        message: format!(
                            "back-off {} restarting failed container={} pod={}",
                            go_duration(delay),
                            c.name,
                            pod_key(pod)
                        ),
                    },
                );
                shared.event(
                    pod,
                    path,
                    EventType::Warning,
                    "BackOff",
                    format!(
                        "Back-off restarting failed container {} in pod {}",
                        c.name,
                        pod_key(pod)
                    ),
                );
                self.wake_in(rest);
                return Ok(false);
            }
            self.crash_backoff.next(&key, event_time);
        }
        let image_ref = match images::ensure_image(
            &shared,
            pod,
            kind,
            c,
            &mut self.pull_backoff,
            &mut self.pull_errors,
        )
        .await
        {
            Ok(r) => r,
            Err((w, retry)) => {
                self.set_waiting(kind, &c.name, w);
                self.wake_in(retry.unwrap_or(RETRY));
                return Ok(false);
            }
        };
        let config_error = |e: Error| Waiting {
            reason: "CreateContainerConfigError".into(),
            message: e.to_string(),
        };
        let envs =
            crate::env::container_env(&shared.ctx.client, pod, c, shared.ctx.host_ip, pod_ip).await;
        let mounts = match &self.volumes {
            Some((v, _)) => v.mounts_for(pod, c),
            None => Ok(Vec::new()),
        };
        let (envs, mounts) = match (envs, mounts) {
            (Ok(e), Ok(m)) => (e, m),
            (Err(e), _) | (_, Err(e)) => {
                let w = config_error(e);
                shared.event(
                    pod,
                    path,
                    EventType::Warning,
                    "Failed",
                    format!("Error: {}", w.message),
                );
                self.set_waiting(kind, &c.name, w);
                self.wake_in(CONFIG_RETRY);
                return Ok(false);
            }
        };
        let restart_count = obs
            .latest(kind, &c.name)
            .0
            .map(|p| p.restart_count + 1)
            .unwrap_or(0);
        let qos = pod
            .status
            .as_ref()
            .and_then(|s| s.qos_class.clone())
            .unwrap_or_else(|| resources::qos_class(pod).to_string());
        let config = containers::container_config(
            pod,
            c,
            containers::Inputs {
                kind,
                restart_count,
                image_ref: &image_ref,
                envs,
                mounts,
                qos: &qos,
                memory_capacity: shared.memory_capacity,
            },
        );
        let attempt = obs.ready_sandbox().map(|s| s.attempt).unwrap_or(0);
        let sandbox_config =
            sandbox::sandbox_config(pod, &shared.ctx.config, &shared.host_resolv, attempt);
        let rt = &shared.ctx.runtime;
        let fail = |this: &mut Self, reason: &str, e: rkube_cri::CriError| {
            let msg = images::cri_message(&e);
            shared.event(
                pod,
                path.clone(),
                EventType::Warning,
                "Failed",
                format!("Error: {msg}"),
            );
            this.set_waiting(
                kind,
                &c.name,
                Waiting {
                    reason: reason.into(),
                    message: msg,
                },
            );
            this.wake_in(CONFIG_RETRY);
        };
        let id = match rt
            .create_container(sandbox_id, config, sandbox_config)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                fail(self, "CreateContainerError", e);
                return Ok(false);
            }
        };
        shared.event(
            pod,
            path.clone(),
            EventType::Normal,
            "Created",
            format!("Created container: {}", c.name),
        );
        if let Err(e) = rt.start_container(&id).await {
            fail(self, "RunContainerError", e);
            return Ok(true);
        }
        shared.event(
            pod,
            path.clone(),
            EventType::Normal,
            "Started",
            format!("Started container {}", c.name),
        );
        self.waiting.remove(&(kind, c.name.clone()));
        if let Some(handler) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
            let grace = Duration::from_secs(30);
            if let Err(msg) = hooks::run(rt, handler, c, &id, pod_ip, grace).await {
                shared.event(
                    pod,
                    path.clone(),
                    EventType::Warning,
                    "FailedPostStartHook",
                    msg.clone(),
                );
                let _ = rt.stop_container(&id, Duration::from_secs(2)).await;
            }
        }
        self.collect_garbage(obs, kind, &c.name).await;
        Ok(true)
    }

    /// Keeps the newest exited attempt of a container (for `logs --previous`) and
    /// removes older ones, like upstream's container GC with one dead container each.
    async fn collect_garbage(&self, obs: &Observed, kind: Kind, name: &str) {
        let exited = obs
            .containers
            .iter()
            .filter(|c| c.kind == kind && c.name == name && c.state == State::Exited);
        for old in exited.skip(1) {
            self.shared.probes.forget_container(&old.id);
            if let Err(e) = self.shared.ctx.runtime.remove_container(&old.id).await {
                tracing::debug!(id = %old.id, error = %e, "removing an old container");
            }
        }
    }
}
