//! The HTTP side of a SPDY/3.1 upgrade: validate kubectl's request and build the 101 answer.

use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, UPGRADE};

pub const UPGRADE_TOKEN: &str = "SPDY/3.1";
pub const STREAM_PROTOCOL_HEADER: &str = "x-stream-protocol-version";
pub const ACCEPTED_PROTOCOLS_HEADER: &str = "x-accepted-stream-protocol-versions";

/// Protocols for exec/attach, best first (upstream's order).
pub const REMOTECOMMAND_PROTOCOLS: &[&str] = &[
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
/// The only port-forward protocol.
pub const PORTFORWARD_PROTOCOLS: &[&str] = &["portforward.k8s.io"];

/// Why an upgrade cannot proceed, with the HTTP answer upstream gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeError {
    /// Not an `Upgrade: SPDY/3.1` request: answer 400.
    #[error("unable to upgrade: missing upgrade headers in request")]
    NotUpgrade,
    /// None of the client's versions is supported: answer 403 with [`Self::response_headers`].
    #[error("unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {supported:?}")]
    NoCommonProtocol {
        offered: Vec<String>,
        supported: Vec<String>,
    },
}

impl UpgradeError {
    pub fn status_code(&self) -> u16 {
        match self {
            UpgradeError::NotUpgrade => 400,
            UpgradeError::NoCommonProtocol { .. } => 403,
        }
    }

    /// Headers for the error answer (`X-Accepted-Stream-Protocol-Versions`, one per version).
    pub fn response_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let UpgradeError::NoCommonProtocol { supported, .. } = self {
            for p in supported {
                if let Ok(v) = HeaderValue::from_str(p) {
                    h.append(HeaderName::from_static(ACCEPTED_PROTOCOLS_HEADER), v);
                }
            }
        }
        h
    }
}

fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// True for `Connection: Upgrade` + `Upgrade: SPDY/3.1`.
pub fn is_spdy_request(headers: &HeaderMap) -> bool {
    has_token(headers, &CONNECTION, "upgrade") && has_token(headers, &UPGRADE, UPGRADE_TOKEN)
}

/// `X-Stream-Protocol-Version` values in the client's order (one header line each, or a
/// comma-separated list).
pub fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(HeaderName::from_static(STREAM_PROTOCOL_HEADER))
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The outcome of a successful negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The chosen protocol; empty when the client offered none (oldest clients).
    pub protocol: String,
    /// Headers to send with `101 Switching Protocols`.
    pub response_headers: HeaderMap,
}

/// Validates an upgrade request against `supported` (see [`REMOTECOMMAND_PROTOCOLS`] and
/// [`PORTFORWARD_PROTOCOLS`]) and picks the first version the client offers that we support.
pub fn negotiate(request: &HeaderMap, supported: &[&str]) -> Result<Negotiated, UpgradeError> {
    if !is_spdy_request(request) {
        return Err(UpgradeError::NotUpgrade);
    }
    let offered = offered_protocols(request);
    let protocol = if offered.is_empty() {
        String::new()
    } else {
        offered
            .iter()
            .find(|o| supported.contains(&o.as_str()))
            .cloned()
            .ok_or_else(|| UpgradeError::NoCommonProtocol {
                offered: offered.clone(),
                supported: supported.iter().map(|s| s.to_string()).collect(),
            })?
    };
    let mut h = HeaderMap::new();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static(UPGRADE_TOKEN));
    if !protocol.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&protocol) {
            h.insert(HeaderName::from_static(STREAM_PROTOCOL_HEADER), v);
        }
    }
    Ok(Negotiated {
        protocol,
        response_headers: h,
    })
}

/// Request headers for dialling a SPDY endpoint ourselves (e.g. the kubelet or CRI streaming
/// server), offering `protocols` in order.
pub fn request_headers(protocols: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static(UPGRADE_TOKEN));
    for p in protocols {
        if let Ok(v) = HeaderValue::from_str(p) {
            h.append(HeaderName::from_static(STREAM_PROTOCOL_HEADER), v);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_clients_first_supported_version() {
        let req = request_headers(&["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]);
        let n = negotiate(&req, &["v4.channel.k8s.io", "channel.k8s.io"]).unwrap();
        assert_eq!(n.protocol, "v4.channel.k8s.io");
        assert_eq!(
            n.response_headers[STREAM_PROTOCOL_HEADER],
            "v4.channel.k8s.io"
        );
        assert_eq!(n.response_headers[UPGRADE], "SPDY/3.1");
        let n = negotiate(&req, REMOTECOMMAND_PROTOCOLS).unwrap();
        assert_eq!(n.protocol, "v5.channel.k8s.io");
    }

    #[test]
    fn portforward_and_failures() {
        let mut req = HeaderMap::new();
        req.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        req.insert(UPGRADE, HeaderValue::from_static("spdy/3.1"));
        req.insert(
            STREAM_PROTOCOL_HEADER,
            HeaderValue::from_static("portforward.k8s.io"),
        );
        assert_eq!(
            negotiate(&req, PORTFORWARD_PROTOCOLS).unwrap().protocol,
            "portforward.k8s.io"
        );
        let err = negotiate(&req, REMOTECOMMAND_PROTOCOLS).unwrap_err();
        assert_eq!(err.status_code(), 403);
        assert_eq!(
            err.response_headers()
                .get_all(ACCEPTED_PROTOCOLS_HEADER)
                .iter()
                .count(),
            5
        );
        req.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(
            negotiate(&req, PORTFORWARD_PROTOCOLS).unwrap_err(),
            UpgradeError::NotUpgrade
        );
    }
}
