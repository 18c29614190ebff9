//! Follows pods through a watch to learn when each was bound (spec.nodeName set) and
//! Running, without relying on anything but the API.

use crate::client::{Conn, Tls};
use crate::error::{BenchError, Result};
use http::Method;
use http_body_util::BodyExt;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    object: Obj,
}

#[derive(Deserialize, Default)]
struct Obj {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: Spec,
    #[serde(default)]
    status: Status,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    resource_version: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    node_name: String,
}

#[derive(Deserialize, Default)]
struct Status {
    #[serde(default)]
    phase: String,
    #[serde(default)]
    conditions: Vec<Condition>,
}

#[derive(Deserialize, Default)]
struct Condition {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    status: String,
}

impl Status {
    /// Running with the Ready condition True: what a user waiting on a pod waits for.
    fn running_and_ready(&self) -> bool {
        self.phase == "Running"
            && self
                .conditions
                .iter()
                .any(|c| c.kind == "Ready" && c.status == "True")
    }
}

const BOUND: u8 = 1;
const RUNNING: u8 = 2;
const READY: u8 = 4;

/// When the watch first showed one pod in each state.
#[derive(Default, Clone, Copy, Debug)]
pub struct PodTimes {
    pub(crate) flags: u8,
    pub bound: Option<Instant>,
    pub running: Option<Instant>,
    pub ready: Option<Instant>,
    pub deleted: Option<Instant>,
}

/// What the watch has seen so far.
#[derive(Default)]
pub struct Progress {
    pub seen: usize,
    pub bound: usize,
    pub running: usize,
    pub first_bound: Option<Instant>,
    pub last_bound: Option<Instant>,
    pub last_running: Option<Instant>,
    pub events: usize,
    pub deleted: usize,
    pub error: Option<String>,
    state: HashMap<String, PodTimes>,
}

impl Progress {
    /// Applies one watch event line; returns the object's resourceVersion if it had one.
    fn apply(&mut self, line: &[u8], now: Instant) -> Option<String> {
        let ev: Event = serde_json::from_slice(line).ok()?;
        self.events += 1;
        let m = &ev.object.metadata;
        if ev.kind == "BOOKMARK" || ev.kind == "ERROR" {
            if ev.kind == "ERROR" {
                self.error = Some(String::from_utf8_lossy(line).into_owned());
            }
            return Some(m.resource_version.clone()).filter(|rv| !rv.is_empty());
        }
        let key = format!("{}/{}", m.namespace, m.name);
        let is_new = !self.state.contains_key(&key);
        let times = self.state.entry(key).or_default();
        if is_new {
            self.seen += 1;
        }
        // A deleted pod keeps its counts: the phases only ever add pods.
        if !ev.object.spec.node_name.is_empty() && times.flags & BOUND == 0 {
            times.flags |= BOUND;
            times.bound = Some(now);
            self.bound += 1;
            self.first_bound.get_or_insert(now);
            self.last_bound = Some(now);
        }
        if ev.object.status.phase == "Running" && times.flags & RUNNING == 0 {
            times.flags |= RUNNING;
            times.running = Some(now);
            self.running += 1;
            self.last_running = Some(now);
        }
        if ev.object.status.running_and_ready() && times.flags & READY == 0 {
            times.flags |= READY;
            times.ready = Some(now);
        }
        if ev.kind == "DELETED" && times.deleted.is_none() {
            times.deleted = Some(now);
            self.deleted += 1;
        }
        Some(m.resource_version.clone())
    }

    /// What the watch saw of `namespace/name` so far.
    pub fn times(&self, namespace: &str, name: &str) -> PodTimes {
        self.state
            .get(&format!("{namespace}/{name}"))
            .copied()
            .unwrap_or_default()
    }
}

