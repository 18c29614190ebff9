//! A WebSocket connection driven by two background tasks: the reader answers pings and
//! close frames itself, so callers only ever see data messages.

use std::hash::{BuildHasher, Hasher};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::frame::{self, OpCode};
use crate::error::{Error, Result};

/// Largest message we accept; kubectl's own messages are at most 32 KiB, port-forward tunnels
/// carry SPDY frames of at most 16 MiB.
pub const MAX_MESSAGE: usize = 16 << 20;
const READ_CHUNK: usize = 32 * 1024;

/// Which side of the connection we are: clients mask their frames, servers must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// A complete data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Binary(Bytes),
    /// UTF-8 text (validated).
    Text(String),
}

#[derive(Debug)]
pub(crate) enum Outgoing {
    Frame(OpCode, Bytes),
    Close(u16, String),
}

/// Sending half; cheap to clone. Every method fails with [`Error::Closed`] once a close frame
/// has been written.
#[derive(Clone, Debug)]
pub struct WsSender {
    tx: mpsc::Sender<Outgoing>,
}

impl WsSender {
    pub async fn send_binary(&self, data: Bytes) -> Result<()> {
        self.push(Outgoing::Frame(OpCode::Binary, data)).await
    }

    pub async fn send_text(&self, text: String) -> Result<()> {
        self.push(Outgoing::Frame(OpCode::Text, Bytes::from(text)))
            .await
    }

    pub async fn ping(&self, payload: Bytes) -> Result<()> {
        self.push(Outgoing::Frame(OpCode::Ping, payload)).await
    }

    /// Starts the closing handshake (1000 = normal closure); later sends fail.
    pub async fn close(&self, code: u16, reason: &str) -> Result<()> {
        self.push(Outgoing::Close(code, reason.to_string())).await
    }

    async fn push(&self, msg: Outgoing) -> Result<()> {
        self.tx.send(msg).await.map_err(|_| Error::Closed)
    }

    /// Poll-based sending for the byte-stream adapter.
    pub(crate) fn poll_sender(&self) -> tokio_util::sync::PollSender<Outgoing> {
        tokio_util::sync::PollSender::new(self.tx.clone())
    }
}

/// Receiving half: yields data messages until the peer closes (`None`).
#[derive(Debug)]
pub struct WsReceiver {
    rx: mpsc::Receiver<Result<Message>>,
}

impl WsReceiver {
    pub async fn recv(&mut self) -> Option<Result<Message>> {
        self.rx.recv().await
    }

    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Message>>> {
        self.rx.poll_recv(cx)
    }
}

/// Entry point: wraps an already-upgraded byte stream.
pub struct WsStream;

impl WsStream {
    /// Spawns the reader and writer tasks on the current tokio runtime.
    pub fn start<S>(io: S, role: Role) -> (WsSender, WsReceiver)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (rd, wr) = tokio::io::split(io);
        let (out_tx, out_rx) = mpsc::channel(64);
        let (in_tx, in_rx) = mpsc::channel(64);
        tokio::spawn(write_loop(wr, out_rx, role));
        // The reader holds only a weak handle so that dropping every WsSender ends the writer
        // (which then sends a normal close) even while the peer keeps the socket open.
        tokio::spawn(read_loop(rd, in_tx, out_tx.downgrade()));
        (WsSender { tx: out_tx }, WsReceiver { rx: in_rx })
    }
}

