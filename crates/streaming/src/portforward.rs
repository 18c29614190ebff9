//! Port-forwarding transports other than plain SPDY:
//! * SPDY tunnelled in a WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl ≥ 1.31): every
//!   binary message is a slice of the SPDY byte stream; [`WsByteStream`] restores the stream.
//! * The kubelet's native WebSocket protocol (used by the Python client): per requested port
//!   a data channel `2i` and an error channel `2i+1`, each opened by the server with a
//!   message holding the port as 2 bytes little-endian.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use crate::error::{Error, Result};
use crate::spdy::SpdyConnection;
use crate::ws::channel::{ChannelCodec, ChannelFrame};
use crate::ws::conn::Outgoing;
use crate::ws::{Message, Role, WsReceiver, WsSender, WsStream};

/// A WebSocket seen as a byte stream: reads concatenate message payloads, each write becomes
/// one binary message, shutdown sends a normal close.
pub struct WsByteStream {
    rx: WsReceiver,
    tx: PollSender<Outgoing>,
    pending: Bytes,
}

impl WsByteStream {
    pub fn new(tx: WsSender, rx: WsReceiver) -> Self {
        Self {
            rx,
            tx: tx.poll_sender(),
            pending: Bytes::new(),
        }
    }
}

impl AsyncRead for WsByteStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.pending.is_empty() {
            match ready!(self.rx.poll_recv(cx)) {
                Some(Ok(Message::Binary(b))) => self.pending = b,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text message in a binary tunnel",
                    )))
                }
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.pending.len().min(buf.remaining());
        buf.put_slice(&self.pending[..n]);
        self.pending.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for WsByteStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if ready!(self.tx.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let msg = Outgoing::Frame(
            crate::ws::frame::OpCode::Binary,
            Bytes::copy_from_slice(buf),
        );
        match self.tx.send_item(msg) {
            Ok(()) => Poll::Ready(Ok(buf.len())),
            Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if ready!(self.tx.poll_reserve(cx)).is_err() {
            return Poll::Ready(Ok(()));
        }
        let _ = self.tx.send_item(Outgoing::Close(1000, String::new()));
        self.tx.close();
        Poll::Ready(Ok(()))
    }
}

/// Serves the WebSocket-tunnelled SPDY port-forward on an upgraded connection (after a 101
/// selecting [`crate::ws::channel::SPDY_PORTFORWARD`]); continue as with plain SPDY.
pub fn serve_tunnelled_spdy<S>(io: S) -> SpdyConnection
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (tx, rx) = WsStream::start(io, Role::Server);
    SpdyConnection::server(WsByteStream::new(tx, rx))
}

/// One forwarded port of the native WebSocket protocol.
#[derive(Debug)]
pub struct WsForwardedPort {
    pub port: u16,
    /// Bytes the client sent for this port; ends when the client disconnects.
    pub data_in: mpsc::Receiver<Bytes>,
    data_out: mpsc::Sender<(u8, Bytes)>,
    data_channel: u8,
}

impl WsForwardedPort {
    /// Sends bytes from the container to the client.
    pub async fn send(&self, data: Bytes) -> Result<()> {
        self.data_out
            .send((self.data_channel, data))
            .await
            .map_err(|_| Error::Closed)
    }

    /// Reports a forwarding failure on this port's error channel.
    pub async fn send_error(&self, message: &str) -> Result<()> {
        self.data_out
            .send((self.data_channel + 1, Bytes::from(message.to_string())))
            .await
            .map_err(|_| Error::Closed)
    }
}

/// Parses the `ports` query parameter(s) of a WebSocket port-forward request.
pub fn ports_from_query(query: &str) -> Result<Vec<u16>> {
    let mut ports = Vec::new();
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("ports=") {
            for p in v.split(&[',', ' '][..]).filter(|s| !s.is_empty()) {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| Error::Handshake(format!("invalid port {p:?}")))?;
                ports.push(port);
            }
        }
    }
    if ports.is_empty() {
        return Err(Error::Handshake(
            "query parameter \"ports\" is required".into(),
        ));
    }
    Ok(ports)
}

/// Serves the native WebSocket port-forward protocol on an upgraded connection for `ports`
/// (from [`ports_from_query`]). The connection closes once every returned handle is dropped.
pub async fn serve_portforward_websocket<S>(
    io: S,
    protocol: Option<&str>,
    ports: &[u16],
) -> Result<Vec<WsForwardedPort>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let codec = ChannelCodec::for_subprotocol(protocol)
        .ok_or_else(|| Error::Handshake(format!("unsupported subprotocol {protocol:?}")))?;
    let (ws_tx, mut ws_rx) = WsStream::start(io, Role::Server);
    // Every channel starts with the port number so the client can match channels to ports.
    for (i, port) in ports.iter().enumerate() {
        for ch in [2 * i as u8, 2 * i as u8 + 1] {
            send_msg(&ws_tx, codec.encode(ch, &port.to_le_bytes())).await?;
        }
    }
    let (out_tx, mut out_rx) = mpsc::channel::<(u8, Bytes)>(64);
    let mut inputs = Vec::new();
    let mut handles = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let (tx, rx) = mpsc::channel(64);
        inputs.push(Some(tx));
        handles.push(WsForwardedPort {
            port: *port,
            data_in: rx,
            data_out: out_tx.clone(),
            data_channel: 2 * i as u8,
        });
    }
    drop(out_tx);
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws_rx.recv().await {
            let Ok(Some(ChannelFrame::Data { channel, data })) = codec.decode(msg) else {
                continue;
            };
            // Only data channels carry client bytes; writes to error channels are ignored.
            if channel % 2 != 0 || data.is_empty() {
                continue;
            }
            if let Some(slot) = inputs.get_mut(channel as usize / 2) {
                if let Some(tx) = slot {
                    if tx.send(data).await.is_err() {
                        *slot = None;
                    }
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some((ch, data)) = out_rx.recv().await {
            if send_msg(&ws_tx, codec.encode(ch, &data)).await.is_err() {
                return;
            }
        }
        let _ = ws_tx.close(1000, "").await;
    });
    Ok(handles)
}

