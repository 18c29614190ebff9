//! `/exec` and `/attach`: the client's session (WebSocket channels or SPDY streams) is
//! terminated here and bridged to a SPDY `v4.channel.k8s.io` session on the runtime's
//! streaming server, whose error stream carries the exit status we pass on.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rkube_cri::{api, RuntimeClient};
use rkube_streaming::client::dial_spdy;
use rkube_streaming::spdy::{upgrade as spdy_upgrade, Headers, SpdyConnection, SpdyStream};
use rkube_streaming::ws::{channel, handshake};
use rkube_streaming::{exec as session, ExecOptions, ExecStreams, ExitStatus, OutputSender};

use super::lookup;
use super::response::{self, Body};
use super::route::{PodRef, Query};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Exec,
    Attach,
}

/// What the runtime side speaks; v4 gives the exit code as a Status document.
const RUNTIME_PROTOCOL: &str = "v4.channel.k8s.io";

type Failure = (StatusCode, String);

/// Reads the stream flags as upstream's remotecommand options do.
pub fn options(query: &Query, kind: Kind) -> Result<(ExecOptions, Vec<String>), Failure> {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let mut o = ExecOptions {
        stdin: query.flag("stdin").map_err(bad)?,
        stdout: query.flag("stdout").map_err(bad)?,
        stderr: query.flag("stderr").map_err(bad)?,
        tty: query.flag("tty").map_err(bad)?,
    };
    // With a terminal, stderr is merged into stdout.
    if o.tty {
        o.stderr = false;
    }
    if !(o.stdin || o.stdout || o.stderr) {
        return Err(bad(
            "you must specify at least 1 of stdin, stdout, stderr".into()
        ));
    }
    let command = query.all("command");
    if kind == Kind::Exec && command.is_empty() {
        return Err(bad(
            "you must specify at least one command for the container".into(),
        ));
    }
    Ok((o, command))
}

/// The client transport chosen from the upgrade headers, with the 101 headers to send.
enum Transport {
    WebSocket { protocol: Option<String> },
    Spdy { protocol: String },
}

fn negotiate(req: &Request<Incoming>) -> Result<(Transport, http::HeaderMap), Box<Response<Body>>> {
    let h = req.headers();
    if req.method() == Method::GET && handshake::is_websocket_request(h) {
        let proto = handshake::negotiate(h, channel::REMOTECOMMAND_PROTOCOLS)
            .map_err(|e| Box::new(response::error(StatusCode::BAD_REQUEST, e.to_string())))?;
        let headers = handshake::response_headers(h, proto)
            .map_err(|e| Box::new(response::error(StatusCode::BAD_REQUEST, e.to_string())))?;
        let protocol = proto.map(str::to_string);
        return Ok((Transport::WebSocket { protocol }, headers));
    }
    match spdy_upgrade::negotiate(h, spdy_upgrade::REMOTECOMMAND_PROTOCOLS) {
        Ok(n) => Ok((
            Transport::Spdy {
                protocol: n.protocol,
            },
            n.response_headers,
        )),
        Err(e) => Err(Box::new(response::upgrade_refused(&e))),
    }
}

pub async fn handle(
    runtime: &RuntimeClient,
    mut req: Request<Incoming>,
    pod: PodRef,
    container: String,
    query: Query,
    kind: Kind,
) -> Response<Body> {
    let (opts, command) = match options(&query, kind) {
        Ok(o) => o,
        Err((code, msg)) => return response::error(code, msg),
    };
    let id = match running_container(runtime, &pod, &container).await {
        Ok(id) => id,
        Err((code, msg)) => return response::error(code, msg),
    };
    let (transport, headers) = match negotiate(&req) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let url = match kind {
        Kind::Exec => {
            runtime
                .exec(api::ExecRequest {
                    container_id: id.clone(),
                    cmd: command.clone(),
                    tty: opts.tty,
                    stdin: opts.stdin,
                    stdout: opts.stdout,
                    stderr: opts.stderr,
                })
                .await
        }
        Kind::Attach => {
            runtime
                .attach(api::AttachRequest {
                    container_id: id.clone(),
                    stdin: opts.stdin,
                    tty: opts.tty,
                    stdout: opts.stdout,
                    stderr: opts.stderr,
                })
                .await
        }
    };
    let url = match url {
        Ok(u) => u,
        Err(e) => return response::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let upstream = match Upstream::open(&url, opts).await {
        Ok(u) => u,
        Err(e) => {
            return response::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("error connecting to the container runtime's streaming server: {e}"),
            )
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::debug!(error = %e, "exec: upgrade failed");
                return;
            }
        };
        let streams = match &transport {
            Transport::WebSocket { protocol } => {
                session::serve_exec_websocket(io, protocol.as_deref(), opts).await
            }
            Transport::Spdy { protocol } => {
                session::serve_exec_spdy(SpdyConnection::server(io), protocol, opts).await
            }
        };
        match streams {
            Ok(s) => bridge(s, upstream, command).await,
            Err(e) => tracing::debug!(error = %e, "exec: client session failed"),
        }
    });
    response::switching(headers)
}

