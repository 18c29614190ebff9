//! A pod with what the plugins need precomputed once (requests, host ports, parsed
//! affinity terms), so that filtering thousands of nodes does no per-node parsing.
//!
//! Memory: the cache holds one of these per bound pod, so a bound pod keeps only its
//! key, labels, deletion state and the precomputed facts (no `Pod` at all: even an
//! empty typed Pod is over 2 KiB). Pods waiting to be scheduled also keep a trimmed
//! `Pod` (see [`trim`]) for the filters, binding and events.

use crate::resources::{pod_requests, Resources};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Pod, PodAffinityTerm, PodSpec, PodStatus, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A (hostIP, protocol, port) a pod claims on its node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    /// Two claims collide when protocol and port match and either IP is the wildcard.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// Which namespaces a pod affinity term selects.
#[derive(Debug, Clone, PartialEq)]
pub enum Namespaces {
    All,
    Listed(Vec<String>),
}

/// A required or preferred pod (anti-)affinity term, with its namespaces resolved.
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    pub namespaces: Namespaces,
    pub selector: LabelSelector,
    /// A nil label selector selects nothing; an empty one selects everything.
    pub has_selector: bool,
    pub topology_key: String,
    pub weight: i32,
}

impl AffinityTerm {
    fn new(owner_ns: &str, term: &PodAffinityTerm, weight: i32) -> Self {
        let mut listed = term.namespaces.clone().unwrap_or_default();
        let namespaces = match &term.namespace_selector {
            // An empty namespace selector selects every namespace.
            Some(sel)
                if sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
                    && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty()) =>
            {
                Namespaces::All
            }
            // Namespace labels are not watched: a non-empty namespace selector only keeps
            // the explicitly listed namespaces.
            Some(_) => Namespaces::Listed(listed),
            None => {
                if listed.is_empty() {
                    listed.push(owner_ns.to_string());
                }
                Namespaces::Listed(listed)
            }
        };
        AffinityTerm {
            namespaces,
            selector: term.label_selector.clone().unwrap_or_default(),
            has_selector: term.label_selector.is_some(),
            topology_key: term.topology_key.clone(),
            weight,
        }
    }

    /// Whether `pod` is selected by this term.
    pub fn matches(&self, pod: &PodInfo) -> bool {
        if !self.has_selector {
            return false;
        }
        let ns_ok = match &self.namespaces {
            Namespaces::All => true,
            Namespaces::Listed(l) => l.iter().any(|n| n == pod.namespace()),
        };
        ns_ok && rkube_client::objects::selector_matches(&self.selector, pod.labels())
    }
}

#[derive(Debug)]
pub struct PodInfo {
    /// The trimmed pod, for pods still to be scheduled; None for bound pods.
    pending: Option<Arc<Pod>>,
    /// namespace/name
    pub key: String,
    labels: Option<BTreeMap<String, String>>,
    /// deletionTimestamp is set.
    pub deleting: bool,
    pub requests: Resources,
    /// Requests with the scoring defaults for containers asking for nothing.
    pub non_zero: Resources,
    pub host_ports: Vec<HostPort>,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<AffinityTerm>,
    pub preferred_anti_affinity: Vec<AffinityTerm>,
}

pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The container fields scheduling reads; the watch decoder (`wire.rs`) builds the same.
pub fn slim_container(
    name: String,
    resources: Option<ResourceRequirements>,
    ports: Option<Vec<ContainerPort>>,
    restart_policy: Option<String>,
) -> Container {
    Container {
        name,
        resources,
        ports,
        restart_policy,
        ..Default::default()
    }
}

/// What a pod still to be scheduled keeps: what the plugins, the queue, the binder and
/// events read. Dropped: managedFields, annotations, owner references, container
/// fields other than name, resources, ports and restartPolicy, volumes, and status
/// other than phase and conditions.
pub fn trim(pod: Pod) -> Pod {
    let slim = |c: Container| slim_container(c.name, c.resources, c.ports, c.restart_policy);
    Pod {
        metadata: trim_meta(pod.metadata),
        spec: pod.spec.map(|s| PodSpec {
            containers: s.containers.into_iter().map(slim).collect(),
            init_containers: s
                .init_containers
                .map(|cs| cs.into_iter().map(slim).collect()),
            volumes: None,
            ..s
        }),
        status: pod.status.map(|s| PodStatus {
            phase: s.phase,
            conditions: s.conditions,
            ..Default::default()
        }),
    }
}

/// The metadata a pending pod keeps (see [`trim`]).
pub fn trim_meta(m: ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resource_version: m.resource_version,
        labels: m.labels,
        creation_timestamp: m.creation_timestamp,
        deletion_timestamp: m.deletion_timestamp,
        ..Default::default()
    }
}

/// Stands in for the pod of a bound PodInfo; nothing reads it on purpose.
static NO_POD: std::sync::LazyLock<Pod> = std::sync::LazyLock::new(Pod::default);

impl PodInfo {
    /// A pod waiting to be scheduled (trimmed here).
    pub fn new(pod: Arc<Pod>) -> Self {
        let mut info = Self::facts(&pod);
        info.pending = Some(Arc::new(trim(Arc::unwrap_or_clone(pod))));
        info
    }

