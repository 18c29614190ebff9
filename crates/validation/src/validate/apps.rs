//! apps/v1 and ReplicationController spec validation.

use super::pod::validate_pod_template_spec;
use crate::errors::{forbidden, invalid, nonnegative, not_supported, required, FieldError, Path};
use crate::names::percent;
use crate::selector::{
    map_selector_matches, selector_is_empty, selector_matches, validate_label_selector,
};
use crate::value::{i, obj, present, sz};
use serde_json::Value;

const MISMATCH: &str = "`selector` does not match template `labels`";

fn template_labels(spec: &Value) -> Option<&Value> {
    spec.pointer("/template/metadata/labels")
}

/// Selector presence/shape checks shared by the apps kinds. Returns whether the
/// selector is usable for the template match.
fn check_selector(spec: &Value, p: &Path, empty_msg: &str, errs: &mut Vec<FieldError>) -> bool {
    match spec.get("selector").filter(|v| !v.is_null()) {
        None => {
            errs.push(required(&p.child("selector"), ""));
            false
        }
        Some(sel) => {
            errs.extend(validate_label_selector(sel, &p.child("selector")));
            if selector_is_empty(sel) {
                errs.push(invalid(&p.child("selector"), sel.clone(), empty_msg));
                return false;
            }
            true
        }
    }
}

fn check_template_match(spec: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    if let Some(sel) = spec.get("selector") {
        if !selector_matches(sel, template_labels(spec)) {
            let labels = template_labels(spec).cloned().unwrap_or(Value::Null);
            errs.push(invalid(
                &p.child("template").child("metadata").child("labels"),
                labels,
                MISMATCH,
            ));
        }
    }
}

/// The selector, its match with the template labels, the pod template, and the
/// restartPolicy/deadline rules every replicated workload shares.
fn selector_and_template(
    spec: &Value,
    p: &Path,
    empty_selector: &str,
    deadline_detail: &str,
    errs: &mut Vec<FieldError>,
) {
    if check_selector(spec, p, empty_selector, errs) {
        check_template_match(spec, p, errs);
    }
    template(spec, p, errs);
    check_template_always(spec, p, deadline_detail, errs);
}

/// ValidatePodTemplateSpecForReplicaSet's restartPolicy and deadline rules;
/// `deadline_detail` is the kind-specific message for a set activeDeadlineSeconds.
fn check_template_always(
    spec: &Value,
    p: &Path,
    deadline_detail: &str,
    errs: &mut Vec<FieldError>,
) {
    let tp = p.child("template").child("spec");
    let rp = spec
        .pointer("/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if rp != "Always" && !rp.is_empty() {
        errs.push(not_supported(&tp.child("restartPolicy"), rp, &["Always"]));
    }
    if let Some(ads) = spec
        .pointer("/template/spec/activeDeadlineSeconds")
        .filter(|v| !v.is_null())
    {
        errs.push(invalid(
            &tp.child("activeDeadlineSeconds"),
            ads.clone(),
            deadline_detail.to_string(),
        ));
    }
}

fn template(spec: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    match spec.get("template").filter(|v| !v.is_null()) {
        Some(t) => errs.extend(validate_pod_template_spec(t, &p.child("template"))),
        None => errs.push(required(&p.child("template"), "")),
    }
}

fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim_end_matches('%').parse().unwrap_or(0),
        _ => 0,
    }
}

fn positive_int_or_percent(v: Option<&Value>, p: &Path, errs: &mut Vec<FieldError>) {
    match v {
        Some(Value::String(st)) => {
            for m in percent(st) {
                errs.push(invalid(p, st.as_str(), m));
            }
            if percent(st).is_empty()
                && int_or_percent_value(v) > 100
                && p.as_str().ends_with("maxUnavailable")
            {
                errs.push(invalid(p, st.as_str(), "must not be greater than 100%"));
            }
        }
        Some(Value::Number(n)) => errs.extend(nonnegative(n.as_i64().unwrap_or(0), p)),
        None | Some(Value::Null) => {}
        Some(other) => errs.push(invalid(
            p,
            other.clone(),
            "must be an integer or percentage (e.g '5%')",
        )),
    }
}

