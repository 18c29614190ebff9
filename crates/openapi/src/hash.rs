//! Content hashes for the `?hash=` URLs and ETags.
//!
//! FNV-1a is a fixed algorithm, so hashes are stable across builds and Rust versions
//! (unlike `DefaultHasher`), which keeps kubectl's disk cache valid across restarts.
//! Documents are hashed from their `Value` tree rather than their bytes so the bytes can
//! be rendered lazily, on the first request.

use serde_json::Value;

#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// Length-prefixed so that adjacent strings cannot run into each other.
    pub(crate) fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.bytes(s.as_bytes());
    }

    /// Feeds a JSON value with type tags and lengths, so distinct values hash apart.
    pub(crate) fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.bytes(b"n"),
            Value::Bool(b) => self.bytes(if *b { b"t" } else { b"f" }),
            Value::Number(n) => {
                self.bytes(b"#");
                self.str(&n.to_string());
            }
            Value::String(s) => {
                self.bytes(b"s");
                self.str(s);
            }
            Value::Array(items) => {
                self.bytes(b"[");
                self.u64(items.len() as u64);
                items.iter().for_each(|i| self.value(i));
            }
            Value::Object(map) => {
                self.bytes(b"{");
                self.u64(map.len() as u64);
                for (k, v) in map {
                    self.str(k);
                    self.value(v);
                }
            }
        }
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }

    pub(crate) fn hex(self) -> String {
        format!("{:016X}", self.0)
    }
}

/// Hash of raw bytes as 16 upper-case hex digits.
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    let mut h = Fnv::default();
    h.bytes(bytes);
    h.hex()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hv(v: &Value) -> u64 {
        let mut h = Fnv::default();
        h.value(v);
        h.finish()
    }

    #[test]
    fn value_hash_separates_structure() {
        assert_ne!(hv(&json!(["ab", "c"])), hv(&json!(["a", "bc"])));
        assert_ne!(hv(&json!({"a": 1})), hv(&json!({"a": "1"})));
        assert_ne!(hv(&json!({"a": {"b": 1}})), hv(&json!({"a": {"b": 2}})));
        assert_eq!(
            hv(&json!({"a": [1, true, null]})),
            hv(&json!({"a": [1, true, null]}))
        );
        assert_ne!(content_hash(b"a"), content_hash(b"b"));
    }
}
