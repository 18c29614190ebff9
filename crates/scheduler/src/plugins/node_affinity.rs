//! nodeSelector and node affinity: required terms filter nodes, preferred terms add
//! their weights to the score.

use crate::cache::{Cache, NodeInfo};
use crate::framework::{default_normalize, CycleState, FilterPlugin, Pre, ScorePlugin, Status};
use crate::podinfo::PodInfo;
use k8s_openapi::api::core::v1::{
    NodeAffinity as NodeAffinitySpec, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PreferredSchedulingTerm,
};
use std::collections::BTreeMap;

pub struct NodeAffinity;

pub const NAME: &str = "NodeAffinity";
const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let as_int = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(bound)) = (
                value.and_then(as_int),
                values.first().and_then(|s| as_int(s)),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

/// A term matches when all its expressions and fields match; an empty term matches nothing.
pub fn term_matches(
    term: &NodeSelectorTerm,
    name: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    exprs.iter().all(|r| requirement_matches(r, label(&r.key)))
        && fields.iter().all(|r| {
            // metadata.name is the only field node affinity supports.
            r.key == "metadata.name" && requirement_matches(r, Some(name))
        })
}

fn node_affinity(pod: &Pod) -> Option<&NodeAffinitySpec> {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
}

fn preferred_terms(pod: &Pod) -> &[PreferredSchedulingTerm] {
    node_affinity(pod)
        .and_then(|na| {
            na.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or_default()
}

fn required_selector(pod: &Pod) -> Option<&NodeSelector> {
    node_affinity(pod).and_then(|na| {
        na.required_during_scheduling_ignored_during_execution
            .as_ref()
    })
}

/// Whether the node satisfies the pod's nodeSelector and required node affinity.
pub fn required_matches(pod: &Pod, node: &NodeInfo) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    // Looked up only when the pod asks: reaching the labels touches the Node object.
    if let Some(sel) = &spec.node_selector {
        let labels = node.labels();
        if sel
            .iter()
            .any(|(k, v)| labels.and_then(|l| l.get(k)) != Some(v))
        {
            return false;
        }
    }
    match required_selector(pod) {
        None => true,
        Some(sel) => sel
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, &node.name, node.labels())),
    }
}

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, pod: &PodInfo, _: &Cache, _: &mut CycleState) -> Result<Pre, Status> {
        let pod = pod.pod();
        let selector = pod.spec.as_ref().and_then(|s| s.node_selector.as_ref());
        Ok(Pre::skip_if(
            required_selector(pod).is_none() && selector.is_none_or(|s| s.is_empty()),
        ))
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        if required_matches(pod.pod(), node) {
            Ok(())
        } else {
            Err(Status::unresolvable(NAME, REASON))
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn weight(&self) -> i64 {
        2
    }

    fn pre_score(&self, pod: &PodInfo, _: &Cache, _: &[&NodeInfo], _: &mut CycleState) -> Pre {
        Pre::skip_if(preferred_terms(pod.pod()).is_empty())
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        preferred_terms(pod.pod())
            .iter()
            .filter(|p| p.weight != 0 && term_matches(&p.preference, &node.name, node.labels()))
            .map(|p| i64::from(p.weight))
            .sum()
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    fn labelled(name: &str, labels: serde_json::Value) -> NodeInfo {
        node(json!({"metadata": {"name": name, "labels": labels}}))
    }

    #[test]
    fn node_selector() {
        let p = pod(json!({"spec": {"nodeSelector": {"disk": "ssd"}}}));
        let s = CycleState::default();
        assert!(FilterPlugin::filter(
            &NodeAffinity,
            &s,
            &p,
            &labelled("a", json!({"disk": "ssd"}))
        )
        .is_ok());
        let err = FilterPlugin::filter(
            &NodeAffinity,
            &s,
            &p,
            &labelled("b", json!({"disk": "hdd"})),
        )
        .unwrap_err();
        assert_eq!(err.reasons, [REASON]);
    }

    #[test]
    fn required_terms_are_ored_expressions_anded() {
        let p = pod(json!({"spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]},
                {"key": "cores", "operator": "Gt", "values": ["4"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]}
        ]}}}}}));
        let s = CycleState::default();
        let f = |n: &NodeInfo| FilterPlugin::filter(&NodeAffinity, &s, &p, n).is_ok();
        assert!(f(&labelled("x", json!({"zone": "a", "cores": "8"}))));
        assert!(!f(&labelled("x", json!({"zone": "a", "cores": "2"}))));
        assert!(!f(&labelled("x", json!({"zone": "c", "cores": "8"}))));
        assert!(f(&labelled("special", json!({}))));
    }

    #[test]
    fn preferred_weights() {
        let p = pod(json!({"spec": {"affinity": {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [{"key": "fast", "operator": "Exists"}]}},
            {"weight": 5, "preference": {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["x"]}]}}
        ]}}}}));
        let s = CycleState::default();
        let a = labelled("a", json!({"fast": "1", "zone": "y"}));
        let b = labelled("b", json!({"zone": "x"}));
        let mut scores = [
            ScorePlugin::score(&NodeAffinity, &s, &p, &a),
            ScorePlugin::score(&NodeAffinity, &s, &p, &b),
        ];
        assert_eq!(scores, [15, 0]);
        ScorePlugin::normalize(&NodeAffinity, &mut scores);
        assert_eq!(scores, [100, 0]);
    }
}
