//! What a kubelet is told at start-up.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The kubelet's own configuration (upstream: flags + KubeletConfiguration).
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// The Node's name (default: the host name, lower-cased).
    pub node_name: String,
    /// InternalIP reported on the Node; `None` = the address of the default route's
    /// interface, else 127.0.0.1.
    pub node_ip: Option<IpAddr>,
    /// The kubelet's state: `pods/<uid>/volumes/...`, `pods/<uid>/etc-hosts`, checkpoints.
    pub root_dir: PathBuf,
    /// Container logs: `<pod_log_dir>/<ns>_<name>_<uid>/<container>/<restart>.log`
    /// (upstream /var/log/pods).
    pub pod_log_dir: PathBuf,
    /// Cluster DNS servers for dnsPolicy ClusterFirst; empty = fall back to the host's
    /// resolv.conf, as upstream does when clusterDNS is unset.
    pub cluster_dns: Vec<IpAddr>,
    pub cluster_domain: String,
    /// The host's resolver configuration (dnsPolicy Default and the fallback).
    pub resolv_conf: PathBuf,
    pub max_pods: u32,
    /// Extra labels registered on the Node.
    pub node_labels: BTreeMap<String, String>,
    /// Parent cgroup of every pod (cgroupfs driver): `<cgroup_root>/<qos>/pod<uid>`.
    pub cgroup_root: String,
    /// The node API (10250); `None` = not served.
    pub server: Option<ServerTls>,
    /// Used when the Node gets no spec.podCIDR (no IPAM controller) within the wait.
    pub fallback_pod_cidr: String,
    /// How long an image pull may take.
    pub image_pull_timeout: std::time::Duration,
    /// Below these the node reports memory, disk or PID pressure.
    pub eviction_hard: crate::node::eviction::EvictionHard,
}

/// The node API's listener and credentials.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub bind: SocketAddr,
    pub cert_pem: String,
    pub key_pem: String,
    /// Client certificates must chain to this CA (the cluster CA).
    pub client_ca_pem: String,
}

impl KubeletConfig {
    /// Defaults for a kubelet keeping its state under `data_dir`.
    pub fn new(node_name: impl Into<String>, data_dir: &std::path::Path) -> Self {
        KubeletConfig {
            node_name: node_name.into(),
            node_ip: None,
            root_dir: data_dir.join("kubelet"),
            pod_log_dir: data_dir.join("pods"),
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".into(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            max_pods: 110,
            node_labels: BTreeMap::new(),
            cgroup_root: "/kubepods".into(),
            server: None,
            fallback_pod_cidr: "10.244.0.0/24".into(),
            image_pull_timeout: std::time::Duration::from_secs(300),
            eviction_hard: crate::node::eviction::EvictionHard::defaults(),
        }
    }

    /// The directory holding one pod's volumes and generated files.
    pub fn pod_dir(&self, pod_uid: &str) -> PathBuf {
        self.root_dir.join("pods").join(pod_uid)
    }
}

/// The host name as the default node name (lower-case, as Node names must be).
pub fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_ascii_lowercase())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
