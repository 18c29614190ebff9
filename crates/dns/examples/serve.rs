//! Runs cluster DNS against an API server: `serve KUBECONFIG LISTEN [UPSTREAM]`.
//! For trying the watch path by hand (e.g. `serve admin.kubeconfig 127.0.0.1:5353`).

use std::net::SocketAddr;
use std::path::PathBuf;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let kubeconfig = PathBuf::from(
        args.next()
            .ok_or("usage: serve KUBECONFIG LISTEN [UPSTREAM]")?,
    );
    let listen: SocketAddr = args.next().ok_or("missing LISTEN")?.parse()?;
    let client = rkube_client::from_kubeconfig(&kubeconfig).await?;
    let mut config = rkube_dns::DnsConfig::new(vec![listen]);
    if let Some(up) = args.next() {
        config.upstream = vec![up.parse()?];
    }
    rkube_dns::run(client, config).await?;
    Ok(())
}
