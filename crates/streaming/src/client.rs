//! The dialling side: an HTTP/1.1 upgrade request over any byte stream, and helpers that
//! turn the upgraded stream into a SPDY or WebSocket client connection. The kubelet uses
//! them towards the CRI runtime's streaming server; tests use them towards the kubelet.

use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION};
use http::header::{SEC_WEBSOCKET_ACCEPT, UPGRADE};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};
use crate::spdy::upgrade::{self, STREAM_PROTOCOL_HEADER};
use crate::spdy::SpdyConnection;
use crate::ws::handshake::accept_key;
use crate::ws::{Role, WsReceiver, WsSender, WsStream};

/// Bound on a response head; real ones are a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;
/// Bound on an error body we keep for the message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The answer to an upgrade request.
#[derive(Debug, Clone)]
pub struct UpgradeResponse {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body of a refusal (empty for 101).
    pub body: Bytes,
}

impl UpgradeResponse {
    /// A readable reason for a refused upgrade: the Status message when the body is one.
    pub fn error_message(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Status {
            message: Option<String>,
        }
        if let Ok(Status { message: Some(m) }) = serde_json::from_slice::<Status>(&self.body) {
            return m;
        }
        let text = String::from_utf8_lossy(&self.body).trim().to_string();
        if text.is_empty() {
            format!("upgrade refused with status {}", self.status)
        } else {
            text
        }
    }
}

/// A parsed `http://host:port/path?query` URL (what CRI streaming servers hand out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `host:port` as it goes into the Host header and the TCP connect.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| Error::Handshake(format!("unsupported streaming URL {url:?}")))?;
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(Error::Handshake(format!("no host in URL {url:?}")));
        }
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority,
            target: target.to_string(),
        })
    }
}

/// Sends `method target` with `headers` on `io` and reads the response head. After a 101 the
/// stream carries the upgraded protocol; nothing past the head has been consumed.
pub async fn upgrade<S>(
    io: &mut S,
    method: &str,
    target: &str,
    host: &str,
    headers: &HeaderMap,
) -> Result<UpgradeResponse>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        let v = value
            .to_str()
            .map_err(|_| Error::Handshake(format!("header {name} is not text")))?;
        req.push_str(&format!("{name}: {v}\r\n"));
    }
    if method == "POST" && !headers.contains_key(http::header::CONTENT_LENGTH) {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes()).await?;
    io.flush().await?;

    // Byte by byte so no byte of the upgraded protocol is swallowed into a buffer.
    let mut head = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(Error::Handshake("response head too large".into()));
        }
        if io.read(&mut byte).await? == 0 {
            return Err(Error::Handshake(
                "connection closed before the response".into(),
            ));
        }
        head.push(byte[0]);
    }
    let (status, headers) = parse_head(&head)?;
    let mut body = Vec::new();
    if status != 101 {
        let len = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        let want = len.unwrap_or(MAX_ERROR_BODY).min(MAX_ERROR_BODY);
        let read = async {
            let mut chunk = [0u8; 4096];
            while body.len() < want {
                let n = io.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n.min(want - body.len())]);
            }
            Ok::<_, std::io::Error>(())
        };
        // A chunked or keep-alive body without a length must not hang the caller.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), read).await;
    }
    Ok(UpgradeResponse {
        status,
        headers,
        body: Bytes::from(body),
    })
}

fn parse_head(head: &[u8]) -> Result<(u16, HeaderMap)> {
    let text = std::str::from_utf8(head)
        .map_err(|_| Error::Handshake("response head is not text".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(Error::Handshake(format!("bad status line {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error::Handshake(format!("bad status line {status_line:?}")))?;
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Error::Handshake(format!("bad header line {line:?}")));
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Error::Handshake(format!("bad header name {name:?}")))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| Error::Handshake(format!("bad header value in {line:?}")))?;
        headers.append(name, value);
    }
    Ok((status, headers))
}

/// Dials a plain-HTTP SPDY endpoint (a CRI streaming URL), offering `protocols` in order.
/// Returns the client connection and the protocol the server chose.
pub async fn dial_spdy(url: &str, protocols: &[&str]) -> Result<(SpdyConnection, String)> {
    let url = HttpUrl::parse(url)?;
    let mut tcp = TcpStream::connect(&url.authority).await?;
    let _ = tcp.set_nodelay(true);
    let headers = upgrade::request_headers(protocols);
    let resp = upgrade(&mut tcp, "POST", &url.target, &url.authority, &headers).await?;
    let protocol = spdy_accepted(&resp)?;
    Ok((SpdyConnection::client(tcp), protocol))
}

/// Checks a SPDY upgrade answer and returns the negotiated protocol (may be empty).
pub fn spdy_accepted(resp: &UpgradeResponse) -> Result<String> {
    let has = |name: HeaderName, token: &str| {
        resp.headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.to_ascii_lowercase().contains(token))
        })
    };
    if resp.status != 101 || !has(CONNECTION, "upgrade") || !has(UPGRADE, "spdy/3.1") {
        return Err(Error::Handshake(resp.error_message()));
    }
    Ok(resp
        .headers
        .get(HeaderName::from_static(STREAM_PROTOCOL_HEADER))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string())
}

