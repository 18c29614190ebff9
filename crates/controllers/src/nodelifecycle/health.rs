//! Node health bookkeeping: when did we last see a node's kubelet alive, and what its
//! conditions become once it has been silent for too long.
//!
//! Times are measured on *our* clock from the moment we observed a change (a new
//! heartbeat on the Ready condition or a newer Lease renewTime), so clock skew between
//! kubelet and controller does not matter, as upstream.

use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::time::{Duration, Instant};

/// Grace for nodes whose kubelet never posted a Ready condition.
pub(crate) const STARTUP_GRACE: Duration = Duration::from_secs(60);
/// Conditions set to Unknown when the kubelet goes silent.
const WATCHED: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

#[derive(Debug, Clone)]
pub(crate) struct Health {
    /// Last time we saw the kubelet do something.
    pub probe: Instant,
    heartbeat: Option<String>,
    lease_renew: Option<Timestamp>,
}

fn time_text(t: &Option<Time>) -> Option<String> {
    t.as_ref().map(|t| t.0.to_string())
}

pub(crate) fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// "True", "False", "Unknown"; a node that never reported counts as Unknown.
pub(crate) fn ready_status(node: &Node) -> &str {
    ready_condition(node).map_or("Unknown", |c| c.status.as_str())
}

/// Seconds since `t` on the wall clock, as an instant on our clock.
fn instant_of(t: Option<&Time>, now: Instant) -> Instant {
    let Some(t) = t else {
        return now;
    };
    let age = k8s_openapi::jiff::Timestamp::now().as_second() - t.0.as_second();
    now.checked_sub(Duration::from_secs(age.max(0) as u64))
        .unwrap_or(now)
}

impl Health {
    /// Updates (or starts) tracking with what the node and its lease show now; returns
    /// the grace period that applies to the node.
    pub(crate) fn observe(
        entry: &mut Option<Health>,
        node: &Node,
        lease_renew: Option<Timestamp>,
        grace: Duration,
        now: Instant,
    ) -> Duration {
        let ready = ready_condition(node);
        let heartbeat = ready.and_then(|c| time_text(&c.last_heartbeat_time));
        let h = entry.get_or_insert_with(|| Health {
            // Never reported: count from creation so startup grace is not extended by
            // our restarts; otherwise give it a full grace from now.
            probe: if ready.is_none() {
                instant_of(node.metadata.creation_timestamp.as_ref(), now)
            } else {
                now
            },
            heartbeat: heartbeat.clone(),
            lease_renew: None,
        });
        if heartbeat != h.heartbeat {
            h.heartbeat = heartbeat;
            h.probe = now;
        }
        if let Some(renew) = lease_renew {
            if h.lease_renew.is_none_or(|old| old < renew) {
                h.lease_renew = Some(renew);
                h.probe = now;
            }
        }
        if ready.is_none() {
            STARTUP_GRACE
        } else {
            grace
        }
    }
}

/// Marks the node's conditions Unknown after silence; returns true when Ready changed
/// (the only change worth a write, as upstream).
pub(crate) fn mark_unknown(node: &mut Node, now: Time) -> bool {
    let before = ready_condition(node).cloned();
    let created = node.metadata.creation_timestamp.clone();
    let conditions = node
        .status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new);
    for kind in WATCHED {
        match conditions.iter_mut().find(|c| c.type_ == kind) {
            Some(c) => {
                if c.status != "Unknown" {
                    c.status = "Unknown".into();
                    c.reason = Some("NodeStatusUnknown".into());
                    c.message = Some("Kubelet stopped posting node status.".into());
                    c.last_transition_time = Some(now.clone());
                }
            }
            None => conditions.push(NodeCondition {
                type_: kind.into(),
                status: "Unknown".into(),
                reason: Some("NodeStatusNeverUpdated".into()),
                message: Some("Kubelet never posted node status.".into()),
                last_heartbeat_time: created.clone(),
                last_transition_time: Some(now.clone()),
            }),
        }
    }
    ready_condition(node) != before.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeStatus;

    fn node(ready: Option<(&str, &str)>) -> Node {
        let t = |s: &str| Time(s.parse().unwrap());
        Node {
            status: Some(NodeStatus {
                conditions: ready.map(|(status, hb)| {
                    vec![NodeCondition {
                        type_: "Ready".into(),
                        status: status.into(),
                        last_heartbeat_time: Some(t(hb)),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn probe_moves_only_on_new_heartbeat_or_newer_lease() {
        let grace = Duration::from_secs(40);
        let t0 = Instant::now();
        let mut h = None;
        let n = node(Some(("True", "2025-01-01T00:00:00Z")));
        assert_eq!(Health::observe(&mut h, &n, None, grace, t0), grace);
        let t1 = t0 + Duration::from_secs(10);
        Health::observe(&mut h, &n, None, grace, t1);
        assert_eq!(h.as_ref().unwrap().probe, t0);
        Health::observe(
            &mut h,
            &n,
            Some("2025-01-01T00:00:10.5Z".parse().unwrap()),
            grace,
            t1,
        );
        assert_eq!(h.as_ref().unwrap().probe, t1);
        // Same lease renewTime again: still t1.
        let t2 = t1 + Duration::from_secs(10);
        Health::observe(
            &mut h,
            &n,
            Some("2025-01-01T00:00:10.5Z".parse().unwrap()),
            grace,
            t2,
        );
        assert_eq!(h.as_ref().unwrap().probe, t1);
        let n2 = node(Some(("True", "2025-01-01T00:00:20Z")));
        Health::observe(&mut h, &n2, None, grace, t2);
        assert_eq!(h.as_ref().unwrap().probe, t2);
        // Without a Ready condition the startup grace applies.
        let mut fresh = None;
        assert_eq!(
            Health::observe(&mut fresh, &node(None), None, grace, t2),
            STARTUP_GRACE
        );
    }

    #[test]
    fn silence_turns_conditions_unknown_once() {
        let now = Time("2025-01-01T00:01:00Z".parse().unwrap());
        let mut n = node(Some(("True", "2025-01-01T00:00:00Z")));
        assert!(mark_unknown(&mut n, now.clone()));
        let ready = ready_condition(&n).unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        let conds = n.status.as_ref().unwrap().conditions.as_ref().unwrap();
        let pressure = conds.iter().find(|c| c.type_ == "DiskPressure").unwrap();
        assert_eq!(pressure.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert_eq!(conds.len(), 4);
        // Already unknown: no further change, no write.
        assert!(!mark_unknown(&mut n, now));
    }
}
