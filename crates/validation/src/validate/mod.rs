//! Per-kind validation dispatch.

mod apps;
mod batch;
mod core;
mod misc;
mod pod;
mod service;
mod update;
mod volumes;

use crate::errors::{FieldError, Path};
use crate::meta::{validate_object_meta, validate_object_meta_update};
use crate::names::NameRule;
use serde_json::Value;

pub use service::carry_allocated;

/// Scope and name rule for each served kind; unknown kinds fall back to a
/// namespaced DNS-subdomain rule.
fn kind_rules(group: &str, resource: &str) -> (bool, NameRule) {
    match (group, resource) {
        ("", "namespaces") => (false, NameRule::Label),
        ("", "nodes") => (false, NameRule::Subdomain),
        ("", "services") => (true, NameRule::Dns1035),
        _ => (true, NameRule::Subdomain),
    }
}

fn spec(obj: &Value) -> &Value {
    static NULL: Value = Value::Null;
    obj.get("spec").unwrap_or(&NULL)
}

pub fn validate_create(group: &str, resource: &str, obj: &Value) -> Vec<FieldError> {
    let (namespaced, rule) = kind_rules(group, resource);
    let mut errs = validate_object_meta(obj, namespaced, rule);
    errs.extend(validate_body(group, resource, obj));
    errs
}

/// Everything except metadata, shared by create and update.
fn validate_body(group: &str, resource: &str, obj: &Value) -> Vec<FieldError> {
    let sp = Path::root("spec");
    match (group, resource) {
        ("", "pods") => pod::validate_pod_spec(spec(obj), &sp),
        ("", "podtemplates") => match obj.get("template") {
            Some(t) => pod::validate_pod_template_spec(t, &Path::root("template")),
            None => vec![crate::errors::required(&Path::root("template"), "")],
        },
        ("", "replicationcontrollers") => apps::validate_rc_spec(spec(obj), &sp),
        ("", "services") => service::validate_service_spec(spec(obj)),
        ("", "configmaps") => core::validate_config_map(obj),
        ("", "secrets") => core::validate_secret(obj),
        ("", "namespaces") => core::validate_namespace(obj),
        ("", "nodes") => core::validate_node(obj),
        ("", "endpoints") => core::validate_endpoints(obj),
        ("", "limitranges") => core::validate_limit_range(obj),
        ("", "resourcequotas") => core::validate_resource_quota(obj),
        ("", "events") => core::validate_core_event(obj),
        ("apps", "deployments") => apps::validate_deployment_spec(spec(obj), &sp),
        ("apps", "replicasets") => apps::validate_replica_set_spec(spec(obj), &sp),
        ("apps", "statefulsets") => apps::validate_stateful_set_spec(spec(obj), &sp),
        ("apps", "daemonsets") => apps::validate_daemon_set_spec(spec(obj), &sp),
        ("apps", "controllerrevisions") => apps::validate_controller_revision(obj),
        ("batch", "jobs") => batch::validate_job_spec(spec(obj), &sp),
        ("batch", "cronjobs") => batch::validate_cron_job(obj),
        ("coordination.k8s.io", "leases") => misc::validate_lease(obj),
        ("discovery.k8s.io", "endpointslices") => misc::validate_endpoint_slice(obj),
        ("events.k8s.io", "events") => misc::validate_events_v1(obj),
        _ => Vec::new(),
    }
}

pub fn validate_update(group: &str, resource: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_body(group, resource, new));
    errs.extend(update::validate_update_rules(group, resource, new, old));
    errs
}

#[cfg(test)]
mod tests;
