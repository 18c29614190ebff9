//! The pod manager and pod workers (upstream pod_workers.go + kuberuntime + status).
//!
//! - `manager`: watches pods bound to this node, runs one worker task per pod uid, relists
//!   the runtime every second (like PLEG) to wake workers whose containers changed, and
//!   removes runtime objects of pods that no longer exist here.
//! - `worker`: serialised syncs of one pod: sandbox, init containers in order, containers
//!   with restart policy and back-off, probes, status; `termination` stops it all.
//! - pure builders: `sandbox` and `containers` (CRI configs), `resources` (QoS, cgroups,
//!   cpu/memory), `status` (phase and conditions), `backoff`, `images` (pull policy,
//!   credentials).

mod backoff;
mod containers;
mod hooks;
mod images;
mod manager;
mod observed;
mod resources;
mod sandbox;
mod start;
mod status;
mod termination;
mod worker;

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use rkube_client::events::{reference, EventType, Recorder};
use tokio::sync::mpsc;

use crate::config::KubeletConfig;
use crate::error::Result;
use crate::probes::ProbeManager;

pub use resources::{cgroup_parent, qos_class};

/// What the pod manager and every worker share.
#[derive(Clone)]
pub struct PodContext {
    pub client: kube::Client,
    pub runtime: rkube_cri::RuntimeClient,
    pub config: Arc<KubeletConfig>,
    /// The node's InternalIP (status.hostIP / hostIPs).
    pub host_ip: IpAddr,
}

type EventItem = (ObjectReference, EventType, String, String);

/// Everything workers share, built once in `run`.
pub(crate) struct Shared {
    pub ctx: PodContext,
    pub probes: ProbeManager,
    pub host_resolv: sandbox::Resolv,
    pub memory_capacity: i64,
    events: mpsc::UnboundedSender<EventItem>,
}

impl Shared {
    /// Queues an event about `pod` (optionally one of its containers). Events are written
    /// in order by one task so pod start-up never waits for them.
    pub fn event(
        &self,
        pod: &Pod,
        field_path: Option<String>,
        kind: EventType,
        reason: &str,
        message: String,
    ) {
        let mut object = reference(pod);
        object.field_path = field_path;
        // The receiver lives as long as `run`; nothing to do if it is gone.
        let _ = self
            .events
            .send((object, kind, reason.to_string(), message));
    }
}

/// Runs the pods bound to `ctx.config.node_name` until the process ends.
pub async fn run(ctx: PodContext) -> Result<()> {
    let node = ctx.config.node_name.clone();
    let recorder = Recorder::new(ctx.client.clone(), "kubelet", Some(&node));
    let (probes, probe_updates) = ProbeManager::new(
        ctx.runtime.clone(),
        Recorder::new(ctx.client.clone(), "kubelet", Some(&node)),
    );
    let host_resolv = std::fs::read_to_string(&ctx.config.resolv_conf)
        .map(|t| sandbox::parse_resolv_conf(&t))
        .unwrap_or_default();
    let (events, mut event_rx) = mpsc::unbounded_channel::<EventItem>();
    tokio::spawn(async move {
        while let Some((object, kind, reason, message)) = event_rx.recv().await {
            recorder.record(&object, kind, &reason, &message).await;
        }
    });
    let shared = Arc::new(Shared {
        ctx,
        probes,
        host_resolv,
        memory_capacity: resources::memory_capacity(),
        events,
    });
    manager::run(shared, probe_updates).await
}