/// The id of the container's running attempt, or upstream's not-found errors.
async fn running_container(
    runtime: &RuntimeClient,
    pod: &PodRef,
    container: &str,
) -> Result<String, Failure> {
    let internal = |e: crate::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let attempts = lookup::containers(runtime, pod, container)
        .await
        .map_err(internal)?;
    if let Some(c) = attempts.first().filter(|c| lookup::is_running(c)) {
        return Ok(c.id.clone());
    }
    if lookup::sandboxes(runtime, pod)
        .await
        .map_err(internal)?
        .is_empty()
    {
        return Err((StatusCode::NOT_FOUND, "pod does not exist".into()));
    }
    Err((
        StatusCode::NOT_FOUND,
        format!("container not found ({container:?})"),
    ))
}

/// The runtime-side session: one SPDY stream per channel, as kubectl itself would open.
struct Upstream {
    conn: SpdyConnection,
    error: SpdyStream,
    stdin: Option<SpdyStream>,
    stdout: Option<SpdyStream>,
    stderr: Option<SpdyStream>,
    resize: Option<SpdyStream>,
}

impl Upstream {
    async fn open(url: &str, opts: ExecOptions) -> rkube_streaming::error::Result<Upstream> {
        let (conn, _protocol) = dial_spdy(url, &[RUNTIME_PROTOCOL]).await?;
        let open = |t: &'static str| {
            let conn = &conn;
            async move {
                conn.open_stream(Headers::new().with("streamtype", t), false)
                    .await
            }
        };
        let error = open("error").await?;
        let stdin = if opts.stdin {
            Some(open("stdin").await?)
        } else {
            None
        };
        let stdout = if opts.stdout {
            Some(open("stdout").await?)
        } else {
            None
        };
        let stderr = if opts.wants_stderr() {
            Some(open("stderr").await?)
        } else {
            None
        };
        let resize = if opts.tty {
            Some(open("resize").await?)
        } else {
            None
        };
        Ok(Upstream {
            conn,
            error,
            stdin,
            stdout,
            stderr,
            resize,
        })
    }
}

/// Copies the runtime's output to the client; `Err` when the client went away.
async fn pump_output(stream: Option<SpdyStream>, out: Option<OutputSender>) -> Result<(), ()> {
    let (Some(stream), Some(out)) = (stream, out) else {
        return Ok(());
    };
    let (mut rd, _wr) = stream.into_split();
    while let Some(chunk) = rd.next_chunk().await {
        out.send(chunk).await.map_err(|_| ())?;
    }
    Ok(())
}

/// Runs one session to its end: client input to the runtime, runtime output and finally
/// its exit status to the client.
async fn bridge(mut client: ExecStreams, up: Upstream, command: Vec<String>) {
    let Upstream {
        conn,
        error,
        stdin,
        stdout,
        stderr,
        resize,
    } = up;
    if let (Some(mut rx), Some(stream)) = (client.stdin.take(), stdin) {
        let (_rd, mut wr) = stream.into_split();
        tokio::spawn(async move {
            while let Some(data) = rx.recv().await {
                if wr.send(data, false).await.is_err() {
                    return;
                }
            }
            // The client's stdin EOF (or disconnect) becomes the process's EOF.
            let _ = wr.finish().await;
        });
    }
    if let (Some(mut rx), Some(stream)) = (client.resize.take(), resize) {
        let (_rd, mut wr) = stream.into_split();
        tokio::spawn(async move {
            while let Some(size) = rx.recv().await {
                let line = format!("{{\"Width\":{},\"Height\":{}}}\n", size.width, size.height);
                if wr.send(Bytes::from(line), false).await.is_err() {
                    return;
                }
            }
        });
    }
    let status = async {
        let (mut rd, _wr) = error.into_split();
        let mut doc = Vec::new();
        while let Some(chunk) = rd.next_chunk().await {
            doc.extend_from_slice(&chunk);
        }
        Ok::<_, ()>(doc)
    };
    let outputs = tokio::try_join!(
        pump_output(stdout, client.stdout.clone()),
        pump_output(stderr, client.stderr.clone()),
        status,
    );
    let _ = conn.goaway().await;
    let Ok((_, _, doc)) = outputs else {
        tracing::debug!("exec: client went away");
        return;
    };
    let status = ExitStatus::from_status_json(&doc, command);
    if let Err(e) = client.finish(status).await {
        tracing::debug!(error = %e, "exec: could not deliver the exit status");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_upstream_rules() {
        let q = Query::parse(Some(
            "command=ls&command=-l&stdout=true&stderr=true&tty=true",
        ));
        let (o, cmd) = options(&q, Kind::Exec).unwrap();
        assert!(o.stdout && o.tty && !o.stderr && !o.stdin);
        assert_eq!(cmd, ["ls", "-l"]);
        let err = options(&Query::parse(Some("command=ls")), Kind::Exec).unwrap_err();
        assert_eq!(err.0, StatusCode::BAD_REQUEST);
        assert!(options(&Query::parse(Some("stdout=1")), Kind::Exec).is_err());
        assert!(options(&Query::parse(Some("stdout=1")), Kind::Attach).is_ok());
    }
}
