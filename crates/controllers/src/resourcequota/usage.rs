//! Quota arithmetic: what a namespace uses of each resource name a quota lists.

use super::quantity::Quantity;
use k8s_openapi::api::core::v1::{Container, Pod, Service};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Resource names whose bare form means the request (`cpu` is `requests.cpu`).
const REQUEST_ALIASES: &[&str] = &["cpu", "memory", "ephemeral-storage"];

/// Object-count names that predate `count/…` (`configmaps` is `count/configmaps`).
const LEGACY_COUNTS: &[&str] = &[
    "pods",
    "services",
    "configmaps",
    "secrets",
    "replicationcontrollers",
    "resourcequotas",
    "persistentvolumeclaims",
];

/// What must be read to compute a set of quotas.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub pods: bool,
    pub services: bool,
    /// `<resource>.<group>` names to count (core resources without a group).
    pub counts: BTreeSet<String>,
}

/// The objects of one namespace a computation reads.
#[derive(Debug, Default)]
pub struct Inputs {
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    pub counts: HashMap<String, usize>,
}

/// The resource a pod-level name is about: `requests.cpu`/`cpu` → (Requests, "cpu").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodAmount<'a> {
    Count,
    Requests(&'a str),
    Limits(&'a str),
}

fn pod_amount(name: &str) -> Option<PodAmount<'_>> {
    if name == "pods" || name == "count/pods" {
        return Some(PodAmount::Count);
    }
    if let Some(r) = name.strip_prefix("requests.") {
        return Some(PodAmount::Requests(r));
    }
    if let Some(r) = name.strip_prefix("limits.") {
        return Some(PodAmount::Limits(r));
    }
    if REQUEST_ALIASES.contains(&name) || name.starts_with("hugepages-") {
        return Some(PodAmount::Requests(name));
    }
    None
}

/// The `count/` target of an object-count name, if it is one.
fn counted(name: &str) -> Option<&str> {
    if let Some(r) = name.strip_prefix("count/") {
        return Some(r);
    }
    LEGACY_COUNTS.contains(&name).then_some(name)
}

pub fn needs<'a>(names: impl IntoIterator<Item = &'a String>) -> Needs {
    let mut n = Needs::default();
    for name in names {
        if pod_amount(name).is_some() {
            n.pods = true;
        } else if name.starts_with("services.") || name == "services" || name == "count/services" {
            n.services = true;
        } else if let Some(r) = counted(name) {
            n.counts.insert(r.to_string());
        }
    }
    n
}

/// Pod scopes a quota may restrict itself to (spec.scopes).
pub fn pod_in_scopes(pod: &Pod, scopes: &[String]) -> bool {
    scopes.iter().all(|s| match s.as_str() {
        "Terminating" => active_deadline(pod),
        "NotTerminating" => !active_deadline(pod),
        "BestEffort" => best_effort(pod),
        "NotBestEffort" => !best_effort(pod),
        // Scopes we do not evaluate do not filter.
        _ => true,
    })
}

fn active_deadline(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some_and(|d| d >= 0)
}

fn best_effort(pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else { return true };
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .all(|c| {
            let r = c.resources.as_ref();
            let empty = |m: Option<&BTreeMap<String, _>>| {
                m.is_none_or(|m| !m.contains_key("cpu") && !m.contains_key("memory"))
            };
            empty(r.and_then(|r| r.requests.as_ref())) && empty(r.and_then(|r| r.limits.as_ref()))
        })
}

/// Whether a pod still holds quota: terminal pods and pods past their deletion grace
/// period do not.
pub fn pod_counts(pod: &Pod, now: chrono::DateTime<chrono::Utc>) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    let meta = &pod.metadata;
    if let (Some(ts), Some(grace)) = (&meta.deletion_timestamp, meta.deletion_grace_period_seconds)
    {
        let at = chrono::DateTime::from_timestamp(ts.0.as_second(), 0);
        if at.is_some_and(|at| now > at + chrono::Duration::seconds(grace)) {
            return false;
        }
    }
    true
}

