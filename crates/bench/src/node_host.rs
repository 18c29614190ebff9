//! The host side of the node phase: the offline images, one node's flags, waiting for
//! its Node to be Ready, and removing everything a node leaves on the host (runc
//! containers, shims, containerd, the CNI bridge, mounts and cgroups).

use crate::client::Tls;
use crate::cp_common::get_json;
use crate::error::{BenchError, Result};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const NODE_NAME: &str = "rkube-bench-node";
pub const CLUSTER_CIDR: &str = "10.249.0.0/16";

/// One node this benchmark runs: its data dir and the host names it claims. Dropping
/// it removes what the node left behind.
pub struct NodeHost {
    /// The node's data dir (containerd's state, socket and config live below it).
    pub data: PathBuf,
    pub bridge: String,
    pub cgroup_root: String,
    pub kubelet_port: u16,
    pub images: PathBuf,
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Builds the project's images (pause, bootcamp, tools) into `out` with images/build.sh.
pub fn build_images(out: &Path) -> Result<()> {
    let script = Path::new("images/build.sh");
    if !script.exists() {
        return Err(BenchError::Server(
            "images/build.sh not found: run rkube-bench from the repository root or pass --node-images"
                .into(),
        ));
    }
    let built = Command::new("bash")
        .arg(script)
        .arg(out)
        .output()
        .map_err(|e| BenchError::io(script, e))?;
    if !built.status.success() {
        return Err(BenchError::Server(format!(
            "images/build.sh failed (images/install-deps.sh installs its needs): {}",
            String::from_utf8_lossy(&built.stderr).trim()
        )));
    }
    Ok(())
}

/// Processes (other than this one) whose command line contains `needle`.
pub fn pids_mentioning(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

impl NodeHost {
    /// `n` tells apart the nodes of one run (bridge and cgroup names).
    pub fn new(data: &Path, images: &Path, n: u32) -> Result<Self> {
        std::fs::create_dir_all(data).map_err(|e| BenchError::io(data, e))?;
        // containerd's socket path must fit in sun_path, and the cleanup matches
        // processes by absolute paths.
        let data = data.canonicalize().map_err(|e| BenchError::io(data, e))?;
        let pid = std::process::id();
        Ok(Self {
            data,
            bridge: format!("rkb{}x{n}", pid % 100_000),
            cgroup_root: format!("/rkube-bench-{pid}-{n}"),
            kubelet_port: free_port()?,
            images: images.to_path_buf(),
        })
    }

    /// The node flags shared by `rkube server` (agent) and `rkube kubelet`.
    pub fn node_flags(&self) -> Vec<String> {
        [
            "--node-name",
            NODE_NAME,
            "--node-ip",
            "127.0.0.1",
            "--kubelet-port",
            &self.kubelet_port.to_string(),
            "--cni-bridge",
            &self.bridge,
            "--cgroup-root",
            &self.cgroup_root,
            "--images-dir",
            &self.images.display().to_string(),
            // Pod start-up figures need no service rules (and must not touch the host's
            // default kube-proxy table).
            "--disable-kube-proxy",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    pub fn socket(&self) -> PathBuf {
        rkube_cri::Paths::new(&self.data).socket
    }

    /// The containerd this node's agent started (matched by its config path, which lies
    /// in our own data dir).
    pub fn containerd_pid(&self) -> Option<u32> {
        let config = rkube_cri::Paths::new(&self.data).config;
        pids_mentioning(&config.to_string_lossy())
            .into_iter()
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "containerd")
            })
    }

    /// Removes what the node left: runc containers, shims and containerd (only those
    /// naming our data dir), the bridge, mounts below the data dir and our cgroups.
    pub fn cleanup(&self) {
        let runc_root = self.data.join("runc/k8s.io");
        if runc_root.exists() {
            if let Ok(out) = Command::new("runc")
                .arg("--root")
                .arg(&runc_root)
                .args(["list", "-q"])
                .output()
            {
                for id in String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !l.is_empty())
                {
                    let _ = Command::new("runc")
                        .arg("--root")
                        .arg(&runc_root)
                        .args(["delete", "--force", id])
                        .output();
                }
            }
        }
        let paths = rkube_cri::Paths::new(&self.data);
        let mut pids = pids_mentioning(&paths.socket.to_string_lossy());
        pids.extend(pids_mentioning(&paths.config.to_string_lossy()));
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .output();
        }
        let _ = rkube_cri::host::delete_link(&self.bridge);
        let _ = rkube_cri::host::unmount_below(&self.data);
        let _ = rkube_cri::host::remove_cgroup(&self.cgroup_root);
    }
}

impl Drop for NodeHost {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// True when a Node object says Ready=True and has a podCIDR.
pub fn node_ready(node: &serde_json::Value) -> bool {
    let ready = node["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    });
    ready
        && node["spec"]["podCIDR"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
}

/// Polls the Node until it is Ready; returns how long that took.
pub async fn wait_node_ready(tls: &Tls, timeout: Duration) -> Result<Duration> {
    let started = Instant::now();
    let path = format!("/api/v1/nodes/{NODE_NAME}");
    while started.elapsed() < timeout {
        if let Ok(node) = get_json(tls, &path).await {
            if node_ready(&node) {
                return Ok(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(BenchError::Timeout(format!("node {NODE_NAME} Ready")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_condition_and_pod_cidr() {
        let ready = serde_json::json!({
            "spec": {"podCIDR": "10.249.0.0/24"},
            "status": {"conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"}
            ]}
        });
        assert!(node_ready(&ready));
        let mut no_cidr = ready.clone();
        no_cidr["spec"] = serde_json::json!({});
        assert!(!node_ready(&no_cidr));
        let not_ready = serde_json::json!({
            "spec": {"podCIDR": "10.249.0.0/24"},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]}
        });
        assert!(!node_ready(&not_ready));
    }

    #[test]
    fn node_flags_name_our_bridge_cgroup_and_port() {
        let dir = std::env::temp_dir().join(format!("rkb-flags-{}", std::process::id()));
        let host = NodeHost::new(&dir, Path::new("/imgs"), 3).unwrap();
        let flags = host.node_flags();
        let after = |f: &str| {
            let i = flags.iter().position(|x| x == f).unwrap();
            flags[i + 1].clone()
        };
        assert_eq!(after("--cni-bridge"), host.bridge);
        assert!(
            host.bridge.len() <= 15,
            "interface names are at most 15 bytes"
        );
        assert!(after("--cgroup-root").ends_with("-3"));
        assert_eq!(after("--kubelet-port"), host.kubelet_port.to_string());
        assert_eq!(after("--images-dir"), "/imgs");
        assert!(host.socket().starts_with(&host.data));
        // Nothing was started: the cleanup must find nothing of ours and not fail.
        drop(host);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
