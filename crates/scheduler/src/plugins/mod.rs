//! The in-tree plugins, one per file, and the default set with upstream's score weights.

pub mod balanced_allocation;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;

use crate::framework::Framework;

/// Filters in upstream's order (cheap checks first), scores with upstream's weights.
pub fn default_framework() -> Framework {
    Framework {
        filters: vec![
            Box::new(node_unschedulable::NodeUnschedulable),
            Box::new(node_name::NodeName),
            Box::new(taint_toleration::TaintToleration),
            Box::new(node_affinity::NodeAffinity),
            Box::new(node_ports::NodePorts),
            Box::new(node_resources_fit::NodeResourcesFit),
            Box::new(pod_topology_spread::PodTopologySpread),
            Box::new(inter_pod_affinity::InterPodAffinity),
        ],
        scores: vec![
            Box::new(taint_toleration::TaintToleration),
            Box::new(node_affinity::NodeAffinity),
            Box::new(node_resources_fit::NodeResourcesFit),
            Box::new(balanced_allocation::BalancedAllocation),
            Box::new(pod_topology_spread::PodTopologySpread),
        ],
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::cache::NodeInfo;
    use crate::podinfo::PodInfo;
    use k8s_openapi::api::core::v1::{Node, Pod};
    use std::sync::Arc;

    pub fn pod(v: serde_json::Value) -> PodInfo {
        let mut v = v;
        if v.get("metadata").is_none() {
            v["metadata"] = serde_json::json!({"name": "p", "namespace": "default"});
        }
        if v["spec"].get("containers").is_none() {
            v["spec"]["containers"] = serde_json::json!([{"name": "c"}]);
        }
        let pod: Pod = serde_json::from_value(v).unwrap();
        PodInfo::new(Arc::new(pod))
    }

    pub fn node(v: serde_json::Value) -> NodeInfo {
        let node: Node = serde_json::from_value(v).unwrap();
        NodeInfo::with_node(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::{node, pod_info};
    use crate::cache::Cache;
    use serde_json::json;

    fn cluster() -> Cache {
        let mut c = Cache::default();
        c.upsert_node(node("small", "1", "4Gi", "110"));
        c.upsert_node(node("roomy", "8", "16Gi", "110"));
        let mut cordoned = node("cordoned", "64", "64Gi", "110");
        cordoned.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
            unschedulable: Some(true),
            ..Default::default()
        });
        c.upsert_node(cordoned);
        c
    }

    fn wanting(name: &str, cpu: &str) -> std::sync::Arc<crate::podinfo::PodInfo> {
        pod_info(json!({"metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
    }

    #[test]
    fn default_framework_picks_the_emptiest_schedulable_node() {
        let c = cluster();
        let fw = default_framework();
        let mut start = 0;
        for _ in 0..5 {
            let node = fw.schedule(&c, &wanting("p", "500m"), &mut start).unwrap();
            assert_eq!(node, "roomy");
        }
    }

    #[test]
    fn default_framework_explains_failures() {
        let c = cluster();
        let fw = default_framework();
        let err = fw.schedule(&c, &wanting("big", "16"), &mut 0).unwrap_err();
        assert_eq!(
            err.message(),
            "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu. \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        assert!(err.plugins().contains("NodeResourcesFit"));
        let empty = Cache::default();
        assert_eq!(
            fw.schedule(&empty, &wanting("p", "1"), &mut 0)
                .unwrap_err()
                .message(),
            "no nodes available to schedule pods"
        );
    }

    #[test]
    fn assumed_pods_use_up_room() {
        let mut c = cluster();
        let fw = default_framework();
        let mut start = 0;
        // Four 2-cpu pods fill "roomy"; the fifth fits nowhere.
        for i in 0..4 {
            let p = wanting(&format!("p{i}"), "2");
            let node = fw.schedule(&c, &p, &mut start).unwrap();
            assert_eq!(node, "roomy");
            c.add_pod(p, &node, true);
        }
        let err = fw
            .schedule(&c, &wanting("p5", "2"), &mut start)
            .unwrap_err();
        assert!(
            err.message().contains("2 Insufficient cpu"),
            "{}",
            err.message()
        );
    }
}
