//! What the endpoint controllers need to know about a pod and a service.

use super::informer::{key, Cached};
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// The endpoint controllers read pods straight from the process's shared pod store.
pub(crate) type PodInfo = crate::shared::CachedPod;

fn protocol(p: Option<&String>) -> String {
    p.cloned().unwrap_or_else(|| "TCP".into())
}

impl PodInfo {
    /// Whether two states of a pod put it in the same endpoints; a change that keeps
    /// all of these needs no resync.
    pub(crate) fn same_for_endpoints(&self, other: &PodInfo) -> bool {
        self.namespace == other.namespace
            && self.name == other.name
            && self.uid == other.uid
            && self.labels == other.labels
            && self.node_name == other.node_name
            && self.hostname == other.hostname
            && self.subdomain == other.subdomain
            && self.ports == other.ports
            && self.phase == other.phase
            && self.ips == other.ips
            && self.ready == other.ready
            && self.deleting == other.deleting
    }

    /// Upstream's ShouldPodBeInEndpoints: finished pods and pods without an IP never
    /// are; terminating ones only when the caller includes them.
    pub(crate) fn in_endpoints(&self, include_terminating: bool) -> bool {
        if self.phase == "Succeeded" || self.phase == "Failed" || self.ips.is_empty() {
            return false;
        }
        include_terminating || !self.deleting
    }

    /// The pod's first IP of `family` ("IPv4" / "IPv6").
    pub(crate) fn ip_of(&self, family: &str) -> Option<&str> {
        self.ips
            .iter()
            .find(|ip| ip_family(ip) == family)
            .map(String::as_str)
    }

    /// The hostname DNS records use, when the pod asked for one under this service.
    pub(crate) fn hostname_for(&self, svc: &Service) -> Option<&str> {
        let same_ns = svc.metadata.namespace.as_deref() == Some(self.namespace.as_str());
        let sub_matches = self.subdomain.is_some() && self.subdomain == svc.metadata.name;
        self.hostname.as_deref().filter(|_| same_ns && sub_matches)
    }

    /// The port number `port` reaches on this pod: a number as is, a name looked up among
    /// the pod's container ports with the same protocol.
    pub(crate) fn find_port(&self, port: &ServicePort) -> Option<i32> {
        let proto = protocol(port.protocol.as_ref());
        match &port.target_port {
            None => Some(port.port),
            Some(IntOrString::Int(n)) => Some(*n),
            Some(IntOrString::String(name)) => match name.parse::<i32>() {
                // A numeric string is a number (intstr semantics).
                Ok(n) => Some(n),
                Err(_) => self
                    .ports
                    .iter()
                    .find(|p| &p.name == name && p.protocol == proto)
                    .map(|p| p.number),
            },
        }
    }
}

pub(crate) fn ip_family(ip: &str) -> &'static str {
    if ip.contains(':') {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// Address families a service wants endpoints for, in its order of preference.
pub(crate) fn service_families(svc: &Service) -> Vec<String> {
    let spec = svc.spec.as_ref();
    if let Some(fams) = spec.and_then(|s| s.ip_families.as_ref()) {
        if !fams.is_empty() {
            return fams.clone();
        }
    }
    let ip = spec.and_then(|s| s.cluster_ip.as_deref()).unwrap_or("");
    if ip.contains(':') {
        vec!["IPv6".into()]
    } else {
        vec!["IPv4".into()]
    }
}

/// Whether the service has no cluster IP (headless): its endpoints carry a label for it.
pub(crate) fn is_headless(svc: &Service) -> bool {
    let ip = svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref());
    matches!(ip, None | Some("") | Some("None"))
}

/// Whether `svc`'s selector (which must exist) picks a pod with these labels.
pub(crate) fn selects(svc: &Service, labels: &BTreeMap<String, String>) -> bool {
    match svc.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        Some(sel) => sel.iter().all(|(k, v)| labels.get(k) == Some(v)),
        None => false,
    }
}

/// Services the endpoint controllers manage: selector set, not ExternalName.
pub(crate) fn managed(svc: &Service) -> bool {
    let Some(spec) = svc.spec.as_ref() else {
        return false;
    };
    spec.selector.is_some() && spec.type_.as_deref() != Some("ExternalName")
}

impl Cached for Service {
    fn cache_key(&self) -> String {
        key(
            self.metadata.namespace.as_deref(),
            self.metadata.name.as_deref().unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerPort, Pod, PodSpec};

    fn pod_with_ports() -> PodInfo {
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    ports: Some(vec![
                        ContainerPort {
                            name: Some("http".into()),
                            container_port: 8080,
                            ..Default::default()
                        },
                        ContainerPort {
                            name: Some("dns".into()),
                            container_port: 5353,
                            protocol: Some("UDP".into()),
                            ..Default::default()
                        },
                    ]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        PodInfo::from_pod(pod)
    }

    fn sp(target: Option<IntOrString>, proto: Option<&str>) -> ServicePort {
        ServicePort {
            port: 80,
            target_port: target,
            protocol: proto.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn port_resolution() {
        let p = pod_with_ports();
        let named = |n: &str| Some(IntOrString::String(n.into()));
        assert_eq!(p.find_port(&sp(named("http"), None)), Some(8080));
        assert_eq!(p.find_port(&sp(named("http"), Some("TCP"))), Some(8080));
        // Protocol must match too.
        assert_eq!(p.find_port(&sp(named("http"), Some("UDP"))), None);
        assert_eq!(p.find_port(&sp(named("dns"), Some("UDP"))), Some(5353));
        assert_eq!(p.find_port(&sp(named("nope"), None)), None);
        assert_eq!(
            p.find_port(&sp(Some(IntOrString::Int(9376)), None)),
            Some(9376)
        );
        assert_eq!(p.find_port(&sp(None, None)), Some(80));
    }

    #[test]
    fn membership_rules() {
        let mut p = PodInfo {
            ips: vec!["10.0.0.1".into()],
            phase: "Running".into(),
            ..Default::default()
        };
        assert!(p.in_endpoints(false));
        p.deleting = true;
        assert!(!p.in_endpoints(false));
        assert!(p.in_endpoints(true));
        p.deleting = false;
        p.phase = "Succeeded".into();
        assert!(!p.in_endpoints(true));
        p.phase = "Running".into();
        p.ips.clear();
        assert!(!p.in_endpoints(true));
    }
}
