//! The remote-command (exec/attach) session seen from the serving side, independent of the
//! transport: stdin and resize events come in, stdout/stderr go out, and `finish` reports
//! the exit status on the error channel the way kubectl expects.

mod spdy;
#[cfg(test)]
mod tests;
mod ws;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
pub use crate::status::ExitStatus;
pub use spdy::serve_exec_spdy;
pub use ws::serve_exec_websocket;

/// Which streams the client asked for (the `stdin`, `stdout`, `stderr`, `tty` query flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl ExecOptions {
    /// Reads the flags from a request query string (`true`/`1` count as set).
    pub fn from_query(query: &str) -> Self {
        let mut o = Self::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let on = matches!(v, "true" | "1" | "True" | "TRUE");
            match k {
                "stdin" | "input" => o.stdin = on,
                "stdout" | "output" => o.stdout = on,
                "stderr" | "error" => o.stderr = on,
                "tty" => o.tty = on,
                _ => {}
            }
        }
        o
    }

    /// With a TTY, stderr is merged into stdout and no stderr channel exists.
    pub fn wants_stderr(&self) -> bool {
        self.stderr && !self.tty
    }
}

/// A terminal size change, sent by kubectl as `{"Width":80,"Height":24}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct TerminalSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// Splits the resize channel's byte stream (JSON documents, usually one per line, possibly
/// split across messages) into sizes.
#[derive(Debug, Default)]
pub(crate) struct ResizeDecoder {
    buf: Vec<u8>,
}

impl ResizeDecoder {
    pub(crate) fn push(&mut self, data: &[u8]) -> Vec<TerminalSize> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut iter = serde_json::Deserializer::from_slice(&self.buf).into_iter::<TerminalSize>();
        let mut consumed = 0;
        loop {
            match iter.next() {
                Some(Ok(size)) => {
                    out.push(size);
                    consumed = iter.byte_offset();
                }
                // An incomplete document waits for more bytes.
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(_)) => {
                    consumed = self.buf.len();
                    break;
                }
                None => {
                    consumed = self.buf.len();
                    break;
                }
            }
        }
        self.buf.drain(..consumed);
        out
    }
}

#[derive(Debug)]
pub(crate) enum Output {
    Data(u8, Bytes),
    Finish(ExitStatus, oneshot::Sender<Result<()>>),
}

/// Sends bytes on stdout or stderr. Output and [`ExecStreams::finish`] share one queue, so
/// everything sent before `finish` reaches the client before the exit status.
#[derive(Debug, Clone)]
pub struct OutputSender {
    channel: u8,
    tx: mpsc::Sender<Output>,
}

impl OutputSender {
    /// Fails with [`Error::Closed`] once the client went away or the session finished.
    pub async fn send(&self, data: Bytes) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Output::Data(self.channel, data))
            .await
            .map_err(|_| Error::Closed)
    }
}

/// The serving side of one exec/attach session.
#[derive(Debug)]
pub struct ExecStreams {
    /// Client input; the channel ends at the client's stdin EOF or disconnect.
    pub stdin: Option<mpsc::Receiver<Bytes>>,
    pub stdout: Option<OutputSender>,
    pub stderr: Option<OutputSender>,
    /// Terminal size changes (TTY sessions).
    pub resize: Option<mpsc::Receiver<TerminalSize>>,
    /// The negotiated subprotocol.
    pub protocol: String,
    out: mpsc::Sender<Output>,
}

impl ExecStreams {
    pub(crate) fn new(
        opts: ExecOptions,
        protocol: String,
        stdin: Option<mpsc::Receiver<Bytes>>,
        resize: Option<mpsc::Receiver<TerminalSize>>,
    ) -> (Self, mpsc::Receiver<Output>) {
        let (tx, rx) = mpsc::channel(64);
        let sender = |channel| OutputSender {
            channel,
            tx: tx.clone(),
        };
        let streams = Self {
            stdin,
            stdout: opts.stdout.then(|| sender(crate::ws::channel::STDOUT)),
            stderr: opts
                .wants_stderr()
                .then(|| sender(crate::ws::channel::STDERR)),
            resize,
            protocol,
            out: tx,
        };
        (streams, rx)
    }

    /// Flushes pending output, reports `status` on the error channel and closes the session.
    pub async fn finish(self, status: ExitStatus) -> Result<()> {
        let (ack_tx, ack_rx) = oneshot::channel();
        self.out
            .send(Output::Finish(status, ack_tx))
            .await
            .map_err(|_| Error::Closed)?;
        ack_rx.await.map_err(|_| Error::Closed)?
    }
}
