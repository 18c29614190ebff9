//! Defaults for core/v1 kinds other than the pod spec itself.

use super::pod::default_template;
use crate::value::{default_str, default_to, each_mut, get_obj_mut, obj_mut, s};
use base64::Engine as _;
use serde_json::{json, Map, Value};

pub fn default_service(svc: &mut Value) {
    let Some(spec) = obj_mut(svc, "spec") else {
        return;
    };
    default_str(spec, "sessionAffinity", "None");
    match s(spec, "sessionAffinity") {
        Some("None") => {
            if let Some(m) = spec.as_object_mut() {
                m.remove("sessionAffinityConfig");
            }
        }
        Some("ClientIP") => {
            let has_timeout = spec
                .pointer("/sessionAffinityConfig/clientIP/timeoutSeconds")
                .is_some_and(|v| !v.is_null());
            if !has_timeout {
                if let Some(m) = spec.as_object_mut() {
                    m.insert(
                        "sessionAffinityConfig".into(),
                        json!({"clientIP":{"timeoutSeconds":10800}}),
                    );
                }
            }
        }
        _ => {}
    }
    default_str(spec, "type", "ClusterIP");
    for port in each_mut(spec, "ports") {
        default_str(port, "protocol", "TCP");
        let unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset {
            if let Some(p) = port.get("port").cloned() {
                if let Some(m) = port.as_object_mut() {
                    m.insert("targetPort".into(), p);
                }
            }
        }
    }
    let ty = s(spec, "type").unwrap_or("").to_string();
    let has_external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally_accessible =
        ty == "LoadBalancer" || ty == "NodePort" || (ty == "ClusterIP" && has_external_ips);
    if externally_accessible {
        default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default_to(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        default_to(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    // The registry (not defaults.go) fills IP families; rkube runs IPv4 single-stack.
    if ty != "ExternalName" {
        default_to(spec, "ipFamilyPolicy", json!("SingleStack"));
        let empty = spec
            .get("ipFamilies")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty());
        if empty {
            if let Some(m) = spec.as_object_mut() {
                m.insert("ipFamilies".into(), json!(["IPv4"]));
            }
        }
    }
}

/// stringData is folded into data by upstream's conversion, stringData winning.
pub fn default_secret(secret: &mut Value) {
    default_str(secret, "type", "Opaque");
    let string_data = secret.as_object_mut().and_then(|m| m.remove("stringData"));
    if let Some(Value::Object(sd)) = string_data {
        if sd.is_empty() {
            return;
        }
        let Some(data) = obj_mut(secret, "data").and_then(Value::as_object_mut) else {
            return;
        };
        for (k, v) in sd {
            let raw = v.as_str().unwrap_or("");
            let enc = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
            data.insert(k, Value::String(enc));
        }
    }
}

/// `is_create` gates the registry's create-time additions (finalizer, phase).
pub fn default_namespace(ns: &mut Value, is_create: bool) {
    let name = ns
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.is_empty() {
        if let Some(labels) = obj_mut(ns, "metadata")
            .and_then(|m| obj_mut(m, "labels"))
            .and_then(Value::as_object_mut)
        {
            labels.insert("kubernetes.io/metadata.name".into(), Value::String(name));
        }
    }
    if is_create {
        if let Some(spec) = obj_mut(ns, "spec") {
            let fins = spec
                .as_object_mut()
                .map(|m| m.entry("finalizers").or_insert_with(|| json!([])));
            if let Some(Value::Array(list)) = fins {
                if !list.iter().any(|f| f.as_str() == Some("kubernetes")) {
                    list.push(json!("kubernetes"));
                }
            }
        }
    }
    if let Some(status) = obj_mut(ns, "status") {
        default_str(status, "phase", "Active");
    }
}

pub fn default_node(node: &mut Value) {
    if let Some(status) = get_obj_mut(node, "status") {
        if status.get("allocatable").is_none_or(Value::is_null) {
            if let Some(cap) = status.get("capacity").filter(|c| c.is_object()).cloned() {
                if let Some(m) = status.as_object_mut() {
                    m.insert("allocatable".into(), cap);
                }
            }
        }
    }
}

pub fn default_endpoints(ep: &mut Value) {
    for subset in each_mut(ep, "subsets") {
        for port in each_mut(subset, "ports") {
            default_str(port, "protocol", "TCP");
        }
    }
}

pub fn default_limit_range(lr: &mut Value) {
    let Some(spec) = get_obj_mut(lr, "spec") else {
        return;
    };
    for item in each_mut(spec, "limits") {
        if s(item, "type") != Some("Container") {
            continue;
        }
        let max = item
            .get("max")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let min = item
            .get("min")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut default = item
            .get("default")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in &max {
            default.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let mut req: Map<String, Value> = item
            .get("defaultRequest")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in default.iter().chain(min.iter()) {
            req.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if let Some(m) = item.as_object_mut() {
            // Empty maps are dropped by omitempty upstream, so only write non-empty ones.
            if !default.is_empty() {
                m.insert("default".into(), Value::Object(default));
            }
            if !req.is_empty() {
                m.insert("defaultRequest".into(), Value::Object(req));
            }
        }
    }
}

pub fn default_replication_controller(rc: &mut Value) {
    let template_labels = rc
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.is_object())
        .cloned();
    if let Some(labels) = template_labels {
        let empty = |v: Option<&Value>| v.and_then(Value::as_object).is_none_or(|m| m.is_empty());
        if let Some(spec) = obj_mut(rc, "spec") {
            if empty(spec.get("selector")) {
                if let Some(m) = spec.as_object_mut() {
                    m.insert("selector".into(), labels.clone());
                }
            }
        }
        if let Some(meta) = obj_mut(rc, "metadata") {
            if empty(meta.get("labels")) {
                if let Some(m) = meta.as_object_mut() {
                    m.insert("labels".into(), labels);
                }
            }
        }
    }
    if let Some(spec) = obj_mut(rc, "spec") {
        default_to(spec, "replicas", json!(1));
        default_template(spec.get_mut("template"));
    }
}

pub fn default_pod_template(pt: &mut Value) {
    default_template(pt.get_mut("template"));
}
