//! Pod QoS class and the CRI Linux resources of a container, from requests and limits,
//! with the same arithmetic as upstream's kuberuntime (cpu shares from requests,
//! CFS quota from limits, OOM score by QoS class).

use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use rkube_cri::api;

const MIN_SHARES: i64 = 2;
const MAX_SHARES: i64 = 262_144;
const SHARES_PER_CPU: i64 = 1024;
const QUOTA_PERIOD: i64 = 100_000;
const MIN_QUOTA: i64 = 1000;

/// A quantity in thousandths of its unit, rounded up (upstream's MilliValue); negative
/// or malformed quantities are None.
pub fn milli(q: &Quantity) -> Option<i128> {
    rkube_api::quantity::parse_milli(&q.0)
        .ok()
        .filter(|v| *v >= 0)
}

/// Whole units, rounded up (bytes for memory).
pub fn value(q: &Quantity) -> Option<i128> {
    milli(q).map(|m| (m + 999) / 1000)
}

fn get<'a>(r: Option<&'a ResourceRequirements>, limits: bool, name: &str) -> Option<&'a Quantity> {
    let r = r?;
    let map = if limits { &r.limits } else { &r.requests };
    map.as_ref()?.get(name)
}

/// The pod's QoS class (upstream GetPodQOS over cpu and memory of all containers).
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "BestEffort";
    };
    let all = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    let mut any = false;
    let mut guaranteed = true;
    for c in all {
        let r = c.resources.as_ref();
        for name in ["cpu", "memory"] {
            let req = get(r, false, name).and_then(milli).filter(|v| *v > 0);
            let lim = get(r, true, name).and_then(milli).filter(|v| *v > 0);
            if req.is_some() || lim.is_some() {
                any = true;
            }
            // Requests default to limits (the API server does this too).
            match (req.or(lim), lim) {
                (Some(q), Some(l)) if q == l => {}
                _ => guaranteed = false,
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The pod's cgroup under the cgroupfs driver: guaranteed pods sit directly under the
/// root, the others under `burstable/` or `besteffort/`.
pub fn cgroup_parent(cgroup_root: &str, qos: &str, pod_uid: &str) -> String {
    let root = cgroup_root.trim_end_matches('/');
    match qos {
        "Guaranteed" => format!("{root}/pod{pod_uid}"),
        other => format!("{root}/{}/pod{pod_uid}", other.to_ascii_lowercase()),
    }
}

/// Host memory in bytes (for the burstable OOM score); 0 when unknown.
pub fn memory_capacity() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<i64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Upstream's OOM score policy; containerd clamps it where it may not lower scores.
fn oom_score_adj(qos: &str, memory_request: i64, capacity: i64) -> i64 {
    match qos {
        "Guaranteed" => -997,
        "BestEffort" => 1000,
        _ if capacity <= 0 => 999,
        _ => {
            let adj = 1000 - (1000 * memory_request as i128 / capacity as i128) as i64;
            adj.clamp(3, 999)
        }
    }
}

/// The CRI Linux resources of one container.
pub fn linux_resources(
    container: &Container,
    qos: &str,
    capacity: i64,
) -> api::LinuxContainerResources {
    let r = container.resources.as_ref();
    let cpu_limit = get(r, true, "cpu").and_then(milli).unwrap_or(0);
    let cpu_request = get(r, false, "cpu")
        .and_then(milli)
        .filter(|v| *v > 0)
        .unwrap_or(cpu_limit);
    let mem_limit = get(r, true, "memory").and_then(value).unwrap_or(0);
    let mem_request = get(r, false, "memory")
        .and_then(value)
        .filter(|v| *v > 0)
        .unwrap_or(mem_limit);
    let shares = if cpu_request == 0 {
        MIN_SHARES
    } else {
        ((cpu_request * SHARES_PER_CPU as i128 / 1000) as i64).clamp(MIN_SHARES, MAX_SHARES)
    };
    let (cpu_quota, cpu_period) = if cpu_limit > 0 {
        let quota = ((cpu_limit * QUOTA_PERIOD as i128 / 1000) as i64).max(MIN_QUOTA);
        (quota, QUOTA_PERIOD)
    } else {
        (0, QUOTA_PERIOD)
    };
    api::LinuxContainerResources {
        cpu_period,
        cpu_quota,
        cpu_shares: shares,
        memory_limit_in_bytes: i64::try_from(mem_limit).unwrap_or(i64::MAX),
        oom_score_adj: oom_score_adj(
            qos,
            i64::try_from(mem_request).unwrap_or(i64::MAX),
            capacity,
        ),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use std::collections::BTreeMap;

    fn q(s: &str) -> Quantity {
        Quantity(s.into())
    }

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let map = |v: &[(&str, &str)]| -> Option<BTreeMap<String, Quantity>> {
            (!v.is_empty()).then(|| v.iter().map(|(k, x)| (k.to_string(), q(x))).collect())
        };
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: map(requests),
                limits: map(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(milli(&q("100m")), Some(100));
        assert_eq!(milli(&q("1.5")), Some(1500));
        assert_eq!(value(&q("64Mi")), Some(64 << 20));
        assert_eq!(value(&q("1G")), Some(1_000_000_000));
        assert_eq!(milli(&q("1e3")), Some(1_000_000));
        assert_eq!(milli(&q("abc")), None);
    }

    #[test]
    fn qos_classes() {
        assert_eq!(qos_class(&pod(vec![container(&[], &[])])), "BestEffort");
        assert_eq!(
            qos_class(&pod(vec![container(&[("cpu", "100m")], &[])])),
            "Burstable"
        );
        let g = container(&[], &[("cpu", "1"), ("memory", "1Gi")]);
        assert_eq!(qos_class(&pod(vec![g.clone()])), "Guaranteed");
        let partial = container(&[], &[("cpu", "1")]);
        assert_eq!(qos_class(&pod(vec![g, partial])), "Burstable");
    }

    #[test]
    fn cgroup_parents_follow_cgroupfs_naming() {
        assert_eq!(
            cgroup_parent("/kubepods", "Burstable", "u-1"),
            "/kubepods/burstable/podu-1"
        );
        assert_eq!(
            cgroup_parent("/kubepods/", "BestEffort", "u-1"),
            "/kubepods/besteffort/podu-1"
        );
        assert_eq!(
            cgroup_parent("/kubepods", "Guaranteed", "u-1"),
            "/kubepods/podu-1"
        );
    }

    #[test]
    fn cpu_and_memory_arithmetic() {
        let c = container(&[("cpu", "250m")], &[("cpu", "500m"), ("memory", "128Mi")]);
        let r = linux_resources(&c, "Burstable", 1 << 30);
        assert_eq!(r.cpu_shares, 256);
        assert_eq!(r.cpu_quota, 50_000);
        assert_eq!(r.cpu_period, 100_000);
        assert_eq!(r.memory_limit_in_bytes, 128 << 20);
        // 128Mi of 1Gi requested: 1000 - 125.
        assert_eq!(r.oom_score_adj, 875);
        let none = linux_resources(&container(&[], &[]), "BestEffort", 1 << 30);
        assert_eq!(none.cpu_shares, 2);
        assert_eq!(none.cpu_quota, 0);
        assert_eq!(none.memory_limit_in_bytes, 0);
        assert_eq!(none.oom_score_adj, 1000);
        // A limit alone sets the request too.
        let lim = linux_resources(&container(&[], &[("cpu", "2")]), "Burstable", 0);
        assert_eq!(lim.cpu_shares, 2048);
    }
}
