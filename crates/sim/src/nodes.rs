//! Node side of the simulation: registration, Lease renewal, status heartbeats, and a
//! watch on our Nodes for podCIDR and the stop-heartbeat switch.

use crate::status::{self, LEASE_NAMESPACE};
use crate::types::SimNode;
use crate::{ipam, Error, Sim};
use futures::{stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Like the kubelet: Lease renewed every 10 s (a quarter of its 40 s duration), node
/// status reported every 60 s when nothing changes.
const LEASE_EVERY: Duration = Duration::from_secs(10);
const STATUS_EVERY: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(200);
/// In-flight API calls for registration and for heartbeats: enough to keep the API
/// server busy, few enough not to starve everything else on two cores.
const REGISTER_CONCURRENCY: usize = 32;
const HEARTBEAT_CONCURRENCY: usize = 16;
const REGISTER_ATTEMPTS: u32 = 5;

fn now_time() -> String {
    status::time_text(chrono::Utc::now())
}

fn now_micro() -> String {
    status::micro_time_text(chrono::Utc::now())
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Registers (or adopts) every node and its Lease; fails if a node cannot be
/// registered after a few attempts.
pub async fn register_all(sim: &Arc<Sim>) -> Result<(), Error> {
    let results: Vec<Result<(), Error>> = stream::iter(0..sim.count)
        .map(|i| register_with_retries(sim, i))
        .buffer_unordered(REGISTER_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn register_with_retries(sim: &Arc<Sim>, index: usize) -> Result<(), Error> {
    let name = sim.state().nodes[index].name.clone();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match register(sim, index, &name).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= REGISTER_ATTEMPTS => {
                return Err(Error::Register {
                    node: name,
                    source: e,
                })
            }
            Err(e) => {
                tracing::debug!(node = %name, error = %e, "registering node, will retry");
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
            }
        }
    }
}

async fn register(sim: &Sim, index: usize, name: &str) -> Result<(), kube::Error> {
    let now = now_time();
    let api: Api<DynamicObject> =
        Api::all_with(sim.client.clone(), &ApiResource::erase::<Node>(&()));
    let body: DynamicObject = serde_json::from_value(status::node(name, index, &sim.shape, &now))
        .map_err(kube::Error::SerdeError)?;
    let node: SimNode = match api.create(&PostParams::default(), &body).await {
        Ok(created) => {
            serde_json::from_value(serde_json::to_value(created).map_err(kube::Error::SerdeError)?)
                .map_err(kube::Error::SerdeError)?
        }
        Err(e) if is_status(&e, 409) => adopt(sim, index, name, &now).await?,
        Err(e) => return Err(e),
    };
    let uid = node.metadata.uid.clone();
    {
        let mut st = sim.state();
        let slot = &mut st.nodes[index];
        slot.uid = uid.clone();
        slot.pool.cidr = node
            .spec
            .pod_cidr
            .as_deref()
            .and_then(|c| ipam::Cidr::parse(c).ok());
        slot.stopped = node.heartbeat_stopped();
    }
    ensure_lease(sim, name, uid.as_deref()).await
}

/// An existing node: add our labels, then post a fresh status that keeps the time it
/// became Ready if it still is.
async fn adopt(sim: &Sim, index: usize, name: &str, now: &str) -> Result<SimNode, kube::Error> {
    let api: Api<SimNode> = Api::all(sim.client.clone());
    let pp = PatchParams::default();
    let existing = api
        .patch(name, &pp, &Patch::Merge(status::adopt_patch(name)))
        .await?;
    let since = existing
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.to_string());
    sim.state().nodes[index].ready_since = since.clone();
    if existing.heartbeat_stopped() {
        return Ok(existing);
    }
    let body = json!({"status": status::node_status(name, index, &sim.shape, now, &since)});
    api.patch_status(name, &pp, &Patch::Merge(body)).await
}

async fn ensure_lease(sim: &Sim, name: &str, uid: Option<&str>) -> Result<(), kube::Error> {
    let api: Api<Lease> = Api::namespaced(sim.client.clone(), LEASE_NAMESPACE);
    let lease: Lease = serde_json::from_value(status::lease(name, uid, &now_micro()))
        .map_err(kube::Error::SerdeError)?;
    match api.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 409) => renew_lease(sim, name, uid).await,
        Err(e) => Err(e),
    }
}

