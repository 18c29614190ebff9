//! Services + EndpointSlices → the plain service ports the renderer consumes.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::model::{Endpoint, Protocol, ServicePort};

/// Label an EndpointSlice carries naming its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Default ClientIP affinity timeout (3 hours), as the API defaults it.
const DEFAULT_AFFINITY_SECONDS: u32 = 10800;

fn v4(s: &str) -> Option<Ipv4Addr> {
    s.parse().ok()
}

/// Every IPv4 service port with its endpoints, sorted so equal inputs render equally.
/// ExternalName and headless services are skipped; ports are matched to slice ports by
/// name and protocol, which is how named target ports reach us already resolved.
pub fn service_ports<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node_name: &str,
) -> Vec<ServicePort> {
    let mut by_service: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        let ns = slice.metadata.namespace.as_deref().unwrap_or_default();
        let labels = slice.metadata.labels.as_ref();
        if let Some(svc) = labels.and_then(|l| l.get(SERVICE_NAME_LABEL)) {
            by_service
                .entry((ns, svc.as_str()))
                .or_default()
                .push(slice);
        }
    }
    let mut out = Vec::new();
    for svc in services {
        let (Some(spec), Some(name)) = (&svc.spec, &svc.metadata.name) else {
            continue;
        };
        let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        // Dual-stack services list both families; we program IPv4 only.
        let cluster_ip = spec
            .cluster_ips
            .iter()
            .flatten()
            .chain(spec.cluster_ip.iter())
            .find_map(|ip| v4(ip));
        let Some(cluster_ip) = cluster_ip else {
            continue;
        };
        let mut external_ips: Vec<Ipv4Addr> = spec
            .external_ips
            .iter()
            .flatten()
            .filter_map(|ip| v4(ip))
            .collect();
        let ingress = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref());
        external_ips.extend(
            ingress
                .and_then(|lb| lb.ingress.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|i| i.ip.as_deref().and_then(v4)),
        );
        external_ips.sort();
        external_ips.dedup();
        let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|t| u32::try_from(t).ok())
                .filter(|t| *t > 0)
                .unwrap_or(DEFAULT_AFFINITY_SECONDS)
        });
        let has_node_ports = matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"));
        let slices = by_service
            .get(&(ns, name.as_str()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for port in spec.ports.iter().flatten() {
            let Some(protocol) = Protocol::parse(port.protocol.as_deref().unwrap_or("TCP")) else {
                continue;
            };
            let Ok(port_number) = u16::try_from(port.port) else {
                continue;
            };
            let port_name = port.name.clone().unwrap_or_default();
            out.push(ServicePort {
                namespace: ns.to_string(),
                name: name.clone(),
                endpoints: endpoints_for(slices, &port_name, protocol, node_name),
                port_name,
                protocol,
                cluster_ip,
                port: port_number,
                node_port: port
                    .node_port
                    .filter(|_| has_node_ports)
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p != 0),
                external_ips: external_ips.clone(),
                affinity_timeout,
                external_local: spec.external_traffic_policy.as_deref() == Some("Local"),
                internal_local: spec.internal_traffic_policy.as_deref() == Some("Local"),
            });
        }
    }
    out.sort_by_key(|sp| sp.key());
    out
}

