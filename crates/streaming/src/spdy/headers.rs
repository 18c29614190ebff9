//! SPDY/3 name/value header blocks and their zlib compression. SPDY keeps one compression
//! context per direction for the whole connection, so a [`HeaderCompressor`] and a
//! [`HeaderDecompressor`] live as long as the connection and see every block in wire order.

use bytes::{Buf, BufMut, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::dictionary::SPDY3_DICTIONARY;
use crate::error::{Error, Result};

/// Bound on a decompressed header block; kubectl's blocks are a few dozen bytes.
const MAX_HEADER_BLOCK: usize = 1 << 20;

/// Ordered header pairs. Names are lower-case; several values of one name are joined by NUL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder-style insertion; names are lower-cased as SPDY/3 requires.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.0.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Value of the first header called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Serialises the uncompressed block: 32-bit count, then length-prefixed names and values.
    pub fn encode_block(&self) -> Vec<u8> {
        let mut out = BytesMut::new();
        out.put_u32(self.0.len() as u32);
        for (n, v) in &self.0 {
            out.put_u32(n.len() as u32);
            out.put_slice(n.as_bytes());
            out.put_u32(v.len() as u32);
            out.put_slice(v.as_bytes());
        }
        out.to_vec()
    }

    /// Parses an uncompressed block.
    pub fn decode_block(mut b: &[u8]) -> Result<Self> {
        fn take<'a>(b: &mut &'a [u8]) -> Result<&'a [u8]> {
            if b.remaining() < 4 {
                return Err(Error::Spdy("truncated header block".into()));
            }
            let len = b.get_u32() as usize;
            if b.remaining() < len {
                return Err(Error::Spdy("truncated header block".into()));
            }
            let (s, rest) = b.split_at(len);
            *b = rest;
            Ok(s)
        }
        if b.remaining() < 4 {
            return Err(Error::Spdy("truncated header block".into()));
        }
        let count = b.get_u32() as usize;
        // Each pair needs at least 8 bytes, which bounds a hostile count.
        if count > b.remaining() / 8 {
            return Err(Error::Spdy("header count exceeds block".into()));
        }
        let mut pairs = Vec::with_capacity(count);
        for _ in 0..count {
            let name = take(&mut b)?;
            let value = take(&mut b)?;
            let name = String::from_utf8(name.to_vec())
                .map_err(|_| Error::Spdy("header name is not UTF-8".into()))?;
            let value = String::from_utf8_lossy(value).into_owned();
            pairs.push((name, value));
        }
        Ok(Self(pairs))
    }
}

/// Outgoing compression context of one connection.
pub struct HeaderCompressor {
    z: Compress,
}

impl HeaderCompressor {
    pub fn new() -> Result<Self> {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(SPDY3_DICTIONARY)
            .map_err(|e| Error::Compression(e.to_string()))?;
        Ok(Self { z })
    }

    /// Compresses one block, ending with a sync flush so the peer can decode it at once.
    pub fn compress(&mut self, headers: &Headers) -> Result<Vec<u8>> {
        let input = headers.encode_block();
        let mut out = Vec::with_capacity(input.len() + 64);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            let before = self.z.total_in();
            let status = self
                .z
                .compress_vec(&input[pos..], &mut out, FlushCompress::Sync)
                .map_err(|e| Error::Compression(e.to_string()))?;
            pos += (self.z.total_in() - before) as usize;
            // Done once all input is in and the flush fitted (spare room left in `out`).
            if pos >= input.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            if status == Status::StreamEnd {
                return Err(Error::Compression("unexpected end of zlib stream".into()));
            }
        }
    }
}

/// Incoming decompression context of one connection.
pub struct HeaderDecompressor {
    z: Decompress,
}

impl HeaderDecompressor {
    pub fn new() -> Self {
        Self {
            z: Decompress::new(true),
        }
    }

    pub fn decompress(&mut self, input: &[u8]) -> Result<Headers> {
        let raw = self.inflate(input)?;
        Headers::decode_block(&raw)
    }

