//! What the scheduler knows of each node: the node object and the pods bound or assumed
//! on it, with their summed requests and host ports kept current incrementally.

use crate::podinfo::{HostPort, PodInfo};
use crate::resources::{node_allocatable, Resources};
use k8s_openapi::api::core::v1::{Node, Taint};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug)]
pub struct NodeInfo {
    pub name: String,
    /// None while pods name a node the informer has not delivered (or has deleted).
    pub node: Option<Arc<Node>>,
    /// spec.unschedulable and spec.taints copied out of `node`: every filter pass reads
    /// them for hundreds of nodes per pod, and two pointer hops per node into the Node
    /// object were the scheduler's largest single cost.
    pub unschedulable: bool,
    pub taints: Box<[Taint]>,
    pub allocatable: Resources,
    pub requested: Resources,
    pub non_zero_requested: Resources,
    pub used_ports: Vec<HostPort>,
    pub pods: Vec<Arc<PodInfo>>,
    /// How many of `pods` carry required anti-affinity terms.
    pub anti_affinity_pods: usize,
}

impl NodeInfo {
    pub fn new(name: &str) -> Self {
        NodeInfo {
            name: name.to_string(),
            node: None,
            unschedulable: false,
            taints: Box::default(),
            allocatable: Resources::default(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            used_ports: Vec::new(),
            pods: Vec::new(),
            anti_affinity_pods: 0,
        }
    }

    pub fn with_node(node: Node) -> Self {
        let mut info = NodeInfo::new(node.metadata.name.as_deref().unwrap_or_default());
        info.set_node(node);
        info
    }

    fn set_node(&mut self, node: Node) {
        self.allocatable = node_allocatable(&node);
        let spec = node.spec.as_ref();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.taints = spec
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .into_boxed_slice();
        self.node = Some(Arc::new(node));
    }

    fn clear_node(&mut self) {
        self.node = None;
        self.unschedulable = false;
        self.taints = Box::default();
    }

    pub fn labels(&self) -> Option<&std::collections::BTreeMap<String, String>> {
        self.node.as_ref().and_then(|n| n.metadata.labels.as_ref())
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels().and_then(|l| l.get(key)).map(String::as_str)
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests, 1);
        self.non_zero_requested.add(&pod.non_zero, 1);
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if !pod.required_anti_affinity.is_empty() {
            self.anti_affinity_pods += 1;
        }
        self.pods.push(pod);
    }

    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.key == key) else {
            return false;
        };
        let pod = self.pods.swap_remove(i);
        self.requested.add(&pod.requests, -1);
        self.non_zero_requested.add(&pod.non_zero, -1);
        for hp in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(j);
            }
        }
        if !pod.required_anti_affinity.is_empty() {
            self.anti_affinity_pods -= 1;
        }
        true
    }
}

struct PodEntry {
    node: String,
    assumed: bool,
}

/// Node infos in a slab so that the scheduling loop walks them by index.
#[derive(Default)]
pub struct Cache {
    slots: Vec<Option<NodeInfo>>,
    index: HashMap<String, usize>,
    free: Vec<usize>,
    /// Slots holding a real node, in the order nodes arrived.
    order: Vec<usize>,
    pods: HashMap<String, PodEntry>,
    anti_affinity_pods: usize,
}

/// Whether a node update can make a pod fit that did not before.
fn scheduling_relevant_change(old: &Node, new: &Node) -> bool {
    let (os, ns) = (old.spec.as_ref(), new.spec.as_ref());
    old.metadata.labels != new.metadata.labels
        || os.and_then(|s| s.taints.as_ref()) != ns.and_then(|s| s.taints.as_ref())
        || os.and_then(|s| s.unschedulable) != ns.and_then(|s| s.unschedulable)
        || node_allocatable(old) != node_allocatable(new)
}

