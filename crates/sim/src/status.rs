//! Pure builders for what a kubelet would post: the Node at registration, its status
//! heartbeat, its Lease, and a pod's Running status. No I/O here, so all of it is tested.

use crate::ipam;
use crate::types::{ContainerSpec, ContainerStatus, SimPod};
use serde_json::{json, Value};
use std::hash::{Hash, Hasher};

pub const KUBELET_VERSION: &str = "v1.33.0";
pub const LEASE_SECONDS: i32 = 40;
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// What a node looks like; shared by all simulated nodes.
#[derive(Debug, Clone)]
pub struct Shape {
    pub cpu: String,
    pub memory: String,
    pub max_pods: u32,
}

/// metav1.Time text (seconds).
pub fn time_text(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// metav1.MicroTime text, as Lease renewTime carries.
pub fn micro_time_text(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A stable hex string derived from `parts`: machine IDs and container IDs look random
/// but repeat when the same status is built twice, so a duplicate post changes nothing.
pub fn stable_hex(parts: &[&str], len: usize) -> String {
    let mut out = String::new();
    let mut round = 0u64;
    while out.len() < len {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        round.hash(&mut h);
        parts.hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
        round += 1;
    }
    out.truncate(len);
    out
}

pub fn labels(name: &str) -> Value {
    json!({
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "sim",
    })
}

fn annotations() -> Value {
    json!({
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        "sim.rkube.io/simulated": "true",
    })
}

/// The four node conditions a healthy kubelet reports.
fn conditions(heartbeat: &str, ready_since: &str) -> Value {
    let cond = |type_: &str, status: &str, reason: &str, message: &str, since: &str| {
        json!({"type": type_, "status": status, "lastHeartbeatTime": heartbeat,
               "lastTransitionTime": since, "reason": reason, "message": message})
    };
    json!([
        cond(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            ready_since
        ),
        cond(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
            ready_since
        ),
        cond(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            ready_since
        ),
        cond(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
            ready_since
        ),
    ])
}

/// Node status; `ready_since` is the Ready condition's lastTransitionTime.
pub fn node_status(name: &str, index: usize, shape: &Shape, now: &str, ready_since: &str) -> Value {
    let resources = json!({
        "cpu": shape.cpu,
        "memory": shape.memory,
        "pods": shape.max_pods.to_string(),
        "ephemeral-storage": "100Gi",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    });
    json!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": conditions(now, ready_since),
        "addresses": [
            {"type": "InternalIP", "address": ipam::text(ipam::node_ip(index))},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": stable_hex(&["machine", name], 32),
            "systemUUID": stable_hex(&["system", name], 32),
            "bootID": stable_hex(&["boot", name], 32),
            "kernelVersion": "6.1.0-sim",
            "osImage": "rkube simulated node",
            "containerRuntimeVersion": "sim://1.0",
            "kubeletVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    })
}

/// The Node object posted at registration (status included: nodes accept it on create).
pub fn node(name: &str, index: usize, shape: &Shape, now: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels(name), "annotations": annotations()},
        "spec": {"providerID": format!("sim://{name}")},
        "status": node_status(name, index, shape, now, now),
    })
}

/// The merge patch that adopts an existing node: our labels and annotations, nothing removed.
pub fn adopt_patch(name: &str) -> Value {
    json!({"metadata": {"labels": labels(name), "annotations": annotations()}})
}

/// The node's Lease in kube-node-lease, owned by the Node so it goes when the node goes.
pub fn lease(name: &str, node_uid: Option<&str>, now: &str) -> Value {
    let mut metadata = json!({"name": name, "namespace": LEASE_NAMESPACE});
    if let Some(uid) = node_uid {
        metadata["ownerReferences"] =
            json!([{"apiVersion": "v1", "kind": "Node", "name": name, "uid": uid}]);
    }
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now},
    })
}

