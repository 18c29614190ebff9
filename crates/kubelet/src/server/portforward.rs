//! `/portForward/{ns}/{pod}[/{uid}]`: the client's SPDY session (plain, or tunnelled in a
//! WebSocket) is mirrored stream by stream onto a SPDY `portforward.k8s.io` session on the
//! runtime's streaming server, which connects inside the pod's network namespace and
//! reports failures on each request's error stream. The native WebSocket protocol (one
//! channel pair per `ports` entry) is mapped onto the same runtime session.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rkube_cri::RuntimeClient;
use rkube_streaming::client::dial_spdy;
use rkube_streaming::portforward::{
    ports_from_query, serve_portforward_websocket, serve_tunnelled_spdy, WsForwardedPort,
};
use rkube_streaming::spdy::frame::rst;
use rkube_streaming::spdy::{upgrade as spdy_upgrade, Headers, SpdyConnection, SpdyStream};
use rkube_streaming::spdy::{SpdyReadHalf, SpdyWriteHalf};
use rkube_streaming::ws::{channel, handshake};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::lookup;
use super::response::{self, Body};
use super::route::{PodRef, Query};
use crate::meta;

const RUNTIME_PROTOCOL: &str = "portforward.k8s.io";

enum Transport {
    Spdy,
    Tunnel,
    WebSocket {
        protocol: Option<String>,
        ports: Vec<u16>,
    },
}

fn negotiate(
    req: &Request<Incoming>,
    query: &Query,
) -> Result<(Transport, http::HeaderMap), Box<Response<Body>>> {
    let h = req.headers();
    let bad = |m: String| Box::new(response::error(StatusCode::BAD_REQUEST, m));
    if req.method() == Method::GET && handshake::is_websocket_request(h) {
        let mut supported = vec![channel::SPDY_PORTFORWARD];
        supported.extend_from_slice(channel::PORTFORWARD_PROTOCOLS);
        let proto = handshake::negotiate(h, &supported).map_err(|e| bad(e.to_string()))?;
        let headers = handshake::response_headers(h, proto).map_err(|e| bad(e.to_string()))?;
        if proto == Some(channel::SPDY_PORTFORWARD) {
            return Ok((Transport::Tunnel, headers));
        }
        let raw: Vec<String> = query
            .all("ports")
            .iter()
            .map(|p| format!("ports={p}"))
            .collect();
        let ports = ports_from_query(&raw.join("&")).map_err(|e| bad(e.to_string()))?;
        let protocol = proto.map(str::to_string);
        return Ok((Transport::WebSocket { protocol, ports }, headers));
    }
    match spdy_upgrade::negotiate(h, spdy_upgrade::PORTFORWARD_PROTOCOLS) {
        Ok(n) => Ok((Transport::Spdy, n.response_headers)),
        Err(e) => Err(Box::new(response::upgrade_refused(&e))),
    }
}

pub async fn handle(
    runtime: &RuntimeClient,
    mut req: Request<Incoming>,
    pod: PodRef,
    query: Query,
) -> Response<Body> {
    let by_name = PodRef {
        uid: None,
        ..pod.clone()
    };
    let sandboxes = match lookup::sandboxes(runtime, &by_name).await {
        Ok(s) => s,
        Err(e) => return response::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let Some(sandbox) = sandboxes.first() else {
        return response::error(StatusCode::NOT_FOUND, "pod does not exist");
    };
    if let Some(uid) = &pod.uid {
        if sandbox.labels.get(meta::POD_UID) != Some(uid) {
            return response::error(StatusCode::NOT_FOUND, "pod not found");
        }
    }
    let (transport, headers) = match negotiate(&req, &query) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let ports = match &transport {
        Transport::WebSocket { ports, .. } => ports.iter().map(|p| i32::from(*p)).collect(),
        _ => Vec::new(),
    };
    let url = match runtime.port_forward(&sandbox.id, ports).await {
        Ok(u) => u,
        Err(e) => return response::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let upstream = match dial_spdy(&url, &[RUNTIME_PROTOCOL]).await {
        Ok((conn, _)) => conn,
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
                tracing::debug!(error = %e, "port-forward: upgrade failed");
                return;
            }
        };
        match transport {
            Transport::Spdy => mirror(SpdyConnection::server(io), upstream).await,
            Transport::Tunnel => mirror(serve_tunnelled_spdy(io), upstream).await,
            Transport::WebSocket { protocol, ports } => {
                match serve_portforward_websocket(io, protocol.as_deref(), &ports).await {
                    Ok(handles) => native(handles, upstream).await,
                    Err(e) => tracing::debug!(error = %e, "port-forward: websocket failed"),
                }
            }
        }
    });
    response::switching(headers)
}

