//! Pod fields and container resources as env values and downwardAPI file contents
//! (upstream: podFieldSelectorRuntimeValue, fieldpath.ExtractFieldPathAsString and
//! resource.ExtractContainerResourceValue).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Container, ObjectFieldSelector, Pod, ResourceFieldSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::quantity::{ceil_div_text, parse_nanos};
use crate::error::{Error, Result};

/// Where pod-level values come from at the time of the lookup.
#[derive(Debug, Clone, Copy)]
pub struct PodAddresses {
    pub host_ip: Option<IpAddr>,
    pub pod_ip: Option<IpAddr>,
}

/// `metadata.labels['key']` → Some(("labels", "key")).
fn subscript(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("metadata.")?;
    let (field, rest) = rest.split_once("['")?;
    let key = rest.strip_suffix("']")?;
    Some((field, key))
}

/// Upstream's FormatMap: sorted `key="value"` lines with Go-style quoting, no final newline.
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn ips_of(pod: &Pod, current: Option<IpAddr>, host: bool) -> Vec<String> {
    let status = pod.status.as_ref();
    let listed: Vec<String> = if host {
        status
            .and_then(|s| s.host_ips.as_ref())
            .map(|l| l.iter().map(|i| i.ip.clone()).collect())
            .unwrap_or_default()
    } else {
        status
            .and_then(|s| s.pod_ips.as_ref())
            .map(|l| l.iter().map(|i| i.ip.clone()).collect())
            .unwrap_or_default()
    };
    match current {
        // The kubelet knows the address before the status carrying it is written.
        Some(ip) => {
            let first = ip.to_string();
            let mut out = vec![first.clone()];
            out.extend(listed.into_iter().filter(|i| *i != first));
            out
        }
        None => listed,
    }
}

/// The value of a fieldRef; `for_volume` allows the whole-map `metadata.labels` and
/// `metadata.annotations` forms that only downwardAPI volumes accept.
pub fn field_value(
    pod: &Pod,
    selector: &ObjectFieldSelector,
    addrs: PodAddresses,
    for_volume: bool,
) -> Result<String> {
    let path = selector.field_path.as_str();
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    if let Some((field, key)) = subscript(path) {
        let map = match field {
            "labels" => meta.labels.as_ref(),
            "annotations" => meta.annotations.as_ref(),
            _ => return Err(unsupported(path)),
        };
        return Ok(map.and_then(|m| m.get(key)).cloned().unwrap_or_default());
    }
    let value = match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" if for_volume => format_map(meta.labels.as_ref()),
        "metadata.annotations" if for_volume => format_map(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" => ips_of(pod, addrs.host_ip, true)
            .into_iter()
            .next()
            .unwrap_or_default(),
        "status.hostIPs" => ips_of(pod, addrs.host_ip, true).join(","),
        "status.podIP" => ips_of(pod, addrs.pod_ip, false)
            .into_iter()
            .next()
            .unwrap_or_default(),
        "status.podIPs" => ips_of(pod, addrs.pod_ip, false).join(","),
        _ => return Err(unsupported(path)),
    };
    Ok(value)
}

fn unsupported(path: &str) -> Error {
    Error::Spec(format!("unsupported fieldPath: {path}"))
}

/// What a container gets when it sets no limit: the node's allocatable, as upstream's
/// MergeContainerResourceLimits fills in.
#[derive(Debug, Clone, Copy)]
pub struct NodeAllocatable {
    pub cpu_nanos: i128,
    pub memory_nanos: i128,
    pub ephemeral_storage_nanos: i128,
}

impl NodeAllocatable {
    /// This machine's CPUs, memory and root filesystem size.
    pub fn of_host() -> Self {
        let cpus = crate::node::host::online_cpus();
        let memory = crate::node::host::memory_total_bytes().unwrap_or(0);
        let disk = crate::node::host::filesystem_bytes(std::path::Path::new("/"))
            .map(|(total, _)| total)
            .unwrap_or(0);
        NodeAllocatable {
            cpu_nanos: i128::from(cpus) * 1_000_000_000,
            memory_nanos: i128::from(memory) * 1_000_000_000,
            ephemeral_storage_nanos: i128::from(disk) * 1_000_000_000,
        }
    }
}

