//! Simulated nodes: register nodes, renew their Leases and play the kubelet's part for
//! pods bound to them. The control plane's scale harness, like KWOK: nothing runs, only
//! the API objects a kubelet would write are written.
//!
//! What each simulated node does:
//! - registers a Node `<prefix><index>` (or adopts an existing one) with kubelet-like
//!   labels, capacity, addresses (a fake InternalIP from 172.30.0.0/16) and nodeInfo;
//! - renews its Lease in kube-node-lease every 10 s and posts its status (Ready
//!   heartbeat) every 60 s, spread over the period so thousands of nodes make an even
//!   load;
//! - makes every pod bound to it Running and Ready with a pod IP from the node's
//!   spec.podCIDR (or a private per-node /24 from 100.64.0.0/10 while it has none),
//!   restarts containers whose image changed, and completes graceful deletions.
//!
//! Stopping one node for tests: label (or annotate) the node
//! `sim.rkube.io/stop-heartbeat=true`. It then stops renewing its Lease and posting
//! status, so the node lifecycle controller sees it die, and it starts no new pods.
//! Deletions of its pods still complete, so namespaces and tests can clean up. Removing
//! the label brings it back (status is posted at once).

mod ipam;
mod nodes;
mod pods;
mod status;
mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

pub use types::STOP_HEARTBEAT;

/// How many nodes and what they look like.
#[derive(Debug, Clone)]
pub struct Options {
    pub count: usize,
    pub name_prefix: String,
    pub cpu: String,
    pub memory: String,
    pub max_pods: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            count: 3,
            name_prefix: "sim-node-".into(),
            cpu: "4".into(),
            memory: "16Gi".into(),
            max_pods: 110,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("at most {max} simulated nodes are supported, asked for {asked}")]
    TooManyNodes { asked: usize, max: usize },
    #[error("registering node {node}: {source}")]
    Register { node: String, source: kube::Error },
}

/// One simulated node's mutable state.
struct NodeSlot {
    name: String,
    uid: Option<String>,
    pool: ipam::Pool,
    /// Heartbeat stopped by the test label/annotation.
    stopped: bool,
    /// The Node object was deleted: we stop writing for it.
    gone: bool,
    /// Ready condition's lastTransitionTime we report.
    ready_since: String,
    /// Post status at the next tick (the node came back or was marked not ready).
    post_now: bool,
}

/// What we remember per pod: 8 bytes, so 150,000 pods cost a few MB.
#[derive(Debug, Clone, Copy)]
struct PodSlot {
    node: u32,
    ip: u32,
}

struct State {
    nodes: Vec<NodeSlot>,
    /// Keyed by the pod's uid as a number.
    pods: HashMap<u128, PodSlot>,
}

struct Sim {
    client: kube::Client,
    prefix: String,
    count: usize,
    shape: status::Shape,
    state: Mutex<State>,
}

impl Sim {
    fn new(client: kube::Client, options: &Options) -> Self {
        let now = status::time_text(chrono::Utc::now());
        let nodes = (0..options.count)
            .map(|i| NodeSlot {
                name: format!("{}{i}", options.name_prefix),
                uid: None,
                pool: ipam::Pool::new(ipam::fallback_range(i)),
                stopped: false,
                gone: false,
                ready_since: now.clone(),
                post_now: false,
            })
            .collect();
        Self {
            client,
            prefix: options.name_prefix.clone(),
            count: options.count,
            shape: status::Shape {
                cpu: options.cpu.clone(),
                memory: options.memory.clone(),
                max_pods: options.max_pods,
            },
            state: Mutex::new(State {
                nodes,
                pods: HashMap::new(),
            }),
        }
    }

    /// A poisoned lock only means another task panicked mid-update; the data is still
    /// usable for a simulator, so carry on rather than take every node down.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The index of one of our nodes, from its name.
    fn node_index(&self, name: &str) -> Option<usize> {
        let rest = name.strip_prefix(&self.prefix)?;
        let index: usize = rest.parse().ok()?;
        // "sim-node-01" is not ours: only the exact spelling we register.
        (index.to_string() == rest && index < self.count).then_some(index)
    }
}

/// Runs the simulated nodes until the process ends.
pub async fn run(client: kube::Client, options: Options) -> Result<(), Error> {
    if options.count > ipam::MAX_NODES {
        return Err(Error::TooManyNodes {
            asked: options.count,
            max: ipam::MAX_NODES,
        });
    }
    let sim = Arc::new(Sim::new(client, &options));
    let started = std::time::Instant::now();
    nodes::register_all(&sim).await?;
    tracing::info!(
        count = options.count,
        seconds = started.elapsed().as_secs_f64(),
        "simulated nodes registered"
    );
    let queue = pods::Queue::new();
    tokio::join!(
        nodes::heartbeats(sim.clone()),
        nodes::watch_nodes(sim.clone()),
        pods::watch_pods(sim.clone(), queue.clone()),
        pods::work(sim, queue),
    );
    Ok(())
}
