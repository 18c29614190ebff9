//! The node API against the real runtime: our containerd under a temp dir, one bootcamp pod
//! made through CRI with the kubelet's labels, and `server::serve_on` with certificates from
//! a throw-away CA. Drives health, auth, logs (plain, tail, timestamps, follow, previous),
//! exec over WebSocket v5 and SPDY (exit codes, stdin EOF), port-forward over SPDY and the
//! native WebSocket protocol. Needs root and scripts/install-runtime.sh (containerd, runc,
//! CNI plugins) plus images/install-deps.sh; it fails, not skips, without them.

mod server_e2e_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use rkube_streaming::client::{connect_websocket, spdy_accepted, upgrade};
use rkube_streaming::portforward::WsByteStream;
use rkube_streaming::spdy::{upgrade as spdy_upgrade, Headers, SpdyConnection};
use rkube_streaming::ws::Message;
use server_e2e_support::{Node, NS, POD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Output of one exec session seen as kubectl sees it: stdout, stderr, error-channel text.
#[derive(Debug, Default)]
struct Session {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    error: String,
}

async fn ws_exec(node: &Node, query: &str, stdin: Option<&[u8]>) -> Session {
    let tls = node.connect(true).await;
    let target = format!("/exec/{NS}/{POD}/bootcamp?{query}");
    let (tx, mut rx, proto) = connect_websocket(
        tls,
        &target,
        "127.0.0.1",
        &["v5.channel.k8s.io"],
        &http::HeaderMap::new(),
    )
    .await
    .unwrap();
    assert_eq!(proto.as_deref(), Some("v5.channel.k8s.io"));
    if let Some(input) = stdin {
        let mut m = vec![0u8];
        m.extend_from_slice(input);
        tx.send_binary(Bytes::from(m)).await.unwrap();
        // v5: close stdin.
        tx.send_binary(Bytes::from_static(&[255, 0])).await.unwrap();
    }
    let mut s = Session::default();
    let read = async {
        while let Some(msg) = rx.recv().await {
            let Message::Binary(b) = msg.unwrap() else {
                panic!("text message from the kubelet");
            };
            match b.first() {
                Some(1) => s.stdout.extend_from_slice(&b[1..]),
                Some(2) => s.stderr.extend_from_slice(&b[1..]),
                Some(3) => s.error.push_str(&String::from_utf8_lossy(&b[1..])),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("exec session did not end");
    s
}

async fn spdy_exec(node: &Node, query: &str) -> Session {
    let mut tls = node.connect(true).await;
    let target = format!("/exec/{NS}/{POD}/bootcamp?{query}");
    let headers = spdy_upgrade::request_headers(&["v4.channel.k8s.io", "channel.k8s.io"]);
    let resp = upgrade(&mut tls, "POST", &target, "127.0.0.1", &headers)
        .await
        .unwrap();
    assert_eq!(spdy_accepted(&resp).unwrap(), "v4.channel.k8s.io");
    let conn = SpdyConnection::client(tls);
    let open = |t: &str| conn.open_stream(Headers::new().with("streamtype", t), false);
    let mut error = open("error").await.unwrap();
    let mut stdout = open("stdout").await.unwrap();
    let mut stderr = open("stderr").await.unwrap();
    let mut s = Session::default();
    let mut err = Vec::new();
    let read = async {
        let (a, b, c) = tokio::join!(
            stdout.read_to_end(&mut s.stdout),
            stderr.read_to_end(&mut s.stderr),
            error.read_to_end(&mut err)
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("spdy exec did not end");
    s.error = String::from_utf8(err).unwrap();
    s
}

async fn exec_checks(node: &Node) {
    let s = ws_exec(
        node,
        "command=sh&command=-c&command=echo%20out%3B%20echo%20err%20%3E%262%3B%20exit%203&stdout=true&stderr=true",
        None,
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&s.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&s.stderr), "err\n");
    let status: serde_json::Value = serde_json::from_str(&s.error).unwrap();
    assert_eq!(status["status"], "Failure", "{}", s.error);
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["reason"], "ExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");

    let s = ws_exec(node, "command=env&stdout=true&stderr=true", None).await;
    let env = String::from_utf8_lossy(&s.stdout);
    assert!(env.lines().any(|l| l == "RKUBE_TEST=server"), "{env}");
    assert_eq!(s.error, r#"{"metadata":{},"status":"Success"}"#);

    // stdin reaches the process and its EOF ends `cat`.
    let s = ws_exec(
        node,
        "command=cat&stdin=true&stdout=true&stderr=true",
        Some(b"typed input\n"),
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&s.stdout), "typed input\n");
    assert_eq!(s.error, r#"{"metadata":{},"status":"Success"}"#);

    // A terminal merges stderr into stdout.
    let s = ws_exec(
        node,
        "command=sh&command=-c&command=echo%20e%20%3E%262&stdout=true&tty=true",
        None,
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&s.stdout).trim_end(), "e");
    assert!(s.stderr.is_empty());

    let s = spdy_exec(
        node,
        "command=sh&command=-c&command=echo%20spdy%3B%20exit%205&stdout=true&stderr=true",
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&s.stdout), "spdy\n");
    assert!(
        s.error.contains(r#""reason":"NonZeroExitCode""#),
        "{}",
        s.error
    );
    assert!(s.error.contains(r#""message":"5""#), "{}", s.error);

    // Unknown containers are refused before any upgrade.
    let mut tls = node.connect(true).await;
    let headers = spdy_upgrade::request_headers(&["v4.channel.k8s.io"]);
    let resp = upgrade(
        &mut tls,
        "POST",
        &format!("/exec/{NS}/{POD}/nope?command=ls&stdout=1"),
        "127.0.0.1",
        &headers,
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_message(), "container not found (\"nope\")");
}

async fn log_checks(node: &Node) {
    let (code, body) = node
        .get(&format!("/containerLogs/{NS}/{POD}/bootcamp"))
        .await;
    assert_eq!(code, 200);
    assert!(
        body.starts_with("Kubernetes Bootcamp App Started At:"),
        "{body:?}"
    );
    let (_, body) = node
        .get(&format!(
            "/containerLogs/{NS}/{POD}/bootcamp?tailLines=1&timestamps=true"
        ))
        .await;
    let (ts, rest) = body.split_once(' ').unwrap();
    assert_eq!(ts.len(), "2024-01-01T00:00:00.000000000Z".len(), "{body:?}");
    assert!(
        rest.ends_with('\n') && rest.lines().count() == 1,
        "{body:?}"
    );
    let (_, body) = node
        .get(&format!("/containerLogs/{NS}/{POD}/bootcamp?limitBytes=10"))
        .await;
    assert_eq!(body, "Kubernetes");

    let (code, body) = node
        .get(&format!("/containerLogs/{NS}/{POD}/bootcamp?previous=true"))
        .await;
    assert_eq!(code, 400);
    assert!(
        body.contains(
            r#"previous terminated container \"bootcamp\" in pod \"bootcamp\" not found"#
        ),
        "{body}"
    );
    let (code, body) = node
        .get(&format!("/containerLogs/{NS}/ghost/bootcamp"))
        .await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = node.get(&format!("/containerLogs/{NS}/{POD}/other")).await;
    assert_eq!(code, 400);
    assert!(
        body.contains("is waiting to start: ContainerCreating"),
        "{body}"
    );

    // follow: a request to the app logs a line, which must arrive on the open response.
    // The request is repeated because one made before the backlog was read is cut by
    // tailLines=0.
    let mut body = node
        .get_stream(&format!(
            "/containerLogs/{NS}/{POD}/bootcamp?follow=true&tailLines=0"
        ))
        .await;
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains("Total Requests:") {
        assert!(Instant::now() < deadline, "follow saw only {seen:?}");
        let ip = node.pod_ip.clone();
        tokio::task::spawn_blocking(move || server_e2e_support::http_get(&ip, 8080).unwrap())
            .await
            .unwrap();
        if let Some(chunk) = body.next_chunk(Duration::from_secs(1)).await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    assert!(seen.starts_with("Running On:"), "{seen:?}");
}

async fn port_forward_checks(node: &Node) {
    // SPDY, as kubectl's fallback speaks it: an error and a data stream per connection.
    let mut tls = node.connect(true).await;
    let headers = spdy_upgrade::request_headers(&["portforward.k8s.io"]);
    let resp = upgrade(
        &mut tls,
        "POST",
        &format!("/portForward/{NS}/{POD}"),
        "h",
        &headers,
    )
    .await
    .unwrap();
    assert_eq!(spdy_accepted(&resp).unwrap(), "portforward.k8s.io");
    let conn = SpdyConnection::client(tls);
    for (id, port) in [(0, "8080"), (1, "8081")] {
        let h = |t: &str| {
            Headers::new()
                .with("streamtype", t)
                .with("port", port)
                .with("requestid", &id.to_string())
        };
        let mut err = conn.open_stream(h("error"), false).await.unwrap();
        err.writer().finish().await.unwrap();
        let mut data = conn.open_stream(h("data"), false).await.unwrap();
        data.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut reply = Vec::new();
        let mut error = Vec::new();
        let io = async {
            let _ = data.read_to_end(&mut reply).await;
            let _ = err.read_to_end(&mut error).await;
        };
        tokio::time::timeout(Duration::from_secs(30), io)
            .await
            .expect("port-forward stream did not end");
        let reply = String::from_utf8_lossy(&reply);
        let error = String::from_utf8_lossy(&error);
        if port == "8080" {
            assert!(
                reply.contains("Hello Kubernetes bootcamp! | Running on: bootcamp-pod"),
                "{reply:?} / {error:?}"
            );
            assert!(error.is_empty(), "{error}");
        } else {
            assert!(
                error.contains("8081") && error.contains("error forwarding port"),
                "{error:?}"
            );
        }
    }

    // kubectl >= 1.31: the same SPDY session tunnelled in a WebSocket.
    let tls = node.connect(true).await;
    let (tx, rx, proto) = connect_websocket(
        tls,
        &format!("/portForward/{NS}/{POD}"),
        "h",
        &["SPDY/3.1+portforward.k8s.io"],
        &http::HeaderMap::new(),
    )
    .await
    .unwrap();
    assert_eq!(proto.as_deref(), Some("SPDY/3.1+portforward.k8s.io"));
    let conn = SpdyConnection::client(WsByteStream::new(tx, rx));
    let h = |t: &str| {
        Headers::new()
            .with("streamtype", t)
            .with("port", "8080")
            .with("requestid", "0")
    };
    let mut err = conn.open_stream(h("error"), false).await.unwrap();
    err.writer().finish().await.unwrap();
    let mut data = conn.open_stream(h("data"), false).await.unwrap();
    data.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), data.read_to_end(&mut reply))
        .await
        .expect("tunnelled port-forward did not end")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&reply).contains("Hello Kubernetes bootcamp!"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );

    // The native WebSocket protocol (the Python client's portforward).
    let tls = node.connect(true).await;
    let (tx, mut rx, proto) = connect_websocket(
        tls,
        &format!("/portForward/{NS}/{POD}?ports=8080"),
        "h",
        &["v4.channel.k8s.io"],
        &http::HeaderMap::new(),
    )
    .await
    .unwrap();
    assert_eq!(proto.as_deref(), Some("v4.channel.k8s.io"));
    tx.send_binary(Bytes::from_static(b"\x00GET / HTTP/1.0\r\n\r\n"))
        .await
        .unwrap();
    let mut data = Vec::new();
    let mut first = [true, true];
    let read = async {
        while let Some(Ok(Message::Binary(b))) = rx.recv().await {
            let ch = b[0] as usize;
            if ch < 2 && first[ch] {
                // Each channel opens with the port, little-endian.
                assert_eq!(&b[1..], &8080u16.to_le_bytes());
                first[ch] = false;
            } else if ch == 0 {
                data.extend_from_slice(&b[1..]);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("websocket port-forward did not end");
    assert!(
        String::from_utf8_lossy(&data).contains("Hello Kubernetes bootcamp!"),
        "{:?}",
        String::from_utf8_lossy(&data)
    );
}

/// attach: the container's own output after attaching arrives on stdout.
async fn attach_checks(node: &Node) {
    let tls = node.connect(true).await;
    let (_tx, mut rx, _) = connect_websocket(
        tls,
        &format!("/attach/{NS}/{POD}/bootcamp?stdout=true&stderr=true"),
        "127.0.0.1",
        &["v5.channel.k8s.io"],
        &http::HeaderMap::new(),
    )
    .await
    .unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains("Total Requests:") {
        assert!(Instant::now() < deadline, "attach saw only {seen:?}");
        let ip = node.pod_ip.clone();
        tokio::task::spawn_blocking(move || server_e2e_support::http_get(&ip, 8080).unwrap())
            .await
            .unwrap();
        if let Ok(Some(Ok(Message::Binary(b)))) =
            tokio::time::timeout(Duration::from_secs(1), rx.recv()).await
        {
            if b.first() == Some(&1) {
                seen.push_str(&String::from_utf8_lossy(&b[1..]));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_api_serves_logs_exec_and_port_forward_from_containerd() {
    let node = Node::start().await;

    let (code, body) = node.get("/healthz").await;
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, _) = node.get_anonymous("/healthz").await;
    assert_eq!(code, 401, "a client without a certificate is refused");

    log_checks(&node).await;
    exec_checks(&node).await;
    port_forward_checks(&node).await;
    attach_checks(&node).await;

    let (code, body) = node.get("/pods").await;
    assert_eq!(code, 200);
    assert!(body.contains(r#""name":"bootcamp""#), "{body}");

    node.stop().await;
}
