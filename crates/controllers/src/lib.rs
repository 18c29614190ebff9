//! The controller manager: one module per controller, each a control loop that watches
//! the API and writes through it, never touching another component's internals.

pub mod deployment;
pub mod endpoints;
pub mod endpointslice;
pub mod garbagecollector;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod replicaset;
pub mod resourcequota;
pub mod serviceaccount;
pub mod shared;

use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Settings the controllers read; defaults are upstream's.
#[derive(Debug, Clone)]
pub struct Options {
    /// Pod network the node IPAM controller carves per-node ranges from.
    pub cluster_cidr: String,
    /// Prefix length of each node's podCIDR.
    pub node_cidr_mask: u8,
    /// How long a node may miss heartbeats before it is marked unknown.
    pub node_monitor_grace: Duration,
    /// PEM of the cluster CA, published as the kube-root-ca.crt ConfigMap.
    pub root_ca_pem: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cluster_cidr: "10.244.0.0/16".into(),
            node_cidr_mask: 24,
            node_monitor_grace: Duration::from_secs(40),
            root_ca_pem: String::new(),
        }
    }
}

/// What every controller gets.
pub struct Context {
    pub client: kube::Client,
    pub options: Options,
    pub recorder: rkube_client::events::Recorder,
    /// The process's one pod informer; controllers subscribe instead of watching pods.
    pub pods: shared::Pods,
}

/// Runs every controller until one fails, once this instance holds the
/// kube-controller-manager Lease.
pub async fn run(client: kube::Client, options: Options) -> Result<()> {
    let identity = format!(
        "{}_{}",
        std::fs::read_to_string("/etc/hostname")
            .unwrap_or_default()
            .trim(),
        uuid_like()
    );
    let mut leadership =
        rkube_client::leader::acquire(client.clone(), "kube-controller-manager", &identity).await;
    tokio::select! {
        result = run_controllers(client, options) => result,
        _ = leadership.lost() => Err(Error::Other("lost the kube-controller-manager lease".into())),
    }
}

fn uuid_like() -> String {
    format!("{:016x}", rand::random::<u64>())
}

async fn run_controllers(client: kube::Client, options: Options) -> Result<()> {
    let ctx = Arc::new(Context {
        recorder: rkube_client::events::Recorder::new(client.clone(), "controller-manager", None),
        pods: shared::Pods::default(),
        client,
        options,
    });
    let loops: Vec<(&str, futures::future::BoxFuture<'static, Result<()>>)> = vec![
        ("pods", Box::pin(ctx.pods.clone().run(ctx.client.clone()))),
        ("deployment", Box::pin(deployment::run(ctx.clone()))),
        ("replicaset", Box::pin(replicaset::run(ctx.clone()))),
        (
            "garbagecollector",
            Box::pin(garbagecollector::run(ctx.clone())),
        ),
        ("namespace", Box::pin(namespace::run(ctx.clone()))),
        ("serviceaccount", Box::pin(serviceaccount::run(ctx.clone()))),
        ("resourcequota", Box::pin(resourcequota::run(ctx.clone()))),
        ("endpoints", Box::pin(endpoints::run(ctx.clone()))),
        ("endpointslice", Box::pin(endpointslice::run(ctx.clone()))),
        ("nodelifecycle", Box::pin(nodelifecycle::run(ctx.clone()))),
        ("nodeipam", Box::pin(nodeipam::run(ctx.clone()))),
    ];
    let tasks = loops.into_iter().map(|(name, fut)| async move {
        let result = fut.await;
        if let Err(e) = &result {
            tracing::error!(controller = name, error = %e, "controller stopped");
        }
        result
    });
    futures::future::try_join_all(tasks).await.map(|_| ())
}
