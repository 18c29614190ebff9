//! The plugin interfaces (after upstream's framework/interface.go, reduced to the
//! extension points we use) and the scheduling algorithm that drives them.

use crate::cache::{Cache, NodeInfo};
use crate::podinfo::PodInfo;
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};

pub const MAX_NODE_SCORE: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The node could take the pod if something changed on it (e.g. preemption).
    Unschedulable,
    /// Nothing short of changing the node or the pod helps.
    UnschedulableAndUnresolvable,
}

/// Why a plugin rejected a pod for a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub plugin: &'static str,
    pub reasons: Vec<String>,
}

impl Status {
    pub fn unschedulable(plugin: &'static str, reason: impl Into<String>) -> Self {
        Status {
            code: Code::Unschedulable,
            plugin,
            reasons: vec![reason.into()],
        }
    }

    pub fn unresolvable(plugin: &'static str, reason: impl Into<String>) -> Self {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            plugin,
            reasons: vec![reason.into()],
        }
    }
}

/// Per-pod data plugins compute once before visiting nodes. A handful of entries at
/// most, read once per node: a list beats hashing the key every time.
#[derive(Default)]
pub struct CycleState {
    data: Vec<(&'static str, Box<dyn Any + Send + Sync>)>,
}

impl CycleState {
    pub fn write<T: Any + Send + Sync>(&mut self, key: &'static str, value: T) {
        self.data.retain(|(k, _)| *k != key);
        self.data.push((key, Box::new(value)));
    }

    pub fn read<T: Any>(&self, key: &'static str) -> Option<&T> {
        self.data
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.downcast_ref())
    }
}

/// What a pre-filter or pre-score pass found: whether the plugin has anything to say
/// about this pod. As upstream's Skip status, a skipped plugin is not called for any
/// node in this cycle (a skipped score counts as 0 everywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pre {
    Run,
    Skip,
}

impl Pre {
    pub fn skip_if(cond: bool) -> Pre {
        if cond {
            Pre::Skip
        } else {
            Pre::Run
        }
    }
}

pub trait FilterPlugin: Send + Sync {
    fn name(&self) -> &'static str;

    /// Precomputes over the whole cluster; an error rejects the pod everywhere.
    fn pre_filter(
        &self,
        _pod: &PodInfo,
        _cache: &Cache,
        _state: &mut CycleState,
    ) -> Result<Pre, Status> {
        Ok(Pre::Run)
    }

    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status>;
}

pub trait ScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;

    fn weight(&self) -> i64;

    /// Precomputes over the cluster and the nodes that passed filtering.
    fn pre_score(
        &self,
        _pod: &PodInfo,
        _cache: &Cache,
        _feasible: &[&NodeInfo],
        _state: &mut CycleState,
    ) -> Pre {
        Pre::Run
    }

    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> i64;

    /// Maps raw scores onto 0..=MAX_NODE_SCORE when they are not already.
    fn normalize(&self, _scores: &mut [i64]) {}
}

/// Scales scores so the highest becomes MAX_NODE_SCORE; `reverse` flips them so that
/// lower raw values win (upstream's DefaultNormalizeScore).
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    for s in scores.iter_mut() {
        if max == 0 {
            *s = if reverse { MAX_NODE_SCORE } else { 0 };
            continue;
        }
        let v = *s * MAX_NODE_SCORE / max;
        *s = if reverse { MAX_NODE_SCORE - v } else { v };
    }
}

/// Why no node fits.
#[derive(Debug, Clone, PartialEq)]
pub enum FitError {
    NoNodes,
    NoFit {
        num_nodes: usize,
        /// Reason → how many nodes gave it.
        reasons: BTreeMap<String, usize>,
        /// Nodes where evicting pods could not help.
        unresolvable: usize,
        plugins: BTreeSet<&'static str>,
        preemption_never: bool,
    },
}

fn histogram<'a>(items: impl Iterator<Item = (&'a str, usize)>) -> String {
    let mut parts: Vec<String> = items
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{n} {r}"))
        .collect();
    parts.sort();
    parts.join(", ")
}

impl FitError {
    /// The message upstream puts in the FailedScheduling event and PodScheduled condition.
    pub fn message(&self) -> String {
        match self {
            FitError::NoNodes => "no nodes available to schedule pods".into(),
            FitError::NoFit {
                num_nodes,
                reasons,
                unresolvable,
                preemption_never,
                ..
            } => {
                let first = histogram(reasons.iter().map(|(r, n)| (r.as_str(), *n)));
                let preemption = if *preemption_never {
                    "preemption: not eligible due to preemptionPolicy=Never.".to_string()
                } else {
                    let helpful = num_nodes.saturating_sub(*unresolvable);
                    let parts = histogram(
                        [
                            ("Preemption is not helpful for scheduling", *unresolvable),
                            ("No preemption victims found for incoming pod", helpful),
                        ]
                        .into_iter(),
                    );
                    format!("preemption: 0/{num_nodes} nodes are available: {parts}.")
                };
                format!("0/{num_nodes} nodes are available: {first}. {preemption}")
            }
        }
    }

