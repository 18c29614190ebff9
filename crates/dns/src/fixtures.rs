//! Builders for typed Services and EndpointSlices, for tests and the benchmark
//! (filling an index without an API server).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A port as `(name, protocol, port)`; an empty name is an unnamed port.
pub type Port<'a> = (&'a str, &'a str, i32);

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(ns.to_string()),
        name: Some(name.to_string()),
        ..Default::default()
    }
}

fn service_ports(ports: &[Port<'_>]) -> Option<Vec<ServicePort>> {
    Some(
        ports
            .iter()
            .map(|(name, proto, port)| ServicePort {
                name: (!name.is_empty()).then(|| name.to_string()),
                protocol: Some(proto.to_string()),
                port: *port,
                ..Default::default()
            })
            .collect(),
    )
}

/// A ClusterIP Service with the given cluster IPs (first one is `clusterIP`).
pub fn service(ns: &str, name: &str, cluster_ips: &[&str], ports: &[Port<'_>]) -> Service {
    Service {
        metadata: meta(ns, name),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: cluster_ips.first().map(|s| s.to_string()),
            cluster_ips: Some(cluster_ips.iter().map(|s| s.to_string()).collect()),
            ports: service_ports(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A headless Service (clusterIP None).
pub fn headless(ns: &str, name: &str, ports: &[Port<'_>], publish_not_ready: bool) -> Service {
    Service {
        metadata: meta(ns, name),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: Some("None".into()),
            cluster_ips: Some(vec!["None".into()]),
            ports: service_ports(ports),
            publish_not_ready_addresses: publish_not_ready.then_some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An ExternalName Service.
pub fn external(ns: &str, name: &str, target: &str) -> Service {
    Service {
        metadata: meta(ns, name),
        spec: Some(ServiceSpec {
            type_: Some("ExternalName".into()),
            external_name: Some(target.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One slice endpoint: `(address, hostname, ready)`.
pub type Ep<'a> = (&'a str, Option<&'a str>, bool);

/// An EndpointSlice of `service` named `slice_name`.
pub fn slice(
    ns: &str,
    service: &str,
    slice_name: &str,
    address_type: &str,
    endpoints: &[Ep<'_>],
    ports: &[Port<'_>],
) -> EndpointSlice {
    let mut m = meta(ns, slice_name);
    m.labels = Some(BTreeMap::from([(
        "kubernetes.io/service-name".to_string(),
        service.to_string(),
    )]));
    EndpointSlice {
        metadata: m,
        address_type: address_type.to_string(),
        endpoints: endpoints
            .iter()
            .map(|(ip, host, ready)| Endpoint {
                addresses: vec![ip.to_string()],
                hostname: host.map(str::to_string),
                conditions: Some(EndpointConditions {
                    ready: Some(*ready),
                    serving: Some(*ready),
                    terminating: Some(false),
                }),
                ..Default::default()
            })
            .collect(),
        ports: Some(
            ports
                .iter()
                .map(|(name, proto, port)| EndpointPort {
                    name: (!name.is_empty()).then(|| name.to_string()),
                    protocol: Some(proto.to_string()),
                    port: Some(*port),
                    ..Default::default()
                })
                .collect(),
        ),
    }
}
