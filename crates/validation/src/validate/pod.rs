//! PodSpec / container validation (the parts of core/validation clients trip over).

use super::volumes::{validate_volume_mounts, validate_volumes};
use crate::errors::{
    duplicate, forbidden, invalid, nonnegative, not_supported, required, FieldError, Path,
};
use crate::meta::{validate_annotations, validate_labels};
use crate::names::{
    dns1123_label, dns1123_subdomain, env_var_name, inclusive_range_error, port_name, port_num,
    qualified_name,
};
use crate::quantity;
use crate::value::{arr, i, obj, s, sz};
use serde_json::Value;
use std::collections::HashSet;

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

pub fn validate_pod_spec(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let volumes = validate_volumes(spec, &path.child("volumes"), &mut errs);
    let mut names = HashSet::new();
    for (idx, c) in arr(spec, "initContainers").iter().enumerate() {
        let p = path.child("initContainers").index(idx);
        validate_container(c, &p, &volumes, &mut names, true, &mut errs);
    }
    let containers = arr(spec, "containers");
    if containers.is_empty() {
        errs.push(required(&path.child("containers"), ""));
    }
    for (idx, c) in containers.iter().enumerate() {
        let p = path.child("containers").index(idx);
        validate_container(c, &p, &volumes, &mut names, false, &mut errs);
    }
    let rp = sz(spec, "restartPolicy");
    match rp {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(required(&path.child("restartPolicy"), "")),
        other => errs.push(not_supported(
            &path.child("restartPolicy"),
            other,
            &["Always", "OnFailure", "Never"],
        )),
    }
    let dp = sz(spec, "dnsPolicy");
    match dp {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" => {}
        "None" => {
            if spec.get("dnsConfig").is_none_or(Value::is_null) {
                errs.push(required(
                    &path.child("dnsConfig"),
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                ));
            }
        }
        "" => errs.push(required(&path.child("dnsPolicy"), "")),
        other => errs.push(not_supported(
            &path.child("dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(
        spec.get("nodeSelector"),
        &path.child("nodeSelector"),
    ));
    for (key, p) in [
        ("serviceAccountName", "serviceAccountName"),
        ("nodeName", "nodeName"),
    ] {
        let v = sz(spec, key);
        if !v.is_empty() {
            for msg in dns1123_subdomain(v) {
                errs.push(invalid(&path.child(p), v, msg));
            }
        }
    }
    for key in ["hostname", "subdomain"] {
        let v = sz(spec, key);
        if !v.is_empty() {
            for msg in dns1123_label(v) {
                errs.push(invalid(&path.child(key), v, msg));
            }
        }
    }
    if let Some(ads) = i(spec, "activeDeadlineSeconds") {
        if !(1..=i32::MAX as i64).contains(&ads) {
            errs.push(invalid(
                &path.child("activeDeadlineSeconds"),
                ads,
                inclusive_range_error(1, i32::MAX as i64),
            ));
        }
    }
    for (idx, t) in arr(spec, "tolerations").iter().enumerate() {
        validate_toleration(t, &path.child("tolerations").index(idx), &mut errs);
    }
    for (idx, ps) in arr(spec, "imagePullSecrets").iter().enumerate() {
        if sz(ps, "name").is_empty() {
            errs.push(required(
                &path.child("imagePullSecrets").index(idx).child("name"),
                "",
            ));
        }
    }
    errs
}

fn validate_toleration(t: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    let key = sz(t, "key");
    if !key.is_empty() {
        for msg in qualified_name(key) {
            errs.push(invalid(&p.child("key"), key, msg));
        }
    }
    let op = sz(t, "operator");
    match op {
        "" | "Equal" => {
            if key.is_empty() {
                errs.push(invalid(&p.child("operator"), op, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""));
            }
        }
        "Exists" => {
            if !sz(t, "value").is_empty() {
                errs.push(invalid(
                    &p.child("operator"),
                    sz(t, "value"),
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
        }
        other => errs.push(not_supported(
            &p.child("operator"),
            other,
            &["Equal", "Exists"],
        )),
    }
    let effect = sz(t, "effect");
    if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        errs.push(not_supported(
            &p.child("effect"),
            effect,
            &["NoExecute", "NoSchedule", "PreferNoSchedule"],
        ));
    }
    if t.get("tolerationSeconds").is_some_and(|v| !v.is_null()) && effect != "NoExecute" {
        errs.push(invalid(
            &p.child("effect"),
            effect,
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
}

fn validate_container(
    c: &Value,
    p: &Path,
    volumes: &HashSet<String>,
    names: &mut HashSet<String>,
    init: bool,
    errs: &mut Vec<FieldError>,
) {
    let name = sz(c, "name");
    if name.is_empty() {
        errs.push(required(&p.child("name"), ""));
    } else {
        for msg in dns1123_label(name) {
            errs.push(invalid(&p.child("name"), name, msg));
        }
        if !names.insert(name.to_string()) {
            errs.push(duplicate(&p.child("name"), name));
        }
    }
    let image = sz(c, "image");
    if image.is_empty() {
        errs.push(required(&p.child("image"), ""));
    } else if image.trim() != image {
        errs.push(invalid(
            &p.child("image"),
            image,
            "must not have leading or trailing whitespace",
        ));
    }
    validate_ports(c, &p.child("ports"), errs);
    validate_env(c, &p.child("env"), errs);
    validate_volume_mounts(c, &p.child("volumeMounts"), volumes, errs);
    validate_resources(c.get("resources"), &p.child("resources"), errs);
    match sz(c, "imagePullPolicy") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(required(&p.child("imagePullPolicy"), "")),
        other => errs.push(not_supported(
            &p.child("imagePullPolicy"),
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    match sz(c, "terminationMessagePolicy") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(required(&p.child("terminationMessagePolicy"), "")),
        other => errs.push(not_supported(
            &p.child("terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    let restartable = s(c, "restartPolicy") == Some("Always");
    if let Some(rp) = s(c, "restartPolicy") {
        if init && rp != "Always" {
            errs.push(not_supported(&p.child("restartPolicy"), rp, &["Always"]));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        let Some(pr) = c.get(probe).filter(|v| !v.is_null()) else {
            continue;
        };
        if init && !restartable {
            errs.push(forbidden(
                &p.child(probe),
                "may not be set for init containers without restartPolicy=Always",
            ));
            continue;
        }
        validate_probe(pr, &p.child(probe), errs);
        if probe != "readinessProbe" {
            if let Some(st) = i(pr, "successThreshold") {
                if st != 1 {
                    errs.push(invalid(
                        &p.child(probe).child("successThreshold"),
                        st,
                        "must be 1",
                    ));
                }
            }
        }
    }
}

fn validate_ports(c: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    for (idx, port) in arr(c, "ports").iter().enumerate() {
        let ip = p.index(idx);
        let name = sz(port, "name");
        if !name.is_empty() {
            let msgs = port_name(name);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(invalid(&ip.child("name"), name, m));
                }
            } else if !names.insert(name.to_string()) {
                errs.push(duplicate(&ip.child("name"), name));
            }
        }
        match i(port, "containerPort").unwrap_or(0) {
            0 => errs.push(required(&ip.child("containerPort"), "")),
            cp => {
                for m in port_num(cp) {
                    errs.push(invalid(&ip.child("containerPort"), cp, m));
                }
            }
        }
        let hp = i(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            for m in port_num(hp) {
                errs.push(invalid(&ip.child("hostPort"), hp, m));
            }
        }
        match sz(port, "protocol") {
            "" => errs.push(required(&ip.child("protocol"), "")),
            pr if !PROTOCOLS.contains(&pr) => {
                errs.push(not_supported(&ip.child("protocol"), pr, PROTOCOLS))
            }
            _ => {}
        }
    }
}

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const CONVERTIBLE_FIELD_PATHS: &[&str] =
    &["spec.restartPolicy", "spec.schedulerName", "status.phase"];

fn validate_env(c: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    for (idx, ev) in arr(c, "env").iter().enumerate() {
        let ip = p.index(idx);
        let name = sz(ev, "name");
        if name.is_empty() {
            errs.push(required(&ip.child("name"), ""));
        } else {
            for m in env_var_name(name) {
                errs.push(invalid(&ip.child("name"), name, m));
            }
        }
        let Some(vf) = ev.get("valueFrom").filter(|v| !v.is_null()) else {
            continue;
        };
        let vp = ip.child("valueFrom");
        let sources = [
            "fieldRef",
            "resourceFieldRef",
            "configMapKeyRef",
            "secretKeyRef",
        ];
        let n = sources
            .iter()
            .filter(|k| vf.get(**k).is_some_and(|v| !v.is_null()))
            .count();
        if n == 0 {
            errs.push(invalid(&vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"));
        } else if n > 1 {
            errs.push(invalid(
                &vp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
        if !sz(ev, "value").is_empty() && n != 0 {
            errs.push(invalid(
                &vp,
                "",
                "may not be specified when `value` is not empty",
            ));
        }
        if let Some(fr) = vf.get("fieldRef").filter(|v| v.is_object()) {
            validate_field_ref(fr, &vp.child("fieldRef"), errs);
        }
        for key_ref in ["configMapKeyRef", "secretKeyRef"] {
            if let Some(r) = vf.get(key_ref).filter(|v| v.is_object()) {
                let kp = vp.child(key_ref);
                if sz(r, "key").is_empty() {
                    errs.push(required(&kp.child("key"), ""));
                }
            }
        }
    }
}

fn validate_field_ref(fr: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    let fp = sz(fr, "fieldPath");
    if sz(fr, "apiVersion").is_empty() {
        errs.push(required(&p.child("apiVersion"), ""));
        return;
    }
    if fp.is_empty() {
        errs.push(required(&p.child("fieldPath"), ""));
        return;
    }
    if let Some((base, rest)) = fp.split_once('[') {
        let sub = rest.trim_end_matches(']').trim_matches('\'');
        match base {
            "metadata.annotations" => {
                for m in qualified_name(&sub.to_lowercase()) {
                    errs.push(invalid(&p.child("fieldPath"), sub, m));
                }
            }
            "metadata.labels" => {
                for m in qualified_name(sub) {
                    errs.push(invalid(&p.child("fieldPath"), sub, m));
                }
            }
            _ => errs.push(invalid(
                &p.child("fieldPath"),
                fp,
                format!("error converting fieldPath: field label not supported: {fp}"),
            )),
        }
        return;
    }
    if ENV_FIELD_PATHS.contains(&fp) {
        return;
    }
    if CONVERTIBLE_FIELD_PATHS.contains(&fp)
        || fp == "metadata.labels"
        || fp == "metadata.annotations"
    {
        let mut valid: Vec<&str> = ENV_FIELD_PATHS.to_vec();
        valid.sort_unstable();
        errs.push(not_supported(&p.child("fieldPath"), fp, &valid));
    } else {
        errs.push(invalid(
            &p.child("fieldPath"),
            fp,
            format!("error converting fieldPath: field label not supported: {fp}"),
        ));
    }
}

fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
}

pub fn validate_resources(res: Option<&Value>, p: &Path, errs: &mut Vec<FieldError>) {
    let Some(res) = res else { return };
    let mut parsed = |kind: &str| -> Vec<(String, String, f64)> {
        let mut out = Vec::new();
        let Some(m) = obj(res, kind) else { return out };
        for (name, v) in m {
            let fp = p.child(kind).key(name);
            if !name.contains('/') && !is_standard_container_resource(name) {
                errs.push(invalid(
                    &fp,
                    name.as_str(),
                    "must be a standard resource for containers",
                ));
                continue;
            }
            let raw = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            match quantity::parse_value(v) {
                None => errs.push(invalid(&fp, raw, quantity::QUANTITY_REGEX_MSG)),
                Some(q) if q < 0.0 => {
                    errs.push(invalid(&fp, raw, "must be greater than or equal to 0"))
                }
                Some(q) => out.push((name.clone(), raw, q)),
            }
        }
        out
    };
    let limits = parsed("limits");
    let requests = parsed("requests");
    for (name, raw, q) in &requests {
        if let Some((_, lraw, lq)) = limits.iter().find(|(n, _, _)| n == name) {
            if q > lq {
                errs.push(invalid(
                    &p.child("requests").key(name),
                    raw.as_str(),
                    format!("must be less than or equal to {name} limit of {lraw}"),
                ));
            }
        }
    }
}

pub fn port_num_or_name(v: Option<&Value>, p: &Path, errs: &mut Vec<FieldError>) {
    match v {
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            for m in port_num(n) {
                errs.push(invalid(p, n, m));
            }
        }
        Some(Value::String(s)) => {
            for m in port_name(s) {
                errs.push(invalid(p, s.as_str(), m));
            }
        }
        _ => errs.push(invalid(p, 0, inclusive_range_error(1, 65535))),
    }
}

fn validate_handler(h: &Value, p: &Path, errs: &mut Vec<FieldError>, kinds: &[&str]) {
    let set: Vec<&str> = kinds
        .iter()
        .copied()
        .filter(|k| h.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    if set.is_empty() {
        errs.push(required(p, "must specify a handler type"));
        return;
    }
    for extra in set.iter().skip(1) {
        errs.push(forbidden(
            &p.child(extra),
            "may not specify more than 1 handler type",
        ));
    }
    if let Some(exec) = h.get("exec").filter(|v| v.is_object()) {
        if arr(exec, "command").is_empty() {
            errs.push(required(&p.child("exec").child("command"), ""));
        }
    }
    if let Some(http) = h.get("httpGet").filter(|v| v.is_object()) {
        let hp = p.child("httpGet");
        if sz(http, "path").is_empty() {
            errs.push(required(&hp.child("path"), ""));
        }
        port_num_or_name(http.get("port"), &hp.child("port"), errs);
        let scheme = sz(http, "scheme");
        if scheme != "HTTP" && scheme != "HTTPS" {
            errs.push(not_supported(
                &hp.child("scheme"),
                scheme,
                &["HTTP", "HTTPS"],
            ));
        }
    }
    if let Some(tcp) = h.get("tcpSocket").filter(|v| v.is_object()) {
        port_num_or_name(tcp.get("port"), &p.child("tcpSocket").child("port"), errs);
    }
    if let Some(grpc) = h.get("grpc").filter(|v| v.is_object()) {
        let port = i(grpc, "port").unwrap_or(0);
        for m in port_num(port) {
            errs.push(invalid(&p.child("grpc").child("port"), port, m));
        }
    }
}

fn validate_probe(pr: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    validate_handler(pr, p, errs, &["exec", "httpGet", "tcpSocket", "grpc"]);
    for k in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        if let Some(v) = i(pr, k) {
            errs.extend(nonnegative(v, &p.child(k)));
        }
    }
    if let Some(t) = i(pr, "terminationGracePeriodSeconds") {
        if t <= 0 {
            errs.push(invalid(
                &p.child("terminationGracePeriodSeconds"),
                t,
                "must be greater than 0",
            ));
        }
    }
}

/// ValidatePodTemplateSpec: note upstream reports template labels at `<path>.labels`.
pub fn validate_pod_template_spec(t: &Value, p: &Path) -> Vec<FieldError> {
    let null = Value::Null;
    let meta = t.get("metadata").unwrap_or(&null);
    let mut errs = validate_labels(meta.get("labels"), &p.child("labels"));
    errs.extend(validate_annotations(
        meta.get("annotations"),
        &p.child("annotations"),
    ));
    errs.extend(validate_pod_spec(
        t.get("spec").unwrap_or(&null),
        &p.child("spec"),
    ));
    if !arr(t.get("spec").unwrap_or(&null), "ephemeralContainers").is_empty() {
        errs.push(forbidden(
            &p.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}