    pub fn plugins(&self) -> BTreeSet<&'static str> {
        match self {
            FitError::NoNodes => BTreeSet::new(),
            FitError::NoFit { plugins, .. } => plugins.clone(),
        }
    }
}

/// How many feasible nodes to find before scoring: all of a small cluster, otherwise an
/// adaptive share (50% minus 1% per 125 nodes, at least 5%, at least 100 nodes).
pub fn num_feasible_nodes_to_find(num_nodes: usize) -> usize {
    const MIN_NODES: usize = 100;
    if num_nodes < MIN_NODES {
        return num_nodes;
    }
    let percentage = 50usize.saturating_sub(num_nodes / 125).max(5);
    (num_nodes * percentage / 100).max(MIN_NODES)
}

pub struct Framework {
    pub filters: Vec<Box<dyn FilterPlugin>>,
    pub scores: Vec<Box<dyn ScorePlugin>>,
}

impl Framework {
    /// Finds the best node for `pod`. `next_start` rotates where the node walk begins so
    /// that successive pods look at different nodes, as upstream does.
    pub fn schedule(
        &self,
        cache: &Cache,
        pod: &PodInfo,
        next_start: &mut usize,
    ) -> Result<String, FitError> {
        let n = cache.node_count();
        if n == 0 {
            return Err(FitError::NoNodes);
        }
        let mut state = CycleState::default();
        let mut rejections: Vec<Status> = Vec::new();
        let mut filters: Vec<&dyn FilterPlugin> = Vec::with_capacity(self.filters.len());
        for f in &self.filters {
            match f.pre_filter(pod, cache, &mut state) {
                Ok(Pre::Run) => filters.push(f.as_ref()),
                Ok(Pre::Skip) => {}
                Err(status) => {
                    rejections = vec![status; n];
                    return Err(self.fit_error(pod, n, rejections));
                }
            }
        }
        let want = num_feasible_nodes_to_find(n);
        let start = *next_start % n;
        let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(want.min(n));
        let mut processed = 0;
        for i in 0..n {
            processed = i + 1;
            let Some(node) = cache.node_at((start + i) % n) else {
                continue;
            };
            match run_filters(&filters, &state, pod, node) {
                Ok(()) => {
                    feasible.push(node);
                    if feasible.len() >= want {
                        break;
                    }
                }
                Err(s) => rejections.push(s),
            }
        }
        *next_start = (start + processed) % n;
        if feasible.is_empty() {
            return Err(self.fit_error(pod, n, rejections));
        }
        if feasible.len() == 1 {
            return Ok(feasible[0].name.clone());
        }
        let totals = self.score(&mut state, cache, pod, &feasible);
        Ok(feasible[select_best(&totals)].name.clone())
    }

    fn score(
        &self,
        state: &mut CycleState,
        cache: &Cache,
        pod: &PodInfo,
        feasible: &[&NodeInfo],
    ) -> Vec<i64> {
        let mut totals = vec![0i64; feasible.len()];
        let mut scores = vec![0i64; feasible.len()];
        for plugin in &self.scores {
            if plugin.pre_score(pod, cache, feasible, state) == Pre::Skip {
                continue;
            }
            for (s, node) in scores.iter_mut().zip(feasible) {
                *s = plugin.score(state, pod, node);
            }
            plugin.normalize(&mut scores);
            let w = plugin.weight();
            for (t, s) in totals.iter_mut().zip(&scores) {
                *t += w * s;
            }
        }
        totals
    }

    fn fit_error(&self, pod: &PodInfo, num_nodes: usize, rejections: Vec<Status>) -> FitError {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut plugins = BTreeSet::new();
        let mut unresolvable = 0;
        for s in rejections {
            plugins.insert(s.plugin);
            if s.code == Code::UnschedulableAndUnresolvable {
                unresolvable += 1;
            }
            for r in s.reasons {
                *reasons.entry(r).or_default() += 1;
            }
        }
        let preemption_never = pod
            .pod()
            .spec
            .as_ref()
            .and_then(|s| s.preemption_policy.as_deref())
            == Some("Never");
        FitError::NoFit {
            num_nodes,
            reasons,
            unresolvable,
            plugins,
            preemption_never,
        }
    }
}

