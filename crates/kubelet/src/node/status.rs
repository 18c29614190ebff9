//! Pure builders for the Node's labels and status (upstream nodestatus/setters.go).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::eviction::EvictionHard;
use crate::config::KubeletConfig;

/// What /version of our API server reports, so `kubectl get nodes` shows one version.
pub const KUBELET_VERSION: &str = concat!("v1.33.0+rkube-", env!("CARGO_PKG_VERSION"));
/// Upstream's nodeStatusMaxImages and maxNamesPerImageInNodeStatus.
pub const MAX_IMAGES: usize = 50;
const MAX_NAMES_PER_IMAGE: usize = 5;

/// The unchanging facts of this machine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFacts {
    pub cpus: u32,
    pub memory_bytes: u64,
    pub disk_bytes: u64,
    pub machine_id: String,
    pub system_uuid: String,
    pub boot_id: String,
    pub kernel: String,
    pub os_image: String,
    pub arch: String,
    /// "containerd://2.0.0"; empty before the runtime answered.
    pub runtime_version: String,
}

impl HostFacts {
    pub fn gather(config: &KubeletConfig) -> Self {
        use super::host;
        let disk_path = if config.root_dir.exists() {
            config.root_dir.as_path()
        } else {
            std::path::Path::new("/")
        };
        HostFacts {
            cpus: host::online_cpus(),
            memory_bytes: host::memory_total_bytes().unwrap_or(0),
            disk_bytes: host::filesystem_bytes(disk_path)
                .map(|(t, _)| t)
                .unwrap_or(0),
            machine_id: host::machine_id(),
            system_uuid: host::system_uuid(),
            boot_id: host::boot_id(),
            kernel: host::kernel_release(),
            os_image: host::os_image(),
            arch: host::go_arch().to_string(),
            runtime_version: String::new(),
        }
    }
}

/// What changes between heartbeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// (MemTotal, MemAvailable) in bytes.
    pub memory: Option<(u64, u64)>,
    /// (size, available) of the filesystem holding the kubelet's root dir.
    pub disk: Option<(u64, u64)>,
    /// (inodes, free inodes) of that filesystem.
    pub inodes: Option<(u64, u64)>,
    /// (pid_max, processes).
    pub pids: Option<(u64, u64)>,
    /// Err(message) when the runtime is not ready, as the Ready condition shows it.
    pub runtime: Result<(), String>,
}

/// Labels the kubelet owns on its Node.
pub fn labels(config: &KubeletConfig, arch: &str) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(
        "kubernetes.io/hostname".to_string(),
        config.node_name.clone(),
    );
    l.insert("kubernetes.io/os".to_string(), "linux".to_string());
    l.insert("kubernetes.io/arch".to_string(), arch.to_string());
    l.insert("beta.kubernetes.io/os".to_string(), "linux".to_string());
    l.insert("beta.kubernetes.io/arch".to_string(), arch.to_string());
    for (k, v) in &config.node_labels {
        l.insert(k.clone(), v.clone());
    }
    l
}

/// Bytes as a canonical binary-SI quantity ("16318412Ki", "8Gi", "1023").
pub fn bytes_quantity(bytes: u64) -> Quantity {
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let mut value = bytes;
    let mut i = 0;
    while value != 0 && value.is_multiple_of(1024) && i + 1 < SUFFIXES.len() {
        value /= 1024;
        i += 1;
    }
    Quantity(format!("{value}{}", SUFFIXES[i]))
}

pub fn capacity(facts: &HostFacts, max_pods: u32) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(facts.cpus.to_string())),
        ("memory".to_string(), bytes_quantity(facts.memory_bytes)),
        ("pods".to_string(), Quantity(max_pods.to_string())),
        (
            "ephemeral-storage".to_string(),
            bytes_quantity(facts.disk_bytes),
        ),
        ("hugepages-1Gi".to_string(), Quantity("0".into())),
        ("hugepages-2Mi".to_string(), Quantity("0".into())),
    ])
}

/// Capacity minus the hard eviction thresholds on memory and the node filesystem (no
/// kube/system reservations).
pub fn allocatable(
    facts: &HostFacts,
    max_pods: u32,
    eviction: &EvictionHard,
) -> BTreeMap<String, Quantity> {
    let mut a = capacity(facts, max_pods);
    let (memory, disk) = (facts.memory_bytes, facts.disk_bytes);
    a.insert(
        "memory".into(),
        bytes_quantity(memory - EvictionHard::held(&eviction.memory_available, memory)),
    );
    a.insert(
        "ephemeral-storage".into(),
        bytes_quantity(disk - EvictionHard::held(&eviction.nodefs_available, disk)),
    );
    a
}