impl Cache {
    fn slot_for(&mut self, name: &str) -> usize {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        let info = NodeInfo::new(name);
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(info);
                i
            }
            None => {
                self.slots.push(Some(info));
                self.slots.len() - 1
            }
        };
        self.index.insert(name.to_string(), i);
        i
    }

    /// Adds or updates a node; true when the change could help pending pods.
    pub fn upsert_node(&mut self, node: Node) -> bool {
        let Some(name) = node.metadata.name.clone() else {
            return false;
        };
        let i = self.slot_for(&name);
        let Some(info) = self.slots[i].as_mut() else {
            return false;
        };
        let relevant = match &info.node {
            None => {
                self.order.push(i);
                true
            }
            Some(old) => scheduling_relevant_change(old, &node),
        };
        info.set_node(node);
        relevant
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        self.order.retain(|&j| j != i);
        let empty = match self.slots[i].as_mut() {
            Some(info) => {
                info.clear_node();
                info.pods.is_empty()
            }
            None => true,
        };
        if empty {
            self.slots[i] = None;
            self.index.remove(name);
            self.free.push(i);
        }
    }

    /// Accounts `pod` on `node`; `assumed` marks a binding we issued but have not yet
    /// seen confirmed by the informer.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>, node: &str, assumed: bool) {
        self.remove_pod(&pod.key);
        let i = self.slot_for(node);
        if !pod.required_anti_affinity.is_empty() {
            self.anti_affinity_pods += 1;
        }
        self.pods.insert(
            pod.key.clone(),
            PodEntry {
                node: node.to_string(),
                assumed,
            },
        );
        if let Some(info) = self.slots[i].as_mut() {
            info.add_pod(pod);
        }
    }

    pub fn remove_pod(&mut self, key: &str) {
        let Some(entry) = self.pods.remove(key) else {
            return;
        };
        let Some(&i) = self.index.get(&entry.node) else {
            return;
        };
        let mut drop_slot = false;
        if let Some(info) = self.slots[i].as_mut() {
            let had_anti = info.anti_affinity_pods;
            info.remove_pod(key);
            if info.anti_affinity_pods < had_anti {
                self.anti_affinity_pods -= 1;
            }
            drop_slot = info.node.is_none() && info.pods.is_empty();
        }
        if drop_slot {
            self.slots[i] = None;
            self.index.remove(&entry.node);
            self.free.push(i);
        }
    }

    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|e| e.assumed)
    }

    pub fn contains_pod(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// Number of real nodes.
    pub fn node_count(&self) -> usize {
        self.order.len()
    }

    /// The `i`th real node (0 ≤ i < node_count()).
    pub fn node_at(&self, i: usize) -> Option<&NodeInfo> {
        self.order
            .get(i)
            .and_then(|&slot| self.slots.get(slot))
            .and_then(Option::as_ref)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.order
            .iter()
            .filter_map(|&slot| self.slots.get(slot).and_then(Option::as_ref))
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index
            .get(name)
            .and_then(|&i| self.slots.get(i))
            .and_then(Option::as_ref)
            .filter(|n| n.node.is_some())
    }

    /// Pods with required anti-affinity anywhere in the cluster; lets the common case
    /// skip scanning every node for them.
    pub fn anti_affinity_pods(&self) -> usize {
        self.anti_affinity_pods
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    pub fn node(name: &str, cpu: &str, memory: &str, pods: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods}}
        }))
        .unwrap()
    }

    pub fn pod_info(v: serde_json::Value) -> Arc<PodInfo> {
        let pod: Pod = serde_json::from_value(v).unwrap();
        Arc::new(PodInfo::new(Arc::new(pod)))
    }

    pub fn simple_pod(name: &str, cpu: &str) -> Arc<PodInfo> {
        pod_info(json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}},
                "ports": [{"containerPort": 80, "hostPort": 8080}]}]}
        }))
    }

    #[test]
    fn accounting_follows_pods() {
        let mut c = Cache::default();
        assert!(c.upsert_node(node("n1", "4", "8Gi", "110")));
        c.add_pod(simple_pod("a", "500m"), "n1", true);
        c.add_pod(simple_pod("b", "1"), "n1", false);
        let n = c.node("n1").unwrap();
        assert_eq!(n.requested.milli_cpu, 1500);
        assert_eq!(n.pods.len(), 2);
        assert_eq!(n.used_ports.len(), 2);
        assert!(c.is_assumed("default/a"));
        // Confirmation replaces the assumed entry instead of double counting.
        c.add_pod(simple_pod("a", "500m"), "n1", false);
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 1500);
        assert!(!c.is_assumed("default/a"));
        c.remove_pod("default/b");
        let n = c.node("n1").unwrap();
        assert_eq!(n.requested.milli_cpu, 500);
        assert_eq!(n.used_ports.len(), 1);
    }

    #[test]
    fn pods_before_their_node_and_node_removal() {
        let mut c = Cache::default();
        c.add_pod(simple_pod("a", "1"), "late", false);
        assert_eq!(c.node_count(), 0);
        assert!(c.node("late").is_none());
        c.upsert_node(node("late", "2", "1Gi", "10"));
        assert_eq!(c.node("late").unwrap().requested.milli_cpu, 1000);
        // Only relevant changes report true.
        assert!(!c.upsert_node(node("late", "2", "1Gi", "10")));
        assert!(c.upsert_node(node("late", "3", "1Gi", "10")));
        c.remove_node("late");
        assert_eq!(c.node_count(), 0);
        c.remove_pod("default/a");
        c.upsert_node(node("other", "1", "1Gi", "10"));
        assert_eq!(c.node_at(0).unwrap().name, "other");
    }
}
