//! rkube-printers: server-side Table printing (`Accept: ...;as=Table;g=meta.k8s.io`) with
//! the same columns and cell values kube-apiserver produces.
//!
//! The server always generates the wide form (kubectl hides priority-1 columns itself),
//! so every row carries one cell per column definition. Cell JSON types follow the values
//! upstream puts into each cell, which is not always the column's declared type (for
//! example a Deployment's `Up-to-date` column is declared `string` but holds a number).

mod apps;
mod core;
mod descriptions;
pub mod duration;
mod other;
mod pod;
mod util;

use chrono::{DateTime, Utc};
use descriptions as d;
use serde_json::{json, Value};

pub use duration::human_duration;

/// One column definition, rendered to JSON by [`column_definitions`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Col {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    desc: &'static str,
    priority: i32,
}

impl Col {
    const fn new(name: &'static str, ty: &'static str, desc: &'static str, priority: i32) -> Col {
        Col {
            name,
            ty,
            format: "",
            desc,
            priority,
        }
    }

    fn to_json(self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.desc,
            "priority": self.priority,
        })
    }
}

/// Plain string column shown by default.
pub(crate) const fn s(name: &'static str, desc: &'static str) -> Col {
    Col::new(name, "string", desc, 0)
}

/// String column shown only with `-o wide`.
pub(crate) const fn wide(name: &'static str, desc: &'static str) -> Col {
    Col::new(name, "string", desc, 1)
}

/// Integer column shown by default.
pub(crate) const fn int(name: &'static str, desc: &'static str) -> Col {
    Col::new(name, "integer", desc, 0)
}

/// The usual first column: the object name, marked so kubectl can prefix `kind/`.
pub(crate) const NAME: Col = Col {
    name: "Name",
    ty: "string",
    format: "name",
    desc: d::META_NAME,
    priority: 0,
};

pub(crate) const AGE: Col = s("Age", d::META_CREATED);
pub(crate) const CONTAINERS: Col = wide("Containers", d::CONTAINERS);
pub(crate) const IMAGES: Col = wide("Images", d::IMAGES);

/// Columns of the generic table upstream serves for kinds without a dedicated printer.
const DEFAULT_COLUMNS: &[Col] = &[NAME, Col::new("Created At", "date", d::META_CREATED, 0)];

/// Every kind with a dedicated printer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pod,
    PodTemplate,
    ReplicationController,
    Service,
    Endpoints,
    Node,
    Namespace,
    ConfigMap,
    Secret,
    ServiceAccount,
    Event,
    ResourceQuota,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    ControllerRevision,
    Job,
    CronJob,
    Lease,
    EndpointSlice,
    Scale,
}

fn kind_of(group: &str, resource: &str) -> Option<Kind> {
    // Scale subresources share one printer whatever the parent resource is.
    if resource == "scale" || resource.ends_with("/scale") {
        return Some(Kind::Scale);
    }
    let kind = match (group, resource) {
        ("", "pods") => Kind::Pod,
        ("", "podtemplates") => Kind::PodTemplate,
        ("", "replicationcontrollers") => Kind::ReplicationController,
        ("", "services") => Kind::Service,
        ("", "endpoints") => Kind::Endpoints,
        ("", "nodes") => Kind::Node,
        ("", "namespaces") => Kind::Namespace,
        ("", "configmaps") => Kind::ConfigMap,
        ("", "secrets") => Kind::Secret,
        ("", "serviceaccounts") => Kind::ServiceAccount,
        ("", "events") | ("events.k8s.io", "events") => Kind::Event,
        ("", "resourcequotas") => Kind::ResourceQuota,
        ("apps", "deployments") => Kind::Deployment,
        ("apps", "replicasets") => Kind::ReplicaSet,
        ("apps", "statefulsets") => Kind::StatefulSet,
        ("apps", "daemonsets") => Kind::DaemonSet,
        ("apps", "controllerrevisions") => Kind::ControllerRevision,
        ("batch", "jobs") => Kind::Job,
        ("batch", "cronjobs") => Kind::CronJob,
        ("coordination.k8s.io", "leases") => Kind::Lease,
        ("discovery.k8s.io", "endpointslices") => Kind::EndpointSlice,
        _ => return None,
    };
    Some(kind)
}

