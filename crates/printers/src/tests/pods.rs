use serde_json::{json, Value};

use super::now;
use crate::row_cells;

fn pod(spec: Value, status: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-7d4b9c", "namespace": "default",
                     "creationTimestamp": "2024-05-01T11:54:40Z"},
        "spec": spec,
        "status": status
    })
}

fn one_container() -> Value {
    json!({"containers": [{"name": "web", "image": "nginx:1.25"}], "nodeName": "node-1"})
}

fn cells(obj: &Value) -> Vec<Value> {
    row_cells("", "pods", obj, now())
}

#[test]
fn running_pod_full_row() {
    let p = pod(
        one_container(),
        json!({
            "phase": "Running",
            "podIP": "10.244.0.5",
            "podIPs": [{"ip": "10.244.0.5"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{
                "name": "web", "ready": true, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": "2024-05-01T11:55:00Z"}}
            }]
        }),
    );
    assert_eq!(
        cells(&p),
        vec![
            json!("web-7d4b9c"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("5m20s"),
            json!("10.244.0.5"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>"),
        ]
    );
}

#[test]
fn pending_pod_without_node_or_ip() {
    let p = pod(
        json!({"containers": [{"name": "web"}, {"name": "log"}]}),
        json!({"phase": "Pending"}),
    );
    let c = cells(&p);
    assert_eq!(c[1], "0/2");
    assert_eq!(c[2], "Pending");
    assert_eq!(c[5], "<none>");
    assert_eq!(c[6], "<none>");
}

#[test]
fn container_creating() {
    let p = pod(
        one_container(),
        json!({"phase": "Pending", "containerStatuses": [{
            "name": "web", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}}
        }]}),
    );
    assert_eq!(cells(&p)[2], "ContainerCreating");
}

#[test]
fn crash_loop_with_recent_restart() {
    let p = pod(
        one_container(),
        json!({"phase": "Running", "containerStatuses": [{
            "name": "web", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                         "finishedAt": "2024-05-01T11:55:00Z"}}
        }]}),
    );
    let c = cells(&p);
    assert_eq!(c[1], "0/1");
    assert_eq!(c[2], "CrashLoopBackOff");
    assert_eq!(c[3], "4 (5m ago)");
}

#[test]
fn restarts_use_latest_termination_across_containers() {
    let p = pod(
        json!({"containers": [{"name": "a"}, {"name": "b"}]}),
        json!({"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T09:00:00Z"}}},
            {"name": "b", "ready": true, "restartCount": 1, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T11:59:30Z"}}}
        ]}),
    );
    let c = cells(&p);
    assert_eq!(c[1], "2/2");
    assert_eq!(c[3], "3 (30s ago)");
}

#[test]
fn completed_and_exit_codes() {
    let done = pod(
        one_container(),
        json!({"phase": "Succeeded", "containerStatuses": [{
            "name": "web", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
        }]}),
    );
    assert_eq!(cells(&done)[2], "Completed");
    let code = pod(
        one_container(),
        json!({"phase": "Failed", "containerStatuses": [{
            "name": "web", "state": {"terminated": {"exitCode": 137}}
        }]}),
    );
    assert_eq!(cells(&code)[2], "ExitCode:137");
    let signal = pod(
        one_container(),
        json!({"phase": "Failed", "containerStatuses": [{
            "name": "web", "state": {"terminated": {"exitCode": 0, "signal": 9}}
        }]}),
    );
    assert_eq!(cells(&signal)[2], "Signal:9");
}

#[test]
fn first_container_reason_wins() {
    let p = pod(
        json!({"containers": [{"name": "a"}, {"name": "b"}]}),
        json!({"phase": "Running", "containerStatuses": [
            {"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}},
            {"name": "b", "state": {"waiting": {"reason": "ErrImagePull"}}}
        ]}),
    );
    assert_eq!(cells(&p)[2], "ImagePullBackOff");
}

#[test]
fn completed_container_next_to_running_one() {
    let status = |ready_cond: &str| {
        json!({"phase": "Running",
        "conditions": [{"type": "Ready", "status": ready_cond}],
        "containerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "b", "ready": true, "state": {"running": {}}}
        ]})
    };
    let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
    assert_eq!(cells(&pod(spec.clone(), status("True")))[2], "Running");
    assert_eq!(cells(&pod(spec, status("False")))[2], "NotReady");
}

