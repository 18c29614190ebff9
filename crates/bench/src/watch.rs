//! Watch delivery latency: many watchers on one collection, one writer creating
//! ConfigMaps that carry their send time; every watcher records arrival minus send time.

use crate::client::Tls;
use crate::error::{BenchError, Result};
use crate::load::{configmap, CONFIGMAPS};
use crate::stats::Summary;
use http::Method;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Annotation carrying the send time, in nanoseconds since the run's base instant.
pub const SENT_ANNOTATION: &str = "rkube-bench/sent-ns";
/// Handshakes in flight while opening watchers (keeps the accept queue sane).
const OPEN_PARALLEL: usize = 32;
/// How long after the last write watchers may still catch up before they count as missing.
const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct WatchResult {
    pub events: usize,
    pub latency: Summary,
    /// Expected deliveries (watchers × events) that never arrived before the deadline.
    pub missing: usize,
    pub open_time: Duration,
}

/// Finds the sent-ns annotation in one JSON event line without a full parse, so 1,000
/// watchers do not turn the client into the bottleneck.
pub fn sent_ns(line: &[u8]) -> Option<u64> {
    let needle = format!("\"{SENT_ANNOTATION}\":\"");
    let needle = needle.as_bytes();
    let at = line.windows(needle.len()).position(|w| w == needle)? + needle.len();
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&line[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

async fn list_revision(tls: &Tls) -> Result<String> {
    let mut conn = tls.connect().await?;
    let body = conn
        .expect_ok(Method::GET, &format!("{CONFIGMAPS}?limit=1"), None)
        .await?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| BenchError::Protocol(e.to_string()))?;
    v["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BenchError::Protocol("list without resourceVersion".into()))
}

/// Runs one watch round: `watchers` open watches, `events` creates `spacing` apart.
pub async fn run(
    tls: &Tls,
    watchers: usize,
    events: usize,
    spacing: Duration,
    tag: &str,
) -> Result<WatchResult> {
    let rv = list_revision(tls).await?;
    let path = format!("{CONFIGMAPS}?watch=true&resourceVersion={rv}");
    let base = Instant::now();
    let deadline = base + Duration::from_secs(60);
    let open_started = Instant::now();
    let gate = Arc::new(Semaphore::new(OPEN_PARALLEL));
    let mut opening = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        let (tls, path, gate) = (tls.clone(), path.clone(), gate.clone());
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let mut conn = tls.connect().await?;
            let body = conn.stream(&path).await?;
            Ok::<_, BenchError>((conn, body))
        }));
    }
    let mut streams = Vec::with_capacity(watchers);
    for task in opening {
        let opened = task
            .await
            .map_err(|e| BenchError::Protocol(format!("watch opener: {e}")))??;
        streams.push(opened);
    }
    let open_time = open_started.elapsed();

    // Lets the run end readers that are still short of events once the grace period is up.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut readers = Vec::with_capacity(watchers);
    for (conn, mut body) in streams {
        let mut stop = stop_rx.clone();
        readers.push(tokio::spawn(async move {
            let _conn = conn;
            let mut lat = Vec::with_capacity(events);
            let mut buf: Vec<u8> = Vec::new();
            while lat.len() < events {
                let frame = tokio::select! {
                    f = tokio::time::timeout_at(deadline.into(), body.frame()) => f,
                    _ = stop.changed() => break,
                };
                let Ok(Some(Ok(frame))) = frame else { break };
                // One arrival time for everything in this frame: the moment we saw it.
                let arrived = base.elapsed();
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                    if let Some(sent) = sent_ns(&buf[..nl]) {
                        lat.push(arrived.saturating_sub(Duration::from_nanos(sent)));
                    }
                    buf.drain(..=nl);
                }
            }
            lat
        }));
    }

    let mut writer = tls.connect().await?;
    let started = Instant::now();
    for i in 0..events {
        let name = format!("watch-{tag}-{i}");
        let sent = base.elapsed().as_nanos().to_string();
        let body = configmap(&name, &[(SENT_ANNOTATION, sent)]);
        writer
            .expect_ok(Method::POST, CONFIGMAPS, Some(body))
            .await?;
        tokio::time::sleep(spacing).await;
    }
    let grace = Instant::now() + GRACE;
    while Instant::now() < grace && !readers.iter().all(|r| r.is_finished()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop_tx.send(true);
    let mut samples = Vec::with_capacity(watchers * events);
    let mut errors = 0;
    for reader in readers {
        match reader.await {
            Ok(lat) => samples.extend(lat),
            Err(_) => errors += 1,
        }
    }
    let expected = watchers * events;
    let missing = expected.saturating_sub(samples.len());
    let latency = Summary::from_samples(samples, errors, started.elapsed());
    Ok(WatchResult {
        events,
        latency,
        missing,
        open_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_annotation_is_extracted() {
        let line = br#"{"type":"ADDED","object":{"metadata":{"annotations":{"rkube-bench/sent-ns":"123456789"},"name":"x"}}}"#;
        assert_eq!(sent_ns(line), Some(123456789));
        assert_eq!(sent_ns(br#"{"type":"BOOKMARK","object":{}}"#), None);
        assert_eq!(sent_ns(br#"{"rkube-bench/sent-ns":"abc"}"#), None);
    }
}
