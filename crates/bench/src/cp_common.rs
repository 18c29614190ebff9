//! Pieces shared by the control-plane phases: component processes, RSS sampling, polling.

use crate::client::Tls;
use crate::error::{BenchError, Result};
use crate::objects;
use crate::server::{proc_status_kib, Proc, ServerProc};
use http::Method;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Starts `rkube scheduler` against the server in `dir`.
pub fn scheduler(binary: &Path, dir: &Path, log_name: &str) -> Result<Proc> {
    let kc = dir.join("scheduler.kubeconfig");
    Proc::spawn(
        binary,
        &[
            "scheduler".into(),
            "--kubeconfig".into(),
            kc.display().to_string(),
        ],
        &dir.join(log_name),
    )
}

/// Starts `rkube sim-nodes --count N` with the admin kubeconfig of the server in `dir`.
pub fn sim_nodes(binary: &Path, dir: &Path, count: usize) -> Result<Proc> {
    let kc = dir.join("admin.kubeconfig");
    Proc::spawn(
        binary,
        &[
            "sim-nodes".into(),
            "--kubeconfig".into(),
            kc.display().to_string(),
            "--count".into(),
            count.to_string(),
        ],
        &dir.join("sim.log"),
    )
}

/// Starts `rkube controller-manager` against the server in `dir`.
pub fn controller_manager(binary: &Path, dir: &Path) -> Result<Proc> {
    Proc::spawn(
        binary,
        &[
            "controller-manager".into(),
            "--kubeconfig".into(),
            dir.join("controller-manager.kubeconfig")
                .display()
                .to_string(),
            "--root-ca-file".into(),
            dir.join("pki").join("ca.crt").display().to_string(),
        ],
        &dir.join("controller-manager.log"),
    )
}

pub async fn create_namespace(tls: &Tls, name: &str) -> Result<()> {
    tls.connect()
        .await?
        .expect_ok(
            Method::POST,
            "/api/v1/namespaces",
            Some(objects::namespace(name)),
        )
        .await?;
    Ok(())
}

/// GETs `path` as JSON.
pub async fn get_json(tls: &Tls, path: &str) -> Result<serde_json::Value> {
    let body = tls
        .connect()
        .await?
        .expect_ok(Method::GET, path, None)
        .await?;
    serde_json::from_slice(&body).map_err(|e| BenchError::Protocol(format!("{path}: {e}")))
}

/// Number of items in a LIST answer.
pub fn item_count(list: &serde_json::Value) -> usize {
    list["items"].as_array().map_or(0, Vec::len)
}

/// Polls the node list every 2 s until it holds `count` nodes; returns the time it took.
pub async fn wait_nodes(tls: &Tls, count: usize, timeout: Duration) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let n = get_json(tls, "/api/v1/nodes")
            .await
            .map_or(0, |v| item_count(&v));
        if n >= count {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            return Err(BenchError::Timeout(format!(
                "{n} of {count} nodes registered after {} s",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Highest VmRSS seen for a set of pids, sampled every second.
pub struct RssPeak {
    peaks: Vec<Arc<AtomicU64>>,
    task: JoinHandle<()>,
}

impl RssPeak {
    pub fn start(pids: &[u32]) -> Self {
        let peaks: Vec<Arc<AtomicU64>> = pids.iter().map(|_| Arc::new(AtomicU64::new(0))).collect();
        let (pids, shared) = (pids.to_vec(), peaks.clone());
        let task = tokio::spawn(async move {
            loop {
                for (pid, peak) in pids.iter().zip(&shared) {
                    if let Ok(kib) = proc_status_kib(*pid, "VmRSS") {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Self { peaks, task }
    }

    /// Peak KiB so far of the `i`-th pid.
    pub fn current(&self, i: usize) -> u64 {
        self.peaks.get(i).map_or(0, |p| p.load(Ordering::Relaxed))
    }

    /// Peak KiB per pid, in the order given to `start`.
    pub fn stop(self) -> Vec<u64> {
        self.task.abort();
        self.peaks
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .collect()
    }
}

/// CPU used by the server and optional other processes since `mark`.
pub struct CpuMark {
    at: Vec<Duration>,
}

pub fn cpu_of(server: &ServerProc, others: &[&Proc]) -> Vec<Duration> {
    let mut v = vec![server.cpu().unwrap_or_default()];
    v.extend(others.iter().map(|p| p.cpu().unwrap_or_default()));
    v
}

impl CpuMark {
    pub fn new(server: &ServerProc, others: &[&Proc]) -> Self {
        Self {
            at: cpu_of(server, others),
        }
    }

    /// Microseconds of CPU per unit of work for each process since the mark.
    pub fn per_unit(&self, server: &ServerProc, others: &[&Proc], units: usize) -> Vec<f64> {
        cpu_of(server, others)
            .iter()
            .zip(&self.at)
            .map(|(now, then)| now.saturating_sub(*then).as_secs_f64() * 1e6 / units.max(1) as f64)
            .collect()
    }
}

/// Pods per second over `n` pods in `window` (0 for an empty window).
pub fn per_second(n: usize, window: Duration) -> f64 {
    let s = window.as_secs_f64();
    if s <= 0.0 {
        0.0
    } else {
        n as f64 / s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_counts() {
        assert_eq!(per_second(5000, Duration::from_secs(2)), 2500.0);
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
        let list = serde_json::json!({"items": [{}, {}, {}]});
        assert_eq!(item_count(&list), 3);
        assert_eq!(item_count(&serde_json::json!({})), 0);
    }

    #[tokio::test]
    async fn rss_peak_samples_own_process() {
        let peak = RssPeak::start(&[std::process::id()]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let v = peak.stop();
        assert_eq!(v.len(), 1);
        assert!(v[0] > 0);
    }
}