#[test]
fn terminating_and_node_lost() {
    let mut p = pod(
        one_container(),
        json!({"phase": "Running", "containerStatuses": [
            {"name": "web", "ready": true, "state": {"running": {}}}
        ]}),
    );
    p["metadata"]["deletionTimestamp"] = json!("2024-05-01T12:00:30Z");
    assert_eq!(cells(&p)[2], "Terminating");
    p["status"]["reason"] = json!("NodeLost");
    assert_eq!(cells(&p)[2], "Unknown");
    // A finished pod being deleted keeps its final status.
    let mut done = pod(
        one_container(),
        json!({"phase": "Succeeded", "containerStatuses": [
            {"name": "web", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
        ]}),
    );
    done["metadata"]["deletionTimestamp"] = json!("2024-05-01T12:00:30Z");
    assert_eq!(cells(&done)[2], "Completed");
}

#[test]
fn evicted_pod_uses_status_reason() {
    let p = pod(
        one_container(),
        json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}),
    );
    assert_eq!(cells(&p)[2], "Evicted");
}

#[test]
fn scheduling_gated() {
    let p = pod(
        one_container(),
        json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
        ]}),
    );
    assert_eq!(cells(&p)[2], "SchedulingGated");
}

fn init_spec() -> Value {
    json!({"initContainers": [{"name": "init-db"}, {"name": "init-cache"}],
           "containers": [{"name": "web"}]})
}

#[test]
fn init_progress() {
    let p = pod(
        init_spec(),
        json!({"phase": "Pending",
        "initContainerStatuses": [
            {"name": "init-db", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "init-cache", "state": {"running": {}}}
        ],
        "containerStatuses": [
            {"name": "web", "state": {"waiting": {"reason": "PodInitializing"}}}
        ]}),
    );
    assert_eq!(cells(&p)[2], "Init:1/2");
    assert_eq!(cells(&p)[1], "0/1");
    let waiting = pod(
        init_spec(),
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init-db", "state": {"waiting": {"reason": "PodInitializing"}}}
        ]}),
    );
    assert_eq!(cells(&waiting)[2], "Init:0/2");
}

#[test]
fn init_failures() {
    let crash = pod(
        init_spec(),
        json!({"phase": "Pending", "initContainerStatuses": [{
            "name": "init-db", "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T11:58:00Z"}}
        }]}),
    );
    let c = cells(&crash);
    assert_eq!(c[2], "Init:CrashLoopBackOff");
    // Init restarts are reported while the pod is still initialising.
    assert_eq!(c[3], "3 (2m ago)");
    let error = pod(
        init_spec(),
        json!({"phase": "Pending", "initContainerStatuses": [{
            "name": "init-db", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}
        }]}),
    );
    assert_eq!(cells(&error)[2], "Init:Error");
    let code = pod(
        init_spec(),
        json!({"phase": "Pending", "initContainerStatuses": [{
            "name": "init-db", "state": {"terminated": {"exitCode": 2}}
        }]}),
    );
    assert_eq!(cells(&code)[2], "Init:ExitCode:2");
}

#[test]
fn finished_init_restarts_are_not_counted() {
    let p = pod(
        json!({"initContainers": [{"name": "init"}], "containers": [{"name": "web"}]}),
        json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "init", "restartCount": 2,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0,
                "state": {"running": {}}}]}),
    );
    let c = cells(&p);
    assert_eq!(c[2], "Running");
    assert_eq!(c[3], "0");
}

#[test]
fn sidecar_counts_as_container() {
    let p = pod(
        json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
               "containers": [{"name": "web"}]}),
        json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true,
                "restartCount": 1, "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T09:00:00Z"}}}],
            "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0,
                "state": {"running": {}}}]}),
    );
    let c = cells(&p);
    assert_eq!(c[1], "2/2");
    assert_eq!(c[2], "Running");
    assert_eq!(c[3], "1 (3h ago)");
}

#[test]
fn wide_columns() {
    let p = pod(
        json!({"containers": [{"name": "web"}], "nodeName": "worker-2",
               "readinessGates": [{"conditionType": "example.com/lb"},
                                  {"conditionType": "example.com/dns"}]}),
        json!({"phase": "Pending", "nominatedNodeName": "worker-3",
               "podIP": "fd00::5",
               "conditions": [{"type": "example.com/lb", "status": "True"},
                              {"type": "example.com/dns", "status": "False"}]}),
    );
    let c = cells(&p);
    assert_eq!(c[5], "fd00::5");
    assert_eq!(c[6], "worker-2");
    assert_eq!(c[7], "worker-3");
    assert_eq!(c[8], "1/2");
}
