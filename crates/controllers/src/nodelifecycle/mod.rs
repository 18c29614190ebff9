//! Node lifecycle (upstream pkg/controller/nodelifecycle): nodes whose kubelet stops
//! renewing its Lease (kube-node-lease/<node>) or posting status go Unknown after the
//! grace period, get the not-ready / unreachable taints, and their pods are marked not
//! ready; the taint eviction loop then removes pods per their tolerations.

mod eviction;
mod health;
mod pods;
mod taints;
mod zones;

use crate::endpoints::informer::{self, key, Cached, Store};
use crate::{Context, Result};
use health::{mark_unknown, ready_status, Health};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::Api;
use pods::PodRef;
use rkube_client::events::{reference, EventType};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use taints::{current_no_execute, merged, no_schedule_taints, NOT_READY, UNREACHABLE};
use zones::{zone_key, Transition, Zones};

const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// Upstream's nodeMonitorPeriod.
const MONITOR_PERIOD: Duration = Duration::from_secs(5);
const EVICTION_PERIOD: Duration = Duration::from_secs(1);

impl Cached for Node {
    fn cache_key(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }
}

struct LeaseRenew {
    name: String,
    renew: Option<Timestamp>,
}

impl Cached for LeaseRenew {
    fn cache_key(&self) -> String {
        self.name.clone()
    }
}

fn lease_renew(lease: Lease) -> LeaseRenew {
    LeaseRenew {
        name: lease.metadata.name.unwrap_or_default(),
        renew: lease.spec.and_then(|s| s.renew_time).map(|t| t.0),
    }
}

pub async fn run(ctx: Arc<Context>) -> Result<()> {
    let nodes: Arc<Store<Node>> = Store::new();
    let leases: Arc<Store<LeaseRenew>> = Store::new();
    let pods: Arc<Store<PodRef>> = Store::new();
    let client = ctx.client.clone();
    let node_feed = informer::run(
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
        nodes.clone(),
        |n| n,
        |_| {},
    );
    let lease_feed = informer::run(
        Api::<Lease>::namespaced(client.clone(), NODE_LEASE_NAMESPACE),
        watcher::Config::default(),
        leases.clone(),
        lease_renew,
        |_| {},
    );
    let pod_feed = informer::run_pods(ctx.pods.subscribe(), pods.clone(), PodRef::from_pod, |_| {});
    let monitor = {
        let (ctx, nodes, leases, pods) = (ctx.clone(), nodes.clone(), leases.clone(), pods.clone());
        async move {
            nodes.wait_synced().await;
            leases.wait_synced().await;
            pods.wait_synced().await;
            let grace = ctx.options.node_monitor_grace;
            let period = MONITOR_PERIOD
                .min(grace / 2)
                .max(Duration::from_millis(500));
            let mut m = Monitor::default();
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                m.pass(&ctx, &nodes, &leases, &pods).await;
            }
        }
    };
    let evict = async move {
        nodes.wait_synced().await;
        pods.wait_synced().await;
        let mut e = eviction::Evictor::default();
        let mut tick = tokio::time::interval(EVICTION_PERIOD);
        loop {
            tick.tick().await;
            e.pass(&ctx, &nodes, &pods).await;
        }
    };
    futures::join!(node_feed, lease_feed, pod_feed, monitor, evict);
    Ok(())
}

#[derive(Default)]
struct Monitor {
    health: HashMap<String, Health>,
    /// Ready status seen on the previous pass, to notice transitions.
    last_ready: HashMap<String, String>,
    zones: Zones,
}

fn now_time() -> Time {
    Time(Timestamp::now())
}

