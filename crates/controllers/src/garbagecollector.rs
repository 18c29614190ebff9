//! The garbage collector: watches the metadata of every served kind, keeps an owner →
//! dependents graph and enforces ownerReferences: dependents whose owners are all gone
//! are deleted (background), owners deleted with the "orphan" finalizer release their
//! dependents, and owners deleted with "foregroundDeletion" wait until their blocking
//! dependents are gone.

mod actions;
mod graph;
pub mod resources;

use crate::shared::{CachedPod, PodEvent};
use crate::{Context, Result};
use futures::StreamExt;
use graph::{Graph, Node, OwnerRef, OwnerState, Step, Verdict, ORPHAN};
use kube::api::DynamicObject;
use kube::core::PartialObjectMeta;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use resources::Served;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Deletions and patches in flight at once.
const WORKERS: usize = 16;
/// How long to wait for every watch to list before acting on a partial graph.
const SYNC_WAIT: Duration = Duration::from_secs(10);

type Meta = PartialObjectMeta<DynamicObject>;

enum Input {
    Watch(usize, Box<watcher::Event<Meta>>),
    /// From a feed that reports removals itself (the shared pod informer), so nothing
    /// needs pruning when it is complete.
    Upsert(Node),
    Remove(String),
    Synced(usize),
    Done(String, Result<()>),
    Retry(String),
}

/// Upstream never collects events (they are never owners and are short-lived).
fn collected(s: &Served) -> bool {
    s.watch && s.delete && s.api.plural != "events"
}

pub async fn run(ctx: Arc<Context>) -> Result<()> {
    let served: Vec<Served> = resources::discover(&ctx.client)
        .await
        .into_iter()
        .filter(collected)
        .collect();
    let served = Arc::new(served);
    let (tx, rx) = mpsc::unbounded_channel();
    for (i, s) in served.iter().enumerate() {
        let tx = tx.clone();
        if s.is("", "pods") {
            // Pods come from the process's shared informer, not a watch of our own.
            tokio::spawn(feed_pods(ctx.pods.subscribe(), i, tx));
            continue;
        }
        let api: Api<Meta> = Api::all_with(ctx.client.clone(), &s.api);
        tokio::spawn(async move {
            let mut events = watcher::watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(ev) => {
                        if tx.send(Input::Watch(i, Box::new(ev))).is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "garbage collector watch"),
                }
            }
        });
    }
    let mut gc = Collector {
        client: ctx.client.clone(),
        served,
        graph: Graph::default(),
        queue: VecDeque::new(),
        queued: HashSet::new(),
        inflight: HashSet::new(),
        redo: HashSet::new(),
        kicked: HashSet::new(),
        failures: HashMap::new(),
        listing: HashMap::new(),
        synced: HashSet::new(),
        tx,
    };
    gc.run(rx).await;
    Ok(())
}

/// Turns shared pod informer changes into graph updates for resource `res`: the graph
/// keeps only identity, owners, finalizers and deletion state.
async fn feed_pods(
    mut events: mpsc::UnboundedReceiver<PodEvent>,
    res: usize,
    tx: mpsc::UnboundedSender<Input>,
) {
    while let Some(event) = events.recv().await {
        let input = match event {
            PodEvent::Changed { new: Some(p), .. } => Input::Upsert(pod_node(res, &p)),
            PodEvent::Changed {
                old: Some(p),
                new: None,
            } => Input::Remove(p.uid.clone()),
            PodEvent::Changed { .. } => continue,
            PodEvent::Synced => Input::Synced(res),
        };
        if tx.send(input).is_err() {
            return;
        }
    }
}

fn owner_ref(r: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference) -> OwnerRef {
    OwnerRef {
        uid: r.uid.clone(),
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        name: r.name.clone(),
        block: r.block_owner_deletion == Some(true),
    }
}

fn pod_node(res: usize, p: &CachedPod) -> Node {
    Node {
        res,
        namespace: Some(p.namespace.clone()),
        name: p.name.clone(),
        uid: p.uid.clone(),
        owners: p.owner_references.iter().map(owner_ref).collect(),
        deleting: p.deleting,
        finalizers: p.finalizers.clone(),
    }
}

struct Collector {
    client: Client,
    served: Arc<Vec<Served>>,
    graph: Graph,
    queue: VecDeque<String>,
    queued: HashSet<String>,
    inflight: HashSet<String>,
    /// Items that changed while being worked on: processed again once done.
    redo: HashSet<String>,
    kicked: HashSet<String>,
    failures: HashMap<String, u32>,
    /// Per resource, the uids seen during a (re)list in progress.
    listing: HashMap<usize, HashSet<String>>,
    synced: HashSet<usize>,
    tx: mpsc::UnboundedSender<Input>,
}

