//! The node API on 10250 (upstream pkg/kubelet/server): health, container logs, exec,
//! attach and port-forward, served over HTTPS to clients holding a certificate from the
//! cluster CA. Streams are terminated here in whatever protocol the client speaks and
//! bridged to the CRI runtime's streaming server.
//!
//! Map: `route` (paths and queries), `response` (bodies and Status errors), `tls`,
//! `lookup` (finding sandboxes and containers by CRI labels), `logs`, `exec` (exec and
//! attach), `portforward`, `pods` (the /pods listing).

mod exec;
mod logs;
mod lookup;
mod pods;
mod portforward;
mod response;
mod route;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rkube_cri::RuntimeClient;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::{KubeletConfig, ServerTls};
use crate::error::{Error, Result};
pub use logs::parse as log_format;
use response::Body;
pub use route::{PodRef, Route};

/// A client gets this long to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct Server {
    runtime: RuntimeClient,
}

/// Serves the node API until the process ends (or the listener fails).
pub async fn serve(
    tls: ServerTls,
    config: Arc<KubeletConfig>,
    runtime: RuntimeClient,
) -> Result<()> {
    let listener = TcpListener::bind(tls.bind)
        .await
        .map_err(|e| Error::Other(format!("node API: cannot listen on {}: {e}", tls.bind)))?;
    serve_on(listener, tls, config, runtime).await
}

/// Like [`serve`] on a listener the caller bound (tests bind port 0 and read the address).
pub async fn serve_on(
    listener: TcpListener,
    tls: ServerTls,
    _config: Arc<KubeletConfig>,
    runtime: RuntimeClient,
) -> Result<()> {
    let acceptor = TlsAcceptor::from(tls::server_config(&tls)?);
    let server = Server { runtime };
    tracing::info!(addr = ?listener.local_addr().ok(), "node API listening");
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "node API: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "node API: TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let authenticated = stream
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty());
            let service = hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, std::convert::Infallible>(server.handle(req, authenticated).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "node API: connection ended with error");
            }
        });
    }
}

impl Server {
    async fn handle(&self, req: Request<Incoming>, authenticated: bool) -> Response<Body> {
        if !authenticated {
            return response::text(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        let route = Route::parse(req.uri().path());
        let query = route::Query::parse(req.uri().query());
        let method = req.method().clone();
        match route {
            Route::Healthz => response::text(StatusCode::OK, "ok"),
            Route::NotFound => response::text(StatusCode::NOT_FOUND, "404 page not found"),
            Route::Pods | Route::ContainerLogs { .. } if method != Method::GET => {
                method_not_allowed()
            }
            Route::Pods => pods::handle(&self.runtime).await,
            Route::ContainerLogs { pod, container } => {
                logs::handle(&self.runtime, &pod, &container, &query).await
            }
            Route::Exec { pod, container } => {
                exec::handle(&self.runtime, req, pod, container, query, exec::Kind::Exec).await
            }
            Route::Attach { pod, container } => {
                exec::handle(
                    &self.runtime,
                    req,
                    pod,
                    container,
                    query,
                    exec::Kind::Attach,
                )
                .await
            }
            Route::PortForward { pod } => portforward::handle(&self.runtime, req, pod, query).await,
        }
    }
}

fn method_not_allowed() -> Response<Body> {
    let mut r = response::text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    r.headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
    r
}