/// (type, pressure?, reason, message) of the pressure conditions, then Ready.
fn condition_values(
    health: &Health,
    eviction: &EvictionHard,
) -> Vec<(&'static str, bool, &'static str, String)> {
    let memory = eviction.memory_pressure(health.memory);
    let disk = eviction.disk_pressure(health.disk, health.inodes);
    let pid = eviction.pid_pressure(health.pids);
    let mut out = vec![
        if memory {
            (
                "MemoryPressure",
                true,
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available".to_string(),
            )
        } else {
            (
                "MemoryPressure",
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available".to_string(),
            )
        },
        if disk {
            (
                "DiskPressure",
                true,
                "KubeletHasDiskPressure",
                "kubelet has disk pressure".to_string(),
            )
        } else {
            (
                "DiskPressure",
                false,
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure".to_string(),
            )
        },
        if pid {
            (
                "PIDPressure",
                true,
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available".to_string(),
            )
        } else {
            (
                "PIDPressure",
                false,
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available".to_string(),
            )
        },
    ];
    out.push(match &health.runtime {
        Ok(()) => (
            "Ready",
            true,
            "KubeletReady",
            "kubelet is posting ready status".to_string(),
        ),
        Err(message) => ("Ready", false, "KubeletNotReady", message.clone()),
    });
    out
}

/// The four conditions; a condition whose status did not change keeps its
/// lastTransitionTime from `previous`.
pub fn conditions(
    health: &Health,
    eviction: &EvictionHard,
    previous: &[NodeCondition],
    now: &Time,
) -> Vec<NodeCondition> {
    condition_values(health, eviction)
        .into_iter()
        .map(|(type_, on, reason, message)| {
            let status = if on { "True" } else { "False" }.to_string();
            let since = previous
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            NodeCondition {
                type_: type_.to_string(),
                status,
                reason: Some(reason.to_string()),
                message: Some(message),
                last_heartbeat_time: Some(now.clone()),
                last_transition_time: Some(since),
            }
        })
        .collect()
}

/// The Ready condition's message for a CRI Status answer.
pub fn runtime_readiness(status: &rkube_cri::api::StatusResponse) -> Result<(), String> {
    let conditions = status
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let mut errors = Vec::new();
    for (kind, what) in [
        ("RuntimeReady", "container runtime not ready"),
        ("NetworkReady", "container runtime network not ready"),
    ] {
        match conditions.iter().find(|c| c.r#type == kind) {
            Some(c) if c.status => {}
            Some(c) => errors.push(format!(
                "{what}: {kind}=false reason:{} message:{}",
                c.reason, c.message
            )),
            None => errors.push(format!("{what}: {kind} is not reported")),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join(", "))
    }
}

/// Images for node status: biggest first, at most MAX_IMAGES, names capped like upstream.
pub fn images(list: &[rkube_cri::api::Image]) -> Vec<ContainerImage> {
    let mut sorted: Vec<&rkube_cri::api::Image> = list.iter().collect();
    sorted.sort_by_key(|i| std::cmp::Reverse(i.size));
    sorted
        .into_iter()
        .filter(|i| !(i.repo_digests.is_empty() && i.repo_tags.is_empty()))
        .take(MAX_IMAGES)
        .map(|i| {
            let names: Vec<String> = i
                .repo_digests
                .iter()
                .chain(i.repo_tags.iter())
                .take(MAX_NAMES_PER_IMAGE)
                .cloned()
                .collect();
            ContainerImage {
                names: Some(names),
                size_bytes: i64::try_from(i.size).ok(),
            }
        })
        .collect()
}

pub struct StatusInput<'a> {
    pub config: &'a KubeletConfig,
    pub host_ip: IpAddr,
    pub facts: &'a HostFacts,
    pub health: &'a Health,
    pub images: Vec<ContainerImage>,
    pub previous: &'a [NodeCondition],
    pub now: Time,
}

pub fn node_status(input: StatusInput<'_>) -> NodeStatus {
    let facts = input.facts;
    let port = input
        .config
        .server
        .as_ref()
        .map(|s| i32::from(s.bind.port()))
        .unwrap_or(10250);
    NodeStatus {
        capacity: Some(capacity(facts, input.config.max_pods)),
        allocatable: Some(allocatable(
            facts,
            input.config.max_pods,
            &input.config.eviction_hard,
        )),
        conditions: Some(conditions(
            input.health,
            &input.config.eviction_hard,
            input.previous,
            &input.now,
        )),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: input.host_ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: input.config.node_name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: facts.arch.clone(),
            boot_id: facts.boot_id.clone(),
            container_runtime_version: facts.runtime_version.clone(),
            kernel_version: facts.kernel.clone(),
            kube_proxy_version: KUBELET_VERSION.to_string(),
            kubelet_version: KUBELET_VERSION.to_string(),
            machine_id: facts.machine_id.clone(),
            operating_system: "linux".into(),
            os_image: facts.os_image.clone(),
            swap: None,
            system_uuid: facts.system_uuid.clone(),
        }),
        images: Some(input.images),
        ..Default::default()
    }
}

/// Whether two statuses differ in more than heartbeat times.
pub fn differs(a: &NodeStatus, b: &NodeStatus) -> bool {
    let strip = |s: &NodeStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_heartbeat_time = None;
        }
        s
    };
    strip(a) != strip(b)
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
