//! End-to-end tests of the scheduler: nodes created by hand (no simulated nodes), pods
//! placed by `rkube server`'s scheduler, observed with real kubectl.

mod common;

use common::{eventually, json, write_file, Cluster};
use serde_json::json as j;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn now_micro() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.000000Z"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn now_seconds() -> String {
    now_micro().replace(".000000Z", "Z")
}

/// Registers a node the way a kubelet would: object with status, then status again
/// through the subresource in case create drops it, then its heartbeat Lease.
fn create_node(c: &Cluster, name: &str, cpu: &str, labels: serde_json::Value, cordoned: bool) {
    let mut all_labels = j!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"});
    for (k, v) in labels.as_object().expect("labels").iter() {
        all_labels[k] = v.clone();
    }
    let resources = j!({"cpu": cpu, "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"});
    let status = j!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "kubelet is posting ready status", "lastHeartbeatTime": now_seconds(),
            "lastTransitionTime": now_seconds()}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": name}]
    });
    let node = j!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": all_labels},
        "spec": {"unschedulable": cordoned},
        "status": status});
    let (code, body) = c.curl(
        "POST",
        "/api/v1/nodes",
        "application/json",
        Some(node.to_string().as_bytes()),
    );
    assert_eq!(code, 201, "create node {name}: {body}");
    let patch = j!({"status": status});
    let (code, body) = c.curl(
        "PATCH",
        &format!("/api/v1/nodes/{name}/status"),
        "application/merge-patch+json",
        Some(patch.to_string().as_bytes()),
    );
    assert_eq!(code, 200, "node status {name}: {body}");
    renew_lease(c, name, true);
}

fn renew_lease(c: &Cluster, name: &str, create: bool) {
    let lease = j!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now_micro()}});
    if create {
        let (code, body) = c.curl(
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            "application/json",
            Some(lease.to_string().as_bytes()),
        );
        assert!(code == 201 || code == 409, "lease {name}: {code} {body}");
    } else {
        let patch = j!({"spec": {"renewTime": now_micro()}});
        c.curl(
            "PATCH",
            &format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"),
            "application/merge-patch+json",
            Some(patch.to_string().as_bytes()),
        );
    }
}

fn pod(name: &str, cpu: &str, extra_spec: serde_json::Value) -> serde_json::Value {
    let mut spec = j!({"containers": [{"name": "c", "image": "busybox",
        "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]});
    for (k, v) in extra_spec.as_object().expect("spec").iter() {
        spec[k] = v.clone();
    }
    j!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"test": "sched"}}, "spec": spec})
}

fn create_pods(c: &Cluster, file: &str, pods: Vec<serde_json::Value>) {
    let list = j!({"apiVersion": "v1", "kind": "List", "items": pods});
    let path = write_file(c.data_dir(), file, &list.to_string());
    let path = path.to_string_lossy().to_string();
    // The default namespace's service account may appear a moment after start.
    eventually("pods created", || {
        let out = c.kubectl("1.33", &["create", "--validate=false", "-f", &path]);
        let err = String::from_utf8_lossy(&out.stderr);
        (out.status.success() || err.contains("AlreadyExists") && !err.contains("serviceaccount"))
            .then_some(())
    });
}

fn node_of(c: &Cluster, pod: &str) -> Option<String> {
    let out = c.ok(
        "1.33",
        &["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"],
    );
    let out = out.trim().to_string();
    (!out.is_empty()).then_some(out)
}

#[test]
fn scheduler_places_pods_and_retries_unschedulable_ones() {
    let c = Cluster::start_with(&[]);
    create_node(&c, "small-1", "2", j!({"disk": "hdd"}), false);
    create_node(&c, "small-2", "2", j!({"disk": "ssd"}), false);
    // Roomiest node, but cordoned: LeastAllocated would prefer it if it were not skipped.
    create_node(&c, "cordoned", "64", j!({"disk": "ssd"}), true);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                for n in ["small-1", "small-2", "cordoned", "big-node"] {
                    renew_lease(&c, n, false);
                }
                for _ in 0..50 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(&c)));
        stop.store(true, Ordering::Relaxed);
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    });
}

fn scenario(c: &Cluster) {
    let mut pods: Vec<serde_json::Value> = (0..6)
        .map(|i| pod(&format!("plain-{i}"), "100m", j!({})))
        .collect();
    pods.push(pod(
        "ssd-only",
        "100m",
        j!({"nodeSelector": {"disk": "ssd"}}),
    ));
    pods.push(pod("big", "8", j!({})));
    create_pods(c, "pods.json", pods);

    let mut placed = Vec::new();
    for i in 0..6 {
        let name = format!("plain-{i}");
        let node = eventually(&format!("{name} scheduled"), || node_of(c, &name));
        assert!(
            node == "small-1" || node == "small-2",
            "{name} went to {node}"
        );
        placed.push(node);
    }
    // Spreading: both schedulable nodes got some of them.
    assert!(
        placed.iter().any(|n| n == "small-1") && placed.iter().any(|n| n == "small-2"),
        "{placed:?}"
    );
    assert_eq!(
        eventually("ssd-only scheduled", || node_of(c, "ssd-only")),
        "small-2"
    );

    // The big pod fits nowhere: FailedScheduling with upstream's message, condition set.
    let describe = eventually("FailedScheduling event", || {
        let out = c.ok("1.33", &["describe", "pod", "big"]);
        out.contains("FailedScheduling").then_some(out)
    });
    assert!(
        describe
            .contains("0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu."),
        "{describe}"
    );
    assert!(
        describe.contains("preemption: 0/3 nodes are available:"),
        "{describe}"
    );
    assert!(describe.contains("default-scheduler"), "{describe}");
    let cond = eventually("PodScheduled=False", || {
        let v = json(&c.ok("1.33", &["get", "pod", "big", "-o", "json"]));
        let conds = v["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        conds
            .into_iter()
            .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
    });
    assert_eq!(cond["reason"], "Unschedulable");
    assert!(
        cond["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("0/3 nodes are available"),
        "{cond}"
    );
    assert_eq!(node_of(c, "big"), None);
    let phase = c.ok(
        "1.33",
        &["get", "pod", "big", "-o", "jsonpath={.status.phase}"],
    );
    assert!(phase.is_empty() || phase == "Pending", "{phase}");

    // A node with room appears: the pod is retried at once and lands there.
    create_node(c, "big-node", "16", j!({}), false);
    assert_eq!(
        eventually("big scheduled", || node_of(c, "big")),
        "big-node"
    );
    let events = eventually("Scheduled event", || {
        let out = c.ok(
            "1.33",
            &[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=big",
                "-o",
                "json",
            ],
        );
        out.contains("Successfully assigned default/big to big-node")
            .then_some(out)
    });
    let v = json(&events);
    let scheduled = v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["reason"] == "Scheduled")
        .cloned()
        .unwrap_or_default();
    assert_eq!(scheduled["type"], "Normal", "{scheduled}");
    assert_eq!(
        scheduled["source"]["component"], "default-scheduler",
        "{scheduled}"
    );

    // Pods for another scheduler, or already bound by name, are left alone.
    create_pods(
        c,
        "others.json",
        vec![pod(
            "other-sched",
            "100m",
            j!({"schedulerName": "someone-else"}),
        )],
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(node_of(c, "other-sched"), None);

    // kubectl shows the node column for scheduled pods.
    let wide = c.ok("1.33", &["get", "pods", "-o", "wide"]);
    assert!(wide.contains("big-node"), "{wide}");
}
