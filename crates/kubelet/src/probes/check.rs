//! One probe attempt: httpGet, tcpSocket or exec (upstream pkg/probe/{http,tcp,exec}).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rkube_cri::RuntimeClient;
use tokio::net::TcpStream;

/// What one attempt concluded. `Unknown` (the probe could not be run) changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure(String),
    Unknown(String),
}

/// A probe's action, resolved against the container (named ports) and the pod IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Http {
        https: bool,
        addr: SocketAddr,
        /// Host header: an httpHeaders "Host" entry, else the address.
        host: String,
        path: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        addr: SocketAddr,
    },
    Exec {
        command: Vec<String>,
    },
    /// The probe cannot run (unresolvable port, unsupported handler): why.
    Invalid(String),
}

const USER_AGENT: &str = "kube-probe/1.33";

fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => match s.parse::<i32>() {
            Ok(n) => n,
            Err(_) => container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(s.as_str()))
                .map(|p| p.container_port)
                .ok_or_else(|| format!("couldn't find port: {s} in {}", container.name))?,
        },
    };
    u16::try_from(number)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port number: {number}"))
}

fn resolve_host(host: Option<&str>, pod_ip: Option<IpAddr>) -> Result<IpAddr, String> {
    match host.filter(|h| !h.is_empty()) {
        Some(h) => h
            .parse()
            .map_err(|_| format!("probe host {h:?} is not an IP address")),
        None => pod_ip.ok_or_else(|| "the pod has no IP address yet".to_string()),
    }
}

/// Builds the action of `probe` for `container` in a pod at `pod_ip`.
pub fn action(probe: &Probe, container: &Container, pod_ip: Option<IpAddr>) -> Action {
    let build = || -> Result<Action, String> {
        if let Some(h) = &probe.http_get {
            let ip = resolve_host(h.host.as_deref(), pod_ip)?;
            let addr = SocketAddr::new(ip, resolve_port(&h.port, container)?);
            let headers: Vec<(String, String)> = h
                .http_headers
                .iter()
                .flatten()
                .map(|hh| (hh.name.clone(), hh.value.clone()))
                .collect();
            let host = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("host"))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| addr.to_string());
            let mut path = h.path.clone().unwrap_or_default();
            if !path.starts_with('/') {
                path.insert(0, '/');
            }
            return Ok(Action::Http {
                https: h
                    .scheme
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case("https")),
                addr,
                host,
                path,
                headers,
            });
        }
        if let Some(t) = &probe.tcp_socket {
            let ip = resolve_host(t.host.as_deref(), pod_ip)?;
            return Ok(Action::Tcp {
                addr: SocketAddr::new(ip, resolve_port(&t.port, container)?),
            });
        }
        if let Some(e) = &probe.exec {
            return Ok(Action::Exec {
                command: e.command.clone().unwrap_or_default(),
            });
        }
        if probe.grpc.is_some() {
            return Err("grpc probes are not supported by this kubelet".into());
        }
        Err("missing probe handler".into())
    };
    build().unwrap_or_else(Action::Invalid)
}

/// Go's dial error wording, which users see in events.
fn dial_error(addr: SocketAddr, e: &std::io::Error) -> String {
    let what = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => format!("connect: {e}"),
    };
    format!("dial tcp {addr}: {what}")
}

async fn tcp(addr: SocketAddr, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Outcome::Success,
        Ok(Err(e)) => Outcome::Failure(dial_error(addr, &e)),
        Err(_) => Outcome::Failure(format!("dial tcp {addr}: i/o timeout")),
    }
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    // Probes serve self-signed certificates: like upstream, nothing is verified.
    let config = rkube_tls::unverified_server()
        .map_err(|e| e.to_string())?
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn send<S>(io: S, request: http::Request<String>) -> Result<u16, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let result = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string());
    driver.abort();
    // The body is not read: only the status counts.
    result.map(|r| r.status().as_u16())
}

async fn http_get(
    https: bool,
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(String, String)],
) -> Outcome {
    let scheme = if https { "https" } else { "http" };
    let url = format!("{scheme}://{addr}{path}");
    let mut builder = http::Request::get(path)
        .header(http::header::HOST, host)
        .header(http::header::ACCEPT, "*/*")
        .header(http::header::USER_AGENT, USER_AGENT)
        .header(http::header::CONNECTION, "close");
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("host") {
            continue;
        }
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = match builder.body(String::new()) {
        Ok(r) => r,
        Err(e) => return Outcome::Unknown(format!("invalid probe request: {e}")),
    };
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Outcome::Failure(format!("Get \"{url}\": {}", dial_error(addr, &e))),
    };
    let status = if https {
        let connector = match tls_connector() {
            Ok(c) => c,
            Err(e) => return Outcome::Unknown(e),
        };
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        match connector.connect(name, stream).await {
            Ok(tls) => send(tls, request).await,
            Err(e) => Err(e.to_string()),
        }
    } else {
        send(stream, request).await
    };
    match status {
        // Redirects are not followed; like upstream's redirect to another host, a 3xx
        // counts as success.
        Ok(code) if (200..400).contains(&code) => Outcome::Success,
        Ok(code) => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
        Err(e) => Outcome::Failure(format!("Get \"{url}\": {e}")),
    }
}

async fn exec(
    runtime: &RuntimeClient,
    container_id: &str,
    command: &[String],
    timeout: Duration,
) -> Outcome {
    match runtime
        .exec_sync(container_id, command.to_vec(), timeout)
        .await
    {
        Ok(resp) => {
            let mut output = String::from_utf8_lossy(&resp.stdout).into_owned();
            output.push_str(&String::from_utf8_lossy(&resp.stderr));
            if resp.exit_code == 0 {
                Outcome::Success
            } else if output.is_empty() {
                Outcome::Failure(format!(
                    "command {:?} exited with {}",
                    command.join(" "),
                    resp.exit_code
                ))
            } else {
                Outcome::Failure(output)
            }
        }
        Err(rkube_cri::CriError::Timeout { .. }) => {
            Outcome::Failure(format!("command {:?} timed out", command.join(" ")))
        }
        Err(e) => Outcome::Unknown(e.to_string()),
    }
}

/// Runs one attempt, bounded by `timeout`.
pub async fn run(
    action: &Action,
    runtime: &RuntimeClient,
    container_id: &str,
    timeout: Duration,
) -> Outcome {
    match action {
        Action::Tcp { addr } => tcp(*addr, timeout).await,
        Action::Http {
            https,
            addr,
            host,
            path,
            headers,
        } => {
            let url = format!("{}://{addr}{path}", if *https { "https" } else { "http" });
            match tokio::time::timeout(timeout, http_get(*https, *addr, host, path, headers)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Failure(format!(
                    "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                )),
            }
        }
        Action::Exec { command } => exec(runtime, container_id, command, timeout).await,
        Action::Invalid(why) => Outcome::Unknown(why.clone()),
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
pub(crate) mod tests;
