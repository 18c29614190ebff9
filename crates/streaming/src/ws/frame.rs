//! RFC 6455 frame encoding and decoding.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

/// Frame opcodes (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => return Err(Error::WebSocket(format!("reserved opcode {other:#x}"))),
        })
    }

    fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// One decoded frame; the payload is already unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: OpCode,
    pub masked: bool,
    pub payload: Bytes,
}

/// Appends one frame to `out`. Clients must mask (`mask = Some`), servers must not.
pub fn encode(
    out: &mut BytesMut,
    fin: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    out.put_u8(if fin { 0x80 } else { 0 } | opcode.as_u8());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.put_u8(mask_bit | len as u8);
    } else if len <= u16::MAX as usize {
        out.put_u8(mask_bit | 126);
        out.put_u16(len as u16);
    } else {
        out.put_u8(mask_bit | 127);
        out.put_u64(len as u64);
    }
    match mask {
        Some(key) => {
            out.put_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.put_slice(payload),
    }
}

/// Decodes one frame from the front of `buf` if it is complete, consuming it.
/// `max_payload` bounds memory use against a hostile peer.
pub fn decode(buf: &mut BytesMut, max_payload: usize) -> Result<Option<Frame>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let b0 = buf[0];
    let b1 = buf[1];
    if b0 & 0x70 != 0 {
        // No extension is ever negotiated, so reserved bits must be zero.
        return Err(Error::WebSocket("reserved bits set".into()));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = OpCode::from_u8(b0 & 0x0F)?;
    let masked = b1 & 0x80 != 0;
    let (len, mut header_len) = match b1 & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4usize)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(n), 10usize)
        }
        n => (n as u64, 2usize),
    };
    if opcode.is_control() && (len > 125 || !fin) {
        return Err(Error::WebSocket("invalid control frame".into()));
    }
    if len > max_payload as u64 {
        return Err(Error::WebSocket(format!(
            "frame of {len} bytes exceeds limit"
        )));
    }
    let len = len as usize;
    let mut key = None;
    if masked {
        if buf.len() < header_len + 4 {
            return Ok(None);
        }
        key = Some([
            buf[header_len],
            buf[header_len + 1],
            buf[header_len + 2],
            buf[header_len + 3],
        ]);
        header_len += 4;
    }
    if buf.len() < header_len + len {
        return Ok(None);
    }
    buf.advance(header_len);
    let mut payload = buf.split_to(len);
    if let Some(key) = key {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok(Some(Frame {
        fin,
        opcode,
        masked,
        payload: payload.freeze(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frame_matches_wire_reference() {
        // stdout "hi\n" as kubectl sees it: 82 04 01 68 69 0a
        let mut out = BytesMut::new();
        encode(&mut out, true, OpCode::Binary, b"\x01hi\n", None);
        assert_eq!(&out[..], &[0x82, 0x04, 0x01, 0x68, 0x69, 0x0a]);
        let mut out = BytesMut::new();
        encode(&mut out, true, OpCode::Close, &1000u16.to_be_bytes(), None);
        assert_eq!(&out[..], &[0x88, 0x02, 0x03, 0xe8]);
    }

    #[test]
    fn masked_round_trip_all_length_forms() {
        for len in [0usize, 5, 125, 126, 1000, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut out = BytesMut::new();
            encode(
                &mut out,
                false,
                OpCode::Binary,
                &payload,
                Some([1, 2, 3, 4]),
            );
            // A partial buffer must not decode.
            let mut partial = BytesMut::from(&out[..out.len() - 1]);
            assert!(decode(&mut partial, 1 << 20).unwrap().is_none());
            let f = decode(&mut out, 1 << 20).unwrap().unwrap();
            assert!(!f.fin && f.masked);
            assert_eq!(f.opcode, OpCode::Binary);
            assert_eq!(&f.payload[..], &payload[..]);
            assert!(out.is_empty());
        }
    }

    #[test]
    fn rejects_oversized_and_bad_control_frames() {
        let mut out = BytesMut::new();
        encode(&mut out, true, OpCode::Binary, &[0u8; 300], None);
        assert!(decode(&mut out, 100).is_err());
        let mut out = BytesMut::new();
        encode(&mut out, false, OpCode::Ping, b"x", None);
        assert!(decode(&mut out, 100).is_err());
        let mut bad = BytesMut::from(&[0x83u8, 0x00][..]);
        assert!(decode(&mut bad, 100).is_err());
    }
}
