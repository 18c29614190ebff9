//! Upstream defaulting, editing the JSON object in place.

mod core;
pub mod pod;
mod workloads;

use serde_json::Value;

pub use workloads::generate_job_selector;

/// Create-time registry additions are applied only to objects that have never
/// been stored; a stored object always carries a resourceVersion.
fn looks_like_create(obj: &Value) -> bool {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
}

pub fn apply(group: &str, resource: &str, obj: &mut Value) {
    match (group, resource) {
        ("", "pods") => pod::default_pod(obj),
        ("", "podtemplates") => core::default_pod_template(obj),
        ("", "replicationcontrollers") => core::default_replication_controller(obj),
        ("", "services") => core::default_service(obj),
        ("", "secrets") => core::default_secret(obj),
        ("", "namespaces") => {
            let create = looks_like_create(obj);
            core::default_namespace(obj, create)
        }
        ("", "nodes") => core::default_node(obj),
        ("", "endpoints") => core::default_endpoints(obj),
        ("", "limitranges") => core::default_limit_range(obj),
        ("apps", "deployments") => workloads::default_deployment(obj),
        ("apps", "replicasets") => workloads::default_replica_set(obj),
        ("apps", "statefulsets") => workloads::default_stateful_set(obj),
        ("apps", "daemonsets") => workloads::default_daemon_set(obj),
        ("batch", "jobs") => {
            workloads::generate_job_selector(obj);
            workloads::default_job(obj)
        }
        ("batch", "cronjobs") => workloads::default_cron_job(obj),
        ("discovery.k8s.io", "endpointslices") => workloads::default_endpoint_slice(obj),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
