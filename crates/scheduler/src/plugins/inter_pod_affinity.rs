//! Required inter-pod affinity and anti-affinity, both the incoming pod's terms and the
//! anti-affinity terms of pods already placed, evaluated per topology domain.

use crate::cache::{Cache, NodeInfo};
use crate::framework::{CycleState, FilterPlugin, Pre, Status};
use crate::podinfo::PodInfo;
use std::collections::HashMap;

pub struct InterPodAffinity;

pub const NAME: &str = "InterPodAffinity";
const KEY: &str = "InterPodAffinity/filter";

type Pairs = HashMap<(String, String), i64>;

#[derive(Default)]
struct State {
    /// Domains where an existing pod's anti-affinity rejects the incoming pod.
    existing_anti: Pairs,
    /// Domains holding pods that match all of the incoming pod's affinity terms.
    affinity: Pairs,
    /// Domains holding pods matched by one of the incoming pod's anti-affinity terms.
    anti: Pairs,
}

fn bump(map: &mut Pairs, node: &NodeInfo, key: &str) {
    if let Some(v) = node.label(key) {
        *map.entry((key.to_string(), v.to_string())).or_insert(0) += 1;
    }
}

fn has_pair(map: &Pairs, node: &NodeInfo, key: &str) -> bool {
    node.label(key).is_some_and(|v| {
        map.get(&(key.to_string(), v.to_string()))
            .is_some_and(|n| *n > 0)
    })
}

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn pre_filter(
        &self,
        pod: &PodInfo,
        cache: &Cache,
        state: &mut CycleState,
    ) -> Result<Pre, Status> {
        let own_terms = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if cache.anti_affinity_pods() == 0 && !own_terms {
            return Ok(Pre::Skip);
        }
        let mut st = State::default();
        for node in cache.nodes() {
            if node.anti_affinity_pods == 0 && !own_terms {
                continue;
            }
            for existing in &node.pods {
                for term in &existing.required_anti_affinity {
                    if term.matches(pod) {
                        bump(&mut st.existing_anti, node, &term.topology_key);
                    }
                }
                if !pod.required_affinity.is_empty()
                    && pod.required_affinity.iter().all(|t| t.matches(existing))
                {
                    for term in &pod.required_affinity {
                        bump(&mut st.affinity, node, &term.topology_key);
                    }
                }
                for term in &pod.required_anti_affinity {
                    if term.matches(existing) {
                        bump(&mut st.anti, node, &term.topology_key);
                    }
                }
            }
        }
        state.write(KEY, st);
        Ok(Pre::Run)
    }

    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        let Some(st) = state.read::<State>(KEY) else {
            return Ok(());
        };
        if !pod.required_affinity.is_empty() {
            let satisfied = pod
                .required_affinity
                .iter()
                .all(|t| has_pair(&st.affinity, node, &t.topology_key));
            // The first pod of a group that selects itself may go anywhere with the keys.
            let first_of_group = st.affinity.is_empty()
                && pod.required_affinity.iter().all(|t| t.matches(pod))
                && pod
                    .required_affinity
                    .iter()
                    .all(|t| node.label(&t.topology_key).is_some());
            if !satisfied && !first_of_group {
                return Err(Status::unresolvable(
                    NAME,
                    "node(s) didn't match pod affinity rules",
                ));
            }
        }
        if pod
            .required_anti_affinity
            .iter()
            .any(|t| has_pair(&st.anti, node, &t.topology_key))
        {
            return Err(Status::unschedulable(
                NAME,
                "node(s) didn't match pod anti-affinity rules",
            ));
        }
        let blocked = node.labels().is_some_and(|labels| {
            labels.iter().any(|(k, v)| {
                st.existing_anti
                    .get(&(k.clone(), v.clone()))
                    .is_some_and(|n| *n > 0)
            })
        });
        if blocked {
            return Err(Status::unschedulable(
                NAME,
                "node(s) didn't satisfy existing pods anti-affinity rules",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::{node, pod_info};
    use serde_json::json;

    fn cache() -> Cache {
        let mut c = Cache::default();
        for n in ["n1", "n2"] {
            c.upsert_node(node(n, "8", "8Gi", "110"));
        }
        c
    }

    fn labelled(name: &str, app: &str, affinity: serde_json::Value) -> std::sync::Arc<PodInfo> {
        pod_info(
            json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"containers": [{"name": "c"}], "affinity": affinity}}),
        )
    }

    fn term(app: &str) -> serde_json::Value {
        json!([{"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}])
    }

    fn run(c: &Cache, p: &PodInfo) -> Vec<Result<(), Status>> {
        let mut st = CycleState::default();
        InterPodAffinity.pre_filter(p, c, &mut st).unwrap();
        c.nodes()
            .map(|n| InterPodAffinity.filter(&st, p, n))
            .collect()
    }

    #[test]
    fn affinity_follows_matching_pods() {
        let mut c = cache();
        c.add_pod(labelled("db", "db", json!({})), "n2", false);
        let p = labelled(
            "web",
            "web",
            json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term("db")}}),
        );
        let r = run(&c, &p);
        assert_eq!(
            r[0].as_ref().unwrap_err().reasons,
            ["node(s) didn't match pod affinity rules"]
        );
        assert!(r[1].is_ok());
        // With no db pod anywhere and not matching itself, nothing fits.
        let empty = cache();
        assert!(run(&empty, &p).iter().all(|r| r.is_err()));
        // A pod selecting itself may start the group anywhere.
        let selfish = labelled(
            "db2",
            "db",
            json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term("db")}}),
        );
        assert!(run(&empty, &selfish).iter().all(|r| r.is_ok()));
    }

    #[test]
    fn anti_affinity_both_ways() {
        let mut c = cache();
        c.add_pod(
            labelled("guard", "guard", json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term("web")}})),
            "n1",
            false,
        );
        let web = labelled("web", "web", json!({}));
        let r = run(&c, &web);
        assert_eq!(
            r[0].as_ref().unwrap_err().reasons,
            ["node(s) didn't satisfy existing pods anti-affinity rules"]
        );
        assert!(r[1].is_ok());
        let shy = labelled(
            "shy",
            "shy",
            json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": term("guard")}}),
        );
        let r = run(&c, &shy);
        assert_eq!(
            r[0].as_ref().unwrap_err().reasons,
            ["node(s) didn't match pod anti-affinity rules"]
        );
        assert!(r[1].is_ok());
    }
}
