//! Encoded answers for repeated zone questions.
//!
//! Our answer is a pure function of the request bytes after the id (flags, question, EDNS)
//! plus the transport and the zone's state, so identical questions can share encoded
//! replies: a hit costs a hash lookup and a copy instead of decode + lookup + encode.
//! Any zone change invalidates everything (entries carry the zone version they were
//! computed from).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Beyond this many entries the cache starts over (bounds memory under random names).
const MAX_ENTRIES: usize = 65_536;

#[derive(Debug, Default)]
struct Inner {
    version: u64,
    entries: HashMap<Box<[u8]>, Arc<[u8]>>,
}

#[derive(Debug, Default)]
pub(crate) struct AnswerCache {
    inner: RwLock<Inner>,
}

/// The cache key of a request, or `None` for requests we do not cache: anything but a
/// plain query with one question and at most one additional record (the EDNS OPT).
pub(crate) fn key(raw: &[u8], udp: bool) -> Option<Vec<u8>> {
    let header = raw.get(..12)?;
    let flags = header[2];
    let is_plain_query = flags & 0x80 == 0 && (flags >> 3) & 0x0f == 0;
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    if !is_plain_query || count(4) != 1 || count(6) != 0 || count(8) != 0 || count(10) > 1 {
        return None;
    }
    let mut k = Vec::with_capacity(raw.len());
    k.push(u8::from(udp));
    k.extend_from_slice(&raw[2..]);
    Some(k)
}

impl AnswerCache {
    /// The cached reply for `key` at zone `version`, with `id` written in.
    pub(crate) fn get(&self, key: &[u8], version: u64, id: [u8; 2]) -> Option<Vec<u8>> {
        let inner = self.inner.read().ok()?;
        if inner.version != version {
            return None;
        }
        let hit = inner.entries.get(key)?;
        let mut reply = hit.to_vec();
        reply.get_mut(..2)?.copy_from_slice(&id);
        Some(reply)
    }

    /// Remembers `reply`, computed from the zone at `version`.
    pub(crate) fn insert(&self, key: Vec<u8>, version: u64, reply: &[u8]) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if inner.version != version {
            // Older answers are stale; an answer from an older version than the cache's
            // is itself stale and not kept.
            if version < inner.version {
                return;
            }
            inner.entries.clear();
            inner.version = version;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(key.into_boxed_slice(), reply.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(flags: u8, qd: u8, ar: u8) -> Vec<u8> {
        let mut q = vec![0xab, 0xcd, flags, 0, 0, qd, 0, 0, 0, 0, 0, ar];
        q.extend_from_slice(b"\x03web\x00\x00\x01\x00\x01");
        q
    }

    #[test]
    fn keys_only_plain_single_questions() {
        assert!(key(&query(0x01, 1, 0), true).is_some());
        assert!(key(&query(0x01, 1, 1), true).is_some());
        assert!(key(&query(0x81, 1, 0), true).is_none(), "a response");
        assert!(
            key(&query(0x01 | (4 << 3), 1, 0), true).is_none(),
            "NOTIFY opcode"
        );
        assert!(key(&query(0x01, 2, 0), true).is_none());
        assert!(key(&query(0x01, 1, 2), true).is_none());
        assert!(key(&[0u8; 5], true).is_none());
        // The id is not part of the key; the transport is.
        let mut other_id = query(0x01, 1, 0);
        other_id[0] = 0x11;
        assert_eq!(key(&other_id, true), key(&query(0x01, 1, 0), true));
        assert_ne!(key(&other_id, false), key(&other_id, true));
    }

    #[test]
    fn hits_carry_the_new_id_and_versions_invalidate() {
        let cache = AnswerCache::default();
        let k = key(&query(0x01, 1, 0), true).unwrap();
        cache.insert(k.clone(), 3, &[0xab, 0xcd, 0x85, 0x80, 9]);
        assert_eq!(cache.get(&k, 3, [1, 2]), Some(vec![1, 2, 0x85, 0x80, 9]));
        assert_eq!(cache.get(&k, 4, [1, 2]), None);
        // A late insert computed from an older version is dropped.
        cache.insert(k.clone(), 5, &[0, 0, 1]);
        cache.insert(k.clone(), 4, &[0, 0, 2]);
        assert_eq!(cache.get(&k, 5, [0, 0]), Some(vec![0, 0, 1]));
    }
}
