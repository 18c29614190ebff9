//! End-to-end: garbage collection (background, orphan, foreground), namespace deletion,
//! default ServiceAccounts, the kube-root-ca.crt ConfigMap and ResourceQuota usage, all
//! through the real kubectl 1.33 against `rkube server`.

mod common;

use common::{eventually, json, write_file, Cluster};
use serde_json::Value;

const V: &str = "1.33";

fn get_json(c: &Cluster, args: &[&str]) -> Option<Value> {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    let out = c.kubectl(V, &full);
    out.status
        .success()
        .then(|| json(&String::from_utf8_lossy(&out.stdout)))
}

fn exists(c: &Cluster, args: &[&str]) -> bool {
    get_json(c, args).is_some()
}

fn uid(c: &Cluster, kind: &str, name: &str, ns: &str) -> String {
    let obj = get_json(c, &[kind, name, "-n", ns]).expect("object exists");
    obj["metadata"]["uid"].as_str().expect("uid").to_string()
}

/// Creates ConfigMap `name` owned by ConfigMap `owner` (uid `owner_uid`).
fn create_dependent(c: &Cluster, ns: &str, name: &str, owner: &str, owner_uid: &str, block: bool) {
    let manifest = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap",
            "metadata":{{"name":"{name}","namespace":"{ns}",
              "ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"{owner}",
                                   "uid":"{owner_uid}","blockOwnerDeletion":{block}}}]}},
            "data":{{"k":"v"}}}}"#
    );
    let file = write_file(c.data_dir(), &format!("{ns}-{name}.json"), &manifest);
    c.ok(V, &["apply", "-f", file.to_str().expect("utf-8 path")]);
}

fn gone(c: &Cluster, what: &str, args: &[&str]) {
    eventually(what, || (!exists(c, args)).then_some(()));
}