fn run_filters(
    filters: &[&dyn FilterPlugin],
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
) -> Result<(), Status> {
    for f in filters {
        f.filter(state, pod, node)?;
    }
    Ok(())
}

/// Index of the highest score, ties broken uniformly at random.
pub fn select_best(scores: &[i64]) -> usize {
    let Some(&top) = scores.iter().max() else {
        return 0;
    };
    // One random draw among the ties picks each of them with the same chance as upstream's
    // reservoir sampling, which draws once per tie (hundreds of nodes often tie).
    let ties = scores.iter().filter(|&&s| s == top).count();
    let pick = rand::random_range(0..ties);
    scores
        .iter()
        .enumerate()
        .filter(|(_, &s)| s == top)
        .nth(pick)
        .map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_share() {
        assert_eq!(num_feasible_nodes_to_find(3), 3);
        assert_eq!(num_feasible_nodes_to_find(99), 99);
        assert_eq!(num_feasible_nodes_to_find(100), 100);
        assert_eq!(num_feasible_nodes_to_find(1000), 420);
        assert_eq!(num_feasible_nodes_to_find(5000), 500);
        assert_eq!(num_feasible_nodes_to_find(10000), 500);
    }

    #[test]
    fn message_format() {
        let e = FitError::NoFit {
            num_nodes: 3,
            reasons: [("Insufficient cpu".to_string(), 3)].into(),
            unresolvable: 0,
            plugins: ["NodeResourcesFit"].into(),
            preemption_never: false,
        };
        assert_eq!(
            e.message(),
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are \
             available: 3 No preemption victims found for incoming pod."
        );
        let e = FitError::NoFit {
            num_nodes: 3,
            reasons: [
                (
                    "node(s) didn't match Pod's node affinity/selector".to_string(),
                    2,
                ),
                ("Insufficient cpu".to_string(), 1),
            ]
            .into(),
            unresolvable: 2,
            plugins: ["NodeAffinity", "NodeResourcesFit"].into(),
            preemption_never: false,
        };
        assert_eq!(
            e.message(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node \
             affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims \
             found for incoming pod, 2 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn best_score_wins_and_ties_spread() {
        assert_eq!(select_best(&[1, 5, 3]), 1);
        let mut seen = [0; 3];
        for _ in 0..300 {
            seen[select_best(&[7, 7, 7])] += 1;
        }
        assert!(seen.iter().all(|n| *n > 30), "{seen:?}");
    }

    struct SkipsEverything;

    impl FilterPlugin for SkipsEverything {
        fn name(&self) -> &'static str {
            "SkipsEverything"
        }
        fn pre_filter(&self, _: &PodInfo, _: &Cache, _: &mut CycleState) -> Result<Pre, Status> {
            Ok(Pre::Skip)
        }
        fn filter(&self, _: &CycleState, _: &PodInfo, _: &NodeInfo) -> Result<(), Status> {
            Err(Status::unresolvable(
                "SkipsEverything",
                "called although skipped",
            ))
        }
    }

    impl ScorePlugin for SkipsEverything {
        fn name(&self) -> &'static str {
            "SkipsEverything"
        }
        fn weight(&self) -> i64 {
            1
        }
        fn pre_score(&self, _: &PodInfo, _: &Cache, _: &[&NodeInfo], _: &mut CycleState) -> Pre {
            Pre::Skip
        }
        fn score(&self, _: &CycleState, _: &PodInfo, node: &NodeInfo) -> i64 {
            panic!("scored {} although skipped", node.name)
        }
    }

    #[test]
    fn skipped_plugins_are_not_called() {
        let mut cache = Cache::default();
        for name in ["a", "b"] {
            let node =
                crate::plugins::testing::node(serde_json::json!({"metadata": {"name": name}}));
            cache.upsert_node(node.node.as_deref().cloned().unwrap());
        }
        let fw = Framework {
            filters: vec![Box::new(SkipsEverything)],
            scores: vec![Box::new(SkipsEverything)],
        };
        let pod = crate::plugins::testing::pod(serde_json::json!({"spec": {}}));
        let chosen = fw.schedule(&cache, &pod, &mut 0).unwrap();
        assert!(chosen == "a" || chosen == "b");
    }

    #[test]
    fn normalize() {
        let mut s = [0, 5, 10];
        default_normalize(&mut s, false);
        assert_eq!(s, [0, 50, 100]);
        let mut s = [0, 5, 10];
        default_normalize(&mut s, true);
        assert_eq!(s, [100, 50, 0]);
        let mut s = [0, 0];
        default_normalize(&mut s, true);
        assert_eq!(s, [100, 100]);
    }
}