pub fn validate_deployment_spec(spec: &Value, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    errs.extend(nonnegative(
        i(spec, "replicas").unwrap_or(0),
        &p.child("replicas"),
    ));
    selector_and_template(
        spec,
        p,
        "empty selector is invalid for deployment",
        "activeDeadlineSeconds in ReplicaSet is not Supported",
        &mut errs,
    );
    let sp = p.child("strategy");
    let strategy = spec.get("strategy");
    match strategy.map(|st| sz(st, "type")).unwrap_or("") {
        "Recreate" => {
            if strategy.is_some_and(|st| present(st, "rollingUpdate")) {
                errs.push(forbidden(
                    &sp.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match strategy
            .and_then(|st| st.get("rollingUpdate"))
            .filter(|v| !v.is_null())
        {
            None => errs.push(required(
                &sp.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let rp = sp.child("rollingUpdate");
                positive_int_or_percent(
                    ru.get("maxUnavailable"),
                    &rp.child("maxUnavailable"),
                    &mut errs,
                );
                positive_int_or_percent(ru.get("maxSurge"), &rp.child("maxSurge"), &mut errs);
                if int_or_percent_value(ru.get("maxUnavailable")) == 0
                    && int_or_percent_value(ru.get("maxSurge")) == 0
                {
                    errs.push(invalid(
                        &rp.child("maxUnavailable"),
                        ru.get("maxUnavailable").cloned().unwrap_or(Value::from(0)),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
            }
        },
        _ => errs.push(not_supported(
            &sp,
            strategy.cloned().unwrap_or(Value::Null),
            &["Recreate", "RollingUpdate"],
        )),
    }
    let min_ready = i(spec, "minReadySeconds").unwrap_or(0);
    errs.extend(nonnegative(min_ready, &p.child("minReadySeconds")));
    if let Some(r) = i(spec, "revisionHistoryLimit") {
        errs.extend(nonnegative(r, &p.child("revisionHistoryLimit")));
    }
    if let Some(pd) = i(spec, "progressDeadlineSeconds") {
        errs.extend(nonnegative(pd, &p.child("progressDeadlineSeconds")));
        if pd <= min_ready {
            errs.push(invalid(
                &p.child("progressDeadlineSeconds"),
                pd,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

pub fn validate_replica_set_spec(spec: &Value, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    errs.extend(nonnegative(
        i(spec, "replicas").unwrap_or(0),
        &p.child("replicas"),
    ));
    errs.extend(nonnegative(
        i(spec, "minReadySeconds").unwrap_or(0),
        &p.child("minReadySeconds"),
    ));
    // Upstream's ReplicaSet text says "deployment" too.
    selector_and_template(
        spec,
        p,
        "empty selector is invalid for deployment",
        "activeDeadlineSeconds in ReplicaSet is not Supported",
        &mut errs,
    );
    errs
}

pub fn validate_stateful_set_spec(spec: &Value, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match sz(spec, "podManagementPolicy") {
        "" => errs.push(required(&p.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(invalid(
            &p.child("podManagementPolicy"),
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let us = spec.get("updateStrategy");
    match us.map(|u| sz(u, "type")).unwrap_or("") {
        "" => errs.push(required(&p.child("updateStrategy"), "")),
        "OnDelete" => {
            if let Some(ru) = us
                .and_then(|u| u.get("rollingUpdate"))
                .filter(|v| !v.is_null())
            {
                errs.push(invalid(
                    &p.child("updateStrategy").child("rollingUpdate"),
                    ru.clone(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(part) = us
                .and_then(|u| u.pointer("/rollingUpdate/partition"))
                .and_then(Value::as_i64)
            {
                errs.extend(nonnegative(
                    part,
                    &p.child("updateStrategy")
                        .child("rollingUpdate")
                        .child("partition"),
                ));
            }
        }
        _ => errs.push(invalid(
            &p.child("updateStrategy"),
            us.cloned().unwrap_or(Value::Null),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    errs.extend(nonnegative(
        i(spec, "replicas").unwrap_or(0),
        &p.child("replicas"),
    ));
    selector_and_template(
        spec,
        p,
        "empty selector is invalid for statefulset",
        "must not be specified",
        &mut errs,
    );
    if let Some(pol) = obj(spec, "persistentVolumeClaimRetentionPolicy") {
        for k in ["whenDeleted", "whenScaled"] {
            let v = pol.get(k).and_then(Value::as_str).unwrap_or("");
            if v != "Retain" && v != "Delete" {
                errs.push(not_supported(
                    &p.child("persistentVolumeClaimRetentionPolicy").child(k),
                    v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs
}

pub fn validate_daemon_set_spec(spec: &Value, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    selector_and_template(
        spec,
        p,
        "empty selector is invalid for daemonset",
        "activeDeadlineSeconds in DaemonSet is not Supported",
        &mut errs,
    );
    errs.extend(nonnegative(
        i(spec, "minReadySeconds").unwrap_or(0),
        &p.child("minReadySeconds"),
    ));
    let sp = p.child("updateStrategy");
    let us = spec.get("updateStrategy");
    match us.map(|u| sz(u, "type")).unwrap_or("") {
        "OnDelete" => {}
        "RollingUpdate" => match us
            .and_then(|u| u.get("rollingUpdate"))
            .filter(|v| !v.is_null())
        {
            None => errs.push(required(&sp.child("rollingUpdate"), "")),
            Some(ru) => {
                let rp = sp.child("rollingUpdate");
                positive_int_or_percent(
                    ru.get("maxUnavailable"),
                    &rp.child("maxUnavailable"),
                    &mut errs,
                );
                positive_int_or_percent(ru.get("maxSurge"), &rp.child("maxSurge"), &mut errs);
                let has_u = int_or_percent_value(ru.get("maxUnavailable")) != 0;
                let has_s = int_or_percent_value(ru.get("maxSurge")) != 0;
                if has_u && has_s {
                    errs.push(invalid(
                        &rp.child("maxSurge"),
                        ru.get("maxSurge").cloned().unwrap_or(Value::Null),
                        "may not be set when maxUnavailable is non-zero",
                    ));
                } else if !has_u && !has_s {
                    errs.push(required(
                        &rp.child("maxUnavailable"),
                        "cannot be 0 when maxSurge is 0",
                    ));
                }
            }
        },
        _ => errs.push(not_supported(
            &sp,
            us.cloned().unwrap_or(Value::Null),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    if let Some(r) = i(spec, "revisionHistoryLimit") {
        errs.extend(nonnegative(r, &p.child("revisionHistoryLimit")));
    }
    errs
}

pub fn validate_rc_spec(spec: &Value, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    errs.extend(nonnegative(
        i(spec, "replicas").unwrap_or(0),
        &p.child("replicas"),
    ));
    errs.extend(nonnegative(
        i(spec, "minReadySeconds").unwrap_or(0),
        &p.child("minReadySeconds"),
    ));
    let sel = spec
        .get("selector")
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()));
    match sel {
        None => errs.push(required(&p.child("selector"), "")),
        Some(sel) => {
            errs.extend(crate::meta::validate_labels(
                Some(sel),
                &p.child("selector"),
            ));
            if !map_selector_matches(sel, template_labels(spec)) {
                let labels = template_labels(spec).cloned().unwrap_or(Value::Null);
                errs.push(invalid(
                    &p.child("template").child("metadata").child("labels"),
                    labels,
                    MISMATCH,
                ));
            }
        }
    }
    template(spec, p, &mut errs);
    let tp = p.child("template").child("spec");
    let rp = spec
        .pointer("/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if rp != "Always" && !rp.is_empty() {
        errs.push(not_supported(&tp.child("restartPolicy"), rp, &["Always"]));
    }
    if spec
        .pointer("/template/spec/activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        errs.push(forbidden(
            &tp.child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in ReplicationController is not Supported",
        ));
    }
    errs
}

pub fn validate_controller_revision(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if obj.get("data").is_none_or(Value::is_null) {
        errs.push(required(&Path::root("data"), "data is mandatory"));
    }
    errs.extend(nonnegative(
        i(obj, "revision").unwrap_or(0),
        &Path::root("revision"),
    ));
    errs
}
