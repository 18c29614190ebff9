//! The node API's TLS set-up: our serving certificate, and client certificates verified
//! against the cluster CA. A client without a certificate still completes the handshake so
//! it can be told 401 over HTTP, as upstream's kubelet answers anonymous requests.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::ServerTls;
use crate::error::{Error, Result};

fn certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Other(format!("node API: bad {what} PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Other(format!("node API: no certificate in {what}")));
    }
    Ok(certs)
}

fn key(pem: &str) -> Result<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .map_err(|e| Error::Other(format!("node API: bad key PEM: {e}")))?
        .ok_or_else(|| Error::Other("node API: no private key in key PEM".into()))
}

/// Builds the rustls configuration from the kubelet's TLS settings.
pub fn server_config(tls: &ServerTls) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in certs(&tls.client_ca_pem, "client CA")? {
        roots
            .add(ca)
            .map_err(|e| Error::Other(format!("node API: bad client CA: {e}")))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| Error::Other(format!("node API: client verifier: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Other(format!("node API: TLS versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certs(&tls.cert_pem, "serving certificate")?,
            key(&tls.key_pem)?,
        )
        .map_err(|e| Error::Other(format!("node API: serving certificate: {e}")))?;
    // HTTP/1.1 only: exec, attach and port-forward need connection upgrades.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
