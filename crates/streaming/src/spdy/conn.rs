//! A SPDY/3.1 connection: a reader task that dispatches frames to streams (answering pings and
//! replying to new streams itself) and a writer task that owns the compression context, so
//! header blocks are compressed in exactly the order they reach the wire.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::frame::{self, rst, Frame, FLAG_FIN};
use super::headers::{HeaderCompressor, HeaderDecompressor, Headers};
use super::stream::SpdyStream;
use crate::error::{Error, Result};

/// Frames larger than this are refused (kubectl's are at most 32 KiB).
const MAX_FRAME: usize = 16 << 20;
/// Received bytes after which we return window credit to the peer. SPDY/3.1's initial window
/// is 64 KiB; kubectl's client does not enforce it, but other peers may.
const WINDOW_CREDIT: u32 = 32 * 1024;
/// Buffered data frames per stream before the reader waits for the application.
const STREAM_BUFFER: usize = 64;

#[derive(Debug)]
pub(crate) enum WriterCmd {
    Frame(Frame),
    /// Send GOAWAY and close our side of the transport.
    GoAway(u32),
}

pub(crate) struct Slot {
    data: Option<mpsc::Sender<Bytes>>,
    reply: Option<oneshot::Sender<Headers>>,
    pub(crate) reset: Arc<AtomicBool>,
}

pub(crate) type Streams = Arc<Mutex<HashMap<u32, Slot>>>;

fn lock(streams: &Streams) -> std::sync::MutexGuard<'_, HashMap<u32, Slot>> {
    // A poisoned map only means another task panicked mid-update; the data is still usable.
    streams.lock().unwrap_or_else(|e| e.into_inner())
}

/// One SPDY/3.1 session over an upgraded byte stream.
pub struct SpdyConnection {
    out: mpsc::Sender<WriterCmd>,
    streams: Streams,
    incoming: mpsc::Receiver<SpdyStream>,
    next_id: Arc<AtomicU32>,
}

impl SpdyConnection {
    /// We answered the upgrade: the peer opens odd-numbered streams, ours would be even.
    pub fn server<S>(io: S) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Self::start(io, false)
    }

    /// We sent the upgrade (e.g. towards a kubelet or CRI streaming server): odd stream ids.
    pub fn client<S>(io: S) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Self::start(io, true)
    }

    fn start<S>(io: S, is_client: bool) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (rd, wr) = tokio::io::split(io);
        let (out_tx, out_rx) = mpsc::channel(256);
        let (in_tx, in_rx) = mpsc::channel(16);
        let streams: Streams = Arc::default();
        tokio::spawn(write_loop(wr, out_rx));
        let reader = Reader {
            out: out_tx.downgrade(),
            streams: streams.clone(),
            incoming: Some(in_tx),
            is_client,
            credit: HashMap::new(),
            conn_credit: 0,
        };
        tokio::spawn(reader.run(rd));
        Self {
            out: out_tx,
            streams,
            incoming: in_rx,
            next_id: Arc::new(AtomicU32::new(if is_client { 1 } else { 2 })),
        }
    }

    /// Next stream opened by the peer (already answered with SYN_REPLY); `None` once the peer
    /// sent GOAWAY or the transport ended.
    pub async fn accept(&mut self) -> Option<SpdyStream> {
        self.incoming.recv().await
    }

    /// Opens a stream and waits for the peer's SYN_REPLY.
    pub async fn open_stream(&self, headers: Headers, fin: bool) -> Result<SpdyStream> {
        let id = self.next_id.fetch_add(2, Ordering::Relaxed);
        let (data_tx, data_rx) = mpsc::channel(STREAM_BUFFER);
        let (reply_tx, reply_rx) = oneshot::channel();
        let reset = Arc::new(AtomicBool::new(false));
        lock(&self.streams).insert(
            id,
            Slot {
                data: Some(data_tx),
                reply: Some(reply_tx),
                reset: reset.clone(),
            },
        );
        let syn = Frame::SynStream {
            stream_id: id,
            associated_id: 0,
            priority: 0,
            flags: if fin { FLAG_FIN } else { 0 },
            headers: headers.clone(),
        };
        self.out
            .send(WriterCmd::Frame(syn))
            .await
            .map_err(|_| Error::Closed)?;
        let reply = reply_rx
            .await
            .map_err(|_| Error::Spdy(format!("stream {id} was refused or reset")))?;
        let mut stream = SpdyStream::new(id, headers, data_rx, self.out.clone(), reset);
        stream.set_reply_headers(reply);
        if fin {
            stream.mark_write_closed();
        }
        Ok(stream)
    }

    /// Sends GOAWAY and closes our sending side; open streams can still be read.
    pub async fn goaway(&self) -> Result<()> {
        self.out
            .send(WriterCmd::GoAway(0))
            .await
            .map_err(|_| Error::Closed)
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<WriterCmd>) {
    let mut comp = match HeaderCompressor::new() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "spdy: cannot initialise header compression");
            return;
        }
    };
    let mut buf = BytesMut::new();
    while let Some(cmd) = rx.recv().await {
        // Batch whatever is queued into one write.
        let mut next = Some(cmd);
        let mut stop = false;
        while let Some(cmd) = next.take() {
            let f = match cmd {
                WriterCmd::Frame(f) => f,
                WriterCmd::GoAway(status) => {
                    stop = true;
                    Frame::GoAway {
                        last_good_stream_id: 0,
                        status,
                    }
                }
            };
            if let Err(e) = frame::encode(&f, &mut comp, &mut buf) {
                tracing::debug!(error = %e, "spdy: dropping unencodable frame");
            }
            if stop || buf.len() > 64 * 1024 {
                break;
            }
            next = rx.try_recv().ok();
        }
        if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
            return;
        }
        buf.clear();
        if stop {
            break;
        }
    }
    let _ = wr.shutdown().await;
}

