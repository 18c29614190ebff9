//! The proxy's view of the world at one instant: every service port with its endpoints,
//! already reduced to plain values so rendering needs no Kubernetes types.

use std::fmt;
use std::net::Ipv4Addr;

/// Everything `render` needs: the node's settings plus every IPv4 service port.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Name of our nft table (family `ip`).
    pub table: String,
    /// Pod network; traffic to ClusterIPs from outside it is masqueraded. None: no such rule.
    pub cluster_cidr: Option<String>,
    /// Addresses NodePorts answer on; empty means every local address.
    pub node_ips: Vec<Ipv4Addr>,
    /// NodePorts also answer on 127.0.0.1 (needs route_localnet).
    pub localhost_nodeports: bool,
    pub services: Vec<ServicePort>,
}

impl Snapshot {
    pub fn new(table: &str) -> Self {
        Snapshot {
            table: table.to_string(),
            cluster_cidr: None,
            node_ips: Vec::new(),
            localhost_nodeports: true,
            services: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// Kubernetes spelling ("TCP"); unknown values yield None so the port is skipped.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// nft spelling ("tcp").
    pub fn nft(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.nft())
    }
}

/// One port of one service, with the endpoints its EndpointSlices list for that port.
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePort {
    pub namespace: String,
    pub name: String,
    /// The service port's name ("" for an unnamed single port).
    pub port_name: String,
    pub protocol: Protocol,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    pub node_port: Option<u16>,
    /// spec.externalIPs plus load balancer ingress IPs: treated as external traffic.
    pub external_ips: Vec<Ipv4Addr>,
    /// sessionAffinity ClientIP: the timeout in seconds.
    pub affinity_timeout: Option<u32>,
    /// externalTrafficPolicy: Local.
    pub external_local: bool,
    /// internalTrafficPolicy: Local.
    pub internal_local: bool,
    pub endpoints: Vec<Endpoint>,
}

impl ServicePort {
    /// A name unique per service port, usable inside nft identifiers. A port without a
    /// name uses its number; a port name always holds a letter so the two cannot clash.
    pub fn key(&self) -> String {
        let port = if self.port_name.is_empty() {
            self.port.to_string()
        } else {
            self.port_name.clone()
        };
        format!(
            "{}/{}/{}/{}",
            self.namespace, self.name, self.protocol, port
        )
    }

    /// Endpoints cluster-wide traffic may use: the ready ones, or, when none is ready,
    /// the ones still serving while terminating (so a rolling update does not drop traffic).
    pub fn cluster_endpoints(&self) -> Vec<&Endpoint> {
        usable(self.endpoints.iter())
    }

    /// The same choice restricted to endpoints on this node.
    pub fn local_endpoints(&self) -> Vec<&Endpoint> {
        usable(self.endpoints.iter().filter(|e| e.local))
    }
}

fn usable<'a>(eps: impl Iterator<Item = &'a Endpoint> + Clone) -> Vec<&'a Endpoint> {
    let ready: Vec<&Endpoint> = eps.clone().filter(|e| e.ready).collect();
    if !ready.is_empty() {
        return ready;
    }
    eps.filter(|e| e.serving && e.terminating).collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    /// The endpoint's nodeName is this node.
    pub local: bool,
}

impl Endpoint {
    /// A ready, serving, non-terminating endpoint.
    pub fn ready(ip: Ipv4Addr, port: u16) -> Self {
        Endpoint {
            ip,
            port,
            ready: true,
            serving: true,
            terminating: false,
            local: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(eps: Vec<Endpoint>) -> ServicePort {
        ServicePort {
            namespace: "ns".into(),
            name: "web".into(),
            port_name: String::new(),
            protocol: Protocol::Tcp,
            cluster_ip: Ipv4Addr::new(10, 96, 0, 5),
            port: 80,
            node_port: None,
            external_ips: vec![],
            affinity_timeout: None,
            external_local: false,
            internal_local: false,
            endpoints: eps,
        }
    }

    fn ep(last: u8, ready: bool, serving: bool, terminating: bool, local: bool) -> Endpoint {
        Endpoint {
            ip: Ipv4Addr::new(10, 244, 0, last),
            port: 8080,
            ready,
            serving,
            terminating,
            local,
        }
    }

    #[test]
    fn terminating_endpoints_only_when_none_ready() {
        let s = sp(vec![
            ep(1, true, true, false, false),
            ep(2, false, true, true, false),
        ]);
        let ips: Vec<_> = s.cluster_endpoints().iter().map(|e| e.ip).collect();
        assert_eq!(ips, vec![Ipv4Addr::new(10, 244, 0, 1)]);

        let s = sp(vec![
            ep(1, false, false, false, false),
            ep(2, false, true, true, false),
            ep(3, false, false, true, false),
        ]);
        let ips: Vec<_> = s.cluster_endpoints().iter().map(|e| e.ip).collect();
        assert_eq!(ips, vec![Ipv4Addr::new(10, 244, 0, 2)]);
    }

    #[test]
    fn local_endpoints_fall_back_independently() {
        let s = sp(vec![
            ep(1, true, true, false, false),
            ep(2, false, true, true, true),
        ]);
        let local: Vec<_> = s.local_endpoints().iter().map(|e| e.ip).collect();
        assert_eq!(local, vec![Ipv4Addr::new(10, 244, 0, 2)]);
        assert_eq!(s.cluster_endpoints().len(), 1);
    }

    #[test]
    fn key_uses_port_number_when_unnamed() {
        let mut s = sp(vec![]);
        assert_eq!(s.key(), "ns/web/tcp/80");
        s.port_name = "http".into();
        assert_eq!(s.key(), "ns/web/tcp/http");
    }
}
