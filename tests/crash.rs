//! Writes acknowledged before a `kill -9` of the server are all there after restart.

mod common;

use common::{json, Cluster};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn acknowledged_writes_survive_kill_9() {
    let mut c = Cluster::start();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let mut writers = Vec::new();
    for w in 0..4 {
        let acked = acked.clone();
        let port = c.port;
        let pki = c.data_dir().join("data/pki");
        writers.push(std::thread::spawn(move || {
            let mut i = 0;
            // Keep writing until the server dies under us.
            loop {
                let name = format!("w{w}-{i}");
                let body = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"i":"{i}"}}}}"#);
                let out = std::process::Command::new("curl")
                    .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
                    .arg("--cacert").arg(pki.join("ca.crt"))
                    .arg("--cert").arg(pki.join("admin.crt"))
                    .arg("--key").arg(pki.join("admin.key"))
                    .args(["-H", "Content-Type: application/json", "--data-binary", &body])
                    .arg(format!("https://127.0.0.1:{port}/api/v1/namespaces/default/configmaps"))
                    .output()
                    .expect("curl");
                match String::from_utf8_lossy(&out.stdout).as_ref() {
                    "201" => acked.lock().unwrap().push(name),
                    _ => return,
                }
                i += 1;
            }
        }));
    }
    while Instant::now() < stop_at {
        std::thread::sleep(Duration::from_millis(50));
    }
    c.kill9();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 10,
        "too few writes acknowledged before the crash: {}",
        acked.len()
    );

    c.port = 0;
    c.launch();
    let (code, body) = c.curl(
        "GET",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let list = json(&body);
    let present: std::collections::HashSet<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|n| !present.contains(n.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {lost:?}",
        lost.len(),
        acked.len()
    );
    // The restarted server keeps serving writes at later revisions.
    let (code, body) = c.curl(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        Some(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"after-restart"}}"#),
    );
    assert_eq!(code, 201, "{body}");
}
