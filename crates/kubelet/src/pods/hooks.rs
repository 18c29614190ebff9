//! postStart and preStop lifecycle handlers: exec (through CRI ExecSync), httpGet (a
//! plain HTTP/1.1 GET to the pod) and sleep.

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rkube_cri::RuntimeClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The numeric port of an IntOrString, resolving names through containerPorts.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).ok(),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .or_else(|| name.parse().ok()),
    }
}

async fn http_get(host: &str, port: u16, path: &str, timeout: Duration) -> Result<(), String> {
    let fut = async {
        let mut stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| e.to_string())?;
        let path = if path.is_empty() { "/" } else { path };
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-lifecycle/1.33\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await.map_err(|e| e.to_string())?;
        let line = String::from_utf8_lossy(&head[..n]).to_string();
        let code: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("malformed HTTP response {line:?}"))?;
        if (200..400).contains(&code) {
            Ok(())
        } else {
            Err(format!(
                "HTTP lifecycle hook ({path}) for Container in Pod failed with statuscode: {code}"
            ))
        }
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| "timeout".to_string())?
}

/// Runs a handler; the error text is what the FailedPostStartHook/FailedPreStopHook
/// event shows.
pub async fn run(
    runtime: &RuntimeClient,
    handler: &LifecycleHandler,
    container: &Container,
    container_id: &str,
    pod_ip: Option<IpAddr>,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(exec) = &handler.exec {
        let cmd = exec.command.clone().unwrap_or_default();
        let resp = runtime
            .exec_sync(container_id, cmd.clone(), timeout)
            .await
            .map_err(|e| e.to_string())?;
        if resp.exit_code != 0 {
            return Err(format!(
                "Exec lifecycle hook ({cmd:?}) for Container \"{}\" failed - error: command '{}' exited with {}: {}",
                container.name,
                cmd.join(" "),
                resp.exit_code,
                String::from_utf8_lossy(&resp.stderr).trim()
            ));
        }
        return Ok(());
    }
    if let Some(get) = &handler.http_get {
        let host = get
            .host
            .clone()
            .or_else(|| pod_ip.map(|ip| ip.to_string()))
            .unwrap_or_else(|| "127.0.0.1".into());
        let port = resolve_port(&get.port, container).ok_or("invalid port")?;
        return http_get(&host, port, get.path.as_deref().unwrap_or("/"), timeout).await;
    }
    if let Some(sleep) = &handler.sleep {
        let secs = u64::try_from(sleep.seconds).unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(secs).min(timeout)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ContainerPort;

    #[test]
    fn named_ports_resolve_through_container_ports() {
        let c = Container {
            name: "c".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Some(8080)
        );
        assert_eq!(resolve_port(&IntOrString::Int(81), &c), Some(81));
        assert_eq!(resolve_port(&IntOrString::String("nope".into()), &c), None);
    }

    #[tokio::test]
    async fn http_get_reports_status_codes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for code in ["200 OK", "500 Internal Server Error"] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(format!("HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let t = Duration::from_secs(5);
        assert!(http_get("127.0.0.1", port, "/ok", t).await.is_ok());
        let err = http_get("127.0.0.1", port, "/bad", t).await.unwrap_err();
        assert!(err.contains("500"), "{err}");
    }
}
