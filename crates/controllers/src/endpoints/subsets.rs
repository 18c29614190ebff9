//! Computing an Endpoints object's subsets from a service and its pods.

use super::pods::{is_headless, service_families, PodInfo};
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, ObjectReference, Service,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Upstream caps one Endpoints object at this many addresses.
pub(crate) const MAX_ADDRESSES: usize = 1000;

/// One (address, port) pair before packing; `port` None for port-less headless services.
struct Entry {
    address: EndpointAddress,
    ready: bool,
    port: Option<EndpointPort>,
}

fn address_for(svc: &Service, pod: &PodInfo) -> Option<EndpointAddress> {
    let family = service_families(svc).into_iter().next()?;
    Some(EndpointAddress {
        ip: pod.ip_of(&family)?.to_string(),
        hostname: pod.hostname_for(svc).map(str::to_string),
        node_name: pod.node_name.clone(),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: Some(pod.namespace.clone()),
            name: Some(pod.name.clone()),
            uid: Some(pod.uid.clone()),
            ..Default::default()
        }),
    })
}

/// The subsets upstream's endpoints controller would write for `svc` given the pods its
/// selector picks: ready pods in addresses, others in notReadyAddresses, grouped so that
/// addresses serving the same set of ports share a subset.
pub(crate) fn desired(svc: &Service, pods: &[Arc<PodInfo>]) -> Vec<EndpointSubset> {
    let Some(spec) = svc.spec.as_ref() else {
        return Vec::new();
    };
    let tolerate_unready = spec.publish_not_ready_addresses.unwrap_or(false);
    let ports = spec.ports.as_deref().unwrap_or_default();
    let mut entries = Vec::new();
    for pod in pods {
        if !pod.in_endpoints(tolerate_unready) {
            continue;
        }
        let Some(address) = address_for(svc, pod) else {
            continue;
        };
        let ready = tolerate_unready || pod.ready;
        if ports.is_empty() {
            if is_headless(svc) {
                entries.push(Entry {
                    address,
                    ready,
                    port: None,
                });
            }
            continue;
        }
        for sp in ports {
            // A pod lacking a named port is simply not an endpoint for that port.
            let Some(number) = pod.find_port(sp) else {
                continue;
            };
            entries.push(Entry {
                address: address.clone(),
                ready,
                port: Some(EndpointPort {
                    name: sp.name.clone(),
                    port: number,
                    protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: sp.app_protocol.clone(),
                }),
            });
        }
    }
    repack(entries)
}

type AddrKey = (String, String);
/// (name, number, protocol); number -1 stands for "no port" (headless).
type PortKey = (String, i32, String);
/// A port and the addresses serving it, each with its readiness.
type PortAddresses = (Option<EndpointPort>, BTreeMap<AddrKey, bool>);

fn addr_key(a: &EndpointAddress) -> AddrKey {
    let uid = a.target_ref.as_ref().and_then(|r| r.uid.clone());
    (a.ip.clone(), uid.unwrap_or_default())
}

fn port_key(p: &Option<EndpointPort>) -> PortKey {
    match p {
        Some(p) => (
            p.name.clone().unwrap_or_default(),
            p.port,
            p.protocol.clone().unwrap_or_default(),
        ),
        None => (String::new(), -1, String::new()),
    }
}

