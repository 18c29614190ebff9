//! Carving a cluster CIDR into equal per-node blocks (IPv4).

use std::net::Ipv4Addr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum CidrError {
    #[error("invalid CIDR {0:?}")]
    Invalid(String),
    #[error("node mask /{mask} does not fit in cluster CIDR /{prefix}")]
    Mask { mask: u8, prefix: u8 },
}

fn parse(text: &str) -> Option<(u32, u8)> {
    let (ip, len) = text.trim().split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((u32::from(ip), len))
}

fn net_mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

/// The blocks of one cluster CIDR and which are taken.
#[derive(Debug)]
pub(crate) struct CidrSet {
    base: u32,
    block_len: u8,
    used: Vec<bool>,
    /// Where the next search starts, so released blocks are not handed out again at once.
    next: usize,
}

impl CidrSet {
    pub(crate) fn new(cluster_cidr: &str, block_len: u8) -> Result<Self, CidrError> {
        let (ip, prefix) =
            parse(cluster_cidr).ok_or_else(|| CidrError::Invalid(cluster_cidr.into()))?;
        // More than 2^20 blocks would be a configuration error, not a cluster.
        if block_len < prefix || block_len > 32 || block_len - prefix > 20 {
            return Err(CidrError::Mask {
                mask: block_len,
                prefix,
            });
        }
        Ok(Self {
            base: ip & net_mask(prefix),
            block_len,
            used: vec![false; 1usize << (block_len - prefix)],
            next: 0,
        })
    }

    fn block(&self, i: usize) -> String {
        let step = 1u64 << (32 - u32::from(self.block_len));
        let ip = (u64::from(self.base) + i as u64 * step) as u32;
        format!("{}/{}", Ipv4Addr::from(ip), self.block_len)
    }

    /// The block index of `cidr`, if it is exactly one of our blocks.
    fn index(&self, cidr: &str) -> Option<usize> {
        let (ip, len) = parse(cidr)?;
        if len != self.block_len || ip & net_mask(len) != ip {
            return None;
        }
        let offset = ip.checked_sub(self.base)?;
        let i = (offset >> (32 - u32::from(self.block_len))) as usize;
        (i < self.used.len()).then_some(i)
    }

    /// Takes the next free block.
    pub(crate) fn allocate(&mut self) -> Option<String> {
        let n = self.used.len();
        let i = (0..n)
            .map(|k| (self.next + k) % n)
            .find(|&i| !self.used[i])?;
        self.used[i] = true;
        self.next = (i + 1) % n;
        Some(self.block(i))
    }

    /// Marks a block some node already holds; false when it is not one of ours.
    pub(crate) fn occupy(&mut self, cidr: &str) -> bool {
        match self.index(cidr) {
            Some(i) => {
                self.used[i] = true;
                true
            }
            None => false,
        }
    }

    pub(crate) fn release(&mut self, cidr: &str) {
        if let Some(i) = self.index(cidr) {
            self.used[i] = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_in_order_skipping_occupied() {
        let mut s = CidrSet::new("10.244.0.0/16", 24).unwrap();
        assert!(s.occupy("10.244.1.0/24"));
        assert_eq!(s.allocate().as_deref(), Some("10.244.0.0/24"));
        assert_eq!(s.allocate().as_deref(), Some("10.244.2.0/24"));
        // Not ours: wrong size, misaligned, outside.
        assert!(!s.occupy("10.244.3.0/25"));
        assert!(!s.occupy("10.244.3.1/24"));
        assert!(!s.occupy("10.245.0.0/24"));
    }

    #[test]
    fn exhaustion_and_release() {
        let mut s = CidrSet::new("10.0.0.0/30", 31).unwrap();
        let a = s.allocate().unwrap();
        let b = s.allocate().unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("10.0.0.0/31", "10.0.0.2/31"));
        assert_eq!(s.allocate(), None);
        s.release(&a);
        assert_eq!(s.allocate(), Some(a));
    }

    #[test]
    fn rejects_bad_configuration() {
        assert!(CidrSet::new("10.0.0.0/24", 16).is_err());
        assert!(CidrSet::new("nonsense", 24).is_err());
        assert!(CidrSet::new("10.0.0.0/8", 32).is_err());
        // The network address is normalised.
        let mut s = CidrSet::new("10.244.7.9/16", 24).unwrap();
        assert_eq!(s.allocate().as_deref(), Some("10.244.0.0/24"));
    }
}
