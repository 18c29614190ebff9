//! Resource quantities and the requests of a pod, computed the way upstream's
//! component-helpers do (containers summed, init containers as a peak, sidecars counted
//! for the whole pod lifetime, plus overhead).

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

/// CPU and memory a container is assumed to use for scoring when it requests nothing, so
/// that many zero-request pods do not all land on one node (upstream's defaults).
pub const DEFAULT_MILLI_CPU: i64 = 100;
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// Parses a Kubernetes quantity, scaled by `scale` (1000 for milli-units) and rounded up.
pub fn parse_quantity(text: &str, scale: i128) -> Option<i64> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let mut numerator: i128 = digits.parse().ok()?;
    let mut denominator: i128 = 10i128.checked_pow(frac_part.len() as u32)?;
    let (binary, exp10): (u32, i32) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        other => {
            let exp = other.strip_prefix(['e', 'E'])?;
            (0, exp.parse().ok()?)
        }
    };
    numerator = numerator.checked_mul(1i128.checked_shl(binary)?)?;
    numerator = numerator.checked_mul(scale)?;
    if exp10 >= 0 {
        numerator = numerator.checked_mul(10i128.checked_pow(exp10 as u32)?)?;
    } else {
        denominator = denominator.checked_mul(10i128.checked_pow((-exp10) as u32)?)?;
    }
    let value = (numerator + denominator - 1) / denominator;
    let value = i64::try_from(value).unwrap_or(i64::MAX);
    Some(if negative { -value } else { value })
}

/// An amount of every resource the scheduler accounts for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Only meaningful for allocatable: how many pods fit.
    pub pods: i64,
    /// Extended and hugepages resources, sorted by name.
    pub scalar: Vec<(String, i64)>,
}

impl Resources {
    fn set(&mut self, name: &str, quantity: &Quantity) {
        let scale = if name == "cpu" { 1000 } else { 1 };
        let Some(v) = parse_quantity(&quantity.0, scale) else {
            return;
        };
        match name {
            "cpu" => self.milli_cpu = v,
            "memory" => self.memory = v,
            "ephemeral-storage" => self.ephemeral_storage = v,
            "pods" => self.pods = v,
            _ => self.set_scalar(name, v),
        }
    }

    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }

    fn set_scalar(&mut self, name: &str, value: i64) {
        match self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.scalar[i].1 = value,
            Err(i) => self.scalar.insert(i, (name.to_string(), value)),
        }
    }

    pub fn from_map(map: Option<&BTreeMap<String, Quantity>>) -> Self {
        let mut r = Resources::default();
        for (name, q) in map.into_iter().flatten() {
            r.set(name, q);
        }
        r
    }

    /// Adds (sign 1) or subtracts (sign -1) `other`.
    pub fn add(&mut self, other: &Resources, sign: i64) {
        self.milli_cpu += sign * other.milli_cpu;
        self.memory += sign * other.memory;
        self.ephemeral_storage += sign * other.ephemeral_storage;
        for (name, v) in &other.scalar {
            let current = self.scalar(name);
            self.set_scalar(name, current + sign * v);
        }
    }

    fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            let current = self.scalar(name);
            self.set_scalar(name, current.max(*v));
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.iter().all(|(_, v)| *v == 0)
    }
}

/// A container's effective requests: a resource with only a limit requests its limit,
/// as API defaulting would have set it.
fn container_requests(c: &Container, non_zero: bool) -> Resources {
    let res = c.resources.as_ref();
    let mut r = Resources::from_map(res.and_then(|r| r.limits.as_ref()));
    let requests = Resources::from_map(res.and_then(|r| r.requests.as_ref()));
    if let Some(req) = res.and_then(|r| r.requests.as_ref()) {
        for name in req.keys() {
            match name.as_str() {
                "cpu" => r.milli_cpu = requests.milli_cpu,
                "memory" => r.memory = requests.memory,
                "ephemeral-storage" => r.ephemeral_storage = requests.ephemeral_storage,
                other => r.set_scalar(other, requests.scalar(other)),
            }
        }
    }
    if non_zero {
        if r.milli_cpu == 0 {
            r.milli_cpu = DEFAULT_MILLI_CPU;
        }
        if r.memory == 0 {
            r.memory = DEFAULT_MEMORY;
        }
    }
    r
}

/// What a pod requests of a node; `non_zero` substitutes the scoring defaults for
/// containers that request no cpu or memory.
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::default();
    };
    let mut total = Resources::default();
    for c in &spec.containers {
        total.add(&container_requests(c, non_zero), 1);
    }
    // Sidecars (restartable init containers) run beside everything started after them;
    // a plain init container needs its own requests plus the sidecars already running.
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let req = container_requests(c, non_zero);
        if c.restart_policy.as_deref() == Some("Always") {
            total.add(&req, 1);
            sidecars.add(&req, 1);
            init_peak.max_with(&sidecars);
        } else {
            let mut during = req;
            during.add(&sidecars, 1);
            init_peak.max_with(&during);
        }
    }
    total.max_with(&init_peak);
    if let Some(overhead) = spec.overhead.as_ref() {
        total.add(&Resources::from_map(Some(overhead)), 1);
    }
    total
}

/// A node's allocatable resources (capacity when allocatable is absent).
pub fn node_allocatable(node: &Node) -> Resources {
    let status = node.status.as_ref();
    let map = status
        .and_then(|s| s.allocatable.as_ref())
        .or_else(|| status.and_then(|s| s.capacity.as_ref()));
    Resources::from_map(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("100m", 1000), Some(100));
        assert_eq!(parse_quantity("2", 1000), Some(2000));
        assert_eq!(parse_quantity("0.5", 1000), Some(500));
        assert_eq!(parse_quantity("1Gi", 1), Some(1 << 30));
        assert_eq!(parse_quantity("1.5Ki", 1), Some(1536));
        assert_eq!(parse_quantity("1k", 1), Some(1000));
        assert_eq!(parse_quantity("1e3", 1), Some(1000));
        assert_eq!(parse_quantity("1n", 1000), Some(1)); // rounds up
        assert_eq!(parse_quantity("abc", 1), None);
        assert_eq!(parse_quantity("5Xi", 1), None);
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    #[test]
    fn requests_with_init_and_sidecars() {
        let p = pod(json!({
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}},
                {"name": "b", "resources": {"limits": {"cpu": "200m", "example.com/gpu": "1"}}}
            ],
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "1", "memory": "512Mi"}}}
            ],
            "overhead": {"cpu": "10m"}
        }));
        let r = pod_requests(&p, false);
        // Containers 300m + sidecar 50m = 350m; init peak is 1000m + 50m sidecar.
        assert_eq!(r.milli_cpu, 1050 + 10);
        assert_eq!(r.memory, 1 << 30);
        assert_eq!(r.scalar("example.com/gpu"), 1);
    }

    #[test]
    fn non_zero_defaults_apply_per_container() {
        let p = pod(json!({"containers": [
            {"name": "a"},
            {"name": "b", "resources": {"requests": {"cpu": "1"}}}
        ]}));
        let r = pod_requests(&p, true);
        assert_eq!(r.milli_cpu, 1100);
        assert_eq!(r.memory, 2 * DEFAULT_MEMORY);
        assert!(pod_requests(&p, false).memory == 0);
    }
}
