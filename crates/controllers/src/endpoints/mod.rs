//! The endpoints controller: keeps one core/v1 Endpoints object per selector-bearing
//! Service listing the addresses of the pods it selects (upstream pkg/controller/endpoint).
//!
//! Also home of the small informer and work queue shared by this crate's endpoint and
//! node controllers (`informer`, `queue`), and of the pod/service helpers the
//! endpointslice controller reuses (`pods`).

pub(crate) mod informer;
pub(crate) mod pods;
pub(crate) mod queue;
mod subsets;

use crate::shared::{PodEvent, Pods};
use crate::{Context, Result};
use informer::{key, Cached, Store};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::Api;
use pods::{is_headless, managed, selects, PodInfo};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

pub(crate) const LAST_CHANGE_TRIGGER_TIME: &str =
    "endpoints.kubernetes.io/last-change-trigger-time";
const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
pub(crate) const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// Endpoints written by leader election (no Service behind them) must survive cleanup.
const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";
const WORKERS: usize = 4;

impl Cached for Endpoints {
    fn cache_key(&self) -> String {
        key(
            self.metadata.namespace.as_deref(),
            self.metadata.name.as_deref().unwrap_or_default(),
        )
    }
}

/// Remembers which services each pod was last matched to, so that a pod whose labels
/// change still wakes the services it left.
#[derive(Default)]
pub(crate) struct Membership {
    by_pod: Mutex<HashMap<String, Vec<String>>>,
}

impl Membership {
    /// Services to resync after a pod change: those matching its old or new labels.
    pub(crate) fn affected(
        &self,
        services: &Store<Service>,
        change: &informer::Change<PodInfo>,
    ) -> Vec<String> {
        let (old, new) = change;
        if let (Some(o), Some(n)) = (old, new) {
            if o.same_for_endpoints(n) {
                return Vec::new();
            }
        }
        let Some(pod) = new.as_ref().or(old.as_ref()) else {
            return Vec::new();
        };
        let pod_key = pod.key();
        let now: Vec<String> = match new {
            Some(p) => services
                .in_namespace(&p.namespace)
                .iter()
                .filter(|s| managed(s) && selects(s, &p.labels))
                .map(|s| s.cache_key())
                .collect(),
            None => Vec::new(),
        };
        let Ok(mut by_pod) = self.by_pod.lock() else {
            return now;
        };
        let mut all = if now.is_empty() {
            by_pod.remove(&pod_key).unwrap_or_default()
        } else {
            by_pod.insert(pod_key, now.clone()).unwrap_or_default()
        };
        // Services matching the old labels that we never recorded (e.g. created later).
        if let Some(o) = old {
            all.extend(
                services
                    .in_namespace(&o.namespace)
                    .iter()
                    .filter(|s| managed(s) && selects(s, &o.labels))
                    .map(|s| s.cache_key()),
            );
        }
        all.extend(now);
        all.sort();
        all.dedup();
        all
    }
}

/// Wakes the services a pod change concerns. Shared with the endpointslice controller.
/// Keeps `services` current and queues every Service that changes: both endpoint
/// controllers sync per Service.
pub(crate) async fn feed_from_services(
    client: kube::Client,
    services: Arc<Store<Service>>,
    queue: Arc<queue::Queue>,
) {
    informer::run(
        Api::<Service>::all(client),
        watcher::Config::default(),
        services,
        |s| s,
        move |(old, new)| {
            if let Some(s) = new.as_ref().or(old.as_ref()) {
                queue.add(s.cache_key());
            }
        },
    )
    .await
}

pub(crate) async fn feed_from_pods(
    mut events: tokio::sync::mpsc::UnboundedReceiver<PodEvent>,
    services: Arc<Store<Service>>,
    membership: Arc<Membership>,
    queue: Arc<queue::Queue>,
) {
    while let Some(event) = events.recv().await {
        if let PodEvent::Changed { old, new } = event {
            for k in membership.affected(&services, &(old, new)) {
                queue.add(k);
            }
        }
    }
}

pub async fn run(ctx: Arc<Context>) -> Result<()> {
    let services: Arc<Store<Service>> = Store::new();
    let pods = ctx.pods.clone();
    let endpoints: Arc<Store<Endpoints>> = Store::new();
    let queue = queue::Queue::new();
    let membership = Arc::new(Membership::default());
    let client = ctx.client.clone();

    let svc_feed = feed_from_services(client.clone(), services.clone(), queue.clone());
    let pod_feed = {
        let (queue, services, membership) = (queue.clone(), services.clone(), membership.clone());
        feed_from_pods(pods.subscribe(), services, membership, queue)
    };
    let ep_feed = {
        let queue = queue.clone();
        informer::run(
            Api::<Endpoints>::all(client.clone()),
            watcher::Config::default(),
            endpoints.clone(),
            |e| e,
            // Someone deleted our object: put it back.
            move |(old, new)| {
                if let (Some(o), None) = (old, new) {
                    queue.add(o.cache_key());
                }
            },
        )
    };
    let workers = {
        let ctrl = Arc::new(Controller {
            ctx,
            services,
            pods,
            endpoints,
        });
        async move {
            ctrl.services.wait_synced().await;
            ctrl.pods.wait_synced().await;
            ctrl.endpoints.wait_synced().await;
            ctrl.enqueue_leftovers(&queue);
            queue
                .run(WORKERS, move |k| {
                    let ctrl = ctrl.clone();
                    async move { ctrl.sync(&k).await }
                })
                .await
        }
    };
    futures::join!(svc_feed, pod_feed, ep_feed, workers);
    Ok(())
}

