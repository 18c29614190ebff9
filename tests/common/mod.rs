//! Test harness: starts a real `rkube server` on a free port with a fresh data directory,
//! and drives it with the real kubectl binaries and curl.

#![allow(dead_code, unused_imports)]

pub mod node;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// Extra `rkube server` flags, kept for restarts.
    pub extra_args: Vec<String>,
    /// Run the node agent (kubelet + containerd); off unless a test asks, since most
    /// tests need only the control plane and several servers run at once.
    pub agent: bool,
    pub bind_host: String,
    child: Option<Child>,
}

impl Cluster {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra flags, e.g. `&["--sim-nodes", "3"]`.
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_full(args, false, "127.0.0.1")
    }

    /// Starts a server that also runs the node agent: a real kubelet and containerd.
    pub fn start_with_agent(args: &[&str]) -> Self {
        Self::start_full(args, true, "127.0.0.1")
    }

    /// `bind_host` is the API server's listen address (0.0.0.0 to let pods reach it).
    pub fn start_full(args: &[&str], agent: bool, bind_host: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let extra_args = args.iter().map(|a| a.to_string()).collect();
        let mut c = Cluster {
            dir,
            port: 0,
            extra_args,
            agent,
            bind_host: bind_host.to_string(),
            child: None,
        };
        c.launch();
        c
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's stderr, appended across restarts; a failed test prints its tail
    /// (`RKUBE_TEST_LOG` sets the level, default warn).
    fn server_log(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::inherit())
    }

    /// Starts the server on the existing data directory (first start or restart).
    pub fn launch(&mut self) {
        let bind = format!("{}:{}", self.bind_host, self.port);
        let mut child = Command::new(env!("CARGO_BIN_EXE_rkube"))
            .args(["server", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args(["--bind-address", &bind])
            .args(if self.agent {
                &[][..]
            } else {
                &["--disable-agent"][..]
            })
            .args(&self.extra_args)
            .env(
                "RKUBE_LOG",
                std::env::var("RKUBE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(self.server_log())
            .spawn()
            .expect("start rkube server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut port = None;
        for line in lines.by_ref() {
            let line = line.expect("server output");
            if let Some(addr) = line.strip_prefix("rkube API server listening on https://") {
                port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            }
            if line.starts_with("export KUBECONFIG=") {
                break;
            }
        }
        // Keep draining so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.port = port.expect("server printed its port");
        self.child = Some(child);
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("data/admin.kubeconfig")
    }

    pub fn home(&self) -> PathBuf {
        let h = self.dir.path().join("home");
        std::fs::create_dir_all(&h).expect("home dir");
        h
    }

    /// Runs kubectl of the given minor version ("1.32", "1.33"), or the dispatcher for "".
    pub fn kubectl_cmd(&self, version: &str) -> Command {
        let mut cmd = Command::new(kubectl_path(version));
        cmd.env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.home())
            .env_remove("KUBECTL_EXTERNAL_DIFF");
        cmd
    }

    pub fn kubectl(&self, version: &str, args: &[&str]) -> Output {
        self.kubectl_cmd(version)
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, version: &str, args: &[&str]) -> String {
        let out = self.kubectl(version, args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "kubectl {version} {args:?} failed: {}\nstdout: {stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// kubectl that must fail; returns stderr.
    pub fn fails(&self, version: &str, args: &[&str]) -> String {
        let out = self.kubectl(version, args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// curl with the admin client certificate; returns (status code, body).
    pub fn curl(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&[u8]>,
    ) -> (u16, String) {
        let pki = self.dir.path().join("data/pki");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method])
            .arg("--cacert")
            .arg(pki.join("ca.crt"))
            .arg("--cert")
            .arg(pki.join("admin.crt"))
            .arg("--key")
            .arg(pki.join("admin.key"))
            .args(["-H", &format!("Content-Type: {content_type}")]);
        if let Some(b) = body {
            let f = self.dir.path().join(format!("body-{}", std::process::id()));
            std::fs::write(&f, b).expect("write body");
            cmd.arg("--data-binary").arg(format!("@{}", f.display()));
        }
        cmd.arg(self.url(path));
        curl_output(cmd)
    }

    /// curl without any credentials.
    pub fn curl_anonymous(&self, path: &str) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-k", "-o", "-", "-w", "\n%{http_code}"])
            .arg(self.url(path));
        curl_output(cmd)
    }

    /// The store's current revision, read from /metrics.
    pub fn revision(&self) -> i64 {
        let (code, body) = self.curl("GET", "/metrics", "application/json", None);
        assert_eq!(code, 200, "{body}");
        body.lines()
            .find_map(|l| l.strip_prefix("rkube_store_revision "))
            .and_then(|v| v.trim().parse().ok())
            .expect("revision metric")
    }
}

fn curl_output(mut cmd: Command) -> (u16, String) {
    let out = cmd.output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            let log = self.dir.path().join("server.log");
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(80).collect();
            eprintln!(
                "--- tail of the server's log ({} lines)",
                text.lines().count()
            );
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// The versioned kubectl binaries sit beside the dispatcher.
pub fn kubectl_path(version: &str) -> PathBuf {
    let dispatcher = std::fs::canonicalize(which("kubectl")).expect("kubectl on PATH");
    if version.is_empty() {
        return dispatcher;
    }
    let p = dispatcher.with_file_name(format!("kubectl.{version}"));
    assert!(
        p.exists(),
        "{} missing: the kubectl dispatcher package provides it",
        p.display()
    );
    p
}

fn which(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found on PATH"))
}

/// Polls `f` until it returns Some, with a generous deadline.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub fn write_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, content).expect("write file");
    p
}
