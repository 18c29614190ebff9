//! UDP has no connection teardown, so conntrack keeps steering a client's datagrams to an
//! endpoint that is gone (or, for a service that just got endpoints, keeps them un-NATed).
//! After each sync we delete those entries with the `conntrack` tool (Debian package
//! `conntrack`); without it we log once and carry on.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::{Protocol, ServicePort, Snapshot};

/// One `conntrack -D` filter over UDP flows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flush {
    /// Original destination address; None for NodePorts (any local address).
    pub orig_dst: Option<Ipv4Addr>,
    pub orig_port: u16,
    /// Only flows DNATed to this address; None: every flow to the destination.
    pub dst_nat: Option<Ipv4Addr>,
}

impl Flush {
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["-D".into(), "-p".into(), "udp".into()];
        if let Some(ip) = self.orig_dst {
            a.extend(["--orig-dst".into(), ip.to_string()]);
        }
        a.extend(["--orig-port-dst".into(), self.orig_port.to_string()]);
        if let Some(ip) = self.dst_nat {
            a.extend(["--dst-nat".into(), ip.to_string()]);
        }
        a
    }
}

/// Destinations (address or None for NodePort, port) through which a service port is reached.
fn destinations(sp: &ServicePort) -> Vec<(Option<Ipv4Addr>, u16)> {
    let mut d = vec![(Some(sp.cluster_ip), sp.port)];
    d.extend(sp.external_ips.iter().map(|ip| (Some(*ip), sp.port)));
    if let Some(np) = sp.node_port {
        d.push((None, np));
    }
    d
}

fn programmed(sp: &ServicePort) -> BTreeSet<Ipv4Addr> {
    let mut s: BTreeSet<Ipv4Addr> = sp.cluster_endpoints().iter().map(|e| e.ip).collect();
    s.extend(sp.local_endpoints().iter().map(|e| e.ip));
    s
}

/// Flows to delete after moving from `old` to `new` (None: first sync, nothing to compare).
pub fn stale_flows(old: Option<&Snapshot>, new: &Snapshot) -> Vec<Flush> {
    let Some(old) = old else { return Vec::new() };
    let udp = |s: &'_ Snapshot| -> BTreeMap<String, ServicePort> {
        s.services
            .iter()
            .filter(|sp| sp.protocol == Protocol::Udp)
            .map(|sp| (sp.key(), sp.clone()))
            .collect()
    };
    let (before, after) = (udp(old), udp(new));
    let mut out = BTreeSet::new();
    for (key, sp_old) in &before {
        let old_eps = programmed(sp_old);
        let new_eps = after.get(key).map(programmed).unwrap_or_default();
        for ip in old_eps.difference(&new_eps) {
            for (dst, port) in destinations(sp_old) {
                out.insert(Flush {
                    orig_dst: dst,
                    orig_port: port,
                    dst_nat: Some(*ip),
                });
            }
        }
    }
    for (key, sp_new) in &after {
        let had = before.get(key).is_some_and(|o| !programmed(o).is_empty());
        if !had && !programmed(sp_new).is_empty() {
            for (dst, port) in destinations(sp_new) {
                out.insert(Flush {
                    orig_dst: dst,
                    orig_port: port,
                    dst_nat: None,
                });
            }
        }
    }
    out.into_iter().collect()
}

static MISSING_WARNED: AtomicBool = AtomicBool::new(false);

/// Runs the flushes; failures are logged, never fatal (rules are already correct).
pub fn run(flushes: &[Flush]) {
    for f in flushes {
        let status = Command::new("conntrack")
            .args(f.args())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match status {
            // Exit 1 means "0 flow entries deleted": nothing was stale.
            Ok(s) if s.success() || s.code() == Some(1) => {}
            Ok(s) => tracing::warn!(args = ?f.args(), "conntrack exited with {s}"),
            Err(e) => {
                if !MISSING_WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!("cannot run conntrack ({e}); stale UDP flows are not flushed");
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Endpoint;

    fn udp_svc(eps: &[u8], node_port: Option<u16>) -> ServicePort {
        ServicePort {
            namespace: "kube-system".into(),
            name: "dns".into(),
            port_name: "dns".into(),
            protocol: Protocol::Udp,
            cluster_ip: Ipv4Addr::new(10, 96, 0, 10),
            port: 53,
            node_port,
            external_ips: vec![],
            affinity_timeout: None,
            external_local: false,
            internal_local: false,
            endpoints: eps
                .iter()
                .map(|l| Endpoint::ready(Ipv4Addr::new(10, 244, 0, *l), 5353))
                .collect(),
        }
    }

    fn snap(services: Vec<ServicePort>) -> Snapshot {
        Snapshot {
            services,
            ..Snapshot::new("t")
        }
    }

    #[test]
    fn removed_udp_endpoint_is_flushed_for_cluster_ip_and_node_port() {
        let old = snap(vec![udp_svc(&[1, 2], Some(30053))]);
        let new = snap(vec![udp_svc(&[2], Some(30053))]);
        let f = stale_flows(Some(&old), &new);
        let gone = Some(Ipv4Addr::new(10, 244, 0, 1));
        assert_eq!(
            f,
            vec![
                Flush {
                    orig_dst: None,
                    orig_port: 30053,
                    dst_nat: gone
                },
                Flush {
                    orig_dst: Some(Ipv4Addr::new(10, 96, 0, 10)),
                    orig_port: 53,
                    dst_nat: gone
                },
            ]
        );
        assert_eq!(
            f[1].args().join(" "),
            "-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --dst-nat 10.244.0.1"
        );
    }

    #[test]
    fn service_gaining_endpoints_flushes_all_its_flows() {
        let old = snap(vec![udp_svc(&[], None)]);
        let new = snap(vec![udp_svc(&[3], None)]);
        assert_eq!(
            stale_flows(Some(&old), &new),
            vec![Flush {
                orig_dst: Some(Ipv4Addr::new(10, 96, 0, 10)),
                orig_port: 53,
                dst_nat: None
            }]
        );
    }

    #[test]
    fn tcp_and_unchanged_services_need_nothing() {
        let mut tcp_old = udp_svc(&[1], None);
        tcp_old.protocol = Protocol::Tcp;
        let mut tcp_new = tcp_old.clone();
        tcp_new.endpoints.clear();
        let old = snap(vec![tcp_old, udp_svc(&[1], None)]);
        let new = snap(vec![tcp_new, udp_svc(&[1], None)]);
        assert!(stale_flows(Some(&old), &new).is_empty());
        assert!(stale_flows(None, &new).is_empty());
    }
}