impl Monitor {
    async fn pass(
        &mut self,
        ctx: &Context,
        nodes: &Store<Node>,
        leases: &Store<LeaseRenew>,
        pods: &Store<PodRef>,
    ) {
        let now = Instant::now();
        let grace = ctx.options.node_monitor_grace;
        let all = nodes.list();
        let names: std::collections::HashSet<String> = all.iter().map(|n| n.cache_key()).collect();
        self.health.retain(|k, _| names.contains(k));
        self.last_ready.retain(|k, _| names.contains(k));
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut observed = Vec::with_capacity(all.len());
        for node in all {
            let name = node.cache_key();
            let renew = leases.get(&name).and_then(|l| l.renew);
            let mut entry = self.health.remove(&name);
            let node_grace = Health::observe(&mut entry, &node, renew, grace, now);
            let silent = entry.as_ref().is_some_and(|h| now > h.probe + node_grace);
            if let Some(h) = entry {
                self.health.insert(name.clone(), h);
            }
            let mut current = node;
            if silent {
                let mut updated = (*current).clone();
                if mark_unknown(&mut updated, now_time()) {
                    let api: Api<Node> = Api::all(ctx.client.clone());
                    match api
                        .replace_status(&name, &PostParams::default(), &updated)
                        .await
                    {
                        Ok(obj) => {
                            nodes.apply(obj);
                            current = nodes.get(&name).unwrap_or(current);
                        }
                        Err(e) => tracing::debug!(node = %name, error = %e, "marking node unknown"),
                    }
                }
            }
            let status = ready_status(&current).to_string();
            let before = self.last_ready.insert(name.clone(), status.clone());
            if before.as_deref() == Some("True") && status != "True" {
                ctx.recorder
                    .record(
                        &reference(&*current),
                        EventType::Normal,
                        "NodeNotReady",
                        &format!("Node {name} status is now: NodeNotReady"),
                    )
                    .await;
            }
            // A node that never reported has no pods that could have been ready.
            if status != "True" && health::ready_condition(&current).is_some() {
                mark_pods_not_ready(ctx, pods, &name).await;
            }
            let c = counts.entry(zone_key(&current)).or_default();
            if status == "True" {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
            observed.push((current, status));
        }
        let transition = self.zones.update(&counts, now);
        if transition == Transition::ExitMasterDisruption {
            tracing::info!("some nodes are ready again; leaving master disruption mode");
            for h in self.health.values_mut() {
                h.probe = now;
            }
        }
        if transition == Transition::EnterMasterDisruption {
            tracing::info!("all nodes are not ready; entering master disruption mode");
        }
        for (node, status) in observed {
            let no_execute = if transition == Transition::EnterMasterDisruption {
                None
            } else {
                self.no_execute_for(&node, &status, now)
            };
            let no_schedule = no_schedule_taints(&node);
            let current = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_deref())
                .unwrap_or_default();
            if let Some(taints) = merged(current, &no_schedule, no_execute, now_time()) {
                patch_taints(ctx, nodes, &node, taints).await;
            }
        }
    }

    /// The NoExecute taint the node should carry; adding one (not swapping) is rate
    /// limited per zone.
    fn no_execute_for(&mut self, node: &Node, status: &str, now: Instant) -> Option<&'static str> {
        let want = match status {
            "True" => return None,
            "False" => NOT_READY,
            _ => UNREACHABLE,
        };
        if current_no_execute(node).is_some() || self.zones.allow_taint(&zone_key(node), now) {
            Some(want)
        } else {
            None
        }
    }
}

async fn patch_taints(
    ctx: &Context,
    nodes: &Store<Node>,
    node: &Node,
    taints: Vec<k8s_openapi::api::core::v1::Taint>,
) {
    let name = node.cache_key();
    let api: Api<Node> = Api::all(ctx.client.clone());
    // The resourceVersion makes this conditional: taints are a whole list, and a
    // concurrent edit (kubectl taint) must not be overwritten blindly.
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": node.metadata.resource_version},
        "spec": {"taints": taints},
    });
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(obj) => {
            nodes.apply(obj);
        }
        Err(e) => tracing::debug!(node = %name, error = %e, "updating node taints"),
    }
}

/// Upstream's MarkPodsNotReady: pods on a node that is not ready stop being ready, so
/// that endpoints stop sending them traffic.
async fn mark_pods_not_ready(ctx: &Context, pods: &Store<PodRef>, node: &str) {
    for pod in pods.indexed(node) {
        if !pod.ready {
            continue;
        }
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &pod.namespace);
        let patch = serde_json::json!({"status": {"conditions": [{
            "type": "Ready",
            "status": "False",
            "lastTransitionTime": crate::endpoints::now_rfc3339(),
        }]}});
        match api
            .patch_status(
                &pod.name,
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
        {
            Ok(obj) => {
                pods.apply(PodRef::from_pod(&crate::shared::CachedPod::from_pod(obj)));
                ctx.recorder
                    .record(
                        &pod.reference(),
                        EventType::Warning,
                        "NodeNotReady",
                        "Node is not ready",
                    )
                    .await;
            }
            Err(e) => {
                tracing::debug!(pod = %key(Some(&pod.namespace), &pod.name), error = %e, "marking pod not ready")
            }
        }
    }
}
