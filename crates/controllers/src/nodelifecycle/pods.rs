//! What node lifecycle and taint eviction need to know about a pod.

use crate::endpoints::informer::{key, Cached};
use crate::shared::CachedPod;
use k8s_openapi::api::core::v1::Toleration;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: Option<String>,
    pub tolerations: Vec<Toleration>,
    /// Whether the Ready condition is True.
    pub ready: bool,
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
    pub(crate) fn from_pod(pod: &CachedPod) -> Self {
        Self {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            node: pod.node_name.clone(),
            tolerations: pod.tolerations.clone(),
            ready: pod.ready,
            deleting: pod.deleting,
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