    /// A pod bound to a node: only what counts toward the node is kept.
    pub fn bound(pod: &Pod) -> Self {
        Self::facts(pod)
    }

    fn facts(pod: &Pod) -> Self {
        let key = pod_key(pod);
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let spec = pod.spec.as_ref();
        let mut host_ports = Vec::new();
        for c in spec.into_iter().flat_map(|s| s.containers.iter()) {
            for p in c.ports.iter().flatten() {
                if let Some(port) = p.host_port.filter(|p| *p > 0) {
                    host_ports.push(HostPort {
                        ip: p
                            .host_ip
                            .clone()
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "0.0.0.0".into()),
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        port,
                    });
                }
            }
        }
        let affinity = spec.and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| AffinityTerm::new(&ns, t, 1))
                .collect()
        };
        let required_affinity = required(pa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let required_anti_affinity = required(paa.and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        }));
        let preferred_affinity = pa
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .map(|w| AffinityTerm::new(&ns, &w.pod_affinity_term, w.weight))
            .collect();
        let preferred_anti_affinity = paa
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .map(|w| AffinityTerm::new(&ns, &w.pod_affinity_term, w.weight))
            .collect();
        PodInfo {
            requests: pod_requests(pod, false),
            non_zero: pod_requests(pod, true),
            key,
            labels: pod.metadata.labels.clone(),
            deleting: pod.metadata.deletion_timestamp.is_some(),
            host_ports,
            required_affinity,
            required_anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            pending: None,
        }
    }

    /// The (trimmed) pod of a pod still to be scheduled; an empty pod for a bound one,
    /// whose pod is not kept.
    pub fn pod(&self) -> &Pod {
        self.pending.as_deref().unwrap_or(&NO_POD)
    }

    pub fn namespace(&self) -> &str {
        self.key.split_once('/').map_or("", |(ns, _)| ns)
    }

    pub fn name(&self) -> &str {
        self.key
            .split_once('/')
            .map_or(self.key.as_str(), |(_, n)| n)
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.labels.as_ref()
    }

    pub fn node_name(&self) -> Option<&str> {
        self.pod()
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn full_pod() -> Pod {
        serde_json::from_value(full_pod_json()).unwrap()
    }

    /// A pod with fields the scheduler reads and fields it drops.
    pub(crate) fn full_pod_json() -> serde_json::Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "prod", "uid": "u1",
                "resourceVersion": "5", "labels": {"app": "web"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web", "uid": "rs", "controller": true}]},
            "spec": {
                "schedulerName": "default-scheduler", "priority": 7,
                "nodeSelector": {"disk": "ssd"},
                "tolerations": [{"key": "k", "operator": "Exists"}],
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                    "whenUnsatisfiable": "DoNotSchedule"}],
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": "kubernetes.io/hostname",
                     "labelSelector": {"matchLabels": {"app": "web"}}}]}},
                "volumes": [{"name": "data", "emptyDir": {}}],
                "containers": [{"name": "c", "image": "nginx", "command": ["run"],
                    "env": [{"name": "A", "value": "b"}],
                    "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}},
                    "ports": [{"containerPort": 80, "hostPort": 8080}]}]},
            "status": {"phase": "Pending", "hostIP": "10.0.0.1",
                "conditions": [{"type": "PodScheduled", "status": "False",
                    "reason": "Unschedulable", "message": "0/1 nodes"}]}
        })
    }

    #[test]
    fn pending_pods_keep_what_scheduling_reads() {
        let info = PodInfo::new(Arc::new(full_pod()));
        let pod = info.pod();
        assert_eq!(pod.metadata.managed_fields, None);
        assert_eq!(pod.metadata.annotations, None);
        assert_eq!(pod.metadata.owner_references, None);
        assert_eq!(pod.metadata.uid.as_deref(), Some("u1"));
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.priority, Some(7));
        assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
        assert!(spec.node_selector.is_some() && spec.tolerations.is_some());
        assert!(spec.topology_spread_constraints.is_some() && spec.affinity.is_some());
        assert_eq!(spec.volumes, None);
        let c = &spec.containers[0];
        assert_eq!((c.image.as_ref(), c.env.as_ref()), (None, None));
        assert!(c.resources.is_some() && c.ports.is_some());
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.host_ip, None);
        assert_eq!(status.conditions.as_ref().unwrap()[0].type_, "PodScheduled");
        assert_eq!(info.requests.milli_cpu, 250);
        assert_eq!((info.namespace(), info.name()), ("prod", "web-1"));
    }

    #[test]
    fn bound_pods_keep_only_what_counts_on_their_node() {
        let info = PodInfo::bound(&full_pod());
        assert_eq!(info.pod().spec, None, "no pod is kept");
        assert_eq!((info.namespace(), info.name()), ("prod", "web-1"));
        assert_eq!(
            info.labels().and_then(|l| l.get("app")).map(String::as_str),
            Some("web")
        );
        assert_eq!(info.requests.milli_cpu, 250);
        assert_eq!(info.requests.memory, 64 << 20);
        assert_eq!(info.host_ports.len(), 1);
        assert_eq!(info.required_anti_affinity.len(), 1);
        assert!(info.required_anti_affinity[0].matches(&info));
        assert!(!info.deleting);
    }
}
