//! The EndpointSlice controller: discovery.k8s.io/v1 slices of at most 100 endpoints
//! for every selector-bearing Service (upstream pkg/controller/endpointslice).

mod desired;
mod plan;

use crate::endpoints::informer::{self, key, Cached, Store};
use crate::endpoints::pods::{managed, selects, PodInfo};
use crate::endpoints::{queue::Queue, Membership};
use crate::shared::Pods;
use crate::{Context, Result};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::watcher;
use kube::Api;
use std::sync::Arc;

const WORKERS: usize = 4;

/// A slice plus the `namespace/service` it belongs to, our secondary index.
struct Slice {
    slice: Arc<EndpointSlice>,
    service: Option<String>,
}

impl Cached for Slice {
    fn cache_key(&self) -> String {
        key(
            self.slice.metadata.namespace.as_deref(),
            self.slice.metadata.name.as_deref().unwrap_or_default(),
        )
    }
    fn index_value(&self) -> Option<&str> {
        self.service.as_deref()
    }
}

impl Slice {
    fn new(slice: EndpointSlice) -> Self {
        let service = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(plan::SERVICE_NAME_LABEL))
            .map(|s| key(slice.metadata.namespace.as_deref(), s));
        Self {
            slice: Arc::new(slice),
            service,
        }
    }
}

pub async fn run(ctx: Arc<Context>) -> Result<()> {
    let services: Arc<Store<Service>> = Store::new();
    let pods = ctx.pods.clone();
    let slices: Arc<Store<Slice>> = Store::new();
    let queue = Queue::new();
    let membership = Arc::new(Membership::default());
    let client = ctx.client.clone();

    let svc_feed =
        crate::endpoints::feed_from_services(client.clone(), services.clone(), queue.clone());
    let pod_feed = {
        let (queue, services) = (queue.clone(), services.clone());
        crate::endpoints::feed_from_pods(pods.subscribe(), services, membership, queue)
    };
    let slice_feed = {
        let queue = queue.clone();
        let selector = format!("{}={}", plan::MANAGED_BY_LABEL, plan::CONTROLLER_NAME);
        informer::run(
            Api::<EndpointSlice>::all(client.clone()),
            watcher::Config::default().labels(&selector),
            slices.clone(),
            Slice::new,
            // Any change to our slices by someone else gets repaired.
            move |(old, new)| {
                for s in [old, new].into_iter().flatten() {
                    if let Some(svc) = &s.service {
                        queue.add(svc.clone());
                    }
                }
            },
        )
    };
    let workers = {
        let ctrl = Arc::new(Controller {
            ctx,
            services,
            pods,
            slices,
        });
        async move {
            ctrl.services.wait_synced().await;
            ctrl.pods.wait_synced().await;
            ctrl.slices.wait_synced().await;
            queue
                .run(WORKERS, move |k| {
                    let ctrl = ctrl.clone();
                    async move { ctrl.sync(&k).await }
                })
                .await
        }
    };
    futures::join!(svc_feed, pod_feed, slice_feed, workers);
    Ok(())
}

struct Controller {
    ctx: Arc<Context>,
    services: Arc<Store<Service>>,
    pods: Pods,
    slices: Arc<Store<Slice>>,
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl Controller {
    async fn sync(&self, k: &str) -> Result<()> {
        let ns = k.split_once('/').map_or("default", |(ns, _)| ns);
        let api: Api<EndpointSlice> = Api::namespaced(self.ctx.client.clone(), ns);
        let existing: Vec<Arc<EndpointSlice>> = self
            .slices
            .indexed(k)
            .into_iter()
            .map(|s| s.slice.clone())
            .collect();
        let Some(svc) = self.services.get(k) else {
            // The garbage collector would get there through ownerReferences; not waiting
            // for it keeps proxies from routing to a deleted service's pods.
            for s in existing {
                self.delete(&api, &s).await?;
            }
            return Ok(());
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
        let wanted = desired::desired(&svc, &selected);
        let plan = plan::plan(&svc, wanted, &existing, plan::MAX_ENDPOINTS_PER_SLICE);
        for s in plan.create {
            match api.create(&PostParams::default(), &s).await {
                // Cached at once: a second sync before the watch catches up must not
                // create the same slice again.
                Ok(obj) => {
                    self.slices.apply(Slice::new(obj));
                }
                Err(kube::Error::Api(e)) if e.code == 403 => {
                    tracing::debug!(service = k, error = %e.message, "slice creation forbidden");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        for s in plan.update {
            let name = s.metadata.name.clone().unwrap_or_default();
            let obj = api.replace(&name, &PostParams::default(), &s).await?;
            self.slices.apply(Slice::new(obj));
        }
        for s in plan.delete {
            self.delete(&api, &s).await?;
        }
        Ok(())
    }

    async fn delete(&self, api: &Api<EndpointSlice>, s: &EndpointSlice) -> Result<()> {
        let name = s.metadata.name.clone().unwrap_or_default();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
        self.slices
            .delete(&key(s.metadata.namespace.as_deref(), &name));
        Ok(())
    }
}
