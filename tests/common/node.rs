//! Node-side helpers for tests that run the real runtime: checks that containerd, runc
//! and the CNI plugins are installed, the offline images, and a clean-up that removes
//! what a run leaves on the host even when an assertion failed half-way.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{eventually, json, Cluster};

use rkube_cri::host;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn require_runtime() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap();
    assert_eq!(
        euid, "0",
        "the CRI test drives containerd, CNI and cgroups and must run as root"
    );
    for program in ["containerd", "ctr", "runc"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{program} is not installed: run scripts/install-runtime.sh (containerd, runc, CNI plugins)"
        );
    }
    assert!(
        Path::new("/usr/lib/cni/bridge").exists(),
        "the CNI plugins are not installed: run scripts/install-runtime.sh"
    );
}

pub fn build_images(out: &Path) {
    let built = Command::new("bash")
        .arg(repo_root().join("images/build.sh"))
        .arg(out)
        .output()
        .expect("run images/build.sh");
    assert!(
        built.status.success(),
        "images/build.sh failed (images/install-deps.sh installs its needs):\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
}

/// One HTTP GET over a plain socket, so the check doesn't depend on a curl binary.
pub fn http_get(ip: &str, port: u16) -> std::io::Result<String> {
    let addr = format!("{ip}:{port}")
        .parse()
        .map_err(std::io::Error::other)?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET / HTTP/1.0\r\nHost: {ip}\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(text))
}

/// Processes whose command line mentions `needle` (containerd shims of our
/// socket, left behind only when the test failed half-way).
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

/// Removes what a run leaves on the host even when an assertion failed
/// half-way: runc containers, shims, the bridge, mounts and pod cgroups.
pub struct HostCleanup {
    pub data: PathBuf,
    pub bridge: String,
    pub cgroup: String,
    /// kube-proxy's nftables table, if the node ran one.
    pub nft_table: Option<String>,
}

impl HostCleanup {
    pub fn run(&self) {
        let runc_root = self.data.join("runc/k8s.io");
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
        // Shims name the socket; containerd itself names its config. Both paths lie in
        // this run's own temp dir, so only processes this run started match.
        let socket = self.data.join("containerd/containerd.sock");
        let config = self.data.join("containerd/config.toml");
        let mut pids = pids_mentioning(&socket.to_string_lossy());
        pids.extend(pids_mentioning(&config.to_string_lossy()));
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .output();
        }
        if let Some(table) = &self.nft_table {
            for family in ["ip", "ip6"] {
                let _ = Command::new("nft")
                    .args(["delete", "table", family, table])
                    .output();
            }
        }
        let _ = host::delete_link(&self.bridge);
        let _ = host::unmount_below(&self.data);
        let _ = host::remove_cgroup(&self.cgroup);
    }
}

impl Drop for HostCleanup {
    fn drop(&mut self) {
        self.run();
    }
}

// ---- Running a real node in tests ----

pub const V1: &str = "gcr.io/google-samples/kubernetes-bootcamp:v1";
pub const V2: &str = "docker.io/jocatalin/kubernetes-bootcamp:v2";
pub const GREETING: &str = "Hello Kubernetes bootcamp! | Running on: ";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls with a deadline long enough for image imports and container starts on a busy
/// 2-core machine.
pub fn slowly<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A node agent's host resources, unique per node of this run.
pub struct NodeOptions {
    /// Extra `rkube server` flags.
    pub extra: Vec<String>,
    /// The node's InternalIP; `None` = 127.0.0.1 (no pod → host traffic needed).
    pub node_ip: Option<String>,
    /// Address the API server binds (pods reach it only if this covers the node IP).
    pub bind_host: String,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            extra: vec!["--disable-dns".into(), "--disable-kube-proxy".into()],
            node_ip: None,
            bind_host: "127.0.0.1".into(),
        }
    }
}

pub struct Node {
    pub c: Cluster,
    /// The nftables table kube-proxy uses on this node.
    pub proxy_table: String,
    pub cleanup: HostCleanup,
    _images: tempfile::TempDir,
}