    fn inflate(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let (in_before, out_before) = (self.z.total_in(), out.len());
            let res = self
                .z
                .decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync);
            pos += (self.z.total_in() - in_before) as usize;
            match res {
                Ok(_) => {}
                // The first block's zlib header names the preset dictionary.
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z
                        .set_dictionary(SPDY3_DICTIONARY)
                        .map_err(|e| Error::Compression(e.to_string()))?;
                    continue;
                }
                Err(e) => return Err(Error::Compression(e.to_string())),
            }
            if out.len() > MAX_HEADER_BLOCK {
                return Err(Error::Compression("header block too large".into()));
            }
            let consumed = self.z.total_in() != in_before;
            if pos >= input.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            if !consumed && out.len() == out_before && out.len() < out.capacity() {
                return Err(Error::Compression("truncated header block".into()));
            }
        }
    }
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::dictionary::SPDY3_DICTIONARY_ID;
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + x as u32) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }

    #[test]
    fn dictionary_is_the_spdy3_constant() {
        assert_eq!(SPDY3_DICTIONARY.len(), 1423);
        assert_eq!(adler32(SPDY3_DICTIONARY), SPDY3_DICTIONARY_ID);
        assert!(SPDY3_DICTIONARY.starts_with(b"\0\0\0\x07options\0\0\0\x04head"));
        assert!(SPDY3_DICTIONARY.ends_with(b"utf-,*,enq=0."));
    }

    /// Blocks produced by C zlib (`compressobj(zdict=…)` + Z_SYNC_FLUSH, one shared context),
    /// i.e. by an implementation independent of ours.
    #[test]
    fn decompresses_independent_zlib_vector_with_shared_context() {
        let mut d = HeaderDecompressor::new();
        let h1 = d
            .decompress(&hex(
                "78bbe3c6a7c202a62346703a2b294a4dcc851625aca9a08006000000ffff",
            ))
            .unwrap();
        assert_eq!(h1, Headers::new().with("streamtype", "error"));
        let h2 = d
            .decompress(&hex(
                "02a5470c295029930829b08bc079c3c2c0c2004873164122381394f0190d00000000ffff",
            ))
            .unwrap();
        assert_eq!(
            h2,
            Headers::new()
                .with("streamtype", "data")
                .with("port", "8080")
                .with("requestid", "0")
        );
        let h3 = d.decompress(&hex("02120c00000000ffff")).unwrap();
        assert_eq!(h3, Headers::new());
    }

    #[test]
    fn compressor_announces_dictionary_and_round_trips() {
        let mut c = HeaderCompressor::new().unwrap();
        let mut d = HeaderDecompressor::new();
        let first = c
            .compress(&Headers::new().with("streamtype", "stdout"))
            .unwrap();
        // zlib header with FDICT, then the dictionary's Adler-32.
        assert_eq!(first[0], 0x78);
        assert_ne!(first[1] & 0x20, 0);
        assert_eq!(&first[2..6], &SPDY3_DICTIONARY_ID.to_be_bytes());
        assert!(first.ends_with(&[0, 0, 0xff, 0xff]));
        assert_eq!(
            d.decompress(&first).unwrap().get("StreamType"),
            Some("stdout")
        );
        for i in 0..50 {
            let h = Headers::new()
                .with("port", &i.to_string())
                .with("x", &"y".repeat(i * 40));
            let block = c.compress(&h).unwrap();
            assert_eq!(d.decompress(&block).unwrap(), h);
        }
    }

    #[test]
    fn hostile_blocks_are_errors() {
        assert!(Headers::decode_block(&[0, 0, 0, 9, 0, 0]).is_err());
        assert!(Headers::decode_block(&[0, 0, 0, 1, 0, 0, 0, 50, b'a']).is_err());
        assert!(HeaderDecompressor::new().decompress(b"garbage!").is_err());
    }
}
