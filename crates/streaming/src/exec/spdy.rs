//! Exec/attach over SPDY/3.1: kubectl opens one stream per channel, named by `streamtype`.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{ExecOptions, ExecStreams, Output, ResizeDecoder};
use crate::error::{Error, Result};
use crate::spdy::{SpdyConnection, SpdyStream, SpdyWriteHalf};
use crate::ws::channel;

/// How long the client gets to open all expected streams (upstream waits as long).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// After the status is sent, how long we wait for the client to hang up before closing.
const LINGER: Duration = Duration::from_secs(10);

/// Runs the session on an accepted SPDY connection whose upgrade negotiated `protocol`
/// (one of [`crate::spdy::upgrade::REMOTECOMMAND_PROTOCOLS`]).
pub async fn serve_exec_spdy(
    mut conn: SpdyConnection,
    protocol: &str,
    opts: ExecOptions,
) -> Result<ExecStreams> {
    let json_status = matches!(protocol, "v4.channel.k8s.io" | "v5.channel.k8s.io");
    let want_resize = opts.tty && !matches!(protocol, "channel.k8s.io" | "v2.channel.k8s.io");
    let mut error = None;
    let mut stdin = None;
    let mut stdout = None;
    let mut stderr = None;
    let mut resize = None;
    let complete = |e: &Option<SpdyStream>,
                    i: &Option<SpdyStream>,
                    o: &Option<SpdyStream>,
                    r: &Option<SpdyStream>,
                    z: &Option<SpdyStream>| {
        e.is_some()
            && (i.is_some() || !opts.stdin)
            && (o.is_some() || !opts.stdout)
            && (r.is_some() || !opts.wants_stderr())
            && (z.is_some() || !want_resize)
    };
    let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
    while !complete(&error, &stdin, &stdout, &stderr, &resize) {
        let stream = tokio::time::timeout_at(deadline, conn.accept())
            .await
            .map_err(|_| Error::Spdy("timed out waiting for client to create streams".into()))?
            .ok_or(Error::Closed)?;
        let slot = match stream.stream_type() {
            Some("error") => &mut error,
            Some("stdin") => &mut stdin,
            Some("stdout") => &mut stdout,
            Some("stderr") => &mut stderr,
            Some("resize") => &mut resize,
            other => {
                return Err(Error::Spdy(format!("unexpected stream type {other:?}")));
            }
        };
        *slot = Some(stream);
    }
    let Some(error) = error else {
        return Err(Error::Spdy("no error stream".into()));
    };

    let stdin_rx = stdin.map(|s| {
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let (mut rd, _wr) = s.into_split();
        tokio::spawn(async move {
            while let Some(chunk) = rd.next_chunk().await {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
        });
        rx
    });
    let resize_rx = resize.map(|s| {
        let (tx, rx) = mpsc::channel(8);
        let (mut rd, _wr) = s.into_split();
        tokio::spawn(async move {
            let mut dec = ResizeDecoder::default();
            while let Some(chunk) = rd.next_chunk().await {
                for size in dec.push(&chunk) {
                    if tx.send(size).await.is_err() {
                        return;
                    }
                }
            }
        });
        rx
    });
    let (streams, mut out_rx) = ExecStreams::new(opts, protocol.to_string(), stdin_rx, resize_rx);
    let mut stdout = stdout.map(|s| s.into_split().1);
    let mut stderr = stderr.map(|s| s.into_split().1);
    let (_error_rd, mut error_wr) = error.into_split();

    tokio::spawn(async move {
        let mut finished = false;
        while let Some(out) = out_rx.recv().await {
            match out {
                Output::Data(ch, data) => {
                    let target = if ch == channel::STDERR {
                        &mut stderr
                    } else {
                        &mut stdout
                    };
                    if let Some(w) = target {
                        if w.send(data, false).await.is_err() {
                            break;
                        }
                    }
                }
                Output::Finish(status, ack) => {
                    let res = finish(
                        &mut stdout,
                        &mut stderr,
                        &mut error_wr,
                        &status,
                        json_status,
                    )
                    .await;
                    let _ = ack.send(res);
                    finished = true;
                    break;
                }
            }
        }
        if !finished {
            let _ = finish_streams(&mut stdout, &mut stderr, &mut error_wr).await;
        }
        // Give the client time to read everything and hang up first, then go away.
        let _ =
            tokio::time::timeout(LINGER, async { while conn.accept().await.is_some() {} }).await;
        let _ = conn.goaway().await;
    });
    Ok(streams)
}

async fn finish_streams(
    stdout: &mut Option<SpdyWriteHalf>,
    stderr: &mut Option<SpdyWriteHalf>,
    error: &mut SpdyWriteHalf,
) -> Result<()> {
    for w in [stdout.as_mut(), stderr.as_mut()].into_iter().flatten() {
        w.finish().await?;
    }
    error.finish().await
}

async fn finish(
    stdout: &mut Option<SpdyWriteHalf>,
    stderr: &mut Option<SpdyWriteHalf>,
    error: &mut SpdyWriteHalf,
    status: &super::ExitStatus,
    json_status: bool,
) -> Result<()> {
    // Output streams end before the status so kubectl has all output when it sees the result.
    for w in [stdout.as_mut(), stderr.as_mut()].into_iter().flatten() {
        w.finish().await?;
    }
    let payload = if json_status {
        status.to_status_json()
    } else {
        status.message()
    };
    error.send(Bytes::from(payload), true).await
}
