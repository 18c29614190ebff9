use super::*;
use serde_json::json;
use std::sync::atomic::{AtomicU16, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A tiny HTTP server answering every request with `status`; returns its address and
/// the last request head it saw.
pub(crate) async fn http_server(
    status: Arc<AtomicU16>,
) -> (SocketAddr, Arc<std::sync::Mutex<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let status = status.load(Ordering::SeqCst);
            let seen = seen2.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                *seen.lock().unwrap() = String::from_utf8_lossy(&buf[..n]).into_owned();
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, seen)
}

fn runtime() -> RuntimeClient {
    RuntimeClient::connect("/nonexistent/cri.sock").unwrap()
}

fn container() -> Container {
    serde_json::from_value(
        json!({"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}),
    )
    .unwrap()
}

fn probe(v: serde_json::Value) -> Probe {
    serde_json::from_value(v).unwrap()
}

#[test]
fn actions_resolve_named_ports_and_default_host() {
    let ip: IpAddr = "10.244.0.7".parse().unwrap();
    let a = action(
        &probe(json!({"httpGet": {"port": "http", "path": "healthz",
            "httpHeaders": [{"name": "Host", "value": "example.com"}, {"name": "X-A", "value": "1"}]}})),
        &container(),
        Some(ip),
    );
    match a {
        Action::Http {
            https,
            addr,
            host,
            path,
            headers,
        } => {
            assert!(!https);
            assert_eq!(addr, "10.244.0.7:8080".parse().unwrap());
            assert_eq!(host, "example.com");
            assert_eq!(path, "/healthz");
            assert_eq!(headers.len(), 2);
        }
        other => panic!("unexpected {other:?}"),
    }
    let missing = action(
        &probe(json!({"tcpSocket": {"port": "metrics"}})),
        &container(),
        Some(ip),
    );
    assert_eq!(
        missing,
        Action::Invalid("couldn't find port: metrics in app".into())
    );
    let no_ip = action(
        &probe(json!({"tcpSocket": {"port": 80}})),
        &container(),
        None,
    );
    assert!(matches!(no_ip, Action::Invalid(_)));
    let exec = action(
        &probe(json!({"exec": {"command": ["cat", "/tmp/ok"]}})),
        &container(),
        None,
    );
    assert_eq!(
        exec,
        Action::Exec {
            command: vec!["cat".into(), "/tmp/ok".into()]
        }
    );
}

#[tokio::test]
async fn http_probe_judges_status_codes() {
    let status = Arc::new(AtomicU16::new(200));
    let (addr, seen) = http_server(status.clone()).await;
    let act = Action::Http {
        https: false,
        addr,
        host: "web.local".into(),
        path: "/healthz".into(),
        headers: vec![("X-Probe".into(), "yes".into())],
    };
    let t = Duration::from_secs(2);
    assert_eq!(run(&act, &runtime(), "c1", t).await, Outcome::Success);
    let head = seen.lock().unwrap().to_ascii_lowercase();
    assert!(head.starts_with("get /healthz http/1.1"), "{head}");
    assert!(head.contains("host: web.local"), "{head}");
    assert!(head.contains("user-agent: kube-probe/1.33"), "{head}");
    assert!(head.contains("x-probe: yes"), "{head}");
    status.store(302, Ordering::SeqCst);
    assert_eq!(run(&act, &runtime(), "c1", t).await, Outcome::Success);
    status.store(500, Ordering::SeqCst);
    assert_eq!(
        run(&act, &runtime(), "c1", t).await,
        Outcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
}

#[tokio::test]
async fn tcp_probe_connects_or_reports_refusal() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let t = Duration::from_secs(2);
    assert_eq!(
        run(&Action::Tcp { addr }, &runtime(), "c1", t).await,
        Outcome::Success
    );
    drop(listener);
    let outcome = run(&Action::Tcp { addr }, &runtime(), "c1", t).await;
    assert_eq!(
        outcome,
        Outcome::Failure(format!("dial tcp {addr}: connect: connection refused"))
    );
    let http = Action::Http {
        https: false,
        addr,
        host: addr.to_string(),
        path: "/".into(),
        headers: vec![],
    };
    match run(&http, &runtime(), "c1", t).await {
        Outcome::Failure(m) => assert!(
            m.starts_with(&format!("Get \"http://{addr}/\": dial tcp")),
            "{m}"
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn invalid_actions_are_unknown() {
    let outcome = run(
        &Action::Invalid("nope".into()),
        &runtime(),
        "c1",
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(outcome, Outcome::Unknown("nope".into()));
}