#[test]
fn background_orphan_and_foreground_propagation() {
    let c = Cluster::start();
    c.ok(V, &["create", "namespace", "gc"]);

    // Background (kubectl's default): the dependent follows its owner.
    c.ok(V, &["create", "configmap", "owner", "-n", "gc"]);
    let owner_uid = uid(&c, "configmap", "owner", "gc");
    create_dependent(&c, "gc", "child", "owner", &owner_uid, false);
    c.ok(V, &["delete", "configmap", "owner", "-n", "gc"]);
    gone(
        &c,
        "background dependent collected",
        &["configmap", "child", "-n", "gc"],
    );

    // A dependent whose owner uid never existed is collected too.
    create_dependent(&c, "gc", "stray", "nobody", "0000-not-a-uid", false);
    gone(
        &c,
        "dependent of a missing owner collected",
        &["configmap", "stray", "-n", "gc"],
    );

    // Orphan: the dependent stays and loses its reference.
    c.ok(V, &["create", "configmap", "parent", "-n", "gc"]);
    let parent_uid = uid(&c, "configmap", "parent", "gc");
    create_dependent(&c, "gc", "kept", "parent", &parent_uid, true);
    c.ok(
        V,
        &[
            "delete",
            "configmap",
            "parent",
            "-n",
            "gc",
            "--cascade=orphan",
        ],
    );
    gone(
        &c,
        "orphaned owner deleted",
        &["configmap", "parent", "-n", "gc"],
    );
    let kept = get_json(&c, &["configmap", "kept", "-n", "gc"]).expect("orphan kept");
    assert!(
        kept["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(|r| r.is_empty()),
        "owner reference not stripped: {kept}"
    );
    // It stays: give the collector time to (wrongly) act.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(exists(&c, &["configmap", "kept", "-n", "gc"]));

    // Foreground: dependents go first, then the owner, including a grandchild chain.
    c.ok(V, &["create", "configmap", "root", "-n", "gc"]);
    let root_uid = uid(&c, "configmap", "root", "gc");
    create_dependent(&c, "gc", "mid", "root", &root_uid, true);
    let mid_uid = uid(&c, "configmap", "mid", "gc");
    create_dependent(&c, "gc", "leaf", "mid", &mid_uid, true);
    c.ok(
        V,
        &[
            "delete",
            "configmap",
            "root",
            "-n",
            "gc",
            "--cascade=foreground",
            "--wait=false",
        ],
    );
    gone(
        &c,
        "foreground owner deleted",
        &["configmap", "root", "-n", "gc"],
    );
    assert!(
        !exists(&c, &["configmap", "mid", "-n", "gc"]),
        "mid outlived its owner"
    );
    assert!(
        !exists(&c, &["configmap", "leaf", "-n", "gc"]),
        "leaf outlived its owner"
    );
}

#[test]
fn foreground_owner_waits_for_blocking_dependent_finalizer() {
    let c = Cluster::start();
    c.ok(V, &["create", "configmap", "boss"]);
    let boss_uid = uid(&c, "configmap", "boss", "default");
    create_dependent(&c, "default", "worker", "boss", &boss_uid, true);
    // A finalizer of someone else holds the dependent back.
    c.ok(
        V,
        &[
            "patch",
            "configmap",
            "worker",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ],
    );
    c.ok(
        V,
        &[
            "delete",
            "configmap",
            "boss",
            "--cascade=foreground",
            "--wait=false",
        ],
    );
    eventually("dependent marked for deletion", || {
        let w = get_json(&c, &["configmap", "worker"])?;
        w["metadata"]["deletionTimestamp"].as_str().map(|_| ())
    });
    let boss = get_json(&c, &["configmap", "boss"]).expect("owner still waiting");
    assert!(boss["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        boss["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );
    c.ok(
        V,
        &[
            "patch",
            "configmap",
            "worker",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    );
    gone(&c, "owner released", &["configmap", "boss"]);
}

#[test]
fn namespace_deletion_removes_everything() {
    let c = Cluster::start();
    c.ok(V, &["create", "namespace", "doomed"]);
    c.ok(
        V,
        &[
            "create",
            "configmap",
            "a",
            "-n",
            "doomed",
            "--from-literal=k=v",
        ],
    );
    c.ok(
        V,
        &[
            "create",
            "secret",
            "generic",
            "s",
            "-n",
            "doomed",
            "--from-literal=k=v",
        ],
    );
    c.ok(
        V,
        &[
            "create",
            "deployment",
            "web",
            "-n",
            "doomed",
            "--image=nginx",
        ],
    );
    c.ok(
        V,
        &[
            "create",
            "service",
            "clusterip",
            "svc",
            "-n",
            "doomed",
            "--tcp=80:80",
        ],
    );
    c.ok(V, &["run", "lonely", "-n", "doomed", "--image=busybox"]);
    c.ok(
        V,
        &["create", "quota", "q", "-n", "doomed", "--hard=pods=10"],
    );
    c.ok(V, &["delete", "namespace", "doomed", "--timeout=120s"]);
    assert!(!exists(&c, &["namespace", "doomed"]));
    for kind in [
        "configmaps",
        "secrets",
        "deployments",
        "services",
        "pods",
        "resourcequotas",
        "serviceaccounts",
    ] {
        let list = get_json(&c, &[kind, "-n", "doomed"]).expect("list works");
        assert_eq!(
            list["items"].as_array().map(Vec::len),
            Some(0),
            "{kind} left: {list}"
        );
    }
}

#[test]
fn namespace_waits_for_finalized_content_and_reports_it() {
    let c = Cluster::start();
    c.ok(V, &["create", "namespace", "held"]);
    c.ok(V, &["create", "configmap", "sticky", "-n", "held"]);
    c.ok(
        V,
        &[
            "patch",
            "configmap",
            "sticky",
            "-n",
            "held",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ],
    );
    c.ok(V, &["delete", "namespace", "held", "--wait=false"]);
    let ns = eventually("content-remaining condition", || {
        let ns = get_json(&c, &["namespace", "held"])?;
        let conds = ns["status"]["conditions"].as_array()?.clone();
        conds
            .iter()
            .any(|c| c["type"] == "NamespaceFinalizersRemaining" && c["status"] == "True")
            .then_some(ns)
    });
    assert_eq!(ns["status"]["phase"], "Terminating");
    let conds = ns["status"]["conditions"].as_array().expect("conditions");
    let remaining = conds
        .iter()
        .find(|c| c["type"] == "NamespaceContentRemaining")
        .expect("remaining condition");
    assert_eq!(
        remaining["message"],
        "Some resources are remaining: configmaps. has 1 resource instances"
    );
    c.ok(
        V,
        &[
            "patch",
            "configmap",
            "sticky",
            "-n",
            "held",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    );
    gone(&c, "namespace removed", &["namespace", "held"]);
}

#[test]
fn every_namespace_has_default_account_and_root_ca() {
    let c = Cluster::start();
    c.ok(V, &["create", "namespace", "fresh"]);
    let ca = std::fs::read_to_string(c.data_dir().join("data/pki/ca.crt")).expect("ca.crt");
    for ns in ["default", "kube-system", "fresh"] {
        eventually("default service account", || {
            exists(&c, &["serviceaccount", "default", "-n", ns]).then_some(())
        });
        let cm = eventually("kube-root-ca.crt", || {
            get_json(&c, &["configmap", "kube-root-ca.crt", "-n", ns])
        });
        assert_eq!(
            cm["data"]["ca.crt"].as_str().map(str::trim),
            Some(ca.trim())
        );
        assert!(cm["metadata"]["annotations"]["kubernetes.io/description"]
            .as_str()
            .is_some_and(|d| d.contains("kube-apiserver")));
    }
    // Deleted or tampered with, both come back.
    c.ok(V, &["delete", "serviceaccount", "default", "-n", "fresh"]);
    c.ok(
        V,
        &[
            "patch",
            "configmap",
            "kube-root-ca.crt",
            "-n",
            "fresh",
            "--type=merge",
            "-p",
            r#"{"data":{"ca.crt":"junk"}}"#,
        ],
    );
    eventually("service account recreated", || {
        exists(&c, &["serviceaccount", "default", "-n", "fresh"]).then_some(())
    });
    eventually("root CA repaired", || {
        let cm = get_json(&c, &["configmap", "kube-root-ca.crt", "-n", "fresh"])?;
        (cm["data"]["ca.crt"].as_str().map(str::trim) == Some(ca.trim())).then_some(())
    });
    c.ok(
        V,
        &["delete", "configmap", "kube-root-ca.crt", "-n", "fresh"],
    );
    eventually("root CA recreated", || {
        exists(&c, &["configmap", "kube-root-ca.crt", "-n", "fresh"]).then_some(())
    });
}

#[test]
fn resource_quota_status_tracks_usage() {
    let c = Cluster::start();
    c.ok(V, &["create", "namespace", "q"]);
    c.ok(V, &["create", "quota", "counts", "-n", "q",
              "--hard=pods=10,configmaps=20,services=5,requests.cpu=2,limits.memory=1Gi,count/deployments.apps=3"]);
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"NAME","namespace":"q"},
        "spec":{"containers":[{"name":"c","image":"busybox",
          "resources":{"requests":{"cpu":"250m"},"limits":{"cpu":"500m","memory":"128Mi"}}}]}}"#;
    for name in ["p1", "p2"] {
        let file = write_file(
            c.data_dir(),
            &format!("{name}.json"),
            &pod.replace("NAME", name),
        );
        c.ok(V, &["create", "-f", file.to_str().expect("utf-8 path")]);
    }
    c.ok(V, &["create", "configmap", "extra", "-n", "q"]);
    c.ok(
        V,
        &[
            "create",
            "service",
            "clusterip",
            "s",
            "-n",
            "q",
            "--tcp=80:80",
        ],
    );
    c.ok(
        V,
        &[
            "create",
            "deployment",
            "d",
            "-n",
            "q",
            "--image=nginx",
            "--replicas=0",
        ],
    );
    let want = |used: &Value| {
        used["pods"] == "2"
            && used["requests.cpu"] == "500m"
            && used["limits.memory"] == "256Mi"
            && used["services"] == "1"
            && used["count/deployments.apps"] == "1"
            // "extra" and kube-root-ca.crt
            && used["configmaps"] == "2"
    };
    let q = eventually("quota usage", || {
        let q = get_json(&c, &["quota", "counts", "-n", "q"])?;
        want(&q["status"]["used"]).then_some(q)
    });
    assert_eq!(q["status"]["hard"]["pods"], "10");
    c.ok(V, &["delete", "pod", "p1", "-n", "q"]);
    eventually("usage drops", || {
        let q = get_json(&c, &["quota", "counts", "-n", "q"])?;
        (q["status"]["used"]["pods"] == "1" && q["status"]["used"]["requests.cpu"] == "250m")
            .then_some(())
    });
    let described = c.ok(V, &["describe", "quota", "counts", "-n", "q"]);
    assert!(described.contains("requests.cpu"), "{described}");
}
