//! ConfigMap, Secret, Namespace, Node, Endpoints, LimitRange, ResourceQuota, core Event.

use crate::errors::{forbidden, invalid, not_supported, required, too_long, FieldError, Path};
use crate::meta::validate_finalizer_name;
use crate::names::{config_map_key, dns1123_label, is_ip, port_num, qualified_name};
use crate::quantity;
use crate::value::{arr, b, i, obj, s, sz};
use base64::Engine as _;
use serde_json::Value;

const MAX_SECRET_SIZE: usize = 1024 * 1024;

fn decode_b64(v: &Value) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str()?)
        .ok()
}

pub fn validate_config_map(cm: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    let binary = obj(cm, "binaryData");
    if let Some(data) = obj(cm, "data") {
        for (k, v) in data {
            let p = Path::root("data").key(k);
            for m in config_map_key(k) {
                errs.push(invalid(&p, k.as_str(), m));
            }
            if binary.is_some_and(|b| b.contains_key(k)) {
                errs.push(invalid(
                    &p,
                    k.as_str(),
                    "duplicate of key present in binaryData",
                ));
            }
            total += v.as_str().map_or(0, str::len);
        }
    }
    if let Some(bin) = binary {
        for (k, v) in bin {
            for m in config_map_key(k) {
                errs.push(invalid(&Path::root("binaryData").key(k), k.as_str(), m));
            }
            total += decode_b64(v).map_or(0, |d| d.len());
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(too_long(&Path::root(""), MAX_SECRET_SIZE));
    }
    errs
}

pub fn validate_secret(sec: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let data_path = Path::root("data");
    let data = obj(sec, "data");
    let mut total = 0usize;
    if let Some(data) = data {
        for (k, v) in data {
            for m in config_map_key(k) {
                errs.push(invalid(&data_path.key(k), k.as_str(), m));
            }
            total += decode_b64(v).map_or(0, |d| d.len());
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(too_long(&data_path, MAX_SECRET_SIZE));
    }
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    let bytes = |k: &str| {
        data.and_then(|d| d.get(k))
            .and_then(decode_b64)
            .unwrap_or_default()
    };
    match sz(sec, "type") {
        "kubernetes.io/service-account-token" => {
            let name = sec
                .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if name.is_empty() {
                let p = Path::root("metadata")
                    .child("annotations")
                    .key("kubernetes.io/service-account.name");
                errs.push(required(&p, ""));
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if sz(sec, "type") == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            if !has(key) {
                errs.push(required(&data_path.key(key), ""));
            } else if let Err(e) =
                serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes(key))
            {
                errs.push(invalid(
                    &data_path.key(key),
                    "<secret contents redacted>",
                    e.to_string(),
                ));
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(required(&data_path.key("username"), ""));
            errs.push(required(&data_path.key("password"), ""));
        }
        "kubernetes.io/ssh-auth" if bytes("ssh-privatekey").is_empty() => {
            errs.push(required(&data_path.key("ssh-privatekey"), ""));
        }
        "kubernetes.io/tls" => {
            for k in ["tls.crt", "tls.key"] {
                if !has(k) {
                    errs.push(required(&data_path.key(k), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

/// ConfigMap/Secret update rules for `immutable: true`.
pub fn validate_immutable_data(new: &Value, old: &Value, keys: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if b(old, "immutable") != Some(true) {
        return errs;
    }
    const MSG: &str = "field is immutable when `immutable` is set";
    if b(new, "immutable") != Some(true) {
        errs.push(forbidden(&Path::root("immutable"), MSG));
    }
    for k in keys {
        let norm = |v: &Value| {
            v.get(*k)
                .filter(|x| x.as_object().is_some_and(|m| !m.is_empty()))
                .cloned()
        };
        if norm(new) != norm(old) {
            errs.push(forbidden(&Path::root(k), MSG));
        }
    }
    errs
}

pub fn validate_namespace(ns: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let spec = ns.get("spec").unwrap_or(&null);
    for f in arr(spec, "finalizers") {
        errs.extend(validate_finalizer_name(
            f.as_str().unwrap_or(""),
            &Path::root("spec").child("finalizers"),
        ));
    }
    errs
}

pub fn validate_node(node: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let spec = node.get("spec").unwrap_or(&null);
    let sp = Path::root("spec");
    for (idx, t) in arr(spec, "taints").iter().enumerate() {
        let tp = sp.child("taints").index(idx);
        let key = sz(t, "key");
        for m in qualified_name(key) {
            errs.push(invalid(&tp.child("key"), key, m));
        }
        let val = sz(t, "value");
        for m in crate::names::label_value(val) {
            errs.push(invalid(&tp.child("value"), val, m));
        }
        match sz(t, "effect") {
            "" => errs.push(required(&tp.child("effect"), "")),
            "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
            other => errs.push(not_supported(
                &tp.child("effect"),
                other,
                &["NoExecute", "NoSchedule", "PreferNoSchedule"],
            )),
        }
    }
    let cidrs: Vec<&str> = match arr(spec, "podCIDRs") {
        [] => s(spec, "podCIDR")
            .filter(|c| !c.is_empty())
            .into_iter()
            .collect(),
        list => list.iter().filter_map(Value::as_str).collect(),
    };
    for (idx, c) in cidrs.iter().enumerate() {
        let ok = c
            .split_once('/')
            .is_some_and(|(ip, bits)| is_ip(ip) && bits.parse::<u8>().is_ok_and(|n| n <= 128));
        if !ok {
            errs.push(invalid(
                &sp.child("podCIDRs").index(idx),
                *c,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    errs
}

pub fn validate_endpoints(ep: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (si, subset) in arr(ep, "subsets").iter().enumerate() {
        let sp = Path::root("subsets").index(si);
        let addrs = arr(subset, "addresses");
        let not_ready = arr(subset, "notReadyAddresses");
        if addrs.is_empty() && not_ready.is_empty() {
            errs.push(required(
                &sp,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (key, list) in [("addresses", addrs), ("notReadyAddresses", not_ready)] {
            for (ai, a) in list.iter().enumerate() {
                let ip = sz(a, "ip");
                if !is_ip(ip) {
                    errs.push(invalid(
                        &sp.child(key).index(ai).child("ip"),
                        ip,
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ));
                }
            }
        }
        let ports = arr(subset, "ports");
        for (pi, port) in ports.iter().enumerate() {
            let pp = sp.child("ports").index(pi);
            let name = sz(port, "name");
            if ports.len() > 1 && name.is_empty() {
                errs.push(required(&pp.child("name"), ""));
            } else if !name.is_empty() {
                for m in dns1123_label(name) {
                    errs.push(invalid(&pp.child("name"), name, m));
                }
            }
            let n = i(port, "port").unwrap_or(0);
            for m in port_num(n) {
                errs.push(invalid(&pp.child("port"), n, m));
            }
            match sz(port, "protocol") {
                "" => errs.push(required(&pp.child("protocol"), "")),
                "TCP" | "UDP" | "SCTP" => {}
                other => errs.push(not_supported(
                    &pp.child("protocol"),
                    other,
                    &["SCTP", "TCP", "UDP"],
                )),
            }
        }
    }
    errs
}

fn validate_quantities(
    m: Option<&serde_json::Map<String, Value>>,
    p: &Path,
    errs: &mut Vec<FieldError>,
) {
    for (k, v) in m.into_iter().flatten() {
        let raw = v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        match quantity::parse_value(v) {
            None => errs.push(invalid(&p.key(k), raw, quantity::QUANTITY_REGEX_MSG)),
            Some(q) if q < 0.0 => errs.push(invalid(
                &p.key(k),
                raw,
                "must be greater than or equal to 0",
            )),
            _ => {}
        }
    }
}

pub fn validate_limit_range(lr: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let spec = lr.get("spec").unwrap_or(&null);
    for (idx, item) in arr(spec, "limits").iter().enumerate() {
        let ip = Path::root("spec").child("limits").index(idx);
        match sz(item, "type") {
            "" => errs.push(required(&ip.child("type"), "")),
            "Pod" | "Container" | "PersistentVolumeClaim" => {}
            _ => {}
        }
        for k in [
            "max",
            "min",
            "default",
            "defaultRequest",
            "maxLimitRequestRatio",
        ] {
            validate_quantities(obj(item, k), &ip.child(k), &mut errs);
        }
    }
    errs
}

pub fn validate_resource_quota(rq: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let spec = rq.get("spec").unwrap_or(&null);
    validate_quantities(
        obj(spec, "hard"),
        &Path::root("spec").child("hard"),
        &mut errs,
    );
    errs
}

/// Legacy (core/v1) events are validated leniently, like upstream does for old clients.
pub fn validate_core_event(ev: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ns = ev
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let inv_ns = ev
        .pointer("/involvedObject/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !inv_ns.is_empty() && inv_ns != ns {
        errs.push(invalid(
            &Path::root("involvedObject").child("namespace"),
            inv_ns,
            "does not match event.namespace",
        ));
    }
    errs
}
