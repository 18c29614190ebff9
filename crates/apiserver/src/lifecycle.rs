//! The fields the server owns: identity, timestamps, generation, and which part of an
//! object each endpoint may change (spec through the main resource, status through
//! /status), per kind as upstream's strategies do.

use rand::Rng;
use rkube_api::ResourceInfo;
use serde_json::{json, Value};

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn time_after(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Random suffix for generateName, from upstream's alphabet (no vowels, no look-alikes).
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Kinds whose metadata.generation tracks spec changes.
pub fn tracks_generation(res: &ResourceInfo) -> bool {
    matches!(
        (res.group, res.plural),
        (
            "apps",
            "deployments" | "replicasets" | "statefulsets" | "daemonsets"
        ) | ("batch", "jobs" | "cronjobs")
            | ("", "replicationcontrollers")
    )
}

/// Kinds whose status is written only through /status.
pub fn has_status_subresource(res: &ResourceInfo) -> bool {
    res.has_subresource("status")
}

fn meta_mut(obj: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    let meta = obj
        .as_object_mut()?
        .entry("metadata")
        .or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut()
}

fn pod_qos(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|f| pod.pointer(&format!("/spec/{f}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        any |= req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty());
        for r in ["cpu", "memory"] {
            let l = lim.and_then(|l| l.get(r));
            let q = req.and_then(|q| q.get(r)).or(l);
            if l.is_none() || q != l {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// A kind's zero status as Go serialises it.
fn empty_status(res: &ResourceInfo) -> Value {
    match (res.group, res.plural) {
        ("apps", "replicasets") | ("", "replicationcontrollers") => json!({"replicas": 0}),
        ("apps", "statefulsets") => json!({"replicas": 0, "availableReplicas": 0}),
        ("apps", "daemonsets") => json!({"currentNumberScheduled": 0, "numberMisscheduled": 0,
                                         "desiredNumberScheduled": 0, "numberReady": 0}),
        _ => json!({}),
    }
}

/// Server-owned fields of a new object.
pub fn prepare_create(res: &ResourceInfo, obj: &mut Value) {
    let Some(meta) = meta_mut(obj) else { return };
    for f in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(f);
    }
    meta.insert(
        "uid".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    meta.insert("creationTimestamp".into(), Value::String(now()));
    if tracks_generation(res) {
        meta.insert("generation".into(), json!(1));
    } else {
        meta.remove("generation");
    }
    match (res.group, res.plural) {
        ("", "pods") => {
            let qos = pod_qos(obj);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        ("", "namespaces") => obj["status"] = json!({"phase": "Active"}),
        ("", "services") => obj["status"] = json!({"loadBalancer": {}}),
        ("", "nodes") => {}
        // A new object's status starts empty, serialised as upstream's zero value: the
        // fields without omitempty are present (typed clients require them).
        _ if has_status_subresource(res) => obj["status"] = empty_status(res),
        _ => {}
    }
}

/// Carries server-owned fields from `old` into an update of the main resource.
pub fn prepare_update(res: &ResourceInfo, new: &mut Value, old: &Value) {
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let Some(meta) = meta_mut(new) else { return };
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(f) {
            Some(v) => meta.insert(f.into(), v.clone()),
            None => meta.remove(f),
        };
    }
    meta.remove("selfLink");
    if has_status_subresource(res) || res.plural == "pods" {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    if tracks_generation(res) && new.get("spec") != old.get("spec") {
        let generation = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        if let Some(meta) = meta_mut(new) {
            meta.insert("generation".into(), json!(generation));
        }
    }
}

/// An update through /status: everything but status comes from `old`.
pub fn prepare_status_update(new: &Value, old: &Value) -> Value {
    let mut merged = old.clone();
    match new.get("status") {
        Some(s) => merged["status"] = s.clone(),
        None => {
            if let Some(m) = merged.as_object_mut() {
                m.remove("status");
            }
        }
    }
    merged
}

/// The object as stored: resourceVersion lives in the store's revision, not the bytes.
pub fn for_storage(res: &ResourceInfo, obj: &Value) -> Vec<u8> {
    let converted = crate::convert::needs_conversion(res);
    if !converted && obj.pointer("/metadata/resourceVersion").is_none() {
        return serde_json::to_vec(obj).unwrap_or_default();
    }
    let mut obj = crate::convert::to_storage(res, obj);
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    serde_json::to_vec(&obj).unwrap_or_default()
}

/// Whether two objects are equal apart from metadata.resourceVersion, compared in
/// place: cloning both objects to drop the field was a tenth of a binding's cost.
pub fn same_but_rv(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    if a.len() != b.len() {
        return false;
    }
    a.iter().all(|(k, va)| match (k.as_str(), b.get(k)) {
        (_, None) => false,
        ("metadata", Some(vb)) => match (va.as_object(), vb.as_object()) {
            (Some(ma), Some(mb)) => {
                let rv = |m: &serde_json::Map<String, Value>| {
                    usize::from(m.contains_key("resourceVersion"))
                };
                ma.len() - rv(ma) == mb.len() - rv(mb)
                    && ma
                        .iter()
                        .filter(|(k, _)| *k != "resourceVersion")
                        .all(|(k, v)| mb.get(k) == Some(v))
            }
            _ => va == vb,
        },
        (_, Some(vb)) => va == vb,
    })
}

pub fn set_resource_version(obj: &mut Value, rev: i64) {
    if let Some(meta) = meta_mut(obj) {
        meta.insert("resourceVersion".into(), Value::String(rev.to_string()));
    }
}

pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_ignores_only_the_resource_version() {
        let a = serde_json::json!({"metadata": {"name": "p", "resourceVersion": "5"}, "spec": {"x": 1}});
        let b = serde_json::json!({"spec": {"x": 1}, "metadata": {"resourceVersion": "9", "name": "p"}});
        let c = serde_json::json!({"spec": {"x": 1}, "metadata": {"name": "p"}});
        let d = serde_json::json!({"spec": {"x": 2}, "metadata": {"name": "p"}});
        let e = serde_json::json!({"spec": {"x": 1}, "metadata": {"name": "p", "uid": "u"}});
        assert!(same_but_rv(&a, &b) && same_but_rv(&a, &c) && same_but_rv(&c, &b));
        assert!(!same_but_rv(&a, &d) && !same_but_rv(&a, &e) && !same_but_rv(&e, &c));
    }
    use rkube_api::find_resource;

    #[test]
    fn generation_and_status_split() {
        let deploy = find_resource("apps", "v1", "deployments").unwrap();
        let mut d = json!({"metadata": {"name": "d", "resourceVersion": "5"}, "spec": {"replicas": 1}, "status": {"replicas": 9}});
        prepare_create(deploy, &mut d);
        assert_eq!(d["metadata"]["generation"], 1);
        assert_eq!(d["status"], json!({}));
        assert!(d["metadata"].get("resourceVersion").is_none());
        let old = json!({"metadata": {"name": "d", "uid": "u", "generation": 1}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut same = json!({"metadata": {"name": "d", "labels": {"a": "b"}}, "spec": {"replicas": 1}, "status": {"replicas": 7}});
        prepare_update(deploy, &mut same, &old);
        assert_eq!(same["metadata"]["generation"], 1);
        assert_eq!(same["status"]["replicas"], 1);
        assert_eq!(same["metadata"]["uid"], "u");
        let mut changed = json!({"metadata": {"name": "d"}, "spec": {"replicas": 3}});
        prepare_update(deploy, &mut changed, &old);
        assert_eq!(changed["metadata"]["generation"], 2);
        let st = prepare_status_update(
            &json!({"spec": {"replicas": 100}, "status": {"replicas": 3}}),
            &old,
        );
        assert_eq!(
            (
                st["spec"]["replicas"].as_i64(),
                st["status"]["replicas"].as_i64()
            ),
            (Some(1), Some(3))
        );
    }

    #[test]
    fn pod_status_on_create() {
        let pods = find_resource("", "v1", "pods").unwrap();
        let mut p = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        prepare_create(pods, &mut p);
        assert_eq!(
            p["status"],
            json!({"phase": "Pending", "qosClass": "Guaranteed"})
        );
        let mut p = json!({"spec": {"containers": [{"name": "c"}]}});
        prepare_create(pods, &mut p);
        assert_eq!(p["status"]["qosClass"], "BestEffort");
        assert_eq!(name_suffix().len(), 5);
    }
}
