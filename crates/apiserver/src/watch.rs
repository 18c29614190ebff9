//! Watch streams: newline-delimited JSON events from the watch cache, filtered per
//! watcher, as objects or Table rows, with bookmarks and 410 for history we no longer hold.

use crate::cache::{CacheEvent, EventType};
use crate::cached::CachedObject;
use crate::convert::{needs_conversion, to_view};
use crate::read::{partial_metadata, table, Filter};
use crate::request::{flag, Query, Shape, Target};
use crate::state::Api;
use crate::status::{ApiError, ApiResult};
use bytes::Bytes;
use rkube_api::ResourceInfo;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

const BOOKMARK_EVERY: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Watcher {
    res: &'static ResourceInfo,
    prefix: String,
    filter: Filter,
    shape: Shape,
    query: Query,
    sent_columns: bool,
}

impl Watcher {
    /// Whether this watcher receives objects exactly as cached.
    fn raw(&self) -> bool {
        self.shape == Shape::Object && !needs_conversion(self.res)
    }

    fn frame(&mut self, kind: &str, obj: &CachedObject) -> Bytes {
        if self.raw() {
            return encode_raw(kind, &obj.bytes);
        }
        let view = to_view(self.res, obj.value());
        let object = match self.shape {
            Shape::Object => view,
            Shape::PartialMetadata => partial_metadata(&view),
            Shape::Table => {
                let mut t = table(self.res, &[&view], &self.query, !self.sent_columns);
                self.sent_columns = true;
                t["metadata"]["resourceVersion"] = view
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
                t
            }
        };
        encode(kind, &object)
    }

    /// The event as this watcher sees it: an object entering or leaving the selector's
    /// view is an ADDED or DELETED here.
    fn view<'e>(&self, ev: &'e CacheEvent) -> Option<(EventType, &'e Arc<CachedObject>)> {
        if !ev.key.starts_with(&self.prefix) {
            return None;
        }
        let object = &ev.object;
        let now = ev.kind != EventType::Deleted && self.filter.matches(object);
        let before = match ev.kind {
            EventType::Deleted => self.filter.matches(object),
            _ => ev.prev.as_ref().is_some_and(|p| self.filter.matches(p)),
        };
        match (before, now) {
            (true, true) => Some((ev.kind, object)),
            (false, true) => Some((EventType::Added, object)),
            (true, false) => Some((EventType::Deleted, object)),
            (false, false) => None,
        }
    }

    fn bookmark(&self, rev: i64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rev.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        encode(
            "BOOKMARK",
            &json!({"kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": meta}),
        )
    }
}

/// A watch frame around an object's JSON bytes, without re-encoding them.
fn encode_raw(kind: &str, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn encode(kind: &str, object: &Value) -> Bytes {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    if serde_json::to_writer(&mut out, object).is_err() {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// Starts a watch; the returned receiver yields the response body's chunks.
pub fn start(
    api: &Arc<Api>,
    t: &Target,
    q: &Query,
    shape: Shape,
) -> ApiResult<mpsc::Receiver<Bytes>> {
    let res = t.resource;
    let filter = Filter::from_query(res, q, t.name.as_deref())?;
    let mut w = Watcher {
        res,
        prefix: res.key_prefix(t.namespace.as_deref()),
        filter,
        shape,
        query: q.clone(),
        sent_columns: false,
    };
    let rv = q.get("resourceVersion").cloned().unwrap_or_default();
    let initial = flag(q, "sendInitialEvents");
    let bookmarks = flag(q, "allowWatchBookmarks");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let (tx, rx) = mpsc::channel::<Bytes>(256);

    // Snapshot or replay first, synchronously, so the stream starts where it should.
    let mut first: Vec<Bytes> = Vec::new();
    let (mut live, mut last_rev) = if rv.is_empty() || rv == "0" || initial {
        let (objects, rev, live) = api.cache.snapshot_and_subscribe(&w.prefix);
        for obj in objects {
            if w.filter.matches(&obj) {
                first.push(w.frame("ADDED", &obj));
            }
        }
        if initial && bookmarks {
            first.push(w.bookmark(rev, true));
        }
        (live, rev)
    } else {
        let after: i64 = rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        match api.cache.subscribe(after) {
            Ok(sub) => {
                let mut last = after;
                for ev in &sub.replay {
                    last = ev.revision;
                    if let Some((kind, obj)) = w.view(ev) {
                        first.push(w.frame(kind.as_str(), obj));
                    }
                }
                (sub.live, last)
            }
            Err(e) => {
                let status = ApiError::from(e).to_status();
                let _ = tx.try_send(encode("ERROR", &status));
                return Ok(rx);
            }
        }
    };

    tokio::spawn(async move {
        for f in first {
            if tx.send(f).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(w.bookmark(last_rev, false)).await.is_err() {
                        return;
                    }
                }
                ev = live.recv() => match ev {
                    Ok(ev) => {
                        if ev.revision <= last_rev {
                            continue;
                        }
                        last_rev = ev.revision;
                        if let Some((kind, obj)) = w.view(&ev) {
                            let frame = if kind == ev.kind && w.raw() {
                                ev.frame.get_or_init(|| encode_raw(kind.as_str(), &obj.bytes)).clone()
                            } else {
                                w.frame(kind.as_str(), obj)
                            };
                            if tx.send(frame).await.is_err() {
                                return;
                            }
                        }
                    }
                    // Too slow to keep up: end the watch; the client re-lists.
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    Ok(rx)
}
