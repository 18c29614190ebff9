//! Binding and reporting: POST pods/NAME/binding for a chosen node, the Scheduled and
//! FailedScheduling events, and the PodScheduled=False condition of pods that fit nowhere.

use crate::podinfo::PodInfo;
use crate::Shared;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use rkube_client::events::{reference, EventType, Recorder};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Events queued beyond this are dropped, as upstream's broadcaster drops them when its
/// queue is full: events must never slow scheduling down.
const EVENT_QUEUE: usize = 1000;
const EVENT_WRITERS: usize = 16;

struct PendingEvent {
    object: ObjectReference,
    kind: EventType,
    reason: &'static str,
    message: String,
}

pub(crate) struct EventSink {
    tx: mpsc::Sender<PendingEvent>,
}

impl EventSink {
    pub fn start(client: kube::Client, component: &str) -> Self {
        let (tx, mut rx) = mpsc::channel::<PendingEvent>(EVENT_QUEUE);
        let recorder = Arc::new(Recorder::new(client, component, None));
        let writers = Arc::new(Semaphore::new(EVENT_WRITERS));
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let Ok(permit) = writers.clone().acquire_owned().await else {
                    return;
                };
                let recorder = recorder.clone();
                tokio::spawn(async move {
                    recorder
                        .record(&ev.object, ev.kind, ev.reason, &ev.message)
                        .await;
                    drop(permit);
                });
            }
        });
        EventSink { tx }
    }

    fn emit(&self, pod: &Pod, kind: EventType, reason: &'static str, message: String) {
        let ev = PendingEvent {
            object: reference(pod),
            kind,
            reason,
            message,
        };
        if self.tx.try_send(ev).is_err() {
            tracing::debug!(reason, "event queue full, dropping event");
        }
    }
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Binds the assumed pod; on failure un-assumes it and lets the queue retry.
pub(crate) async fn bind(
    shared: Arc<Shared>,
    info: Arc<PodInfo>,
    node: String,
    permit: OwnedSemaphorePermit,
) {
    let (ns, name) = (info.namespace().to_string(), info.name().to_string());
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), &ns);
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, "namespace": ns, "uid": info.pod().metadata.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let result = api
        .create_subresource::<_, serde_json::Value>(
            "binding",
            &name,
            &PostParams::default(),
            &binding,
        )
        .await;
    drop(permit);
    match result {
        Ok(_) => {
            shared.queue.done(&info.key);
            shared.events.emit(
                info.pod(),
                EventType::Normal,
                "Scheduled",
                format!("Successfully assigned {ns}/{name} to {node}"),
            );
        }
        Err(e) => {
            forget_assumed(&shared, &info.key);
            if matches!(status_code(&e), Some(404 | 409)) {
                // Bound by someone else, being deleted, or gone: the informer reports
                // whatever the truth is.
                shared.queue.done(&info.key);
                tracing::debug!(pod = %info.key, error = %e, "binding refused");
            } else {
                tracing::warn!(pod = %info.key, error = %e, "binding failed");
                shared.queue.retry(&info.key, std::time::Instant::now());
            }
        }
    }
}

fn forget_assumed(shared: &Shared, key: &str) {
    let mut cache = shared.cache();
    if cache.is_assumed(key) {
        cache.remove_pod(key);
    }
}

/// Records FailedScheduling and sets PodScheduled=False (only when it changes, so
/// retries do not write the pod again and again).
pub(crate) async fn report_failure(shared: Arc<Shared>, info: Arc<PodInfo>, message: String) {
    shared.events.emit(
        info.pod(),
        EventType::Warning,
        "FailedScheduling",
        message.clone(),
    );
    let current = info
        .pod()
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    if current.is_some_and(|c| {
        c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
            && c.message.as_deref() == Some(message.as_str())
    }) {
        return;
    }
    let transition = match current {
        Some(c) if c.status == "False" => c.last_transition_time.clone(),
        _ => None,
    }
    .map(|t| json!(t))
    .unwrap_or_else(|| json!(Time(k8s_openapi::jiff::Timestamp::now())));
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": transition,
    }]}});
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), info.namespace());
    if let Err(e) = api
        .patch_status(
            info.name(),
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
    {
        tracing::debug!(pod = %info.key, error = %e, "setting PodScheduled condition");
    }
}
