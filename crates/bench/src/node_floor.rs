//! The floor for pod start-up: the same sandbox + create + start a kubelet does, sent
//! straight to the node's containerd over CRI, with nothing of the API in between.

use crate::error::{BenchError, Result};
use rkube_cri::{api, RuntimeClient};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const BOOTCAMP: &str = "gcr.io/google-samples/kubernetes-bootcamp:v1";

/// One floor run, split by call.
#[derive(Debug, Clone, Copy, Default)]
pub struct FloorRun {
    pub sandbox: Duration,
    pub create: Duration,
    pub start: Duration,
    /// Stop + remove of container and sandbox, not part of the floor.
    pub teardown: Duration,
}

impl FloorRun {
    pub fn total(&self) -> Duration {
        self.sandbox + self.create + self.start
    }
}

fn cri_err(what: &str, e: rkube_cri::CriError) -> BenchError {
    BenchError::Server(format!("CRI {what}: {e}"))
}

/// A best-effort pod sandbox like the kubelet's for a BestEffort pod: own network
/// namespace (CNI), pod IPC, container PID namespace, cgroup `<root>/besteffort/pod<uid>`.
pub fn sandbox_config(uid: &str, log_dir: &Path, cgroup_root: &str) -> api::PodSandboxConfig {
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: format!("floor-{uid}"),
            uid: uid.to_string(),
            namespace: "rkube-bench-floor".to_string(),
            attempt: 0,
        }),
        hostname: "floor".to_string(),
        log_directory: log_dir.to_string_lossy().into_owned(),
        labels: [("rkube-bench".to_string(), "floor".to_string())].into(),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: format!("{cgroup_root}/besteffort/pod{uid}"),
            security_context: Some(api::LinuxSandboxSecurityContext {
                namespace_options: Some(api::NamespaceOption {
                    network: api::NamespaceMode::Pod as i32,
                    pid: api::NamespaceMode::Container as i32,
                    ipc: api::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn container_config() -> api::ContainerConfig {
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: "bootcamp".to_string(),
            attempt: 0,
        }),
        image: Some(api::ImageSpec {
            image: BOOTCAMP.to_string(),
            ..Default::default()
        }),
        log_path: "bootcamp/0.log".to_string(),
        linux: Some(api::LinuxContainerConfig::default()),
        ..Default::default()
    }
}

/// A floor pod that was started: what must be removed again.
struct Started {
    uid: String,
    log_dir: PathBuf,
    pod_id: String,
    container: Option<String>,
}

/// RunPodSandbox + CreateContainer + StartContainer of the bootcamp image, timed per
/// call. On error the pod is already removed again.
async fn start_one(
    cri: &RuntimeClient,
    uid: &str,
    logs: &Path,
    cgroup_root: &str,
) -> Result<(Started, FloorRun)> {
    let log_dir = logs.join(uid);
    std::fs::create_dir_all(&log_dir).map_err(|e| BenchError::io(&log_dir, e))?;
    let sandbox = sandbox_config(uid, &log_dir, cgroup_root);
    let mut run = FloorRun::default();
    let t0 = Instant::now();
    let pod_id = cri
        .run_pod_sandbox(sandbox.clone(), "")
        .await
        .map_err(|e| cri_err("RunPodSandbox", e))?;
    run.sandbox = t0.elapsed();
    let mut started = Started {
        uid: uid.to_string(),
        log_dir,
        pod_id,
        container: None,
    };
    let t1 = Instant::now();
    let created = cri
        .create_container(&started.pod_id, container_config(), sandbox)
        .await;
    run.create = t1.elapsed();
    let outcome = match created {
        Ok(id) => {
            started.container = Some(id.clone());
            let t2 = Instant::now();
            let r = cri.start_container(&id).await;
            run.start = t2.elapsed();
            r.map_err(|e| cri_err("StartContainer", e))
        }
        Err(e) => Err(cri_err("CreateContainer", e)),
    };
    match outcome {
        Ok(()) => Ok((started, run)),
        Err(e) => {
            // A broken run leaves nothing behind either.
            let _ = teardown(cri, &started, cgroup_root).await;
            Err(e)
        }
    }
}

/// Stops and removes container and sandbox, the pod cgroup and the log dir.
async fn teardown(cri: &RuntimeClient, s: &Started, cgroup_root: &str) -> Result<()> {
    if let Some(id) = &s.container {
        let _ = cri.stop_container(id, Duration::from_secs(5)).await;
        let _ = cri.remove_container(id).await;
    }
    let _ = cri.stop_pod_sandbox(&s.pod_id).await;
    let removed = cri.remove_pod_sandbox(&s.pod_id).await;
    let _ = rkube_cri::host::remove_cgroup(&format!("{cgroup_root}/besteffort/pod{}", s.uid));
    let _ = std::fs::remove_dir_all(&s.log_dir);
    removed.map_err(|e| cri_err("RemovePodSandbox", e))
}

fn connect(socket: &Path) -> Result<RuntimeClient> {
    Ok(RuntimeClient::connect(socket)
        .map_err(|e| cri_err("connect", e))?
        .with_timeout(Duration::from_secs(120)))
}

/// `warm_up` untimed runs, then `runs` timed ones.
pub async fn measure(
    socket: &Path,
    logs: &Path,
    cgroup_root: &str,
    warm_up: usize,
    runs: usize,
) -> Result<Vec<FloorRun>> {
    let cri = connect(socket)?;
    let pid = std::process::id();
    let mut out = Vec::new();
    for i in 0..warm_up + runs {
        let uid = format!("rkube-bench-floor-{pid}-{i}");
        let (started, mut run) = start_one(&cri, &uid, logs, cgroup_root).await?;
        let t = Instant::now();
        teardown(&cri, &started, cgroup_root).await?;
        run.teardown = t.elapsed();
        if i >= warm_up {
            out.push(run);
        }
    }
    Ok(out)
}

/// `n` floor pods started at once (one task each on a shared channel); returns each
/// pod's total and the time until the last one was started. All are removed after.
pub async fn measure_batch(
    socket: &Path,
    logs: &Path,
    cgroup_root: &str,
    n: usize,
) -> Result<(Vec<Duration>, Duration)> {
    let cri = connect(socket)?;
    let pid = std::process::id();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let (cri, logs, root) = (cri.clone(), logs.to_path_buf(), cgroup_root.to_string());
        let uid = format!("rkube-bench-floorb-{pid}-{i}");
        tasks.push(tokio::spawn(async move {
            let r = start_one(&cri, &uid, &logs, &root).await;
            r.map(|(s, run)| (s, run.total(), t0.elapsed()))
        }));
    }
    let mut started = Vec::new();
    let mut totals = Vec::new();
    let mut makespan = Duration::ZERO;
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok((s, total, done))) => {
                started.push(s);
                totals.push(total);
                makespan = makespan.max(done);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(BenchError::Server(format!("floor task: {e}")));
            }
        }
    }
    for s in &started {
        let _ = teardown(&cri, s, cgroup_root).await;
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok((totals, makespan)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_lands_in_the_besteffort_cgroup_of_our_root() {
        let s = sandbox_config("u1", Path::new("/logs/u1"), "/rkube-bench-7-0");
        let linux = s.linux.unwrap();
        assert_eq!(linux.cgroup_parent, "/rkube-bench-7-0/besteffort/podu1");
        let ns = linux.security_context.unwrap().namespace_options.unwrap();
        assert_eq!(ns.network, api::NamespaceMode::Pod as i32);
        assert_eq!(s.metadata.unwrap().uid, "u1");
        assert_eq!(s.log_directory, "/logs/u1");
    }

    #[test]
    fn total_is_the_three_calls_without_teardown() {
        let run = FloorRun {
            sandbox: Duration::from_millis(200),
            create: Duration::from_millis(50),
            start: Duration::from_millis(100),
            teardown: Duration::from_secs(3),
        };
        assert_eq!(run.total(), Duration::from_millis(350));
    }
}
