//! The node side of the binary: the agent inside `rkube server`, `rkube kubelet` on its
//! own, and `rkube images`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rkube_kubelet::agent::Runtime;
use rkube_kubelet::node::eviction::EvictionHard;
use rkube_kubelet::{KubeletConfig, ServerTls};

/// Flags shared by the agent in `rkube server` and `rkube kubelet`.
#[derive(clap::Args, Clone)]
pub struct NodeArgs {
    /// The Node's name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// The node's InternalIP (default: the address of the default route's interface).
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// Port of the kubelet's node API (logs, exec, port-forward).
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
    /// Use an existing CRI runtime socket instead of starting containerd.
    #[arg(long)]
    pub container_runtime_endpoint: Option<String>,
    /// Cluster DNS server(s) for pods with dnsPolicy ClusterFirst; none = the host's
    /// resolvers.
    #[arg(long, value_delimiter = ',')]
    pub cluster_dns: Vec<IpAddr>,
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    #[arg(long, default_value_t = 110)]
    pub max_pods: u32,
    /// Extra Node labels, `key=value` (repeatable or comma-separated).
    #[arg(long = "node-labels", value_delimiter = ',')]
    pub node_labels: Vec<String>,
    /// Images (`*.tar`) imported into the runtime at start (default: DATA_DIR/images).
    #[arg(long)]
    pub images_dir: Option<PathBuf>,
    /// Name of the CNI bridge.
    #[arg(long, default_value = "rkube0")]
    pub cni_bridge: String,
    /// Parent cgroup of all pods (cgroupfs layout `<root>/<qos>/pod<uid>`).
    #[arg(long, default_value = "/kubepods")]
    pub cgroup_root: String,
    /// Do not run kube-proxy on this node.
    #[arg(long)]
    pub disable_kube_proxy: bool,
    /// kube-proxy's nftables table.
    #[arg(long, default_value = rkube_proxy::DEFAULT_TABLE)]
    pub proxy_table: String,
    /// Hard eviction thresholds, upstream's syntax
    /// (`memory.available<100Mi,nodefs.available<10%`); below one the node reports
    /// memory, disk or PID pressure and gets no new pods. Signals left out have none.
    /// Default: memory.available<100Mi, nodefs.available<5%, imagefs.available<5% (as k3s),
    /// nodefs.inodesFree<5%, pid.available<5%.
    #[arg(long, env = "RKUBE_EVICTION_HARD")]
    pub eviction_hard: Option<EvictionHard>,
}

impl NodeArgs {
    pub fn node_name(&self) -> String {
        self.node_name
            .clone()
            .unwrap_or_else(rkube_kubelet::config::default_node_name)
    }

    pub fn host_ip(&self) -> IpAddr {
        self.node_ip
            .unwrap_or_else(rkube_kubelet::node::detect_node_ip)
    }

    /// Names and addresses the node API's serving certificate covers.
    pub fn serving_hosts(&self) -> Vec<String> {
        let mut hosts = vec![
            self.node_name(),
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ];
        let ip = self.host_ip().to_string();
        if !hosts.contains(&ip) {
            hosts.push(ip);
        }
        hosts
    }

    /// kube-proxy for this node; `cluster_cidr` is the pod network (off-cluster traffic
    /// to services is masqueraded).
    pub fn proxy_config(&self, cluster_cidr: &str) -> rkube_proxy::ProxyConfig {
        rkube_proxy::ProxyConfig {
            node_name: self.node_name(),
            node_ips: vec![self.host_ip()],
            cluster_cidr: cluster_cidr.to_string(),
            table: self.proxy_table.clone(),
            ..Default::default()
        }
    }

    pub fn kubelet_config(&self, data_dir: &Path, tls: ServerTls) -> anyhow::Result<KubeletConfig> {
        let mut config = KubeletConfig::new(self.node_name(), data_dir);
        config.node_ip = Some(self.host_ip());
        config.cluster_dns = self.cluster_dns.clone();
        config.cluster_domain = self.cluster_domain.clone();
        config.max_pods = self.max_pods;
        config.cgroup_root = self.cgroup_root.clone();
        if let Some(e) = &self.eviction_hard {
            config.eviction_hard = e.clone();
        }
        let mut labels = BTreeMap::new();
        for l in &self.node_labels {
            let (k, v) = l
                .split_once('=')
                .with_context(|| format!("node label {l:?} is not key=value"))?;
            labels.insert(k.to_string(), v.to_string());
        }
        config.node_labels = labels;
        config.server = Some(tls);
        Ok(config)
    }

