//! Records core/v1 Events about objects, as `kubectl describe` shows them. Repeats of the
//! same reason and message for one object bump `count` instead of adding events, like
//! upstream's event correlator.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// (object uid, reason, message).
type SeenKey = (String, String, String);
/// (event namespace, event name, count).
type SeenEvent = (String, String, i32);

pub struct Recorder {
    client: Client,
    component: String,
    host: Option<String>,
    seen: Mutex<HashMap<SeenKey, SeenEvent>>,
}

fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

/// Event names end in the creation time in hex nanoseconds, as upstream's do, so names
/// sort in creation order (lists come back by name); strictly increasing within the
/// process, so two events in one nanosecond still get distinct names.
fn name_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let t = now().as_nanosecond() as u64;
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = t.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

impl Recorder {
    pub fn new(client: Client, component: &str, host: Option<&str>) -> Self {
        Self {
            client,
            component: component.to_string(),
            host: host.map(str::to_string),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Records an event; failures are logged, never returned: events are best effort.
    pub async fn record(
        &self,
        object: &ObjectReference,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        let uid = object.uid.clone().unwrap_or_default();
        let key = (uid, reason.to_string(), message.to_string());
        let previous = self.seen.lock().ok().and_then(|s| s.get(&key).cloned());
        if let Some((ns, name, count)) = previous {
            let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
            let patch = serde_json::json!({"count": count + 1, "lastTimestamp": Time(now())});
            if api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .is_ok()
            {
                if let Ok(mut s) = self.seen.lock() {
                    s.insert(key, (ns, name, count + 1));
                }
                return;
            }
        }
        let ns = object
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        let name = format!(
            "{}.{:x}",
            object.name.as_deref().unwrap_or("object"),
            name_suffix()
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            involved_object: object.clone(),
            reason: Some(reason.to_string()),
            message: Some(message.to_string()),
            type_: Some(match kind {
                EventType::Normal => "Normal".into(),
                EventType::Warning => "Warning".into(),
            }),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: self.host.clone(),
            }),
            first_timestamp: Some(Time(now())),
            last_timestamp: Some(Time(now())),
            count: Some(1),
            event_time: None::<MicroTime>,
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.host.clone().unwrap_or_else(|| self.component.clone())),
            ..Default::default()
        };
        match self.create(&ns, &event).await {
            Ok(()) => {
                if let Ok(mut s) = self.seen.lock() {
                    if s.len() > 10_000 {
                        s.clear();
                    }
                    s.insert(key, (ns, name, 1));
                }
            }
            Err(e) => tracing::debug!(error = %e, reason, "recording event"),
        }
    }

    /// POSTs the event without parsing the object the server echoes (nothing here
    /// reads it), and with fieldValidation=Ignore: a typed Event has no unknown fields
    /// for the server to look for.
    async fn create(&self, ns: &str, event: &Event) -> Result<(), kube::Error> {
        let body = serde_json::to_vec(event).map_err(kube::Error::SerdeError)?;
        let request = http::Request::post(format!(
            "/api/v1/namespaces/{ns}/events?fieldValidation=Ignore"
        ))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(kube::Error::HttpError)?;
        self.client.request_text(request).await.map(drop)
    }
}

/// An ObjectReference to `obj` for events.
pub fn reference<K: kube::Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let meta = obj.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).to_string()),
        kind: Some(K::kind(&()).to_string()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}