pub fn lease_renewal(name: &str, now: &str) -> Value {
    json!({"spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now}})
}

const POD_CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

fn image(c: &ContainerSpec) -> &str {
    c.image.as_deref().unwrap_or_default()
}

fn is_sidecar(c: &ContainerSpec) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn status_matches(spec: &[ContainerSpec], status: &[ContainerStatus], init: bool) -> bool {
    spec.len() == status.len()
        && spec.iter().all(|c| {
            status.iter().any(|s| {
                s.name == c.name
                    && s.image == image(c)
                    && (s.ready || (init && !is_sidecar(c)))
                    && s.container_id.is_some()
            })
        })
}

/// Whether the pod's status differs from what we would post for it with address `ip`.
pub fn needs_update(pod: &SimPod, ip: &str) -> bool {
    let st = &pod.status;
    let conditions_ok = POD_CONDITIONS.iter().all(|t| {
        st.conditions
            .iter()
            .any(|c| c.type_ == *t && c.status == "True")
    });
    st.phase.as_deref() != Some("Running")
        || st.pod_ip.as_deref() != Some(ip)
        || !conditions_ok
        || !status_matches(&pod.spec.containers, &st.container_statuses, false)
        || !status_matches(&pod.spec.init_containers, &st.init_container_statuses, true)
}

/// One container's status. A container whose image changed is restarted, as the kubelet
/// does when a container's spec hash changes: new ID, restartCount + 1.
fn container_status(
    uid: &str,
    c: &ContainerSpec,
    old: &[ContainerStatus],
    now: &str,
    completed_init: bool,
) -> Value {
    let image = image(c);
    let previous = old.iter().find(|s| s.name == c.name);
    let same = previous.filter(|s| s.image == image && s.container_id.is_some());
    let restarts = match (previous, same) {
        (_, Some(s)) => s.restart_count,
        (Some(s), None) if !s.image.is_empty() => s.restart_count + 1,
        _ => 0,
    };
    let id = match same.and_then(|s| s.container_id.clone()) {
        Some(id) => id,
        None => format!(
            "sim://{}",
            stable_hex(&[uid, &c.name, image, &restarts.to_string()], 64)
        ),
    };
    let started = same
        .and_then(|s| {
            let state = s.state.as_ref()?;
            state
                .running
                .as_ref()
                .or(state.terminated.as_ref())?
                .started_at
                .clone()
        })
        .unwrap_or_else(|| now.to_string());
    let state = if completed_init {
        json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started,
                              "finishedAt": started, "containerID": id}})
    } else {
        json!({"running": {"startedAt": started}})
    };
    json!({
        "name": c.name,
        "image": image,
        "imageID": format!("sim://{image}"),
        "containerID": id,
        "ready": true,
        "started": !completed_init,
        "restartCount": restarts,
        "state": state,
    })
}