async fn renew_lease(sim: &Sim, name: &str, uid: Option<&str>) -> Result<(), kube::Error> {
    let api: Api<Lease> = Api::namespaced(sim.client.clone(), LEASE_NAMESPACE);
    let patch = Patch::Merge(status::lease_renewal(name, &now_micro()));
    match api.patch(name, &PatchParams::default(), &patch).await {
        Ok(_) => Ok(()),
        // Someone deleted it: make a new one, as the kubelet's lease controller does.
        Err(e) if is_status(&e, 404) => {
            let lease: Lease = serde_json::from_value(status::lease(name, uid, &now_micro()))
                .map_err(kube::Error::SerdeError)?;
            api.create(&PostParams::default(), &lease).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

async fn post_status(sim: &Sim, index: usize) -> Result<(), kube::Error> {
    let (name, since) = {
        let st = sim.state();
        let slot = &st.nodes[index];
        (slot.name.clone(), slot.ready_since.clone())
    };
    let body =
        json!({"status": status::node_status(&name, index, &sim.shape, &now_time(), &since)});
    let api: Api<SimNode> = Api::all(sim.client.clone());
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(body))
        .await
        .map(|_| ())
}

#[derive(Debug, Clone, Copy)]
enum Beat {
    Lease(usize),
    Status(usize),
}

fn bump(due: &mut Instant, now: Instant, every: Duration) {
    *due += every;
    if *due < now {
        // We fell behind (slow API or a stopped node coming back): restart the rhythm.
        *due = now + every;
    }
}

/// Renews Leases and posts statuses forever. Node i's beats are offset by i/count of the
/// period, so the load is even instead of arriving in bursts.
pub async fn heartbeats(sim: Arc<Sim>) {
    let count = sim.count.max(1) as u32;
    let start = Instant::now();
    let mut next_lease: Vec<Instant> = (0..count)
        .map(|i| start + LEASE_EVERY * i / count)
        .collect();
    // Registration just posted a status.
    let mut next_status: Vec<Instant> = (0..count)
        .map(|i| start + STATUS_EVERY + STATUS_EVERY * i / count)
        .collect();
    loop {
        tokio::time::sleep(TICK).await;
        let now = Instant::now();
        let mut beats = Vec::new();
        {
            let mut st = sim.state();
            for (i, slot) in st.nodes.iter_mut().enumerate() {
                if slot.gone || slot.stopped {
                    continue;
                }
                if next_lease[i] <= now {
                    bump(&mut next_lease[i], now, LEASE_EVERY);
                    beats.push(Beat::Lease(i));
                }
                if slot.post_now || next_status[i] <= now {
                    if slot.post_now {
                        slot.post_now = false;
                        slot.ready_since = now_time();
                    }
                    bump(&mut next_status[i], now, STATUS_EVERY);
                    beats.push(Beat::Status(i));
                }
            }
        }
        stream::iter(beats)
            .for_each_concurrent(HEARTBEAT_CONCURRENCY, |beat| {
                let sim = &sim;
                async move {
                    let result = match beat {
                        Beat::Lease(i) => {
                            let (name, uid) = {
                                let st = sim.state();
                                (st.nodes[i].name.clone(), st.nodes[i].uid.clone())
                            };
                            renew_lease(sim, &name, uid.as_deref()).await
                        }
                        Beat::Status(i) => post_status(sim, i).await,
                    };
                    if let Err(e) = result {
                        tracing::debug!(?beat, error = %e, "simulated node heartbeat");
                    }
                }
            })
            .await;
    }
}

/// Follows our Nodes: podCIDR from the IPAM controller, the stop-heartbeat switch,
/// deletion, and Ready turned off by the node lifecycle controller.
pub async fn watch_nodes(sim: Arc<Sim>) {
    let api: Api<SimNode> = Api::all(sim.client.clone());
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(node) | watcher::Event::InitApply(node)) => {
                on_node(&sim, &node, false)
            }
            Ok(watcher::Event::Delete(node)) => on_node(&sim, &node, true),
            Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
            Err(e) => tracing::debug!(error = %e, "watching nodes"),
        }
    }
}

fn on_node(sim: &Sim, node: &SimNode, deleted: bool) {
    let Some(index) = node
        .metadata
        .name
        .as_deref()
        .and_then(|n| sim.node_index(n))
    else {
        return;
    };
    let stopped = node.heartbeat_stopped();
    let mut st = sim.state();
    let slot = &mut st.nodes[index];
    if deleted {
        slot.gone = true;
        return;
    }
    if slot.gone && node.metadata.uid != slot.uid {
        // Re-created by someone else: adopt it without fuss.
        slot.gone = false;
        slot.post_now = true;
    }
    slot.uid = node.metadata.uid.clone();
    slot.pool.cidr = node
        .spec
        .pod_cidr
        .as_deref()
        .and_then(|c| ipam::Cidr::parse(c).ok());
    if stopped != slot.stopped {
        tracing::info!(node = %slot.name, stopped, "simulated node heartbeat switched");
    }
    if !stopped && (slot.stopped || !node.ready()) {
        slot.post_now = true;
    }
    slot.stopped = stopped;
}
