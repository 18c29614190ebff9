//! The ReplicaSet and ReplicationController controllers (upstream
//! pkg/controller/replicaset): one code path for both kinds, fed by one shared pod watch.

mod apierr;
mod expectations;
mod owner;
mod podcache;
mod podutil;
mod rank;
mod sync;

pub(crate) use apierr::{is_already_exists, is_conflict, is_not_found, message};
pub use owner::Replicated;

use crate::shared::{CachedPod, PodEvent, Pods};
use crate::{Context, Error, Result};
use expectations::Expectations;
use futures::channel::mpsc;
use futures::{stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::ReplicationController;
use kube::runtime::controller::{Action, Config};
use kube::runtime::reflector::{self, reflector, ObjectRef, Store};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::{applier, WatchStreamExt};
use kube::Api;
use rkube_client::objects::selector_matches;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a sync of kind `K` works with.
pub(crate) struct Shared<K: Replicated> {
    ctx: Arc<Context>,
    pods: Pods,
    expectations: Arc<Expectations>,
    store: Store<K>,
    failures: Mutex<HashMap<String, u32>>,
}

pub async fn run(ctx: Arc<Context>) -> Result<()> {
    let pods = ctx.pods.clone();
    let expectations = Arc::new(Expectations::default());
    let (rs_tx, rs_rx) = mpsc::unbounded();
    let (rc_tx, rc_rx) = mpsc::unbounded();
    let feed = feed_pods(pods.subscribe(), expectations.clone(), vec![rs_tx, rc_tx]);
    let rs = run_kind::<ReplicaSet>(ctx.clone(), pods.clone(), expectations.clone(), rs_rx);
    let rc = run_kind::<ReplicationController>(ctx, pods, expectations, rc_rx);
    tokio::try_join!(feed, rs, rc).map(|_| ())
}

/// Checks pod changes off the expectations and tells each kind's queue which pods
/// changed. The shared store already holds the change when it arrives here, and
/// expectations are lowered before the queues hear of the pod, so a sync that runs
/// because of this pod sees it both in the store and counted.
async fn feed_pods(
    mut changes: tokio::sync::mpsc::UnboundedReceiver<PodEvent>,
    expectations: Arc<Expectations>,
    queues: Vec<mpsc::UnboundedSender<Arc<CachedPod>>>,
) -> Result<()> {
    let mut seen = Vec::new();
    while let Some(event) = changes.recv().await {
        let PodEvent::Changed { old, new } = event else {
            continue;
        };
        podcache::observe(old.as_deref(), new.as_deref(), &mut seen);
        for s in seen.drain(..) {
            expectations.observe(&s);
        }
        if let Some(pod) = new.or(old) {
            for q in &queues {
                let _ = q.unbounded_send(pod.clone());
            }
        }
    }
    Err(Error::Other("shared pod informer stopped".into()))
}

/// The owners of kind `K` a pod change concerns: its controller, or for an orphan every
/// owner whose selector matches (it may adopt it).
fn owners_of<K: Replicated>(store: &Store<K>, pod: &CachedPod) -> Vec<ObjectRef<K>> {
    let ns = &pod.namespace;
    match pod.controller() {
        Some(r) if r.kind == K::kind(&()) => vec![ObjectRef::new(&r.name).within(ns)],
        Some(_) => Vec::new(),
        None => store
            .state()
            .iter()
            .filter(|o| o.meta().namespace.as_deref() == Some(ns.as_str()))
            .filter(|o| {
                o.pod_selector()
                    .is_some_and(|s| selector_matches(&s, Some(&pod.labels)))
            })
            .map(|o| ObjectRef::from_obj(o.as_ref()))
            .collect(),
    }
}

async fn run_kind<K: Replicated>(
    ctx: Arc<Context>,
    pods: Pods,
    expectations: Arc<Expectations>,
    pod_changes: mpsc::UnboundedReceiver<Arc<CachedPod>>,
) -> Result<()> {
    let api: Api<K> = Api::all(ctx.client.clone());
    let (store, writer) = reflector::store::<K>();
    let forget = expectations.clone();
    let own = reflector(
        writer,
        watcher(api, watcher::Config::default()).default_backoff(),
    )
    .inspect_ok(move |e| {
        if let Event::Delete(o) = e {
            if let Some(uid) = &o.meta().uid {
                forget.forget(uid);
            }
        }
    })
    .touched_objects()
    .map_ok(|o| ObjectRef::from_obj(&o));
    let lookup = store.clone();
    let from_pods = pod_changes.flat_map(move |pod| {
        stream::iter(
            owners_of(&lookup, &pod)
                .into_iter()
                .map(Ok::<_, watcher::Error>),
        )
    });
    let shared = Arc::new(Shared {
        ctx,
        pods,
        expectations,
        store: store.clone(),
        failures: Mutex::new(HashMap::new()),
    });
    applier(
        |obj, sh: Arc<Shared<K>>| Box::pin(reconcile_counted(obj, sh)),
        |obj, err, sh| backoff(&sh.failures, obj.meta().uid.as_deref(), err),
        shared,
        store,
        stream::select(own, from_pods),
        Config::default().concurrency(32),
    )
    .for_each(|r| async move {
        if let Err(e) = r {
            tracing::debug!(error = %e, kind = %K::kind(&()), "replica sync");
        }
    })
    .await;
    Err(Error::Other(format!("{} controller stopped", K::kind(&()))))
}

async fn reconcile_counted<K: Replicated>(obj: Arc<K>, sh: Arc<Shared<K>>) -> Result<Action> {
    let action = sync::reconcile(obj.clone(), sh.clone()).await?;
    if let (Ok(mut f), Some(uid)) = (sh.failures.lock(), obj.meta().uid.as_ref()) {
        f.remove(uid);
    }
    Ok(action)
}

/// Per-object exponential backoff; a conflict only means our cache was stale, so it
/// retries almost at once.
pub(crate) fn backoff(
    failures: &Mutex<HashMap<String, u32>>,
    uid: Option<&str>,
    err: &Error,
) -> Action {
    if is_conflict(err) && !is_already_exists(err) {
        return Action::requeue(Duration::from_millis(50));
    }
    let n = match (failures.lock(), uid) {
        (Ok(mut f), Some(uid)) => {
            let n = f.entry(uid.to_string()).or_insert(0);
            *n = (*n + 1).min(16);
            *n
        }
        _ => 1,
    };
    tracing::debug!(error = %err, attempt = n, "sync failed, retrying");
    Action::requeue(Duration::from_millis(100u64 << n.min(9)).min(Duration::from_secs(60)))
}
