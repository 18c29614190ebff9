//! Start-up and the HTTPS accept loop.

use crate::alloc::Ranges;
use crate::auth::{user_from_cert, PeerIdentity, TokenFile};
use crate::cache::WatchCache;
use crate::state::Api;
use crate::{handler, namespaces, pki};
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rkube_store::Store;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    /// Address written into the admin kubeconfig.
    pub advertise: String,
    pub service_cidr: String,
    pub node_port_range: String,
    pub token_file: Option<PathBuf>,
    /// Where pods reach the API server: the `kubernetes` service's endpoint.
    pub endpoint_ip: Option<std::net::IpAddr>,
    /// The cluster DNS service's ClusterIP and the DNS server's address.
    pub dns: Option<(std::net::IpAddr, SocketAddr)>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/rkube"),
            bind: SocketAddr::from(([0, 0, 0, 0], 6443)),
            advertise: "127.0.0.1".into(),
            service_cidr: "10.96.0.0/12".into(),
            node_port_range: "30000-32767".into(),
            token_file: None,
            endpoint_ip: None,
            dns: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    #[error(transparent)]
    Store(#[from] rkube_store::StoreError),
    #[error(transparent)]
    Range(#[from] crate::alloc::RangeError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Io { what, source }
}

/// What a node agent needs from the server it runs beside.
pub struct NodeCredentials {
    pub kubeconfig: PathBuf,
    pub serving_cert: String,
    pub serving_key: String,
    pub ca_pem: String,
}

pub struct Server {
    pub api: Arc<Api>,
    pub kubeconfig: PathBuf,
    /// PEM of the cluster CA.
    pub ca_pem: String,
    pub data_dir: PathBuf,
    pub local_addr: SocketAddr,
    server_url: String,
    pki: pki::Pki,
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

fn serving_hosts(config: &Config, service_ip: &str) -> Vec<String> {
    let mut hosts: Vec<String> = [
        "localhost",
        "127.0.0.1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    hosts.push(service_ip.to_string());
    if let Ok(name) = std::fs::read_to_string("/etc/hostname") {
        hosts.push(name.trim().to_string());
    }
    if !hosts.contains(&config.advertise) {
        hosts.push(config.advertise.clone());
    }
    hosts.retain(|h| !h.is_empty());
    hosts
}

impl Server {
    /// Opens the store, loads the cache, prepares TLS and binds the port; serving
    /// starts with [`Server::serve`].
    pub async fn start(config: Config, store: Arc<dyn Store>) -> Result<Self, ServerError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(io(config.data_dir.display().to_string()))?;
        let ranges = Ranges::new(&config.service_cidr, &config.node_port_range)?;
        let pki = pki::ensure(
            &config.data_dir.join("pki"),
            &serving_hosts(&config, &ranges.first_ip()),
        )?;
        let tokens = match &config.token_file {
            Some(p) => TokenFile::load(p).map_err(io(p.display().to_string()))?,
            None => TokenFile::default(),
        };
        let signer = crate::tokens::TokenSigner::load_or_create(&config.data_dir.join("pki"))?;
        let (kubelet_cert, kubelet_key) =
            pki::issue_client_cert(&pki, "kube-apiserver-kubelet-client", &["system:masters"])?;
        let kubelet = crate::proxy::KubeletClient::new(
            crate::proxy::kubelet_tls(&kubelet_cert, &kubelet_key)
                .map_err(pki::PkiError::Verifier)?,
        );
        let cache = WatchCache::start(store.clone()).await?;
        let endpoints: Vec<rkube_openapi::ResourceEndpoint> = rkube_api::resources()
            .iter()
            .filter(|r| r.is_stored())
            .map(|r| rkube_openapi::ResourceEndpoint {
                group: r.group.into(),
                version: r.version.into(),
                kind: r.kind.into(),
                plural: r.plural.into(),
                namespaced: r.namespaced,
                subresources: r.subresources.iter().map(|s| s.name.to_string()).collect(),
            })
            .collect();
        let api = Arc::new(Api {
            store,
            cache,
            openapi: std::sync::OnceLock::new(),
            openapi_endpoints: endpoints,
            ranges,
            tokens,
            signer,
            kubelet,
            service_lock: tokio::sync::Mutex::new(()),
            quota_lock: tokio::sync::Mutex::new(()),
        });
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(io(format!("binding {}", config.bind)))?;
        let local_addr = listener.local_addr().map_err(io("local address"))?;
        let built_ins = namespaces::BuiltIns {
            endpoint_ip: config.endpoint_ip,
            apiserver_port: local_addr.port(),
            dns: config.dns,
        };
        namespaces::bootstrap(&api, &built_ins).await?;
        let server_url = format!("https://{}:{}", config.advertise, local_addr.port());
        let kubeconfig = config.data_dir.join("admin.kubeconfig");
        let text = pki::kubeconfig(&server_url, &pki, "admin", &pki.admin_cert, &pki.admin_key);
        std::fs::write(&kubeconfig, text).map_err(io(kubeconfig.display().to_string()))?;
        for (file, user) in [
            ("scheduler.kubeconfig", "system:kube-scheduler"),
            (
                "controller-manager.kubeconfig",
                "system:kube-controller-manager",
            ),
        ] {
            // Rewritten every start: the address may have changed.
            let path = config.data_dir.join(file);
            let (cert, key) = pki::issue_client_cert(&pki, user, &[])?;
            let text = pki::kubeconfig(&server_url, &pki, user, &cert, &key);
            std::fs::write(&path, text).map_err(io(path.display().to_string()))?;
        }
        let tls = pki::server_config(&pki)?;
        let server_url = server_url.clone();
        Ok(Self {
            api,
            kubeconfig,
            ca_pem: pki.ca_cert.clone(),
            data_dir: config.data_dir.clone(),
            local_addr,
            server_url,
            pki,
            listener,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
        })
    }

    /// Credentials for the node agent running beside this server: a kubeconfig for
    /// `system:node:<node>` (written to `kubelet.kubeconfig`) and a serving certificate
    /// for its node API valid for `hosts`.
    pub fn node_credentials(
        &self,
        node: &str,
        hosts: &[String],
    ) -> Result<NodeCredentials, ServerError> {
        let user = format!("system:node:{node}");
        let (cert, key) = pki::issue_client_cert(&self.pki, &user, &["system:nodes"])?;
        let kubeconfig = self.data_dir.join("kubelet.kubeconfig");
        let text = pki::kubeconfig(&self.server_url, &self.pki, &user, &cert, &key);
        std::fs::write(&kubeconfig, text).map_err(io(kubeconfig.display().to_string()))?;
        let (serving_cert, serving_key) = pki::issue_serving_cert(&self.pki, node, hosts)?;
        Ok(NodeCredentials {
            kubeconfig,
            serving_cert,
            serving_key,
            ca_pem: self.pki.ca_cert.clone(),
        })
    }

    pub async fn serve(self) -> Result<(), ServerError> {
        tokio::spawn(compact_loop(self.api.clone()));
        loop {
            let (tcp, _) = match self.listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = self.acceptor.clone();
            let api = self.api.clone();
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::debug!(error = %e, "TLS handshake");
                        return;
                    }
                };
                let peer = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| user_from_cert(c));
                let identity = PeerIdentity(peer);
                let service =
                    hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                        let api = api.clone();
                        req.extensions_mut().insert(identity.clone());
                        async move {
                            Ok::<_, Infallible>(handler::handle(api, req.map(Body::new)).await)
                        }
                    });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                if let Err(e) = builder
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await
                {
                    tracing::debug!(error = %e, "connection");
                }
            });
        }
    }
}

/// Keeps the store's revision log bounded; the watch cache holds the history watchers
/// resume from.
async fn compact_loop(api: Arc<Api>) {
    const KEEP: i64 = 10_000;
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let target = api.store.current_revision() - KEEP;
        if target > api.store.compacted_revision() {
            if let Err(e) = api.store.compact(target).await {
                tracing::warn!(error = %e, "compaction");
            }
        }
    }
}
