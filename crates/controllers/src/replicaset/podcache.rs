//! What a pod change means for the replica controllers' expectations. The pods
//! themselves live in the process's shared pod informer (crate::shared::Pods).

use crate::shared::CachedPod;

/// What a cache change means for expectations: a pod appeared, or started/finished going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Created { owner: String },
    Deleted { owner: String, name: String },
}

fn owner_uid(pod: &CachedPod) -> Option<String> {
    pod.controller().map(|r| r.uid.clone())
}

/// The expectation-relevant difference between an old and a new state of one pod.
pub fn observe(old: Option<&CachedPod>, new: Option<&CachedPod>, out: &mut Vec<Observed>) {
    match (old, new) {
        (None, Some(p)) => {
            if let Some(owner) = owner_uid(p) {
                out.push(Observed::Created { owner });
            }
            if p.deleting {
                observe(Some(p), None, out);
            }
        }
        (Some(o), None) if !o.deleting => {
            if let Some(owner) = owner_uid(o) {
                let name = o.name.clone();
                out.push(Observed::Deleted { owner, name });
            }
        }
        (Some(o), Some(p)) if !o.deleting && p.deleting => {
            observe(Some(o), None, out);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn pod(name: &str, owner: Option<&str>) -> CachedPod {
        CachedPod::from_pod(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                owner_references: owner.map(|uid| {
                    vec![OwnerReference {
                        uid: uid.into(),
                        controller: Some(true),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn seen(old: Option<&CachedPod>, new: Option<&CachedPod>) -> Vec<Observed> {
        let mut out = Vec::new();
        observe(old, new, &mut out);
        out
    }

    #[test]
    fn creations_and_deletions_are_observed_once() {
        let a = pod("a", Some("u1"));
        assert_eq!(
            seen(None, Some(&a)),
            vec![Observed::Created { owner: "u1".into() }]
        );
        assert!(
            seen(None, Some(&pod("o", None))).is_empty(),
            "orphans expect nothing"
        );
        assert!(seen(Some(&a), Some(&a)).is_empty());

        let mut going = a.clone();
        going.deleting = true;
        let deleted = vec![Observed::Deleted {
            owner: "u1".into(),
            name: "a".into(),
        }];
        assert_eq!(seen(Some(&a), Some(&going)), deleted);
        // Its final removal is not a second observation.
        assert!(seen(Some(&going), None).is_empty());
        // A pod gone without a graceful phase is observed at removal.
        assert_eq!(seen(Some(&a), None), deleted);
        // First seen already terminating: only the creation counts.
        assert_eq!(seen(None, Some(&going)).len(), 1);
    }
}
