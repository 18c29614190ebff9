//! The resource quota controller: keeps each ResourceQuota's status.hard (its spec.hard)
//! and status.used current. Admission (refusing creates over quota) lives in the API
//! server and reads what this controller writes.

pub mod quantity;
pub mod usage;

use crate::garbagecollector::resources::{self, Served};
use crate::shared::PodEvent;
use crate::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, ResourceQuota, ResourceQuotaStatus, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use kube::api::{DynamicObject, ListParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Full recalculation period, as upstream's default quota resync.
const RESYNC: Duration = Duration::from_secs(30);
/// Changes arriving this close together are folded into one recalculation.
const SETTLE: Duration = Duration::from_millis(200);

/// Kinds whose changes trigger a recount of their namespace (others are caught by the
/// periodic resync).
const WATCHED: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "services"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "replicationcontrollers"),
    ("", "persistentvolumeclaims"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
];

/// A namespace to recount, or None for every namespace with a quota.
type Dirty = Option<String>;

pub async fn run(ctx: Arc<Context>) -> Result<()> {
    let served = Arc::new(resources::discover(&ctx.client).await);
    let (tx, mut rx) = mpsc::unbounded_channel::<Dirty>();

    let (quotas, writer) = reflector::store::<ResourceQuota>();
    let quota_events = reflector::reflector(
        writer,
        watcher(
            Api::<ResourceQuota>::all(ctx.client.clone()),
            watcher::Config::default(),
        ),
    );
    spawn_trigger(quota_events, tx.clone());
    // Pods come from the process's shared informer: only their namespace matters here.
    let mut pod_events = ctx.pods.subscribe();
    let pod_tx = tx.clone();
    tokio::spawn(async move {
        while let Some(event) = pod_events.recv().await {
            if let PodEvent::Changed { old, new } = event {
                let ns = new.or(old).map(|p| p.namespace.clone());
                if pod_tx.send(ns).is_err() {
                    return;
                }
            }
        }
    });
    for s in served.iter() {
        if s.is("", "pods") {
            continue;
        }
        if s.watch && WATCHED.iter().any(|(g, p)| s.is(g, p)) {
            let api: Api<PartialObjectMeta<DynamicObject>> =
                Api::all_with(ctx.client.clone(), &s.api);
            spawn_trigger(watcher(api, watcher::Config::default()), tx.clone());
        }
    }
    let ticker = tx.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RESYNC);
        loop {
            tick.tick().await;
            if ticker.send(None).is_err() {
                return;
            }
        }
    });

    while let Some(first) = rx.recv().await {
        tokio::time::sleep(SETTLE).await;
        let mut all = false;
        let mut dirty = HashSet::new();
        for d in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            match d {
                Some(ns) => {
                    dirty.insert(ns);
                }
                None => all = true,
            }
        }
        let mut namespaces: HashSet<String> = HashSet::new();
        for q in quotas.state() {
            let ns = q.namespace().unwrap_or_default();
            if all || dirty.contains(&ns) {
                namespaces.insert(ns);
            }
        }
        for ns in namespaces {
            if let Err(e) = sync_namespace(&ctx.client, &served, &quotas, &ns).await {
                tracing::warn!(namespace = %ns, error = %e, "resource quota sync");
                let retry = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = retry.send(Some(ns));
                });
            }
        }
    }
    Ok(())
}

/// Turns a watch into namespace notifications.
fn spawn_trigger<K, S>(events: S, tx: mpsc::UnboundedSender<Dirty>)
where
    K: kube::Resource + Send + 'static,
    S: futures::Stream<Item = std::result::Result<watcher::Event<K>, watcher::Error>>
        + Send
        + 'static,
{
    tokio::spawn(async move {
        let mut objects = events.default_backoff().touched_objects().boxed();
        while let Some(obj) = objects.next().await {
            match obj {
                Ok(obj) => {
                    if tx.send(obj.meta().namespace.clone()).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "resource quota watch"),
            }
        }
    });
}

async fn sync_namespace(
    client: &Client,
    served: &[Served],
    quotas: &Store<ResourceQuota>,
    ns: &str,
) -> Result<()> {
    let quotas: Vec<Arc<ResourceQuota>> = quotas
        .state()
        .into_iter()
        .filter(|q| q.namespace().as_deref() == Some(ns))
        .collect();
    let hard_of = |q: &ResourceQuota| -> BTreeMap<String, String> {
        q.spec
            .as_ref()
            .and_then(|s| s.hard.as_ref())
            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
            .unwrap_or_default()
    };
    let hards: Vec<BTreeMap<String, String>> = quotas.iter().map(|q| hard_of(q)).collect();
    let needs = usage::needs(hards.iter().flat_map(|h| h.keys()));
    let mut inputs = usage::Inputs::default();
    if needs.pods {
        inputs.pods = Api::<Pod>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await?
            .items;
    }
    if needs.services {
        inputs.services = Api::<Service>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await?
            .items;
    }
    for name in &needs.counts {
        let n = match served
            .iter()
            .find(|s| s.namespaced && s.qualified() == *name)
        {
            Some(s) => {
                let api: Api<PartialObjectMeta<DynamicObject>> =
                    Api::namespaced_with(client.clone(), ns, &s.api);
                api.list_metadata(&ListParams::default()).await?.items.len()
            }
            None => 0,
        };
        inputs.counts.insert(name.clone(), n);
    }
    let now = chrono::Utc::now();
    for (q, hard) in quotas.iter().zip(hards) {
        let scopes = q
            .spec
            .as_ref()
            .and_then(|s| s.scopes.clone())
            .unwrap_or_default();
        let used = usage::used(&hard, &scopes, &inputs, now);
        let status = ResourceQuotaStatus {
            hard: Some(hard.into_iter().map(|(k, v)| (k, K8sQuantity(v))).collect()),
            used: Some(
                used.into_iter()
                    .map(|(k, v)| (k, K8sQuantity(v.to_string())))
                    .collect(),
            ),
        };
        if q.status.as_ref() == Some(&status) {
            continue;
        }
        let mut updated = (**q).clone();
        updated.status = Some(status);
        let api = Api::<ResourceQuota>::namespaced(client.clone(), ns);
        match api
            .replace_status(&q.name_any(), &PostParams::default(), &updated)
            .await
        {
            Ok(_) => {}
            // Gone, or changed since we read it: the watch brings the new version back.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
