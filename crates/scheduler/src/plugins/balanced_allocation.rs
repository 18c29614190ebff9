//! BalancedAllocation: prefers nodes whose cpu and memory would be used in similar
//! proportions after placing the pod.

use crate::cache::NodeInfo;
use crate::framework::{CycleState, ScorePlugin, MAX_NODE_SCORE};
use crate::podinfo::PodInfo;

pub struct BalancedAllocation;

pub const NAME: &str = "NodeResourcesBalancedAllocation";

pub fn balanced_score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let fraction = |req: i64, cap: i64| -> Option<f64> {
        (cap > 0).then(|| (req as f64 / cap as f64).min(1.0))
    };
    let cpu = fraction(
        node.requested.milli_cpu + pod.requests.milli_cpu,
        node.allocatable.milli_cpu,
    );
    let memory = fraction(
        node.requested.memory + pod.requests.memory,
        node.allocatable.memory,
    );
    // The standard deviation of two fractions is half their distance (upstream takes the
    // same shortcut); one fraction alone deviates by nothing. This runs for every
    // feasible node of every pod.
    let deviation = match (cpu, memory) {
        (Some(c), Some(m)) => (c - m).abs() / 2.0,
        (Some(_), None) | (None, Some(_)) => 0.0,
        (None, None) => return 0,
    };
    ((1.0 - deviation) * MAX_NODE_SCORE as f64) as i64
}

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn weight(&self) -> i64 {
        1
    }

    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64 {
        balanced_score(pod, node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    #[test]
    fn balance() {
        let n = node(json!({"metadata": {"name": "n"},
            "status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "10"}}}));
        let even = pod(json!({"spec": {"containers": [{"name": "c",
            "resources": {"requests": {"cpu": "2", "memory": "2Gi"}}}]}}));
        let skewed = pod(json!({"spec": {"containers": [{"name": "c",
            "resources": {"requests": {"cpu": "4", "memory": "0"}}}]}}));
        assert_eq!(balanced_score(&even, &n), 100);
        // Fractions 1.0 and 0.0: standard deviation 0.5.
        assert_eq!(balanced_score(&skewed, &n), 50);
    }
}