fn endpoints_for(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: Protocol,
    node_name: &str,
) -> Vec<Endpoint> {
    let mut eps: Vec<Endpoint> = Vec::new();
    for slice in slices {
        let port = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or_default() == port_name
                && Protocol::parse(p.protocol.as_deref().unwrap_or("TCP")) == Some(protocol)
        });
        let Some(port) = port
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for ep in &slice.endpoints {
            // All addresses of one endpoint are fungible; upstream uses the first.
            let Some(ip) = ep.addresses.first().and_then(|a| v4(a)) else {
                continue;
            };
            let cond = ep.conditions.as_ref();
            // Unknown readiness counts as ready, and serving defaults to readiness.
            let ready = cond.and_then(|c| c.ready).unwrap_or(true);
            let candidate = Endpoint {
                ip,
                port,
                ready,
                serving: cond.and_then(|c| c.serving).unwrap_or(ready),
                terminating: cond.and_then(|c| c.terminating).unwrap_or(false),
                local: !node_name.is_empty() && ep.node_name.as_deref() == Some(node_name),
            };
            // The same endpoint may sit in two slices while they are being rebalanced.
            match eps.iter_mut().find(|e| e.ip == ip && e.port == port) {
                Some(existing) if candidate.ready && !existing.ready => *existing = candidate,
                Some(_) => {}
                None => eps.push(candidate),
            }
        }
    }
    eps.sort_by_key(|e| (e.ip, e.port));
    eps
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn slice(v: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(v).unwrap()
    }

    fn web_slice() -> EndpointSlice {
        slice(json!({
            "metadata": {"name": "web-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                      {"name": "dns", "port": 5353, "protocol": "UDP"}],
            "endpoints": [
                {"addresses": ["10.244.0.7"], "nodeName": "n1", "conditions": {"ready": true}},
                {"addresses": ["10.244.0.3"], "nodeName": "n2",
                 "conditions": {"ready": false, "serving": true, "terminating": true}},
                {"addresses": ["10.244.0.9"]}
            ]
        }))
    }

    #[test]
    fn named_ports_resolve_through_slice_ports() {
        let s = svc(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.3.4",
                     "ports": [{"name": "http", "port": 80, "targetPort": "web", "nodePort": 30080},
                               {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053}]}
        }));
        let sl = web_slice();
        let ports = service_ports([&s], [&sl], "n1");
        assert_eq!(ports.len(), 2);
        let http = ports.iter().find(|p| p.port_name == "http").unwrap();
        assert_eq!(http.protocol, Protocol::Tcp);
        assert_eq!(http.node_port, Some(30080));
        let eps: Vec<_> = http
            .endpoints
            .iter()
            .map(|e| (e.ip.to_string(), e.port))
            .collect();
        assert_eq!(
            eps,
            vec![
                ("10.244.0.3".to_string(), 8080),
                ("10.244.0.7".to_string(), 8080),
                ("10.244.0.9".to_string(), 8080)
            ]
        );
        let e3 = &http.endpoints[0];
        assert!(!e3.ready && e3.serving && e3.terminating && !e3.local);
        let e7 = &http.endpoints[1];
        assert!(e7.ready && e7.local);
        assert!(http.endpoints[2].ready, "missing conditions mean ready");
        let dns = ports.iter().find(|p| p.port_name == "dns").unwrap();
        assert_eq!(dns.protocol, Protocol::Udp);
        assert_eq!(dns.endpoints[0].port, 5353);
    }

    #[test]
    fn headless_external_name_and_ipv6_are_skipped() {
        let headless = svc(json!({"metadata": {"name": "h", "namespace": "default"},
            "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}));
        let ext = svc(json!({"metadata": {"name": "e", "namespace": "default"},
            "spec": {"type": "ExternalName", "externalName": "example.com"}}));
        let v6 = svc(json!({"metadata": {"name": "six", "namespace": "default"},
            "spec": {"clusterIP": "fd00::10", "ports": [{"port": 80}]}}));
        let none: [&EndpointSlice; 0] = [];
        assert!(service_ports([&headless, &ext, &v6], none, "n1").is_empty());
    }

    #[test]
    fn affinity_policies_and_external_ips() {
        let s = svc(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.3.4",
                     "externalIPs": ["192.0.2.9"],
                     "sessionAffinity": "ClientIP",
                     "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                     "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
                     "ports": [{"port": 80, "nodePort": 30080}]}
        }));
        let none: [&EndpointSlice; 0] = [];
        let p = &service_ports([&s], none, "n1")[0];
        assert_eq!(p.affinity_timeout, Some(60));
        assert!(p.external_local && p.internal_local);
        assert_eq!(p.external_ips, vec![Ipv4Addr::new(192, 0, 2, 9)]);
        assert_eq!(p.node_port, None, "ClusterIP services have no node ports");
        assert!(p.endpoints.is_empty());
        assert_eq!(p.key(), "default/web/tcp/80");
    }

    #[test]
    fn duplicate_endpoint_across_slices_prefers_ready() {
        let s = svc(json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.96.3.4", "ports": [{"name": "http", "port": 80}]}}));
        let a = slice(json!({
            "metadata": {"name": "a", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
            "endpoints": [{"addresses": ["10.244.0.7"], "conditions": {"ready": false}}]}));
        let b = slice(json!({
            "metadata": {"name": "b", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
            "endpoints": [{"addresses": ["10.244.0.7"], "conditions": {"ready": true}}]}));
        let other_ns = slice(json!({
            "metadata": {"name": "c", "namespace": "other", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
            "endpoints": [{"addresses": ["10.244.9.9"]}]}));
        let p = &service_ports([&s], [&a, &b, &other_ns], "n1")[0];
        assert_eq!(p.endpoints.len(), 1);
        assert!(p.endpoints[0].ready);
    }
}
