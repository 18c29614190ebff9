//! Exec/attach over the WebSocket channel protocols.

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::{ExecOptions, ExecStreams, Output, ResizeDecoder};
use crate::error::{Error, Result};
use crate::ws::channel::{self, ChannelCodec, ChannelFrame, ChannelProtocol};
use crate::ws::{Message, Role, WsSender, WsStream};

/// Runs the session on an upgraded connection (after the 101 answer with `protocol`, as
/// returned by [`crate::ws::handshake::negotiate`]).
pub async fn serve_exec_websocket<S>(
    io: S,
    protocol: Option<&str>,
    opts: ExecOptions,
) -> Result<ExecStreams>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let codec = ChannelCodec::for_subprotocol(protocol)
        .ok_or_else(|| Error::Handshake(format!("unsupported subprotocol {protocol:?}")))?;
    let (ws_tx, mut ws_rx) = WsStream::start(io, Role::Server);
    let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(64);
    let (resize_tx, resize_rx) = mpsc::channel(8);
    let (streams, mut out_rx) = ExecStreams::new(
        opts,
        protocol.unwrap_or_default().to_string(),
        opts.stdin.then_some(stdin_rx),
        opts.tty.then_some(resize_rx),
    );

    tokio::spawn(async move {
        let mut stdin_tx = opts.stdin.then_some(stdin_tx);
        let mut resize = ResizeDecoder::default();
        while let Some(Ok(msg)) = ws_rx.recv().await {
            match codec.decode(msg) {
                Ok(Some(ChannelFrame::Data { channel, data })) => match channel {
                    channel::STDIN => {
                        if let Some(tx) = &stdin_tx {
                            if !data.is_empty() && tx.send(data).await.is_err() {
                                stdin_tx = None;
                            }
                        }
                    }
                    channel::RESIZE => {
                        for size in resize.push(&data) {
                            let _ = resize_tx.send(size).await;
                        }
                    }
                    _ => {}
                },
                Ok(Some(ChannelFrame::Close { channel })) if channel == channel::STDIN => {
                    stdin_tx = None;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "exec websocket: bad message");
                    break;
                }
            }
        }
    });

    tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            match out {
                Output::Data(ch, data) => {
                    if send(&ws_tx, codec.encode(ch, &data)).await.is_err() {
                        return;
                    }
                }
                Output::Finish(status, ack) => {
                    let payload = if codec.version >= ChannelProtocol::V4 {
                        status.to_status_json()
                    } else {
                        status.message()
                    };
                    let mut res = Ok(());
                    if !payload.is_empty() {
                        res = send(&ws_tx, codec.encode(channel::ERROR, payload.as_bytes())).await;
                    }
                    // A normal close is what kubectl treats as EOF on every channel.
                    let closed = ws_tx.close(1000, "").await;
                    let _ = ack.send(res.and(closed));
                    return;
                }
            }
        }
        // Every handle dropped without finish: end the session cleanly anyway.
        let _ = ws_tx.close(1000, "").await;
    });
    Ok(streams)
}

async fn send(ws: &WsSender, msg: Message) -> Result<()> {
    match msg {
        Message::Binary(b) => ws.send_binary(b).await,
        Message::Text(t) => ws.send_text(t).await,
    }
}
