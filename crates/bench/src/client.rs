//! A minimal HTTPS client that keeps its connection open: one TLS connection (admin client
//! certificate) per simulated client, HTTP/1.1 keep-alive, so the benchmark measures the
//! server's request path and not handshakes.

use crate::error::{BenchError, Result};
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// TLS settings and address shared by every connection to one server.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
    pub addr: SocketAddr,
}

fn read_pem(path: &Path) -> Result<BufReader<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(|e| BenchError::io(path, e))?;
    Ok(BufReader::new(file))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = rustls_pemfile::certs(&mut read_pem(path)?)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| BenchError::io(path, e))?;
    if certs.is_empty() {
        return Err(BenchError::Pem(path.to_path_buf()));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut read_pem(path)?)
        .map_err(|e| BenchError::io(path, e))?
        .ok_or_else(|| BenchError::Pem(path.to_path_buf()))
}

impl Tls {
    /// Client settings from the server's `pki` directory (admin cert, key and CA).
    pub fn load(pki: &Path, addr: SocketAddr) -> Result<Self> {
        let mut roots = RootCertStore::empty();
        for cert in certs(&pki.join("ca.crt"))? {
            roots.add(cert)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs(&pki.join("admin.crt"))?, key(&pki.join("admin.key"))?)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            name: ServerName::from(addr.ip()),
            addr,
        })
    }

    pub async fn connect(&self) -> Result<Conn> {
        let tcp = TcpStream::connect(self.addr).await?;
        // Small request/response pairs: Nagle would add delayed-ACK stalls to every one.
        tcp.set_nodelay(true)?;
        let tls = self.connector.connect(self.name.clone(), tcp).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(async move {
            // The connection ends when the sender is dropped or the server closes it;
            // either way the owning client sees the error on its next request.
            let _ = conn.await;
        });
        Ok(Conn { sender })
    }
}

/// One open connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<hyper::Response<Incoming>> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1")
            .header(header::ACCEPT, "application/json");
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        self.sender.ready().await?;
        Ok(self.sender.send_request(req).await?)
    }

    /// A complete request; the whole body is read so the connection can be reused.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes)> {
        let resp = self.send(method, path, body).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Like [`Conn::request`] but any non-2xx answer is an error.
    pub async fn expect_ok(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Bytes> {
        let (status, bytes) = self.request(method.clone(), path, body).await?;
        if !status.is_success() {
            return Err(BenchError::Status {
                method: method.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
            });
        }
        Ok(bytes)
    }

    /// Starts a streaming GET (a watch); the caller reads the body frame by frame.
    pub async fn stream(&mut self, path: &str) -> Result<Incoming> {
        let resp = self.send(Method::GET, path, None).await?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await?.to_bytes();
            return Err(BenchError::Status {
                method: "GET".into(),
                path: path.into(),
                status,
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
            });
        }
        Ok(resp.into_body())
    }
}
