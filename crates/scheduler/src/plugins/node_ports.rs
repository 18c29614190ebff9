//! Host ports: a node fits only if none of the pod's hostPort claims collide with the
//! claims of pods already there.

use crate::cache::{Cache, NodeInfo};
use crate::framework::{CycleState, FilterPlugin, Pre, Status};
use crate::podinfo::PodInfo;

pub struct NodePorts;

pub const NAME: &str = "NodePorts";

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(&self, pod: &PodInfo, _: &Cache, _: &mut CycleState) -> Result<Pre, Status> {
        Ok(Pre::skip_if(pod.host_ports.is_empty()))
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        let clash = pod
            .host_ports
            .iter()
            .any(|want| node.used_ports.iter().any(|used| used.conflicts(want)));
        if clash {
            Err(Status::unschedulable(
                NAME,
                "node(s) didn't have free ports for the requested pod ports",
            ))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;
    use std::sync::Arc;

    fn with_port(port: i64, ip: &str, proto: &str) -> PodInfo {
        pod(
            json!({"metadata": {"name": format!("p{port}{ip}{proto}"), "namespace": "d"},
            "spec": {"containers": [{"name": "c", "ports": [
            {"containerPort": 80, "hostPort": port, "hostIP": ip, "protocol": proto}]}]}}),
        )
    }

    #[test]
    fn conflicts() {
        let mut n = node(json!({"metadata": {"name": "n"}}));
        n.add_pod(Arc::new(with_port(8080, "10.0.0.1", "TCP")));
        let s = CycleState::default();
        assert!(NodePorts
            .filter(&s, &with_port(8080, "0.0.0.0", "TCP"), &n)
            .is_err());
        assert!(NodePorts
            .filter(&s, &with_port(8080, "10.0.0.1", "TCP"), &n)
            .is_err());
        assert!(NodePorts
            .filter(&s, &with_port(8080, "10.0.0.2", "TCP"), &n)
            .is_ok());
        assert!(NodePorts
            .filter(&s, &with_port(8080, "10.0.0.1", "UDP"), &n)
            .is_ok());
        assert!(NodePorts
            .filter(&s, &with_port(9090, "", "TCP"), &n)
            .is_ok());
        assert!(NodePorts.filter(&s, &pod(json!({"spec": {}})), &n).is_ok());
    }
}
