//! ReplicaSet and ReplicationController run on the same code; this trait is what differs.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// The status fields both kinds share, in their wire names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub replicas: i32,
    pub fully_labeled: i32,
    pub ready: i32,
    pub available: i32,
}

pub trait Replicated:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The pod selector; an empty one selects nothing here (validation forbids it anyway,
    /// and matching every pod of a namespace would be the worse failure).
    fn pod_selector(&self) -> Option<LabelSelector>;
    fn desired(&self) -> i32;
    fn min_ready_seconds(&self) -> i32;
    fn pod_template(&self) -> Option<&PodTemplateSpec>;
    fn counts(&self) -> Counts;
    fn observed_generation(&self) -> Option<i64>;
    /// Status conditions as JSON, to carry them through a status write.
    fn conditions_json(&self) -> Vec<serde_json::Value>;
}

fn non_empty(sel: LabelSelector) -> Option<LabelSelector> {
    let empty = sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty());
    (!empty).then_some(sel)
}

fn conditions<T: Serialize>(c: Option<&Vec<T>>) -> Vec<serde_json::Value> {
    c.into_iter()
        .flatten()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect()
}

impl Replicated for ReplicaSet {
    fn pod_selector(&self) -> Option<LabelSelector> {
        non_empty(self.spec.as_ref()?.selector.clone())
    }
    fn desired(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn pod_template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn counts(&self) -> Counts {
        let Some(s) = self.status.as_ref() else {
            return Counts::default();
        };
        Counts {
            replicas: s.replicas,
            fully_labeled: s.fully_labeled_replicas.unwrap_or(0),
            ready: s.ready_replicas.unwrap_or(0),
            available: s.available_replicas.unwrap_or(0),
        }
    }
    fn observed_generation(&self) -> Option<i64> {
        self.status.as_ref()?.observed_generation
    }
    fn conditions_json(&self) -> Vec<serde_json::Value> {
        conditions(self.status.as_ref().and_then(|s| s.conditions.as_ref()))
    }
}

impl Replicated for ReplicationController {
    fn pod_selector(&self) -> Option<LabelSelector> {
        let labels = self.spec.as_ref()?.selector.clone()?;
        non_empty(LabelSelector {
            match_labels: Some(labels),
            match_expressions: None,
        })
    }
    fn desired(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn pod_template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn counts(&self) -> Counts {
        let Some(s) = self.status.as_ref() else {
            return Counts::default();
        };
        Counts {
            replicas: s.replicas,
            fully_labeled: s.fully_labeled_replicas.unwrap_or(0),
            ready: s.ready_replicas.unwrap_or(0),
            available: s.available_replicas.unwrap_or(0),
        }
    }
    fn observed_generation(&self) -> Option<i64> {
        self.status.as_ref()?.observed_generation
    }
    fn conditions_json(&self) -> Vec<serde_json::Value> {
        conditions(self.status.as_ref().and_then(|s| s.conditions.as_ref()))
    }
}
