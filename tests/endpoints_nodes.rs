//! End-to-end tests of the endpoints, endpointslice, node IPAM and node lifecycle
//! controllers: real kubectl against `rkube server`, with Node objects, Leases and pod
//! statuses written by the test itself (no kubelet, no simulated nodes).

mod common;

use common::{eventually, json, write_file, Cluster};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Now as a metav1.MicroTime text.
fn micro_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%6NZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn rfc3339_now() -> String {
    let t = micro_now();
    format!("{}Z", &t[..19])
}

fn node_json(name: &str) -> String {
    let now = rfc3339_now();
    serde_json::json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": now, "lastTransitionTime": now}],
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}
        }
    })
    .to_string()
}

fn apply(c: &Cluster, name: &str, content: &str) {
    let f = write_file(c.data_dir(), name, content);
    c.ok("1.33", &["apply", "-f", f.to_str().unwrap()]);
}

fn merge_patch(c: &Cluster, path: &str, body: &Value) {
    let (code, out) = c.curl(
        "PATCH",
        path,
        "application/merge-patch+json",
        Some(body.to_string().as_bytes()),
    );
    assert_eq!(code, 200, "PATCH {path}: {out}");
}

/// Creates the node's Lease, or renews it.
fn renew_lease(c: &Cluster, node: &str) {
    let path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}");
    let body = serde_json::json!({"spec": {"renewTime": micro_now()}});
    let (code, _) = c.curl(
        "PATCH",
        &path,
        "application/merge-patch+json",
        Some(body.to_string().as_bytes()),
    );
    if code == 404 {
        let lease = serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": node, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": micro_now()}
        });
        let (code, out) = c.curl(
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            "application/json",
            Some(lease.to_string().as_bytes()),
        );
        assert_eq!(code, 201, "creating lease: {out}");
    }
}

/// Renews `node`'s Lease every two seconds until dropped, as a kubelet would.
struct Heartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(c: &Cluster, node: &str) -> Self {
        renew_lease(c, node);
        let stop = Arc::new(AtomicBool::new(false));
        let (port, dir, node) = (c.port, c.data_dir().to_path_buf(), node.to_string());
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let pki = dir.join("data/pki");
            let path = format!(
                "https://127.0.0.1:{port}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}"
            );
            while !flag.load(Ordering::Relaxed) {
                let body = serde_json::json!({"spec": {"renewTime": micro_now()}}).to_string();
                let _ = std::process::Command::new("curl")
                    .args(["-sS", "-o", "/dev/null", "-X", "PATCH"])
                    .arg("--cacert")
                    .arg(pki.join("ca.crt"))
                    .arg("--cert")
                    .arg(pki.join("admin.crt"))
                    .arg("--key")
                    .arg(pki.join("admin.key"))
                    .args(["-H", "Content-Type: application/merge-patch+json"])
                    .args(["--data-binary", &body, &path])
                    .output();
                std::thread::sleep(Duration::from_secs(2));
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn pod_yaml(name: &str, node: &str, app: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: {app}
spec:
  nodeName: {node}
  containers:
  - name: web
    image: registry.k8s.io/pause:3.10
    ports:
    - name: http
      containerPort: 8080
{extra_spec}"#
    )
}

/// Plays the kubelet: Running, with an IP and the given readiness.
fn set_pod_status(c: &Cluster, name: &str, ip: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
    let now = rfc3339_now();
    merge_patch(
        c,
        &format!("/api/v1/namespaces/default/pods/{name}/status"),
        &serde_json::json!({"status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "192.168.0.10",
            "startTime": now,
            "conditions": [
                {"type": "Ready", "status": status, "lastTransitionTime": now},
                {"type": "ContainersReady", "status": status, "lastTransitionTime": now},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now}
            ]
        }}),
    );
}

