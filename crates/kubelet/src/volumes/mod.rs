//! Pod volumes on the host, laid out like upstream under
//! `<root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>`, plus the generated
//! /etc/hosts and termination-message files, and the CRI mounts of each container.

pub mod atomic;
pub mod hosts;
mod local;
mod mounts;
pub mod projection;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Pod, Volume};

use crate::config::KubeletConfig;
use crate::env::fieldref::{NodeAllocatable, PodAddresses};
use crate::env::{config_map_not_found, fetch_config_map, fetch_secret, secret_not_found};
use crate::error::{Error, Result};
use projection::DEFAULT_MODE;

/// One prepared volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedVolume {
    pub host_path: PathBuf,
    /// configMap, secret, downwardAPI and projected volumes are always read-only.
    pub read_only: bool,
}

/// What `setup` prepared for one pod.
#[derive(Debug, Clone, Default)]
pub struct PodVolumes {
    pub pod_dir: PathBuf,
    pub volumes: BTreeMap<String, PreparedVolume>,
    /// The pod's hosts file, mounted at /etc/hosts.
    pub etc_hosts: Option<PathBuf>,
}

/// Upstream's per-plugin directory names.
fn plugin_dir(volume: &Volume) -> Option<&'static str> {
    if volume.empty_dir.is_some() {
        Some("kubernetes.io~empty-dir")
    } else if volume.config_map.is_some() {
        Some("kubernetes.io~configmap")
    } else if volume.secret.is_some() {
        Some("kubernetes.io~secret")
    } else if volume.projected.is_some() {
        Some("kubernetes.io~projected")
    } else if volume.downward_api.is_some() {
        Some("kubernetes.io~downward-api")
    } else {
        None
    }
}

/// Where a container's termination-message file lives on the host.
pub fn termination_message_file(config: &KubeletConfig, pod_uid: &str, container: &str) -> PathBuf {
    config
        .pod_dir(pod_uid)
        .join("containers")
        .join(container)
        .join("termination-log")
}

/// Prepares every volume of `pod` and its /etc/hosts file. Idempotent: a second call
/// refreshes configMap, secret, downwardAPI and projected contents in place.
pub async fn setup(
    client: &kube::Client,
    config: &KubeletConfig,
    pod: &Pod,
    pod_ip: Option<IpAddr>,
) -> Result<PodVolumes> {
    let uid = pod
        .metadata
        .uid
        .as_deref()
        .ok_or_else(|| Error::Spec("pod has no uid".into()))?;
    let pod_dir = config.pod_dir(uid);
    std::fs::create_dir_all(&pod_dir).map_err(|e| Error::io("cannot create", &pod_dir, e))?;
    let host_ip = pod
        .status
        .as_ref()
        .and_then(|s| s.host_ip.as_deref())
        .and_then(|ip| ip.parse().ok())
        .or(config.node_ip);
    let addrs = PodAddresses { host_ip, pod_ip };
    let node = NodeAllocatable::of_host();
    let mut volumes = BTreeMap::new();
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let prepared = setup_volume(client, &pod_dir, pod, volume, addrs, &node)
            .await
            .map_err(|e| match e {
                Error::Spec(msg) => Error::Spec(format!(
                    "MountVolume.SetUp failed for volume \"{}\" : {msg}",
                    volume.name
                )),
                other => other,
            })?;
        volumes.insert(volume.name.clone(), prepared);
    }
    let etc_hosts = write_hosts_file(config, &pod_dir, pod, pod_ip)?;
    Ok(PodVolumes {
        pod_dir,
        volumes,
        etc_hosts: Some(etc_hosts),
    })
}

