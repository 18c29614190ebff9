//! Fake addresses: one InternalIP per node and pod IPs from the node's podCIDR (or, until
//! the node IPAM controller gives it one, from a private per-node range). Nothing ever
//! connects to these addresses; they only have to be unique and well formed.

use std::fmt;
use std::net::Ipv4Addr;

/// Node InternalIPs come from 172.30.0.0/16 and fallback pod ranges from 100.64.0.0/10 in
/// /24s; both hold this many nodes.
pub const MAX_NODES: usize = 16_384;

const NODE_NET: u32 = u32::from_be_bytes([172, 30, 0, 0]);
const FALLBACK_NET: u32 = u32::from_be_bytes([100, 64, 0, 0]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid IPv4 CIDR {0:?}")]
pub struct CidrError(pub String);

impl Cidr {
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let bad = || CidrError(text.to_string());
        let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        let mask = Self::mask(prefix);
        Ok(Self {
            base: u32::from(addr) & mask,
            prefix,
        })
    }

    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        }
    }

    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    #[cfg(test)]
    pub fn contains(&self, ip: u32) -> bool {
        ip & Self::mask(self.prefix) == self.base
    }

    /// Offsets handed to pods: like host-local IPAM, skip the network address, the
    /// gateway (.1) and the broadcast address. Tiny ranges hand out every address.
    fn usable(&self) -> (u64, u64) {
        let size = self.size();
        if size <= 4 {
            (0, size)
        } else {
            (2, size - 1)
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// The InternalIP of node `index` (172.30.0.1, 172.30.0.2, …).
pub fn node_ip(index: usize) -> u32 {
    NODE_NET + index as u32 + 1
}

/// The /24 node `index` uses for pods while it has no podCIDR.
pub fn fallback_range(index: usize) -> Cidr {
    Cidr {
        base: FALLBACK_NET + ((index as u32) << 8),
        prefix: 24,
    }
}

pub fn text(ip: u32) -> String {
    Ipv4Addr::from(ip).to_string()
}

pub fn parse_ip(text: &str) -> Option<u32> {
    text.parse::<Ipv4Addr>().ok().map(u32::from)
}

/// Pod addresses of one node. Kept as a short list: a node holds about a hundred pods,
/// so a linear scan is cheaper than any set in memory and time.
#[derive(Debug, Clone)]
pub struct Pool {
    pub cidr: Option<Cidr>,
    fallback: Cidr,
    used: Vec<u32>,
    /// Where the next search starts, so a freed address is not handed out again at once.
    cursor: u64,
}

impl Pool {
    pub fn new(fallback: Cidr) -> Self {
        Self {
            cidr: None,
            fallback,
            used: Vec::new(),
            cursor: 0,
        }
    }

    pub fn range(&self) -> Cidr {
        self.cidr.unwrap_or(self.fallback)
    }

    #[cfg(test)]
    pub fn in_use(&self) -> usize {
        self.used.len()
    }

    /// Marks an address a pod already has (after a restart of the simulator).
    pub fn adopt(&mut self, ip: u32) {
        if !self.used.contains(&ip) {
            self.used.push(ip);
        }
    }

    pub fn release(&mut self, ip: u32) {
        if let Some(i) = self.used.iter().position(|u| *u == ip) {
            self.used.swap_remove(i);
        }
    }

    /// A free address from the current range, or None when it is full.
    pub fn allocate(&mut self) -> Option<u32> {
        let range = self.range();
        let (first, end) = range.usable();
        let count = end - first;
        for step in 0..count {
            let offset = first + (self.cursor + step) % count;
            let ip = range.base.wrapping_add(offset as u32);
            if !self.used.contains(&ip) {
                self.cursor = (self.cursor + step + 1) % count;
                self.used.push(ip);
                return Some(ip);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let c = Cidr::parse("10.244.3.7/24").unwrap();
        assert_eq!(c.to_string(), "10.244.3.0/24");
        assert_eq!(c.size(), 256);
        assert!(c.contains(parse_ip("10.244.3.255").unwrap()));
        assert!(!c.contains(parse_ip("10.244.4.0").unwrap()));
        for bad in ["10.0.0.0", "10.0.0.0/33", "x/24", "10.0.0/24", "fd00::/64"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().size(), 1 << 32);
    }

    #[test]
    fn allocates_hosts_only_until_full() {
        let mut p = Pool::new(Cidr::parse("10.1.2.0/29").unwrap());
        let got: Vec<String> = std::iter::from_fn(|| p.allocate()).map(text).collect();
        // .0 network, .1 gateway and .7 broadcast are never handed out.
        assert_eq!(
            got,
            ["10.1.2.2", "10.1.2.3", "10.1.2.4", "10.1.2.5", "10.1.2.6"]
        );
        assert_eq!(p.allocate(), None);
        p.release(parse_ip("10.1.2.4").unwrap());
        assert_eq!(p.allocate().map(text).as_deref(), Some("10.1.2.4"));
    }

    #[test]
    fn freed_address_is_not_reused_at_once() {
        let mut p = Pool::new(fallback_range(0));
        let a = p.allocate().unwrap();
        p.release(a);
        let b = p.allocate().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn adopted_addresses_are_skipped_and_pod_cidr_wins() {
        let mut p = Pool::new(fallback_range(3));
        assert_eq!(p.range().to_string(), "100.64.3.0/24");
        p.adopt(parse_ip("100.64.3.2").unwrap());
        p.adopt(parse_ip("100.64.3.2").unwrap());
        assert_eq!(p.in_use(), 1);
        assert_eq!(p.allocate().map(text).as_deref(), Some("100.64.3.3"));
        p.cidr = Some(Cidr::parse("10.244.9.0/24").unwrap());
        let ip = p.allocate().unwrap();
        assert!(Cidr::parse("10.244.9.0/24").unwrap().contains(ip));
        assert_eq!(p.in_use(), 3);
    }

    #[test]
    fn node_addresses_are_distinct() {
        assert_eq!(text(node_ip(0)), "172.30.0.1");
        assert_eq!(text(node_ip(300)), "172.30.1.45");
        assert_ne!(fallback_range(1), fallback_range(2));
        assert_eq!(
            fallback_range(MAX_NODES - 1).to_string(),
            "100.127.255.0/24"
        );
    }
}
