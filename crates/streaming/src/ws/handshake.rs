//! Server side of the WebSocket opening handshake (RFC 6455 §4.2), framework-agnostic: the
//! caller inspects the request with these helpers, answers 101 with [`response_headers`], and
//! hands the upgraded connection to [`super::WsStream::start`].

use base64::Engine;
use http::header::{HeaderMap, HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, UPGRADE};
use http::header::{SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION};

use crate::error::{Error, Result};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a client key.
pub fn accept_key(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

fn header_has_token(
    headers: &HeaderMap,
    name: impl http::header::AsHeaderName + Copy,
    token: &str,
) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// True when the request asks for a WebSocket upgrade (`Connection: Upgrade`,
/// `Upgrade: websocket`). Used to choose between the WebSocket and SPDY code paths.
pub fn is_websocket_request(headers: &HeaderMap) -> bool {
    header_has_token(headers, &CONNECTION, "upgrade")
        && header_has_token(headers, &UPGRADE, "websocket")
}

/// Subprotocols the client offered, in its order of preference.
pub fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Picks the first client-offered protocol that we support. Upstream honours the client's
/// order, so do we. `Ok(None)` means the client offered none (upstream then uses the plain
/// channel protocol).
pub fn negotiate<'a>(headers: &HeaderMap, supported: &[&'a str]) -> Result<Option<&'a str>> {
    let offered = offered_protocols(headers);
    if offered.is_empty() {
        return Ok(None);
    }
    offered
        .iter()
        .find_map(|o| supported.iter().find(|s| **s == o.as_str()).copied())
        .map(Some)
        .ok_or_else(|| {
            Error::Handshake(format!(
                "requested protocol(s) are not supported: {offered:?}; supports {supported:?}"
            ))
        })
}

/// Validates the request and returns the headers of the `101 Switching Protocols` answer,
/// selecting `protocol` (from [`negotiate`]) when given.
pub fn response_headers(request: &HeaderMap, protocol: Option<&str>) -> Result<HeaderMap> {
    if !is_websocket_request(request) {
        return Err(Error::Handshake("not a websocket upgrade request".into()));
    }
    let version_ok = request
        .get(SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "13");
    if !version_ok {
        return Err(Error::Handshake("unsupported Sec-WebSocket-Version".into()));
    }
    let key = request
        .get(SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::Handshake("missing Sec-WebSocket-Key".into()))?;
    let mut h = HeaderMap::new();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = HeaderValue::from_str(&accept_key(key))
        .map_err(|_| Error::Handshake("bad Sec-WebSocket-Key".into()))?;
    h.insert(SEC_WEBSOCKET_ACCEPT, accept);
    if let Some(p) = protocol {
        let v = HeaderValue::from_str(p).map_err(|_| Error::Handshake("bad protocol".into()))?;
        h.insert(SEC_WEBSOCKET_PROTOCOL, v);
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(protocols: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        h.insert(
            SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        for p in protocols {
            h.append(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(p).unwrap());
        }
        h
    }

    #[test]
    fn accept_key_matches_rfc6455_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn negotiation_follows_client_order() {
        let supported = ["v4.channel.k8s.io", "v5.channel.k8s.io", "channel.k8s.io"];
        let r = req(&["v5.channel.k8s.io, v4.channel.k8s.io"]);
        assert_eq!(
            negotiate(&r, &supported).unwrap(),
            Some("v5.channel.k8s.io")
        );
        let r = req(&["base64.channel.k8s.io", "channel.k8s.io"]);
        assert_eq!(negotiate(&r, &supported).unwrap(), Some("channel.k8s.io"));
        assert!(negotiate(&req(&["SPDY/3.1+portforward.k8s.io"]), &supported).is_err());
        assert_eq!(negotiate(&req(&[]), &supported).unwrap(), None);
    }

    #[test]
    fn response_carries_accept_and_protocol() {
        let h = response_headers(&req(&[]), Some("v5.channel.k8s.io")).unwrap();
        assert_eq!(h[SEC_WEBSOCKET_ACCEPT], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(h[SEC_WEBSOCKET_PROTOCOL], "v5.channel.k8s.io");
        let mut bad = req(&[]);
        bad.remove(SEC_WEBSOCKET_KEY);
        assert!(response_headers(&bad, None).is_err());
        let mut not_ws = req(&[]);
        not_ws.insert(UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        assert!(!is_websocket_request(&not_ws));
    }
}
