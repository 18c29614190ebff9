//! Which pods to delete first when scaling down: upstream's ActivePodsWithRanks order,
//! the least useful pods first.

use super::podutil::{is_ready, max_restarts, node_name, phase, ready_since};
use crate::shared::CachedPod;
use std::cmp::Ordering;

fn phase_ordinal(pod: &CachedPod) -> u8 {
    match phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &CachedPod) -> i32 {
    pod.deletion_cost
}

/// Age bucket on a log2 scale of nanoseconds, so pods of similar age tie (and fall back to
/// uid order) instead of always removing the very newest: upstream's LogarithmicScaleDown.
fn log_rank(t: i64, now: i64) -> i64 {
    let age_ns = (now - t).saturating_mul(1_000_000);
    if age_ns > 0 {
        (age_ns as f64).log2() as i64
    } else {
        -1
    }
}

/// Orders two times newest first (an older time has a larger log rank); a missing time
/// sorts before any time.
fn newer_first(a: Option<i64>, b: Option<i64>, now: i64, uids: (&str, &str)) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => match log_rank(a, now).cmp(&log_rank(b, now)) {
            Ordering::Equal => uids.0.cmp(uids.1),
            other => other,
        },
    }
}

/// A pod with how many related pods (same owner family) share its node.
pub struct Ranked<'a> {
    pub pod: &'a CachedPod,
    pub colocated: usize,
}

/// `Less` means `a` should be deleted before `b`.
pub fn compare(a: &Ranked, b: &Ranked, now: i64) -> Ordering {
    let (pa, pb) = (a.pod, b.pod);
    let (na, nb) = (node_name(pa), node_name(pb));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by = [
        phase_ordinal(pa).cmp(&phase_ordinal(pb)),
        is_ready(pa).cmp(&is_ready(pb)),
        deletion_cost(pa).cmp(&deletion_cost(pb)),
        b.colocated.cmp(&a.colocated),
    ];
    if let Some(o) = by.into_iter().find(|o| o.is_ne()) {
        return o;
    }
    let uids = (pa.uid.as_str(), pb.uid.as_str());
    if is_ready(pa) && is_ready(pb) {
        let (ra, rb) = (ready_since(pa), ready_since(pb));
        if ra != rb {
            return newer_first(ra, rb, now, uids);
        }
    }
    let restarts = max_restarts(pb).cmp(&max_restarts(pa));
    if restarts.is_ne() {
        return restarts;
    }
    let (ca, cb) = (pa.created, pb.created);
    if ca != cb {
        return newer_first(ca, cb, now, uids);
    }
    Ordering::Equal
}

/// Sorts `pods` so the first ones are the best to delete.
pub fn sort_for_deletion(pods: &mut [Ranked], now: i64) {
    pods.sort_by(|a, b| compare(a, b, now));
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use k8s_openapi::jiff::Timestamp;

    const NOW: i64 = 1_700_000_000_000;

    fn t(ms: i64) -> Time {
        Time(Timestamp::from_millisecond(ms).unwrap())
    }

    fn pod(
        name: &str,
        node: &str,
        phase: &str,
        ready: bool,
        restarts: i32,
        age_s: i64,
    ) -> CachedPod {
        CachedPod::from_pod(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(name.into()),
                creation_timestamp: Some(t(NOW - age_s * 1000)),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: (!node.is_empty()).then(|| node.into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    last_transition_time: Some(t(NOW - age_s * 1000)),
                    ..Default::default()
                }]),
                container_statuses: Some(vec![ContainerStatus {
                    restart_count: restarts,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        })
    }

    fn order(pods: &[CachedPod]) -> Vec<String> {
        let mut ranked: Vec<Ranked> = pods
            .iter()
            .map(|pod| Ranked { pod, colocated: 0 })
            .collect();
        sort_for_deletion(&mut ranked, NOW);
        ranked.iter().map(|r| r.pod.name.clone()).collect()
    }

    #[test]
    fn least_useful_first() {
        let pods = vec![
            pod("running-ready-old", "n1", "Running", true, 0, 10_000),
            pod("unassigned", "", "Pending", false, 0, 10_000),
            pod("pending", "n1", "Pending", false, 0, 10_000),
            pod("unknown", "n1", "Unknown", false, 0, 10_000),
            pod("running-notready", "n1", "Running", false, 0, 10_000),
            pod("running-ready-new", "n1", "Running", true, 0, 10),
        ];
        assert_eq!(
            order(&pods),
            [
                "unassigned",
                "pending",
                "unknown",
                "running-notready",
                "running-ready-new",
                "running-ready-old"
            ]
        );
    }

    #[test]
    fn restarts_then_age_break_ties() {
        let pods = vec![
            pod("old", "n1", "Running", false, 0, 100_000),
            pod("restarty", "n1", "Running", false, 5, 100_000),
            pod("new", "n1", "Running", false, 0, 1),
        ];
        assert_eq!(order(&pods), ["restarty", "new", "old"]);
    }

    #[test]
    fn doubled_up_nodes_go_first() {
        let a = pod("alone", "n1", "Running", true, 0, 50);
        let b = pod("crowded", "n2", "Running", true, 0, 50);
        let mut ranked = vec![
            Ranked {
                pod: &a,
                colocated: 1,
            },
            Ranked {
                pod: &b,
                colocated: 3,
            },
        ];
        sort_for_deletion(&mut ranked, NOW);
        assert_eq!(ranked[0].pod.name, "crowded");
    }
}
