//! Starting and stopping the rkube server under test, and reading its /proc figures.

use crate::client::Tls;
use crate::error::{BenchError, Result};
use http::Method;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const LISTEN_PREFIX: &str = "rkube API server listening on https://";
/// Upper bound for one start-up; a healthy server needs a fraction of a second.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A server process this benchmark started (and only ever kills itself).
pub struct ServerProc {
    child: Child,
    pub pid: u32,
    pub tls: Tls,
    /// Spawn until the "listening" line appeared on stdout.
    pub listening_after: Duration,
    /// Spawn until the first GET /readyz answered 200.
    pub ready_after: Duration,
}

/// Parses the address out of the server's "listening" line.
pub fn parse_listen_line(line: &str) -> Option<SocketAddr> {
    line.trim().strip_prefix(LISTEN_PREFIX)?.parse().ok()
}

impl ServerProc {
    /// Spawns `rkube server` on a fresh `data_dir` and waits until /readyz answers 200.
    pub async fn start(binary: &Path, data_dir: &Path) -> Result<Self> {
        Self::start_with(binary, data_dir, &[]).await
    }

    /// Like [`ServerProc::start`] with extra server flags (e.g. `--disable-controllers`).
    pub async fn start_with(binary: &Path, data_dir: &Path, extra: &[&str]) -> Result<Self> {
        Self::start_full(binary, data_dir, extra, false).await
    }

    /// Like [`ServerProc::start_with`]; with `agent` the server also runs its node agent
    /// (kubelet + containerd), otherwise it gets `--disable-agent`.
    pub async fn start_full(
        binary: &Path,
        data_dir: &Path,
        extra: &[&str],
        agent: bool,
    ) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| BenchError::io(data_dir, e))?;
        let log_path = data_dir.join("server.log");
        let log = std::fs::File::create(&log_path).map_err(|e| BenchError::io(&log_path, e))?;
        let started = Instant::now();
        let mut child = Command::new(binary)
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--bind-address")
            .arg("127.0.0.1:0")
            // Control-plane numbers: no node agent (kubelet + containerd).
            .args(if agent { None } else { Some("--disable-agent") })
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::io(binary, e))?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Server("server exited at once".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Server("no stdout pipe".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = parse_listen_line(&line) {
                    return Ok(addr);
                }
            }
            Err(BenchError::Server(format!(
                "exited before listening; see {}",
                log_path.display()
            )))
        })
        .await
        .map_err(|_| BenchError::Timeout("server start".into()))??;
        let listening_after = started.elapsed();
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let tls = Tls::load(&data_dir.join("pki"), addr)?;
        wait_ready(&tls, started).await?;
        let ready_after = started.elapsed();
        Ok(Self {
            child,
            pid,
            tls,
            listening_after,
            ready_after,
        })
    }

    /// Kills this server (by its own pid, via the child handle) and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM so the server's agent stops its containerd, then SIGKILL after `grace`.
    pub async fn terminate(mut self, grace: Duration) {
        terminate_child(&mut self.child, self.pid, grace).await;
    }

    pub fn rss_kib(&self) -> Result<u64> {
        proc_status_kib(self.pid, "VmRSS")
    }

    pub fn hwm_kib(&self) -> Result<u64> {
        proc_status_kib(self.pid, "VmHWM")
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu(&self) -> Result<Duration> {
        cpu_time(&format!("/proc/{}/stat", self.pid))
    }
}

/// Another rkube process this benchmark started (scheduler, sim-nodes); killed by its
/// own child handle only.
pub struct Proc {
    child: Child,
    pub pid: u32,
}

impl Proc {
    /// Spawns `binary args...`, stdout and stderr into `log`.
    pub fn spawn(binary: &Path, args: &[String], log: &Path) -> Result<Self> {
        let out = std::fs::File::create(log).map_err(|e| BenchError::io(log, e))?;
        let err = out.try_clone().map_err(|e| BenchError::io(log, e))?;
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::io(binary, e))?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Server(format!("{} exited at once", binary.display())))?;
        Ok(Self { child, pid })
    }

    pub fn rss_kib(&self) -> Result<u64> {
        proc_status_kib(self.pid, "VmRSS")
    }

    pub fn cpu(&self) -> Result<Duration> {
        cpu_time(&format!("/proc/{}/stat", self.pid))
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    pub fn hwm_kib(&self) -> Result<u64> {
        proc_status_kib(self.pid, "VmHWM")
    }

    /// SIGTERM for a clean shutdown (a kubelet stops its containerd), SIGKILL after `grace`.
    pub async fn terminate(mut self, grace: Duration) {
        terminate_child(&mut self.child, self.pid, grace).await;
    }
}

/// Sends SIGTERM to our own child `pid` (via kill(1): no libc here), waits up to `grace`
/// for it to exit, then kills it.
async fn terminate_child(child: &mut Child, pid: u32, grace: Duration) {
    if let Ok(None) = child.try_wait() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

async fn wait_ready(tls: &Tls, started: Instant) -> Result<()> {
    while started.elapsed() < START_TIMEOUT {
        if let Ok(mut conn) = tls.connect().await {
            if let Ok((status, _)) = conn.request(Method::GET, "/readyz", None).await {
                if status.is_success() {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(BenchError::Timeout("GET /readyz".into()))
}

/// A `kB` field of /proc/PID/status.
pub fn proc_status_kib(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| BenchError::io(&path, e))?;
    parse_status_kib(&text, field)
        .ok_or_else(|| BenchError::Protocol(format!("no {field} in {path}")))
}

pub fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// utime + stime from a /proc/.../stat file (clock ticks assumed 100 Hz, Linux's USER_HZ).
pub fn cpu_time(path: &str) -> Result<Duration> {
    let text = std::fs::read_to_string(path).map_err(|e| BenchError::io(path, e))?;
    parse_stat_cpu(&text).ok_or_else(|| BenchError::Protocol(format!("unreadable {path}")))
}

pub fn parse_stat_cpu(stat: &str) -> Option<Duration> {
    // The command name may contain spaces and parentheses; fields restart after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3 overall, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_line_parses_address() {
        let addr = parse_listen_line("rkube API server listening on https://127.0.0.1:40123\n");
        assert_eq!(addr, Some("127.0.0.1:40123".parse().unwrap()));
        assert_eq!(
            parse_listen_line("export KUBECONFIG=/x/admin.kubeconfig"),
            None
        );
    }

    #[test]
    fn status_field_is_found_by_exact_name() {
        let status = "Name:\trkube\nVmHWM:\t   9000 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(12345));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(9000));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn stat_cpu_skips_names_with_spaces() {
        let stat = "42 (a) b) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_stat_cpu(stat), Some(Duration::from_millis(3000)));
    }

    #[test]
    fn own_process_stat_is_readable() {
        assert!(cpu_time("/proc/self/stat").is_ok());
        assert!(proc_status_kib(std::process::id(), "VmRSS").unwrap() > 0);
    }
}