fn get_json(c: &Cluster, args: &[&str]) -> Option<Value> {
    let out = c.kubectl("1.33", args);
    out.status
        .success()
        .then(|| json(&String::from_utf8_lossy(&out.stdout)))
}

fn ips(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["ip"].as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn endpoints_and_slices_follow_pods_and_nodes_get_pod_cidrs() {
    let c = Cluster::start();
    let kubernetes_before = get_json(&c, &["get", "endpoints", "kubernetes", "-o", "json"])
        .map(|e| e["subsets"].clone());
    apply(&c, "node.json", &node_json("ep-node"));
    let _beat = Heartbeat::start(&c, "ep-node");

    // Node IPAM: a /24 out of 10.244.0.0/16.
    let cidr = eventually("podCIDR on ep-node", || {
        let n = get_json(&c, &["get", "node", "ep-node", "-o", "json"])?;
        n["spec"]["podCIDR"].as_str().map(str::to_string)
    });
    assert!(
        cidr.starts_with("10.244.") && cidr.ends_with(".0/24"),
        "{cidr}"
    );
    let n = get_json(&c, &["get", "node", "ep-node", "-o", "json"]).unwrap();
    assert_eq!(n["spec"]["podCIDRs"], serde_json::json!([cidr]));
    apply(&c, "node2.json", &node_json("ep-node-2"));
    let cidr2 = eventually("podCIDR on ep-node-2", || {
        let n = get_json(&c, &["get", "node", "ep-node-2", "-o", "json"])?;
        n["spec"]["podCIDR"].as_str().map(str::to_string)
    });
    assert_ne!(cidr, cidr2, "blocks must not be shared");

    let svc = r#"apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    tier: front
spec:
  selector:
    app: web
  ports:
  - name: www
    port: 80
    targetPort: http
"#;
    let mut pods = String::new();
    for (i, name) in ["web-1", "web-2", "web-3"].iter().enumerate() {
        if i > 0 {
            pods.push_str("---\n");
        }
        pods.push_str(&pod_yaml(name, "ep-node", "web", ""));
    }
    pods.push_str("---\n");
    pods.push_str(&pod_yaml("other", "ep-node", "other", ""));
    apply(&c, "pods.yaml", &pods);
    apply(&c, "svc.yaml", svc);
    set_pod_status(&c, "web-1", "10.244.0.11", true);
    set_pod_status(&c, "web-2", "10.244.0.12", false);
    set_pod_status(&c, "other", "10.244.0.13", true);
    // web-3 has no IP yet: it must not appear anywhere.

    let ep = eventually("endpoints with one ready and one not-ready address", || {
        let ep = get_json(&c, &["get", "endpoints", "web", "-o", "json"])?;
        let s = &ep["subsets"][0];
        (ips(&s["addresses"]) == ["10.244.0.11"] && ips(&s["notReadyAddresses"]) == ["10.244.0.12"])
            .then_some(ep)
    });
    let subsets = ep["subsets"].as_array().unwrap();
    assert_eq!(subsets.len(), 1, "{ep}");
    assert_eq!(
        subsets[0]["ports"],
        serde_json::json!([{"name": "www", "port": 8080, "protocol": "TCP"}])
    );
    let addr = &subsets[0]["addresses"][0];
    assert_eq!(addr["nodeName"], "ep-node");
    assert_eq!(addr["targetRef"]["kind"], "Pod");
    assert_eq!(addr["targetRef"]["name"], "web-1");
    assert_eq!(ep["metadata"]["labels"]["tier"], "front");
    assert!(
        ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]
            .is_string()
    );

    let slice = eventually("an EndpointSlice with both endpoints", || {
        let list = get_json(
            &c,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
                "-o",
                "json",
            ],
        )?;
        let items = list["items"].as_array()?.clone();
        (items.len() == 1 && items[0]["endpoints"].as_array().map(Vec::len) == Some(2))
            .then(|| items[0].clone())
    });
    assert_eq!(slice["addressType"], "IPv4");
    assert!(slice["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("web-"));
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    assert_eq!(slice["metadata"]["ownerReferences"][0]["name"], "web");
    assert_eq!(
        slice["ports"],
        serde_json::json!([{"name": "www", "port": 8080, "protocol": "TCP"}])
    );
    let by_ip = |ip: &str| {
        slice["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["addresses"][0] == ip)
            .cloned()
            .unwrap()
    };
    let ready = by_ip("10.244.0.11");
    assert_eq!(
        ready["conditions"],
        serde_json::json!({"ready": true, "serving": true, "terminating": false})
    );
    assert_eq!(ready["nodeName"], "ep-node");
    assert_eq!(ready["targetRef"]["name"], "web-1");
    assert_eq!(by_ip("10.244.0.12")["conditions"]["ready"], false);

    let described = c.ok("1.33", &["describe", "service", "web"]);
    let line = described
        .lines()
        .find(|l| l.starts_with("Endpoints:"))
        .unwrap_or_else(|| panic!("{described}"));
    assert!(line.contains("10.244.0.11:8080"), "{described}");
    assert!(
        !line.contains("10.244.0.12"),
        "not-ready pods are not listed: {described}"
    );

    // web-2 turns ready, web-1 goes away: both objects follow.
    set_pod_status(&c, "web-2", "10.244.0.12", true);
    c.ok(
        "1.33",
        &["delete", "pod", "web-1", "--grace-period=0", "--force"],
    );
    eventually("endpoints with only web-2", || {
        let ep = get_json(&c, &["get", "endpoints", "web", "-o", "json"])?;
        let s = &ep["subsets"][0];
        (ips(&s["addresses"]) == ["10.244.0.12"] && s["notReadyAddresses"].is_null()).then_some(())
    });
    eventually("slice with only web-2", || {
        let list = get_json(
            &c,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
                "-o",
                "json",
            ],
        )?;
        let eps = list["items"][0]["endpoints"].as_array()?.clone();
        (eps.len() == 1 && eps[0]["addresses"][0] == "10.244.0.12").then_some(())
    });

    // A service without a selector is left to its owner.
    let manual = r#"apiVersion: v1
kind: Service
metadata:
  name: manual
spec:
  ports:
  - port: 80
"#;
    apply(&c, "manual.yaml", manual);
    let manual_ep = r#"apiVersion: v1
kind: Endpoints
metadata:
  name: manual
subsets:
- addresses:
  - ip: 192.168.7.7
  ports:
  - port: 80
"#;
    apply(&c, "manual-ep.yaml", manual_ep);
    std::thread::sleep(Duration::from_secs(2));
    let ep = get_json(&c, &["get", "endpoints", "manual", "-o", "json"]).unwrap();
    assert_eq!(ips(&ep["subsets"][0]["addresses"]), ["192.168.7.7"]);
    let slices = get_json(
        &c,
        &[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=manual",
            "-o",
            "json",
        ],
    )
    .unwrap();
    assert_eq!(
        slices["items"].as_array().map(Vec::len),
        Some(0),
        "{slices}"
    );
    // The API server's own service (no selector) keeps whatever endpoints it had.
    let kubernetes_after = get_json(&c, &["get", "endpoints", "kubernetes", "-o", "json"])
        .map(|e| e["subsets"].clone());
    assert_eq!(kubernetes_before, kubernetes_after);

    // Deleting the service removes both.
    c.ok("1.33", &["delete", "service", "web"]);
    eventually("endpoints and slices gone", || {
        let ep = c.kubectl("1.33", &["get", "endpoints", "web"]);
        let list = get_json(
            &c,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
                "-o",
                "json",
            ],
        )?;
        (!ep.status.success() && list["items"].as_array().map(Vec::len) == Some(0)).then_some(())
    });
}

