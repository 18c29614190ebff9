//! What a service's EndpointSlices should contain: endpoints grouped by address family
//! and by the set of ports they serve.

use crate::endpoints::pods::{service_families, PodInfo};
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Identifies one slice shape: address type plus the exact ports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Shape {
    pub address_type: String,
    /// (name, port, protocol, appProtocol) sorted.
    pub ports: Vec<(String, i32, String, String)>,
}

impl Shape {
    pub(crate) fn of(address_type: &str, ports: &[EndpointPort]) -> Self {
        let mut ports: Vec<_> = ports
            .iter()
            .map(|p| {
                (
                    p.name.clone().unwrap_or_default(),
                    p.port.unwrap_or_default(),
                    p.protocol.clone().unwrap_or_default(),
                    p.app_protocol.clone().unwrap_or_default(),
                )
            })
            .collect();
        ports.sort();
        Self {
            address_type: address_type.to_string(),
            ports,
        }
    }
}

/// Desired endpoints of one shape, keyed by endpoint identity.
#[derive(Debug, Default)]
pub(crate) struct Group {
    pub ports: Vec<EndpointPort>,
    pub endpoints: BTreeMap<String, Endpoint>,
}

/// Identity of an endpoint across syncs: the pod it stands for, else its first address.
pub(crate) fn endpoint_key(e: &Endpoint) -> String {
    e.target_ref
        .as_ref()
        .and_then(|r| r.uid.clone())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| e.addresses.first().cloned().unwrap_or_default())
}

fn pod_ports(svc: &Service, pod: &PodInfo) -> Vec<EndpointPort> {
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_deref());
    ports
        .unwrap_or_default()
        .iter()
        .filter_map(|sp| {
            Some(EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(pod.find_port(sp)?),
                protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

fn to_endpoint(svc: &Service, pod: &PodInfo, ip: &str) -> Endpoint {
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let serving = pod.ready;
    let terminating = pod.deleting;
    // A terminating pod is never "ready" unless the service publishes not-ready ones.
    let ready = publish || (serving && !terminating);
    Endpoint {
        addresses: vec![ip.to_string()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: pod.hostname_for(svc).map(str::to_string),
        node_name: pod.node_name.clone(),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: Some(pod.namespace.clone()),
            name: Some(pod.name.clone()),
            uid: Some(pod.uid.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The desired groups for `svc` over the pods its selector picks.
pub(crate) fn desired(svc: &Service, pods: &[Arc<PodInfo>]) -> BTreeMap<Shape, Group> {
    let mut out: BTreeMap<Shape, Group> = BTreeMap::new();
    let families = service_families(svc);
    for pod in pods {
        // Terminating pods stay, flagged by their conditions.
        if !pod.in_endpoints(true) {
            continue;
        }
        let ports = pod_ports(svc, pod);
        for family in &families {
            let Some(ip) = pod.ip_of(family) else {
                continue;
            };
            let ep = to_endpoint(svc, pod, ip);
            let group = out.entry(Shape::of(family, &ports)).or_default();
            if group.ports.is_empty() {
                group.ports = ports.clone();
            }
            group.endpoints.insert(endpoint_key(&ep), ep);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::NamedPort;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn pod(name: &str, ip: &str, ready: bool, deleting: bool, http: i32) -> Arc<PodInfo> {
        Arc::new(PodInfo {
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("u-{name}"),
            ips: vec![ip.into()],
            phase: "Running".into(),
            ready,
            deleting,
            ports: vec![NamedPort {
                name: "http".into(),
                protocol: "TCP".into(),
                number: http,
            }],
            ..Default::default()
        })
    }

    fn svc() -> Service {
        Service {
            spec: Some(ServiceSpec {
                selector: Some(Default::default()),
                ports: Some(vec![ServicePort {
                    name: Some("web".into()),
                    port: 80,
                    target_port: Some(IntOrString::String("http".into())),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn conditions_and_grouping_by_resolved_port() {
        let pods = vec![
            pod("a", "10.1.0.1", true, false, 8080),
            pod("b", "10.1.0.2", true, true, 8080),
            pod("c", "10.1.0.3", false, false, 9090),
        ];
        let groups = desired(&svc(), &pods);
        assert_eq!(groups.len(), 2);
        let g8080 = groups
            .iter()
            .find(|(s, _)| s.ports[0].1 == 8080)
            .map(|(_, g)| g)
            .unwrap();
        assert_eq!(g8080.endpoints.len(), 2);
        let b = &g8080.endpoints["u-b"];
        let c = b.conditions.as_ref().unwrap();
        // Terminating but still passing readiness: serving, not ready.
        assert_eq!(
            (c.ready, c.serving, c.terminating),
            (Some(false), Some(true), Some(true))
        );
        let a = g8080.endpoints["u-a"].conditions.as_ref().unwrap();
        assert_eq!(
            (a.ready, a.serving, a.terminating),
            (Some(true), Some(true), Some(false))
        );
        assert_eq!(g8080.ports[0].name.as_deref(), Some("web"));
        assert_eq!(g8080.ports[0].protocol.as_deref(), Some("TCP"));
    }

    #[test]
    fn ipv6_pods_do_not_land_in_ipv4_slices() {
        let pods = vec![pod("a", "fd00::1", true, false, 8080)];
        assert!(desired(&svc(), &pods).is_empty());
    }
}
