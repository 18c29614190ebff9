//! A container's CRI mounts (upstream kubelet_pods.go makeMounts).

use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod};
use rkube_cri::api::{Mount, MountPropagation};

use super::PodVolumes;
use crate::env::expand::expand;
use crate::env::fieldref::{self, PodAddresses};
use crate::error::{Error, Result};

const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

fn propagation(mode: Option<&str>) -> Result<i32> {
    Ok(match mode.unwrap_or("None") {
        "None" => MountPropagation::PropagationPrivate,
        "HostToContainer" => MountPropagation::PropagationHostToContainer,
        "Bidirectional" => MountPropagation::PropagationBidirectional,
        other => {
            return Err(Error::Spec(format!(
                "invalid mount propagation mode {other:?}"
            )))
        }
    } as i32)
}

/// The literal env values and pod-field references of a container, enough to expand
/// subPathExpr (which upstream expands with the container's environment).
fn simple_env(pod: &Pod, container: &Container, name: &str) -> Option<String> {
    let var = container
        .env
        .iter()
        .flatten()
        .rev()
        .find(|v| v.name == name)?;
    if let Some(v) = var.value.as_deref().filter(|v| !v.is_empty()) {
        return Some(v.to_string());
    }
    let field = var.value_from.as_ref()?.field_ref.as_ref()?;
    let addrs = PodAddresses {
        host_ip: None,
        pod_ip: None,
    };
    fieldref::field_value(pod, field, addrs, false).ok()
}

fn checked_sub_path(sub: &str) -> Result<&str> {
    let p = Path::new(sub);
    if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(Error::Spec(format!(
            "subPath {sub:?} must be a relative path without '..'"
        )));
    }
    Ok(sub)
}

impl PodVolumes {
    /// The CRI mounts of one container: its volumeMounts (subPath, subPathExpr, readOnly,
    /// propagation), then /etc/hosts and the termination-message file unless a
    /// volumeMount already covers those paths. Call when creating the container: the
    /// termination-message file is emptied for the new instance.
    pub fn mounts_for(&self, pod: &Pod, container: &Container) -> Result<Vec<Mount>> {
        let mut out = Vec::new();
        let volume_mounts = container.volume_mounts.as_deref().unwrap_or_default();
        for vm in volume_mounts {
            let volume = self.volumes.get(&vm.name).ok_or_else(|| {
                Error::Spec(format!(
                    "cannot find volume \"{}\" to mount into container \"{}\"",
                    vm.name, container.name
                ))
            })?;
            let sub = match (vm.sub_path.as_deref(), vm.sub_path_expr.as_deref()) {
                (Some(s), _) if !s.is_empty() => Some(s.to_string()),
                (_, Some(e)) if !e.is_empty() => {
                    Some(expand(e, |name| simple_env(pod, container, name)))
                }
                _ => None,
            };
            let mut host_path = volume.host_path.clone();
            if let Some(sub) = sub {
                host_path = host_path.join(checked_sub_path(&sub)?);
                if std::fs::symlink_metadata(&host_path).is_err() {
                    // Upstream creates a missing subPath as a directory.
                    std::fs::create_dir_all(&host_path)
                        .map_err(|e| Error::io("cannot create subPath", &host_path, e))?;
                }
            }
            out.push(Mount {
                container_path: vm.mount_path.clone(),
                host_path: host_path.display().to_string(),
                readonly: vm.read_only.unwrap_or(false) || volume.read_only,
                propagation: propagation(vm.mount_propagation.as_deref())?,
                ..Default::default()
            });
        }
        let covered = |path: &str| volume_mounts.iter().any(|vm| vm.mount_path == path);
        if let Some(hosts) = &self.etc_hosts {
            if !covered("/etc/hosts") {
                out.push(Mount {
                    container_path: "/etc/hosts".into(),
                    host_path: hosts.display().to_string(),
                    ..Default::default()
                });
            }
        }
        let message_path = container
            .termination_message_path
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or(DEFAULT_TERMINATION_MESSAGE_PATH);
        if !covered(message_path) {
            let file = self.termination_file(&container.name);
            reset_termination_file(&file)?;
            out.push(Mount {
                container_path: message_path.to_string(),
                host_path: file.display().to_string(),
                ..Default::default()
            });
        }
        Ok(out)
    }

    fn termination_file(&self, container: &str) -> PathBuf {
        self.pod_dir
            .join("containers")
            .join(container)
            .join("termination-log")
    }
}

/// An empty file any container user can write (upstream makes it 0666).
fn reset_termination_file(file: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
    }
    std::fs::write(file, b"").map_err(|e| Error::io("cannot create", file, e))?;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| Error::io("cannot chmod", file, e))
}