/// A failed test on a real node prints what the cluster and its containerd looked like,
/// so a CI log says why pods never got ready.
impl Drop for Node {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for args in [
            &["get", "nodes,pods", "-A", "-o", "wide"][..],
            &["get", "events", "-A", "--sort-by=.lastTimestamp"][..],
        ] {
            let out = self.c.kubectl("1.33", args);
            eprintln!(
                "--- kubectl {}\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let log = self.cleanup.data.join("containerd/containerd.log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        eprintln!("--- tail of {}", log.display());
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
    }
}

/// Starts `rkube server` with its agent: our containerd, CNI on a bridge of its own, pod
/// cgroups under a root of their own, the offline images imported.
pub fn start_node(options: NodeOptions) -> Node {
    require_runtime();
    let images = tempfile::tempdir().unwrap();
    build_images(images.path());
    static NODES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NODES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pid = std::process::id();
    let bridge = format!("rkk{}x{n}", pid % 1_000_000);
    let cgroup = format!("/rkube-node-test-{pid}-{n}");
    let proxy_table = format!("rkube-test-{pid}-{n}");
    let cluster_cidr = format!("10.{}.0.0/16", 240 + (pid as u32 + n) % 10);
    let kubelet_port = free_port().to_string();
    let images_dir = images.path().to_string_lossy().to_string();
    let node_ip = options
        .node_ip
        .clone()
        .unwrap_or_else(|| "127.0.0.1".into());
    let mut args: Vec<String> = [
        "--node-name",
        "rkube-node",
        "--node-ip",
        &node_ip,
        "--kubelet-port",
        &kubelet_port,
        "--cni-bridge",
        &bridge,
        "--cluster-cidr",
        &cluster_cidr,
        "--cgroup-root",
        &cgroup,
        "--images-dir",
        &images_dir,
        "--proxy-table",
        &proxy_table,
        // The test host's disk is shared with builds and may be nearly full: like kind,
        // test nodes never report disk pressure (it would keep new pods off the node).
        "--eviction-hard",
        "memory.available<100Mi,nodefs.available<0%,nodefs.inodesFree<0%",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(options.extra.iter().cloned());
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = Cluster::start_full(&arg_refs, true, &options.bind_host);
    let cleanup = HostCleanup {
        data: c.data_dir().join("data"),
        bridge,
        cgroup,
        nft_table: Some(proxy_table.clone()),
    };
    let node = Node {
        c,
        proxy_table,
        cleanup,
        _images: images,
    };
    slowly("node Ready", || {
        let out = node
            .c
            .kubectl("1.33", &["get", "node", "rkube-node", "-o", "json"]);
        if !out.status.success() {
            return None;
        }
        let n = json(&String::from_utf8_lossy(&out.stdout));
        n["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
            .then_some(())
    });
    node
}

pub fn pod_names(c: &Cluster, selector: &str) -> Vec<String> {
    let out = c.ok(
        "1.33",
        &[
            "get",
            "pods",
            "-l",
            selector,
            "-o",
            "go-template={{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}}{{\"\\n\"}}{{end}}{{end}}",
        ],
    );
    out.lines().map(str::to_string).collect()
}

pub fn ready_pods(c: &Cluster, selector: &str) -> Vec<String> {
    let out = c.ok(
        "1.33",
        &[
            "get",
            "pods",
            "-l",
            selector,
            "-o",
            "go-template={{range .items}}{{if not .metadata.deletionTimestamp}}{{$n := .metadata.name}}{{range .status.conditions}}{{if and (eq .type \"Ready\") (eq .status \"True\")}}{{$n}}{{\"\\n\"}}{{end}}{{end}}{{end}}{{end}}",
        ],
    );
    out.lines().map(str::to_string).collect()
}

/// `kubectl proxy` on a free port, killed on drop.
pub struct KubectlProxy {
    child: Child,
    port: u16,
}

impl KubectlProxy {
    pub fn start(c: &Cluster) -> KubectlProxy {
        let port = free_port();
        let child = c
            .kubectl_cmd("1.33")
            .args(["proxy", &format!("--port={port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl proxy");
        let p = KubectlProxy { child, port };
        eventually("kubectl proxy", || {
            p.get("/version").0.eq(&200).then_some(())
        });
        p
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-sS", "-m", "10", "-o", "-", "-w", "\n%{http_code}"])
            .arg(format!("http://127.0.0.1:{}{path}", self.port))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

impl Drop for KubectlProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn apply(c: &Cluster, yaml: &str) {
    let f = super::write_file(c.data_dir(), "manifest.yaml", yaml);
    c.ok("1.33", &["apply", "-f", f.to_str().unwrap()]);
}

pub fn pod_json(c: &Cluster, name: &str) -> serde_json::Value {
    json(&c.ok("1.33", &["get", "pod", name, "-o", "json"]))
}

pub fn is_ready(pod: &serde_json::Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}
