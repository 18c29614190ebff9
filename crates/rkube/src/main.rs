//! The rkube binary: one executable, one subcommand per role.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

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
    /// Run the control plane: API server over the embedded store.
    Server(ServerArgs),
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
    /// Static bearer tokens, upstream's CSV format: token,user,uid,"group1,group2".
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Storage backend: `sqlite` (durable, default) or `memory` (lost on exit).
    #[arg(long, default_value = "sqlite")]
    store: String,
}

async fn server(args: ServerArgs) -> anyhow::Result<()> {
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
    };
    let server = rkube_apiserver::Server::start(config, store).await?;
    tracing::info!(addr = %server.local_addr, elapsed_ms = started.elapsed().as_millis() as u64, "API server ready");
    println!(
        "rkube API server listening on https://{}",
        server.local_addr
    );
    println!("export KUBECONFIG={}", server.kubeconfig.display());
    server.serve().await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RKUBE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Server(args) => server(args).await,
        }
    })
}
