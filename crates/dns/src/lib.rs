//! Cluster DNS: an authoritative server for the cluster domain answering from an
//! in-memory index of Services and EndpointSlices (kept current by watches), forwarding
//! every other name to the host's resolvers.
//!
//! Layers, bottom up: [`Index`] (what exists), [`Zone`] (question → answer),
//! [`Server`] (UDP/TCP wire handling and forwarding), [`run`] (watches + server).

mod cache;
pub mod fixtures;
mod forward;
mod index;
mod resolv;
mod server;
mod watch;
mod wire;
mod zone;

use std::net::SocketAddr;
use std::time::Duration;

pub use forward::Forwarder;
pub use index::{dashed_ip, Index, Kind, PortSpec, PtrTarget, Resolved, ResolvedEndpoint};
pub use resolv::{parse_resolv_conf, system_upstreams};
pub use server::{Handler, Server};
pub use zone::{Answer, Zone, SCHEMA_VERSION};

/// Errors of the DNS server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid DNS configuration: {0}")]
    Config(String),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("watching {kind}: {message}")]
    Watch { kind: &'static str, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Configuration of the cluster DNS server.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// Addresses to serve on; each gets a UDP and a TCP listener.
    pub listen: Vec<SocketAddr>,
    /// The cluster domain, e.g. "cluster.local".
    pub cluster_domain: String,
    /// Resolvers for names outside the cluster domain.
    pub upstream: Vec<SocketAddr>,
    /// TTL of every record served from the index (and the negative-caching TTL).
    pub ttl: u32,
}

impl DnsConfig {
    /// Defaults: cluster.local, TTL 30 (as CoreDNS), upstreams from /etc/resolv.conf
    /// minus our own listen addresses (forwarding to ourselves would loop).
    pub fn new(listen: Vec<SocketAddr>) -> Self {
        let upstream = system_upstreams(&listen);
        Self {
            listen,
            cluster_domain: "cluster.local".to_string(),
            upstream,
            ttl: 30,
        }
    }
}

/// How long [`run`] waits for the first full lists before serving anyway (as CoreDNS:
/// answering NXDOMAIN for Services that merely have not been listed yet would be cached
/// by clients).
const SYNC_WAIT: Duration = Duration::from_secs(5);

/// Serves cluster DNS until the listeners or the watches fail for good.
pub async fn run(client: kube::Client, config: DnsConfig) -> Result<()> {
    let zone = Zone::new(&config.cluster_domain, config.ttl)?;
    let upstream: Vec<SocketAddr> = config
        .upstream
        .iter()
        .filter(|u| !config.listen.contains(u))
        .copied()
        .collect();
    let (synced_tx, mut synced_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watches = tokio::spawn(watch::run(client, zone.clone(), synced_tx));
    let wait_sync = async {
        let mut kinds = std::collections::HashSet::new();
        while kinds.len() < 2 {
            match synced_rx.recv().await {
                Some(kind) => kinds.insert(kind),
                None => break,
            };
        }
    };
    if tokio::time::timeout(SYNC_WAIT, wait_sync).await.is_err() {
        tracing::warn!("cluster DNS starting before Services/EndpointSlices were listed");
    }
    let server = Server::start(zone, Forwarder::new(upstream), &config.listen).await?;
    tracing::info!(listen = ?server.local_addrs(), domain = %config.cluster_domain, "cluster DNS serving");
    tokio::select! {
        r = &mut watches => match r {
            Ok(r) => r,
            Err(e) => Err(Error::Watch { kind: "all", message: e.to_string() }),
        },
        r = server.wait() => {
            watches.abort();
            r
        }
    }
}
