//! The rkube binary: one executable, one subcommand per role.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

mod node;

#[derive(Parser)]
#[command(
    name = "rkube",
    version,
    about = "A Kubernetes-compatible cluster in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: API server over the embedded store, scheduler and
    /// controller manager.
    Server(ServerArgs),
    /// Run the scheduler alone against an API server.
    Scheduler(ComponentArgs),
    /// Run the controller manager alone against an API server.
    ControllerManager(ControllerArgs),
    /// Register simulated nodes that run the pods bound to them.
    SimNodes(SimArgs),
    /// Run a node agent (kubelet with its containerd) against an API server.
    Kubelet(node::KubeletArgs),
    /// Import and list the node's container images.
    Images(node::ImagesArgs),
    /// Run kube-proxy (nftables) alone, or remove its rules with --cleanup.
    Proxy(node::ProxyArgs),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Where the store, certificates and kubeconfigs live.
    #[arg(long, default_value = "/var/lib/rkube", env = "RKUBE_DATA_DIR")]
    data_dir: PathBuf,
    /// Address and port the API server listens on.
    #[arg(long, default_value = "0.0.0.0:6443")]
    bind_address: std::net::SocketAddr,
    /// Host written into the admin kubeconfig.
    #[arg(long, default_value = "127.0.0.1")]
    advertise_address: String,
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: String,
    #[arg(long, default_value = "30000-32767")]
    service_node_port_range: String,
    /// Pod network; each node gets a /24 of it.
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: String,
    /// Static bearer tokens, upstream's CSV format: token,user,uid,"group1,group2".
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Storage backend: `sqlite` (durable, default) or `memory` (lost on exit).
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// How long a node may go without a heartbeat before it is marked unknown.
    #[arg(long, default_value = "40s", value_parser = parse_duration)]
    node_monitor_grace_period: std::time::Duration,
    /// Run only the API server (no scheduler, no controllers).
    #[arg(long)]
    disable_controllers: bool,
    /// Also run this many simulated nodes in the same process.
    #[arg(long, default_value_t = 0)]
    sim_nodes: usize,
    /// Do not run the node agent (kubelet + containerd + kube-proxy) on this machine.
    #[arg(long)]
    disable_agent: bool,
    /// Do not run the cluster DNS server (it runs with the agent, on the node's IP).
    #[arg(long)]
    disable_dns: bool,
    /// Where the cluster DNS server listens (default: the node's IP, port 53).
    #[arg(long)]
    cluster_dns_bind: Option<std::net::SocketAddr>,
    #[command(flatten)]
    node: node::NodeArgs,
}

#[derive(clap::Args)]
struct ComponentArgs {
    #[arg(long)]
    kubeconfig: PathBuf,
}

#[derive(clap::Args)]
struct ControllerArgs {
    #[arg(long)]
    kubeconfig: PathBuf,
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: String,
    /// PEM file of the cluster CA to publish as kube-root-ca.crt.
    #[arg(long)]
    root_ca_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct SimArgs {
    #[arg(long)]
    kubeconfig: PathBuf,
    #[arg(long, default_value_t = 3)]
    count: usize,
    #[arg(long, default_value = "sim-node-")]
    name_prefix: String,
    #[arg(long, default_value = "4")]
    cpu: String,
    #[arg(long, default_value = "16Gi")]
    memory: String,
    #[arg(long, default_value_t = 110)]
    max_pods: u32,
}

/// Go-style durations as upstream flags take them: "40s", "5m", "1h", "500ms".
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    Ok(match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" | "" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n * 60),
        "h" => std::time::Duration::from_secs(n * 3600),
        _ => return Err(format!("invalid duration {text:?}: use ms, s, m or h")),
    })
}