/// Request headers for a WebSocket upgrade offering `protocols`; returns them with the key.
pub fn websocket_request_headers(protocols: &[&str]) -> (HeaderMap, String) {
    let nonce: [u8; 16] = {
        use std::hash::{BuildHasher, Hasher};
        let a = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let b = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let mut n = [0u8; 16];
        n[..8].copy_from_slice(&a.to_le_bytes());
        n[8..].copy_from_slice(&b.to_le_bytes());
        n
    };
    let key = base64::engine::general_purpose::STANDARD.encode(nonce);
    let mut h = HeaderMap::new();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    if let Ok(v) = HeaderValue::from_str(&key) {
        h.insert(SEC_WEBSOCKET_KEY, v);
    }
    if !protocols.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&protocols.join(", ")) {
            h.insert(SEC_WEBSOCKET_PROTOCOL, v);
        }
    }
    (h, key)
}

/// Runs a WebSocket client handshake on `io` (GET `target`) and starts the connection.
/// Returns the halves and the subprotocol the server selected.
pub async fn connect_websocket<S>(
    mut io: S,
    target: &str,
    host: &str,
    protocols: &[&str],
    extra: &HeaderMap,
) -> Result<(WsSender, WsReceiver, Option<String>)>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut headers, key) = websocket_request_headers(protocols);
    for (k, v) in extra {
        headers.append(k, v.clone());
    }
    let resp = upgrade(&mut io, "GET", target, host, &headers).await?;
    if resp.status != 101 {
        return Err(Error::Handshake(resp.error_message()));
    }
    let accept = resp
        .headers
        .get(SEC_WEBSOCKET_ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept != accept_key(&key) {
        return Err(Error::Handshake("bad Sec-WebSocket-Accept".into()));
    }
    let protocol = resp
        .headers
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (tx, rx) = WsStream::start(io, Role::Client);
    Ok((tx, rx, protocol))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::handshake;
    use crate::ws::Message;

    #[test]
    fn parses_streaming_urls() {
        let u = HttpUrl::parse("http://127.0.0.1:34567/exec/AbCd").unwrap();
        assert_eq!(u.authority, "127.0.0.1:34567");
        assert_eq!(u.target, "/exec/AbCd");
        let u = HttpUrl::parse("http://[::1]:5/x?y=1").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.target.as_str()),
            ("[::1]:5", "/x?y=1")
        );
        assert_eq!(HttpUrl::parse("http://host").unwrap().authority, "host:80");
        assert!(HttpUrl::parse("https://host/x").is_err());
    }

    #[test]
    fn refusal_message_prefers_status_json() {
        let r = UpgradeResponse {
            status: 404,
            headers: HeaderMap::new(),
            body: Bytes::from_static(br#"{"kind":"Status","message":"pod does not exist"}"#),
        };
        assert_eq!(r.error_message(), "pod does not exist");
        let r = UpgradeResponse {
            status: 500,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"boom\n"),
        };
        assert_eq!(r.error_message(), "boom");
    }

    /// The client handshake against our own server-side helpers, then one message each way,
    /// with the server's first frame arriving in the same write as its 101 head.
    #[tokio::test]
    async fn websocket_client_handshake_and_data() {
        let (client_io, mut server_io) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(async move {
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                server_io.read_exact(&mut b).await.unwrap();
                head.push(b[0]);
            }
            let text = String::from_utf8(head).unwrap();
            assert!(text.starts_with("GET /exec/ns/p/c?command=ls HTTP/1.1\r\n"));
            let mut req = HeaderMap::new();
            for line in text.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
                let (k, v) = line.split_once(':').unwrap();
                req.append(
                    HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
                    HeaderValue::from_str(v.trim()).unwrap(),
                );
            }
            let proto = handshake::negotiate(&req, &["v5.channel.k8s.io"]).unwrap();
            let resp = handshake::response_headers(&req, proto).unwrap();
            let mut out = String::from("HTTP/1.1 101 Switching Protocols\r\n");
            for (k, v) in &resp {
                out.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&[0x82, 0x03, 0x01, b'h', b'i']);
            server_io.write_all(&bytes).await.unwrap();
            let (_tx, mut rx) = WsStream::start(server_io, Role::Server);
            rx.recv().await.unwrap().unwrap()
        });
        let (tx, mut rx, proto) = connect_websocket(
            client_io,
            "/exec/ns/p/c?command=ls",
            "kubelet",
            &["v5.channel.k8s.io"],
            &HeaderMap::new(),
        )
        .await
        .unwrap();
        assert_eq!(proto.as_deref(), Some("v5.channel.k8s.io"));
        assert_eq!(
            rx.recv().await.unwrap().unwrap(),
            Message::Binary(Bytes::from_static(b"\x01hi"))
        );
        tx.send_binary(Bytes::from_static(b"\x00in")).await.unwrap();
        assert_eq!(
            server.await.unwrap(),
            Message::Binary(Bytes::from_static(b"\x00in"))
        );
    }

    #[tokio::test]
    async fn refused_upgrade_reports_body() {
        let (mut client_io, mut server_io) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = server_io.read(&mut buf).await.unwrap();
            let body = r#"{"message":"container not found (\"x\")"}"#;
            let resp = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            server_io.write_all(resp.as_bytes()).await.unwrap();
            // Keep the connection open: the client must stop at Content-Length.
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        });
        let headers = upgrade::request_headers(&["v4.channel.k8s.io"]);
        let resp = upgrade(&mut client_io, "POST", "/x", "h", &headers)
            .await
            .unwrap();
        assert_eq!(resp.status, 404);
        assert_eq!(
            spdy_accepted(&resp).unwrap_err().to_string(),
            "upgrade handshake rejected: container not found (\"x\")"
        );
    }
}
