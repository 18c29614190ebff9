//! The deployment controller (upstream pkg/controller/deployment): owns ReplicaSets named
//! after the pod-template-hash, rolls them over by strategy, and reports progress in the
//! status `kubectl rollout status` reads.

mod newrs;
mod rollout;
mod status;
mod util;

use crate::replicaset::is_not_found;
use crate::{Context, Error, Result};
use futures::{stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Config};
use kube::runtime::reflector::{self, reflector, ObjectRef, Store};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::{applier, WatchStreamExt};
use kube::Api;
use rkube_client::events::{reference, EventType};
use rkube_client::objects::{controller_of, controller_ref, is_deleting, selector_matches};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use util::{annotation, replicas, rs_replicas, DESIRED_REPLICAS, REVISION};

pub use util::{compute_hash, safe_encode};

struct Shared {
    ctx: Arc<Context>,
    replica_sets: Store<ReplicaSet>,
    failures: Mutex<HashMap<String, u32>>,
}

/// One sync of one deployment: the working copy and what it changed along the way.
pub(crate) struct Sync {
    ctx: Arc<Context>,
    d: Deployment,
    ns: String,
    name: String,
    rs_api: Api<ReplicaSet>,
    d_api: Api<Deployment>,
    /// RSs written during this sync, by name: fresher than the cache.
    scaled: HashMap<String, ReplicaSet>,
    requeue: Option<Duration>,
}

pub async fn run(ctx: Arc<Context>) -> Result<()> {
    let client = ctx.client.clone();
    let (deployments, d_writer) = reflector::store::<Deployment>();
    let (replica_sets, rs_writer) = reflector::store::<ReplicaSet>();
    let own = reflector(
        d_writer,
        watcher(
            Api::<Deployment>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff(),
    )
    .touched_objects()
    .map_ok(|d| ObjectRef::from_obj(&d));
    let lookup = deployments.clone();
    let from_rs = reflector(
        rs_writer,
        watcher(Api::<ReplicaSet>::all(client), watcher::Config::default()).default_backoff(),
    )
    .touched_objects()
    .map_ok(move |rs| {
        stream::iter(
            owners_of(&lookup, &rs)
                .into_iter()
                .map(Ok::<_, watcher::Error>),
        )
    })
    .try_flatten();
    let shared = Arc::new(Shared {
        ctx,
        replica_sets,
        failures: Mutex::new(HashMap::new()),
    });
    applier(
        |d, sh: Arc<Shared>| Box::pin(reconcile(d, sh)),
        |d, err, sh| crate::replicaset::backoff(&sh.failures, d.metadata.uid.as_deref(), err),
        shared,
        deployments,
        stream::select(own, from_rs),
        Config::default().concurrency(16),
    )
    .for_each(|r| async move {
        if let Err(e) = r {
            tracing::debug!(error = %e, "deployment sync");
        }
    })
    .await;
    Err(Error::Other("deployment controller stopped".into()))
}

/// The deployments an RS change concerns: its controller, or for an orphan every
/// deployment whose selector matches its labels.
fn owners_of(store: &Store<Deployment>, rs: &ReplicaSet) -> Vec<ObjectRef<Deployment>> {
    let ns = rs.metadata.namespace.clone().unwrap_or_default();
    match controller_of(&rs.metadata) {
        Some(r) if r.kind == "Deployment" => vec![ObjectRef::new(&r.name).within(&ns)],
        Some(_) => Vec::new(),
        None => store
            .state()
            .iter()
            .filter(|d| d.metadata.namespace.as_deref() == Some(ns.as_str()))
            .filter(|d| d.spec.as_ref().is_some_and(|s| selects(&s.selector, rs)))
            .map(|d| ObjectRef::from_obj(d.as_ref()))
            .collect(),
    }
}

fn selects(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    rs: &ReplicaSet,
) -> bool {
    let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty());
    !empty && selector_matches(selector, rs.metadata.labels.as_ref())
}