async fn setup_volume(
    client: &kube::Client,
    pod_dir: &Path,
    pod: &Pod,
    volume: &Volume,
    addrs: PodAddresses,
    node: &NodeAllocatable,
) -> Result<PreparedVolume> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let dir = plugin_dir(volume)
        .map(|plugin| pod_dir.join("volumes").join(plugin).join(&volume.name))
        .unwrap_or_default();
    let read_only = |host_path: PathBuf| PreparedVolume {
        host_path,
        read_only: true,
    };
    if let Some(src) = &volume.empty_dir {
        local::empty_dir(&dir, src)?;
        return Ok(PreparedVolume {
            host_path: dir,
            read_only: false,
        });
    }
    if let Some(src) = &volume.host_path {
        return Ok(PreparedVolume {
            host_path: local::host_path(src)?,
            read_only: false,
        });
    }
    if let Some(src) = &volume.persistent_volume_claim {
        return Ok(PreparedVolume {
            host_path: local::claim_path(client, namespace, &src.claim_name).await?,
            read_only: src.read_only.unwrap_or(false),
        });
    }
    let payload = if let Some(src) = &volume.config_map {
        let optional = src.optional.unwrap_or(false);
        match fetch_config_map(client, namespace, &src.name).await? {
            Some(cm) => projection::key_payload(
                &projection::config_map_data(&cm),
                src.items.as_deref(),
                src.default_mode.unwrap_or(DEFAULT_MODE),
                optional,
                "configmap",
            )?,
            None if optional => Default::default(),
            None => return Err(config_map_not_found(&src.name)),
        }
    } else if let Some(src) = &volume.secret {
        let optional = src.optional.unwrap_or(false);
        let name = src.secret_name.clone().unwrap_or_default();
        match fetch_secret(client, namespace, &name).await? {
            Some(s) => projection::key_payload(
                &projection::secret_data(&s),
                src.items.as_deref(),
                src.default_mode.unwrap_or(DEFAULT_MODE),
                optional,
                "secret",
            )?,
            None if optional => Default::default(),
            None => return Err(secret_not_found(&name)),
        }
    } else if let Some(src) = &volume.downward_api {
        projection::downward_payload(
            pod,
            src.items.as_deref().unwrap_or_default(),
            src.default_mode.unwrap_or(DEFAULT_MODE),
            addrs,
            node,
        )?
    } else if let Some(src) = &volume.projected {
        projection::projected_payload(client, pod, src, addrs, node).await?
    } else {
        return Err(Error::Spec(
            "this kubelet supports emptyDir, hostPath, persistentVolumeClaim (hostPath/local), \
             configMap, secret, downwardAPI and projected volumes only"
                .into(),
        ));
    };
    atomic::write(&dir, &payload)?;
    Ok(read_only(dir))
}

fn write_hosts_file(
    config: &KubeletConfig,
    pod_dir: &Path,
    pod: &Pod,
    pod_ip: Option<IpAddr>,
) -> Result<PathBuf> {
    let spec = pod.spec.as_ref();
    let aliases = spec
        .and_then(|s| s.host_aliases.clone())
        .unwrap_or_default();
    let content = if spec.and_then(|s| s.host_network).unwrap_or(false) {
        let node_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        hosts::host_network(&node_hosts, &aliases)
    } else {
        let (hostname, domain) = hosts::hostname_and_domain(pod, &config.cluster_domain);
        hosts::managed(
            &hosts::pod_ips(pod, pod_ip),
            &hostname,
            domain.as_deref(),
            &aliases,
        )
    };
    let path = pod_dir.join("etc-hosts");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
        // Rewritten in place (not renamed): the file is bind-mounted into containers by
        // inode, so a new inode would not be seen.
        std::fs::write(&path, content).map_err(|e| Error::io("cannot write", &path, e))?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io("cannot chmod", &path, e))?;
    Ok(path)
}

/// Unmounts and removes everything `setup` made for the pod.
pub async fn teardown(config: &KubeletConfig, pod_uid: &str) -> Result<()> {
    projection::forget_tokens(pod_uid);
    let dir = config.pod_dir(pod_uid);
    if !dir.exists() {
        return Ok(());
    }
    let unmount_dir = dir.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        rkube_cri::host::unmount_below(&unmount_dir)?;
        match std::fs::remove_dir_all(&unmount_dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("cannot remove", &unmount_dir, e)),
        }
    })
    .await
    .map_err(|e| Error::Other(format!("volume teardown task: {e}")))?
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