fn columns(kind: Option<Kind>) -> &'static [Col] {
    let Some(kind) = kind else {
        return DEFAULT_COLUMNS;
    };
    match kind {
        Kind::Pod => pod::COLUMNS,
        Kind::PodTemplate => core::POD_TEMPLATE_COLUMNS,
        Kind::ReplicationController => core::RC_COLUMNS,
        Kind::Service => core::SERVICE_COLUMNS,
        Kind::Endpoints => core::ENDPOINTS_COLUMNS,
        Kind::Node => core::NODE_COLUMNS,
        Kind::Namespace => core::NAMESPACE_COLUMNS,
        Kind::ConfigMap => core::CONFIGMAP_COLUMNS,
        Kind::Secret => core::SECRET_COLUMNS,
        Kind::ServiceAccount => core::SERVICE_ACCOUNT_COLUMNS,
        Kind::ResourceQuota => core::RESOURCE_QUOTA_COLUMNS,
        Kind::Event => other::EVENT_COLUMNS,
        Kind::Deployment => apps::DEPLOYMENT_COLUMNS,
        Kind::ReplicaSet => apps::REPLICASET_COLUMNS,
        Kind::StatefulSet => apps::STATEFULSET_COLUMNS,
        Kind::DaemonSet => apps::DAEMONSET_COLUMNS,
        Kind::ControllerRevision => apps::CONTROLLER_REVISION_COLUMNS,
        Kind::Job => other::JOB_COLUMNS,
        Kind::CronJob => other::CRONJOB_COLUMNS,
        Kind::Lease => other::LEASE_COLUMNS,
        Kind::EndpointSlice => other::ENDPOINTSLICE_COLUMNS,
        Kind::Scale => other::SCALE_COLUMNS,
    }
}

/// Column definitions for a resource, as JSON objects
/// {"name","type","format","description","priority"} in upstream order; the name column has
/// format "name"; wide-only columns have priority 1.
pub fn column_definitions(group: &str, resource: &str) -> Vec<serde_json::Value> {
    columns(kind_of(group, resource))
        .iter()
        .map(|c| c.to_json())
        .collect()
}

/// The cells of one row for `obj` (a full object in Kubernetes JSON form), same length and
/// order as column_definitions; `now` is used for AGE-style columns (upstream
/// duration formatting: "0s", "5m20s", "3h4m", "2d3h", "12d", "3y45d" ... as
/// k8s.io/apimachinery/pkg/util/duration.HumanDuration does; "<unknown>" if no timestamp).
pub fn row_cells(
    group: &str,
    resource: &str,
    obj: &serde_json::Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<serde_json::Value> {
    let Some(kind) = kind_of(group, resource) else {
        return default_row(obj);
    };
    match kind {
        Kind::Pod => pod::row(obj, now),
        Kind::PodTemplate => core::pod_template_row(obj),
        Kind::ReplicationController => core::rc_row(obj, now),
        Kind::Service => core::service_row(obj, now),
        Kind::Endpoints => core::endpoints_row(obj, now),
        Kind::Node => core::node_row(obj, now),
        Kind::Namespace => core::namespace_row(obj, now),
        Kind::ConfigMap => core::configmap_row(obj, now),
        Kind::Secret => core::secret_row(obj, now),
        Kind::ServiceAccount => core::service_account_row(obj, now),
        Kind::ResourceQuota => core::resource_quota_row(obj, now),
        Kind::Event => other::event_row(group, obj, now),
        Kind::Deployment => apps::deployment_row(obj, now),
        Kind::ReplicaSet => apps::replicaset_row(obj, now),
        Kind::StatefulSet => apps::statefulset_row(obj, now),
        Kind::DaemonSet => apps::daemonset_row(obj, now),
        Kind::ControllerRevision => apps::controller_revision_row(obj, now),
        Kind::Job => other::job_row(obj, now),
        Kind::CronJob => other::cronjob_row(obj, now),
        Kind::Lease => other::lease_row(obj, now),
        Kind::EndpointSlice => other::endpointslice_row(obj, now),
        Kind::Scale => other::scale_row(obj, now),
    }
}

/// Row conditions upstream attaches to some rows (only pods today: a `Completed`
/// condition for Succeeded/Failed pods, which lets `kubectl get` hide finished pods
/// when asked). `None` means the row carries no `conditions` field.
pub fn row_conditions(group: &str, resource: &str, obj: &serde_json::Value) -> Option<Value> {
    match kind_of(group, resource) {
        Some(Kind::Pod) => pod::conditions(obj),
        _ => None,
    }
}

/// Generic row: name plus the creation time as an RFC 3339 UTC string. A missing
/// timestamp prints as Go's zero time, which is what upstream emits for it.
fn default_row(obj: &Value) -> Vec<Value> {
    let created: DateTime<Utc> =
        duration::parse_time(util::at(obj, &["metadata", "creationTimestamp"])).unwrap_or_else(
            || DateTime::<Utc>::from_timestamp(-62_135_596_800, 0).unwrap_or_default(),
        );
    vec![
        json!(util::name(obj)),
        json!(created.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    ]
}

#[cfg(test)]
mod tests;