/// Groups (address, port) pairs: every distinct set of (address, readiness) gets one
/// subset listing all the ports it serves. Output order is deterministic.
fn repack(entries: Vec<Entry>) -> Vec<EndpointSubset> {
    let mut addresses: BTreeMap<AddrKey, EndpointAddress> = BTreeMap::new();
    // port → address → ready (ready wins when a pod appears twice).
    let mut by_port: BTreeMap<PortKey, PortAddresses> = BTreeMap::new();
    for e in entries {
        let k = addr_key(&e.address);
        addresses.entry(k.clone()).or_insert(e.address);
        let slot = by_port
            .entry(port_key(&e.port))
            .or_insert_with(|| (e.port.clone(), BTreeMap::new()));
        *slot.1.entry(k).or_insert(false) |= e.ready;
    }
    let mut groups: BTreeMap<Vec<(AddrKey, bool)>, Vec<EndpointPort>> = BTreeMap::new();
    for (_, (port, addrs)) in by_port {
        let set: Vec<(AddrKey, bool)> = addrs.into_iter().collect();
        let ports = groups.entry(set).or_default();
        ports.extend(port);
    }
    let mut out: Vec<EndpointSubset> = groups
        .into_iter()
        .map(|(set, mut ports)| {
            let (mut ready, mut not_ready) = (Vec::new(), Vec::new());
            for (k, is_ready) in set {
                if let Some(a) = addresses.get(&k) {
                    if is_ready {
                        ready.push(a.clone());
                    } else {
                        not_ready.push(a.clone());
                    }
                }
            }
            ports.sort_by_key(|p| port_key(&Some(p.clone())));
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect();
    out.sort_by_key(|s| {
        let first = |v: &Option<Vec<EndpointAddress>>| {
            v.as_ref()
                .and_then(|a| a.first())
                .map(addr_key)
                .unwrap_or_default()
        };
        (first(&s.addresses), first(&s.not_ready_addresses))
    });
    out
}

pub(crate) fn count(subsets: &[EndpointSubset]) -> (usize, usize) {
    subsets.iter().fold((0, 0), |(r, n), s| {
        (
            r + s.addresses.as_ref().map_or(0, Vec::len),
            n + s.not_ready_addresses.as_ref().map_or(0, Vec::len),
        )
    })
}

/// Cuts subsets down to `MAX_ADDRESSES`, keeping ready addresses first and sharing the
/// room among subsets in proportion to their size. Returns whether anything was cut.
pub(crate) fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let (ready, not_ready) = count(subsets);
    if ready + not_ready <= MAX_ADDRESSES {
        return false;
    }
    let cut_ready = ready > MAX_ADDRESSES;
    let (room, total) = if cut_ready {
        (MAX_ADDRESSES, ready)
    } else {
        (MAX_ADDRESSES - ready, not_ready)
    };
    let mut left = room;
    for s in subsets.iter_mut() {
        let list = if cut_ready {
            s.not_ready_addresses = None;
            &mut s.addresses
        } else {
            &mut s.not_ready_addresses
        };
        let len = list.as_ref().map_or(0, Vec::len);
        let share = (len * room).div_ceil(total.max(1)).min(left);
        if let Some(l) = list.as_mut() {
            l.truncate(share);
            left -= l.len();
        }
    }
    true
}

/// The set of (ip, uid) pairs in subsets, for tests and comparisons.
#[cfg(test)]
fn ips(s: &EndpointSubset, ready: bool) -> std::collections::BTreeSet<String> {
    let list = if ready {
        &s.addresses
    } else {
        &s.not_ready_addresses
    };
    list.iter().flatten().map(|a| a.ip.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::NamedPort;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn pod(name: &str, ip: &str, ready: bool, http: Option<i32>) -> Arc<PodInfo> {
        Arc::new(PodInfo {
            namespace: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            ips: vec![ip.into()],
            phase: "Running".into(),
            ready,
            node_name: Some("n1".into()),
            ports: http
                .map(|n| NamedPort {
                    name: "http".into(),
                    protocol: "TCP".into(),
                    number: n,
                })
                .into_iter()
                .collect(),
            ..Default::default()
        })
    }

    fn svc(ports: Vec<ServicePort>) -> Service {
        Service {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some("10.96.0.20".into()),
                selector: Some([("app".to_string(), "web".to_string())].into()),
                ports: Some(ports),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn port(name: &str, target: IntOrString) -> ServicePort {
        ServicePort {
            name: Some(name.into()),
            port: 80,
            target_port: Some(target),
            protocol: Some("TCP".into()),
            ..Default::default()
        }
    }

    #[test]
    fn ready_and_not_ready_pods_share_a_subset_when_ports_match() {
        let s = svc(vec![port("web", IntOrString::String("http".into()))]);
        let pods = vec![
            pod("a", "10.244.0.2", true, Some(8080)),
            pod("b", "10.244.0.3", false, Some(8080)),
            pod("c", "10.244.0.4", true, Some(8080)),
        ];
        let subsets = desired(&s, &pods);
        assert_eq!(subsets.len(), 1);
        assert_eq!(
            ips(&subsets[0], true),
            ["10.244.0.2", "10.244.0.4"].map(String::from).into()
        );
        assert_eq!(ips(&subsets[0], false), ["10.244.0.3".to_string()].into());
        let ports = subsets[0].ports.as_ref().unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].port, 8080);
        assert_eq!(ports[0].name.as_deref(), Some("web"));
        let a = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(a.node_name.as_deref(), Some("n1"));
        assert_eq!(a.target_ref.as_ref().unwrap().name.as_deref(), Some("a"));
    }

    #[test]
    fn different_resolved_ports_split_subsets() {
        let s = svc(vec![
            port("web", IntOrString::String("http".into())),
            port("metrics", IntOrString::Int(9090)),
        ]);
        let pods = vec![
            pod("a", "10.244.0.2", true, Some(8080)),
            pod("b", "10.244.0.3", true, Some(8081)),
            // No "http" port: only an endpoint for metrics.
            pod("c", "10.244.0.4", true, None),
        ];
        let subsets = desired(&s, &pods);
        // metrics is served by all three; a's 8080, b's 8081 each only by one pod.
        let find = |p: i32| {
            subsets
                .iter()
                .find(|s| s.ports.as_ref().unwrap().iter().any(|x| x.port == p))
                .unwrap()
        };
        assert_eq!(find(9090).addresses.as_ref().unwrap().len(), 3);
        assert_eq!(ips(find(8080), true), ["10.244.0.2".to_string()].into());
        assert_eq!(ips(find(8081), true), ["10.244.0.3".to_string()].into());
        assert_eq!(subsets.len(), 3);
    }

    #[test]
    fn terminating_and_ipless_pods_and_publish_not_ready() {
        let mut s = svc(vec![port("web", IntOrString::Int(80))]);
        let mut gone = (*pod("t", "10.244.0.9", true, None)).clone();
        gone.deleting = true;
        let pods = vec![
            Arc::new(gone),
            pod("u", "10.244.0.8", false, None),
            Arc::new(PodInfo {
                ips: vec![],
                ..(*pod("x", "", true, None)).clone()
            }),
        ];
        let subsets = desired(&s, &pods);
        assert_eq!(subsets.len(), 1);
        assert!(subsets[0].addresses.is_none());
        assert_eq!(ips(&subsets[0], false), ["10.244.0.8".to_string()].into());
        s.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
        let subsets = desired(&s, &pods);
        assert_eq!(
            ips(&subsets[0], true),
            ["10.244.0.8", "10.244.0.9"].map(String::from).into()
        );
    }

    #[test]
    fn headless_without_ports_lists_addresses_without_ports() {
        let mut s = svc(vec![]);
        s.spec.as_mut().unwrap().cluster_ip = Some("None".into());
        let subsets = desired(&s, &[pod("a", "10.244.0.2", true, None)]);
        assert_eq!(subsets.len(), 1);
        assert!(subsets[0].ports.is_none());
        // A non-headless service without ports gets nothing.
        let s = svc(vec![]);
        assert!(desired(&s, &[pod("a", "10.244.0.2", true, None)]).is_empty());
    }

    #[test]
    fn truncation_keeps_ready_first() {
        let addr = |i: usize| EndpointAddress {
            ip: format!("10.0.{}.{}", i / 250, i % 250),
            ..Default::default()
        };
        let mut subsets = vec![
            EndpointSubset {
                addresses: Some((0..600).map(addr).collect()),
                not_ready_addresses: Some((600..1000).map(addr).collect()),
                ports: None,
            },
            EndpointSubset {
                addresses: Some((1000..1200).map(addr).collect()),
                not_ready_addresses: Some((1200..1400).map(addr).collect()),
                ports: None,
            },
        ];
        assert!(truncate(&mut subsets));
        let (ready, not_ready) = count(&subsets);
        assert_eq!(ready, 800);
        assert_eq!(not_ready, 200);
        assert!(!truncate(&mut subsets));
    }
}
