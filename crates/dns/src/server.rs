//! UDP and TCP listeners around the [`Handler`].

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cache::{self, AnswerCache};
use crate::forward::Forwarder;
use crate::wire::{self, Outcome};
use crate::zone::Zone;
use crate::{Error, Result};

/// A TCP client that says nothing for this long is hung up on.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Largest UDP datagram we accept.
const UDP_BUF: usize = 4096;
/// Attempts to find a port free for both UDP and TCP when asked for port 0.
const PORT_TRIES: usize = 20;
/// Upstream exchanges in flight per UDP socket; beyond it queries are dropped (clients
/// retry) rather than piling up tasks behind a slow upstream.
const MAX_FORWARDS: usize = 1024;

/// Answers raw DNS requests: from the zone when the name is ours, else upstream.
#[derive(Clone, Debug)]
pub struct Handler {
    zone: Zone,
    forwarder: Arc<Forwarder>,
    cache: Option<Arc<AnswerCache>>,
}

impl Handler {
    pub fn new(zone: Zone, forwarder: Forwarder) -> Self {
        Self {
            zone,
            forwarder: Arc::new(forwarder),
            cache: Some(Arc::new(AnswerCache::default())),
        }
    }

    /// Without the answer cache: every question is decoded, looked up and encoded
    /// (benchmarks of the uncached path).
    pub fn without_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// The reply to one raw request (`udp`: sized for a UDP client), or `None` when the
    /// request deserves no answer.
    pub async fn respond(&self, raw: &[u8], udp: bool) -> Option<Vec<u8>> {
        match self.answer_local(raw, udp) {
            Ok(reply) => reply,
            Err(pending) => self.answer_remote(raw, udp, pending).await,
        }
    }

    /// The synchronous part: `Ok` when answered without I/O, `Err` with the pending
    /// upstream work otherwise. Split out so the UDP loop answers zone names inline.
    fn answer_local(&self, raw: &[u8], udp: bool) -> Result<Option<Vec<u8>>, Pending> {
        let key = self.cache.as_ref().and_then(|_| cache::key(raw, udp));
        // Read before answering: an answer is only as new as the version seen first.
        let version = self.zone.version();
        if let (Some(key), Some(cache)) = (&key, &self.cache) {
            if let Some(hit) = cache.get(key, version, [raw[0], raw[1]]) {
                return Ok(Some(hit));
            }
        }
        let (outcome, req) = wire::handle(&self.zone, raw, udp);
        match (outcome, req) {
            (Outcome::Reply(bytes), _) => {
                if let (Some(key), Some(cache)) = (key, &self.cache) {
                    cache.insert(key, version, &bytes);
                }
                Ok(Some(bytes))
            }
            (Outcome::Drop, _) => Ok(None),
            (Outcome::Forward, Some(req)) => Err(Pending::Forward(Box::new(req))),
            (
                Outcome::Chase {
                    response,
                    target,
                    qtype,
                },
                Some(req),
            ) => Err(Pending::Chase {
                req: Box::new(req),
                response,
                target,
                qtype,
            }),
            (_, None) => Ok(None),
        }
    }

    async fn answer_remote(&self, raw: &[u8], udp: bool, pending: Pending) -> Option<Vec<u8>> {
        match pending {
            Pending::Forward(req) => {
                // Belt and braces: the zone is authoritative, its names never leave us.
                if req.queries.iter().any(|q| self.zone.contains(q.name())) {
                    return wire::servfail(&req, udp);
                }
                let limit = udp.then(|| wire::udp_limit(&req));
                match self.forwarder.forward(raw, limit).await {
                    Some(answer) => Some(answer),
                    None => wire::servfail(&req, udp),
                }
            }
            Pending::Chase {
                req,
                mut response,
                target,
                qtype,
            } => {
                let upstream = self.forwarder.resolve(target, qtype).await;
                wire::append_chased(&mut response, upstream);
                let limit = if udp {
                    wire::udp_limit(&req)
                } else {
                    wire::TCP_MAX
                };
                wire::encode(&response, limit)
            }
        }
    }
}

enum Pending {
    Forward(Box<hickory_proto::op::Message>),
    Chase {
        req: Box<hickory_proto::op::Message>,
        response: Box<hickory_proto::op::Message>,
        target: hickory_proto::rr::Name,
        qtype: hickory_proto::rr::RecordType,
    },
}

