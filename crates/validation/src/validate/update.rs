//! Immutability rules applied on update.

use super::core::validate_immutable_data;
use super::service::validate_service_update;
use crate::errors::{forbidden, immutable, invalid, FieldError, Path, IMMUTABLE};
use serde_json::{Map, Value};

pub fn validate_update_rules(
    group: &str,
    resource: &str,
    new: &Value,
    old: &Value,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let sel = Path::root("spec").child("selector");
    let ns = new.get("spec");
    let os = old.get("spec");
    let field = |v: Option<&Value>, k: &str| v.and_then(|s| s.get(k)).cloned();
    match (group, resource) {
        ("apps", "deployments" | "replicasets" | "daemonsets") => {
            errs.extend(immutable(
                field(ns, "selector").as_ref(),
                field(os, "selector").as_ref(),
                &sel,
            ));
        }
        ("apps", "statefulsets") => errs.extend(statefulset(ns, os)),
        ("batch", "jobs") => errs.extend(job(ns, os)),
        ("", "pods") => errs.extend(pod(ns, os)),
        ("", "services") => errs.extend(validate_service_update(new, old)),
        ("", "configmaps") => {
            errs.extend(validate_immutable_data(new, old, &["data", "binaryData"]))
        }
        ("", "secrets") => {
            errs.extend(validate_immutable_data(new, old, &["data"]));
            errs.extend(immutable(
                new.get("type"),
                old.get("type"),
                &Path::root("type"),
            ));
        }
        ("discovery.k8s.io", "endpointslices") => {
            errs.extend(immutable(
                new.get("addressType"),
                old.get("addressType"),
                &Path::root("addressType"),
            ));
        }
        ("apps", "controllerrevisions") => {
            errs.extend(immutable(
                new.get("data"),
                old.get("data"),
                &Path::root("data"),
            ));
        }
        _ => {}
    }
    errs
}

fn without(spec: Option<&Value>, keys: &[&str]) -> Map<String, Value> {
    let mut m = spec.and_then(Value::as_object).cloned().unwrap_or_default();
    for k in keys {
        m.remove(*k);
    }
    m.retain(|_, v| !v.is_null());
    m
}

fn statefulset(ns: Option<&Value>, os: Option<&Value>) -> Vec<FieldError> {
    let mutable = [
        "replicas",
        "ordinals",
        "template",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "minReadySeconds",
    ];
    if without(ns, &mutable) != without(os, &mutable) {
        return vec![forbidden(
            &Path::root("spec"),
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        )];
    }
    Vec::new()
}

fn job(ns: Option<&Value>, os: Option<&Value>) -> Vec<FieldError> {
    let sp = Path::root("spec");
    let get = |v: Option<&Value>, k: &str| v.and_then(|s| s.get(k)).cloned();
    let mut errs = Vec::new();
    for k in [
        "selector",
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
    ] {
        errs.extend(immutable(
            get(ns, k).as_ref(),
            get(os, k).as_ref(),
            &sp.child(k),
        ));
    }
    // Elastic indexed jobs may scale completions together with parallelism.
    let indexed = get(ns, "completionMode")
        .and_then(|v| v.as_str().map(str::to_string))
        .as_deref()
        == Some("Indexed");
    let elastic = indexed && get(ns, "completions") == get(ns, "parallelism");
    if !elastic {
        errs.extend(immutable(
            get(ns, "completions").as_ref(),
            get(os, "completions").as_ref(),
            &sp.child("completions"),
        ));
    }
    // A suspended job may change its pod scheduling directives.
    let suspended = get(os, "suspend").and_then(|v| v.as_bool()) == Some(true);
    let strip = |t: Option<Value>| -> Option<Value> {
        let mut t = t?;
        if suspended {
            if let Some(m) = t.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("labels");
                m.remove("annotations");
            }
            if let Some(m) = t.get_mut("spec").and_then(Value::as_object_mut) {
                for k in ["nodeSelector", "affinity", "tolerations", "schedulingGates"] {
                    m.remove(k);
                }
            }
        }
        Some(t)
    };
    let nt = strip(get(ns, "template"));
    let ot = strip(get(os, "template"));
    if nt != ot {
        errs.push(invalid(
            &sp.child("template"),
            get(ns, "template").unwrap_or(Value::Null),
            IMMUTABLE,
        ));
    }
    errs
}

