//! Slim views of Pods and Nodes for the watches. With 150,000 pods, decoding full
//! objects (managedFields, annotations, volumes…) would cost most of our CPU and memory;
//! serde skips every field not named here.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SlimMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    deletion_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
}

fn slim_meta<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let m = SlimMeta::deserialize(d)?;
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resource_version: m.resource_version,
        deletion_timestamp: m.deletion_timestamp,
        deletion_grace_period_seconds: m.deletion_grace_period_seconds,
        labels: m.labels,
        annotations: m.annotations,
        ..Default::default()
    })
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: Option<String>,
    pub restart_policy: Option<String>,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    pub node_name: Option<String>,
    pub containers: Vec<ContainerSpec>,
    pub init_containers: Vec<ContainerSpec>,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub last_transition_time: Option<String>,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Running {
    pub started_at: Option<String>,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerState {
    pub running: Option<Running>,
    /// Completed init containers; only startedAt is read, so the same shape fits.
    pub terminated: Option<Running>,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStatus {
    pub name: String,
    pub image: String,
    pub ready: bool,
    #[serde(rename = "containerID")]
    pub container_id: Option<String>,
    pub restart_count: i32,
    pub state: Option<ContainerState>,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    pub phase: Option<String>,
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    pub start_time: Option<String>,
    pub conditions: Vec<Condition>,
    pub container_statuses: Vec<ContainerStatus>,
    pub init_container_statuses: Vec<ContainerStatus>,
}

/// The part of a Pod the simulated kubelet reads.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct SimPod {
    #[serde(deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    pub status: PodStatus,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeSpec {
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Option<String>,
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeStatus {
    pub conditions: Vec<Condition>,
}

/// The part of a Node the simulator reads back.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct SimNode {
    #[serde(deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    pub spec: NodeSpec,
    pub status: NodeStatus,
}

macro_rules! resource {
    ($ty:ty, $kind:literal, $plural:literal, $scope:ty) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = $scope;
            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("")
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed("v1")
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

resource!(SimPod, "Pod", "pods", k8s_openapi::NamespaceResourceScope);
resource!(SimNode, "Node", "nodes", k8s_openapi::ClusterResourceScope);

/// The key that stops one node's heartbeat, as a label or an annotation.
pub const STOP_HEARTBEAT: &str = "sim.rkube.io/stop-heartbeat";

impl SimNode {
    pub fn heartbeat_stopped(&self) -> bool {
        let is_true = |m: &Option<BTreeMap<String, String>>| {
            m.as_ref()
                .and_then(|m| m.get(STOP_HEARTBEAT))
                .is_some_and(|v| v == "true")
        };
        is_true(&self.metadata.labels) || is_true(&self.metadata.annotations)
    }

    pub fn ready(&self) -> bool {
        self.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slim_pod_keeps_what_we_need_only() {
        let pod: SimPod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                "deletionTimestamp": "2025-01-01T00:00:00Z",
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx", "ports": []}],
                "volumes": [{"name": "v"}]},
            "status": {"phase": "Pending", "qosClass": "BestEffort"}
        }))
        .unwrap();
        assert_eq!(pod.metadata.resource_version.as_deref(), Some("7"));
        assert!(pod.metadata.deletion_timestamp.is_some());
        assert!(pod.metadata.managed_fields.is_none());
        assert_eq!(pod.spec.node_name.as_deref(), Some("n1"));
        assert_eq!(pod.spec.containers[0].image.as_deref(), Some("nginx"));
        assert_eq!(pod.status.phase.as_deref(), Some("Pending"));
    }

    #[test]
    fn stop_heartbeat_by_label_or_annotation() {
        let node = |meta: serde_json::Value| -> SimNode {
            serde_json::from_value(serde_json::json!({"metadata": meta})).unwrap()
        };
        assert!(!node(serde_json::json!({"name": "n"})).heartbeat_stopped());
        assert!(node(serde_json::json!({"labels": {STOP_HEARTBEAT: "true"}})).heartbeat_stopped());
        assert!(
            node(serde_json::json!({"annotations": {STOP_HEARTBEAT: "true"}})).heartbeat_stopped()
        );
        assert!(
            !node(serde_json::json!({"labels": {STOP_HEARTBEAT: "false"}})).heartbeat_stopped()
        );
    }
}
