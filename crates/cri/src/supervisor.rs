//! Runs rkube's own containerd as a supervised child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::client::RuntimeClient;
use crate::config::{self, Paths};
use crate::error::{CriError, Result};
use crate::host;

/// How long containerd gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Restart back-off: doubles from the first to the last value, and is reset
/// once containerd has stayed up for `STABLE_RUN`.
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const STABLE_RUN: Duration = Duration::from_secs(60);
const IMPORT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct ContainerdOptions {
    /// The CNI bridge interface (at most 15 characters).
    pub bridge: String,
    /// The node's pod CIDR, handed out by host-local.
    pub pod_subnet: String,
    /// The CNI network name, which containerd records per sandbox.
    pub network_name: String,
    pub sandbox_image: String,
    pub containerd_bin: PathBuf,
    pub ctr_bin: PathBuf,
    pub runc_bin: PathBuf,
    pub cni_bin_dir: PathBuf,
    /// How long to wait for the socket and a successful CRI Version call.
    pub start_timeout: Duration,
    /// Deadline of each CRI call made by the returned client.
    pub call_timeout: Duration,
    /// Restart containerd when it exits on its own.
    pub supervise: bool,
    /// Turn on ip_forward and br_netfilter (failures are only warnings).
    pub configure_host: bool,
}

impl Default for ContainerdOptions {
    fn default() -> Self {
        ContainerdOptions {
            bridge: "rkube0".to_string(),
            pod_subnet: "10.244.0.0/24".to_string(),
            network_name: "rkube".to_string(),
            sandbox_image: "registry.k8s.io/pause:3.9".to_string(),
            containerd_bin: PathBuf::from("containerd"),
            ctr_bin: PathBuf::from("ctr"),
            runc_bin: PathBuf::from("runc"),
            cni_bin_dir: PathBuf::from("/usr/lib/cni"),
            start_timeout: Duration::from_secs(30),
            call_timeout: crate::client::DEFAULT_TIMEOUT,
            supervise: true,
            configure_host: true,
        }
    }
}

/// A running containerd owned by this process. Call `shutdown` to stop it;
/// dropping it without shutdown kills it with SIGKILL.
pub struct Containerd {
    paths: Paths,
    options: ContainerdOptions,
    client: RuntimeClient,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Finds `program` as given (a path) or on PATH.
pub(crate) fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn require(program: &Path) -> Result<PathBuf> {
    find_program(program).ok_or_else(|| CriError::NotInstalled {
        program: program.display().to_string(),
    })
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CriError::io("cannot create", dir, e))?;
    }
    std::fs::write(path, contents).map_err(|e| CriError::io("cannot write", path, e))
}

fn spawn(bin: &Path, paths: &Paths) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log)
        .map_err(|e| CriError::io("cannot open", &paths.log, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| CriError::io("cannot open", &paths.log, e))?;
    // A stale socket from a killed run would make containerd fail to listen.
    let _ = std::fs::remove_file(&paths.socket);
    Command::new(bin)
        .arg("--config")
        .arg(&paths.config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group: a Ctrl-C meant for rkube must not reach
        // containerd directly; rkube stops it in order.
        .process_group(0)
        .spawn()
        .map_err(|e| CriError::io("cannot start", bin, e))
}

/// Waits until the socket answers a CRI Version call, failing early when the
/// child exits.
async fn wait_ready(
    child: &mut Child,
    client: &RuntimeClient,
    paths: &Paths,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last_error = "socket not created yet".to_string();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(CriError::Exited {
                status: status.to_string(),
                log: paths.log.clone(),
            });
        }
        if paths.socket.exists() {
            let probe = client.clone().with_timeout(Duration::from_secs(2));
            match probe.version().await {
                Ok(_) => return Ok(()),
                Err(e) => last_error = e.to_string(),
            }
        }
        if Instant::now() >= deadline {
            return Err(CriError::NotReady {
                timeout,
                last_error,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    if pid == 0 {
        return;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) has no memory effects. The pid is our own unreaped
    // child's, or a leftover containerd just identified by its command line.
    unsafe {
        libc::kill(pid, sig);
    }
}

async fn terminate(child: &mut Child) {
    let pid = child.id().unwrap_or(0);
    signal(pid, libc::SIGTERM);
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        warn!(pid, "containerd ignored SIGTERM; killing it");
        signal(pid, libc::SIGKILL);
        let _ = child.wait().await;
    }
}

/// Pids of containerd processes running with `config` (a previous rkube that
/// was killed leaves its containerd behind, in its own process group).
fn processes_with_config(config: &Path) -> Vec<u32> {
    let mut needle = b"--config\0".to_vec();
    needle.extend_from_slice(config.as_os_str().as_encoded_bytes());
    needle.push(0);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle.as_slice()))
        })
        .collect()
}

