//! Taint-based eviction: pods on nodes with NoExecute taints they do not tolerate are
//! deleted, at once or after their tolerationSeconds (upstream pkg/controller/tainteviction).

use super::pods::PodRef;
use super::taints::{eviction, Eviction};
use crate::endpoints::informer::{Cached, Store};
use crate::Context;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::Api;
use rkube_client::events::EventType;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long to wait before deleting the same pod again if our delete did not show up.
const RETRY_DELETE: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct Evictor {
    /// Pods whose eviction is scheduled, by when we first decided it.
    scheduled: HashMap<String, Instant>,
    /// Pods we deleted, so that a lagging cache does not make us delete again at once.
    deleted: HashMap<String, Instant>,
}

impl Evictor {
    /// One pass over every node with NoExecute taints.
    pub(crate) async fn pass(&mut self, ctx: &Context, nodes: &Store<Node>, pods: &Store<PodRef>) {
        let now = Instant::now();
        self.deleted
            .retain(|_, at| now.duration_since(*at) < RETRY_DELETE);
        let mut still = HashSet::new();
        let mut due = Vec::new();
        for node in nodes.list() {
            let taints: Vec<_> = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .filter(|t| t.effect == "NoExecute")
                .collect();
            if taints.is_empty() {
                continue;
            }
            let Some(name) = node.metadata.name.as_deref() else {
                continue;
            };
            for pod in pods.indexed(name) {
                let k = pod.cache_key();
                if pod.deleting || self.deleted.contains_key(&k) {
                    continue;
                }
                match eviction(&pod.tolerations, &taints) {
                    Eviction::Now => due.push(pod),
                    Eviction::After(wait) => {
                        let since = *self.scheduled.entry(k.clone()).or_insert(now);
                        still.insert(k);
                        if now >= since + wait {
                            due.push(pod);
                        }
                    }
                    Eviction::Never => {}
                }
            }
        }
        let cancelled: Vec<String> = self
            .scheduled
            .keys()
            .filter(|k| !still.contains(*k))
            .cloned()
            .collect();
        for k in cancelled {
            self.scheduled.remove(&k);
            if let Some(pod) = pods.get(&k).filter(|p| !p.deleting) {
                ctx.recorder
                    .record(
                        &pod.reference(),
                        EventType::Normal,
                        "TaintManagerEviction",
                        &format!("Cancelling deletion of Pod {k}"),
                    )
                    .await;
            }
        }
        for pod in due {
            let k = pod.cache_key();
            self.scheduled.remove(&k);
            if evict(ctx, &pod).await {
                self.deleted.insert(k, now);
            }
        }
    }
}

/// Deletes the pod after recording why; false when the delete failed (retried next pass).
async fn evict(ctx: &Context, pod: &PodRef) -> bool {
    let k = pod.cache_key();
    ctx.recorder
        .record(
            &pod.reference(),
            EventType::Normal,
            "TaintManagerEviction",
            &format!("Marking for deletion Pod {k}"),
        )
        .await;
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.namespace);
    // Tell whoever owns the pod why it is going (the DisruptionTarget condition);
    // best effort, the deletion is what matters.
    let condition = serde_json::json!({"status": {"conditions": [{
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "DeletionByTaintManager",
        "message": "Taint manager: deleting due to NoExecute taint",
        "lastTransitionTime": crate::endpoints::now_rfc3339(),
    }]}});
    if let Err(e) = api
        .patch_status(
            &pod.name,
            &PatchParams::default(),
            &Patch::Strategic(&condition),
        )
        .await
    {
        tracing::debug!(pod = %k, error = %e, "adding DisruptionTarget condition");
    }
    let params = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some(pod.uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&pod.name, &params).await {
        Ok(_) => true,
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => true,
        Err(e) => {
            tracing::warn!(pod = %k, error = %e, "taint eviction failed");
            false
        }
    }
}