/// Running listeners; dropping it stops them.
pub struct Server {
    addrs: Vec<SocketAddr>,
    tasks: JoinSet<Result<()>>,
}

/// Binds UDP and TCP on the same address; for port 0 retries until both get one port.
async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..PORT_TRIES {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let bound = udp.local_addr()?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 && e.kind() == ErrorKind::AddrInUse => last = Some(e),
            Err(source) => {
                return Err(Error::Bind {
                    addr: bound,
                    source,
                })
            }
        }
    }
    Err(Error::Bind {
        addr,
        source: last.unwrap_or_else(|| ErrorKind::AddrInUse.into()),
    })
}

impl Server {
    /// Binds every listen address (UDP + TCP) and starts serving.
    pub async fn start(zone: Zone, forwarder: Forwarder, listen: &[SocketAddr]) -> Result<Self> {
        Self::start_with(Handler::new(zone, forwarder), listen, udp_workers()).await
    }

    /// Like [`Server::start`] with an explicit number of UDP receive tasks per socket.
    pub async fn start_with(
        handler: Handler,
        listen: &[SocketAddr],
        workers: usize,
    ) -> Result<Self> {
        if listen.is_empty() {
            return Err(Error::Config("no DNS listen address".into()));
        }
        let mut tasks = JoinSet::new();
        let mut addrs = Vec::new();
        for addr in listen {
            let (udp, tcp) = bind_pair(*addr).await?;
            addrs.push(udp.local_addr()?);
            let udp = Arc::new(udp);
            let forwards = Arc::new(Semaphore::new(MAX_FORWARDS));
            for _ in 0..workers.max(1) {
                tasks.spawn(udp_loop(udp.clone(), handler.clone(), forwards.clone()));
            }
            tasks.spawn(tcp_loop(tcp, handler.clone()));
        }
        Ok(Self { addrs, tasks })
    }

    /// The bound addresses (UDP and TCP share each one).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Waits until a listener fails.
    pub async fn wait(mut self) -> Result<()> {
        while let Some(done) = self.tasks.join_next().await {
            match done {
                Ok(Err(e)) => return Err(e),
                Ok(Ok(())) => {}
                Err(e) => return Err(Error::Io(std::io::Error::other(e))),
            }
        }
        Ok(())
    }
}

fn udp_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

async fn udp_loop(
    socket: Arc<UdpSocket>,
    handler: Handler,
    forwards: Arc<Semaphore>,
) -> Result<()> {
    let mut buf = vec![0u8; UDP_BUF];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            // ICMP errors from earlier replies surface here on some systems; not fatal.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => continue,
            Err(e) => return Err(Error::Io(e)),
        };
        let raw = &buf[..n];
        match handler.answer_local(raw, true) {
            Ok(Some(reply)) => {
                if let Err(e) = socket.send_to(&reply, peer).await {
                    tracing::debug!(%peer, error = %e, "dns udp send");
                }
            }
            Ok(None) => {}
            Err(pending) => {
                let Ok(permit) = forwards.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "dns forward limit reached; dropping query");
                    continue;
                };
                // Upstream round trips take milliseconds; keep them off the receive loop.
                let (socket, handler, raw) = (socket.clone(), handler.clone(), raw.to_vec());
                tokio::spawn(async move {
                    if let Some(reply) = handler.answer_remote(&raw, true, pending).await {
                        let _ = socket.send_to(&reply, peer).await;
                    }
                    drop(permit);
                });
            }
        }
    }
}

async fn tcp_loop(listener: TcpListener, handler: Handler) -> Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "dns tcp accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let _ = tcp_conn(stream, handler).await;
        });
    }
}

async fn tcp_conn(mut stream: TcpStream, handler: Handler) -> std::io::Result<()> {
    loop {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Ok(Ok(len)) => usize::from(len),
            _ => return Ok(()),
        };
        let mut buf = vec![0u8; len];
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(ErrorKind::TimedOut))??;
        let Some(reply) = handler.respond(&buf, false).await else {
            continue;
        };
        let Ok(n) = u16::try_from(reply.len()) else {
            continue;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&n.to_be_bytes());
        framed.extend_from_slice(&reply);
        stream.write_all(&framed).await?;
    }
}
