//! The control loop: watch Services and EndpointSlices, batch changes, sync at most once
//! per `min_sync_period`, and measure how long endpoint changes take to go live.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use tokio::time::Instant;

use crate::model::Snapshot;
use crate::proxier::Proxier;
use crate::{enable_route_localnet, kube_snapshot, ProxyConfig, ProxyError, Result};

/// Annotation the EndpointSlice controller sets to the time of the change behind an update.
const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// Wait after a failed sync before retrying (with a full replace).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Objects of one kind, keyed by namespace/name, rebuilt on every (re)list.
struct Cache<K> {
    objects: HashMap<String, K>,
    pending_init: Option<HashMap<String, K>>,
    listed: bool,
}

impl<K: Resource> Cache<K> {
    fn new() -> Self {
        Cache {
            objects: HashMap::new(),
            pending_init: None,
            listed: false,
        }
    }

    fn key(obj: &K) -> String {
        let meta = obj.meta();
        format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default()
        )
    }

    /// Applies one watch event; true when the visible set changed.
    fn apply(&mut self, event: watcher::Event<K>) -> bool {
        match event {
            watcher::Event::Apply(obj) => {
                self.objects.insert(Self::key(&obj), obj);
                true
            }
            watcher::Event::Delete(obj) => self.objects.remove(&Self::key(&obj)).is_some(),
            watcher::Event::Init => {
                self.pending_init = Some(HashMap::new());
                false
            }
            watcher::Event::InitApply(obj) => {
                self.pending_init
                    .get_or_insert_with(HashMap::new)
                    .insert(Self::key(&obj), obj);
                false
            }
            watcher::Event::InitDone => {
                self.objects = self.pending_init.take().unwrap_or_default();
                self.listed = true;
                true
            }
        }
    }
}

fn trigger_time(slice: &EndpointSlice) -> DateTime<Utc> {
    slice
        .annotations()
        .get(TRIGGER_TIME)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
}

fn snapshot(
    config: &ProxyConfig,
    services: &Cache<Service>,
    slices: &Cache<EndpointSlice>,
) -> Snapshot {
    let node_ips: Vec<Ipv4Addr> = config
        .node_ips
        .iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    let cidr = config.cluster_cidr.trim();
    Snapshot {
        table: config.table.clone(),
        cluster_cidr: (!cidr.is_empty()).then(|| cidr.to_string()),
        node_ips,
        localhost_nodeports: config.nodeport_addresses_localhost,
        services: kube_snapshot::service_ports(
            services.objects.values(),
            slices.objects.values(),
            &config.node_name,
        ),
    }
}

fn watch<K>(client: &Client) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + 'static,
    K: serde::de::DeserializeOwned,
{
    watcher(Api::<K>::all(client.clone()), watcher::Config::default()).default_backoff()
}

