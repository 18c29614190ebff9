//! Start-up order for a whole node: register the Node, learn its podCIDR, start (or
//! connect to) the container runtime with a CNI config for that CIDR, then run the
//! heartbeat, the pod workers and the node API side by side.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use tracing::{info, warn};

use crate::config::KubeletConfig;
use crate::error::{Error, Result};
use crate::{node, pods, server};

/// Where the container runtime comes from.
#[derive(Debug, Clone)]
pub enum Runtime {
    /// Our own containerd, supervised, with its state under `data_dir`.
    Supervised {
        data_dir: PathBuf,
        options: Box<rkube_cri::ContainerdOptions>,
        /// Every `*.tar` here is imported at start (k3s's agent/images): how a node
        /// without registry access gets its images.
        images_dir: Option<PathBuf>,
    },
    /// An existing CRI runtime (`--container-runtime-endpoint`).
    Endpoint(PathBuf),
}

/// How long to wait for the node IPAM controller before using the fallback CIDR.
const POD_CIDR_WAIT: Duration = Duration::from_secs(20);

async fn register_with_retries(
    client: &kube::Client,
    config: &KubeletConfig,
    host_ip: IpAddr,
) -> Node {
    let mut delay = Duration::from_millis(200);
    loop {
        match node::register(client, config, host_ip, None).await {
            Ok(node) => return node,
            Err(e) => {
                warn!(error = %e, "registering the node; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn wait_pod_cidr(client: &kube::Client, config: &KubeletConfig, node: Node) -> String {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + POD_CIDR_WAIT;
    let mut current = Some(node);
    loop {
        if let Some(cidr) = current
            .as_ref()
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.pod_cidr.clone())
            .filter(|c| !c.is_empty())
        {
            return cidr;
        }
        if Instant::now() >= deadline {
            warn!(
                fallback = %config.fallback_pod_cidr,
                "the node got no spec.podCIDR (is the node IPAM controller running?); using the fallback"
            );
            return config.fallback_pod_cidr.clone();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        current = nodes.get_opt(&config.node_name).await.ok().flatten();
    }
}

async fn import_all(containerd: &rkube_cri::Containerd, dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut tars: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tar"))
        .collect();
    tars.sort();
    for tar in tars {
        match containerd.import_image(&tar).await {
            Ok(()) => info!(image = %tar.display(), "image imported"),
            Err(e) => warn!(image = %tar.display(), error = %e, "image import failed"),
        }
    }
}

/// Runs the node until one of its parts fails for good or `stop` turns true. The
/// supervised containerd is stopped on the way out (its containers keep running in their
/// shims, and the next start adopts them).
pub async fn run(
    client: kube::Client,
    config: KubeletConfig,
    runtime: Runtime,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let host_ip = config.node_ip.unwrap_or_else(node::detect_node_ip);
    let node = register_with_retries(&client, &config, host_ip).await;
    info!(node = %config.node_name, %host_ip, "node registered");
    let (runtime_client, containerd) = match runtime {
        Runtime::Supervised {
            data_dir,
            mut options,
            images_dir,
        } => {
            options.pod_subnet = wait_pod_cidr(&client, &config, node).await;
            info!(pod_cidr = %options.pod_subnet, "starting containerd");
            let containerd = rkube_cri::Containerd::start(&data_dir, *options).await?;
            if let Some(dir) = images_dir {
                import_all(&containerd, &dir).await;
            }
            (containerd.client(), Some(containerd))
        }
        Runtime::Endpoint(socket) => (rkube_cri::RuntimeClient::connect(socket)?, None),
    };
    let config = Arc::new(config);
    let ctx = pods::PodContext {
        client: client.clone(),
        runtime: runtime_client.clone(),
        config: config.clone(),
        host_ip,
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(node::run(
        client.clone(),
        config.clone(),
        host_ip,
        runtime_client.clone(),
    ));
    tasks.spawn(pods::run(ctx));
    if let Some(tls) = config.server.clone() {
        tasks.spawn(server::serve(tls, config.clone(), runtime_client));
    }
    let result = tokio::select! {
        joined = tasks.join_next() => match joined {
            Some(Ok(r)) => r,
            Some(Err(e)) => Err(Error::Other(format!("kubelet task failed: {e}"))),
            None => Ok(()),
        },
        _ = stop.wait_for(|s| *s) => Ok(()),
    };
    tasks.abort_all();
    if let Some(c) = containerd {
        c.shutdown().await;
    }
    result
}