async fn reconcile(d: Arc<Deployment>, sh: Arc<Shared>) -> Result<Action> {
    let ns = d.metadata.namespace.clone().unwrap_or_default();
    let mut sync = Sync {
        ctx: sh.ctx.clone(),
        d: d.as_ref().clone(),
        name: d.metadata.name.clone().unwrap_or_default(),
        rs_api: Api::namespaced(sh.ctx.client.clone(), &ns),
        d_api: Api::namespaced(sh.ctx.client.clone(), &ns),
        ns,
        scaled: HashMap::new(),
        requeue: None,
    };
    sync.run(&sh.replica_sets).await?;
    if let (Ok(mut f), Some(uid)) = (sh.failures.lock(), d.metadata.uid.as_ref()) {
        f.remove(uid);
    }
    Ok(match sync.requeue {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

impl Sync {
    async fn run(&mut self, replica_sets: &Store<ReplicaSet>) -> Result<()> {
        let Some(spec) = self.d.spec.clone() else {
            return Ok(());
        };
        let sel = &spec.selector;
        if sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty())
        {
            let msg = "This deployment is selecting all pods. A non-empty selector is required.";
            self.event(EventType::Warning, "SelectingAll", msg).await;
            return Ok(());
        }
        let rs_list = self.claim(replica_sets).await?;
        if is_deleting(&self.d.metadata) {
            let (new, old) = self.all_and_sync_revision(&rs_list, false).await?;
            let all: Vec<ReplicaSet> = old.iter().cloned().chain(new.clone()).collect();
            return self.sync_plain_status(&all, new.as_ref()).await;
        }
        self.check_paused().await?;
        let paused = spec.paused.unwrap_or(false);
        if paused || self.scaling_event(&rs_list).await? {
            let (new, mut old) = self.all_and_sync_revision(&rs_list, false).await?;
            self.scale(new.as_ref(), &old).await?;
            if paused {
                self.cleanup(&mut old).await?;
            }
            let all: Vec<ReplicaSet> = old.iter().cloned().chain(new.clone()).collect();
            return self.sync_plain_status(&all, new.as_ref()).await;
        }
        if util::is_rolling(&self.d) {
            self.rolling(&rs_list).await
        } else {
            self.recreate(&rs_list).await
        }
    }

    /// The RSs this deployment controls, adopting matching orphans and releasing RSs
    /// whose labels stopped matching (upstream ClaimReplicaSets).
    async fn claim(&mut self, store: &Store<ReplicaSet>) -> Result<Vec<ReplicaSet>> {
        let Some(selector) = self.d.spec.as_ref().map(|s| s.selector.clone()) else {
            return Ok(Vec::new());
        };
        let uid = self.d.metadata.uid.clone().unwrap_or_default();
        let deleting = is_deleting(&self.d.metadata);
        let mut out = Vec::new();
        let mut may_adopt = None;
        let candidates =
            store.state_filter(|rs| rs.metadata.namespace.as_deref() == Some(self.ns.as_str()));
        for rs in candidates {
            let rs = rs.as_ref().clone();
            let matches = selects(&selector, &rs);
            let refs: Vec<Value> = rs
                .metadata
                .owner_references
                .iter()
                .flatten()
                .filter_map(|r| serde_json::to_value(r).ok())
                .collect();
            match controller_of(&rs.metadata) {
                Some(r) if r.uid == uid => {
                    if matches {
                        out.push(rs);
                    } else if !deleting {
                        let kept: Vec<Value> = refs
                            .into_iter()
                            .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()))
                            .collect();
                        self.patch_owners(&rs, kept).await?;
                    }
                }
                Some(_) => {}
                None if deleting || !matches || is_deleting(&rs.metadata) => {}
                None => {
                    if may_adopt.is_none() {
                        let fresh = self.d_api.get_opt(&self.name).await?;
                        may_adopt = Some(fresh.is_some_and(|f| {
                            f.metadata.uid.as_deref() == Some(uid.as_str())
                                && !is_deleting(&f.metadata)
                        }));
                    }
                    let Some(ours) = controller_ref(&self.d).filter(|_| may_adopt == Some(true))
                    else {
                        continue;
                    };
                    let mut refs = refs;
                    refs.push(serde_json::to_value(ours).map_err(|e| Error::Other(e.to_string()))?);
                    if let Some(adopted) = self.patch_owners(&rs, refs).await? {
                        out.push(adopted);
                    }
                }
            }
        }
        Ok(out)
    }

    async fn patch_owners(&self, rs: &ReplicaSet, refs: Vec<Value>) -> Result<Option<ReplicaSet>> {
        let patch = json!({"metadata": {
            "resourceVersion": rs.metadata.resource_version,
            "ownerReferences": if refs.is_empty() { Value::Null } else { Value::Array(refs) },
        }});
        let name = rs.metadata.name.clone().unwrap_or_default();
        match self
            .rs_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(rs) => Ok(Some(rs)),
            Err(e) => {
                let e = Error::from(e);
                if is_not_found(&e) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Records the Progressing condition for pausing and resuming.
    async fn check_paused(&mut self) -> Result<()> {
        if status::progress_deadline(&self.d).is_none() {
            return Ok(());
        }
        let st = self.d.status.clone().unwrap_or_default();
        let reason = status::get(&st, status::PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(status::TIMED_OUT) {
            return Ok(());
        }
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let paused_recorded = reason.as_deref() == Some(status::PAUSED);
        let c = if paused && !paused_recorded {
            status::condition(
                status::PROGRESSING,
                "Unknown",
                status::PAUSED,
                "Deployment is paused",
            )
        } else if !paused && paused_recorded {
            status::condition(
                status::PROGRESSING,
                "Unknown",
                status::RESUMED,
                "Deployment is resumed",
            )
        } else {
            return Ok(());
        };
        let mut st = st;
        status::set(&mut st, c);
        self.write_status(st).await
    }

    /// Whether only the replica count changed: some active RS was sized for another count.
    async fn scaling_event(&mut self, rs_list: &[ReplicaSet]) -> Result<bool> {
        let (new, old) = self.all_and_sync_revision(rs_list, false).await?;
        let want = replicas(&self.d);
        Ok(old
            .iter()
            .chain(new.as_ref())
            .filter(|rs| rs_replicas(rs) > 0)
            .any(|rs| {
                annotation(rs, DESIRED_REPLICAS)
                    .and_then(|v| v.parse::<i32>().ok())
                    .is_some_and(|desired| desired != want)
            }))
    }

    /// The freshest copy of `rs` this sync knows.
    fn current(&self, rs: &ReplicaSet) -> ReplicaSet {
        let name = rs.metadata.name.clone().unwrap_or_default();
        self.scaled
            .get(&name)
            .cloned()
            .unwrap_or_else(|| rs.clone())
    }

    fn requeue_soon(&mut self) {
        self.requeue_at_most(Duration::from_secs(1));
    }

    fn requeue_at_most(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }

    async fn event(&self, kind: EventType, reason: &str, message: &str) {
        self.ctx
            .recorder
            .record(&reference(&self.d), kind, reason, message)
            .await;
    }

    /// Writes `st` (with observedGeneration unchanged unless the caller set it) when it
    /// differs from what the deployment shows.
    async fn write_status(&mut self, st: DeploymentStatus) -> Result<()> {
        let old = self.d.status.clone().unwrap_or_default();
        if status::same(&old, &st) {
            return Ok(());
        }
        let mut body = serde_json::to_value(&st).map_err(|e| Error::Other(e.to_string()))?;
        if let Some(obj) = body.as_object_mut() {
            // A merge patch leaves absent fields alone; say "none" explicitly.
            obj.entry("conditions").or_insert(Value::Null);
            obj.entry("collisionCount").or_insert(Value::Null);
        }
        let patch = json!({"status": body});
        let updated = self
            .d_api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        self.d.status = updated.status;
        self.d.metadata.resource_version = updated.metadata.resource_version;
        Ok(())
    }

    /// Mirrors the new RS's revision on the deployment, as `kubectl describe` shows it.
    async fn set_revision(&mut self, rev: &str) -> Result<()> {
        let have = self
            .d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION));
        if have.map(String::as_str) == Some(rev) {
            return Ok(());
        }
        let patch = json!({"metadata": {"annotations": {REVISION: rev}}});
        let updated = self
            .d_api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        self.d.metadata.annotations = updated.metadata.annotations;
        Ok(())
    }

    /// Scales `rs` to `to`, recording the event; false when it already had that size.
    async fn scale_and_record(&mut self, rs: &ReplicaSet, to: i32) -> Result<bool> {
        let rs = self.current(rs);
        let from = rs_replicas(&rs);
        if from == to {
            return Ok(false);
        }
        let op = if from < to { "up" } else { "down" };
        self.scale_rs(&rs, to, op).await
    }

    /// Sets an RS's size and its desired/max-replicas annotations in one write, guarded by
    /// the resourceVersion read, so a stale cache yields a conflict and a retry instead of
    /// a wrong size.
    async fn scale_rs(&mut self, rs: &ReplicaSet, to: i32, op: &str) -> Result<bool> {
        let rs = self.current(rs);
        let from = rs_replicas(&rs);
        let want = replicas(&self.d);
        let max = want + util::max_surge(&self.d);
        let mut ann = rs.metadata.annotations.clone().unwrap_or_default();
        let ann_changed = util::set_replicas_annotations(&mut ann, want, max);
        if from == to && !ann_changed {
            return Ok(false);
        }
        let patch = json!({
            "metadata": {
                "resourceVersion": rs.metadata.resource_version,
                "annotations": {DESIRED_REPLICAS: want.to_string(), util::MAX_REPLICAS: max.to_string()},
            },
            "spec": {"replicas": to},
        });
        let name = rs.metadata.name.clone().unwrap_or_default();
        let updated = self
            .rs_api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        self.scaled.insert(name.clone(), updated);
        if from != to {
            let msg = format!("Scaled {op} replica set {name} from {from} to {to}");
            self.event(EventType::Normal, "ScalingReplicaSet", &msg)
                .await;
        }
        Ok(from != to)
    }
}
