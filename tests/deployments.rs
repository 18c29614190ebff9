//! Deployment and ReplicaSet controllers end to end with the real kubectl. The test plays
//! the kubelet itself (marks pods Running and Ready through pods/status), so it depends
//! only on the API server and the controller manager.

mod common;

use common::{eventually, json, Cluster};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Marks every pending pod of a namespace Running and Ready, like a kubelet would.
struct FakeKubelet {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

fn curl(port: u16, pki: &Path, method: &str, path: &str, body: Option<&str>) -> String {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-X", method, "--cacert"])
        .arg(pki.join("ca.crt"))
        .arg("--cert")
        .arg(pki.join("admin.crt"))
        .arg("--key")
        .arg(pki.join("admin.key"))
        .args(["-H", "Content-Type: application/merge-patch+json"]);
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    cmd.arg(format!("https://127.0.0.1:{port}{path}"));
    String::from_utf8_lossy(&cmd.output().expect("curl").stdout).to_string()
}

impl FakeKubelet {
    fn start(c: &Cluster, ns: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (port, pki, ns) = (c.port, c.data_dir().join("data/pki"), ns.to_string());
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut ip = 2;
            while !flag.load(Ordering::Relaxed) {
                let list = curl(
                    port,
                    &pki,
                    "GET",
                    &format!("/api/v1/namespaces/{ns}/pods"),
                    None,
                );
                let list: serde_json::Value = serde_json::from_str(&list).unwrap_or_default();
                for p in list["items"].as_array().into_iter().flatten() {
                    if p["status"]["phase"] == "Running"
                        || !p["metadata"]["deletionTimestamp"].is_null()
                    {
                        continue;
                    }
                    let name = p["metadata"]["name"].as_str().unwrap_or_default();
                    ip += 1;
                    let now = "2024-01-01T00:00:00Z";
                    let body = serde_json::json!({"status": {
                        "phase": "Running",
                        "podIP": format!("10.244.0.{ip}"),
                        "conditions": [
                            {"type": "Ready", "status": "True", "lastTransitionTime": now},
                            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                        ],
                    }});
                    curl(
                        port,
                        &pki,
                        "PATCH",
                        &format!("/api/v1/namespaces/{ns}/pods/{name}/status"),
                        Some(&body.to_string()),
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        FakeKubelet {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// (name, spec.replicas, revision annotation, image) of each ReplicaSet in `ns`.
fn replica_sets(c: &Cluster, ns: &str) -> Vec<(String, i64, String, String)> {
    let list = json(&c.ok("1.33", &["get", "rs", "-n", ns, "-o", "json"]));
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rs| {
            (
                rs["metadata"]["name"].as_str().unwrap().to_string(),
                rs["spec"]["replicas"].as_i64().unwrap_or(0),
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                rs["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// Live pods of `ns` as (name, image).
fn pods(c: &Cluster, ns: &str) -> Vec<(String, String)> {
    let list = json(&c.ok("1.33", &["get", "pods", "-n", ns, "-o", "json"]));
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn create_scale_update_history_undo() {
    let c = Cluster::start();
    let ns = "web";
    c.ok("1.33", &["create", "namespace", ns]);
    let _kubelet = FakeKubelet::start(&c, ns);
    c.ok(
        "1.33",
        &[
            "create",
            "deployment",
            "app",
            "-n",
            ns,
            "--image=example/app:v1",
        ],
    );

    let (rs_name, hash) = eventually("first replica set and pod", || {
        let rss = replica_sets(&c, ns);
        let pods = pods(&c, ns);
        (rss.len() == 1 && pods.len() == 1).then(|| {
            let name = rss[0].0.clone();
            let hash = name.trim_start_matches("app-").to_string();
            (name, hash)
        })
    });
    assert!(
        hash.chars()
            .all(|ch| "bcdfghjklmnpqrstvwxz2456789".contains(ch)),
        "{hash}"
    );
    let rs = json(&c.ok("1.33", &["get", "rs", "-n", ns, &rs_name, "-o", "json"]));
    assert_eq!(
        rs["spec"]["selector"]["matchLabels"]["pod-template-hash"],
        hash.as_str()
    );
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["controller"], true);
    let pod_name = pods(&c, ns)[0].0.clone();
    assert!(pod_name.starts_with(&format!("{rs_name}-")), "{pod_name}");
    let pod = json(&c.ok("1.33", &["get", "pod", "-n", ns, &pod_name, "-o", "json"]));
    assert_eq!(
        pod["metadata"]["ownerReferences"][0]["name"],
        rs_name.as_str()
    );
    assert_eq!(
        pod["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
        true
    );
    assert_eq!(pod["metadata"]["labels"]["app"], "app");

    c.ok(
        "1.33",
        &["scale", "deployment/app", "-n", ns, "--replicas=4"],
    );
    eventually("4 pods", || (pods(&c, ns).len() == 4).then_some(()));
    let out = c.ok(
        "1.33",
        &[
            "rollout",
            "status",
            "deployment/app",
            "-n",
            ns,
            "--timeout=60s",
        ],
    );
    assert!(out.contains("successfully rolled out"), "{out}");
    let d = json(&c.ok(
        "1.33",
        &["get", "deployment", "app", "-n", ns, "-o", "json"],
    ));
    assert_eq!(d["status"]["availableReplicas"], 4);
    let conds = d["status"]["conditions"].as_array().unwrap();
    assert!(conds
        .iter()
        .any(|c| c["type"] == "Available" && c["reason"] == "MinimumReplicasAvailable"));

    c.ok(
        "1.33",
        &[
            "set",
            "image",
            "deployment/app",
            "-n",
            ns,
            "app=example/app:v2",
        ],
    );
    let out = c.ok(
        "1.33",
        &[
            "rollout",
            "status",
            "deployment/app",
            "-n",
            ns,
            "--timeout=60s",
        ],
    );
    assert!(
        out.contains("deployment \"app\" successfully rolled out"),
        "{out}"
    );
    let rss = replica_sets(&c, ns);
    assert_eq!(rss.len(), 2, "{rss:?}");
    let v2 = rss.iter().find(|r| r.3 == "example/app:v2").unwrap();
    let v1 = rss.iter().find(|r| r.3 == "example/app:v1").unwrap();
    assert_eq!((v2.1, v2.2.as_str()), (4, "2"));
    assert_eq!((v1.1, v1.2.as_str()), (0, "1"));
    eventually("only v2 pods", || {
        let p = pods(&c, ns);
        (p.len() == 4 && p.iter().all(|(_, img)| img == "example/app:v2")).then_some(())
    });
    let d = json(&c.ok(
        "1.33",
        &["get", "deployment", "app", "-n", ns, "-o", "json"],
    ));
    let progressing = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .cloned()
        .unwrap();
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");

    let history = c.ok("1.33", &["rollout", "history", "deployment/app", "-n", ns]);
    let revisions: Vec<&str> = history
        .lines()
        .filter(|l| l.trim_start().starts_with(|ch: char| ch.is_ascii_digit()))
        .collect();
    assert_eq!(revisions.len(), 2, "{history}");

    let events = c.ok("1.33", &["get", "events", "-n", ns]);
    assert!(
        events.contains(&format!("Scaled up replica set {rs_name} from 1 to 4")),
        "{events}"
    );
    assert!(events.contains("Created pod: "), "{events}");

    c.ok("1.33", &["rollout", "undo", "deployment/app", "-n", ns]);
    let out = c.ok(
        "1.33",
        &[
            "rollout",
            "status",
            "deployment/app",
            "-n",
            ns,
            "--timeout=60s",
        ],
    );
    assert!(out.contains("successfully rolled out"), "{out}");
    let rss = replica_sets(&c, ns);
    assert_eq!(rss.len(), 2, "the v1 replica set is re-used: {rss:?}");
    let v1 = rss.iter().find(|r| r.3 == "example/app:v1").unwrap();
    assert_eq!(
        (v1.0.as_str(), v1.1, v1.2.as_str()),
        (rs_name.as_str(), 4, "3")
    );
    let rs = json(&c.ok("1.33", &["get", "rs", "-n", ns, &rs_name, "-o", "json"]));
    assert_eq!(
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    eventually("only v1 pods", || {
        let p = pods(&c, ns);
        (p.len() == 4 && p.iter().all(|(_, img)| img == "example/app:v1")).then_some(())
    });
}

#[test]
fn replica_set_adopts_releases_and_scales_down() {
    let c = Cluster::start();
    let ns = "rs";
    c.ok("1.33", &["create", "namespace", ns]);
    let orphan = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"orphan","labels":{"app":"x"}},
        "spec":{"containers":[{"name":"c","image":"example/x"}]}}"#;
    let dir = c.data_dir().to_path_buf();
    let f = common::write_file(&dir, "orphan.json", orphan);
    c.ok("1.33", &["apply", "-n", ns, "-f", f.to_str().unwrap()]);
    let rs = r#"{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"x"},
        "spec":{"replicas":3,"selector":{"matchLabels":{"app":"x"}},
        "template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"example/x"}]}}}}"#;
    let f = common::write_file(&dir, "rs.json", rs);
    c.ok("1.33", &["apply", "-n", ns, "-f", f.to_str().unwrap()]);
    eventually("3 pods with the orphan adopted", || {
        let p = json(&c.ok("1.33", &["get", "pod", "orphan", "-n", ns, "-o", "json"]));
        let adopted = p["metadata"]["ownerReferences"][0]["name"] == "x";
        (adopted && pods(&c, ns).len() == 3).then_some(())
    });
    let rs_status = eventually("status", || {
        let rs = json(&c.ok("1.33", &["get", "rs", "x", "-n", ns, "-o", "json"]));
        (rs["status"]["replicas"] == 3 && rs["status"]["observedGeneration"] == 1).then_some(rs)
    });
    assert_eq!(rs_status["status"]["fullyLabeledReplicas"], 3);

    // Relabelled: released, and replaced to keep 3.
    c.ok(
        "1.33",
        &[
            "label",
            "pod",
            "orphan",
            "-n",
            ns,
            "app=gone",
            "--overwrite",
        ],
    );
    eventually("released and replaced", || {
        let p = json(&c.ok("1.33", &["get", "pod", "orphan", "-n", ns, "-o", "json"]));
        let released = p["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(|r| r.is_empty());
        (released && pods(&c, ns).len() == 4).then_some(())
    });

    // Scale down deletes the not-ready pods before the ready one.
    let ready = pods(&c, ns)
        .into_iter()
        .find(|(n, _)| n != "orphan")
        .unwrap()
        .0;
    let body = r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z"}]}}"#;
    let (code, out) = c.curl(
        "PATCH",
        &format!("/api/v1/namespaces/{ns}/pods/{ready}/status"),
        "application/merge-patch+json",
        Some(body.as_bytes()),
    );
    assert_eq!(code, 200, "{out}");
    eventually("ready counted", || {
        let rs = json(&c.ok("1.33", &["get", "rs", "x", "-n", ns, "-o", "json"]));
        (rs["status"]["readyReplicas"] == 1 && rs["status"]["availableReplicas"] == 1).then_some(())
    });
    c.ok("1.33", &["scale", "rs/x", "-n", ns, "--replicas=1"]);
    eventually("scaled to the ready pod", || {
        let names: Vec<String> = pods(&c, ns)
            .into_iter()
            .map(|p| p.0)
            .filter(|n| n != "orphan")
            .collect();
        (names == [ready.clone()]).then_some(())
    });
    let events = c.ok("1.33", &["get", "events", "-n", ns]);
    assert!(events.contains("Deleted pod: "), "{events}");
}

#[test]
fn replication_controller_recreate_and_pause() {
    let c = Cluster::start();
    let ns = "misc";
    c.ok("1.33", &["create", "namespace", ns]);
    let _kubelet = FakeKubelet::start(&c, ns);
    let dir = c.data_dir().to_path_buf();
    let rc = r#"{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"rc"},
        "spec":{"replicas":2,"selector":{"app":"rc"},
        "template":{"metadata":{"labels":{"app":"rc"}},"spec":{"containers":[{"name":"c","image":"example/rc"}]}}}}"#;
    let f = common::write_file(&dir, "rc.json", rc);
    c.ok("1.33", &["apply", "-n", ns, "-f", f.to_str().unwrap()]);
    eventually("rc pods ready", || {
        let rc = json(&c.ok("1.33", &["get", "rc", "rc", "-n", ns, "-o", "json"]));
        (rc["status"]["readyReplicas"] == 2).then_some(())
    });
    let p = json(&c.ok(
        "1.33",
        &["get", "pods", "-n", ns, "-l", "app=rc", "-o", "json"],
    ));
    assert_eq!(
        p["items"][0]["metadata"]["ownerReferences"][0]["kind"],
        "ReplicationController"
    );

    let d = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"re"},
        "spec":{"replicas":2,"strategy":{"type":"Recreate"},"selector":{"matchLabels":{"app":"re"}},
        "template":{"metadata":{"labels":{"app":"re"}},"spec":{"containers":[{"name":"c","image":"example/re:v1"}]}}}}"#;
    let f = common::write_file(&dir, "re.json", d);
    c.ok("1.33", &["apply", "-n", ns, "-f", f.to_str().unwrap()]);
    c.ok(
        "1.33",
        &[
            "rollout",
            "status",
            "deployment/re",
            "-n",
            ns,
            "--timeout=60s",
        ],
    );
    c.ok(
        "1.33",
        &["set", "image", "deployment/re", "-n", ns, "c=example/re:v2"],
    );
    c.ok(
        "1.33",
        &[
            "rollout",
            "status",
            "deployment/re",
            "-n",
            ns,
            "--timeout=60s",
        ],
    );
    let rss = replica_sets(&c, ns);
    let v2 = rss.iter().find(|r| r.3 == "example/re:v2").unwrap();
    let v1 = rss.iter().find(|r| r.3 == "example/re:v1").unwrap();
    assert_eq!((v1.1, v2.1), (0, 2));
    let events = c.ok("1.33", &["get", "events", "-n", ns]);
    assert!(
        events.contains(&format!("Scaled down replica set {} from 2 to 0", v1.0)),
        "{events}"
    );

    // Paused: a template change rolls nothing out, but scaling still happens.
    c.ok("1.33", &["rollout", "pause", "deployment/re", "-n", ns]);
    c.ok(
        "1.33",
        &["set", "image", "deployment/re", "-n", ns, "c=example/re:v3"],
    );
    c.ok(
        "1.33",
        &["scale", "deployment/re", "-n", ns, "--replicas=3"],
    );
    eventually("scaled while paused", || {
        let rss = replica_sets(&c, ns);
        let v2 = rss.iter().find(|r| r.3 == "example/re:v2")?;
        (v2.1 == 3 && rss.iter().all(|r| r.3 != "example/re:v3")).then_some(())
    });
    let d = json(&c.ok("1.33", &["get", "deployment", "re", "-n", ns, "-o", "json"]));
    let progressing = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .cloned()
        .unwrap();
    assert_eq!(progressing["reason"], "DeploymentPaused");
    c.ok("1.33", &["rollout", "resume", "deployment/re", "-n", ns]);
    c.ok(
        "1.33",
        &[
            "rollout",
            "status",
            "deployment/re",
            "-n",
            ns,
            "--timeout=60s",
        ],
    );
    assert!(replica_sets(&c, ns)
        .iter()
        .any(|r| r.3 == "example/re:v3" && r.1 == 3));
}
