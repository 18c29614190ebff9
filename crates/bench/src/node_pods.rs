//! Pod start-up latency on a real node: pods POSTed one at a time and as a concurrent
//! batch, each followed on a watch until Running and Ready, then deleted and waited for.

use crate::client::Tls;
use crate::cp_common::create_namespace;
use crate::error::{BenchError, Result};
use crate::node_floor::BOOTCAMP;
use crate::podwatch::{PodTimes, PodWatch};
use bytes::Bytes;
use http::Method;
use std::time::{Duration, Instant};

pub const NAMESPACE: &str = "bench-node";
/// Generous bound for one pod on a busy 2-core machine; the figures are far below it.
const POD_TIMEOUT: Duration = Duration::from_secs(120);

/// A bootcamp pod as `kubectl run` would create it; 2 s grace so deletes stay short
/// (the bootcamp app exits at once on SIGTERM anyway).
pub fn pod(name: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "rkube-bench"}},
            "spec": {
                "terminationGracePeriodSeconds": 2,
                "containers": [{
                    "name": "bootcamp",
                    "image": BOOTCAMP,
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 8080}]
                }]
            }
        })
        .to_string(),
    )
}

fn pods_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/pods")
}

/// Creates the namespace and waits for its default ServiceAccount (pods are refused
/// without it).
pub async fn prepare(tls: &Tls) -> Result<()> {
    create_namespace(tls, NAMESPACE).await?;
    let path = format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = tls
            .connect()
            .await?
            .request(Method::GET, &path, None)
            .await?;
        if status.is_success() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Timeout(format!("ServiceAccount {path}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One pod's way from POST to Running/Ready, as offsets from the moment its POST was sent.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    pub posted: Instant,
    pub times: PodTimes,
}

impl Startup {
    fn since(&self, t: Option<Instant>) -> Option<Duration> {
        t.map(|t| t.saturating_duration_since(self.posted))
    }
    pub fn until_bound(&self) -> Option<Duration> {
        self.since(self.times.bound)
    }
    pub fn until_running(&self) -> Option<Duration> {
        self.since(self.times.running)
    }
    pub fn until_ready(&self) -> Option<Duration> {
        self.since(self.times.ready)
    }
}

async fn wait_for(
    watch: &PodWatch,
    names: &[String],
    what: &str,
    done: impl Fn(&PodTimes) -> bool,
) -> Result<()> {
    let ok = watch
        .wait(POD_TIMEOUT, |p| {
            names.iter().all(|n| done(&p.times(NAMESPACE, n)))
        })
        .await;
    if ok {
        Ok(())
    } else {
        let missing: Vec<&String> = {
            let p = watch.progress();
            names
                .iter()
                .filter(|n| !done(&p.times(NAMESPACE, n)))
                .collect()
        };
        Err(BenchError::Timeout(format!(
            "{} pod(s) {what}: {missing:?}",
            missing.len()
        )))
    }
}

/// DELETEs `names` and waits until the watch saw each one removed (the kubelet stopped
/// its containers and confirmed); returns how long that took.
pub async fn delete_all(tls: &Tls, watch: &PodWatch, names: &[String]) -> Result<Duration> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for name in names {
        let (tls, path) = (tls.clone(), format!("{}/{name}", pods_path()));
        tasks.push(tokio::spawn(async move {
            tls.connect()
                .await?
                .expect_ok(Method::DELETE, &path, None)
                .await
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| BenchError::Server(format!("delete task: {e}")))??;
    }
    wait_for(watch, names, "not deleted", |t| t.deleted.is_some()).await?;
    Ok(started.elapsed())
}

/// POSTs every pod at once (connections opened beforehand) and waits until all are
/// Running and Ready.
pub async fn start_all(tls: &Tls, watch: &PodWatch, names: &[String]) -> Result<Vec<Startup>> {
    let mut conns = Vec::new();
    for _ in names {
        conns.push(tls.connect().await?);
    }
    let mut tasks = Vec::new();
    for (name, mut conn) in names.iter().cloned().zip(conns) {
        let path = pods_path();
        tasks.push(tokio::spawn(async move {
            let posted = Instant::now();
            conn.expect_ok(Method::POST, &path, Some(pod(&name)))
                .await
                .map(|_| posted)
        }));
    }
    let mut posted = Vec::new();
    for t in tasks {
        posted.push(
            t.await
                .map_err(|e| BenchError::Server(format!("create task: {e}")))??,
        );
    }
    wait_for(watch, names, "not Running and Ready", |t| t.ready.is_some()).await?;
    let p = watch.progress();
    Ok(names
        .iter()
        .zip(posted)
        .map(|(n, posted)| Startup {
            posted,
            times: p.times(NAMESPACE, n),
        })
        .collect())
}

/// Opens the namespace's pod watch.
pub async fn watch(tls: &Tls) -> Result<PodWatch> {
    PodWatch::start(tls, &pods_path()).await
}

/// Pods one after another: each started, then deleted before the next.
pub async fn sequential(
    tls: &Tls,
    watch: &PodWatch,
    prefix: &str,
    count: usize,
) -> Result<(Vec<Startup>, Vec<Duration>)> {
    let mut starts = Vec::new();
    let mut deletes = Vec::new();
    for i in 0..count {
        let names = vec![format!("{prefix}-{i}")];
        starts.extend(start_all(tls, watch, &names).await?);
        deletes.push(delete_all(tls, watch, &names).await?);
    }
    Ok((starts, deletes))
}

/// How long from the first POST until the last pod reached the state `pick` chooses.
pub fn makespan(starts: &[Startup], pick: impl Fn(&PodTimes) -> Option<Instant>) -> Duration {
    let first = starts.iter().map(|s| s.posted).min();
    let last = starts.iter().filter_map(|s| pick(&s.times)).max();
    match (first, last) {
        (Some(a), Some(b)) => b.saturating_duration_since(a),
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_the_bootcamp_image_in_our_namespace() {
        let v: serde_json::Value = serde_json::from_slice(&pod("p-1")).unwrap();
        assert_eq!(v["metadata"]["name"], "p-1");
        assert_eq!(v["metadata"]["namespace"], NAMESPACE);
        assert_eq!(v["spec"]["containers"][0]["image"], BOOTCAMP);
    }

    #[test]
    fn makespan_runs_from_first_post_to_last_state() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mk = |posted: u64, running: Option<u64>| Startup {
            posted: at(posted),
            times: PodTimes {
                running: running.map(at),
                ..Default::default()
            },
        };
        let starts = vec![mk(10, Some(400)), mk(0, Some(900)), mk(5, None)];
        assert_eq!(makespan(&starts, |t| t.running), Duration::from_millis(900));
        assert_eq!(starts[0].until_running(), Some(Duration::from_millis(390)));
        assert_eq!(starts[2].until_running(), None);
        assert_eq!(makespan(&[], |t| t.running), Duration::ZERO);
    }
}