impl Collector {
    async fn run(&mut self, mut rx: mpsc::UnboundedReceiver<Input>) {
        let started = Instant::now();
        loop {
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    // Only to re-check the sync deadline.
                    self.dispatch_if_ready(started);
                    continue;
                }
            };
            let Some(msg) = msg else { return };
            self.handle(msg);
            // Take what else is waiting before deciding, so a burst is judged on a
            // current graph.
            for _ in 0..1000 {
                match rx.try_recv() {
                    Ok(m) => self.handle(m),
                    Err(_) => break,
                }
            }
            self.dispatch_if_ready(started);
        }
    }

    fn dispatch_if_ready(&mut self, started: Instant) {
        if self.synced.len() == self.served.len() || started.elapsed() > SYNC_WAIT {
            self.dispatch();
        }
    }

    fn enqueue(&mut self, uids: Vec<String>) {
        for uid in uids {
            if self.inflight.contains(&uid) {
                self.redo.insert(uid);
            } else if self.queued.insert(uid.clone()) {
                self.queue.push_back(uid);
            }
        }
    }

    fn handle(&mut self, msg: Input) {
        match msg {
            Input::Watch(res, ev) => self.observe(res, *ev),
            Input::Upsert(node) => {
                let dirty = self.graph.upsert(node);
                self.enqueue(dirty);
            }
            Input::Remove(uid) => {
                self.kicked.remove(&uid);
                let dirty = self.graph.remove(&uid);
                self.enqueue(dirty);
            }
            Input::Synced(res) => {
                self.synced.insert(res);
            }
            Input::Retry(uid) => self.enqueue(vec![uid]),
            Input::Done(uid, result) => {
                self.inflight.remove(&uid);
                match result {
                    Ok(()) => {
                        self.failures.remove(&uid);
                    }
                    Err(e) => {
                        let n = self.failures.entry(uid.clone()).or_default();
                        *n += 1;
                        let delay = Duration::from_millis(100u64 << (*n).min(8))
                            .min(Duration::from_secs(30));
                        tracing::warn!(uid = %uid, error = %e, "garbage collector: will retry");
                        let tx = self.tx.clone();
                        let again = uid.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = tx.send(Input::Retry(again));
                        });
                    }
                }
                if self.redo.remove(&uid) {
                    self.enqueue(vec![uid]);
                }
            }
        }
    }

    fn observe(&mut self, res: usize, ev: watcher::Event<Meta>) {
        let dirty = match ev {
            watcher::Event::Init => {
                self.listing.insert(res, HashSet::new());
                Vec::new()
            }
            watcher::Event::InitApply(m) => {
                let Some(node) = node_of(res, &m) else {
                    return;
                };
                if let Some(seen) = self.listing.get_mut(&res) {
                    seen.insert(node.uid.clone());
                }
                self.graph.upsert(node)
            }
            watcher::Event::InitDone => {
                self.synced.insert(res);
                let seen = self.listing.remove(&res).unwrap_or_default();
                let dirty = self.graph.retain_listed(res, &seen);
                self.kicked.retain(|uid| self.graph.get(uid).is_some());
                dirty
            }
            watcher::Event::Apply(m) => match node_of(res, &m) {
                Some(node) => self.graph.upsert(node),
                None => Vec::new(),
            },
            watcher::Event::Delete(m) => {
                let Some(uid) = m.metadata.uid.as_deref() else {
                    return;
                };
                self.kicked.remove(uid);
                self.graph.remove(uid)
            }
        };
        self.enqueue(dirty);
    }

    fn dispatch(&mut self) {
        while self.inflight.len() < WORKERS {
            let Some(uid) = self.queue.pop_front() else {
                return;
            };
            self.queued.remove(&uid);
            let Some(node) = self.graph.get(&uid).cloned() else {
                continue;
            };
            let job = match self.graph.step(&uid, &mut self.kicked) {
                Step::Nothing => continue,
                Step::Process(uids) => {
                    self.enqueue(uids);
                    continue;
                }
                Step::Judge(states) => {
                    let settled = states.iter().all(|(_, s)| *s != OwnerState::Unknown);
                    let has_deps = self.graph.has_dependents(&uid);
                    if settled && graph::judge(&node, &states, has_deps) == Verdict::Keep {
                        // The common case (owner present) needs no API call.
                        continue;
                    }
                    Job::Judge(states, has_deps)
                }
                Step::Orphan(deps) => Job::Orphan(deps),
                Step::RemoveFinalizer(f) => Job::RemoveFinalizer(f),
            };
            self.inflight.insert(uid.clone());
            let client = self.client.clone();
            let served = self.served.clone();
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let result = job.run(&client, &served, &node).await;
                let _ = tx.send(Input::Done(uid, result));
            });
        }
    }
}

enum Job {
    Judge(Vec<(OwnerRef, OwnerState)>, bool),
    Orphan(Vec<Node>),
    RemoveFinalizer(&'static str),
}

impl Job {
    async fn run(self, client: &Client, served: &[Served], node: &Node) -> Result<()> {
        match self {
            Job::Judge(mut states, has_deps) => {
                for (r, state) in states.iter_mut() {
                    if *state == OwnerState::Unknown {
                        *state = actions::owner_state(client, served, r, node.namespace.as_deref())
                            .await?;
                    }
                }
                match graph::judge(node, &states, has_deps) {
                    Verdict::Keep => Ok(()),
                    Verdict::DropRefs(uids) => {
                        actions::drop_refs(client, served, node, &uids).await
                    }
                    Verdict::Delete(policy) => actions::delete(client, served, node, policy).await,
                }
            }
            Job::Orphan(deps) => {
                let owner = [node.uid.clone()];
                for d in &deps {
                    actions::drop_refs(client, served, d, &owner).await?;
                }
                actions::remove_finalizer(client, served, node, ORPHAN).await
            }
            Job::RemoveFinalizer(f) => actions::remove_finalizer(client, served, node, f).await,
        }
    }
}

fn node_of(res: usize, m: &Meta) -> Option<Node> {
    let meta = &m.metadata;
    Some(Node {
        res,
        namespace: meta.namespace.clone(),
        name: meta.name.clone()?,
        uid: meta.uid.clone()?,
        owners: meta
            .owner_references
            .iter()
            .flatten()
            .map(owner_ref)
            .collect(),
        deleting: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
    })
}
