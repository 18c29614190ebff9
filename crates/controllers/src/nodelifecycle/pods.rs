//! What node lifecycle and taint eviction need to know about a pod.

use crate::endpoints::informer::{key, Cached};
use k8s_openapi::api::core::v1::{Pod, Toleration};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: Option<String>,
    pub tolerations: Vec<Toleration>,
    /// The Ready condition's status as a bool; None without a Ready condition.
    pub ready: Option<bool>,
    pub deleting: bool,
}

impl Cached for PodRef {
    fn cache_key(&self) -> String {
        key(Some(&self.namespace), &self.name)
    }
    fn index_value(&self) -> Option<&str> {
        self.node.as_deref()
    }
}

impl PodRef {
    pub(crate) fn from_pod(pod: Pod) -> Self {
        let spec = pod.spec.unwrap_or_default();
        let ready = pod
            .status
            .and_then(|s| s.conditions)
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status == "True");
        Self {
            namespace: pod.metadata.namespace.unwrap_or_default(),
            name: pod.metadata.name.unwrap_or_default(),
            uid: pod.metadata.uid.unwrap_or_default(),
            node: spec.node_name.filter(|n| !n.is_empty()),
            tolerations: spec.tolerations.unwrap_or_default(),
            ready,
            deleting: pod.metadata.deletion_timestamp.is_some(),
        }
    }

    /// A reference for events about this pod.
    pub(crate) fn reference(&self) -> k8s_openapi::api::core::v1::ObjectReference {
        k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            namespace: Some(self.namespace.clone()),
            name: Some(self.name.clone()),
            uid: Some(self.uid.clone()),
            ..Default::default()
        }
    }
}
