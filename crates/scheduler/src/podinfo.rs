//! A pod with what the plugins need precomputed once (requests, host ports, parsed
//! affinity terms), so that filtering thousands of nodes does no per-node parsing.

use crate::resources::{pod_requests, Resources};
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
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
    pub pod: Arc<Pod>,
    /// namespace/name
    pub key: String,
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

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> Self {
        let key = pod_key(&pod);
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
            requests: pod_requests(&pod, false),
            non_zero: pod_requests(&pod, true),
            key,
            host_ports,
            required_affinity,
            required_anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            pod,
        }
    }

    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.pod.metadata.labels.as_ref()
    }

    pub fn node_name(&self) -> Option<&str> {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
    }
}
