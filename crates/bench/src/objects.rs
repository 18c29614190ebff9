//! The objects the scheduler/controller phases create, shaped like upstream
//! scheduler_perf's node-default and pod-default templates, and a closed-loop bulk creator.

use crate::client::Tls;
use crate::error::Result;
use crate::stats::Summary;
use bytes::Bytes;
use http::Method;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A Node like scheduler_perf's node-default: 4 CPUs, 32 GiB, 110 pods, Ready.
pub fn node(name: &str) -> Bytes {
    let resources = json!({ "cpu": "4", "memory": "32Gi", "pods": "110" });
    Bytes::from(
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux" },
            },
            "spec": {},
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": [{ "type": "Ready", "status": "True", "reason": "KubeletReady" }],
                "phase": "Running",
            },
        })
        .to_string(),
    )
}

/// A pause pod like scheduler_perf's pod-default (requests = limits).
pub fn pod(name: &str, cpu: &str, memory: &str) -> Bytes {
    let resources = json!({ "cpu": cpu, "memory": memory });
    Bytes::from(
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": name, "labels": { "app": "bench" } },
            "spec": {
                "containers": [{
                    "name": "pause",
                    "image": "registry.k8s.io/pause:3.10",
                    "ports": [{ "containerPort": 80 }],
                    "resources": { "requests": resources, "limits": resources },
                }],
            },
        })
        .to_string(),
    )
}

pub fn namespace(name: &str) -> Bytes {
    Bytes::from(
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } })
            .to_string(),
    )
}

/// A Deployment of pause pods with no resource requests (only the pod count limits).
pub fn deployment(name: &str, replicas: u32) -> Bytes {
    Bytes::from(
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": name },
            "spec": {
                "replicas": replicas,
                "selector": { "matchLabels": { "app": name } },
                "template": {
                    "metadata": { "labels": { "app": name } },
                    "spec": { "containers": [{ "name": "pause", "image": "registry.k8s.io/pause:3.10" }] },
                },
            },
        })
        .to_string(),
    )
}

/// Result of a bulk create: latency summary plus when the first request was sent.
pub struct Bulk {
    pub summary: Summary,
    pub started: Instant,
}

/// POSTs `make(i)` for i in 0..count to `path` from `clients` kept-open connections
/// (closed loop) until done or `max_time` passed.
pub async fn create_all<F>(
    tls: &Tls,
    path: &str,
    clients: usize,
    count: usize,
    max_time: Duration,
    make: F,
) -> Result<Bulk>
where
    F: Fn(usize) -> Bytes + Send + Sync + 'static,
{
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(tls.connect().await?);
    }
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + max_time;
    let mut tasks = Vec::with_capacity(clients);
    for mut conn in conns {
        let (next, make, tls, path) = (next.clone(), make.clone(), tls.clone(), path.to_string());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0usize;
            let mut first_error = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || Instant::now() >= deadline {
                    break;
                }
                let body = make(i);
                let t0 = Instant::now();
                match conn.expect_ok(Method::POST, &path, Some(body)).await {
                    Ok(_) => samples.push(t0.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                        if let Ok(fresh) = tls.connect().await {
                            conn = fresh;
                        }
                    }
                }
            }
            (samples, errors, first_error)
        }));
    }
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok((s, e, f)) => {
                samples.extend(s);
                errors += e;
                if first_error.is_none() {
                    first_error = f;
                }
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let mut summary = Summary::from_samples(samples, errors, started.elapsed());
    summary.first_error = first_error;
    Ok(Bulk { summary, started })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &Bytes) -> serde_json::Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn node_is_ready_with_capacity() {
        let n = parse(&node("n-7"));
        assert_eq!(n["metadata"]["name"], "n-7");
        assert_eq!(n["status"]["allocatable"]["pods"], "110");
        assert_eq!(n["status"]["conditions"][0]["type"], "Ready");
        assert_eq!(n["status"]["conditions"][0]["status"], "True");
    }

    #[test]
    fn pod_requests_equal_limits() {
        let p = parse(&pod("p-1", "100m", "500Mi"));
        let r = &p["spec"]["containers"][0]["resources"];
        assert_eq!(r["requests"]["cpu"], "100m");
        assert_eq!(r["requests"], r["limits"]);
        assert!(p["spec"].get("nodeName").is_none());
    }

    #[test]
    fn deployment_selector_matches_template() {
        let d = parse(&deployment("web", 1000));
        assert_eq!(d["spec"]["replicas"], 1000);
        assert_eq!(
            d["spec"]["selector"]["matchLabels"]["app"],
            d["spec"]["template"]["metadata"]["labels"]["app"]
        );
    }
}
