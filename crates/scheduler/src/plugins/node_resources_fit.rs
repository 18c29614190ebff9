//! Requests against allocatable (cpu, memory, ephemeral-storage, extended resources and
//! the pod count), and the LeastAllocated score that prefers emptier nodes.

use crate::cache::NodeInfo;
use crate::framework::Code;
use crate::framework::{CycleState, FilterPlugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::podinfo::PodInfo;

pub struct NodeResourcesFit;

pub const NAME: &str = "NodeResourcesFit";

struct Shortfall {
    reason: String,
    /// The request exceeds the node's whole allocatable: no eviction can help.
    unresolvable: bool,
}

fn shortfalls(pod: &PodInfo, node: &NodeInfo) -> Vec<Shortfall> {
    let mut out = Vec::new();
    let (alloc, used, want) = (&node.allocatable, &node.requested, &pod.requests);
    if node.pods.len() as i64 + 1 > alloc.pods {
        out.push(Shortfall {
            reason: "Too many pods".into(),
            unresolvable: false,
        });
    }
    if want.is_zero() {
        return out;
    }
    let mut check = |name: &str, want: i64, alloc: i64, used: i64| {
        if want > 0 && want > alloc - used {
            out.push(Shortfall {
                reason: format!("Insufficient {name}"),
                unresolvable: want > alloc,
            });
        }
    };
    check("cpu", want.milli_cpu, alloc.milli_cpu, used.milli_cpu);
    check("memory", want.memory, alloc.memory, used.memory);
    check(
        "ephemeral-storage",
        want.ephemeral_storage,
        alloc.ephemeral_storage,
        used.ephemeral_storage,
    );
    for (name, v) in &want.scalar {
        check(name, *v, alloc.scalar(name), used.scalar(name));
    }
    out
}

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        let short = shortfalls(pod, node);
        if short.is_empty() {
            return Ok(());
        }
        let code = if short.iter().any(|s| s.unresolvable) {
            Code::UnschedulableAndUnresolvable
        } else {
            Code::Unschedulable
        };
        Err(Status {
            code,
            plugin: NAME,
            reasons: short.into_iter().map(|s| s.reason).collect(),
        })
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// LeastAllocated over cpu and memory (weight 1 each), counting the scoring defaults for
/// containers that request nothing.
pub fn least_allocated_score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let pairs = [
        (
            node.non_zero_requested.milli_cpu + pod.non_zero.milli_cpu,
            node.allocatable.milli_cpu,
        ),
        (
            node.non_zero_requested.memory + pod.non_zero.memory,
            node.allocatable.memory,
        ),
    ];
    let (mut sum, mut weights) = (0, 0);
    for (req, cap) in pairs {
        if cap == 0 {
            continue;
        }
        sum += least_requested(req, cap);
        weights += 1;
    }
    if weights == 0 {
        0
    } else {
        sum / weights
    }
}

impl ScorePlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn weight(&self) -> i64 {
        1
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        least_allocated_score(pod, node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;
    use std::sync::Arc;

    fn sized(cpu: &str, mem: &str, pods: &str) -> NodeInfo {
        node(json!({"metadata": {"name": "n"},
            "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": pods}}}))
    }

    fn wanting(cpu: &str, mem: &str) -> PodInfo {
        pod(json!({"spec": {"containers": [{"name": "c",
            "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}}))
    }

    #[test]
    fn fit_and_reasons() {
        let s = CycleState::default();
        let mut n = sized("2", "4Gi", "2");
        assert!(FilterPlugin::filter(&NodeResourcesFit, &s, &wanting("1", "1Gi"), &n).is_ok());
        n.add_pod(Arc::new(wanting("1500m", "1Gi")));
        let err =
            FilterPlugin::filter(&NodeResourcesFit, &s, &wanting("1", "1Gi"), &n).unwrap_err();
        assert_eq!(err.reasons, ["Insufficient cpu"]);
        assert_eq!(err.code, Code::Unschedulable);
        let err =
            FilterPlugin::filter(&NodeResourcesFit, &s, &wanting("3", "8Gi"), &n).unwrap_err();
        assert_eq!(err.reasons, ["Insufficient cpu", "Insufficient memory"]);
        assert_eq!(err.code, Code::UnschedulableAndUnresolvable);
        n.add_pod(Arc::new(wanting("0", "0")));
        let err =
            FilterPlugin::filter(&NodeResourcesFit, &s, &pod(json!({"spec": {}})), &n).unwrap_err();
        assert_eq!(err.reasons, ["Too many pods"]);
    }

    #[test]
    fn extended_resources() {
        let s = CycleState::default();
        let n = node(json!({"metadata": {"name": "n"},
            "status": {"allocatable": {"cpu": "1", "pods": "10", "example.com/gpu": "1"}}}));
        let p = |gpus: &str| {
            pod(json!({"spec": {"containers": [{"name": "c",
            "resources": {"limits": {"example.com/gpu": gpus}}}]}}))
        };
        assert!(FilterPlugin::filter(&NodeResourcesFit, &s, &p("1"), &n).is_ok());
        let err = FilterPlugin::filter(&NodeResourcesFit, &s, &p("2"), &n).unwrap_err();
        assert_eq!(err.reasons, ["Insufficient example.com/gpu"]);
    }

    #[test]
    fn least_allocated_prefers_empty_nodes() {
        let empty = sized("4", "8Gi", "110");
        let mut busy = sized("4", "8Gi", "110");
        busy.add_pod(Arc::new(wanting("3", "6Gi")));
        let p = wanting("1", "2Gi");
        // Empty: cpu (4-1)/4=75, memory (8-2)/8=75.
        assert_eq!(least_allocated_score(&p, &empty), 75);
        assert_eq!(least_allocated_score(&p, &busy), 0);
    }
}