/// A running pod watch; dropping it stops the reader.
pub struct PodWatch {
    progress: Arc<Mutex<Progress>>,
    task: JoinHandle<()>,
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `path` is a pod collection, e.g. `/api/v1/namespaces/x/pods`.
async fn collection_revision(tls: &Tls, path: &str) -> Result<String> {
    let mut conn = tls.connect().await?;
    let body = conn
        .expect_ok(Method::GET, &format!("{path}?limit=1"), None)
        .await?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| BenchError::Protocol(e.to_string()))?;
    v["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BenchError::Protocol("list without resourceVersion".into()))
}

impl PodWatch {
    /// Watches `path` from its current revision; reconnects from the last seen revision
    /// if the server ends the stream.
    pub async fn start(tls: &Tls, path: &str) -> Result<Self> {
        let mut rv = collection_revision(tls, path).await?;
        let progress = Arc::new(Mutex::new(Progress::default()));
        let (mut _conn, mut body) = open(tls, path, &rv).await?;
        let (tls, path, shared) = (tls.clone(), path.to_string(), progress.clone());
        let task = tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            loop {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        let Ok(data) = frame.into_data() else {
                            continue;
                        };
                        buf.extend_from_slice(&data);
                        let now = Instant::now();
                        let mut p = lock(&shared);
                        let mut start = 0;
                        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
                            if let Some(v) = p.apply(&buf[start..start + nl], now) {
                                if !v.is_empty() {
                                    rv = v;
                                }
                            }
                            start += nl + 1;
                        }
                        drop(p);
                        buf.drain(..start);
                    }
                    _ => {
                        buf.clear();
                        match open(&tls, &path, &rv).await {
                            Ok((c, b)) => (_conn, body) = (c, b),
                            Err(e) => {
                                lock(&shared).error = Some(format!("re-watch: {e}"));
                                return;
                            }
                        }
                    }
                }
            }
        });
        Ok(Self { progress, task })
    }

    pub fn progress(&self) -> MutexGuard<'_, Progress> {
        lock(&self.progress)
    }

    /// Polls until `done` holds or `timeout` passes; true if it held.
    pub async fn wait(&self, timeout: Duration, done: impl Fn(&Progress) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let p = self.progress();
                if done(&p) {
                    return true;
                }
                if p.error.is_some() && self.task.is_finished() {
                    return false;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn lock(p: &Mutex<Progress>) -> MutexGuard<'_, Progress> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// The connection is returned with the body: dropping its sender could end the stream.
async fn open(tls: &Tls, path: &str, rv: &str) -> Result<(Conn, hyper::body::Incoming)> {
    let mut conn = tls.connect().await?;
    let body = conn
        .stream(&format!(
            "{path}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true"
        ))
        .await?;
    Ok((conn, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_pod_once_per_state() {
        let mut p = Progress::default();
        let t = Instant::now();
        let pending = br#"{"type":"ADDED","object":{"metadata":{"name":"a","namespace":"n","resourceVersion":"5"},"spec":{},"status":{"phase":"Pending"}}}"#;
        let bound = br#"{"type":"MODIFIED","object":{"metadata":{"name":"a","namespace":"n","resourceVersion":"6"},"spec":{"nodeName":"n1"},"status":{"phase":"Pending"}}}"#;
        let running = br#"{"type":"MODIFIED","object":{"metadata":{"name":"a","namespace":"n","resourceVersion":"7"},"spec":{"nodeName":"n1"},"status":{"phase":"Running"}}}"#;
        assert_eq!(p.apply(pending, t).as_deref(), Some("5"));
        assert_eq!((p.seen, p.bound, p.running), (1, 0, 0));
        p.apply(bound, t);
        p.apply(bound, t);
        assert_eq!((p.seen, p.bound, p.running), (1, 1, 0));
        p.apply(running, t);
        p.apply(running, t);
        assert_eq!((p.seen, p.bound, p.running), (1, 1, 1));
        assert_eq!(p.first_bound, Some(t));
        let times = p.times("n", "a");
        assert_eq!(times.running, Some(t));
        assert!(times.ready.is_none() && times.deleted.is_none());
        assert!(p.times("n", "b").running.is_none());
    }

    #[test]
    fn ready_needs_running_and_the_ready_condition() {
        let mut p = Progress::default();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(5);
        let t2 = t0 + Duration::from_millis(9);
        let not_ready = br#"{"type":"MODIFIED","object":{"metadata":{"name":"a","namespace":"n"},"spec":{"nodeName":"x"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"False"},{"type":"PodScheduled","status":"True"}]}}}"#;
        let ready = br#"{"type":"MODIFIED","object":{"metadata":{"name":"a","namespace":"n"},"spec":{"nodeName":"x"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}}"#;
        let gone = br#"{"type":"DELETED","object":{"metadata":{"name":"a","namespace":"n"},"spec":{"nodeName":"x"},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}}"#;
        p.apply(not_ready, t0);
        assert_eq!(p.times("n", "a").running, Some(t0));
        assert!(p.times("n", "a").ready.is_none());
        p.apply(ready, t1);
        p.apply(ready, t2);
        assert_eq!(p.times("n", "a").ready, Some(t1));
        p.apply(gone, t2);
        assert_eq!(p.times("n", "a").deleted, Some(t2));
        assert_eq!(p.deleted, 1);
    }

    #[test]
    fn bookmarks_move_the_revision_only() {
        let mut p = Progress::default();
        let bm =
            br#"{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"99"}}}"#;
        assert_eq!(p.apply(bm, Instant::now()).as_deref(), Some("99"));
        assert_eq!(p.seen, 0);
        assert!(p.apply(b"not json", Instant::now()).is_none());
    }
}
