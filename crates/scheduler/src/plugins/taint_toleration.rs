//! Taints and tolerations: NoSchedule / NoExecute taints the pod does not tolerate
//! exclude a node; untolerated PreferNoSchedule taints lower its score.

use crate::cache::NodeInfo;
use crate::framework::{default_normalize, CycleState, FilterPlugin, ScorePlugin, Status};
use crate::podinfo::PodInfo;
use k8s_openapi::api::core::v1::{Taint, Toleration};

pub struct TaintToleration;

pub const NAME: &str = "TaintToleration";

/// Whether toleration `t` tolerates `taint` (upstream's ToleratesTaint).
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or_default();
    let operator = t.operator.as_deref().unwrap_or("Equal");
    if key.is_empty() {
        // An empty key with Exists tolerates every taint.
        return operator == "Exists";
    }
    if key != taint.key {
        return false;
    }
    match operator {
        "Exists" => true,
        "Equal" | "" => {
            t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

fn taints(node: &NodeInfo) -> &[Taint] {
    &node.taints
}

fn tolerations(pod: &PodInfo) -> &[Toleration] {
    pod.pod()
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default()
}

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        let tols = tolerations(pod);
        let untolerated = taints(node).iter().find(|taint| {
            (taint.effect == "NoSchedule" || taint.effect == "NoExecute")
                && !tols.iter().any(|t| tolerates(t, taint))
        });
        match untolerated {
            None => Ok(()),
            Some(t) => Err(Status::unresolvable(
                NAME,
                format!(
                    "node(s) had untolerated taint {{{}: {}}}",
                    t.key,
                    t.value.as_deref().unwrap_or_default()
                ),
            )),
        }
    }
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn weight(&self) -> i64 {
        3
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        // Only tolerations that could apply to PreferNoSchedule count.
        let applicable = |t: &&Toleration| {
            t.effect
                .as_deref()
                .is_none_or(|e| e.is_empty() || e == "PreferNoSchedule")
        };
        let tols = tolerations(pod);
        taints(node)
            .iter()
            .filter(|taint| {
                taint.effect == "PreferNoSchedule"
                    && !tols.iter().filter(applicable).any(|t| tolerates(t, taint))
            })
            .count() as i64
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    fn tainted(taints: serde_json::Value) -> NodeInfo {
        node(json!({"metadata": {"name": "n"}, "spec": {"taints": taints}}))
    }

    #[test]
    fn toleration_matching() {
        let taint = Taint {
            key: "k".into(),
            value: Some("v".into()),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let t = |v: serde_json::Value| -> Toleration { serde_json::from_value(v).unwrap() };
        assert!(tolerates(&t(json!({"key": "k", "value": "v"})), &taint));
        assert!(!tolerates(&t(json!({"key": "k", "value": "w"})), &taint));
        assert!(tolerates(
            &t(json!({"key": "k", "operator": "Exists"})),
            &taint
        ));
        assert!(tolerates(&t(json!({"operator": "Exists"})), &taint));
        assert!(!tolerates(
            &t(json!({"key": "k", "operator": "Exists", "effect": "NoExecute"})),
            &taint
        ));
    }

    #[test]
    fn filter_reports_the_taint() {
        let n = tainted(
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                               {"key": "soft", "effect": "PreferNoSchedule"}]),
        );
        let s = CycleState::default();
        let err = TaintToleration
            .filter(&s, &pod(json!({"spec": {}})), &n)
            .unwrap_err();
        assert_eq!(
            err.reasons,
            ["node(s) had untolerated taint {dedicated: gpu}"]
        );
        let ok =
            pod(json!({"spec": {"tolerations": [{"key": "dedicated", "operator": "Exists"}]}}));
        assert!(TaintToleration.filter(&s, &ok, &n).is_ok());
    }

    #[test]
    fn prefer_no_schedule_scores_lower() {
        let soft = tainted(json!([{"key": "soft", "effect": "PreferNoSchedule"}]));
        let clean = tainted(json!([]));
        let s = CycleState::default();
        let p = pod(json!({"spec": {}}));
        let mut scores = [
            ScorePlugin::score(&TaintToleration, &s, &p, &soft),
            ScorePlugin::score(&TaintToleration, &s, &p, &clean),
        ];
        TaintToleration.normalize(&mut scores);
        assert_eq!(scores, [0, 100]);
        let tolerant =
            pod(json!({"spec": {"tolerations": [{"key": "soft", "operator": "Exists"}]}}));
        assert_eq!(
            ScorePlugin::score(&TaintToleration, &s, &tolerant, &soft),
            0
        );
    }
}