async fn send_msg(ws: &WsSender, msg: Message) -> Result<()> {
    match msg {
        Message::Binary(b) => ws.send_binary(b).await,
        Message::Text(t) => ws.send_text(t).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spdy::Headers;
    use crate::ws::frame::{self as wf, OpCode};
    use bytes::BytesMut;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn ports_query() {
        assert_eq!(
            ports_from_query("ports=8080,9090").unwrap(),
            vec![8080, 9090]
        );
        assert_eq!(ports_from_query("ports=80&ports=81").unwrap(), vec![80, 81]);
        assert!(ports_from_query("ports=0").is_err());
        assert!(ports_from_query("x=1").is_err());
    }

    /// kubectl ≥ 1.31: SPDY frames inside binary WebSocket messages, split arbitrarily.
    #[tokio::test]
    async fn spdy_tunnel_through_websocket() {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let mut server = serve_tunnelled_spdy(server_io);
        let (ctx, crx) = WsStream::start(client_io, Role::Client);
        let client = SpdyConnection::client(WsByteStream::new(ctx, crx));

        let opener = tokio::spawn(async move {
            let h = |t: &str| {
                Headers::new()
                    .with("streamtype", t)
                    .with("port", "8080")
                    .with("requestid", "0")
            };
            let err = client.open_stream(h("error"), true).await.unwrap();
            let mut data = client.open_stream(h("data"), false).await.unwrap();
            data.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
            data.shutdown().await.unwrap();
            let mut reply = Vec::new();
            data.read_to_end(&mut reply).await.unwrap();
            (err, reply, client)
        });

        let mut err = server.accept().await.unwrap();
        assert_eq!(err.stream_type(), Some("error"));
        assert_eq!(err.headers().get("requestid"), Some("0"));
        let mut data = server.accept().await.unwrap();
        assert_eq!(data.headers().get("port"), Some("8080"));
        let mut req = Vec::new();
        data.read_to_end(&mut req).await.unwrap();
        assert_eq!(req, b"GET / HTTP/1.1\r\n\r\n");
        // Larger than one DATA frame and one WebSocket read to exercise splitting.
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        data.write_all(&body).await.unwrap();
        data.shutdown().await.unwrap();
        err.writer().finish().await.unwrap();
        let mut e = Vec::new();
        err.read_to_end(&mut e).await.unwrap();
        assert!(e.is_empty(), "client FINs the error stream at once");

        let (_err, reply, _client) = opener.await.unwrap();
        assert_eq!(reply, body);
    }

    #[tokio::test]
    async fn native_websocket_port_forward() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let mut ports =
            serve_portforward_websocket(server, Some("v4.channel.k8s.io"), &[8080, 9090])
                .await
                .unwrap();
        let mut io = client;
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        while frames.len() < 4 {
            if let Some(f) = wf::decode(&mut buf, 1 << 20).unwrap() {
                frames.push(f.payload);
                continue;
            }
            io.read_buf(&mut buf).await.unwrap();
        }
        // 8080 = 0x1f90 and 9090 = 0x2382, little-endian, on data and error channels.
        assert_eq!(&frames[0][..], &[0, 0x90, 0x1f]);
        assert_eq!(&frames[1][..], &[1, 0x90, 0x1f]);
        assert_eq!(&frames[2][..], &[2, 0x82, 0x23]);
        assert_eq!(&frames[3][..], &[3, 0x82, 0x23]);

        let mut out = BytesMut::new();
        wf::encode(
            &mut out,
            true,
            OpCode::Binary,
            b"\x02ping",
            Some([1, 2, 3, 4]),
        );
        io.write_all(&out).await.unwrap();
        assert_eq!(
            ports[1].data_in.recv().await.unwrap(),
            Bytes::from_static(b"ping")
        );
        ports[1].send(Bytes::from_static(b"pong")).await.unwrap();
        ports[0].send_error("nothing listening").await.unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            if let Some(f) = wf::decode(&mut buf, 1 << 20).unwrap() {
                got.push(f.payload);
                continue;
            }
            io.read_buf(&mut buf).await.unwrap();
        }
        assert_eq!(&got[0][..], b"\x02pong");
        assert_eq!(&got[1][..], b"\x01nothing listening");
        drop(ports);
        let close = loop {
            if let Some(f) = wf::decode(&mut buf, 1 << 20).unwrap() {
                break f;
            }
            io.read_buf(&mut buf).await.unwrap();
        };
        assert_eq!(close.opcode, OpCode::Close);
    }
}
