//! What the runtime holds for one pod: its sandboxes and containers, read through
//! CRI by the pod-uid label (so a restarted kubelet sees the same thing).

use std::collections::HashMap;

use rkube_cri::{api, RuntimeClient};

use super::containers::{Kind, KIND_INIT, SPEC_IMAGE};
use crate::error::Result;
use crate::meta;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Created,
    Running,
    Exited,
    Unknown,
}

impl State {
    fn from_cri(v: i32) -> State {
        match api::ContainerState::try_from(v) {
            Ok(api::ContainerState::ContainerCreated) => State::Created,
            Ok(api::ContainerState::ContainerRunning) => State::Running,
            Ok(api::ContainerState::ContainerExited) => State::Exited,
            _ => State::Unknown,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SandboxInfo {
    pub id: String,
    pub attempt: u32,
    pub ready: bool,
    pub created_at: i64,
    /// Pod IPs (primary first); filled only for the newest ready sandbox.
    pub ips: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub id: String,
    pub sandbox_id: String,
    pub name: String,
    pub kind: Kind,
    pub restart_count: u32,
    pub state: State,
    pub created_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub exit_code: i32,
    pub reason: String,
    pub message: String,
    pub image_ref: String,
    pub spec_image: String,
    pub hash: String,
}

impl ContainerInfo {
    pub fn succeeded(&self) -> bool {
        self.state == State::Exited && self.exit_code == 0
    }
}

/// Sandboxes and containers of one pod, newest first.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub sandboxes: Vec<SandboxInfo>,
    pub containers: Vec<ContainerInfo>,
}

impl Observed {
    /// The newest sandbox, ready or not.
    pub fn newest_sandbox(&self) -> Option<&SandboxInfo> {
        self.sandboxes.first()
    }

    /// The sandbox containers run in: the newest one, when it is ready.
    pub fn ready_sandbox(&self) -> Option<&SandboxInfo> {
        self.sandboxes.first().filter(|s| s.ready)
    }

    /// The newest container of a name (across sandboxes) and the one before it.
    pub fn latest(
        &self,
        kind: Kind,
        name: &str,
    ) -> (Option<&ContainerInfo>, Option<&ContainerInfo>) {
        let mut it = self
            .containers
            .iter()
            .filter(|c| c.kind == kind && c.name == name);
        (it.next(), it.next())
    }

    /// The newest container of a name in the given sandbox.
    pub fn in_sandbox(&self, sandbox: &str, kind: Kind, name: &str) -> Option<&ContainerInfo> {
        self.containers
            .iter()
            .find(|c| c.sandbox_id == sandbox && c.kind == kind && c.name == name)
    }

    pub fn pod_ips(&self) -> &[String] {
        self.ready_sandbox()
            .map(|s| s.ips.as_slice())
            .unwrap_or(&[])
    }
}

fn uid_filter(uid: &str) -> HashMap<String, String> {
    [(meta::POD_UID.to_string(), uid.to_string())].into()
}

/// Reads everything the runtime has for `uid`.
pub async fn observe(runtime: &RuntimeClient, uid: &str) -> Result<Observed> {
    let sandboxes = runtime
        .list_pod_sandbox(Some(api::PodSandboxFilter {
            label_selector: uid_filter(uid),
            ..Default::default()
        }))
        .await?;
    let listed = runtime
        .list_containers(Some(api::ContainerFilter {
            label_selector: uid_filter(uid),
            ..Default::default()
        }))
        .await?;
    let mut out = Observed::default();
    for s in sandboxes {
        out.sandboxes.push(SandboxInfo {
            attempt: s.metadata.as_ref().map(|m| m.attempt).unwrap_or(0),
            ready: s.state == api::PodSandboxState::SandboxReady as i32,
            created_at: s.created_at,
            ips: Vec::new(),
            id: s.id,
        });
    }
    out.sandboxes
        .sort_by_key(|s| std::cmp::Reverse((s.created_at, s.attempt)));
    if let Some(first) = out.sandboxes.first_mut().filter(|s| s.ready) {
        match runtime.pod_sandbox_status(&first.id, false).await {
            Ok(resp) => {
                if let Some(net) = resp.status.and_then(|s| s.network) {
                    if !net.ip.is_empty() {
                        first.ips.push(net.ip);
                    }
                    first
                        .ips
                        .extend(net.additional_ips.into_iter().map(|p| p.ip));
                }
            }
            Err(e) if e.is_not_found() => first.ready = false,
            Err(e) => return Err(e.into()),
        }
    }
    for c in listed {
        let status = match runtime.container_status(&c.id, false).await {
            Ok(resp) => resp.status,
            // Removed between the list and now.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        let Some(st) = status else { continue };
        let label = |k: &str| c.labels.get(k).cloned().unwrap_or_default();
        let annotation = |k: &str| st.annotations.get(k).cloned().unwrap_or_default();
        out.containers.push(ContainerInfo {
            id: c.id.clone(),
            sandbox_id: c.pod_sandbox_id.clone(),
            name: label(meta::CONTAINER_NAME),
            kind: if label(meta::CONTAINER_KIND) == KIND_INIT {
                Kind::Init
            } else {
                Kind::Regular
            },
            restart_count: annotation(meta::CONTAINER_RESTART_COUNT)
                .parse()
                .unwrap_or(0),
            state: State::from_cri(st.state),
            created_at: st.created_at,
            started_at: st.started_at,
            finished_at: st.finished_at,
            exit_code: st.exit_code,
            reason: st.reason,
            message: st.message,
            image_ref: st.image_ref,
            spec_image: annotation(SPEC_IMAGE),
            hash: annotation(meta::CONTAINER_HASH),
        });
    }
    out.containers
        .sort_by_key(|c| std::cmp::Reverse((c.created_at, c.restart_count)));
    Ok(out)
}
