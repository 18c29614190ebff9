//! Node-side helpers for tests that run the real runtime: checks that containerd, runc
//! and the CNI plugins are installed, the offline images, and a clean-up that removes
//! what a run leaves on the host even when an assertion failed half-way.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