const POD_UPDATE_MSG: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn pod(ns: Option<&Value>, os: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (Some(ns), Some(os)) = (ns, os) else {
        return errs;
    };
    let sp = Path::root("spec");
    let new_ads = ns.get("activeDeadlineSeconds").and_then(Value::as_i64);
    let old_ads = os.get("activeDeadlineSeconds").and_then(Value::as_i64);
    match (new_ads, old_ads) {
        (Some(n), Some(o)) if n > o => {
            errs.push(invalid(
                &sp.child("activeDeadlineSeconds"),
                n,
                "must be less than or equal to previous value",
            ));
        }
        (None, Some(_)) => {
            errs.push(invalid(
                &sp.child("activeDeadlineSeconds"),
                Value::Null,
                "must not update from a positive integer to nil value",
            ));
        }
        _ => {}
    }
    // Copy the mutable bits from old into new; whatever still differs is forbidden.
    let mut munged = ns.clone();
    for key in ["containers", "initContainers"] {
        let old_list = os.get(key).and_then(Value::as_array);
        if let (Some(list), Some(old_list)) =
            (munged.get_mut(key).and_then(Value::as_array_mut), old_list)
        {
            for (c, oc) in list.iter_mut().zip(old_list) {
                if let (Some(m), Some(img)) = (c.as_object_mut(), oc.get("image")) {
                    m.insert("image".into(), img.clone());
                }
            }
        }
    }
    if let Some(m) = munged.as_object_mut() {
        match os.get("activeDeadlineSeconds") {
            Some(v) => m.insert("activeDeadlineSeconds".into(), v.clone()),
            None => m.remove("activeDeadlineSeconds"),
        };
        let old_tol = os
            .get("tolerations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let new_tol = ns
            .get("tolerations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if old_tol.iter().all(|t| new_tol.contains(t)) {
            if old_tol.is_empty() {
                m.remove("tolerations");
            } else {
                m.insert("tolerations".into(), Value::Array(old_tol));
            }
        }
        let old_grace = os
            .get("terminationGracePeriodSeconds")
            .and_then(Value::as_i64);
        let new_grace = ns
            .get("terminationGracePeriodSeconds")
            .and_then(Value::as_i64);
        if old_grace.is_some_and(|g| g < 0) && new_grace == Some(1) {
            if let Some(v) = os.get("terminationGracePeriodSeconds") {
                m.insert("terminationGracePeriodSeconds".into(), v.clone());
            }
        }
    }
    let norm = |v: &Value| {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.retain(|_, x| !x.is_null());
        m
    };
    let (nm, om) = (norm(&munged), norm(os));
    if nm != om {
        errs.push(forbidden(
            &sp,
            format!("{POD_UPDATE_MSG}\n{}", spec_diff(&nm, &om)),
        ));
    }
    errs
}

/// A short description of which spec fields differ (upstream prints a Go cmp diff here).
fn spec_diff(new: &Map<String, Value>, old: &Map<String, Value>) -> String {
    let mut keys: Vec<&String> = new.keys().chain(old.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = String::from("  core.PodSpec{\n");
    for k in keys {
        let (n, o) = (new.get(k), old.get(k));
        if n != o {
            if let Some(o) = o {
                out.push_str(&format!("- \t{k}: {o},\n"));
            }
            if let Some(n) = n {
                out.push_str(&format!("+ \t{k}: {n},\n"));
            }
        }
    }
    out.push_str("  }\n");
    out
}
