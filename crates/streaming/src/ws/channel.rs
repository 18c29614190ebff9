//! The Kubernetes channel framing on top of WebSocket messages: the first byte of each
//! binary message names the channel (`base64.*` variants use text messages, an ASCII digit
//! and base64 data).

use base64::Engine;
use bytes::Bytes;

use super::conn::Message;
use crate::error::{Error, Result};

pub const V5: &str = "v5.channel.k8s.io";
pub const V4: &str = "v4.channel.k8s.io";
pub const V4_BASE64: &str = "v4.base64.channel.k8s.io";
pub const V1: &str = "channel.k8s.io";
pub const V1_BASE64: &str = "base64.channel.k8s.io";
/// Tunnelled SPDY port-forwarding (kubectl ≥ 1.31).
pub const SPDY_PORTFORWARD: &str = "SPDY/3.1+portforward.k8s.io";

/// Subprotocols accepted for exec/attach, in our preference (the client's order wins).
pub const REMOTECOMMAND_PROTOCOLS: &[&str] = &[V5, V4, V4_BASE64, V1, V1_BASE64];
/// Subprotocols accepted for plain WebSocket port-forwarding.
pub const PORTFORWARD_PROTOCOLS: &[&str] = &[V4, V4_BASE64, V1, V1_BASE64];

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
/// v5: `FF <channel>` announces that the sender finished writing that channel.
pub const CLOSE: u8 = 255;

/// Protocol generation, which decides how the exit status is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChannelProtocol {
    /// `channel.k8s.io` / `base64.channel.k8s.io` / no subprotocol: plain-text errors.
    V1,
    /// v4: Status JSON on the error channel.
    V4,
    /// v5: v4 plus the close-channel signal.
    V5,
}

/// Encoder/decoder for one negotiated subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelCodec {
    pub version: ChannelProtocol,
    pub base64: bool,
}

/// One decoded channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelFrame {
    Data {
        channel: u8,
        data: Bytes,
    },
    /// v5 close signal for `channel`.
    Close {
        channel: u8,
    },
}

impl ChannelCodec {
    /// Codec for a negotiated subprotocol (`None` = the client offered none).
    pub fn for_subprotocol(protocol: Option<&str>) -> Option<Self> {
        let (version, base64) = match protocol.unwrap_or("") {
            V5 => (ChannelProtocol::V5, false),
            V4 => (ChannelProtocol::V4, false),
            V4_BASE64 => (ChannelProtocol::V4, true),
            V1 | "" => (ChannelProtocol::V1, false),
            V1_BASE64 => (ChannelProtocol::V1, true),
            _ => return None,
        };
        Some(Self { version, base64 })
    }

    pub fn encode(&self, channel: u8, data: &[u8]) -> Message {
        if self.base64 {
            let mut s = String::with_capacity(1 + data.len() * 4 / 3 + 4);
            s.push((b'0' + channel) as char);
            base64::engine::general_purpose::STANDARD.encode_string(data, &mut s);
            Message::Text(s)
        } else {
            let mut v = Vec::with_capacity(data.len() + 1);
            v.push(channel);
            v.extend_from_slice(data);
            Message::Binary(Bytes::from(v))
        }
    }

    /// Decodes a message; `Ok(None)` for empty messages, which carry nothing.
    pub fn decode(&self, msg: Message) -> Result<Option<ChannelFrame>> {
        let (channel, data) = match msg {
            Message::Binary(b) if !self.base64 => {
                let Some(&channel) = b.first() else {
                    return Ok(None);
                };
                (channel, b.slice(1..))
            }
            Message::Text(t) if self.base64 => {
                let Some(&c) = t.as_bytes().first() else {
                    return Ok(None);
                };
                let data = base64::engine::general_purpose::STANDARD
                    .decode(&t.as_bytes()[1..])
                    .map_err(|e| Error::WebSocket(format!("bad base64 payload: {e}")))?;
                (c.wrapping_sub(b'0'), Bytes::from(data))
            }
            _ => return Err(Error::WebSocket("unexpected message type".into())),
        };
        if channel == CLOSE && self.version == ChannelProtocol::V5 {
            let Some(&target) = data.first() else {
                return Err(Error::WebSocket("close message without channel".into()));
            };
            return Ok(Some(ChannelFrame::Close { channel: target }));
        }
        Ok(Some(ChannelFrame::Data { channel, data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_channels_round_trip() {
        let c = ChannelCodec::for_subprotocol(Some(V5)).unwrap();
        let m = c.encode(STDOUT, b"hi\n");
        assert_eq!(m, Message::Binary(Bytes::from_static(b"\x01hi\n")));
        assert_eq!(
            c.decode(m).unwrap(),
            Some(ChannelFrame::Data {
                channel: 1,
                data: Bytes::from_static(b"hi\n")
            })
        );
        let close = Message::Binary(Bytes::from_static(&[255, 0]));
        assert_eq!(
            c.decode(close.clone()).unwrap(),
            Some(ChannelFrame::Close { channel: 0 })
        );
        // Before v5, 255 is just an unknown channel.
        let v4 = ChannelCodec::for_subprotocol(Some(V4)).unwrap();
        assert!(matches!(
            v4.decode(close).unwrap(),
            Some(ChannelFrame::Data { channel: 255, .. })
        ));
        assert_eq!(c.decode(Message::Binary(Bytes::new())).unwrap(), None);
        assert!(c.decode(Message::Text("0abc".into())).is_err());
    }

    #[test]
    fn base64_channels_match_upstream_example() {
        let c = ChannelCodec::for_subprotocol(Some(V1_BASE64)).unwrap();
        assert_eq!(c.encode(STDOUT, b"\n"), Message::Text("1Cg==".into()));
        assert_eq!(
            c.decode(Message::Text("0Zm9vCg==".into())).unwrap(),
            Some(ChannelFrame::Data {
                channel: 0,
                data: Bytes::from_static(b"foo\n")
            })
        );
        assert!(c.decode(Message::Text("0!!".into())).is_err());
        assert_eq!(
            ChannelCodec::for_subprotocol(None).unwrap().version,
            ChannelProtocol::V1
        );
        assert!(ChannelCodec::for_subprotocol(Some("v9.channel.k8s.io")).is_none());
    }
}