/// The value of a resourceFieldRef for `container`.
pub fn resource_value(
    container: &Container,
    selector: &ResourceFieldSelector,
    node: &NodeAllocatable,
) -> Result<String> {
    let resources = container.resources.as_ref();
    let (kind, name) = selector.resource.split_once('.').ok_or_else(|| {
        Error::Spec(format!(
            "unsupported container resource : {}",
            selector.resource
        ))
    })?;
    let map = match kind {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => None,
    };
    let set = map
        .and_then(|m| m.get(name))
        .and_then(|q: &Quantity| parse_nanos(&q.0));
    let default = match (kind, name) {
        ("limits", "cpu") => node.cpu_nanos,
        ("limits", "memory") => node.memory_nanos,
        ("limits", "ephemeral-storage") => node.ephemeral_storage_nanos,
        ("requests", "cpu" | "memory" | "ephemeral-storage") => 0,
        (_, n) if n.starts_with("hugepages-") => 0,
        _ => {
            return Err(Error::Spec(format!(
                "unsupported container resource : {}",
                selector.resource
            )))
        }
    };
    // A request left unset defaults to the limit, as API defaulting does.
    let value = match (set, kind) {
        (Some(v), _) => v,
        (None, "requests") => resources
            .and_then(|r| r.limits.as_ref())
            .and_then(|m| m.get(name))
            .and_then(|q| parse_nanos(&q.0))
            .unwrap_or(default),
        (None, _) => default,
    };
    let divisor = selector
        .divisor
        .as_ref()
        .and_then(|d| parse_nanos(&d.0))
        .unwrap_or(1_000_000_000);
    // CPU is rounded to millicores and memory to bytes before dividing, like upstream.
    let value = if name == "cpu" {
        round_up(value, 1_000_000)
    } else {
        round_up(value, 1_000_000_000)
    };
    Ok(ceil_div_text(value, divisor))
}

fn round_up(value: i128, unit: i128) -> i128 {
    let q = value.div_euclid(unit);
    let q = if value.rem_euclid(unit) != 0 {
        q + 1
    } else {
        q
    };
    q * unit
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns1", "uid": "u-1",
                "labels": {"app": "web", "tier": "a\"b"}, "annotations": {"note": "x"}},
            "spec": {"nodeName": "n1", "serviceAccountName": "sa",
                "containers": [{"name": "c"}]},
            "status": {"podIPs": [{"ip": "10.0.0.5"}], "hostIPs": [{"ip": "192.168.1.2"}]}
        }))
        .unwrap()
    }

    fn sel(path: &str) -> ObjectFieldSelector {
        ObjectFieldSelector {
            field_path: path.into(),
            api_version: None,
        }
    }

    const NONE: PodAddresses = PodAddresses {
        host_ip: None,
        pod_ip: None,
    };

    #[test]
    fn resolves_pod_fields() {
        let p = pod();
        let get = |path: &str| field_value(&p, &sel(path), NONE, false).unwrap();
        assert_eq!(get("metadata.name"), "web");
        assert_eq!(get("metadata.namespace"), "ns1");
        assert_eq!(get("metadata.uid"), "u-1");
        assert_eq!(get("metadata.labels['app']"), "web");
        assert_eq!(get("metadata.annotations['note']"), "x");
        assert_eq!(get("metadata.labels['missing']"), "");
        assert_eq!(get("spec.nodeName"), "n1");
        assert_eq!(get("spec.serviceAccountName"), "sa");
        assert_eq!(get("status.podIP"), "10.0.0.5");
        assert_eq!(get("status.hostIPs"), "192.168.1.2");
        assert!(field_value(&p, &sel("metadata.labels"), NONE, false).is_err());
        assert!(field_value(&p, &sel("spec.bogus"), NONE, false).is_err());
    }

    #[test]
    fn known_addresses_win_over_a_stale_status() {
        let p = pod();
        let addrs = PodAddresses {
            host_ip: Some("192.168.1.2".parse().unwrap()),
            pod_ip: Some("10.0.0.9".parse().unwrap()),
        };
        assert_eq!(
            field_value(&p, &sel("status.podIPs"), addrs, false).unwrap(),
            "10.0.0.9,10.0.0.5"
        );
        assert_eq!(
            field_value(&p, &sel("status.hostIPs"), addrs, false).unwrap(),
            "192.168.1.2"
        );
    }

    #[test]
    fn whole_maps_are_formatted_for_volumes() {
        let p = pod();
        assert_eq!(
            field_value(&p, &sel("metadata.labels"), NONE, true).unwrap(),
            "app=\"web\"\ntier=\"a\\\"b\""
        );
    }

    #[test]
    fn resource_values_use_divisors_and_node_defaults() {
        let c: Container = serde_json::from_value(json!({"name": "c",
            "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "250m"}}}))
        .unwrap();
        let node = NodeAllocatable {
            cpu_nanos: 4_000_000_000,
            memory_nanos: 0,
            ephemeral_storage_nanos: 0,
        };
        let r = |res: &str, div: Option<&str>| {
            resource_value(
                &c,
                &ResourceFieldSelector {
                    resource: res.into(),
                    divisor: div.map(|d| Quantity(d.into())),
                    container_name: None,
                },
                &node,
            )
            .unwrap()
        };
        assert_eq!(r("limits.memory", Some("1Mi")), "128");
        assert_eq!(r("requests.memory", None), "134217728");
        assert_eq!(r("requests.cpu", Some("1m")), "250");
        assert_eq!(r("requests.cpu", None), "1");
        assert_eq!(r("limits.cpu", None), "4");
    }
}
