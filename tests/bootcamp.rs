//! The bootcamp's deploy / scale / update / rollback module, end to end with the real
//! kubectl against `rkube server` with simulated nodes (scheduler, controllers and node
//! simulation all in the server process).

mod common;

use common::{eventually, json, write_file, Cluster};

const APP: &str = "kubernetes-bootcamp";
const V1: &str = "gcr.io/google-samples/kubernetes-bootcamp:v1";
const V2: &str = "jocatalin/kubernetes-bootcamp:v2";

fn cluster() -> Cluster {
    Cluster::start_with(&["--sim-nodes", "3", "--node-monitor-grace-period", "5s"])
}

/// Pods of the app that are Running and Ready, as (name, node, image).
fn running(c: &Cluster, selector: &str) -> Vec<(String, String, String)> {
    let list = json(&c.ok("1.33", &["get", "pods", "-l", selector, "-o", "json"]));
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| p["status"]["phase"] == "Running")
        .filter(|p| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .map(|p| {
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn all_pods(c: &Cluster, selector: &str) -> usize {
    json(&c.ok("1.33", &["get", "pods", "-l", selector, "-o", "json"]))["items"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn deploy_scale_update_rollback() {
    let c = cluster();
    let k = |args: &[&str]| c.ok("1.33", args);
    let sel = format!("app={APP}");
    eventually("3 Ready simulated nodes", || {
        let nodes = k(&["get", "nodes"]);
        (nodes.matches(" Ready ").count() == 3).then_some(())
    });

    k(&["create", "deployment", APP, &format!("--image={V1}")]);
    let pods = eventually("one Running pod", || {
        Some(running(&c, &sel)).filter(|p| p.len() == 1)
    });
    assert!(pods[0].1.starts_with("sim-node-"), "{pods:?}");

    k(&["scale", &format!("deployments/{APP}"), "--replicas=4"]);
    let pods = eventually("4 Running pods", || {
        Some(running(&c, &sel)).filter(|p| p.len() == 4)
    });
    let nodes: std::collections::BTreeSet<&String> = pods.iter().map(|p| &p.1).collect();
    assert!(
        nodes.len() >= 2,
        "4 pods should spread over nodes: {pods:?}"
    );
    let wide = k(&["get", "pods", "-o", "wide"]);
    assert!(
        wide.contains("NODE") && wide.contains("sim-node-"),
        "{wide}"
    );

    k(&[
        "set",
        "image",
        &format!("deployments/{APP}"),
        &format!("{APP}={V2}"),
    ]);
    let status = k(&[
        "rollout",
        "status",
        &format!("deployments/{APP}"),
        "--timeout=180s",
    ]);
    assert!(status.contains("successfully rolled out"), "{status}");
    let pods = eventually("4 pods on v2", || {
        let p = running(&c, &sel);
        (p.len() == 4 && p.iter().all(|x| x.2 == V2) && all_pods(&c, &sel) == 4).then_some(p)
    });
    assert_eq!(pods.len(), 4);
    let rs = json(&k(&["get", "rs", "-l", &sel, "-o", "json"]));
    let mut replicas: Vec<(i64, String)> = rs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["spec"]["replicas"].as_i64().unwrap_or(-1),
                r["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    replicas.sort();
    assert_eq!(replicas, vec![(0, V1.to_string()), (4, V2.to_string())]);

    let history = k(&["rollout", "history", &format!("deployments/{APP}")]);
    let revisions: Vec<&str> = history
        .lines()
        .filter(|l| l.trim_start().starts_with(|ch: char| ch.is_ascii_digit()))
        .collect();
    assert_eq!(revisions.len(), 2, "{history}");

    k(&["rollout", "undo", &format!("deployments/{APP}")]);
    let status = k(&[
        "rollout",
        "status",
        &format!("deployments/{APP}"),
        "--timeout=180s",
    ]);
    assert!(status.contains("successfully rolled out"), "{status}");
    eventually("4 pods back on v1", || {
        let p = running(&c, &sel);
        (p.len() == 4 && p.iter().all(|x| x.2 == V1) && all_pods(&c, &sel) == 4).then_some(())
    });
    let out = k(&[
        "wait",
        "--for=condition=ready",
        "pod",
        "-l",
        &sel,
        "--timeout=120s",
    ]);
    assert_eq!(out.matches("condition met").count(), 4, "{out}");

    // Deleting the deployment removes its ReplicaSets and pods.
    k(&["delete", "deployment", APP]);
    eventually("ReplicaSets and pods garbage collected", || {
        let rs = k(&["get", "rs", "-l", &sel, "-o", "name"]);
        (rs.trim().is_empty() && all_pods(&c, &sel) == 0).then_some(())
    });

    // --cascade=orphan leaves them.
    k(&["create", "deployment", "keep", &format!("--image={V1}")]);
    eventually("keep's pod", || {
        Some(running(&c, "app=keep")).filter(|p| p.len() == 1)
    });
    k(&["delete", "deployment", "keep", "--cascade=orphan"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        k(&["get", "rs", "-l", "app=keep", "-o", "name"])
            .lines()
            .count(),
        1
    );
    assert_eq!(running(&c, "app=keep").len(), 1);
}

#[test]
fn namespace_deletion_and_unschedulable_pods() {
    let c = cluster();
    let k = |args: &[&str]| c.ok("1.33", args);
    k(&["create", "namespace", "scratch"]);
    k(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "-n",
        "scratch",
        "--replicas=2",
    ]);
    eventually("web pods running", || {
        let list = json(&k(&["get", "pods", "-n", "scratch", "-o", "json"]));
        (list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count()
            == 2)
            .then_some(())
    });
    k(&["delete", "namespace", "scratch", "--timeout=120s"]);
    assert!(c
        .fails("1.33", &["get", "namespace", "scratch"])
        .contains("NotFound"));

    // A pod that fits nowhere stays Pending with FailedScheduling, then lands on a big node.
    let dir = c.data_dir().to_path_buf();
    let pod = write_file(&dir, "big.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: big}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources: {requests: {cpu: \"100\"}}\n");
    k(&["apply", "-f", pod.to_str().unwrap()]);
    let described = eventually("FailedScheduling event", || {
        let d = k(&["describe", "pod", "big"]);
        d.contains("FailedScheduling").then_some(d)
    });
    assert!(
        described.contains("0/3 nodes are available") && described.contains("Insufficient cpu"),
        "{described}"
    );
    assert_eq!(
        k(&["get", "pod", "big", "-o", "jsonpath={.spec.nodeName}"]),
        ""
    );
    let node = write_file(&dir, "node.yaml", "apiVersion: v1\nkind: Node\nmetadata: {name: huge, labels: {kubernetes.io/hostname: huge}}\nstatus:\n  capacity: {cpu: \"200\", memory: 512Gi, pods: \"110\"}\n  allocatable: {cpu: \"200\", memory: 512Gi, pods: \"110\"}\n  conditions: [{type: Ready, status: \"True\", reason: KubeletReady, message: ready}]\n");
    k(&["create", "-f", node.to_str().unwrap()]);
    eventually("big pod scheduled on the huge node", || {
        (k(&["get", "pod", "big", "-o", "jsonpath={.spec.nodeName}"]) == "huge").then_some(())
    });
}

#[test]
fn pods_leave_a_node_that_stops_heartbeating() {
    let c = cluster();
    let k = |args: &[&str]| c.ok("1.33", args);
    let dir = c.data_dir().to_path_buf();
    let app = write_file(&dir, "mover.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: mover}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: mover}}\n  template:\n    metadata: {labels: {app: mover}}\n    spec:\n      tolerations:\n      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}\n      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}\n      containers: [{name: c, image: busybox}]\n");
    k(&["apply", "-f", app.to_str().unwrap()]);
    let first = eventually("mover running", || {
        Some(running(&c, "app=mover")).filter(|p| p.len() == 1)
    });
    let node = first[0].1.clone();
    k(&["label", "node", &node, "sim.rkube.io/stop-heartbeat=true"]);
    eventually("node NotReady", || {
        let nodes = k(&["get", "node", &node]);
        nodes.contains("NotReady").then_some(())
    });
    let moved = eventually("replacement pod on another node", || {
        Some(running(&c, "app=mover"))
            .filter(|p| p.len() == 1 && p[0].1 != node && p[0].0 != first[0].0)
    });
    assert_ne!(moved[0].1, node);
}
