//! Pod topology spread: hard constraints (DoNotSchedule) keep the skew between topology
//! domains within maxSkew; soft ones (ScheduleAnyway) prefer the emptier domains.

use crate::cache::{Cache, NodeInfo};
use crate::framework::{CycleState, FilterPlugin, Pre, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::plugins::node_affinity::required_matches;
use crate::plugins::taint_toleration::TaintToleration;
use crate::podinfo::PodInfo;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use rkube_client::objects::selector_matches;
use std::collections::HashMap;

pub struct PodTopologySpread;

pub const NAME: &str = "PodTopologySpread";
const FILTER_KEY: &str = "PodTopologySpread/filter";
const SCORE_KEY: &str = "PodTopologySpread/score";

struct Constraint {
    max_skew: i64,
    key: String,
    /// None: a nil selector, which matches no pod.
    selector: Option<LabelSelector>,
    min_domains: i64,
    honor_affinity: bool,
    honor_taints: bool,
}

fn constraints(pod: &PodInfo, hard: bool) -> Vec<Constraint> {
    let wanted = if hard {
        "DoNotSchedule"
    } else {
        "ScheduleAnyway"
    };
    let Some(list) = pod
        .pod()
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
    else {
        return Vec::new();
    };
    list.iter()
        .filter(|c| c.when_unsatisfiable == wanted)
        .map(|c| {
            let mut selector = c.label_selector.clone();
            // matchLabelKeys narrows the selector to pods sharing those label values.
            if let (Some(sel), Some(keys)) = (selector.as_mut(), c.match_label_keys.as_ref()) {
                for k in keys {
                    if let Some(v) = pod.labels().and_then(|l| l.get(k)) {
                        sel.match_labels
                            .get_or_insert_with(Default::default)
                            .insert(k.clone(), v.clone());
                    }
                }
            }
            Constraint {
                max_skew: i64::from(c.max_skew),
                key: c.topology_key.clone(),
                selector,
                min_domains: i64::from(c.min_domains.unwrap_or(1)),
                honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            }
        })
        .collect()
}

fn count_matching(node: &NodeInfo, ns: &str, selector: &Option<LabelSelector>) -> i64 {
    let Some(sel) = selector else { return 0 };
    node.pods
        .iter()
        .filter(|p| p.namespace() == ns && !p.deleting && selector_matches(sel, p.labels()))
        .count() as i64
}

/// Matching pods per domain value of each constraint, over the nodes the constraints
/// consider (those with every topology key, honouring affinity/taint policies).
fn domain_counts(pod: &PodInfo, cache: &Cache, cs: &[Constraint]) -> Vec<HashMap<String, i64>> {
    let mut counts = vec![HashMap::new(); cs.len()];
    for node in cache.nodes() {
        if cs.iter().any(|c| node.label(&c.key).is_none()) {
            continue;
        }
        if cs.iter().any(|c| c.honor_affinity) && !required_matches(pod.pod(), node) {
            continue;
        }
        if cs.iter().any(|c| c.honor_taints)
            && FilterPlugin::filter(&TaintToleration, &CycleState::default(), pod, node).is_err()
        {
            continue;
        }
        for (c, map) in cs.iter().zip(counts.iter_mut()) {
            let value = node.label(&c.key).unwrap_or_default();
            *map.entry(value.to_string()).or_insert(0) +=
                count_matching(node, pod.namespace(), &c.selector);
        }
    }
    counts
}

struct FilterState {
    constraints: Vec<Constraint>,
    counts: Vec<HashMap<String, i64>>,
    min: Vec<i64>,
    self_match: Vec<i64>,
}

impl FilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(
        &self,
        pod: &PodInfo,
        cache: &Cache,
        state: &mut CycleState,
    ) -> Result<Pre, Status> {
        let cs = constraints(pod, true);
        if cs.is_empty() {
            return Ok(Pre::Skip);
        }
        let counts = domain_counts(pod, cache, &cs);
        let min = cs
            .iter()
            .zip(&counts)
            .map(|(c, m)| {
                if (m.len() as i64) < c.min_domains {
                    0
                } else {
                    m.values().copied().min().unwrap_or(0)
                }
            })
            .collect();
        let self_match = cs
            .iter()
            .map(|c| {
                let hit = c
                    .selector
                    .as_ref()
                    .is_some_and(|s| selector_matches(s, pod.labels()));
                i64::from(hit)
            })
            .collect();
        state.write(
            FILTER_KEY,
            FilterState {
                constraints: cs,
                counts,
                min,
                self_match,
            },
        );
        Ok(Pre::Run)
    }

    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        let Some(st) = state.read::<FilterState>(FILTER_KEY) else {
            return Ok(());
        };
        for (i, c) in st.constraints.iter().enumerate() {
            let Some(value) = node.label(&c.key) else {
                return Err(Status::unresolvable(
                    NAME,
                    "node(s) didn't match pod topology spread constraints (missing required label)",
                ));
            };
            let here = st.counts[i].get(value).copied().unwrap_or(0);
            if here + st.self_match[i] - st.min[i] > c.max_skew {
                return Err(Status::unschedulable(
                    NAME,
                    "node(s) didn't match pod topology spread constraints",
                ));
            }
        }
        Ok(())
    }
}

