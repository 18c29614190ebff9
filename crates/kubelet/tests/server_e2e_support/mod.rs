//! Set-up for server_e2e: containerd with one bootcamp pod labelled the way the kubelet
//! labels pods, the node API on a random port, and TLS clients with and without a
//! certificate from the test CA. Everything started is removed again, also on failure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rkube_cri::{api, host, Containerd, ContainerdOptions, RuntimeClient};
use rkube_kubelet::{meta, KubeletConfig, ServerTls};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::client::TlsStream;

pub const NS: &str = "default";
pub const POD: &str = "bootcamp";
const BOOTCAMP: &str = "gcr.io/google-samples/kubernetes-bootcamp:v1";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn require_runtime() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap();
    assert_eq!(
        euid, "0",
        "the node API test drives containerd and must run as root"
    );
    for program in ["containerd", "ctr", "runc"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{program} is not installed: run scripts/install-runtime.sh"
        );
    }
    assert!(
        Path::new("/usr/lib/cni/bridge").exists(),
        "the CNI plugins are not installed: run scripts/install-runtime.sh"
    );
}

/// One blocking HTTP GET straight to the pod (to make the app log a line).
pub fn http_get(ip: &str, port: u16) -> std::io::Result<String> {
    let addr: SocketAddr = format!("{ip}:{port}")
        .parse()
        .map_err(std::io::Error::other)?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET / HTTP/1.0\r\nHost: {ip}\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}

/// Removes what the run leaves on the host, also when an assertion failed half-way.
struct HostCleanup {
    data: PathBuf,
    bridge: String,
    cgroup: String,
}

impl Drop for HostCleanup {
    fn drop(&mut self) {
        let runc_root = self.data.join("runc/k8s.io");
        if let Ok(out) = Command::new("runc")
            .arg("--root")
            .arg(&runc_root)
            .args(["list", "-q"])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.is_empty())
            {
                let _ = Command::new("runc")
                    .arg("--root")
                    .arg(&runc_root)
                    .args(["delete", "--force", id])
                    .output();
            }
        }
        let socket = self.data.join("containerd/containerd.sock");
        let needle = socket.to_string_lossy().into_owned();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for pid in entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| *pid != std::process::id())
            {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&needle) {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .output();
                }
            }
        }
        let _ = host::delete_link(&self.bridge);
        let _ = host::unmount_below(&self.data);
        let _ = host::remove_cgroup(&self.cgroup);
    }
}

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "rkube-test-ca");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca, &ca_key);
    let leaf = |names: Vec<String>, cn: &str, eku| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![eku];
        let cert = p.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        "kubelet",
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(
        Vec::new(),
        "kube-apiserver-kubelet-client",
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    Pki {
        ca_pem: ca_cert.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
    }
}

pub struct Node {
    pub pod_ip: String,
    addr: SocketAddr,
    pki: Pki,
    cri: RuntimeClient,
    containerd: Option<Containerd>,
    pod_id: String,
    server: tokio::task::JoinHandle<()>,
    cleanup: Option<HostCleanup>,
    _images: tempfile::TempDir,
    data: Option<tempfile::TempDir>,
}

/// A streamed response body read chunk by chunk.
pub struct Stream(Incoming);

impl Stream {
    /// The next chunk, `None` when nothing came within `wait`; panics if the body ended.
    pub async fn next_chunk(&mut self, wait: Duration) -> Option<Bytes> {
        let frame = tokio::time::timeout(wait, self.0.frame()).await.ok()?;
        let frame = frame.expect("the streamed body ended").unwrap();
        frame.into_data().ok()
    }
}

