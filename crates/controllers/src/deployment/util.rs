//! Pure deployment arithmetic and bookkeeping (upstream deployment/util): template
//! hashing, revision annotations, maxSurge/maxUnavailable resolution, proportions.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;
use std::collections::BTreeMap;

pub const HASH_LABEL: &str = "pod-template-hash";
pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Upstream's cap on the revision-history annotation length.
const HISTORY_LIMIT_CHARS: usize = 2000;

/// Deployment annotations that are bookkeeping of their own, never copied to ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// Name-safe alphabet without vowels (so no words appear) and without look-alikes.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[b as usize % SAFE_ALPHABET.len()] as char)
        .collect()
}

pub fn fnv32a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// JSON with object keys sorted at every level, so equal templates hash equally whatever
/// order their fields arrived in.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The pod-template-hash: FNV-32a of the template (here over its canonical JSON rather
/// than Go's struct dump), then the collision count's little-endian bytes, rendered as
/// the decimal number's digits through the safe alphabet.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut text = String::new();
    canonical(
        &prune(serde_json::to_value(template).unwrap_or_default()),
        &mut text,
    );
    let mut data = text.into_bytes();
    if let Some(c) = collision_count {
        data.extend_from_slice(&(c as u32).to_le_bytes());
    }
    safe_encode(&fnv32a(&data).to_string())
}

/// Drops nulls and empty maps/lists: upstream's semantic equality treats nil and empty
/// alike, and defaulting may leave either.
fn prune(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, prune(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(prune).collect()),
        other => other,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Whether two templates are the same apart from the pod-template-hash label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            l.remove(HASH_LABEL);
        }
        prune(serde_json::to_value(t).unwrap_or_default())
    };
    strip(a) == strip(b)
}

/// An int-or-percent scaled against `total`; percentages round up or down as asked.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid type: string is not a percentage: {s:?}"))?;
            let scaled = pct * i64::from(total);
            let v = if round_up {
                (scaled + 99).div_euclid(100)
            } else {
                scaled.div_euclid(100)
            };
            Ok(v as i32)
        }
    }
}

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

/// (maxSurge, maxUnavailable) in pods; both zero is not allowed, so unavailable becomes 1.
pub fn fenceposts(d: &Deployment) -> (i32, i32) {
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.clone())
        .unwrap_or_default();
    let quarter = IntOrString::String("25%".into());
    let desired = replicas(d);
    let surge = scaled_value(ru.max_surge.as_ref().unwrap_or(&quarter), desired, true).unwrap_or(0);
    let unavailable = scaled_value(
        ru.max_unavailable.as_ref().unwrap_or(&quarter),
        desired,
        false,
    )
    .unwrap_or(0);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

pub fn max_surge(d: &Deployment) -> i32 {
    if is_rolling(d) {
        fenceposts(d).0
    } else {
        0
    }
}

pub fn max_unavailable(d: &Deployment) -> i32 {
    let desired = replicas(d);
    if !is_rolling(d) || desired == 0 {
        return 0;
    }
    fenceposts(d).1.min(desired)
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

pub fn rs_status(rs: &ReplicaSet) -> (i32, i32, i32) {
    let s = rs.status.clone().unwrap_or_default();
    (
        s.replicas,
        s.ready_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
    )
}

pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(rs, REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// Records desired and max replicas on an RS; true when they changed.
pub fn set_replicas_annotations(
    ann: &mut BTreeMap<String, String>,
    desired: i32,
    max: i32,
) -> bool {
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let v = v.to_string();
        if ann.get(k) != Some(&v) {
            ann.insert(k.to_string(), v);
            changed = true;
        }
    }
    changed
}

/// Brings the new RS's annotations up to date: copies the deployment's own annotations,
/// raises the revision (remembering the previous one in revision-history, which is how
/// a rollback shows), and on creation records replica counts. True when anything changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    ann: &mut BTreeMap<String, String>,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if NOT_COPIED.contains(&k.as_str()) || ann.get(k) == Some(v) {
            continue;
        }
        ann.insert(k.clone(), v.clone());
        changed = true;
    }
    let old = ann.get(REVISION).cloned();
    let old_num: i64 = match old.as_deref() {
        None | Some("") => 0,
        Some(s) => match s.parse() {
            Ok(n) => n,
            Err(_) => return false,
        },
    };
    if old_num < new_revision {
        ann.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old.filter(|o| !o.is_empty()) {
            append_history(ann, &old);
        }
    }
    if !exists {
        let desired = replicas(d);
        changed |= set_replicas_annotations(ann, desired, desired + max_surge(d));
    }
    changed
}

fn append_history(ann: &mut BTreeMap<String, String>, old: &str) {
    let history = ann.get(REVISION_HISTORY).cloned().unwrap_or_default();
    if history.is_empty() {
        ann.insert(REVISION_HISTORY.into(), old.to_string());
        return;
    }
    // Drop the oldest entries until the list fits the length cap.
    let mut entries: Vec<&str> = history.split(',').collect();
    let mut total = history.len() + old.len() + 1;
    while total > HISTORY_LIMIT_CHARS && !entries.is_empty() {
        total -= entries.remove(0).len() + 1;
    }
    if total <= HISTORY_LIMIT_CHARS {
        entries.push(old);
        ann.insert(REVISION_HISTORY.into(), entries.join(","));
    }
}

/// How many replicas an RS should gain (or lose, negative) when the deployment is
/// resized mid-rollout: its share by the max-replicas it was last sized for.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    let size = rs_replicas(rs);
    if size == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let size = rs_replicas(rs);
    if replicas(d) == 0 {
        return -size;
    }
    let deployment_size = replicas(d) + max_surge(d);
    let annotated = annotation(rs, MAX_REPLICAS)
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
    if annotated == 0 {
        return 0;
    }
    let new_size = f64::from(size) * f64::from(deployment_size) / f64::from(annotated);
    new_size.round() as i32 - size
}

#[cfg(test)]
#[path = "util_tests.rs"]
mod tests;
