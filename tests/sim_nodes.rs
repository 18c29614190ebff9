//! End-to-end tests of the simulated nodes (`rkube server --sim-nodes N`) with real kubectl.

mod common;

use common::{eventually, json, write_file, Cluster};
use std::time::Duration;

/// Ready node names, from `kubectl get nodes -o json`.
fn ready_nodes(c: &Cluster) -> Vec<String> {
    let nodes = json(&c.ok("1.33", &["get", "nodes", "-o", "json"]));
    nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| {
            n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn renew_time(c: &Cluster, node: &str) -> String {
    let lease = json(&c.ok(
        "1.33",
        &["get", "lease", "-n", "kube-node-lease", node, "-o", "json"],
    ));
    assert_eq!(lease["spec"]["holderIdentity"], node);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    lease["spec"]["renewTime"].as_str().unwrap().to_string()
}

#[test]
fn simulated_nodes_run_pods_and_heartbeat() {
    let c = Cluster::start_with(&["--sim-nodes", "3"]);

    // Three Ready nodes with kubelet-like labels and addresses.
    let nodes = eventually("3 ready nodes", || {
        let n = ready_nodes(&c);
        (n.len() == 3).then_some(n)
    });
    let table = c.ok("1.33", &["get", "nodes"]);
    for name in ["sim-node-0", "sim-node-1", "sim-node-2"] {
        assert!(nodes.contains(&name.to_string()), "{nodes:?}");
        let line = table.lines().find(|l| l.starts_with(name)).unwrap();
        assert!(
            line.contains(" Ready ") && line.contains("v1.33.0"),
            "{table}"
        );
    }
    let node = json(&c.ok("1.33", &["get", "node", "sim-node-1", "-o", "json"]));
    assert_eq!(
        node["metadata"]["labels"]["kubernetes.io/hostname"],
        "sim-node-1"
    );
    assert_eq!(
        node["metadata"]["labels"]["node.kubernetes.io/instance-type"],
        "sim"
    );
    assert_eq!(node["status"]["capacity"]["pods"], "110");
    assert_eq!(
        node["status"]["nodeInfo"]["containerRuntimeVersion"],
        "sim://1.0"
    );
    let internal_ip = node["status"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .unwrap()["address"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(internal_ip.starts_with("172.30."), "{internal_ip}");

    // A pod bound to a node by hand becomes Running 1/1 with an IP.
    let manifest = write_file(
        c.data_dir(),
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  nodeName: sim-node-1\n  \
         containers:\n  - name: web\n    image: nginx:1.27\n",
    );
    c.ok("1.33", &["apply", "-f", manifest.to_str().unwrap()]);
    let wide = eventually("pod running", || {
        let out = c.ok("1.33", &["get", "pods", "-o", "wide"]);
        let line = out.lines().find(|l| l.starts_with("web "))?.to_string();
        (line.contains(" 1/1 ") && line.contains(" Running ")).then_some(line)
    });
    assert!(wide.contains("sim-node-1"), "{wide}");
    let pod = json(&c.ok("1.33", &["get", "pod", "web", "-o", "json"]));
    let pod_ip = pod["status"]["podIP"].as_str().unwrap();
    assert!(wide.contains(pod_ip), "{wide}");
    assert!(pod_ip.parse::<std::net::Ipv4Addr>().is_ok(), "{pod_ip}");
    assert_eq!(pod["status"]["hostIP"], internal_ip.as_str());
    let status = &pod["status"]["containerStatuses"][0];
    assert_eq!(status["ready"], true);
    assert!(status["containerID"]
        .as_str()
        .unwrap()
        .starts_with("sim://"));
    c.ok(
        "1.33",
        &["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"],
    );

    // An image change is reflected in the container status.
    c.ok("1.33", &["set", "image", "pod/web", "web=nginx:1.28"]);
    eventually("new image in status", || {
        let pod = json(&c.ok("1.33", &["get", "pod", "web", "-o", "json"]));
        let s = &pod["status"]["containerStatuses"][0];
        (s["image"] == "nginx:1.28" && s["ready"] == true).then_some(())
    });

    // Graceful deletion completes: kubectl waits for the pod to be gone.
    c.ok("1.33", &["delete", "pod", "web", "--timeout=60s"]);
    let left = c.ok("1.33", &["get", "pods", "-o", "name"]);
    assert!(left.trim().is_empty(), "{left}");

    // Leases are renewed; a stopped heartbeat leaves sim-node-2's Lease stale.
    let first = renew_time(&c, "sim-node-0");
    eventually("sim-node-0 lease renewed", || {
        (renew_time(&c, "sim-node-0") != first).then_some(())
    });
    c.ok(
        "1.33",
        &[
            "label",
            "node",
            "sim-node-2",
            "sim.rkube.io/stop-heartbeat=true",
        ],
    );
    // A renewal already in flight may still land; after that the time must stand still.
    std::thread::sleep(Duration::from_secs(2));
    let stopped_at = renew_time(&c, "sim-node-2");
    let other = renew_time(&c, "sim-node-0");
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(renew_time(&c, "sim-node-2"), stopped_at);
    assert_ne!(
        renew_time(&c, "sim-node-0"),
        other,
        "healthy node still renews"
    );

    // Removing the label brings the heartbeat back.
    c.ok(
        "1.33",
        &[
            "label",
            "node",
            "sim-node-2",
            "sim.rkube.io/stop-heartbeat-",
        ],
    );
    eventually("sim-node-2 lease renewed again", || {
        (renew_time(&c, "sim-node-2") != stopped_at).then_some(())
    });
}
