//! SPDY/3.1 frame encoding and decoding (big-endian, 8-byte headers).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::headers::{HeaderCompressor, HeaderDecompressor, Headers};
use crate::error::{Error, Result};

pub const FLAG_FIN: u8 = 0x01;
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// Largest frame payload the 24-bit length allows.
pub const MAX_FRAME_PAYLOAD: usize = (1 << 24) - 1;

/// RST_STREAM status codes used here.
pub mod rst {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const CANCEL: u32 = 5;
    pub const INTERNAL_ERROR: u32 = 6;
    pub const STREAM_IN_USE: u32 = 8;
}

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// A decoded frame. Header blocks are decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_id: u32,
        priority: u8,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    /// (flags, id, value) triples.
    Settings {
        flags: u8,
        entries: Vec<(u8, u32, u32)>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Bytes,
    },
    /// A control frame type we do not interpret (e.g. NOOP, CREDENTIAL); SPDY says ignore it.
    Unknown {
        kind: u16,
    },
}

impl Frame {
    pub fn is_fin(&self) -> bool {
        match self {
            Frame::SynStream { flags, .. }
            | Frame::SynReply { flags, .. }
            | Frame::Headers { flags, .. }
            | Frame::Data { flags, .. } => flags & FLAG_FIN != 0,
            _ => false,
        }
    }
}

fn control_header(out: &mut BytesMut, kind: u16, flags: u8, len: usize) {
    out.put_u16(0x8000 | 3);
    out.put_u16(kind);
    out.put_u32(((flags as u32) << 24) | (len as u32 & 0x00FF_FFFF));
}

/// Appends `frame` to `out`, compressing header blocks with the connection's context.
pub fn encode(frame: &Frame, comp: &mut HeaderCompressor, out: &mut BytesMut) -> Result<()> {
    match frame {
        Frame::SynStream {
            stream_id,
            associated_id,
            priority,
            flags,
            headers,
        } => {
            let block = comp.compress(headers)?;
            control_header(out, SYN_STREAM, *flags, 10 + block.len());
            out.put_u32(stream_id & 0x7FFF_FFFF);
            out.put_u32(associated_id & 0x7FFF_FFFF);
            out.put_u8((priority & 0x7) << 5);
            out.put_u8(0); // slot
            out.put_slice(&block);
        }
        Frame::SynReply {
            stream_id,
            flags,
            headers,
        }
        | Frame::Headers {
            stream_id,
            flags,
            headers,
        } => {
            let kind = if matches!(frame, Frame::SynReply { .. }) {
                SYN_REPLY
            } else {
                HEADERS
            };
            let block = comp.compress(headers)?;
            control_header(out, kind, *flags, 4 + block.len());
            out.put_u32(stream_id & 0x7FFF_FFFF);
            out.put_slice(&block);
        }
        Frame::RstStream { stream_id, status } => {
            control_header(out, RST_STREAM, 0, 8);
            out.put_u32(stream_id & 0x7FFF_FFFF);
            out.put_u32(*status);
        }
        Frame::Settings { flags, entries } => {
            control_header(out, SETTINGS, *flags, 4 + 8 * entries.len());
            out.put_u32(entries.len() as u32);
            for (f, id, value) in entries {
                out.put_u32(((*f as u32) << 24) | (id & 0x00FF_FFFF));
                out.put_u32(*value);
            }
        }
        Frame::Ping { id } => {
            control_header(out, PING, 0, 4);
            out.put_u32(*id);
        }
        Frame::GoAway {
            last_good_stream_id,
            status,
        } => {
            control_header(out, GOAWAY, 0, 8);
            out.put_u32(last_good_stream_id & 0x7FFF_FFFF);
            out.put_u32(*status);
        }
        Frame::WindowUpdate { stream_id, delta } => {
            control_header(out, WINDOW_UPDATE, 0, 8);
            out.put_u32(stream_id & 0x7FFF_FFFF);
            out.put_u32(delta & 0x7FFF_FFFF);
        }
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            if data.len() > MAX_FRAME_PAYLOAD {
                return Err(Error::Spdy("data frame too large".into()));
            }
            out.put_u32(stream_id & 0x7FFF_FFFF);
            out.put_u32(((*flags as u32) << 24) | data.len() as u32);
            out.put_slice(data);
        }
        Frame::Unknown { .. } => return Err(Error::Spdy("cannot encode unknown frame".into())),
    }
    Ok(())
}

fn need(p: &[u8], n: usize, what: &str) -> Result<()> {
    if p.len() < n {
        return Err(Error::Spdy(format!("{what} frame too short")));
    }
    Ok(())
}

