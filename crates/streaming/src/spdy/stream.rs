//! One SPDY stream as an async byte reader/writer.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use super::conn::WriterCmd;
use super::frame::{Frame, FLAG_FIN};
use super::headers::Headers;
use crate::error::{Error, Result};

/// Largest DATA frame we emit; matches what kubectl reads per call.
const MAX_DATA_FRAME: usize = 32 * 1024;

/// Reading half: yields the peer's DATA until its FIN (EOF), a reset or connection end.
pub struct SpdyReadHalf {
    rx: mpsc::Receiver<Bytes>,
    pending: Bytes,
    reset: Arc<AtomicBool>,
}

impl SpdyReadHalf {
    /// Next chunk of data as sent by the peer; `None` at end of stream.
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        if !self.pending.is_empty() {
            return Some(std::mem::take(&mut self.pending));
        }
        self.rx.recv().await
    }
}

impl AsyncRead for SpdyReadHalf {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.pending.is_empty() {
            match ready!(self.rx.poll_recv(cx)) {
                Some(b) => self.pending = b,
                None if self.reset.load(Ordering::Acquire) => {
                    return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
                }
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.pending.len().min(buf.remaining());
        buf.put_slice(&self.pending[..n]);
        self.pending.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// Writing half: DATA frames; shutdown sends an empty DATA frame with FIN.
pub struct SpdyWriteHalf {
    id: u32,
    out: mpsc::Sender<WriterCmd>,
    poll: PollSender<WriterCmd>,
    reset: Arc<AtomicBool>,
    closed: bool,
}

impl SpdyWriteHalf {
    pub fn stream_id(&self) -> u32 {
        self.id
    }

    fn check(&self) -> Result<()> {
        if self.reset.load(Ordering::Acquire) {
            return Err(Error::Spdy(format!(
                "stream {} was reset by the peer",
                self.id
            )));
        }
        if self.closed {
            return Err(Error::Spdy(format!("stream {} already finished", self.id)));
        }
        Ok(())
    }

    /// Sends `data` (split into frames as needed), with FIN on the last frame if `fin`.
    pub async fn send(&mut self, mut data: Bytes, fin: bool) -> Result<()> {
        self.check()?;
        loop {
            let chunk = data.split_to(data.len().min(MAX_DATA_FRAME));
            let last = data.is_empty();
            let f = Frame::Data {
                stream_id: self.id,
                flags: if last && fin { FLAG_FIN } else { 0 },
                data: chunk,
            };
            self.out
                .send(WriterCmd::Frame(f))
                .await
                .map_err(|_| Error::Closed)?;
            if last {
                break;
            }
        }
        if fin {
            self.closed = true;
        }
        Ok(())
    }

    /// Half-closes our side (DATA with FIN and no payload). Idempotent.
    pub async fn finish(&mut self) -> Result<()> {
        if self.closed || self.reset.load(Ordering::Acquire) {
            return Ok(());
        }
        self.send(Bytes::new(), true).await
    }

    /// Aborts the stream with RST_STREAM.
    pub async fn reset(&mut self, status: u32) -> Result<()> {
        self.closed = true;
        self.out
            .send(WriterCmd::Frame(Frame::RstStream {
                stream_id: self.id,
                status,
            }))
            .await
            .map_err(|_| Error::Closed)
    }
}

impl AsyncWrite for SpdyWriteHalf {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, e)));
        }
        if ready!(self.poll.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let n = buf.len().min(MAX_DATA_FRAME);
        let f = Frame::Data {
            stream_id: self.id,
            flags: 0,
            data: Bytes::copy_from_slice(&buf[..n]),
        };
        match self.poll.send_item(WriterCmd::Frame(f)) {
            Ok(()) => Poll::Ready(Ok(n)),
            Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The writer task flushes the transport after every batch.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.closed || self.reset.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        if ready!(self.poll.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let f = Frame::Data {
            stream_id: self.id,
            flags: FLAG_FIN,
            data: Bytes::new(),
        };
        self.closed = true;
        match self.poll.send_item(WriterCmd::Frame(f)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }
}

/// A SPDY stream: its opening headers plus both halves.
pub struct SpdyStream {
    id: u32,
    headers: Headers,
    reply_headers: Headers,
    read: SpdyReadHalf,
    write: SpdyWriteHalf,
}

impl SpdyStream {
    pub(crate) fn new(
        id: u32,
        headers: Headers,
        rx: mpsc::Receiver<Bytes>,
        out: mpsc::Sender<WriterCmd>,
        reset: Arc<AtomicBool>,
    ) -> Self {
        Self {
            id,
            headers,
            reply_headers: Headers::new(),
            read: SpdyReadHalf {
                rx,
                pending: Bytes::new(),
                reset: reset.clone(),
            },
            write: SpdyWriteHalf {
                id,
                poll: PollSender::new(out.clone()),
                out,
                reset,
                closed: false,
            },
        }
    }

    pub(crate) fn set_reply_headers(&mut self, h: Headers) {
        self.reply_headers = h;
    }

    pub(crate) fn mark_write_closed(&mut self) {
        self.write.closed = true;
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// Headers of the SYN_STREAM that opened the stream.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Headers of the peer's SYN_REPLY (streams we opened only).
    pub fn reply_headers(&self) -> &Headers {
        &self.reply_headers
    }

    /// Shorthand for the `streamtype` header kubectl sets on every stream.
    pub fn stream_type(&self) -> Option<&str> {
        self.headers.get("streamtype")
    }

    pub fn into_split(self) -> (SpdyReadHalf, SpdyWriteHalf) {
        (self.read, self.write)
    }

    pub fn reader(&mut self) -> &mut SpdyReadHalf {
        &mut self.read
    }

    pub fn writer(&mut self) -> &mut SpdyWriteHalf {
        &mut self.write
    }
}

impl AsyncRead for SpdyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for SpdyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_shutdown(cx)
    }
}
