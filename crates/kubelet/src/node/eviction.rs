//! Hard eviction thresholds (upstream `--eviction-hard` / KubeletConfiguration
//! `evictionHard`): below one, the node reports the matching pressure condition, the node
//! lifecycle controller taints it, and the scheduler places no new pods there. The memory
//! and node-filesystem thresholds are also held back from allocatable.

use std::str::FromStr;

/// One threshold: an absolute amount or a share of the capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Amount(u64),
    Percent(f64),
}

impl Threshold {
    /// The amount this threshold keeps free out of `capacity`.
    pub fn of(&self, capacity: u64) -> u64 {
        match *self {
            Threshold::Amount(n) => n.min(capacity),
            Threshold::Percent(p) => (capacity as f64 * p / 100.0) as u64,
        }
    }

    /// Whether `available` out of `capacity` is below the threshold.
    pub fn crossed(&self, capacity: u64, available: u64) -> bool {
        capacity > 0 && available < self.of(capacity)
    }
}

/// The signals rkube measures. The images live on the kubelet's filesystem, so
/// `imagefs.*` is observed on that same filesystem, as upstream does without a dedicated
/// image filesystem.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvictionHard {
    pub memory_available: Option<Threshold>,
    pub nodefs_available: Option<Threshold>,
    pub nodefs_inodes_free: Option<Threshold>,
    pub imagefs_available: Option<Threshold>,
    pub imagefs_inodes_free: Option<Threshold>,
    /// Not an upstream default: PID pressure when under 5 % of pid_max is left.
    pub pid_available: Option<Threshold>,
}

impl EvictionHard {
    /// The defaults: upstream's memory.available<100Mi and nodefs.inodesFree<5%, but
    /// nodefs.available<5% and imagefs.available<5% as k3s sets them for its single-binary
    /// nodes (upstream's 10 % and 15 % call a disk that is 90 % full "under pressure" and
    /// keep every new pod off it; on one filesystem imagefs is observed on the nodefs),
    /// plus our PID threshold.
    pub fn defaults() -> Self {
        EvictionHard {
            memory_available: Some(Threshold::Amount(100 * 1024 * 1024)),
            nodefs_available: Some(Threshold::Percent(5.0)),
            nodefs_inodes_free: Some(Threshold::Percent(5.0)),
            imagefs_available: Some(Threshold::Percent(5.0)),
            imagefs_inodes_free: None,
            pid_available: Some(Threshold::Percent(5.0)),
        }
    }

    /// Whether (capacity, available) bytes and (inodes, free inodes) of the kubelet's
    /// filesystem cross a disk threshold.
    pub fn disk_pressure(&self, bytes: Option<(u64, u64)>, inodes: Option<(u64, u64)>) -> bool {
        crossed(&self.nodefs_available, bytes)
            || crossed(&self.imagefs_available, bytes)
            || crossed(&self.nodefs_inodes_free, inodes)
            || crossed(&self.imagefs_inodes_free, inodes)
    }

    /// Whether (MemTotal, MemAvailable) crosses the memory threshold.
    pub fn memory_pressure(&self, memory: Option<(u64, u64)>) -> bool {
        crossed(&self.memory_available, memory)
    }

    /// Whether (pid_max, processes) leaves fewer PIDs than the threshold.
    pub fn pid_pressure(&self, pids: Option<(u64, u64)>) -> bool {
        let free = pids.map(|(max, used)| (max, max.saturating_sub(used)));
        crossed(&self.pid_available, free)
    }

    /// What allocatable holds back from `capacity` for a threshold.
    pub fn held(threshold: &Option<Threshold>, capacity: u64) -> u64 {
        threshold.map_or(0, |t| t.of(capacity))
    }
}