/// Decodes one frame from the front of `buf` if complete, consuming it. `max_payload` bounds
/// memory use.
pub fn decode(
    buf: &mut BytesMut,
    decomp: &mut HeaderDecompressor,
    max_payload: usize,
) -> Result<Option<Frame>> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let word = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let flags = (word >> 24) as u8;
    let len = (word & 0x00FF_FFFF) as usize;
    if len > max_payload {
        return Err(Error::Spdy(format!("frame of {len} bytes exceeds limit")));
    }
    if buf.len() < 8 + len {
        return Ok(None);
    }
    let head = buf.split_to(8);
    let mut p = buf.split_to(len).freeze();
    if head[0] & 0x80 == 0 {
        let stream_id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7FFF_FFFF;
        return Ok(Some(Frame::Data {
            stream_id,
            flags,
            data: p,
        }));
    }
    let version = u16::from_be_bytes([head[0], head[1]]) & 0x7FFF;
    if version != 3 {
        return Err(Error::Spdy(format!("unsupported SPDY version {version}")));
    }
    let kind = u16::from_be_bytes([head[2], head[3]]);
    let frame = match kind {
        SYN_STREAM => {
            need(&p, 10, "SYN_STREAM")?;
            let stream_id = p.get_u32() & 0x7FFF_FFFF;
            let associated_id = p.get_u32() & 0x7FFF_FFFF;
            let priority = p.get_u8() >> 5;
            p.advance(1);
            let headers = decomp.decompress(&p)?;
            Frame::SynStream {
                stream_id,
                associated_id,
                priority,
                flags,
                headers,
            }
        }
        SYN_REPLY | HEADERS => {
            need(&p, 4, "SYN_REPLY")?;
            let stream_id = p.get_u32() & 0x7FFF_FFFF;
            let headers = decomp.decompress(&p)?;
            if kind == SYN_REPLY {
                Frame::SynReply {
                    stream_id,
                    flags,
                    headers,
                }
            } else {
                Frame::Headers {
                    stream_id,
                    flags,
                    headers,
                }
            }
        }
        RST_STREAM => {
            need(&p, 8, "RST_STREAM")?;
            Frame::RstStream {
                stream_id: p.get_u32() & 0x7FFF_FFFF,
                status: p.get_u32(),
            }
        }
        SETTINGS => {
            need(&p, 4, "SETTINGS")?;
            let count = p.get_u32() as usize;
            need(&p, count.saturating_mul(8), "SETTINGS")?;
            let entries = (0..count)
                .map(|_| {
                    let w = p.get_u32();
                    ((w >> 24) as u8, w & 0x00FF_FFFF, p.get_u32())
                })
                .collect();
            Frame::Settings { flags, entries }
        }
        PING => {
            need(&p, 4, "PING")?;
            Frame::Ping { id: p.get_u32() }
        }
        GOAWAY => {
            need(&p, 4, "GOAWAY")?;
            let last_good_stream_id = p.get_u32() & 0x7FFF_FFFF;
            // Some SPDY/3 peers omit the status word.
            let status = if p.len() >= 4 { p.get_u32() } else { 0 };
            Frame::GoAway {
                last_good_stream_id,
                status,
            }
        }
        WINDOW_UPDATE => {
            need(&p, 8, "WINDOW_UPDATE")?;
            Frame::WindowUpdate {
                stream_id: p.get_u32() & 0x7FFF_FFFF,
                delta: p.get_u32() & 0x7FFF_FFFF,
            }
        }
        other => Frame::Unknown { kind: other },
    };
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frames: &[Frame]) {
        let mut comp = HeaderCompressor::new().unwrap();
        let mut decomp = HeaderDecompressor::new();
        let mut wire = BytesMut::new();
        for f in frames {
            encode(f, &mut comp, &mut wire).unwrap();
        }
        // Feed the bytes one at a time to exercise partial-frame handling.
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in wire.iter() {
            buf.put_u8(*b);
            while let Some(f) = decode(&mut buf, &mut decomp, 1 << 20).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert!(buf.is_empty());
    }

    #[test]
    fn all_frame_types_round_trip() {
        let h = Headers::new().with("streamtype", "error");
        round_trip(&[
            Frame::SynStream {
                stream_id: 1,
                associated_id: 0,
                priority: 3,
                flags: FLAG_FIN,
                headers: h.clone(),
            },
            Frame::SynReply {
                stream_id: 1,
                flags: 0,
                headers: Headers::new(),
            },
            Frame::Headers {
                stream_id: 1,
                flags: FLAG_FIN,
                headers: h,
            },
            Frame::RstStream {
                stream_id: 3,
                status: rst::CANCEL,
            },
            Frame::Settings {
                flags: 1,
                entries: vec![(0, 7, 65536), (1, 4, 100)],
            },
            Frame::Ping { id: 0xdead_beef },
            Frame::GoAway {
                last_good_stream_id: 5,
                status: 0,
            },
            Frame::WindowUpdate {
                stream_id: 0,
                delta: 1 << 20,
            },
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"hello"),
            },
        ]);
    }

    #[test]
    fn wire_layout_of_simple_frames() {
        let mut comp = HeaderCompressor::new().unwrap();
        let mut out = BytesMut::new();
        encode(&Frame::Ping { id: 1 }, &mut comp, &mut out).unwrap();
        assert_eq!(&out[..], &[0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
        out.clear();
        let data = Frame::Data {
            stream_id: 3,
            flags: FLAG_FIN,
            data: Bytes::from_static(b"ok"),
        };
        encode(&data, &mut comp, &mut out).unwrap();
        assert_eq!(&out[..], &[0, 0, 0, 3, 1, 0, 0, 2, b'o', b'k']);
    }

    #[test]
    fn rejects_bad_version_and_oversize() {
        let mut d = HeaderDecompressor::new();
        let mut b = BytesMut::from(&[0x80u8, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert!(decode(&mut b, &mut d, 1024).is_err());
        let mut b = BytesMut::from(&[0u8, 0, 0, 1, 0, 1, 0, 0][..]);
        assert!(decode(&mut b, &mut d, 1024).is_err());
        let mut b = BytesMut::from(&[0x80u8, 3, 0, 3, 0, 0, 0, 2, 0, 0][..]);
        assert!(decode(&mut b, &mut d, 1024).is_err());
    }
}
