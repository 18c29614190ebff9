//! A pod naming a node in spec.nodeName fits only that node.

use crate::cache::{Cache, NodeInfo};
use crate::framework::{CycleState, FilterPlugin, Pre, Status};
use crate::podinfo::PodInfo;

pub struct NodeName;

pub const NAME: &str = "NodeName";

impl FilterPlugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, pod: &PodInfo, _: &Cache, _: &mut CycleState) -> Result<Pre, Status> {
        Ok(Pre::skip_if(pod.node_name().is_none()))
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        match pod.node_name() {
            Some(wanted) if wanted != node.name => Err(Status::unresolvable(
                NAME,
                "node(s) didn't match the requested node name",
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    #[test]
    fn only_the_named_node() {
        let a = node(json!({"metadata": {"name": "a"}}));
        let b = node(json!({"metadata": {"name": "b"}}));
        let p = pod(json!({"spec": {"nodeName": "a"}}));
        let s = CycleState::default();
        assert!(NodeName.filter(&s, &p, &a).is_ok());
        assert!(NodeName.filter(&s, &p, &b).is_err());
        assert!(NodeName.filter(&s, &pod(json!({"spec": {}})), &b).is_ok());
    }
}
