//! In-memory view of the Services and EndpointSlices the DNS answers come from.
//!
//! The watchers write here; queries only read. Every change to a Service or one of its
//! slices recomputes that one Service's [`Resolved`] entry (and its reverse records), so a
//! query never walks raw API objects.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Label linking an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A Service port or EndpointSlice port, as DNS needs it (lowercased name and protocol).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Port name, lowercased; empty for an unnamed port.
    pub name: String,
    /// "tcp", "udp" or "sctp".
    pub protocol: String,
    pub port: u16,
}

/// How the Service name itself resolves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Normal Service: its ClusterIPs (may be empty while not yet allocated).
    ClusterIp(Vec<IpAddr>),
    /// clusterIP None: the name resolves to the endpoints.
    Headless,
    /// type ExternalName: a CNAME to this name (no trailing dot).
    ExternalName(String),
}

/// One endpoint address that DNS publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedEndpoint {
    pub ip: IpAddr,
    /// The endpoint's hostname, or its address with `.`/`:` replaced by `-` (as CoreDNS
    /// does), lowercased: the label of `<host>.<svc>.<ns>.svc.<zone>`.
    pub host: String,
    /// The ports of the slice this endpoint came from.
    pub ports: Arc<[PortSpec]>,
}

/// Everything DNS needs to answer for one Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub kind: Kind,
    pub ports: Vec<PortSpec>,
    /// Published endpoints (ready ones, or all with publishNotReadyAddresses), unique by IP.
    pub endpoints: Vec<ResolvedEndpoint>,
}

#[derive(Clone, Debug)]
struct ServiceSpec {
    kind: Kind,
    ports: Vec<PortSpec>,
    publish_not_ready: bool,
}

#[derive(Clone, Debug)]
struct SliceEndpoint {
    addresses: Vec<IpAddr>,
    hostname: Option<String>,
    ready: bool,
}

#[derive(Clone, Debug)]
struct SliceSpec {
    endpoints: Vec<SliceEndpoint>,
    ports: Arc<[PortSpec]>,
}

/// A reverse record: which name an address maps back to, and who contributed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtrTarget {
    /// Relative name below the zone, e.g. `web.default.svc` or `pod-0.db.default.svc`.
    pub name: String,
    owner: (String, String),
}

/// The index: raw inputs plus the per-Service results derived from them.
#[derive(Default, Debug)]
pub struct Index {
    services: HashMap<(String, String), ServiceSpec>,
    /// (namespace, service) -> slice name -> slice.
    slices: HashMap<(String, String), BTreeMap<String, SliceSpec>>,
    /// namespace -> service -> resolved records.
    resolved: HashMap<String, HashMap<String, Arc<Resolved>>>,
    ptr: HashMap<IpAddr, Vec<PtrTarget>>,
    /// Bumped on every change; the SOA serial.
    generation: u32,
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn service_key(svc: &Service) -> Option<(String, String)> {
    let ns = svc.metadata.namespace.as_deref().unwrap_or("default");
    let name = svc.metadata.name.as_deref()?;
    Some((lower(ns), lower(name)))
}

fn slice_key(slice: &EndpointSlice) -> Option<((String, String), String)> {
    let ns = slice.metadata.namespace.as_deref().unwrap_or("default");
    let svc = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    let name = slice.metadata.name.clone().unwrap_or_default();
    Some(((lower(ns), lower(svc)), name))
}

fn service_spec(svc: &Service) -> ServiceSpec {
    let spec = svc.spec.clone().unwrap_or_default();
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(PortSpec {
                name: lower(p.name.as_deref().unwrap_or("")),
                protocol: lower(p.protocol.as_deref().unwrap_or("TCP")),
                port: u16::try_from(p.port).ok()?,
            })
        })
        .collect();
    let kind = if spec.type_.as_deref() == Some("ExternalName") {
        let target = spec.external_name.unwrap_or_default();
        Kind::ExternalName(lower(target.trim_end_matches('.')))
    } else if spec.cluster_ip.as_deref() == Some("None") {
        Kind::Headless
    } else {
        let mut ips: Vec<IpAddr> = spec
            .cluster_ips
            .iter()
            .flatten()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        if ips.is_empty() {
            ips.extend(
                spec.cluster_ip
                    .as_deref()
                    .and_then(|ip| ip.parse::<IpAddr>().ok()),
            );
        }
        Kind::ClusterIp(ips)
    };
    ServiceSpec {
        kind,
        ports,
        publish_not_ready: spec.publish_not_ready_addresses.unwrap_or(false),
    }
}

fn slice_spec(slice: &EndpointSlice) -> SliceSpec {
    let ports: Vec<PortSpec> = slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(PortSpec {
                name: lower(p.name.as_deref().unwrap_or("")),
                protocol: lower(p.protocol.as_deref().unwrap_or("TCP")),
                port: u16::try_from(p.port?).ok()?,
            })
        })
        .collect();
    // FQDN slices carry names, not addresses; they have nothing to publish as A/AAAA.
    let endpoints = if slice.address_type == "FQDN" {
        Vec::new()
    } else {
        slice
            .endpoints
            .iter()
            .map(|ep| SliceEndpoint {
                addresses: ep.addresses.iter().filter_map(|a| a.parse().ok()).collect(),
                hostname: ep.hostname.as_deref().map(lower),
                // The API defines an unset ready condition as ready.
                ready: ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true),
            })
            .collect()
    };
    SliceSpec {
        endpoints,
        ports: ports.into(),
    }
}