fn condition(node: &Value, kind: &str) -> Value {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .cloned()
        .unwrap_or(Value::Null)
}

fn taint_keys(node: &Value) -> Vec<String> {
    node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{}:{}",
                t["key"].as_str().unwrap_or(""),
                t["effect"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Polls with a deadline long enough for the default 40 s grace as well.
fn within<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn silent_node_goes_unknown_is_tainted_and_its_pods_evicted() {
    let c = Cluster::start_with(&["--node-monitor-grace-period", "6s"]);
    apply(&c, "alive.json", &node_json("alive"));
    apply(&c, "dying.json", &node_json("dying"));
    let _alive = Heartbeat::start(&c, "alive");
    // One renewal, then silence.
    renew_lease(&c, "dying");

    let short = pod_yaml(
        "short",
        "dying",
        "x",
        "  tolerations:\n  - key: node.kubernetes.io/unreachable\n    operator: Exists\n    effect: NoExecute\n    tolerationSeconds: 3\n",
    );
    let forever = pod_yaml(
        "forever",
        "dying",
        "x",
        "  tolerations:\n  - operator: Exists\n",
    );
    apply(&c, "pods.yaml", &format!("{short}---\n{forever}"));
    set_pod_status(&c, "short", "10.244.1.5", true);
    set_pod_status(&c, "forever", "10.244.1.6", true);

    let node = within("dying node Unknown and tainted", 120, || {
        let n = get_json(&c, &["get", "node", "dying", "-o", "json"])?;
        let keys = taint_keys(&n);
        (condition(&n, "Ready")["status"] == "Unknown"
            && keys.contains(&"node.kubernetes.io/unreachable:NoExecute".to_string())
            && keys.contains(&"node.kubernetes.io/unreachable:NoSchedule".to_string()))
        .then_some(n)
    });
    let ready = condition(&node, "Ready");
    assert_eq!(ready["reason"], "NodeStatusUnknown");
    assert_eq!(ready["message"], "Kubelet stopped posting node status.");
    let no_exec = node["spec"]["taints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["effect"] == "NoExecute")
        .unwrap();
    assert!(no_exec["timeAdded"].is_string(), "{node}");

    // The healthy node is left alone.
    let alive = get_json(&c, &["get", "node", "alive", "-o", "json"]).unwrap();
    assert_eq!(condition(&alive, "Ready")["status"], "True");
    assert!(taint_keys(&alive).is_empty(), "{alive}");

    // The pod tolerating 3 s is evicted; the one tolerating everything stays, not ready.
    within("short-toleration pod evicted", 60, || {
        let p = c.kubectl("1.33", &["get", "pod", "short", "-o", "json"]);
        if !p.status.success() {
            return Some(());
        }
        let p = json(&String::from_utf8_lossy(&p.stdout));
        p["metadata"]["deletionTimestamp"].is_string().then_some(())
    });
    let pod = within("forever pod marked not ready", 60, || {
        let p = get_json(&c, &["get", "pod", "forever", "-o", "json"])?;
        let ready = p["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready")?
            .clone();
        (ready["status"] == "False").then_some(p)
    });
    assert!(pod["metadata"]["deletionTimestamp"].is_null(), "{pod}");
    let events = c.ok(
        "1.33",
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=short",
        ],
    );
    assert!(events.contains("TaintManagerEviction"), "{events}");

    // The kubelet comes back: status Ready again, lease renewed → taints removed.
    let _dying = Heartbeat::start(&c, "dying");
    let now = rfc3339_now();
    merge_patch(
        &c,
        "/api/v1/nodes/dying/status",
        &serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": "True",
            "reason": "KubeletReady", "message": "kubelet is posting ready status",
            "lastHeartbeatTime": now, "lastTransitionTime": now}]}}),
    );
    within("taints removed", 60, || {
        let n = get_json(&c, &["get", "node", "dying", "-o", "json"])?;
        taint_keys(&n).is_empty().then_some(())
    });
}
