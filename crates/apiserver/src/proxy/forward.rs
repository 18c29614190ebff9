//! Forwarding one request to a backend (a kubelet or a pod), upgrade-aware: when the
//! backend answers 101 the two connections are spliced, which is how exec, attach and
//! port-forward reach the kubelet whatever protocol the client speaks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderMap, HeaderName, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::status::{ApiError, ApiResult};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a request goes.
pub struct Backend {
    pub addr: SocketAddr,
    /// TLS settings for HTTPS backends; `None` = plain HTTP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Path and query on the backend.
    pub path_and_query: String,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded, except the upgrade pair on
/// an upgrade request. The client's credentials are for us, never for the backend.
fn forwarded_headers(headers: &HeaderMap, upgrade: bool) -> HeaderMap {
    const HOP: [&str; 7] = [
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
    ];
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let n = name.as_str();
        if HOP.contains(&n) || name == header::AUTHORIZATION || name == header::HOST {
            continue;
        }
        if !upgrade && (name == header::CONNECTION || name == header::UPGRADE) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"))
}

fn unavailable(backend: &Backend, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        503,
        "ServiceUnavailable",
        format!("error trying to reach {}: {why}", backend.addr),
    )
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

async fn connect(backend: &Backend) -> ApiResult<Box<dyn Io>> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(backend.addr))
        .await
        .map_err(|_| unavailable(backend, "connection timed out"))?
        .map_err(|e| unavailable(backend, e))?;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = &backend.tls else {
        return Ok(Box::new(tcp));
    };
    let name = rustls::pki_types::ServerName::IpAddress(backend.addr.ip().into());
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| unavailable(backend, e))?;
    Ok(Box::new(stream))
}

/// Sends `req` (method, headers, body) to the backend and returns its answer; a 101 is
/// passed on and both sides are joined once the client's upgrade completes.
pub async fn forward(backend: Backend, mut req: Request<Body>) -> ApiResult<Response> {
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let io = connect(&backend).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| unavailable(&backend, e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "backend connection");
        }
    });
    let (parts, body) = req.into_parts();
    let uri: Uri = backend
        .path_and_query
        .parse()
        .map_err(|e| ApiError::bad_request(format!("invalid proxy path: {e}")))?;
    let mut out = Request::builder().method(parts.method).uri(uri);
    if let Some(h) = out.headers_mut() {
        *h = forwarded_headers(&parts.headers, upgrade);
        if let Ok(host) = backend.addr.to_string().parse() {
            h.insert(header::HOST, host);
        }
    }
    let out = out
        .body(body)
        .map_err(|e| ApiError::internal(format!("building proxy request: {e}")))?;
    let mut resp = sender
        .send_request(out)
        .await
        .map_err(|e| unavailable(&backend, e))?;
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let backend_upgrade = hyper::upgrade::on(&mut resp);
        if let Some(client_upgrade) = client_upgrade {
            tokio::spawn(async move {
                let (client, backend) = match tokio::try_join!(client_upgrade, backend_upgrade) {
                    Ok(both) => both,
                    Err(e) => {
                        tracing::debug!(error = %e, "upgrade");
                        return;
                    }
                };
                let mut client = TokioIo::new(client);
                let mut backend = TokioIo::new(backend);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
            });
        }
        let (parts, _) = resp.into_parts();
        return Ok(Response::from_parts(parts, Body::empty()));
    }
    let (mut parts, body) = resp.into_parts();
    strip_hop_headers(&mut parts.headers);
    Ok(Response::from_parts(parts, Body::new(body)))
}

fn strip_hop_headers(headers: &mut HeaderMap) {
    for name in ["connection", "keep-alive", "transfer-encoding", "upgrade"] {
        headers.remove(HeaderName::from_static(name));
    }
}

/// TLS settings for talking to kubelets with the given client certificate (HTTP/1.1
/// only: upgrades need it).
pub fn kubelet_tls(cert_pem: &str, key_pem: &str) -> Result<rustls::ClientConfig, String> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .filter_map(Result::ok)
        .collect();
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .ok()
        .flatten()
        .ok_or("kubelet client key: no PEM key")?;
    // Kubelets serve certificates we may not have issued (one started on its own makes
    // a self-signed one): like upstream without --kubelet-certificate-authority, their
    // certificate is not verified. Ours is.
    let mut config = rkube_tls::unverified_server()
        .map_err(|e| e.to_string())?
        .with_client_auth_cert(certs, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hop_headers_stay_here() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer secret".parse().unwrap());
        h.insert(header::CONNECTION, "Upgrade".parse().unwrap());
        h.insert(header::UPGRADE, "websocket".parse().unwrap());
        h.insert(
            "sec-websocket-protocol",
            "v5.channel.k8s.io".parse().unwrap(),
        );
        h.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        assert!(is_upgrade(&h));
        let up = forwarded_headers(&h, true);
        assert!(up.get(header::AUTHORIZATION).is_none());
        assert!(up.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(up.get(header::UPGRADE).unwrap(), "websocket");
        assert_eq!(
            up.get("sec-websocket-protocol").unwrap(),
            "v5.channel.k8s.io"
        );
        let plain = forwarded_headers(&h, false);
        assert!(plain.get(header::UPGRADE).is_none());
        assert!(plain.get(header::CONNECTION).is_none());
    }
}