/// Runs a component's loop forever, logging and restarting it if it ever returns.
fn supervise<F, Fut, E>(name: &'static str, mut start: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display,
{
    tokio::spawn(async move {
        loop {
            match start().await {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(component = name, error = %e, "component failed; restarting")
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
}

async fn server(mut args: ServerArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let store: Arc<dyn rkube_store::Store> = match args.store.as_str() {
        "sqlite" => {
            let path = args.data_dir.join("state.db");
            Arc::new(
                rkube_store::sqlite::SqliteStore::open(&path)
                    .with_context(|| format!("opening {}", path.display()))?,
            )
        }
        "memory" => Arc::new(rkube_store::memory::MemoryStore::new()),
        other => anyhow::bail!("unknown store {other:?}: use sqlite or memory"),
    };
    let config = rkube_apiserver::Config {
        data_dir: args.data_dir,
        bind: args.bind_address,
        advertise: args.advertise_address,
        service_cidr: args.service_cluster_ip_range,
        node_port_range: args.service_node_port_range,
        token_file: args.token_auth_file,
        endpoint_ip: Some(args.node.host_ip()),
        dns: None,
    };
    let dns = if args.disable_agent || args.disable_dns {
        None
    } else {
        let listen = args
            .cluster_dns_bind
            .unwrap_or_else(|| std::net::SocketAddr::new(args.node.host_ip(), 53));
        Some((node::dns_service_ip(&config.service_cidr)?, listen))
    };
    let config = rkube_apiserver::Config { dns, ..config };
    if let Some((service_ip, _)) = dns {
        if args.node.cluster_dns.is_empty() {
            args.node.cluster_dns = vec![service_ip];
        }
    }
    let server = rkube_apiserver::Server::start(config, store).await?;
    tracing::info!(addr = %server.local_addr, elapsed_ms = started.elapsed().as_millis() as u64, "API server ready");
    println!(
        "rkube API server listening on https://{}",
        server.local_addr
    );
    println!("export KUBECONFIG={}", server.kubeconfig.display());
    let data_dir = server.data_dir.clone();
    let ca_pem = server.ca_pem.clone();
    if let Some((_, listen)) = dns {
        let kc = data_dir.join("admin.kubeconfig");
        let domain = args.node.cluster_domain.clone();
        supervise("dns", move || {
            let (kc, domain) = (kc.clone(), domain.clone());
            async move {
                let client = rkube_client::from_kubeconfig(&kc)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut config = rkube_dns::DnsConfig::new(vec![listen]);
                config.cluster_domain = domain;
                rkube_dns::run(client, config)
                    .await
                    .map_err(|e| e.to_string())
            }
        });
    }
    let agent = if args.disable_agent {
        None
    } else {
        let creds = server.node_credentials(&args.node.node_name(), &args.node.serving_hosts())?;
        let tls = args
            .node
            .tls(creds.serving_cert, creds.serving_key, creds.ca_pem);
        let config = args.node.kubelet_config(&data_dir, tls)?;
        Some((creds.kubeconfig, config, args.node.runtime(&data_dir)?))
    };
    let serving = tokio::spawn(server.serve());
    if !args.disable_controllers {
        let scheduler_kc = data_dir.join("scheduler.kubeconfig");
        supervise("scheduler", move || {
            let kc = scheduler_kc.clone();
            async move {
                let client = rkube_client::from_kubeconfig(&kc)
                    .await
                    .map_err(|e| e.to_string())?;
                rkube_scheduler::run(client, Default::default())
                    .await
                    .map_err(|e| e.to_string())
            }
        });
        let cm_kc = data_dir.join("controller-manager.kubeconfig");
        let options = rkube_controllers::Options {
            cluster_cidr: args.cluster_cidr.clone(),
            root_ca_pem: ca_pem,
            node_monitor_grace: args.node_monitor_grace_period,
            ..Default::default()
        };
        supervise("controller-manager", move || {
            let (kc, options) = (cm_kc.clone(), options.clone());
            async move {
                let client = rkube_client::from_kubeconfig(&kc)
                    .await
                    .map_err(|e| e.to_string())?;
                rkube_controllers::run(client, options)
                    .await
                    .map_err(|e| e.to_string())
            }
        });
    }
    if args.sim_nodes > 0 {
        let kc = data_dir.join("admin.kubeconfig");
        let count = args.sim_nodes;
        supervise("sim-nodes", move || {
            let kc = kc.clone();
            async move {
                let client = rkube_client::from_kubeconfig(&kc)
                    .await
                    .map_err(|e| e.to_string())?;
                let options = rkube_sim::Options {
                    count,
                    ..Default::default()
                };
                rkube_sim::run(client, options)
                    .await
                    .map_err(|e| e.to_string())
            }
        });
    }
    if !args.disable_agent && !args.node.disable_kube_proxy {
        let kc = data_dir.join("admin.kubeconfig");
        let client = rkube_client::from_kubeconfig(&kc).await?;
        node::spawn_proxy(client, args.node.proxy_config(&args.cluster_cidr));
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let agent = agent.map(|(kc, config, runtime)| {
        tokio::spawn(async move {
            loop {
                let run = async {
                    let client = rkube_client::from_kubeconfig(&kc).await?;
                    rkube_kubelet::agent::run(
                        client,
                        config.clone(),
                        runtime.clone(),
                        stopped.clone(),
                    )
                    .await?;
                    anyhow::Ok(())
                };
                match run.await {
                    Ok(()) => return,
                    Err(e) => tracing::error!(error = %e, "node agent failed; restarting"),
                }
                if *stopped.borrow() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        })
    });
    tokio::select! {
        served = serving => served??,
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            let _ = stop.send(true);
            if let Some(agent) = agent {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(20), agent).await;
            }
        }
    }
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn client(kubeconfig: &std::path::Path) -> anyhow::Result<kube::Client> {
    Ok(rkube_client::from_kubeconfig(kubeconfig).await?)
}

/// mimalloc instead of glibc malloc: request handling allocates and frees many small
/// JSON nodes per request, and glibc's arenas spent a quarter of the server's CPU there.
/// Built with `no_thp` (workspace Cargo.toml): mimalloc otherwise asks for transparent huge
/// pages, and zeroing a fresh 2 MiB page on each first touch took 10-15 % of the
/// scheduler's CPU while it worked through a backlog.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RKUBE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal, not in a redirected log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Server(args) => server(args).await,
            Command::Scheduler(args) => Ok(rkube_scheduler::run(
                client(&args.kubeconfig).await?,
                Default::default(),
            )
            .await?),
            Command::ControllerManager(args) => {
                let root_ca_pem = match &args.root_ca_file {
                    Some(p) => {
                        std::fs::read_to_string(p).with_context(|| p.display().to_string())?
                    }
                    None => String::new(),
                };
                let options = rkube_controllers::Options {
                    cluster_cidr: args.cluster_cidr,
                    root_ca_pem,
                    ..Default::default()
                };
                Ok(rkube_controllers::run(client(&args.kubeconfig).await?, options).await?)
            }
            Command::SimNodes(args) => {
                let options = rkube_sim::Options {
                    count: args.count,
                    name_prefix: args.name_prefix,
                    cpu: args.cpu,
                    memory: args.memory,
                    max_pods: args.max_pods,
                };
                Ok(rkube_sim::run(client(&args.kubeconfig).await?, options).await?)
            }
            Command::Kubelet(args) => node::kubelet(args).await,
            Command::Images(args) => node::images(args).await,
            Command::Proxy(args) => node::proxy(args).await,
        }
    })
}
