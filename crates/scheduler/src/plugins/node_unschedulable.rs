//! Rejects nodes marked spec.unschedulable (cordoned) unless the pod tolerates the
//! unschedulable taint.

use crate::cache::NodeInfo;
use crate::framework::{CycleState, FilterPlugin, Status};
use crate::plugins::taint_toleration::tolerates;
use crate::podinfo::PodInfo;
use k8s_openapi::api::core::v1::Taint;

pub struct NodeUnschedulable;

pub const NAME: &str = "NodeUnschedulable";
const TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        if !node.unschedulable {
            return Ok(());
        }
        let taint = Taint {
            key: TAINT_KEY.into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let tolerations = pod.pod().spec.as_ref().and_then(|s| s.tolerations.as_ref());
        if tolerations.is_some_and(|t| t.iter().any(|t| tolerates(t, &taint))) {
            return Ok(());
        }
        Err(Status::unresolvable(NAME, "node(s) were unschedulable"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    #[test]
    fn cordoned_nodes_rejected_unless_tolerated() {
        let n = node(json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}}));
        let state = CycleState::default();
        let plain = pod(json!({"spec": {}}));
        let err = NodeUnschedulable.filter(&state, &plain, &n).unwrap_err();
        assert_eq!(err.reasons, ["node(s) were unschedulable"]);
        let tolerant = pod(json!({"spec": {"tolerations": [
            {"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]}}));
        assert!(NodeUnschedulable.filter(&state, &tolerant, &n).is_ok());
        let open = node(json!({"metadata": {"name": "n"}}));
        assert!(NodeUnschedulable.filter(&state, &plain, &open).is_ok());
    }
}
