//! Node IPAM: gives each node a podCIDR from the cluster CIDR (upstream
//! pkg/controller/nodeipam, range allocator).

mod cidr;

use crate::endpoints::informer::{self, Cached, Store};
use crate::endpoints::queue::Queue;
use crate::{Context, Error, Result};
use cidr::CidrSet;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher;
use kube::Api;
use rkube_client::events::{reference, EventType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The bits of a Node the allocator reads.
struct NodeCidrs {
    name: String,
    cidrs: Vec<String>,
    node: Arc<Node>,
}

impl Cached for NodeCidrs {
    fn cache_key(&self) -> String {
        self.name.clone()
    }
}

impl NodeCidrs {
    fn new(node: Node) -> Self {
        let spec = node.spec.as_ref();
        let mut cidrs: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
        if let Some(c) = spec
            .and_then(|s| s.pod_cidr.clone())
            .filter(|c| !c.is_empty())
        {
            if !cidrs.contains(&c) {
                cidrs.insert(0, c);
            }
        }
        Self {
            name: node.metadata.name.clone().unwrap_or_default(),
            cidrs,
            // Kept only to build event references.
            node: Arc::new(Node {
                metadata: node.metadata,
                ..Default::default()
            }),
        }
    }
}

struct Allocator {
    set: CidrSet,
    /// What we handed out, so a node deleted before its update reached us still frees it.
    assigned: HashMap<String, String>,
}

pub async fn run(ctx: Arc<Context>) -> Result<()> {
    let set = CidrSet::new(&ctx.options.cluster_cidr, ctx.options.node_cidr_mask)
        .map_err(|e| Error::Other(format!("node IPAM: {e}")))?;
    let alloc = Arc::new(Mutex::new(Allocator {
        set,
        assigned: HashMap::new(),
    }));
    let nodes: Arc<Store<NodeCidrs>> = Store::new();
    let queue = Queue::new();
    let feed = {
        let (queue, alloc) = (queue.clone(), alloc.clone());
        informer::run(
            Api::<Node>::all(ctx.client.clone()),
            watcher::Config::default(),
            nodes.clone(),
            NodeCidrs::new,
            move |(old, new)| match (old, new) {
                (Some(old), None) => {
                    if let Ok(mut a) = alloc.lock() {
                        let mine = a.assigned.remove(&old.name);
                        for c in old.cidrs.iter().chain(mine.iter()) {
                            a.set.release(c);
                        }
                    }
                }
                (_, Some(new)) => {
                    if new.cidrs.is_empty() {
                        queue.add(new.name.clone());
                    } else if let Ok(mut a) = alloc.lock() {
                        for c in &new.cidrs {
                            a.set.occupy(c);
                        }
                    }
                }
                _ => {}
            },
        )
    };
    let workers = async move {
        nodes.wait_synced().await;
        queue
            .run(1, move |name| {
                let (ctx, nodes, alloc) = (ctx.clone(), nodes.clone(), alloc.clone());
                async move { sync(&ctx, &nodes, &alloc, &name).await }
            })
            .await
    };
    futures::join!(feed, workers);
    Ok(())
}

async fn sync(
    ctx: &Context,
    nodes: &Store<NodeCidrs>,
    alloc: &Mutex<Allocator>,
    name: &str,
) -> Result<()> {
    let Some(node) = nodes.get(name) else {
        return Ok(());
    };
    if !node.cidrs.is_empty() {
        return Ok(());
    }
    let lock_err = || Error::Other("node IPAM allocator lock poisoned".into());
    let already = alloc
        .lock()
        .map_err(|_| lock_err())?
        .assigned
        .get(name)
        .cloned();
    let cidr = match already {
        Some(c) => c,
        None => {
            let got = alloc.lock().map_err(|_| lock_err())?.set.allocate();
            let Some(c) = got else {
                ctx.recorder
                    .record(
                        &reference(&*node.node),
                        EventType::Normal,
                        "CIDRNotAvailable",
                        &format!("Node {name} status is now: CIDRNotAvailable"),
                    )
                    .await;
                return Err(Error::Other(format!("no pod CIDR left for node {name}")));
            };
            alloc
                .lock()
                .map_err(|_| lock_err())?
                .assigned
                .insert(name.to_string(), c.clone());
            c
        }
    };
    let api: Api<Node> = Api::all(ctx.client.clone());
    let patch = serde_json::json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            if let Ok(mut a) = alloc.lock() {
                a.assigned.remove(name);
                a.set.release(&cidr);
            }
            match e {
                kube::Error::Api(s) if s.code == 404 => Ok(()),
                e => Err(e.into()),
            }
        }
    }
}
