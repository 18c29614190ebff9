//! One sync of a ReplicaSet or ReplicationController: claim pods, create or delete to
//! reach spec.replicas, then write status. Upstream: pkg/controller/replicaset.

use super::apierr::{is_not_found, message};
use super::owner::{Counts, Replicated};
use super::podutil::{available_at, is_ready, node_name, now_millis};
use super::rank::{sort_for_deletion, Ranked};
use super::Shared;
use crate::shared::CachedPod;
use crate::{Error, Result};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::Api;
use rkube_client::events::{reference, EventType};
use rkube_client::objects::{controller_of, controller_ref, is_deleting, selector_matches};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Upstream's burstReplicas: the most pods one sync creates or deletes.
const BURST: usize = 500;

struct Target<'a, K> {
    obj: &'a K,
    ns: String,
    name: String,
    uid: String,
}

pub async fn reconcile<K: Replicated>(obj: Arc<K>, sh: Arc<Shared<K>>) -> Result<Action> {
    if !sh.pods.is_ready() {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let meta = obj.meta();
    let t = Target {
        obj: obj.as_ref(),
        ns: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
    };
    let selector = obj.pod_selector();
    let active: Vec<Arc<CachedPod>> = sh
        .pods
        .candidates(&t.ns, &t.uid)
        .into_iter()
        .filter(|p| super::podutil::is_active(p))
        .collect();
    let claimed = claim(&sh, &t, selector.as_ref(), active).await?;
    let needs_sync = sh.expectations.satisfied(&t.uid);
    let managed = if needs_sync && !is_deleting(meta) {
        manage(&sh, &t, &claimed).await
    } else {
        Ok(())
    };
    write_status(&sh, &t, &claimed, managed.as_ref().err()).await?;
    managed?;
    let now = now_millis();
    let min_ready = obj.min_ready_seconds();
    // A ready pod becomes available minReadySeconds later without any event: look again then.
    let next = claimed
        .iter()
        .filter_map(|p| available_at(p, min_ready))
        .filter(|at| *at >= now && min_ready > 0)
        .min();
    Ok(match next {
        Some(at) => Action::requeue(Duration::from_millis((at - now) as u64 + 100)),
        None if !sh.expectations.satisfied(&t.uid) => Action::requeue(Duration::from_secs(30)),
        None => Action::await_change(),
    })
}

fn owner_refs_patch(pod: &CachedPod, refs: Vec<Value>) -> Value {
    json!({"metadata": {
        "resourceVersion": pod.resource_version,
        "ownerReferences": if refs.is_empty() { Value::Null } else { Value::Array(refs) },
    }})
}

fn current_refs(pod: &CachedPod) -> Vec<Value> {
    pod.owner_references
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect()
}

/// Keeps the pods this owner controls and still selects, adopts matching orphans and
/// releases pods whose labels no longer match (upstream's ControllerRefManager).
async fn claim<K: Replicated>(
    sh: &Shared<K>,
    t: &Target<'_, K>,
    selector: Option<&LabelSelector>,
    pods: Vec<Arc<CachedPod>>,
) -> Result<Vec<Arc<CachedPod>>> {
    let api: Api<Pod> = Api::namespaced(sh.ctx.client.clone(), &t.ns);
    let deleting = is_deleting(t.obj.meta());
    let mut out = Vec::with_capacity(pods.len());
    let mut may_adopt: Option<bool> = None;
    for pod in pods {
        let matches = selector.is_some_and(|s| selector_matches(s, Some(&pod.labels)));
        let name = pod.name.clone();
        match pod.controller() {
            Some(r) if r.uid == t.uid => {
                if matches {
                    out.push(pod);
                } else if !deleting {
                    let refs = current_refs(&pod)
                        .into_iter()
                        .filter(|r| r.get("uid").and_then(Value::as_str) != Some(t.uid.as_str()))
                        .collect();
                    let patch = owner_refs_patch(&pod, refs);
                    let res = api
                        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await;
                    if let Err(e) = res.map_err(Error::from) {
                        if !is_not_found(&e) {
                            return Err(e);
                        }
                    }
                }
            }
            Some(_) => {}
            None if deleting || !matches => {}
            None => {
                if may_adopt.is_none() {
                    may_adopt = Some(still_current(sh, t).await?);
                }
                if may_adopt != Some(true) {
                    continue;
                }
                let Some(ours) = controller_ref(t.obj) else {
                    continue;
                };
                let mut refs = current_refs(&pod);
                refs.push(serde_json::to_value(ours).map_err(|e| Error::Other(e.to_string()))?);
                let patch = owner_refs_patch(&pod, refs);
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(Error::from)
                {
                    Ok(p) => out.push(Arc::new(CachedPod::from_pod(p))),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(out)
}

/// Adoption re-reads the owner from the API: a cached copy might be a deleted (and
/// recreated) object, which must not take pods.
async fn still_current<K: Replicated>(sh: &Shared<K>, t: &Target<'_, K>) -> Result<bool> {
    let api: Api<K> = Api::namespaced(sh.ctx.client.clone(), &t.ns);
    Ok(match api.get_opt(&t.name).await? {
        Some(fresh) => {
            fresh.meta().uid.as_deref() == Some(t.uid.as_str()) && !is_deleting(fresh.meta())
        }
        None => false,
    })
}

async fn manage<K: Replicated>(
    sh: &Shared<K>,
    t: &Target<'_, K>,
    pods: &[Arc<CachedPod>],
) -> Result<()> {
    let desired = t.obj.desired().max(0) as usize;
    if pods.len() < desired {
        create_pods(sh, t, (desired - pods.len()).min(BURST)).await
    } else if pods.len() > desired {
        delete_pods(sh, t, pods, (pods.len() - desired).min(BURST)).await
    } else {
        Ok(())
    }
}

fn pod_from_template<K: Replicated>(t: &Target<'_, K>) -> Result<Pod> {
    let template = t
        .obj
        .pod_template()
        .ok_or_else(|| Error::Other(format!("{} has no pod template", t.name)))?;
    let tm = template.metadata.clone().unwrap_or_default();
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", t.name)),
            namespace: Some(t.ns.clone()),
            labels: tm.labels,
            annotations: tm.annotations,
            finalizers: tm.finalizers,
            owner_references: controller_ref(t.obj).map(|r| vec![r]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    })
}

/// Creates `count` pods in batches of 1, 2, 4, ... so a failing create (quota, admission)
/// costs one request, not hundreds: upstream's slowStartBatch.
async fn create_pods<K: Replicated>(sh: &Shared<K>, t: &Target<'_, K>, count: usize) -> Result<()> {
    let pod = pod_from_template(t)?;
    let api: Api<Pod> = Api::namespaced(sh.ctx.client.clone(), &t.ns);
    let obj_ref = reference(t.obj);
    let post = PostParams::default();
    sh.expectations.expect(&t.uid, count, &[]);
    let (mut created, mut batch) = (0usize, 1usize);
    let mut failure = None;
    while created < count && failure.is_none() {
        let size = batch.min(count - created);
        let results = futures::future::join_all((0..size).map(|_| api.create(&post, &pod))).await;
        for r in results {
            match r.map_err(Error::from) {
                Ok(p) => {
                    created += 1;
                    let name = p.metadata.name.unwrap_or_default();
                    let msg = format!("Created pod: {name}");
                    sh.ctx
                        .recorder
                        .record(&obj_ref, EventType::Normal, "SuccessfulCreate", &msg)
                        .await;
                }
                Err(e) => {
                    let msg = format!("Error creating: {}", message(&e));
                    sh.ctx
                        .recorder
                        .record(&obj_ref, EventType::Warning, "FailedCreate", &msg)
                        .await;
                    failure.get_or_insert(e);
                }
            }
        }
        batch *= 2;
    }
    // Pods that failed or were never tried will never be observed.
    sh.expectations.lower(&t.uid, count - created, None);
    failure.map_or(Ok(()), Err)
}

/// Pods of this owner and of its siblings (same controller, e.g. one Deployment), which
/// decide which nodes are doubled up.
fn related_pods<K: Replicated>(
    sh: &Shared<K>,
    t: &Target<'_, K>,
    own: &[Arc<CachedPod>],
) -> Vec<Arc<CachedPod>> {
    let Some(parent) = controller_of(t.obj.meta()).map(|r| r.uid.clone()) else {
        return own.to_vec();
    };
    let siblings: Vec<String> = sh
        .store
        .state()
        .iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(t.ns.as_str()))
        .filter(|o| controller_of(o.meta()).is_some_and(|r| r.uid == parent))
        .filter_map(|o| o.meta().uid.clone())
        .collect();
    sh.pods
        .owned_by(&siblings)
        .into_iter()
        .filter(|p| super::podutil::is_active(p))
        .collect()
}

async fn delete_pods<K: Replicated>(
    sh: &Shared<K>,
    t: &Target<'_, K>,
    pods: &[Arc<CachedPod>],
    count: usize,
) -> Result<()> {
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for p in related_pods(sh, t, pods) {
        *per_node.entry(node_name(&p).to_string()).or_default() += 1;
    }
    let mut ranked: Vec<Ranked> = pods
        .iter()
        .map(|p| Ranked {
            pod: p,
            colocated: per_node.get(node_name(p)).copied().unwrap_or(0),
        })
        .collect();
    if count < ranked.len() {
        sort_for_deletion(&mut ranked, now_millis());
    }
    let victims: Vec<String> = ranked
        .iter()
        .take(count)
        .map(|r| r.pod.name.clone())
        .collect();
    sh.expectations.expect(&t.uid, 0, &victims);
    let api: Api<Pod> = Api::namespaced(sh.ctx.client.clone(), &t.ns);
    let obj_ref = reference(t.obj);
    let delete = DeleteParams::default();
    let results = futures::future::join_all(victims.iter().map(|n| api.delete(n, &delete))).await;
    let mut failure = None;
    for (name, r) in victims.iter().zip(results) {
        match r.map_err(Error::from) {
            Ok(_) => {
                let msg = format!("Deleted pod: {name}");
                sh.ctx
                    .recorder
                    .record(&obj_ref, EventType::Normal, "SuccessfulDelete", &msg)
                    .await;
            }
            Err(e) => {
                sh.expectations.lower(&t.uid, 0, Some(name));
                if !is_not_found(&e) {
                    let msg = format!("Error deleting: {}", message(&e));
                    sh.ctx
                        .recorder
                        .record(&obj_ref, EventType::Warning, "FailedDelete", &msg)
                        .await;
                    failure.get_or_insert(e);
                }
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

/// The status counts of `pods` against `obj` at time `now`.
pub fn count<K: Replicated>(obj: &K, pods: &[Arc<CachedPod>], now: i64) -> Counts {
    let template_labels = obj
        .pod_template()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = obj.min_ready_seconds();
    let mut c = Counts {
        replicas: pods.len() as i32,
        ..Default::default()
    };
    for p in pods {
        let labels = Some(&p.labels);
        if template_labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        {
            c.fully_labeled += 1;
        }
        if is_ready(p) {
            c.ready += 1;
            if super::podutil::is_available(p, min_ready, now) {
                c.available += 1;
            }
        }
    }
    c
}

async fn write_status<K: Replicated>(
    sh: &Shared<K>,
    t: &Target<'_, K>,
    pods: &[Arc<CachedPod>],
    manage_error: Option<&Error>,
) -> Result<()> {
    let counts = count(t.obj, pods, now_millis());
    let mut conditions = t.obj.conditions_json();
    let failing = |c: &Value| c.get("type").and_then(Value::as_str) == Some("ReplicaFailure");
    let had_failure = conditions.iter().any(failing);
    match manage_error {
        Some(e) if !had_failure => {
            let desired = t.obj.desired().max(0) as usize;
            let reason = if pods.len() < desired {
                "FailedCreate"
            } else {
                "FailedDelete"
            };
            conditions.push(json!({
                "type": "ReplicaFailure",
                "status": "True",
                "lastTransitionTime": Time(k8s_openapi::jiff::Timestamp::now()),
                "reason": reason,
                "message": message(e),
            }));
        }
        None if had_failure => conditions.retain(|c| !failing(c)),
        _ => {}
    }
    let generation = t.obj.meta().generation;
    if counts == t.obj.counts()
        && t.obj.observed_generation() == generation
        && conditions == t.obj.conditions_json()
    {
        return Ok(());
    }
    let patch = json!({"status": {
        "replicas": counts.replicas,
        "fullyLabeledReplicas": counts.fully_labeled,
        "readyReplicas": counts.ready,
        "availableReplicas": counts.available,
        "observedGeneration": generation,
        "conditions": if conditions.is_empty() { Value::Null } else { Value::Array(conditions) },
    }});
    let api: Api<K> = Api::namespaced(sh.ctx.client.clone(), &t.ns);
    match api
        .patch_status(&t.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::from)
    {
        Err(e) if !is_not_found(&e) => Err(e),
        _ => Ok(()),
    }
}