struct ScoreState {
    constraints: Vec<Constraint>,
    counts: Vec<HashMap<String, i64>>,
    /// Constraints spanning more domains weigh more (log(domains + 2), as upstream).
    weights: Vec<f64>,
}

impl ScorePlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn weight(&self) -> i64 {
        2
    }

    fn pre_score(
        &self,
        pod: &PodInfo,
        cache: &Cache,
        _: &[&NodeInfo],
        state: &mut CycleState,
    ) -> Pre {
        let cs = constraints(pod, false);
        if cs.is_empty() {
            return Pre::Skip;
        }
        let counts = domain_counts(pod, cache, &cs);
        let weights = counts.iter().map(|m| (m.len() as f64 + 2.0).ln()).collect();
        state.write(
            SCORE_KEY,
            ScoreState {
                constraints: cs,
                counts,
                weights,
            },
        );
        Pre::Run
    }

    /// Weighted matching-pod count of the node's domains; -1 marks nodes missing a key.
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(st) = state.read::<ScoreState>(SCORE_KEY) else {
            return 0;
        };
        let mut total = 0.0;
        for (i, c) in st.constraints.iter().enumerate() {
            let Some(value) = node.label(&c.key) else {
                return -1;
            };
            let count = st.counts[i].get(value).copied().unwrap_or(0);
            total += count as f64 * st.weights[i] + (c.max_skew - 1) as f64;
        }
        total.round() as i64
    }

    fn normalize(&self, scores: &mut [i64]) {
        let valid = scores.iter().copied().filter(|s| *s >= 0);
        let (min, max) = valid.fold((i64::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
        for s in scores.iter_mut() {
            *s = if *s < 0 {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *s) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::node as bare_node;
    use crate::plugins::testing::pod;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;
    use std::sync::Arc;

    fn zoned_cache() -> Cache {
        let mut c = Cache::default();
        for (name, zone) in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("nozone", "")] {
            let mut n = bare_node(name, "8", "8Gi", "110");
            if !zone.is_empty() {
                n.metadata
                    .labels
                    .get_or_insert_with(Default::default)
                    .insert("zone".into(), zone.into());
            }
            c.upsert_node(n);
        }
        c
    }

    fn web(name: &str) -> Arc<PodInfo> {
        let p: Pod =
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default",
            "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}))
            .unwrap();
        Arc::new(PodInfo::new(Arc::new(p)))
    }

    fn spreading(when: &str) -> PodInfo {
        pod(
            json!({"metadata": {"name": "new", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                "whenUnsatisfiable": when, "labelSelector": {"matchLabels": {"app": "web"}}}]}}),
        )
    }

    #[test]
    fn hard_constraint_skew() {
        let mut c = zoned_cache();
        c.add_pod(web("w1"), "a1", false);
        let p = spreading("DoNotSchedule");
        let mut st = CycleState::default();
        PodTopologySpread.pre_filter(&p, &c, &mut st).unwrap();
        let f = |name: &str| PodTopologySpread.filter(&st, &p, c.node(name).unwrap());
        // Zone a has 1, zone b 0: another in a makes skew 2.
        assert_eq!(
            f("a2").unwrap_err().reasons,
            ["node(s) didn't match pod topology spread constraints"]
        );
        assert!(f("b1").is_ok());
        assert!(f("nozone").unwrap_err().reasons[0].contains("missing required label"));
    }

    #[test]
    fn soft_constraint_prefers_empty_domain() {
        let mut c = zoned_cache();
        c.add_pod(web("w1"), "a1", false);
        c.add_pod(web("w2"), "a2", false);
        let p = spreading("ScheduleAnyway");
        let mut st = CycleState::default();
        let nodes: Vec<&NodeInfo> = c.nodes().collect();
        PodTopologySpread.pre_score(&p, &c, &nodes, &mut st);
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| ScorePlugin::score(&PodTopologySpread, &st, &p, n))
            .collect();
        PodTopologySpread.normalize(&mut scores);
        // a1, a2 (zone a, busy), b1 (empty zone), nozone (no key).
        assert!(scores[2] > scores[0], "{scores:?}");
        assert_eq!(scores[0], scores[1]);
        assert_eq!(scores[3], 0);
    }
}
