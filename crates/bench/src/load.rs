//! Closed-loop load: N clients, each on its own kept-open connection, issue one request at
//! a time until a shared operation budget or the deadline is used up.

use crate::client::{Conn, Tls};
use crate::error::Result;
use crate::stats::Summary;
use bytes::Bytes;
use http::Method;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

/// What each operation does; `i` is the operation's index in the run.
#[derive(Clone)]
pub enum Op {
    /// POST a ConfigMap named `{prefix}-{i}`.
    Create { prefix: String },
    /// GET one of `names`, spread over all of them.
    Get { names: Arc<Vec<String>> },
    /// GET the whole collection.
    List,
}

/// A ConfigMap with ~200 bytes of data, and optional annotations.
pub fn configmap(name: &str, annotations: &[(&str, String)]) -> Bytes {
    let payload: String = name.chars().cycle().take(200).collect();
    let mut meta = serde_json::json!({ "name": name });
    if !annotations.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = annotations
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::Value::String(v.clone())))
            .collect();
        meta["annotations"] = serde_json::Value::Object(map);
    }
    let cm = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": { "payload": payload },
    });
    Bytes::from(cm.to_string())
}

/// Spreads consecutive indices over the whole name list (a fixed odd stride), so gets do
/// not walk the keys in order.
pub fn spread(i: usize, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (i.wrapping_mul(7919)) % len
    }
}

async fn run_one(conn: &mut Conn, op: &Op, i: usize) -> Result<()> {
    match op {
        Op::Create { prefix } => {
            let name = format!("{prefix}-{i}");
            conn.expect_ok(Method::POST, CONFIGMAPS, Some(configmap(&name, &[])))
                .await?;
        }
        Op::Get { names } => {
            let name = names.get(spread(i, names.len())).map_or("", String::as_str);
            conn.expect_ok(Method::GET, &format!("{CONFIGMAPS}/{name}"), None)
                .await?;
        }
        Op::List => {
            conn.expect_ok(Method::GET, CONFIGMAPS, None).await?;
        }
    }
    Ok(())
}

/// Runs `op` from `clients` connections until `max_ops` were issued or `max_time` passed.
/// Connections are opened before the clock starts.
pub async fn run(
    tls: &Tls,
    op: Op,
    clients: usize,
    max_ops: usize,
    max_time: Duration,
) -> Result<Summary> {
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(tls.connect().await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + max_time;
    let mut tasks = Vec::with_capacity(clients);
    for mut conn in conns {
        let next = next.clone();
        let op = op.clone();
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0usize;
            let mut first_error = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max_ops || Instant::now() >= deadline {
                    break;
                }
                let t0 = Instant::now();
                match run_one(&mut conn, &op, i).await {
                    Ok(()) => samples.push(t0.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                        // A broken connection would fail every later request; replace it.
                        if let Ok(fresh) = tls.connect().await {
                            conn = fresh;
                        }
                    }
                }
            }
            (samples, errors, first_error)
        }));
    }
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok((s, e, f)) => {
                samples.extend(s);
                errors += e;
                if first_error.is_none() {
                    first_error = f;
                }
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let mut summary = Summary::from_samples(samples, errors, started.elapsed());
    summary.first_error = first_error;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configmap_has_about_200_bytes_of_data() {
        let body = configmap("cm-1", &[("a/b", "7".into())]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["metadata"]["name"], "cm-1");
        assert_eq!(v["metadata"]["annotations"]["a/b"], "7");
        assert_eq!(v["data"]["payload"].as_str().unwrap().len(), 200);
        let plain: serde_json::Value = serde_json::from_slice(&configmap("x", &[])).unwrap();
        assert!(plain["metadata"].get("annotations").is_none());
    }

    #[test]
    fn spread_covers_every_name() {
        let len = 6000;
        let mut seen = vec![false; len];
        for i in 0..len {
            seen[spread(i, len)] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_ne!(spread(1, len), 1);
        assert_eq!(spread(5, 0), 0);
    }
}
