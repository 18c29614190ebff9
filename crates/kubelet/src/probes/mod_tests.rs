use super::*;
use serde_json::json;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

fn pod() -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": "web", "namespace": "ns", "uid": "pod-1"},
        "spec": {"containers": [{"name": "app"}]}}),
    )
    .unwrap()
}

async fn next_update(rx: &mut mpsc::UnboundedReceiver<ProbeUpdate>) -> ProbeUpdate {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a probe update within 20 s")
        .expect("channel open")
}

#[tokio::test]
async fn readiness_follows_the_endpoint_and_liveness_failure_is_reported() {
    let status = Arc::new(AtomicU16::new(200));
    let (addr, _) = super::check::tests::http_server(status.clone()).await;
    let runtime = RuntimeClient::connect("/nonexistent/cri.sock").unwrap();
    let (manager, mut rx) = ProbeManager::build(runtime, None);
    let container: Container = serde_json::from_value(json!({"name": "app",
        "readinessProbe": {"httpGet": {"port": addr.port(), "path": "/ready"}, "periodSeconds": 1},
        "livenessProbe": {"httpGet": {"port": addr.port(), "path": "/live"}, "periodSeconds": 1,
            "failureThreshold": 2}}))
    .unwrap();
    let ip = Some(addr.ip());
    manager.ensure(&pod(), &container, "cid-1", ip);
    assert_eq!(manager.readiness("cid-1"), Some(false));
    assert_eq!(manager.started("cid-1"), None);
    assert!(!manager.liveness_failed("cid-1"));

    let u = next_update(&mut rx).await;
    assert_eq!(
        u,
        ProbeUpdate {
            pod_uid: "pod-1".into(),
            container_id: "cid-1".into()
        }
    );
    assert_eq!(manager.readiness("cid-1"), Some(true));

    // Ensuring again does not restart anything.
    manager.ensure(&pod(), &container, "cid-1", ip);
    status.store(503, Ordering::SeqCst);
    let mut saw_not_ready = false;
    let mut saw_liveness = false;
    while !(saw_not_ready && saw_liveness) {
        next_update(&mut rx).await;
        saw_not_ready |= manager.readiness("cid-1") == Some(false);
        saw_liveness |= manager.liveness_failed("cid-1");
    }
    manager.forget_pod("pod-1");
    assert_eq!(manager.readiness("cid-1"), None);
    assert!(!manager.liveness_failed("cid-1"));
}

#[tokio::test]
async fn startup_probe_gates_readiness() {
    let status = Arc::new(AtomicU16::new(500));
    let (addr, _) = super::check::tests::http_server(status.clone()).await;
    let runtime = RuntimeClient::connect("/nonexistent/cri.sock").unwrap();
    let (manager, mut rx) = ProbeManager::build(runtime, None);
    let container: Container = serde_json::from_value(json!({"name": "app",
        "startupProbe": {"tcpSocket": {"port": addr.port()}, "periodSeconds": 1},
        "readinessProbe": {"httpGet": {"port": addr.port()}, "periodSeconds": 1}}))
    .unwrap();
    manager.ensure(&pod(), &container, "cid-2", Some(addr.ip()));
    assert_eq!(manager.started("cid-2"), Some(false));
    // The TCP startup probe passes first; readiness stays false while HTTP says 500.
    next_update(&mut rx).await;
    assert_eq!(manager.started("cid-2"), Some(true));
    assert_eq!(manager.readiness("cid-2"), Some(false));
    status.store(200, Ordering::SeqCst);
    next_update(&mut rx).await;
    assert_eq!(manager.readiness("cid-2"), Some(true));
    manager.forget_container("cid-2");
    assert_eq!(manager.started("cid-2"), None);
}