fn crossed(threshold: &Option<Threshold>, observed: Option<(u64, u64)>) -> bool {
    matches!((threshold, observed), (Some(t), Some((cap, avail))) if t.crossed(cap, avail))
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid eviction threshold {text:?}: {reason}")]
pub struct ParseError {
    text: String,
    reason: String,
}

fn error(text: &str, reason: impl Into<String>) -> ParseError {
    ParseError {
        text: text.to_string(),
        reason: reason.into(),
    }
}

fn threshold(text: &str, value: &str) -> Result<Threshold, ParseError> {
    if let Some(p) = value.strip_suffix('%') {
        let p: f64 = p
            .parse()
            .map_err(|_| error(text, "the percentage is not a number"))?;
        if !(0.0..=100.0).contains(&p) {
            return Err(error(text, "the percentage must be within 0-100%"));
        }
        return Ok(Threshold::Percent(p));
    }
    let milli = rkube_api::quantity::parse_milli(value).map_err(|e| error(text, e.to_string()))?;
    if milli < 0 {
        return Err(error(text, "the quantity must not be negative"));
    }
    Ok(Threshold::Amount(
        u64::try_from(milli / 1000).unwrap_or(u64::MAX),
    ))
}

/// Upstream's flag syntax: `signal<value` pairs separated by commas, e.g.
/// `memory.available<100Mi,nodefs.available<10%`. Signals left out have no threshold
/// (as upstream, a given flag replaces the defaults); an empty string sets none.
impl FromStr for EvictionHard {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut out = EvictionHard::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (signal, value) = item
                .split_once('<')
                .ok_or_else(|| error(item, "expected signal<value"))?;
            let t = Some(threshold(item, value.trim())?);
            match signal.trim() {
                "memory.available" => out.memory_available = t,
                "nodefs.available" => out.nodefs_available = t,
                "nodefs.inodesFree" => out.nodefs_inodes_free = t,
                "imagefs.available" => out.imagefs_available = t,
                "imagefs.inodesFree" => out.imagefs_inodes_free = t,
                "pid.available" => out.pid_available = t,
                other => return Err(error(item, format!("unknown signal {other:?}"))),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_flag_syntax() {
        let e: EvictionHard = "memory.available<100Mi, nodefs.available<10%,pid.available<1000"
            .parse()
            .unwrap();
        assert_eq!(e.memory_available, Some(Threshold::Amount(100 << 20)));
        assert_eq!(e.nodefs_available, Some(Threshold::Percent(10.0)));
        assert_eq!(e.pid_available, Some(Threshold::Amount(1000)));
        // Signals not given have no threshold; "" sets none at all.
        assert_eq!(e.imagefs_available, None);
        assert_eq!("".parse::<EvictionHard>().unwrap(), EvictionHard::default());
        for bad in [
            "memory.available",
            "nodefs.available<110%",
            "cpu.available<1",
            "memory.available<lots",
            "nodefs.available<-1Gi",
        ] {
            assert!(bad.parse::<EvictionHard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn disk_pressure_follows_the_thresholds() {
        let d = EvictionHard::defaults();
        assert!(!d.disk_pressure(Some((100, 6)), Some((100, 50))));
        assert!(d.disk_pressure(Some((100, 4)), Some((100, 50))));
        assert!(d.disk_pressure(Some((100, 50)), Some((100, 4))));
        // No observation, no pressure.
        assert!(!d.disk_pressure(None, None));
        // kind's setting for a disk shared with the host: never under pressure.
        let off: EvictionHard = "nodefs.available<0%,nodefs.inodesFree<0%,imagefs.available<0%"
            .parse()
            .unwrap();
        assert!(!off.disk_pressure(Some((100, 0)), Some((100, 0))));
        let image: EvictionHard = "imagefs.available<15%".parse().unwrap();
        assert!(image.disk_pressure(Some((100, 14)), None));
        assert_eq!(Threshold::Percent(10.0).of(1000), 100);
        assert_eq!(Threshold::Amount(5000).of(1000), 1000);
    }
}
