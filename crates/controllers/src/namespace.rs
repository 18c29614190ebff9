//! The namespace controller: a namespace marked for deletion has all its content deleted
//! (every served namespaced resource), then the "kubernetes" entry leaves its
//! spec.finalizers through the finalize subresource, after which the server removes it.

mod conditions;

use crate::garbagecollector::resources::{self, Served};
use crate::{Context, Error, Result};
use conditions::Report;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FINALIZER: &str = "kubernetes";
/// How soon to look again while content is still going away.
const RECHECK: Duration = Duration::from_secs(1);

/// How long a discovery result is reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(30);

struct State {
    ctx: Arc<Context>,
    served: tokio::sync::Mutex<Option<(Instant, Arc<Vec<Served>>)>>,
}

impl State {
    /// Served resources, rediscovered now and then so new kinds are covered.
    async fn served(&self) -> Arc<Vec<Served>> {
        let mut cached = self.served.lock().await;
        if let Some((at, list)) = cached.as_ref() {
            if at.elapsed() < DISCOVERY_TTL {
                return list.clone();
            }
        }
        let list = Arc::new(resources::discover(&self.ctx.client).await);
        *cached = Some((Instant::now(), list.clone()));
        list
    }
}

pub async fn run(ctx: Arc<Context>) -> Result<()> {
    let api = Api::<Namespace>::all(ctx.client.clone());
    let state = Arc::new(State {
        ctx,
        served: tokio::sync::Mutex::new(None),
    });
    Controller::new(api, watcher::Config::default())
        .run(reconcile, error_policy, state)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "namespace controller");
            }
        })
        .await;
    Ok(())
}

fn error_policy(_ns: Arc<Namespace>, e: &Error, _state: Arc<State>) -> Action {
    tracing::warn!(error = %e, "namespace deletion");
    Action::requeue(Duration::from_secs(2))
}

fn has_our_finalizer(ns: &Namespace) -> bool {
    ns.spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
}

async fn reconcile(ns: Arc<Namespace>, state: Arc<State>) -> Result<Action> {
    if ns.metadata.deletion_timestamp.is_none() || !has_our_finalizer(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let client = &state.ctx.client;
    let served = state.served().await;
    let report = delete_content(client, &served, &name).await;
    update_conditions(client, &name, &report).await?;
    if !report.is_empty() || !report.delete_errors.is_empty() {
        return Ok(Action::requeue(RECHECK));
    }
    finalize(client, &name).await?;
    Ok(Action::await_change())
}

/// Deletes what is left in the namespace and reports what still remains.
async fn delete_content(client: &Client, served: &[Served], ns: &str) -> Report {
    let mut report = Report::default();
    for s in served.iter().filter(|s| s.namespaced && s.delete) {
        // events.k8s.io Events are the core Events seen through another group.
        if s.is("events.k8s.io", "events") {
            continue;
        }
        match delete_resource(client, s, ns).await {
            Ok((left, finalizers)) => {
                if left > 0 {
                    report
                        .remaining
                        .insert(format!("{}.{}", s.api.plural, s.api.group), left);
                }
                for f in finalizers {
                    *report.finalizers.entry(f).or_default() += 1;
                }
            }
            Err(e) => report
                .delete_errors
                .push(format!("{}.{}: {e}", s.api.plural, s.api.group)),
        }
    }
    report
}

/// Deletes every object of one resource in `ns` not already going; returns how many are
/// still there and the finalizers they carry.
async fn delete_resource(client: &Client, s: &Served, ns: &str) -> Result<(usize, Vec<String>)> {
    let api: Api<PartialObjectMeta<DynamicObject>> =
        Api::namespaced_with(client.clone(), ns, &s.api);
    let items = api.list_metadata(&ListParams::default()).await?.items;
    if items.is_empty() {
        return Ok((0, Vec::new()));
    }
    let objects: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &s.api);
    let pending: Vec<String> = items
        .iter()
        .filter(|m| m.metadata.deletion_timestamp.is_none())
        .map(|m| m.name_any())
        .collect();
    let results: Vec<Result<()>> = futures::stream::iter(pending)
        .map(|name| {
            let objects = objects.clone();
            async move {
                match objects.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
                    Err(e) => Err(Error::from(e)),
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    // Objects without finalizers or grace periods are gone now; count the rest.
    let left = api.list_metadata(&ListParams::default()).await?.items;
    let finalizers = left
        .iter()
        .flat_map(|m| m.metadata.finalizers.iter().flatten().cloned())
        .collect();
    Ok((left.len(), finalizers))
}

async fn update_conditions(client: &Client, name: &str, report: &Report) -> Result<()> {
    let api = Api::<Namespace>::all(client.clone());
    for _ in 0..3 {
        let Some(mut ns) = api.get_opt(name).await? else {
            return Ok(());
        };
        let status = ns.status.get_or_insert_with(Default::default);
        let conds = status.conditions.get_or_insert_with(Vec::new);
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        if !conditions::apply(conds, report, now) {
            return Ok(());
        }
        match api.replace_status(name, &PostParams::default(), &ns).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Removes "kubernetes" from spec.finalizers; the server deletes the namespace once
/// nothing else holds it.
async fn finalize(client: &Client, name: &str) -> Result<()> {
    let api = Api::<Namespace>::all(client.clone());
    for _ in 0..3 {
        let Some(mut ns) = api.get_opt(name).await? else {
            return Ok(());
        };
        if !has_our_finalizer(&ns) {
            return Ok(());
        }
        if let Some(list) = ns.spec.as_mut().and_then(|s| s.finalizers.as_mut()) {
            list.retain(|f| f != FINALIZER);
        }
        match api
            .replace_subresource("finalize", name, &PostParams::default(), &ns)
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
