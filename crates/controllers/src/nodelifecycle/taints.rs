//! Which taints the node lifecycle controller owns, and how tolerations decide when a
//! pod on a NoExecute-tainted node must go (upstream pkg/controller/tainteviction).

use k8s_openapi::api::core::v1::{Node, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::time::Duration;

pub(crate) const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub(crate) const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// (condition, status) → NoSchedule taint key.
const CONDITION_TAINTS: [(&str, &str, &str); 6] = [
    ("Ready", "False", NOT_READY),
    ("Ready", "Unknown", UNREACHABLE),
    (
        "MemoryPressure",
        "True",
        "node.kubernetes.io/memory-pressure",
    ),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    (
        "NetworkUnavailable",
        "True",
        "node.kubernetes.io/network-unavailable",
    ),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
];

fn taint(key: &str, effect: &str, added: Option<Time>) -> Taint {
    Taint {
        key: key.into(),
        effect: effect.into(),
        time_added: added,
        value: None,
    }
}

/// The NoSchedule taints the node's conditions and cordon call for.
pub(crate) fn no_schedule_taints(node: &Node) -> Vec<Taint> {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    let mut out: Vec<Taint> = conditions
        .into_iter()
        .flatten()
        .filter_map(|c| {
            CONDITION_TAINTS
                .iter()
                .find(|(t, s, _)| *t == c.type_ && *s == c.status)
                .map(|(_, _, key)| taint(key, "NoSchedule", None))
        })
        .collect();
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        out.push(taint(UNSCHEDULABLE, "NoSchedule", None));
    }
    out
}

/// Taints this controller adds and removes; any other taint is left alone.
fn managed(t: &Taint) -> bool {
    match t.effect.as_str() {
        "NoSchedule" => t.key == UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|c| c.2 == t.key),
        "NoExecute" => t.key == NOT_READY || t.key == UNREACHABLE,
        _ => false,
    }
}

/// The node's taints with our managed ones replaced by `no_schedule` plus the NoExecute
/// taint `no_execute` (a key); None when nothing changes. Taints already present keep
/// their timeAdded, which eviction timing depends on.
pub(crate) fn merged(
    current: &[Taint],
    no_schedule: &[Taint],
    no_execute: Option<&str>,
    now: Time,
) -> Option<Vec<Taint>> {
    let mut wanted: Vec<Taint> = no_schedule.to_vec();
    if let Some(key) = no_execute {
        wanted.push(taint(key, "NoExecute", Some(now)));
    }
    let same = |a: &Taint, b: &Taint| a.key == b.key && a.effect == b.effect;
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !managed(t) || wanted.iter().any(|w| same(w, t)))
        .cloned()
        .collect();
    let mut changed = out.len() != current.len();
    for w in wanted {
        if !out.iter().any(|t| same(t, &w)) {
            out.push(w);
            changed = true;
        }
    }
    changed.then_some(out)
}

/// The NoExecute taint key the node carries now, if one of ours.
pub(crate) fn current_no_execute(node: &Node) -> Option<&str> {
    node.spec
        .as_ref()?
        .taints
        .as_ref()?
        .iter()
        .find(|t| t.effect == "NoExecute" && (t.key == NOT_READY || t.key == UNREACHABLE))
        .map(|t| t.key.as_str())
}

