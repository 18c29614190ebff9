//! Protobuf wire-format primitives: a bounds-checked reader and a writer.

use crate::DecodeError;

pub const WT_VARINT: u8 = 0;
pub const WT_FIXED64: u8 = 1;
pub const WT_LEN: u8 = 2;
pub const WT_FIXED32: u8 = 5;

/// One field read off the wire, still in its raw form.
#[derive(Debug, Clone, Copy)]
pub enum WireValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    /// No Kubernetes field is 32-bit fixed (float/fixed32), so only skipped.
    Fixed32,
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut out: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
            self.pos += 1;
            // The tenth byte may only contribute the top bit of a u64.
            if i == 9 && b > 1 {
                return Err(DecodeError::Malformed("varint overflows 64 bits".into()));
            }
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(DecodeError::Malformed("varint longer than 10 bytes".into()))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    pub fn fixed64(&mut self) -> Result<u64, DecodeError> {
        let s = self.take(8)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(s);
        Ok(u64::from_le_bytes(b))
    }

    pub fn fixed32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        let mut b = [0u8; 4];
        b.copy_from_slice(s);
        Ok(u32::from_le_bytes(b))
    }

    /// Reads the next (field number, value). Group wire types (3, 4) are
    /// proto1 leftovers that Kubernetes never emits, so they are rejected.
    pub fn field(&mut self) -> Result<(u32, WireValue<'a>), DecodeError> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3)
            .map_err(|_| DecodeError::Malformed("field number out of range".into()))?;
        if number == 0 {
            return Err(DecodeError::Malformed("field number 0".into()));
        }
        let value = match (key & 7) as u8 {
            WT_VARINT => WireValue::Varint(self.varint()?),
            WT_FIXED64 => WireValue::Fixed64(self.fixed64()?),
            WT_LEN => {
                let len = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated)?;
                WireValue::Len(self.take(len)?)
            }
            WT_FIXED32 => {
                self.fixed32()?;
                WireValue::Fixed32
            }
            wt => {
                return Err(DecodeError::Malformed(format!(
                    "unsupported wire type {wt}"
                )))
            }
        };
        Ok((number, value))
    }
}

#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub fn key(&mut self, number: u32, wire_type: u8) {
        self.varint((u64::from(number) << 3) | u64::from(wire_type));
    }

    pub fn varint_field(&mut self, number: u32, v: u64) {
        self.key(number, WT_VARINT);
        self.varint(v);
    }

    pub fn bytes_field(&mut self, number: u32, data: &[u8]) {
        self.key(number, WT_LEN);
        self.varint(data.len() as u64);
        self.buf.extend_from_slice(data);
    }

    pub fn double_field(&mut self, number: u32, v: f64) {
        self.key(number, WT_FIXED64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
}