fn mask_key() -> Option<[u8; 4]> {
    // Masking only defends browsers' intermediaries; per-call RandomState is unpredictable enough.
    let v = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Some((v as u32).to_be_bytes())
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::Receiver<Outgoing>,
    role: Role,
) {
    let mut buf = BytesMut::new();
    let mut close = None;
    while let Some(msg) = rx.recv().await {
        let mask = if role == Role::Client {
            mask_key()
        } else {
            None
        };
        match msg {
            Outgoing::Frame(op, data) => frame::encode(&mut buf, true, op, &data, mask),
            Outgoing::Close(code, reason) => {
                close = Some((code, reason));
                break;
            }
        }
        if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
            return;
        }
        buf.clear();
    }
    let (code, reason) = close.unwrap_or((1000, String::new()));
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload.truncate(125);
    let mask = if role == Role::Client {
        mask_key()
    } else {
        None
    };
    frame::encode(&mut buf, true, OpCode::Close, &payload, mask);
    let _ = wr.write_all(&buf).await;
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut rd: R,
    tx: mpsc::Sender<Result<Message>>,
    out: mpsc::WeakSender<Outgoing>,
) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    // Fragmented message being reassembled: (is_text, data).
    let mut partial: Option<(bool, BytesMut)> = None;
    loop {
        let f = match frame::decode(&mut buf, MAX_MESSAGE) {
            Ok(Some(f)) => f,
            Ok(None) => {
                buf.reserve(READ_CHUNK);
                match rd.read_buf(&mut buf).await {
                    Ok(0) => return,
                    Ok(_) => continue,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "websocket protocol error");
                send_ctrl(&out, Outgoing::Close(1002, String::new())).await;
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let complete = match f.opcode {
            OpCode::Ping => {
                send_ctrl(&out, Outgoing::Frame(OpCode::Pong, f.payload)).await;
                continue;
            }
            OpCode::Pong => continue,
            OpCode::Close => {
                // Echo the peer's code as RFC 6455 §5.5.1 asks; a no-op if we closed first.
                let code = if f.payload.len() >= 2 {
                    u16::from_be_bytes([f.payload[0], f.payload[1]])
                } else {
                    1000
                };
                send_ctrl(&out, Outgoing::Close(code, String::new())).await;
                return;
            }
            OpCode::Text | OpCode::Binary => {
                if partial.is_some() {
                    let _ = tx
                        .send(Err(Error::WebSocket(
                            "new message inside fragmented one".into(),
                        )))
                        .await;
                    return;
                }
                let text = f.opcode == OpCode::Text;
                if f.fin {
                    Some((text, BytesMut::from(&f.payload[..])))
                } else {
                    partial = Some((text, BytesMut::from(&f.payload[..])));
                    None
                }
            }
            OpCode::Continuation => {
                let Some((_, data)) = partial.as_mut() else {
                    let _ = tx
                        .send(Err(Error::WebSocket("continuation without start".into())))
                        .await;
                    return;
                };
                if data.len() + f.payload.len() > MAX_MESSAGE {
                    let _ = tx
                        .send(Err(Error::WebSocket("message too large".into())))
                        .await;
                    return;
                }
                data.extend_from_slice(&f.payload);
                if f.fin {
                    partial.take()
                } else {
                    None
                }
            }
        };
        if let Some((text, data)) = complete {
            let msg = if text {
                match String::from_utf8(data.to_vec()) {
                    Ok(s) => Ok(Message::Text(s)),
                    Err(_) => Err(Error::WebSocket("text message is not UTF-8".into())),
                }
            } else {
                Ok(Message::Binary(data.freeze()))
            };
            let fatal = msg.is_err();
            if tx.send(msg).await.is_err() || fatal {
                return;
            }
        }
    }
}

async fn send_ctrl(out: &mpsc::WeakSender<Outgoing>, msg: Outgoing) {
    if let Some(tx) = out.upgrade() {
        let _ = tx.send(msg).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reassembles_fragments_and_echoes_close() {
        let (mut c, s) = tokio::io::duplex(1 << 16);
        let (_tx, mut rx) = WsStream::start(s, Role::Server);
        let mut out = BytesMut::new();
        let key = Some([5, 6, 7, 8]);
        frame::encode(&mut out, false, OpCode::Binary, b"\x01hel", key);
        // A ping between fragments is allowed and must be answered.
        frame::encode(&mut out, true, OpCode::Ping, b"p", key);
        frame::encode(&mut out, true, OpCode::Continuation, b"lo", key);
        frame::encode(&mut out, true, OpCode::Close, &1001u16.to_be_bytes(), key);
        c.write_all(&out).await.unwrap();
        assert_eq!(
            rx.recv().await.unwrap().unwrap(),
            Message::Binary(Bytes::from_static(b"\x01hello"))
        );
        assert!(rx.recv().await.is_none());
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        while c.read_buf(&mut buf).await.unwrap() > 0 {}
        while let Some(f) = frame::decode(&mut buf, 1024).unwrap() {
            frames.push((f.opcode, f.payload));
        }
        assert_eq!(frames[0], (OpCode::Pong, Bytes::from_static(b"p")));
        assert_eq!(
            frames[1],
            (OpCode::Close, Bytes::from_static(&[0x03, 0xe9]))
        );
    }

    #[tokio::test]
    async fn client_role_masks_frames() {
        let (mut peer, io) = tokio::io::duplex(1 << 16);
        let (tx, _rx) = WsStream::start(io, Role::Client);
        tx.send_binary(Bytes::from_static(b"abc")).await.unwrap();
        let mut buf = BytesMut::new();
        let f = loop {
            if let Some(f) = frame::decode(&mut buf, 1024).unwrap() {
                break f;
            }
            peer.read_buf(&mut buf).await.unwrap();
        };
        assert!(f.masked);
        assert_eq!(&f.payload[..], b"abc");
    }
}