impl Node {
    pub async fn start() -> Node {
        require_runtime();
        let images = tempfile::tempdir().unwrap();
        let built = Command::new("bash")
            .arg(repo_root().join("images/build.sh"))
            .arg(images.path())
            .output()
            .expect("run images/build.sh");
        assert!(
            built.status.success(),
            "images/build.sh failed: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        // Short path: containerd's socket must fit in sun_path.
        let data_tmp = tempfile::Builder::new()
            .prefix("rksrv")
            .tempdir_in("/tmp")
            .unwrap();
        let data = data_tmp.path().to_path_buf();
        let pid = std::process::id();
        let uid = format!("srv-test-{pid}");
        let cgroup_top = format!("/rkube-srv-test-{pid}");
        let cleanup = HostCleanup {
            data: data.clone(),
            bridge: format!("rks{}", pid % 1_000_000),
            cgroup: cgroup_top.clone(),
        };
        let options = ContainerdOptions {
            bridge: cleanup.bridge.clone(),
            pod_subnet: format!("10.249.{}.0/24", 100 + pid % 150),
            start_timeout: Duration::from_secs(60),
            call_timeout: Duration::from_secs(60),
            ..ContainerdOptions::default()
        };
        let containerd = Containerd::start(&data, options).await.unwrap();
        for tar in ["pause-3.9.tar", "bootcamp-v1.tar"] {
            containerd
                .import_image(&images.path().join(tar))
                .await
                .unwrap();
        }
        let cri = containerd.client();
        let config = KubeletConfig::new("server-test", &data);
        let log_dir = meta::pod_log_dir(&config.pod_log_dir, NS, POD, &uid);
        std::fs::create_dir_all(&log_dir).unwrap();
        let labels = |container: Option<&str>| {
            let mut l = std::collections::HashMap::from([
                (meta::POD_NAME.to_string(), POD.to_string()),
                (meta::POD_NAMESPACE.to_string(), NS.to_string()),
                (meta::POD_UID.to_string(), uid.clone()),
            ]);
            if let Some(c) = container {
                l.insert(meta::CONTAINER_NAME.to_string(), c.to_string());
            }
            l
        };
        let sandbox = api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: POD.into(),
                uid: uid.clone(),
                namespace: NS.into(),
                attempt: 0,
            }),
            hostname: "bootcamp-pod".into(),
            log_directory: log_dir.to_string_lossy().into_owned(),
            labels: labels(None),
            linux: Some(api::LinuxPodSandboxConfig {
                cgroup_parent: format!("{cgroup_top}/pod{uid}"),
                ..Default::default()
            }),
            ..Default::default()
        };
        let pod_id = cri.run_pod_sandbox(sandbox.clone(), "").await.unwrap();
        let container = api::ContainerConfig {
            metadata: Some(api::ContainerMetadata {
                name: "bootcamp".into(),
                attempt: 0,
            }),
            image: Some(api::ImageSpec {
                image: BOOTCAMP.into(),
                ..Default::default()
            }),
            envs: vec![api::KeyValue {
                key: "RKUBE_TEST".into(),
                value: "server".into(),
            }],
            labels: labels(Some("bootcamp")),
            annotations: [(meta::CONTAINER_RESTART_COUNT.to_string(), "0".to_string())].into(),
            log_path: meta::container_log_path("bootcamp", 0),
            linux: Some(api::LinuxContainerConfig::default()),
            ..Default::default()
        };
        let ctr = cri
            .create_container(&pod_id, container, sandbox)
            .await
            .unwrap();
        cri.start_container(&ctr).await.unwrap();
        let pod_ip = cri
            .pod_sandbox_status(&pod_id, false)
            .await
            .unwrap()
            .status
            .and_then(|s| s.network)
            .map(|n| n.ip)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let log = log_dir.join("bootcamp/0.log");
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Started At")
        {
            assert!(Instant::now() < deadline, "bootcamp did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let pki = pki();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = ServerTls {
            bind: addr,
            cert_pem: pki.server_cert.clone(),
            key_pem: pki.server_key.clone(),
            client_ca_pem: pki.ca_pem.clone(),
        };
        let runtime = cri.clone();
        let server = tokio::spawn(async move {
            let r = rkube_kubelet::server::serve_on(listener, tls, Arc::new(config), runtime).await;
            panic!("node API ended: {r:?}");
        });
        Node {
            pod_ip,
            addr,
            pki,
            cri,
            containerd: Some(containerd),
            pod_id,
            server,
            cleanup: Some(cleanup),
            _images: images,
            data: Some(data_tmp),
        }
    }

    pub async fn connect(&self, with_cert: bool) -> TlsStream<tokio::net::TcpStream> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut self.pki.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if with_cert {
            let chain: Vec<CertificateDer<'static>> =
                rustls_pemfile::certs(&mut self.pki.client_cert.as_bytes())
                    .map(Result::unwrap)
                    .collect();
            let key: PrivateKeyDer<'static> =
                rustls_pemfile::private_key(&mut self.pki.client_key.as_bytes())
                    .unwrap()
                    .unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        } else {
            builder.with_no_client_auth()
        };
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap()
    }

    async fn request(&self, path: &str, with_cert: bool) -> hyper::Response<Incoming> {
        let tls = self.connect(with_cert).await;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header("host", "127.0.0.1")
            .body(Empty::<Bytes>::new())
            .unwrap();
        sender.send_request(req).await.unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self.request(path, true).await;
        let code = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (code, String::from_utf8_lossy(&body).into_owned())
    }

    pub async fn get_anonymous(&self, path: &str) -> (u16, String) {
        let resp = self.request(path, false).await;
        let code = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (code, String::from_utf8_lossy(&body).into_owned())
    }

    pub async fn get_stream(&self, path: &str) -> Stream {
        let resp = self.request(path, true).await;
        assert_eq!(resp.status(), 200);
        Stream(resp.into_body())
    }

    /// Removes the pod, stops containerd and checks nothing of ours is left.
    pub async fn stop(mut self) {
        self.server.abort();
        for c in self.cri.list_containers(None).await.unwrap() {
            self.cri
                .stop_container(&c.id, Duration::from_secs(5))
                .await
                .unwrap();
            self.cri.remove_container(&c.id).await.unwrap();
        }
        self.cri.stop_pod_sandbox(&self.pod_id).await.unwrap();
        self.cri.remove_pod_sandbox(&self.pod_id).await.unwrap();
        if let Some(c) = self.containerd.take() {
            c.shutdown().await;
        }
        let cleanup = self.cleanup.take().unwrap();
        assert!(
            host::delete_link(&cleanup.bridge).unwrap(),
            "bridge was not there"
        );
        host::unmount_below(&cleanup.data).unwrap();
        drop(cleanup);
        if let Some(d) = self.data.take() {
            d.close().unwrap();
        }
    }
}