    pub fn runtime(&self, data_dir: &Path) -> anyhow::Result<Runtime> {
        Ok(match &self.container_runtime_endpoint {
            Some(endpoint) => Runtime::Endpoint(rkube_cri::socket_from_endpoint(endpoint)?),
            None => Runtime::Supervised {
                data_dir: data_dir.to_path_buf(),
                options: Box::new(rkube_cri::ContainerdOptions {
                    bridge: self.cni_bridge.clone(),
                    ..Default::default()
                }),
                images_dir: Some(
                    self.images_dir
                        .clone()
                        .unwrap_or_else(|| data_dir.join("images")),
                ),
            },
        })
    }

    pub fn tls(&self, cert_pem: String, key_pem: String, client_ca_pem: String) -> ServerTls {
        ServerTls {
            bind: SocketAddr::new(IpAddr::from([0, 0, 0, 0]), self.kubelet_port),
            cert_pem,
            key_pem,
            client_ca_pem,
        }
    }
}

/// `rkube kubelet`: a node agent joining an existing control plane.
#[derive(clap::Args)]
pub struct KubeletArgs {
    /// Credentials for the API server (a user in system:nodes, or an admin).
    #[arg(long)]
    pub kubeconfig: PathBuf,
    #[arg(long, default_value = "/var/lib/rkube-agent", env = "RKUBE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Serving certificate of the node API (default: a self-signed one).
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// CA that client certificates must chain to (default: the kubeconfig's CA).
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// The cluster's pod network (for kube-proxy's masquerade rules).
    #[arg(long, default_value = "10.244.0.0/16")]
    pub cluster_cidr: String,
    #[command(flatten)]
    pub node: NodeArgs,
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn kubeconfig_ca(path: &Path) -> anyhow::Result<String> {
    use base64::Engine;
    let kc = kube::config::Kubeconfig::read_from(path)?;
    let cluster = kc
        .clusters
        .iter()
        .find_map(|c| c.cluster.as_ref())
        .context("the kubeconfig has no cluster")?;
    if let Some(data) = &cluster.certificate_authority_data {
        let pem = base64::engine::general_purpose::STANDARD.decode(data.trim())?;
        return Ok(String::from_utf8(pem)?);
    }
    match &cluster.certificate_authority {
        Some(file) => read(Path::new(file)),
        None => {
            anyhow::bail!("the kubeconfig names no certificate authority; pass --client-ca-file")
        }
    }
}

pub async fn kubelet(args: KubeletArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let (cert, key) = match (&args.tls_cert_file, &args.tls_private_key_file) {
        (Some(c), Some(k)) => (read(c)?, read(k)?),
        _ => {
            let certified = rcgen::generate_simple_self_signed(args.node.serving_hosts())?;
            (certified.cert.pem(), certified.signing_key.serialize_pem())
        }
    };
    let ca = match &args.client_ca_file {
        Some(p) => read(p)?,
        None => kubeconfig_ca(&args.kubeconfig)?,
    };
    let config = args
        .node
        .kubelet_config(&args.data_dir, args.node.tls(cert, key, ca))?;
    let client = rkube_client::from_kubeconfig(&args.kubeconfig).await?;
    let runtime = args.node.runtime(&args.data_dir)?;
    if !args.node.disable_kube_proxy {
        spawn_proxy(client.clone(), args.node.proxy_config(&args.cluster_cidr));
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(rkube_kubelet::agent::run(client, config, runtime, stopped));
    tokio::pin!(agent);
    tokio::select! {
        done = &mut agent => done??,
        _ = crate::shutdown_signal() => {
            let _ = stop.send(true);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(20), agent).await;
        }
    }
    Ok(())
}

/// `rkube images`: the node's images.
#[derive(clap::Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub command: ImagesCommand,
    /// The node's data dir (where its containerd lives).
    #[arg(
        long,
        global = true,
        default_value = "/var/lib/rkube",
        env = "RKUBE_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// Talk to this CRI socket instead of the node's own containerd.
    #[arg(long, global = true)]
    pub container_runtime_endpoint: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum ImagesCommand {
    /// Import OCI or docker image tarballs.
    Import { files: Vec<PathBuf> },
    /// List the images the runtime holds.
    List,
}

pub async fn images(args: ImagesArgs) -> anyhow::Result<()> {
    let socket = match &args.container_runtime_endpoint {
        Some(e) => rkube_cri::socket_from_endpoint(e)?,
        None => rkube_cri::Paths::new(&args.data_dir).socket,
    };
    match args.command {
        ImagesCommand::Import { files } => {
            anyhow::ensure!(!files.is_empty(), "no image files given");
            for file in files {
                rkube_cri::import_image(Path::new("ctr"), &socket, &file)
                    .await
                    .with_context(|| format!("importing {}", file.display()))?;
                println!("imported {}", file.display());
            }
        }
        ImagesCommand::List => {
            let client = rkube_cri::RuntimeClient::connect(&socket)?;
            let mut rows = Vec::new();
            for image in client.list_images(None).await? {
                let id = image.id.trim_start_matches("sha256:");
                let short = &id[..id.len().min(13)];
                let size = format!("{:.1}MB", image.size as f64 / 1e6);
                if image.repo_tags.is_empty() {
                    rows.push(("<none>".to_string(), short.to_string(), size.clone()));
                }
                for tag in &image.repo_tags {
                    rows.push((tag.clone(), short.to_string(), size.clone()));
                }
            }
            rows.sort();
            let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(5).max(5);
            println!("{:<width$}   {:<13}   SIZE", "IMAGE", "IMAGE ID");
            for (tag, id, size) in rows {
                println!("{tag:<width$}   {id:<13}   {size}");
            }
        }
    }
    Ok(())
}

/// Runs kube-proxy in the background, restarting it if it fails.
pub fn spawn_proxy(client: kube::Client, config: rkube_proxy::ProxyConfig) {
    tokio::spawn(async move {
        loop {
            match rkube_proxy::run(client.clone(), config.clone()).await {
                Ok(()) => return,
                Err(e) => tracing::error!(error = %e, "kube-proxy failed; restarting"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

/// `rkube proxy`: kube-proxy alone.
#[derive(clap::Args)]
pub struct ProxyArgs {
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Remove everything kube-proxy programmed (its nftables table) and exit.
    #[arg(long)]
    pub cleanup: bool,
    #[arg(long, default_value = "10.244.0.0/16")]
    pub cluster_cidr: String,
    #[arg(long)]
    pub node_name: Option<String>,
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    #[arg(long, default_value = rkube_proxy::DEFAULT_TABLE)]
    pub table: String,
}

pub async fn proxy(args: ProxyArgs) -> anyhow::Result<()> {
    if args.cleanup {
        rkube_proxy::cleanup(&args.table)?;
        println!("removed nftables table {}", args.table);
        return Ok(());
    }
    let kubeconfig = args
        .kubeconfig
        .context("--kubeconfig is required (unless --cleanup)")?;
    let config = rkube_proxy::ProxyConfig {
        node_name: args
            .node_name
            .unwrap_or_else(rkube_kubelet::config::default_node_name),
        node_ips: vec![args
            .node_ip
            .unwrap_or_else(rkube_kubelet::node::detect_node_ip)],
        cluster_cidr: args.cluster_cidr,
        table: args.table,
        ..Default::default()
    };
    let client = rkube_client::from_kubeconfig(&kubeconfig).await?;
    Ok(rkube_proxy::run(client, config).await?)
}

/// The cluster DNS service's ClusterIP: the tenth address of the service range, as
/// kubeadm picks (10.96.0.10 for the default 10.96.0.0/12).
pub fn dns_service_ip(service_cidr: &str) -> anyhow::Result<IpAddr> {
    let base = service_cidr.split('/').next().unwrap_or_default();
    let ip: std::net::Ipv4Addr = base
        .parse()
        .with_context(|| format!("service range {service_cidr:?} is not an IPv4 CIDR"))?;
    Ok(IpAddr::from(std::net::Ipv4Addr::from(u32::from(ip) + 10)))
}
