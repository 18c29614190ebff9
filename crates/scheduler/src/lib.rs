//! The scheduler: a queue of unscheduled pods, a framework of filter and score plugins,
//! and a binder writing pods/binding. Modelled on upstream's kube-scheduler: informers
//! feed a node cache and the scheduling queue; one loop takes pods from the queue, picks
//! a node, assumes the pod there at once, and binds it asynchronously.

pub mod cache;
pub mod framework;
pub mod plugins;
pub mod podinfo;
pub mod queue;
pub mod resources;

mod binder;
mod informers;
mod wire;

use crate::cache::Cache;
use crate::framework::Framework;
use crate::queue::Queue;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Settings; defaults are upstream's.
#[derive(Debug, Clone)]
pub struct Options {
    /// Pods with this spec.schedulerName are ours.
    pub scheduler_name: String,
    /// Bindings in flight at once; binding latency is hidden behind this many requests.
    pub parallel_bindings: usize,
    /// Leader election lease in kube-system.
    pub lease_name: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            scheduler_name: "default-scheduler".into(),
            parallel_bindings: 64,
            lease_name: "kube-scheduler".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("lost leadership of lease kube-system/{0}")]
    LostLeadership(String),
}

/// State shared by the informers, the scheduling loop and binding tasks.
pub(crate) struct Shared {
    pub client: kube::Client,
    pub options: Options,
    pub cache: Mutex<Cache>,
    pub queue: Queue,
    pub events: binder::EventSink,
    pub bindings: Arc<tokio::sync::Semaphore>,
    /// How many informers have completed their first list.
    pub synced: tokio::sync::watch::Sender<usize>,
}

impl Shared {
    pub fn cache(&self) -> MutexGuard<'_, Cache> {
        // Cache updates are single statements over consistent data; a panic elsewhere
        // cannot leave it half-updated in a way worse than stopping would.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "rkube".into());
    format!("{host}_{:016x}", rand::random::<u64>())
}

/// Schedules pods until leadership is lost (an error) or the process ends.
pub async fn run(client: kube::Client, options: Options) -> Result<(), Error> {
    let mut leadership =
        rkube_client::leader::acquire(client.clone(), &options.lease_name, &identity()).await;
    let lease = options.lease_name.clone();
    let shared = Arc::new(Shared {
        events: binder::EventSink::start(client.clone(), &options.scheduler_name),
        bindings: Arc::new(tokio::sync::Semaphore::new(
            options.parallel_bindings.max(1),
        )),
        client,
        options,
        cache: Mutex::new(Cache::default()),
        queue: Queue::default(),
        synced: tokio::sync::watch::Sender::new(0),
    });
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(informers::watch_nodes(shared.clone()));
    tasks.spawn(informers::watch_pods(shared.clone()));
    tasks.spawn(flush_loop(shared.clone()));
    let framework = plugins::default_framework();
    tokio::select! {
        _ = leadership.lost() => Err(Error::LostLeadership(lease)),
        () = schedule_loop(shared, framework) => Ok(()),
    }
    // Dropping `tasks` here stops the informers.
}

async fn flush_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        shared
            .queue
            .flush(std::time::Instant::now(), queue::MAX_UNSCHEDULABLE_STAY);
    }
}

async fn schedule_loop(shared: Arc<Shared>, framework: Framework) {
    let mut next_start = 0usize;
    let mut since_yield = 0u32;
    // Like upstream, decide nothing before nodes and pods are listed: a partial view
    // would overcommit nodes.
    let mut synced = shared.synced.subscribe();
    if synced.wait_for(|n| *n >= informers::COUNT).await.is_err() {
        return;
    }
    loop {
        let popped = shared.queue.pop().await;
        let info = popped.info;
        let key = info.key.clone();
        if info.deleting {
            shared.queue.done(&key);
            continue;
        }
        // Hold a binding slot before deciding, so a slow API server slows scheduling
        // instead of piling up assumed pods.
        let Ok(permit) = shared.bindings.clone().acquire_owned().await else {
            return;
        };
        let outcome = {
            let cache = shared.cache();
            if cache.contains_pod(&key) {
                None
            } else {
                Some(framework.schedule(&cache, &info, &mut next_start))
            }
        };
        match outcome {
            None => shared.queue.done(&key),
            Some(Ok(node)) => {
                shared.cache().add_pod(info.clone(), &node, true);
                shared.queue.on_event(
                    queue::ClusterEvent::AssignedPodAdded,
                    std::time::Instant::now(),
                );
                tokio::spawn(binder::bind(shared.clone(), info, node, permit));
            }
            Some(Err(fit)) => {
                drop(permit);
                shared
                    .queue
                    .unschedulable(&key, fit.plugins(), std::time::Instant::now());
                tracing::debug!(pod = %key, attempts = popped.attempts, "unschedulable");
                tokio::spawn(binder::report_failure(shared.clone(), info, fit.message()));
            }
        }
        since_yield += 1;
        if since_yield >= 64 {
            since_yield = 0;
            tokio::task::yield_now().await;
        }
    }
}