/// The `status` of a pod running on a node at `host_ip` with address `pod_ip`.
pub fn pod_status(pod: &SimPod, host_ip: &str, pod_ip: &str, now: &str) -> Value {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let st = &pod.status;
    let conditions: Vec<Value> = POD_CONDITIONS
        .iter()
        .map(|t| {
            // A condition that was already True keeps the time it became so.
            let since = st
                .conditions
                .iter()
                .find(|c| c.type_ == *t && c.status == "True")
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.to_string());
            json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": since})
        })
        .collect();
    let containers: Vec<Value> = pod
        .spec
        .containers
        .iter()
        .map(|c| container_status(uid, c, &st.container_statuses, now, false))
        .collect();
    let mut status = json!({
        "phase": "Running",
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": st.start_time.clone().unwrap_or_else(|| now.to_string()),
        "containerStatuses": containers,
    });
    if !pod.spec.init_containers.is_empty() {
        let inits: Vec<Value> = pod
            .spec
            .init_containers
            .iter()
            .map(|c| container_status(uid, c, &st.init_container_statuses, now, !is_sidecar(c)))
            .collect();
        status["initContainerStatuses"] = json!(inits);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            cpu: "4".into(),
            memory: "16Gi".into(),
            max_pods: 110,
        }
    }

    fn pod(v: Value) -> SimPod {
        serde_json::from_value(v).unwrap()
    }

    /// A pod as the API would return it after we posted `status`.
    fn with_status(p: &SimPod, status: Value) -> SimPod {
        let mut p = p.clone();
        p.status = serde_json::from_value(status).unwrap();
        p
    }

    #[test]
    fn node_is_ready_with_capacity_and_addresses() {
        let n = node("sim-node-2", 2, &shape(), "2025-01-01T00:00:00Z");
        assert_eq!(
            n["metadata"]["labels"]["kubernetes.io/hostname"],
            "sim-node-2"
        );
        assert_eq!(
            n["metadata"]["labels"]["node.kubernetes.io/instance-type"],
            "sim"
        );
        let st = &n["status"];
        assert_eq!(st["capacity"]["pods"], "110");
        assert_eq!(st["allocatable"]["cpu"], "4");
        assert_eq!(st["addresses"][0]["address"], "172.30.0.3");
        assert_eq!(st["addresses"][1]["address"], "sim-node-2");
        assert_eq!(st["nodeInfo"]["kubeletVersion"], "v1.33.0");
        let conds = st["conditions"].as_array().unwrap();
        let ready = conds.iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(ready["status"], "True");
        assert_eq!(ready["reason"], "KubeletReady");
        assert!(conds
            .iter()
            .filter(|c| c["type"] != "Ready")
            .all(|c| c["status"] == "False"));
        let other = node("sim-node-3", 3, &shape(), "2025-01-01T00:00:00Z");
        assert_ne!(
            st["nodeInfo"]["machineID"],
            other["status"]["nodeInfo"]["machineID"]
        );
    }

    #[test]
    fn heartbeat_keeps_transition_time() {
        let st = node_status(
            "n",
            0,
            &shape(),
            "2025-01-01T00:05:00Z",
            "2025-01-01T00:00:00Z",
        );
        let ready = &st["conditions"][3];
        assert_eq!(ready["lastHeartbeatTime"], "2025-01-01T00:05:00Z");
        assert_eq!(ready["lastTransitionTime"], "2025-01-01T00:00:00Z");
    }

    #[test]
    fn lease_is_owned_by_node() {
        let l = lease("n1", Some("uid-1"), "t");
        assert_eq!(l["metadata"]["namespace"], "kube-node-lease");
        assert_eq!(l["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(l["spec"]["leaseDurationSeconds"], 40);
        assert!(lease("n1", None, "t")["metadata"]
            .get("ownerReferences")
            .is_none());
        let t = chrono::DateTime::parse_from_rfc3339("2025-01-02T03:04:05.5Z").unwrap();
        assert_eq!(
            micro_time_text(t.with_timezone(&chrono::Utc)),
            "2025-01-02T03:04:05.500000Z"
        );
    }

    #[test]
    fn new_pod_becomes_running_and_then_needs_nothing() {
        let p = pod(json!({
            "metadata": {"name": "p", "uid": "u1"},
            "spec": {"nodeName": "n", "containers": [{"name": "a", "image": "nginx:1"}],
                     "initContainers": [{"name": "i", "image": "busybox"}]},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "T0"}]}
        }));
        assert!(needs_update(&p, "10.0.0.2"));
        let st = pod_status(&p, "172.30.0.1", "10.0.0.2", "T1");
        assert_eq!(st["phase"], "Running");
        assert_eq!(st["podIPs"][0]["ip"], "10.0.0.2");
        assert_eq!(st["hostIP"], "172.30.0.1");
        let scheduled = st["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "PodScheduled")
            .unwrap()
            .clone();
        assert_eq!(scheduled["lastTransitionTime"], "T0");
        let c = &st["containerStatuses"][0];
        assert_eq!(c["ready"], true);
        assert_eq!(c["restartCount"], 0);
        assert_eq!(c["imageID"], "sim://nginx:1");
        assert_eq!(c["state"]["running"]["startedAt"], "T1");
        assert!(c["containerID"].as_str().unwrap().starts_with("sim://"));
        assert_eq!(
            st["initContainerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
        let running = with_status(&p, st.clone());
        assert!(!needs_update(&running, "10.0.0.2"));
        assert!(needs_update(&running, "10.0.0.3"));
        // Building again gives the same status: a duplicate post is a no-op.
        assert_eq!(pod_status(&running, "172.30.0.1", "10.0.0.2", "T9"), st);
    }

    #[test]
    fn image_change_restarts_that_container_only() {
        let p = pod(json!({
            "metadata": {"uid": "u2"},
            "spec": {"containers": [{"name": "a", "image": "app:v1"}, {"name": "b", "image": "side"}]}
        }));
        let running = with_status(&p, pod_status(&p, "h", "ip", "T1"));
        let mut updated = running.clone();
        updated.spec.containers[0].image = Some("app:v2".into());
        assert!(needs_update(&updated, "ip"));
        let st = pod_status(&updated, "h", "ip", "T2");
        let (a, b) = (&st["containerStatuses"][0], &st["containerStatuses"][1]);
        assert_eq!(a["image"], "app:v2");
        assert_eq!(a["restartCount"], 1);
        assert_eq!(a["state"]["running"]["startedAt"], "T2");
        assert_ne!(
            a["containerID"],
            running.status.container_statuses[0]
                .container_id
                .clone()
                .unwrap()
        );
        assert_eq!(b["restartCount"], 0);
        assert_eq!(b["state"]["running"]["startedAt"], "T1");
        assert!(!needs_update(&with_status(&updated, st), "ip"));
    }
}
