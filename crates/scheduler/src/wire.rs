//! The pod as the scheduler's watch decodes it: only the fields [`crate::podinfo::trim`]
//! keeps are read from the JSON; everything else (volumes, env, images, most of the
//! status) is skipped by the parser instead of being built and dropped. Every pod
//! arrives at least twice (pending, then bound), so this is on the hot path.

use crate::podinfo::{slim_container, trim_meta};
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, Pod, PodCondition, PodSpec, PodStatus,
    ResourceRequirements, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A pod with the scheduler's fields; converts into a (trimmed) [`Pod`].
#[derive(Clone, Debug, Default, Deserialize)]
pub struct WatchedPod {
    /// Kept whole: the watcher's bookkeeping needs an ObjectMeta.
    #[serde(default)]
    metadata: ObjectMeta,
    spec: Option<Spec>,
    status: Option<Status>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireContainer {
    #[serde(default)]
    name: String,
    resources: Option<ResourceRequirements>,
    ports: Option<Vec<ContainerPort>>,
    restart_policy: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    containers: Vec<WireContainer>,
    init_containers: Option<Vec<WireContainer>>,
    overhead: Option<BTreeMap<String, Quantity>>,
    node_name: Option<String>,
    scheduler_name: Option<String>,
    node_selector: Option<BTreeMap<String, String>>,
    affinity: Option<Affinity>,
    tolerations: Option<Vec<Toleration>>,
    topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    priority: Option<i32>,
    priority_class_name: Option<String>,
    preemption_policy: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    phase: Option<String>,
    conditions: Option<Vec<PodCondition>>,
}

fn container(c: WireContainer) -> Container {
    slim_container(c.name, c.resources, c.ports, c.restart_policy)
}

impl From<WatchedPod> for Pod {
    fn from(p: WatchedPod) -> Pod {
        Pod {
            metadata: trim_meta(p.metadata),
            spec: p.spec.map(|s| PodSpec {
                containers: s.containers.into_iter().map(container).collect(),
                init_containers: s
                    .init_containers
                    .map(|cs| cs.into_iter().map(container).collect()),
                overhead: s.overhead,
                node_name: s.node_name,
                scheduler_name: s.scheduler_name,
                node_selector: s.node_selector,
                affinity: s.affinity,
                tolerations: s.tolerations,
                topology_spread_constraints: s.topology_spread_constraints,
                priority: s.priority,
                priority_class_name: s.priority_class_name,
                preemption_policy: s.preemption_policy,
                ..Default::default()
            }),
            status: p.status.map(|s| PodStatus {
                phase: s.phase,
                conditions: s.conditions,
                ..Default::default()
            }),
        }
    }
}

// The watcher needs the resource's coordinates and metadata; they are the Pod's.
impl kube::Resource for WatchedPod {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "Pod".into()
    }

    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "".into()
    }

    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1".into()
    }

    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "pods".into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podinfo::{tests::full_pod_json, PodInfo};
    use std::sync::Arc;

    #[test]
    fn decodes_what_trimming_a_full_pod_keeps() {
        let json = serde_json::to_vec(&full_pod_json()).unwrap();
        let full: Pod = serde_json::from_slice(&json).unwrap();
        let watched: WatchedPod = serde_json::from_slice(&json).unwrap();
        let slim = Pod::from(watched);
        assert_eq!(slim.spec.as_ref().unwrap().volumes, None);
        let (a, b) = (PodInfo::new(Arc::new(full)), PodInfo::new(Arc::new(slim)));
        assert_eq!(a.pod(), b.pod());
        assert_eq!(
            (
                a.requests.milli_cpu,
                a.host_ports.len(),
                a.required_anti_affinity.len()
            ),
            (
                b.requests.milli_cpu,
                b.host_ports.len(),
                b.required_anti_affinity.len()
            )
        );
    }
}
