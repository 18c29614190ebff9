//! Zone disruption handling: when most nodes of a zone (or all nodes anywhere) stop
//! reporting, the fault is more likely ours or the network's than the nodes', so
//! NoExecute tainting slows down or stops (upstream ComputeZoneState / handleDisruption).

use k8s_openapi::api::core::v1::Node;
use std::collections::BTreeMap;
use std::time::Instant;

const UNHEALTHY_ZONE_THRESHOLD: f64 = 0.55;
const LARGE_CLUSTER_THRESHOLD: usize = 50;
/// Nodes per second a healthy zone may get NoExecute taints.
const EVICTION_QPS: f64 = 0.1;
const SECONDARY_EVICTION_QPS: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZoneState {
    Normal,
    Partial,
    Full,
}

pub(crate) fn zone_key(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let get = |k: &str| labels.and_then(|l| l.get(k)).cloned().unwrap_or_default();
    let (region, zone) = (
        get("topology.kubernetes.io/region"),
        get("topology.kubernetes.io/zone"),
    );
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}:\u{0}:{zone}")
    }
}

pub(crate) fn zone_state(ready: usize, not_ready: usize) -> ZoneState {
    if ready == 0 && not_ready > 0 {
        ZoneState::Full
    } else if not_ready > 2
        && not_ready as f64 / (ready + not_ready) as f64 >= UNHEALTHY_ZONE_THRESHOLD
    {
        ZoneState::Partial
    } else {
        ZoneState::Normal
    }
}

fn qps_for(state: ZoneState, size: usize) -> f64 {
    match state {
        ZoneState::Normal | ZoneState::Full => EVICTION_QPS,
        ZoneState::Partial if size > LARGE_CLUSTER_THRESHOLD => SECONDARY_EVICTION_QPS,
        ZoneState::Partial => 0.0,
    }
}

/// A token bucket of burst one.
#[derive(Debug)]
struct Bucket {
    qps: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(1.0);
        self.last = now;
        if self.qps > 0.0 && self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What a monitoring pass must do after zone states were recomputed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    None,
    /// Every node everywhere is down: drop all NoExecute taints and stop tainting.
    EnterMasterDisruption,
    /// Some node is back: restart every node's grace period from now.
    ExitMasterDisruption,
}

#[derive(Debug, Default)]
pub(crate) struct Zones {
    states: BTreeMap<String, ZoneState>,
    buckets: BTreeMap<String, Bucket>,
}

impl Zones {
    /// Recomputes zone states from (zone → (ready, not ready)) counts.
    pub(crate) fn update(
        &mut self,
        counts: &BTreeMap<String, (usize, usize)>,
        now: Instant,
    ) -> Transition {
        let new: BTreeMap<String, ZoneState> = counts
            .iter()
            .map(|(z, (r, n))| (z.clone(), zone_state(*r, *n)))
            .collect();
        self.states.retain(|z, _| counts.contains_key(z));
        self.buckets.retain(|z, _| counts.contains_key(z));
        if new.is_empty() {
            self.states.clear();
            return Transition::None;
        }
        let all_full = new.values().all(|s| *s == ZoneState::Full);
        // A zone seen for the first time is in no state yet, so never "was full".
        let all_were_full = new
            .keys()
            .all(|z| self.states.get(z) == Some(&ZoneState::Full));
        let size = |z: &str| counts.get(z).map_or(0, |(r, n)| r + n);
        let transition = if all_full && all_were_full {
            Transition::None
        } else if all_full {
            for z in new.keys() {
                self.set(z, 0.0, now);
            }
            Transition::EnterMasterDisruption
        } else {
            for (z, s) in &new {
                if all_were_full || self.states.get(z) != Some(s) {
                    self.set(z, qps_for(*s, size(z)), now);
                }
            }
            if all_were_full {
                Transition::ExitMasterDisruption
            } else {
                Transition::None
            }
        };
        self.states = new;
        transition
    }

    fn set(&mut self, zone: &str, qps: f64, now: Instant) {
        let b = self.buckets.entry(zone.to_string()).or_insert(Bucket {
            qps,
            tokens: 1.0,
            last: now,
        });
        b.qps = qps;
    }

    /// Whether one more node of `zone` may get a NoExecute taint now.
    pub(crate) fn allow_taint(&mut self, zone: &str, now: Instant) -> bool {
        self.buckets.get_mut(zone).is_some_and(|b| b.take(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn states() {
        assert_eq!(zone_state(0, 1), ZoneState::Full);
        assert_eq!(zone_state(2, 1), ZoneState::Normal);
        assert_eq!(zone_state(2, 2), ZoneState::Normal);
        assert_eq!(zone_state(2, 3), ZoneState::Partial);
        assert_eq!(zone_state(0, 0), ZoneState::Normal);
    }

    #[test]
    fn rate_limit_and_master_disruption() {
        let t0 = Instant::now();
        let mut z = Zones::default();
        let healthy: BTreeMap<String, (usize, usize)> = [("".to_string(), (3, 1))].into();
        assert_eq!(z.update(&healthy, t0), Transition::None);
        assert!(z.allow_taint("", t0));
        assert!(!z.allow_taint("", t0 + Duration::from_secs(1)));
        assert!(z.allow_taint("", t0 + Duration::from_secs(11)));
        assert_eq!(z.update(&healthy, t0), Transition::None);
        let down: BTreeMap<String, (usize, usize)> = [("".to_string(), (0, 4))].into();
        assert_eq!(z.update(&down, t0), Transition::EnterMasterDisruption);
        assert!(!z.allow_taint("", t0 + Duration::from_secs(100)));
        assert_eq!(z.update(&down, t0), Transition::None);
        assert_eq!(z.update(&healthy, t0), Transition::ExitMasterDisruption);
        // A small partially disrupted zone stops tainting altogether.
        let partial: BTreeMap<String, (usize, usize)> = [("".to_string(), (1, 3))].into();
        z.update(&partial, t0);
        assert!(!z.allow_taint("", t0 + Duration::from_secs(1000)));
    }
}
