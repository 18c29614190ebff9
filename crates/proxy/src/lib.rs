//! kube-proxy on nftables.
//!
//! Watches Services and EndpointSlices and keeps one nft table of our own (family `ip`)
//! in step with them: ClusterIP / external IP / NodePort DNAT to a uniformly random ready
//! endpoint, ClientIP session affinity, traffic policies Local, fast rejection of services
//! without endpoints, masquerading for hairpin and off-cluster clients. Every sync is a
//! single `nft -f -` transaction; no other table is ever touched.
//!
//! The rule layout is a pure function of a [`Snapshot`] ([`render`], [`build`]), so it is
//! tested without root; [`Proxier`] applies it (full first, then minimal updates).

mod conntrack;
mod kube_snapshot;
pub mod metrics;
mod model;
pub mod nft;
mod proxier;
mod render;
mod watch;

#[cfg(test)]
mod render_tests;

use std::net::IpAddr;
use std::time::Duration;

pub use conntrack::{stale_flows, Flush};
pub use kube_snapshot::service_ports;
pub use metrics::{ProxyMetrics, Summary};
pub use model::{Endpoint, Protocol, ServicePort, Snapshot};
pub use proxier::{Proxier, SyncOutcome};
pub use render::{build, render, MASQ_MARK};
pub use watch::run;

/// Default table name.
pub const DEFAULT_TABLE: &str = "rkube-proxy";

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{0}")]
    Nft(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("watching {what}: {message}")]
    Watch { what: &'static str, message: String },
}

pub type Result<T, E = ProxyError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// This node's name: endpoints whose nodeName matches are local.
    pub node_name: String,
    /// Addresses NodePorts answer on (IPv4 ones are used); empty: every local address.
    pub node_ips: Vec<IpAddr>,
    /// Pod network CIDR (e.g. "10.244.0.0/16"); traffic from outside it to a ClusterIP is
    /// masqueraded. Empty: no such rule.
    pub cluster_cidr: String,
    /// At most one sync per this period; changes arriving meanwhile are batched.
    pub min_sync_period: Duration,
    /// Our nft table (family ip).
    pub table: String,
    /// NodePorts also answer on 127.0.0.1 (sets net.ipv4.conf.all.route_localnet=1).
    pub nodeport_addresses_localhost: bool,
    /// Where sync duration and programming latency are recorded.
    pub metrics: ProxyMetrics,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            node_name: String::new(),
            node_ips: Vec::new(),
            cluster_cidr: String::new(),
            min_sync_period: Duration::from_millis(50),
            table: DEFAULT_TABLE.to_string(),
            nodeport_addresses_localhost: true,
            metrics: ProxyMetrics::new(),
        }
    }
}

/// Deletes our table (both families) and everything in it. Succeeds if it did not exist.
pub fn cleanup(table: &str) -> Result<()> {
    // `add` first: deleting a missing table would fail the whole transaction.
    let script = format!(
        "add table ip {table}\ndelete table ip {table}\nadd table ip6 {table}\ndelete table ip6 {table}\n"
    );
    nft::apply(&script)
}

const ROUTE_LOCALNET: &str = "/proc/sys/net/ipv4/conf/all/route_localnet";

/// Lets DNATed packets keep a 127.0.0.1 source long enough to be masqueraded, which
/// localhost NodePorts need (upstream's iptables mode sets the same switch).
pub fn enable_route_localnet() -> Result<()> {
    std::fs::write(ROUTE_LOCALNET, "1").map_err(|source| ProxyError::Io {
        what: format!("writing {ROUTE_LOCALNET}"),
        source,
    })
}