/// Runs the proxy until the watches end (they retry forever, so normally never).
pub async fn run(client: Client, config: ProxyConfig) -> Result<()> {
    if config.nodeport_addresses_localhost {
        if let Err(e) = enable_route_localnet() {
            tracing::warn!("localhost NodePorts will not work: {e}");
        }
    }
    let metrics = config.metrics.clone();
    let mut services = Cache::<Service>::new();
    let mut slices = Cache::<EndpointSlice>::new();
    let mut service_events = std::pin::pin!(watch::<Service>(&client));
    let mut slice_events = std::pin::pin!(watch::<EndpointSlice>(&client));
    let mut proxier = Some(Proxier::new(metrics.clone()));
    // Endpoint changes not yet live: when each was triggered.
    let mut pending: Vec<DateTime<Utc>> = Vec::new();
    let mut dirty = false;
    let mut next_allowed = Instant::now();

    loop {
        let ready = dirty && services.listed && slices.listed;
        tokio::select! {
            ev = service_events.next() => {
                let Some(ev) = ev else {
                    return Err(ProxyError::Watch { what: "services", message: "stream ended".into() });
                };
                match ev {
                    Ok(ev) => dirty |= services.apply(ev),
                    Err(e) => tracing::warn!("watching services: {e}"),
                }
            }
            ev = slice_events.next() => {
                let Some(ev) = ev else {
                    return Err(ProxyError::Watch { what: "endpointslices", message: "stream ended".into() });
                };
                match ev {
                    Ok(ev) => {
                        let changed = match &ev {
                            watcher::Event::Apply(s) | watcher::Event::Delete(s) => Some(trigger_time(s)),
                            _ => None,
                        };
                        // Changes seen before the first sync are part of it, not latency samples.
                        if let (Some(t), true) = (changed, slices.listed) {
                            pending.push(t);
                        }
                        dirty |= slices.apply(ev);
                    }
                    Err(e) => tracing::warn!("watching endpointslices: {e}"),
                }
            }
            _ = tokio::time::sleep_until(next_allowed), if ready => {
                dirty = false;
                let snap = snapshot(&config, &services, &slices);
                let Some(mut p) = proxier.take() else { continue };
                let joined = tokio::task::spawn_blocking(move || {
                    let r = p.sync(&snap);
                    (p, r)
                })
                .await;
                let (p, outcome) = match joined {
                    Ok(v) => v,
                    Err(e) => {
                        // The sync thread died; start again from a full replace.
                        tracing::error!("proxy sync task failed: {e}");
                        (Proxier::new(metrics.clone()), Err(ProxyError::Nft(e.to_string())))
                    }
                };
                proxier = Some(p);
                match outcome {
                    Ok(o) => {
                        let now = Utc::now();
                        for t in pending.drain(..) {
                            let latency = (now - t).to_std().unwrap_or_default();
                            metrics.record_programming(latency);
                        }
                        tracing::debug!(
                            full = o.full,
                            bytes = o.script_bytes,
                            took = ?o.duration,
                            sync_p50 = ?metrics.sync_duration().p50,
                            sync_p99 = ?metrics.sync_duration().p99,
                            programming_p50 = ?metrics.programming_latency().p50,
                            programming_p99 = ?metrics.programming_latency().p99,
                            "proxy rules synced"
                        );
                        next_allowed = Instant::now() + config.min_sync_period;
                    }
                    Err(e) => {
                        tracing::warn!("proxy sync failed, retrying: {e}");
                        dirty = true;
                        next_allowed = Instant::now() + RETRY_AFTER;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slice(name: &str, trigger: Option<&str>) -> EndpointSlice {
        let mut meta = json!({"name": name, "namespace": "default"});
        if let Some(t) = trigger {
            meta["annotations"] = json!({ TRIGGER_TIME: t });
        }
        serde_json::from_value(json!({"metadata": meta, "addressType": "IPv4", "endpoints": []}))
            .unwrap()
    }

    #[test]
    fn relist_replaces_cache_only_when_done() {
        let mut c = Cache::<EndpointSlice>::new();
        assert!(c.apply(watcher::Event::Apply(slice("a", None))));
        assert!(!c.listed);
        assert!(!c.apply(watcher::Event::Init));
        assert!(!c.apply(watcher::Event::InitApply(slice("b", None))));
        assert!(
            c.objects.contains_key("default/a"),
            "old view kept until the list is complete"
        );
        assert!(c.apply(watcher::Event::InitDone));
        assert!(c.listed);
        let keys: Vec<_> = c.objects.keys().cloned().collect();
        assert_eq!(keys, vec!["default/b".to_string()]);
        assert!(c.apply(watcher::Event::Delete(slice("b", None))));
        assert!(!c.apply(watcher::Event::Delete(slice("b", None))));
    }

    #[test]
    fn trigger_time_annotation_is_used() {
        let t = trigger_time(&slice("a", Some("2024-05-01T10:00:00Z")));
        assert_eq!(t.to_rfc3339(), "2024-05-01T10:00:00+00:00");
        let before = Utc::now();
        assert!(trigger_time(&slice("a", Some("garbage"))) >= before);
    }
}
