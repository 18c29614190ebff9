use serde_json::{json, Value};

use super::now;
use crate::row_cells;

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": "2024-04-29T09:00:00Z"})
}

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}},
           "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"},
                                   {"name": "sidecar", "image": "busybox:1.36"}]}})
}

#[test]
fn deployment() {
    let dep = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": template()},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3,
                   "availableReplicas": 2}
    });
    assert_eq!(
        row_cells("apps", "deployments", &dep, now()),
        vec![
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("2d3h"),
            json!("nginx,sidecar"),
            json!("nginx:1.25,busybox:1.36"),
            json!("app=web"),
        ]
    );
}

#[test]
fn fresh_deployment_without_status() {
    let dep = json!({"metadata": meta("new"),
        "spec": {"replicas": 0, "selector": {"matchExpressions": [
            {"key": "app", "operator": "Bogus"}]}, "template": template()}});
    let c = row_cells("apps", "deployments", &dep, now());
    assert_eq!(c[1], "0/0");
    assert_eq!(c[2], json!(0));
    assert_eq!(c[7], "<invalid>");
}

#[test]
fn replicaset() {
    let rs = json!({
        "metadata": meta("web-5d8f9c7b6"),
        "spec": {"replicas": 3,
                 "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d8f9c7b6"}},
                 "template": template()},
        "status": {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3}
    });
    assert_eq!(
        row_cells("apps", "replicasets", &rs, now()),
        vec![
            json!("web-5d8f9c7b6"),
            json!(3),
            json!(3),
            json!(3),
            json!("2d3h"),
            json!("nginx,sidecar"),
            json!("nginx:1.25,busybox:1.36"),
            json!("app=web,pod-template-hash=5d8f9c7b6"),
        ]
    );
    let scaled_down = json!({"metadata": meta("old"), "spec": {"replicas": 0,
        "selector": {"matchLabels": {"app": "web"}}, "template": template()}, "status": {}});
    let c = row_cells("apps", "replicasets", &scaled_down, now());
    assert_eq!(c[1..4], [json!(0), json!(0), json!(0)]);
}

#[test]
fn statefulset() {
    let sts = json!({"metadata": meta("db"),
        "spec": {"replicas": 3, "serviceName": "db", "template": template(),
                 "selector": {"matchLabels": {"app": "web"}}},
        "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(
        row_cells("apps", "statefulsets", &sts, now()),
        vec![
            json!("db"),
            json!("1/3"),
            json!("2d3h"),
            json!("nginx,sidecar"),
            json!("nginx:1.25,busybox:1.36"),
        ]
    );
}

#[test]
fn daemonset() {
    let mut t = template();
    t["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    let ds = json!({"metadata": meta("kube-proxy"),
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}}, "template": t},
        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                   "updatedNumberScheduled": 2, "numberAvailable": 1}});
    assert_eq!(
        row_cells("apps", "daemonsets", &ds, now()),
        vec![
            json!("kube-proxy"),
            json!(2),
            json!(2),
            json!(1),
            json!(2),
            json!(1),
            json!("kubernetes.io/os=linux"),
            json!("2d3h"),
            json!("nginx,sidecar"),
            json!("nginx:1.25,busybox:1.36"),
            json!("k8s-app=kube-proxy"),
        ]
    );
    let plain = json!({"metadata": meta("x"), "spec": {"template": template()}});
    assert_eq!(row_cells("apps", "daemonsets", &plain, now())[6], "<none>");
}

#[test]
fn controller_revision() {
    let mut m = meta("db-7f9c8d");
    m["ownerReferences"] = json!([
        {"apiVersion": "v1", "kind": "Pod", "name": "unrelated"},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": true}
    ]);
    let cr = json!({"metadata": m, "revision": 2, "data": {}});
    assert_eq!(
        row_cells("apps", "controllerrevisions", &cr, now()),
        vec![
            json!("db-7f9c8d"),
            json!("statefulset.apps/db"),
            json!(2),
            json!("2d3h")
        ]
    );
    let orphan = json!({"metadata": meta("lonely"), "revision": 1});
    assert_eq!(
        row_cells("apps", "controllerrevisions", &orphan, now())[1],
        "<none>"
    );
}

fn job(spec: Value, status: Value) -> Value {
    let mut spec = spec;
    spec["template"] = template();
    spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "abc-123"}});
    json!({"metadata": meta("pi"), "spec": spec, "status": status})
}

#[test]
fn jobs() {
    let done = job(
        json!({"completions": 1, "parallelism": 1}),
        json!({"succeeded": 1, "startTime": "2024-05-01T11:00:00Z",
               "completionTime": "2024-05-01T11:00:42Z",
               "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                              {"type": "Complete", "status": "True"}]}),
    );
    assert_eq!(
        row_cells("batch", "jobs", &done, now()),
        vec![
            json!("pi"),
            json!("Complete"),
            json!("1/1"),
            json!("42s"),
            json!("2d3h"),
            json!("nginx,sidecar"),
            json!("nginx:1.25,busybox:1.36"),
            json!("batch.kubernetes.io/controller-uid=abc-123"),
        ]
    );
    let running = job(
        json!({"parallelism": 3}),
        json!({"active": 3, "startTime": "2024-05-01T11:00:00Z"}),
    );
    let c = row_cells("batch", "jobs", &running, now());
    assert_eq!(c[1], "Running");
    assert_eq!(c[2], "0/1 of 3");
    assert_eq!(c[3], "60m");
    let failed = job(
        json!({"completions": 5}),
        json!({"failed": 6, "succeeded": 2, "conditions": [{"type": "Failed", "status": "True"}]}),
    );
    let c = row_cells("batch", "jobs", &failed, now());
    assert_eq!(c[1], "Failed");
    assert_eq!(c[2], "2/5");
    assert_eq!(c[3], "");
    let suspended = job(
        json!({"completions": 1, "suspend": true}),
        json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
    );
    assert_eq!(
        row_cells("batch", "jobs", &suspended, now())[1],
        "Suspended"
    );
    let mut deleting = job(json!({}), json!({}));
    deleting["metadata"]["deletionTimestamp"] = json!("2024-05-01T12:00:00Z");
    assert_eq!(
        row_cells("batch", "jobs", &deleting, now())[1],
        "Terminating"
    );
}

#[test]
fn cronjob() {
    let cj = json!({"metadata": meta("hello"),
        "spec": {"schedule": "*/1 * * * *", "suspend": false,
                 "jobTemplate": {"spec": {"template": template()}}},
        "status": {"active": [{"kind": "Job", "name": "hello-28573"}],
                   "lastScheduleTime": "2024-05-01T11:59:00Z"}});
    assert_eq!(
        row_cells("batch", "cronjobs", &cj, now()),
        vec![
            json!("hello"),
            json!("*/1 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("60s"),
            json!("2d3h"),
            json!("nginx,sidecar"),
            json!("nginx:1.25,busybox:1.36"),
            json!("<none>"),
        ]
    );
    let tz = json!({"metadata": meta("tz"),
        "spec": {"schedule": "0 3 * * *", "timeZone": "Europe/Berlin", "suspend": true,
                 "jobTemplate": {"spec": {"template": template()}}}});
    let c = row_cells("batch", "cronjobs", &tz, now());
    assert_eq!(c[2], "Europe/Berlin");
    assert_eq!(c[3], "True");
    assert_eq!(c[4], json!(0));
    assert_eq!(c[5], "<none>");
}