/// Stops a containerd left over on our data dir, so the new one can take the
/// socket and the metadata database. Its containers keep running in their
/// shims and the new containerd re-adopts them.
async fn stop_leftover(paths: &Paths) {
    for pid in processes_with_config(&paths.config) {
        warn!(pid, "stopping a containerd left over on this data dir");
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        let mut killed = false;
        while alive(pid) {
            if Instant::now() >= deadline {
                if killed {
                    warn!(pid, "leftover containerd does not die");
                    break;
                }
                signal(pid, libc::SIGKILL);
                killed = true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A process is gone once /proc no longer lists it or it is a zombie
/// (exited, waiting for its parent to reap it).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself
        // contain spaces or parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Imports an OCI or docker image tarball into the CRI namespace of the containerd
/// listening on `socket` (`rkube images import` uses it against a running node).
pub async fn import_image(ctr_bin: &Path, socket: &Path, tar: &Path) -> Result<()> {
    let ctr = require(ctr_bin)?;
    let mut cmd = Command::new(&ctr);
    cmd.arg("--address")
        .arg(socket)
        .args(["-n", "k8s.io", "images", "import", "--all-platforms"])
        .arg(tar)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let command = format!("ctr images import {}", tar.display());
    let out = match tokio::time::timeout(IMPORT_TIMEOUT, cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(CriError::io("cannot run", ctr, e)),
        Err(_) => {
            return Err(CriError::Command {
                command,
                message: format!("timed out after {IMPORT_TIMEOUT:?}"),
            })
        }
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(CriError::Command {
            command,
            message: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

impl Containerd {
    /// Writes the config and CNI conflist under `data_dir`, starts containerd
    /// and returns once it answers CRI calls.
    pub async fn start(data_dir: &Path, options: ContainerdOptions) -> Result<Containerd> {
        let bin = require(&options.containerd_bin)?;
        require(&options.runc_bin)?;
        require(&options.cni_bin_dir.join("bridge"))?;
        let paths = Paths::new(data_dir);
        config::validate(&paths, &options)?;
        if options.configure_host {
            host::enable_pod_networking();
        }
        for dir in [
            &paths.root,
            &paths.state,
            &paths.runc_root,
            &paths.opt,
            &paths.certs_d,
        ] {
            std::fs::create_dir_all(dir).map_err(|e| CriError::io("cannot create", dir, e))?;
        }
        write_file(&paths.config, &config::containerd_config(&paths, &options))?;
        write_file(&paths.conflist(), &config::cni_conflist(&paths, &options))?;

        stop_leftover(&paths).await;
        let client = RuntimeClient::connect(&paths.socket)?.with_timeout(options.call_timeout);
        let mut child = spawn(&bin, &paths)?;
        if let Err(e) = wait_ready(&mut child, &client, &paths, options.start_timeout).await {
            terminate(&mut child).await;
            return Err(e);
        }
        let pid = Arc::new(AtomicU32::new(child.id().unwrap_or(0)));
        info!(pid = pid.load(Ordering::Relaxed), socket = %paths.socket.display(), "containerd is ready");
        let restarts = Arc::new(AtomicU32::new(0));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(supervise(
            child,
            bin,
            paths.clone(),
            options.clone(),
            client.clone(),
            pid.clone(),
            restarts.clone(),
            stop_rx,
        ));
        Ok(Containerd {
            paths,
            options,
            client,
            pid,
            restarts,
            stop,
            task: Some(task),
        })
    }

    /// A client for our containerd's CRI socket.
    pub fn client(&self) -> RuntimeClient {
        self.client.clone()
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn socket(&self) -> &Path {
        &self.paths.socket
    }

    /// The current containerd process id (0 while it is being restarted).
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// How many times containerd was restarted after exiting on its own.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Imports an OCI or docker image tarball into the CRI namespace.
    pub async fn import_image(&self, tar: &Path) -> Result<()> {
        import_image(&self.options.ctr_bin, &self.paths.socket, tar).await
    }

    /// The images our containerd holds, through CRI.
    pub async fn list_images(&self) -> Result<Vec<crate::api::Image>> {
        self.client.list_images(None).await
    }

    /// Stops containerd (SIGTERM, then SIGKILL after a grace period) and waits
    /// for it. Containers keep running in their shims, as with any containerd
    /// restart; remove them first for a full clean-up.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // No await possible here: kill by PID so the child never outlives us.
            signal(self.pid.load(Ordering::Relaxed), libc::SIGKILL);
            task.abort();
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn supervise(
    mut child: Child,
    bin: PathBuf,
    paths: Paths,
    options: ContainerdOptions,
    client: RuntimeClient,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_START;
    let mut started = Instant::now();
    loop {
        tokio::select! {
            status = child.wait() => {
                pid.store(0, Ordering::Relaxed);
                warn!(status = ?status, log = %paths.log.display(), "containerd exited");
                if !options.supervise || *stop.borrow() {
                    return;
                }
                if started.elapsed() >= STABLE_RUN {
                    backoff = BACKOFF_START;
                }
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    match spawn(&bin, &paths) {
                        Ok(new) => {
                            child = new;
                            break;
                        }
                        Err(e) => warn!(error = %e, "cannot restart containerd"),
                    }
                }
                started = Instant::now();
                pid.store(child.id().unwrap_or(0), Ordering::Relaxed);
                restarts.fetch_add(1, Ordering::Relaxed);
                let stopping = tokio::select! {
                    ready = wait_ready(&mut child, &client, &paths, options.start_timeout) => {
                        match ready {
                            Ok(()) => info!(pid = pid.load(Ordering::Relaxed), "containerd restarted"),
                            Err(e) => warn!(error = %e, "restarted containerd is not ready"),
                        }
                        false
                    }
                    _ = stop.changed() => true,
                };
                if stopping {
                    terminate(&mut child).await;
                    pid.store(0, Ordering::Relaxed);
                    return;
                }
            }
            _ = stop.changed() => {
                terminate(&mut child).await;
                pid.store(0, Ordering::Relaxed);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_path_or_by_path() {
        assert!(find_program(Path::new("sh")).is_some());
        assert!(find_program(Path::new("/bin/sh")).is_some());
        assert!(find_program(Path::new("rkube-no-such-program")).is_none());
        assert!(find_program(Path::new("/nonexistent/containerd")).is_none());
    }

    #[tokio::test]
    async fn a_leftover_process_on_our_config_is_stopped_and_others_are_not() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let other = tmp.path().join("other.toml");
        // sh ignores the words after its script; they only make the command
        // line look like a containerd on that config. `read` is a builtin that
        // blocks on a pipe we keep open, so sh forks no child that could outlive it.
        let spawn = |config: &Path| {
            std::process::Command::new("sh")
                .args(["-c", "read line", "--config"])
                .arg(config)
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let mut ours = spawn(&paths.config);
        let mut theirs = spawn(&other);
        let ours_pid = ours.id();
        // `wait` would close the pipe (and end `read`): keep it open here instead.
        let _ours_stdin = ours.stdin.take();
        // Reap it as soon as it dies, as init would for a real leftover.
        let reaper = std::thread::spawn(move || ours.wait().unwrap());
        // Right after spawn the child may not have exec'd yet: its command line is
        // still ours until then.
        let deadline = Instant::now() + Duration::from_secs(10);
        while processes_with_config(&paths.config) != [ours_pid] && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(processes_with_config(&paths.config), vec![ours_pid]);
        assert!(alive(ours_pid));
        let started = Instant::now();
        stop_leftover(&paths).await;
        assert!(
            started.elapsed() < STOP_GRACE,
            "SIGTERM should have been enough"
        );
        // Checked before joining the reaper: were it still running, the join would wait
        // forever (the panic instead drops the pipe, which ends it).
        assert!(!alive(ours_pid));
        let status = reaper.join().unwrap();
        assert!(!status.success());
        assert!(alive(theirs.id()));
        theirs.kill().unwrap();
        theirs.wait().unwrap();
    }
}
