//! Defaults for apps/v1, batch/v1 and discovery.k8s.io/v1 kinds.

use super::pod::default_template;
use crate::value::{default_str, default_to, each_mut, empty_obj, get_obj_mut, obj_mut, s};
use serde_json::{json, Value};

fn spec_mut(obj: &mut Value) -> Option<&mut Value> {
    obj_mut(obj, "spec")
}

pub fn default_deployment(d: &mut Value) {
    let Some(spec) = spec_mut(d) else { return };
    default_to(spec, "replicas", json!(1));
    if let Some(strategy) = obj_mut(spec, "strategy") {
        default_str(strategy, "type", "RollingUpdate");
        if s(strategy, "type") == Some("RollingUpdate") {
            if let Some(ru) = obj_mut(strategy, "rollingUpdate") {
                default_to(ru, "maxUnavailable", json!("25%"));
                default_to(ru, "maxSurge", json!("25%"));
            }
        }
    }
    default_to(spec, "revisionHistoryLimit", json!(10));
    default_to(spec, "progressDeadlineSeconds", json!(600));
    default_template(spec.get_mut("template"));
}

pub fn default_replica_set(rs: &mut Value) {
    let Some(spec) = spec_mut(rs) else { return };
    default_to(spec, "replicas", json!(1));
    default_template(spec.get_mut("template"));
}

pub fn default_stateful_set(ss: &mut Value) {
    let Some(spec) = spec_mut(ss) else { return };
    default_str(spec, "podManagementPolicy", "OrderedReady");
    if let Some(us) = obj_mut(spec, "updateStrategy") {
        let was_unset = s(us, "type").is_none_or(str::is_empty);
        if was_unset {
            default_str(us, "type", "RollingUpdate");
            default_to(us, "rollingUpdate", empty_obj());
        }
        if s(us, "type") == Some("RollingUpdate") {
            if let Some(ru) = get_obj_mut(us, "rollingUpdate") {
                default_to(ru, "partition", json!(0));
            }
        }
    }
    if let Some(p) = obj_mut(spec, "persistentVolumeClaimRetentionPolicy") {
        default_str(p, "whenDeleted", "Retain");
        default_str(p, "whenScaled", "Retain");
    }
    default_to(spec, "replicas", json!(1));
    default_to(spec, "revisionHistoryLimit", json!(10));
    for pvc in each_mut(spec, "volumeClaimTemplates") {
        if let Some(pspec) = obj_mut(pvc, "spec") {
            default_str(pspec, "volumeMode", "Filesystem");
        }
        if let Some(status) = obj_mut(pvc, "status") {
            default_str(status, "phase", "Pending");
        }
    }
    default_template(spec.get_mut("template"));
}

pub fn default_daemon_set(ds: &mut Value) {
    let Some(spec) = spec_mut(ds) else { return };
    if let Some(us) = obj_mut(spec, "updateStrategy") {
        default_str(us, "type", "RollingUpdate");
        if s(us, "type") == Some("RollingUpdate") {
            if let Some(ru) = obj_mut(us, "rollingUpdate") {
                default_to(ru, "maxUnavailable", json!(1));
                default_to(ru, "maxSurge", json!(0));
            }
        }
    }
    default_to(spec, "revisionHistoryLimit", json!(10));
    default_template(spec.get_mut("template"));
}

/// Job spec defaults shared by Jobs (not CronJob templates, which upstream leaves alone).
pub fn default_job(job: &mut Value) {
    let template_labels = job
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned();
    if let Some(labels) = template_labels {
        if let Some(meta) = obj_mut(job, "metadata") {
            let empty = meta
                .get("labels")
                .and_then(Value::as_object)
                .is_none_or(|m| m.is_empty());
            if empty {
                if let Some(m) = meta.as_object_mut() {
                    m.insert("labels".into(), labels);
                }
            }
        }
    }
    let Some(spec) = spec_mut(job) else { return };
    let unset = |v: &Value, k: &str| v.get(k).is_none_or(Value::is_null);
    if unset(spec, "completions") && unset(spec, "parallelism") {
        default_to(spec, "completions", json!(1));
    }
    default_to(spec, "parallelism", json!(1));
    if unset(spec, "backoffLimit") {
        let v = if unset(spec, "backoffLimitPerIndex") {
            6
        } else {
            i32::MAX as i64
        };
        default_to(spec, "backoffLimit", json!(v));
    }
    default_to(spec, "completionMode", json!("NonIndexed"));
    default_to(spec, "suspend", json!(false));
    let has_pfp = !unset(spec, "podFailurePolicy");
    if let Some(pfp) = get_obj_mut(spec, "podFailurePolicy") {
        for rule in each_mut(pfp, "rules") {
            for cond in each_mut(rule, "onPodConditions") {
                default_str(cond, "status", "True");
            }
        }
    }
    let policy = if has_pfp {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    default_to(spec, "podReplacementPolicy", json!(policy));
    default_template(spec.get_mut("template"));
}

/// The job registry's selector generation (needs the object's uid).
pub fn generate_job_selector(job: &mut Value) {
    let uid = job
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = job
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if uid.is_empty() {
        return;
    }
    let Some(spec) = spec_mut(job) else { return };
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if spec.get("selector").is_none_or(Value::is_null) {
        if let Some(m) = spec.as_object_mut() {
            m.insert(
                "selector".into(),
                json!({"matchLabels":{"batch.kubernetes.io/controller-uid": uid}}),
            );
        }
    }
    let labels = obj_mut(spec, "template")
        .and_then(|t| obj_mut(t, "metadata"))
        .and_then(|m| obj_mut(m, "labels"))
        .and_then(Value::as_object_mut);
    if let Some(labels) = labels {
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            labels.entry(k).or_insert_with(|| Value::String(v.clone()));
        }
    }
}

pub fn default_cron_job(cj: &mut Value) {
    let Some(spec) = spec_mut(cj) else { return };
    default_str(spec, "concurrencyPolicy", "Allow");
    default_to(spec, "suspend", json!(false));
    default_to(spec, "successfulJobsHistoryLimit", json!(3));
    default_to(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(jt_spec) = get_obj_mut(spec, "jobTemplate").and_then(|jt| get_obj_mut(jt, "spec")) {
        default_template(jt_spec.get_mut("template"));
    }
}

pub fn default_endpoint_slice(es: &mut Value) {
    for port in each_mut(es, "ports") {
        default_to(port, "name", json!(""));
        default_to(port, "protocol", json!("TCP"));
    }
}