/// Upstream's Toleration.ToleratesTaint.
pub(crate) fn tolerates(tol: &Toleration, taint: &Taint) -> bool {
    if tol
        .effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    if tol
        .key
        .as_deref()
        .is_some_and(|k| !k.is_empty() && k != taint.key)
    {
        return false;
    }
    match tol.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => tol.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eviction {
    Now,
    After(Duration),
    Never,
}

/// When a pod with `tolerations` must leave a node with these NoExecute `taints`: at once
/// if any taint is not tolerated, else after the shortest tolerationSeconds among the
/// tolerations used (never when none of them is bounded).
pub(crate) fn eviction(tolerations: &[Toleration], taints: &[&Taint]) -> Eviction {
    if taints.is_empty() {
        return Eviction::Never;
    }
    let mut min: Option<i64> = None;
    for t in taints {
        let used: Vec<&Toleration> = tolerations.iter().filter(|tol| tolerates(tol, t)).collect();
        if used.is_empty() {
            return Eviction::Now;
        }
        for tol in used {
            if let Some(secs) = tol.toleration_seconds {
                min = Some(min.map_or(secs, |m| m.min(secs)));
            }
        }
    }
    match min {
        None => Eviction::Never,
        Some(s) if s <= 0 => Eviction::Now,
        Some(s) => Eviction::After(Duration::from_secs(s as u64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus};

    fn now() -> Time {
        Time("2025-01-01T00:00:00Z".parse().unwrap())
    }

    fn node(ready: &str, unschedulable: bool) -> Node {
        Node {
            spec: Some(NodeSpec {
                unschedulable: Some(unschedulable),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(vec![
                    NodeCondition {
                        type_: "Ready".into(),
                        status: ready.into(),
                        ..Default::default()
                    },
                    NodeCondition {
                        type_: "MemoryPressure".into(),
                        status: "False".into(),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn conditions_map_to_no_schedule_taints() {
        let keys = |n: &Node| -> Vec<String> {
            no_schedule_taints(n).into_iter().map(|t| t.key).collect()
        };
        assert_eq!(keys(&node("Unknown", false)), vec![UNREACHABLE]);
        assert_eq!(keys(&node("False", true)), vec![NOT_READY, UNSCHEDULABLE]);
        assert!(keys(&node("True", false)).is_empty());
    }

    #[test]
    fn merge_keeps_foreign_taints_and_time_added() {
        let foreign = taint("dedicated", "NoSchedule", None);
        let old_added = Time("2024-01-01T00:00:00Z".parse().unwrap());
        let current = vec![
            foreign.clone(),
            taint(UNREACHABLE, "NoExecute", Some(old_added.clone())),
            taint(NOT_READY, "NoSchedule", None),
        ];
        let ns = vec![taint(UNREACHABLE, "NoSchedule", None)];
        let out = merged(&current, &ns, Some(UNREACHABLE), now()).unwrap();
        assert_eq!(out.len(), 3);
        assert!(out.contains(&foreign));
        let ne = out.iter().find(|t| t.effect == "NoExecute").unwrap();
        assert_eq!(ne.time_added, Some(old_added));
        assert!(!out.iter().any(|t| t.key == NOT_READY));
        // Applying the result again changes nothing.
        assert_eq!(merged(&out, &ns, Some(UNREACHABLE), now()), None);
        // Healthy again: only the foreign taint stays.
        assert_eq!(merged(&out, &[], None, now()), Some(vec![foreign]));
    }

    fn tol(key: Option<&str>, op: &str, effect: Option<&str>, secs: Option<i64>) -> Toleration {
        Toleration {
            key: key.map(Into::into),
            operator: Some(op.into()),
            effect: effect.map(Into::into),
            toleration_seconds: secs,
            value: None,
        }
    }

    #[test]
    fn eviction_timing() {
        let unreachable = taint(UNREACHABLE, "NoExecute", Some(now()));
        let not_ready = taint(NOT_READY, "NoExecute", Some(now()));
        assert_eq!(eviction(&[], &[&unreachable]), Eviction::Now);
        let t300 = tol(Some(UNREACHABLE), "Exists", Some("NoExecute"), Some(300));
        let t5 = tol(Some(UNREACHABLE), "Exists", Some("NoExecute"), Some(5));
        assert_eq!(
            eviction(&[t300.clone(), t5], &[&unreachable]),
            Eviction::After(Duration::from_secs(5))
        );
        // The not-ready taint is not tolerated by an unreachable toleration.
        assert_eq!(
            eviction(std::slice::from_ref(&t300), &[&unreachable, &not_ready]),
            Eviction::Now
        );
        // Unbounded toleration: stays forever.
        let forever = tol(None, "Exists", None, None);
        assert_eq!(eviction(&[forever], &[&unreachable]), Eviction::Never);
        // Wrong effect does not tolerate.
        let wrong = tol(Some(UNREACHABLE), "Exists", Some("NoSchedule"), None);
        assert_eq!(eviction(&[wrong], &[&unreachable]), Eviction::Now);
        assert_eq!(
            eviction(
                &[tol(Some(UNREACHABLE), "Exists", None, Some(0))],
                &[&unreachable]
            ),
            Eviction::Now
        );
        let mut eq = tol(Some("k"), "Equal", None, None);
        eq.value = Some("v".into());
        let mut kv = taint("k", "NoExecute", None);
        kv.value = Some("v".into());
        assert!(tolerates(&eq, &kv));
        kv.value = Some("w".into());
        assert!(!tolerates(&eq, &kv));
    }
}