fn amount(c: &Container, limits: bool, resource: &str) -> Quantity {
    let r = c.resources.as_ref();
    let from =
        |m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            m.and_then(|m| m.get(resource))
                .and_then(|q| Quantity::parse(&q.0).ok())
        };
    let limit = from(r.and_then(|r| r.limits.as_ref()));
    let value = if limits {
        limit
    } else {
        // A limit without a request means a request of the same amount.
        from(r.and_then(|r| r.requests.as_ref())).or(limit)
    };
    value.unwrap_or(Quantity::ZERO)
}

/// A pod's effective request or limit of `resource`, as upstream's PodRequests computes
/// it: the sum over app containers and sidecars, or a larger init container's amount,
/// plus the pod overhead.
pub fn pod_resource(pod: &Pod, limits: bool, resource: &str) -> Quantity {
    let Some(spec) = &pod.spec else {
        return Quantity::ZERO;
    };
    let mut total = spec.containers.iter().fold(Quantity::ZERO, |acc, c| {
        acc.plus(amount(c, limits, resource))
    });
    let mut sidecars = Quantity::ZERO;
    let mut init_peak = Quantity::ZERO;
    for c in spec.init_containers.iter().flatten() {
        let a = amount(c, limits, resource);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars = sidecars.plus(a);
            init_peak = init_peak.max(sidecars);
        } else {
            init_peak = init_peak.max(sidecars.plus(a));
        }
    }
    total = total.plus(sidecars).max(init_peak);
    if let Some(o) = spec
        .overhead
        .as_ref()
        .and_then(|o| o.get(resource))
        .and_then(|q| Quantity::parse(&q.0).ok())
    {
        total = total.plus(o);
    }
    total
}

fn service_nodeports(s: &Service) -> usize {
    let Some(spec) = &s.spec else { return 0 };
    let ports = spec.ports.as_ref().map_or(0, Vec::len);
    match spec.type_.as_deref() {
        Some("NodePort") => ports,
        Some("LoadBalancer") if spec.allocate_load_balancer_node_ports != Some(false) => ports,
        Some("LoadBalancer") => spec
            .ports
            .iter()
            .flatten()
            .filter(|p| p.node_port.is_some_and(|n| n != 0))
            .count(),
        _ => 0,
    }
}

/// Usage of every name in `hard` that we know how to measure.
pub fn used(
    hard: &BTreeMap<String, String>,
    scopes: &[String],
    inputs: &Inputs,
    now: chrono::DateTime<chrono::Utc>,
) -> BTreeMap<String, Quantity> {
    let pods: Vec<&Pod> = inputs
        .pods
        .iter()
        .filter(|p| pod_counts(p, now) && pod_in_scopes(p, scopes))
        .collect();
    let mut out = BTreeMap::new();
    for name in hard.keys() {
        let value = if let Some(a) = pod_amount(name) {
            match a {
                PodAmount::Count => Quantity::count(pods.len() as i128),
                PodAmount::Requests(r) => pods
                    .iter()
                    .fold(Quantity::ZERO, |acc, p| acc.plus(pod_resource(p, false, r))),
                PodAmount::Limits(r) => pods
                    .iter()
                    .fold(Quantity::ZERO, |acc, p| acc.plus(pod_resource(p, true, r))),
            }
        } else if !scopes.is_empty() {
            // Scoped quotas track pods only.
            continue;
        } else {
            match name.as_str() {
                "services" | "count/services" => Quantity::count(inputs.services.len() as i128),
                "services.nodeports" => Quantity::count(
                    inputs.services.iter().map(service_nodeports).sum::<usize>() as i128,
                ),
                "services.loadbalancers" => Quantity::count(
                    inputs
                        .services
                        .iter()
                        .filter(|s| {
                            s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
                        })
                        .count() as i128,
                ),
                other => match counted(other) {
                    Some(r) => Quantity::count(inputs.counts.get(r).copied().unwrap_or(0) as i128),
                    // Storage requests: no PersistentVolumeClaims are served, so none used.
                    None if other == "requests.storage"
                        || other.ends_with(".storageclass.storage.k8s.io/requests.storage") =>
                    {
                        Quantity::ZERO
                    }
                    None => continue,
                },
            }
        };
        out.insert(name.clone(), value);
    }
    out
}

#[cfg(test)]
mod tests;