struct Reader {
    out: mpsc::WeakSender<WriterCmd>,
    streams: Streams,
    incoming: Option<mpsc::Sender<SpdyStream>>,
    is_client: bool,
    credit: HashMap<u32, u32>,
    conn_credit: u32,
}

impl Reader {
    async fn run<R: AsyncRead + Unpin>(mut self, mut rd: R) {
        let mut decomp = HeaderDecompressor::new();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            match frame::decode(&mut buf, &mut decomp, MAX_FRAME) {
                Ok(Some(f)) => self.handle(f).await,
                Ok(None) => {
                    buf.reserve(32 * 1024);
                    match rd.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "spdy: protocol error, closing");
                    self.send(WriterCmd::GoAway(1)).await;
                    break;
                }
            }
        }
        // Ending the reader ends every stream's input and the accept queue.
        lock(&self.streams).clear();
    }

    async fn send(&self, cmd: WriterCmd) {
        if let Some(tx) = self.out.upgrade() {
            let _ = tx.send(cmd).await;
        }
    }

    fn peer_initiated(&self, id: u32) -> bool {
        // Clients use odd ids, servers even ones.
        (id % 2 == 1) != self.is_client
    }

    async fn handle(&mut self, f: Frame) {
        let fin = f.is_fin();
        match f {
            Frame::SynStream {
                stream_id, headers, ..
            } => self.on_syn_stream(stream_id, headers, fin).await,
            Frame::SynReply {
                stream_id, headers, ..
            } => {
                let mut map = lock(&self.streams);
                if let Some(slot) = map.get_mut(&stream_id) {
                    if let Some(tx) = slot.reply.take() {
                        let _ = tx.send(headers);
                    }
                    if fin {
                        slot.data = None;
                    }
                }
            }
            Frame::Headers { stream_id, .. } if fin => {
                if let Some(slot) = lock(&self.streams).get_mut(&stream_id) {
                    slot.data = None;
                }
            }
            Frame::Data {
                stream_id, data, ..
            } => self.on_data(stream_id, data, fin).await,
            Frame::RstStream { stream_id, .. } => {
                if let Some(slot) = lock(&self.streams).remove(&stream_id) {
                    slot.reset.store(true, Ordering::Release);
                }
                self.credit.remove(&stream_id);
            }
            Frame::Ping { id } => {
                if self.peer_initiated(id) {
                    self.send(WriterCmd::Frame(Frame::Ping { id })).await;
                }
            }
            Frame::GoAway { .. } => self.incoming = None,
            // Send windows are not enforced (see WINDOW_CREDIT); settings carry nothing we use.
            Frame::Settings { .. }
            | Frame::WindowUpdate { .. }
            | Frame::Headers { .. }
            | Frame::Unknown { .. } => {}
        }
    }

    async fn on_syn_stream(&mut self, id: u32, headers: Headers, fin: bool) {
        if id == 0 || !self.peer_initiated(id) {
            self.rst(id, rst::PROTOCOL_ERROR).await;
            return;
        }
        let Some(incoming) = self.incoming.clone() else {
            self.rst(id, rst::REFUSED_STREAM).await;
            return;
        };
        let (data_tx, data_rx) = mpsc::channel(STREAM_BUFFER);
        let reset = Arc::new(AtomicBool::new(false));
        let in_use = {
            let mut map = lock(&self.streams);
            let in_use = map.contains_key(&id);
            if !in_use {
                map.insert(
                    id,
                    Slot {
                        data: if fin { None } else { Some(data_tx) },
                        reply: None,
                        reset: reset.clone(),
                    },
                );
            }
            in_use
        };
        if in_use {
            self.rst(id, rst::STREAM_IN_USE).await;
            return;
        }
        let Some(out) = self.out.upgrade() else {
            return;
        };
        // Reply before handing the stream out so the SYN_REPLY precedes any data we send on it.
        let reply = Frame::SynReply {
            stream_id: id,
            flags: 0,
            headers: Headers::new(),
        };
        if out.send(WriterCmd::Frame(reply)).await.is_err() {
            return;
        }
        let stream = SpdyStream::new(id, headers, data_rx, out, reset);
        if incoming.send(stream).await.is_err() {
            lock(&self.streams).remove(&id);
            self.rst(id, rst::REFUSED_STREAM).await;
        }
    }

    async fn on_data(&mut self, id: u32, data: Bytes, fin: bool) {
        let len = data.len() as u32;
        let tx = {
            let mut map = lock(&self.streams);
            let Some(slot) = map.get_mut(&id) else {
                // Data for a stream already reset or finished: drop it quietly.
                return;
            };
            if fin {
                slot.data.take()
            } else {
                slot.data.clone()
            }
        };
        if let Some(tx) = tx {
            if !data.is_empty() && tx.send(data).await.is_err() {
                // Nobody reads this stream any more; keep the connection flowing.
                tracing::trace!(stream = id, "spdy: discarding data for dropped stream");
            }
        }
        if len > 0 {
            self.give_credit(id, len, fin).await;
        }
    }

    async fn give_credit(&mut self, id: u32, len: u32, fin: bool) {
        self.conn_credit += len;
        let stream_credit = self.credit.entry(id).or_default();
        *stream_credit += len;
        let stream_due =
            (!fin && *stream_credit >= WINDOW_CREDIT).then(|| std::mem::take(stream_credit));
        if fin {
            self.credit.remove(&id);
        }
        if let Some(delta) = stream_due {
            self.send(WriterCmd::Frame(Frame::WindowUpdate {
                stream_id: id,
                delta,
            }))
            .await;
        }
        if self.conn_credit >= WINDOW_CREDIT {
            let delta = std::mem::take(&mut self.conn_credit);
            self.send(WriterCmd::Frame(Frame::WindowUpdate {
                stream_id: 0,
                delta,
            }))
            .await;
        }
    }

    async fn rst(&self, stream_id: u32, status: u32) {
        self.send(WriterCmd::Frame(Frame::RstStream { stream_id, status }))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn write_frame(io: &mut tokio::io::DuplexStream, comp: &mut HeaderCompressor, f: Frame) {
        let mut out = BytesMut::new();
        frame::encode(&f, comp, &mut out).unwrap();
        io.write_all(&out).await.unwrap();
    }

    async fn read_frame(
        io: &mut tokio::io::DuplexStream,
        buf: &mut BytesMut,
        d: &mut HeaderDecompressor,
    ) -> Option<Frame> {
        loop {
            if let Some(f) = frame::decode(buf, d, 1 << 20).unwrap() {
                return Some(f);
            }
            if io.read_buf(buf).await.unwrap() == 0 {
                return None;
            }
        }
    }

    #[tokio::test]
    async fn rejects_bad_stream_ids_and_reports_resets() {
        let (mut c, s) = tokio::io::duplex(1 << 16);
        let mut conn = SpdyConnection::server(s);
        let mut comp = HeaderCompressor::new().unwrap();
        let mut d = HeaderDecompressor::new();
        let mut buf = BytesMut::new();
        let syn = |id| Frame::SynStream {
            stream_id: id,
            associated_id: 0,
            priority: 0,
            flags: 0,
            headers: Headers::new().with("streamtype", "data"),
        };
        // Even ids belong to the server.
        write_frame(&mut c, &mut comp, syn(2)).await;
        assert_eq!(
            read_frame(&mut c, &mut buf, &mut d).await,
            Some(Frame::RstStream {
                stream_id: 2,
                status: rst::PROTOCOL_ERROR
            })
        );
        write_frame(&mut c, &mut comp, syn(1)).await;
        let mut s1 = conn.accept().await.unwrap();
        assert!(matches!(
            read_frame(&mut c, &mut buf, &mut d).await,
            Some(Frame::SynReply { stream_id: 1, .. })
        ));
        write_frame(&mut c, &mut comp, syn(1)).await;
        assert_eq!(
            read_frame(&mut c, &mut buf, &mut d).await,
            Some(Frame::RstStream {
                stream_id: 1,
                status: rst::STREAM_IN_USE
            })
        );
        write_frame(
            &mut c,
            &mut comp,
            Frame::RstStream {
                stream_id: 1,
                status: rst::CANCEL,
            },
        )
        .await;
        let mut sink = Vec::new();
        let err = s1.read_to_end(&mut sink).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        assert!(s1.write_all(b"x").await.is_err());
        // GOAWAY ends the accept queue.
        write_frame(
            &mut c,
            &mut comp,
            Frame::GoAway {
                last_good_stream_id: 1,
                status: 0,
            },
        )
        .await;
        assert!(conn.accept().await.is_none());
    }

    #[tokio::test]
    async fn returns_window_credit_for_large_uploads() {
        let (mut c, s) = tokio::io::duplex(1 << 20);
        let mut conn = SpdyConnection::server(s);
        let mut comp = HeaderCompressor::new().unwrap();
        let mut d = HeaderDecompressor::new();
        let mut buf = BytesMut::new();
        write_frame(
            &mut c,
            &mut comp,
            Frame::SynStream {
                stream_id: 1,
                associated_id: 0,
                priority: 0,
                flags: 0,
                headers: Headers::new(),
            },
        )
        .await;
        let mut st = conn.accept().await.unwrap();
        for _ in 0..4 {
            let data = Bytes::from(vec![7u8; 20_000]);
            write_frame(
                &mut c,
                &mut comp,
                Frame::Data {
                    stream_id: 1,
                    flags: 0,
                    data,
                },
            )
            .await;
        }
        let mut got = vec![0u8; 80_000];
        st.read_exact(&mut got).await.unwrap();
        let mut updates = Vec::new();
        while updates.len() < 4 {
            match read_frame(&mut c, &mut buf, &mut d).await.unwrap() {
                Frame::WindowUpdate { stream_id, delta } => updates.push((stream_id, delta)),
                Frame::SynReply { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        let total: u32 = updates.iter().filter(|u| u.0 == 1).map(|u| u.1).sum();
        assert_eq!(total, 80_000);
    }
}
