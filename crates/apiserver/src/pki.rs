//! The cluster's certificates: a CA made on first start, a serving certificate and an
//! admin client certificate, all kept under the data directory so a restart is the same
//! cluster.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no usable PEM content")]
    Pem(PathBuf),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("client verifier: {0}")]
    Verifier(String),
}

/// PEM texts of every certificate the server needs.
#[derive(Clone)]
pub struct Pki {
    pub ca_cert: String,
    pub ca_key: String,
    pub server_cert: String,
    pub server_key: String,
    pub admin_cert: String,
    pub admin_key: String,
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, content: &str, private: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(path, content).map_err(io)?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

fn dn(cn: &str, orgs: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    for o in orgs {
        dn.push(DnType::OrganizationName, *o);
    }
    dn
}

fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    cn: &str,
    orgs: &[&str],
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(cn, orgs);
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![usage];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a private key readable only by its owner.
pub fn write_private(path: &Path, content: &str) -> Result<(), PkiError> {
    write(path, content, true)
}

/// Issues a serving certificate signed by the cluster CA, valid for `hosts` (names or
/// IPs), e.g. for a kubelet's node API.
pub fn issue_serving_cert(
    pki: &Pki,
    cn: &str,
    hosts: &[String],
) -> Result<(String, String), PkiError> {
    let issuer = Issuer::from_ca_cert_pem(&pki.ca_cert, KeyPair::from_pem(&pki.ca_key)?)?;
    let mut sans = Vec::new();
    for h in hosts {
        match h.parse::<std::net::IpAddr>() {
            Ok(ip) => sans.push(SanType::IpAddress(ip)),
            Err(_) => sans.push(SanType::DnsName(h.clone().try_into()?)),
        }
    }
    leaf(&issuer, cn, &[], sans, ExtendedKeyUsagePurpose::ServerAuth)
}

/// Issues a client certificate signed by the cluster CA (for kubeconfigs of components).
pub fn issue_client_cert(
    pki: &Pki,
    user: &str,
    groups: &[&str],
) -> Result<(String, String), PkiError> {
    let issuer = Issuer::from_ca_cert_pem(&pki.ca_cert, KeyPair::from_pem(&pki.ca_key)?)?;
    leaf(
        &issuer,
        user,
        groups,
        vec![],
        ExtendedKeyUsagePurpose::ClientAuth,
    )
}

/// Loads the PKI from `dir`, creating whatever is missing. `hosts` are the DNS names and
/// IPs the serving certificate must be valid for.
pub fn ensure(dir: &Path, hosts: &[String]) -> Result<Pki, PkiError> {
    std::fs::create_dir_all(dir).map_err(|source| PkiError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = |n: &str| dir.join(n);
    if path("admin.crt").exists() {
        return Ok(Pki {
            ca_cert: read(&path("ca.crt"))?,
            ca_key: read(&path("ca.key"))?,
            server_cert: read(&path("server.crt"))?,
            server_key: read(&path("server.key"))?,
            admin_cert: read(&path("admin.crt"))?,
            admin_key: read(&path("admin.key"))?,
        });
    }
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = dn("rkube-ca", &[]);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut sans = Vec::new();
    for h in hosts {
        match h.parse::<std::net::IpAddr>() {
            Ok(ip) => sans.push(SanType::IpAddress(ip)),
            Err(_) => sans.push(SanType::DnsName(h.clone().try_into()?)),
        }
    }
    let (server_cert, server_key) = leaf(
        &issuer,
        "kube-apiserver",
        &[],
        sans,
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (admin_cert, admin_key) = leaf(
        &issuer,
        "kubernetes-admin",
        &["system:masters"],
        vec![],
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;
    let pki = Pki {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key_pem,
        server_cert,
        server_key,
        admin_cert,
        admin_key,
    };
    write(&path("ca.crt"), &pki.ca_cert, false)?;
    write(&path("ca.key"), &pki.ca_key, true)?;
    write(&path("server.crt"), &pki.server_cert, false)?;
    write(&path("server.key"), &pki.server_key, true)?;
    write(&path("admin.key"), &pki.admin_key, true)?;
    // Written last: its presence marks a complete set.
    write(&path("admin.crt"), &pki.admin_cert, false)?;
    Ok(pki)
}

fn certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .filter_map(Result::ok)
        .collect()
}

/// TLS settings: HTTP/2 and HTTP/1.1, client certificates optional (verified against
/// the cluster CA when sent; bearer tokens cover the rest).
pub fn server_config(pki: &Pki) -> Result<rustls::ServerConfig, PkiError> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&pki.ca_cert) {
        roots.add(c)?;
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| PkiError::Verifier(e.to_string()))?;
    let key = rustls_pemfile::private_key(&mut pki.server_key.as_bytes())
        .ok()
        .flatten()
        .ok_or_else(|| PkiError::Pem(PathBuf::from("server.key")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&pki.server_cert), key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A kubeconfig for `user` authenticating with the given client certificate.
pub fn kubeconfig(server: &str, pki: &Pki, user: &str, cert: &str, key: &str) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: rkube\ncontexts:\n- context:\n    cluster: rkube\n    user: {user}\n  name: rkube\ncurrent-context: rkube\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&pki.ca_cert),
        b64(cert),
        b64(key)
    )
}

/// Common name and organisations of a verified client certificate.
pub fn identity_of(cert_der: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())?
        .to_string();
    let orgs = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    Some((cn, orgs))
}