struct Controller {
    ctx: Arc<Context>,
    services: Arc<Store<Service>>,
    pods: Pods,
    endpoints: Arc<Store<Endpoints>>,
}

fn split(k: &str) -> (&str, &str) {
    k.split_once('/').unwrap_or(("default", k))
}

impl Controller {
    /// Endpoints whose Service vanished while we were not watching.
    fn enqueue_leftovers(&self, queue: &queue::Queue) {
        for ep in self.endpoints.list() {
            let leader = ep
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(LEADER_ANNOTATION));
            let k = ep.cache_key();
            if !leader && self.services.get(&k).is_none() {
                queue.add(k);
            }
        }
    }

    async fn sync(&self, k: &str) -> Result<()> {
        let (ns, name) = split(k);
        let api: Api<Endpoints> = Api::namespaced(self.ctx.client.clone(), ns);
        let Some(svc) = self.services.get(k) else {
            return match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                Err(e) => Err(e.into()),
            };
        };
        if !managed(&svc) {
            return Ok(());
        }
        let selected: Vec<Arc<PodInfo>> = self
            .pods
            .in_namespace(ns)
            .into_iter()
            .filter(|p| selects(&svc, &p.labels))
            .collect();
        let subsets = subsets::desired(&svc, &selected);
        let svc_labels = svc.metadata.labels.clone().unwrap_or_default();
        let current = self.endpoints.get(k);
        if let Some(cur) = &current {
            let mut labels = cur.metadata.labels.clone().unwrap_or_default();
            labels.remove(HEADLESS_LABEL);
            let over = cur
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(OVER_CAPACITY));
            let (r, n) = subsets::count(&subsets);
            let capacity_ok = r + n <= subsets::MAX_ADDRESSES && !over;
            let same_subsets =
                same_ignoring_rv(cur.subsets.as_deref().unwrap_or_default(), &subsets);
            if same_subsets && labels == svc_labels && capacity_ok {
                return Ok(());
            }
        }
        let mut ep = current.as_deref().cloned().unwrap_or_else(|| Endpoints {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(ns.to_string()),
                ..Default::default()
            },
            ..Default::default()
        });
        let mut subsets = subsets;
        let truncated = subsets::truncate(&mut subsets);
        ep.subsets = (!subsets.is_empty()).then_some(subsets);
        let mut labels: BTreeMap<String, String> = svc_labels;
        if is_headless(&svc) {
            labels.insert(HEADLESS_LABEL.into(), String::new());
        }
        ep.metadata.labels = Some(labels);
        let annotations = ep.metadata.annotations.get_or_insert_with(Default::default);
        annotations.insert(LAST_CHANGE_TRIGGER_TIME.into(), now_rfc3339());
        if truncated {
            annotations.insert(OVER_CAPACITY.into(), "truncated".into());
        } else {
            annotations.remove(OVER_CAPACITY);
        }
        let written = if current.is_some() {
            api.replace(name, &PostParams::default(), &ep).await
        } else {
            api.create(&PostParams::default(), &ep).await
        };
        match written {
            // Cache what we wrote so that the next sync does not see stale data.
            Ok(obj) => {
                self.endpoints.apply(obj);
                Ok(())
            }
            // Creating in a terminating namespace fails for good; nothing to retry.
            Err(kube::Error::Api(e)) if e.code == 403 && current.is_none() => {
                tracing::debug!(service = k, error = %e.message, "endpoints creation forbidden");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Subsets equal up to the resourceVersion in target references.
fn same_ignoring_rv(
    a: &[k8s_openapi::api::core::v1::EndpointSubset],
    b: &[k8s_openapi::api::core::v1::EndpointSubset],
) -> bool {
    let strip = |s: &[k8s_openapi::api::core::v1::EndpointSubset]| {
        let mut s = s.to_vec();
        for sub in &mut s {
            for a in sub
                .addresses
                .iter_mut()
                .flatten()
                .chain(sub.not_ready_addresses.iter_mut().flatten())
            {
                if let Some(r) = a.target_ref.as_mut() {
                    r.resource_version = None;
                }
            }
            // The server may have normalised empty lists away.
            if sub.addresses.as_ref().is_some_and(Vec::is_empty) {
                sub.addresses = None;
            }
            if sub.not_ready_addresses.as_ref().is_some_and(Vec::is_empty) {
                sub.not_ready_addresses = None;
            }
            if sub.ports.as_ref().is_some_and(Vec::is_empty) {
                sub.ports = None;
            }
        }
        s
    };
    strip(a) == strip(b)
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
