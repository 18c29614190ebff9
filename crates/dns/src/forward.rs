//! Relaying questions outside the cluster zone to upstream resolvers.

use std::hash::{BuildHasher, RandomState};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::wire;

/// Per-upstream wait before trying the next one.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// Upstream resolvers, tried in order.
#[derive(Clone, Debug)]
pub struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
}

static ID_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An unpredictable message id (so an off-path sender cannot guess our question's id).
fn random_id() -> u16 {
    let n = ID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (RandomState::new().hash_one((n, nanos)) & 0xffff) as u16
}

fn unspecified_for(addr: &SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

fn id_of(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

fn is_truncated(bytes: &[u8]) -> bool {
    bytes.get(2).is_some_and(|f| f & 0x02 != 0)
}

fn set_id(bytes: &mut [u8], id: u16) {
    if bytes.len() >= 2 {
        bytes[..2].copy_from_slice(&id.to_be_bytes());
    }
}

impl Forwarder {
    pub fn new(upstreams: Vec<SocketAddr>) -> Self {
        Self {
            upstreams,
            timeout: UPSTREAM_TIMEOUT,
        }
    }

    /// Shorter per-upstream wait (tests).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// Relays a raw query and returns the raw answer carrying the query's own id, or
    /// `None` when no upstream answered. `udp_limit` is the client's UDP size limit
    /// (`None` for a TCP client): an answer fetched over TCP after truncation is returned
    /// only if it fits, otherwise the truncated one goes back so the client retries over
    /// TCP.
    pub async fn forward(&self, query: &[u8], udp_limit: Option<usize>) -> Option<Vec<u8>> {
        let client_id = id_of(query)?;
        for upstream in &self.upstreams {
            let id = random_id();
            let mut out = query.to_vec();
            set_id(&mut out, id);
            let answer = match self.udp_exchange(*upstream, &out, id).await {
                Some(a) if is_truncated(&a) => match self.tcp_exchange(*upstream, &out, id).await {
                    Some(full) if udp_limit.is_none_or(|l| full.len() <= l) => Some(full),
                    _ => Some(a),
                },
                other => other,
            };
            if let Some(mut answer) = answer {
                set_id(&mut answer, client_id);
                return Some(answer);
            }
            tracing::debug!(%upstream, "upstream resolver did not answer");
        }
        None
    }

    /// Resolves `name`/`qtype` upstream (for ExternalName targets).
    pub async fn resolve(&self, name: Name, qtype: RecordType) -> Option<Message> {
        let query = wire::query_for(name, qtype, random_id()).to_vec().ok()?;
        let answer = self.forward(&query, None).await?;
        Message::from_vec(&answer).ok()
    }

    async fn udp_exchange(&self, upstream: SocketAddr, query: &[u8], id: u16) -> Option<Vec<u8>> {
        let socket = UdpSocket::bind(unspecified_for(&upstream)).await.ok()?;
        socket.connect(upstream).await.ok()?;
        socket.send(query).await.ok()?;
        let mut buf = vec![0u8; 65535];
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let n = tokio::time::timeout_at(deadline, socket.recv(&mut buf))
                .await
                .ok()?
                .ok()?;
            // A stray datagram with another id is not our answer; keep waiting.
            if n >= 12 && id_of(&buf[..n]) == Some(id) && buf[2] & 0x80 != 0 {
                buf.truncate(n);
                return Some(buf);
            }
        }
    }

    async fn tcp_exchange(&self, upstream: SocketAddr, query: &[u8], id: u16) -> Option<Vec<u8>> {
        let exchange = async {
            let mut stream = TcpStream::connect(upstream).await.ok()?;
            let len = u16::try_from(query.len()).ok()?;
            let mut framed = Vec::with_capacity(query.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(query);
            stream.write_all(&framed).await.ok()?;
            let len = stream.read_u16().await.ok()?;
            let mut buf = vec![0u8; usize::from(len)];
            stream.read_exact(&mut buf).await.ok()?;
            (id_of(&buf) == Some(id)).then_some(buf)
        };
        timeout(self.timeout, exchange).await.ok()?
    }
}