/// The label CoreDNS uses for an endpoint without a hostname: its address, dashed.
pub fn dashed_ip(ip: &IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

impl Index {
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes on every update; used as the SOA serial.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Resolved records of `<service>.<namespace>` (both lowercase).
    pub fn service(&self, namespace: &str, service: &str) -> Option<Arc<Resolved>> {
        self.resolved.get(namespace)?.get(service).cloned()
    }

    /// Whether any Service exists in the namespace (stands in for "namespace exists").
    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.resolved.get(namespace).is_some_and(|m| !m.is_empty())
    }

    /// Names an address maps back to.
    pub fn ptr(&self, ip: &IpAddr) -> &[PtrTarget] {
        self.ptr.get(ip).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    pub fn apply_service(&mut self, svc: &Service) {
        if let Some(key) = service_key(svc) {
            self.services.insert(key.clone(), service_spec(svc));
            self.refresh(&key);
        }
    }

    pub fn delete_service(&mut self, svc: &Service) {
        if let Some(key) = service_key(svc) {
            self.services.remove(&key);
            self.refresh(&key);
        }
    }

    pub fn apply_slice(&mut self, slice: &EndpointSlice) {
        if let Some((key, name)) = slice_key(slice) {
            self.slices
                .entry(key.clone())
                .or_default()
                .insert(name, slice_spec(slice));
            self.refresh(&key);
        }
    }

    pub fn delete_slice(&mut self, slice: &EndpointSlice) {
        if let Some((key, name)) = slice_key(slice) {
            if let Some(map) = self.slices.get_mut(&key) {
                map.remove(&name);
                if map.is_empty() {
                    self.slices.remove(&key);
                }
            }
            self.refresh(&key);
        }
    }

    /// Replaces every Service with a fresh list (a watch relist).
    pub fn replace_services<'a>(&mut self, list: impl IntoIterator<Item = &'a Service>) {
        let old: Vec<_> = self.services.keys().cloned().collect();
        self.services.clear();
        for svc in list {
            if let Some(key) = service_key(svc) {
                self.services.insert(key, service_spec(svc));
            }
        }
        let mut keys: Vec<_> = self.services.keys().cloned().collect();
        keys.extend(old);
        for key in keys {
            self.refresh(&key);
        }
    }

    /// Replaces every EndpointSlice with a fresh list (a watch relist).
    pub fn replace_slices<'a>(&mut self, list: impl IntoIterator<Item = &'a EndpointSlice>) {
        let mut keys: Vec<_> = self.slices.keys().cloned().collect();
        self.slices.clear();
        for slice in list {
            if let Some((key, name)) = slice_key(slice) {
                self.slices
                    .entry(key)
                    .or_default()
                    .insert(name, slice_spec(slice));
            }
        }
        keys.extend(self.slices.keys().cloned());
        for key in keys {
            self.refresh(&key);
        }
    }

    /// Recomputes one Service's records and reverse entries from its raw inputs.
    fn refresh(&mut self, key: &(String, String)) {
        self.generation = self.generation.wrapping_add(1);
        let (ns, name) = key;
        if let Some(old) = self.resolved.get_mut(ns).and_then(|m| m.remove(name)) {
            self.drop_ptrs(key, &old);
        }
        if self.resolved.get(ns).is_some_and(HashMap::is_empty) {
            self.resolved.remove(ns);
        }
        let Some(spec) = self.services.get(key) else {
            return;
        };
        let resolved = Arc::new(self.resolve(key, spec));
        self.add_ptrs(key, &resolved);
        self.resolved
            .entry(ns.clone())
            .or_default()
            .insert(name.clone(), resolved);
    }

    fn resolve(&self, key: &(String, String), spec: &ServiceSpec) -> Resolved {
        let mut endpoints: Vec<ResolvedEndpoint> = Vec::new();
        let mut seen: HashSet<IpAddr> = HashSet::new();
        if !matches!(spec.kind, Kind::ExternalName(_)) {
            for slice in self.slices.get(key).into_iter().flat_map(|m| m.values()) {
                for ep in &slice.endpoints {
                    if !ep.ready && !spec.publish_not_ready {
                        continue;
                    }
                    for ip in &ep.addresses {
                        // Two slices may briefly carry the same address during a move.
                        if !seen.insert(*ip) {
                            continue;
                        }
                        endpoints.push(ResolvedEndpoint {
                            ip: *ip,
                            host: ep.hostname.clone().unwrap_or_else(|| dashed_ip(ip)),
                            ports: slice.ports.clone(),
                        });
                    }
                }
            }
        }
        Resolved {
            kind: spec.kind.clone(),
            ports: spec.ports.clone(),
            endpoints,
        }
    }

    fn ptr_names(key: &(String, String), resolved: &Resolved) -> Vec<(IpAddr, String)> {
        let (ns, name) = key;
        match &resolved.kind {
            Kind::ClusterIp(ips) => ips
                .iter()
                .map(|ip| (*ip, format!("{name}.{ns}.svc")))
                .collect(),
            Kind::Headless => resolved
                .endpoints
                .iter()
                .map(|ep| (ep.ip, format!("{}.{name}.{ns}.svc", ep.host)))
                .collect(),
            Kind::ExternalName(_) => Vec::new(),
        }
    }

    fn add_ptrs(&mut self, key: &(String, String), resolved: &Resolved) {
        for (ip, name) in Self::ptr_names(key, resolved) {
            self.ptr.entry(ip).or_default().push(PtrTarget {
                name,
                owner: key.clone(),
            });
        }
    }

    fn drop_ptrs(&mut self, key: &(String, String), resolved: &Resolved) {
        for (ip, _) in Self::ptr_names(key, resolved) {
            if let Some(list) = self.ptr.get_mut(&ip) {
                list.retain(|t| &t.owner != key);
                if list.is_empty() {
                    self.ptr.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