/// Opens every stream the client opens on the runtime session too (same headers: port,
/// streamtype, requestid) and splices the two.
async fn mirror(mut client: SpdyConnection, upstream: SpdyConnection) {
    while let Some(stream) = client.accept().await {
        let headers = stream.headers().clone();
        match upstream.open_stream(headers, false).await {
            Ok(up) => {
                tokio::spawn(splice(stream, up));
            }
            Err(e) => {
                tracing::debug!(error = %e, "port-forward: runtime refused a stream");
                let (_rd, mut wr) = stream.into_split();
                let _ = wr.reset(rst::INTERNAL_ERROR).await;
            }
        }
    }
    let _ = upstream.goaway().await;
}

async fn splice(client: SpdyStream, up: SpdyStream) {
    let (mut crd, mut cwr) = client.into_split();
    let (mut urd, mut uwr) = up.into_split();
    tokio::join!(copy(&mut crd, &mut uwr), copy(&mut urd, &mut cwr));
}

/// Copies one direction; EOF becomes a half-close and a reset a reset.
async fn copy(rd: &mut SpdyReadHalf, wr: &mut SpdyWriteHalf) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) => {
                let _ = wr.finish().await;
                return;
            }
            Ok(n) => {
                if wr
                    .send(Bytes::copy_from_slice(&buf[..n]), false)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(_) => {
                let _ = wr.reset(rst::CANCEL).await;
                return;
            }
        }
    }
}

/// The native WebSocket protocol: port `i` becomes request `i` on the runtime session.
async fn native(handles: Vec<WsForwardedPort>, upstream: SpdyConnection) {
    let upstream = Arc::new(upstream);
    let mut tasks = Vec::new();
    for (i, mut port) in handles.into_iter().enumerate() {
        let headers = |t: &str| {
            Headers::new()
                .with("streamtype", t)
                .with("port", &port.port.to_string())
                .with("requestid", &i.to_string())
        };
        let pair = async {
            let mut err = upstream.open_stream(headers("error"), false).await?;
            // Nothing is ever written to the error stream from this side.
            err.writer().finish().await?;
            let data = upstream.open_stream(headers("data"), false).await?;
            Ok::<_, rkube_streaming::Error>((err, data))
        };
        let (err, data) = match pair.await {
            Ok(p) => p,
            Err(e) => {
                let _ = port
                    .send_error(&format!("error forwarding port {}: {e}", port.port))
                    .await;
                continue;
            }
        };
        let (_, closed) = mpsc::channel(1);
        let mut data_in = std::mem::replace(&mut port.data_in, closed);
        let port = Arc::new(port);
        let (mut drd, mut dwr) = data.into_split();
        tokio::spawn(async move {
            while let Some(b) = data_in.recv().await {
                if dwr.send(b, false).await.is_err() {
                    return;
                }
            }
            let _ = dwr.finish().await;
        });
        let up = upstream.clone();
        tasks.push(tokio::spawn(async move {
            let out = async {
                while let Some(chunk) = drd.next_chunk().await {
                    if port.send(chunk).await.is_err() {
                        return;
                    }
                }
            };
            let errors = async {
                let (mut erd, _ewr) = err.into_split();
                let mut msg = Vec::new();
                while let Some(chunk) = erd.next_chunk().await {
                    msg.extend_from_slice(&chunk);
                }
                if !msg.is_empty() {
                    let _ = port.send_error(&String::from_utf8_lossy(&msg)).await;
                }
            };
            tokio::join!(out, errors);
            drop(up);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let _ = upstream.goaway().await;
}
