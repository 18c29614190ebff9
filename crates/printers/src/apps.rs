//! `apps/v1` kinds: workload controllers and their revisions.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::descriptions as d;
use crate::duration::since_value;
use crate::util::{
    arr_at, at, bool_at, container_cells, format_label_selector, format_labels, int_at, int_or,
    name, selector_string, str_at,
};
use crate::{int, s, wide, Col, AGE, CONTAINERS, IMAGES, NAME};

fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    json!(since_value(
        at(obj, &["metadata", "creationTimestamp"]),
        now
    ))
}

/// `spec.replicas` is defaulted to 1 before an object is stored, so absence means 1.
fn desired_replicas(obj: &Value) -> i64 {
    int_or(obj, &["spec", "replicas"], 1)
}

fn template_containers(obj: &Value) -> (String, String) {
    container_cells(at(obj, &["spec", "template", "spec"]))
}

pub(crate) const DEPLOYMENT_COLUMNS: &[Col] = &[
    NAME,
    s("Ready", d::READY_PODS),
    s("Up-to-date", d::DEPLOY_UPDATED),
    s("Available", d::DEPLOY_AVAILABLE),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", d::DEPLOY_SELECTOR),
];

pub(crate) fn deployment_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    // Unlike most tables this one reports a bad selector as `<invalid>` and an empty
    // one as an empty cell.
    let selector =
        selector_string(at(obj, &["spec", "selector"])).unwrap_or_else(|_| "<invalid>".to_string());
    vec![
        json!(name(obj)),
        json!(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired_replicas(obj)
        )),
        json!(int_at(obj, &["status", "updatedReplicas"])),
        json!(int_at(obj, &["status", "availableReplicas"])),
        age(obj, now),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

pub(crate) const REPLICASET_COLUMNS: &[Col] = &[
    NAME,
    int("Desired", d::RS_SPEC_REPLICAS),
    int("Current", d::RS_STATUS_REPLICAS),
    int("Ready", d::RS_STATUS_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", d::RS_SPEC_SELECTOR),
];

pub(crate) fn replicaset_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        json!(name(obj)),
        json!(desired_replicas(obj)),
        json!(int_at(obj, &["status", "replicas"])),
        json!(int_at(obj, &["status", "readyReplicas"])),
        age(obj, now),
        json!(names),
        json!(images),
        json!(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

pub(crate) const STATEFULSET_COLUMNS: &[Col] =
    &[NAME, s("Ready", d::READY_PODS), AGE, CONTAINERS, IMAGES];

pub(crate) fn statefulset_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        json!(name(obj)),
        json!(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired_replicas(obj)
        )),
        age(obj, now),
        json!(names),
        json!(images),
    ]
}

pub(crate) const DAEMONSET_COLUMNS: &[Col] = &[
    NAME,
    int("Desired", d::DS_DESIRED),
    int("Current", d::DS_CURRENT),
    int("Ready", d::DS_READY),
    int("Up-to-date", d::DS_UPDATED),
    int("Available", d::DS_AVAILABLE),
    s("Node Selector", d::POD_NODE_SELECTOR),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", d::DS_SELECTOR),
];

pub(crate) fn daemonset_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    let status = |field: &str| json!(int_at(obj, &["status", field]));
    vec![
        json!(name(obj)),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        json!(format_labels(at(
            obj,
            &["spec", "template", "spec", "nodeSelector"]
        ))),
        age(obj, now),
        json!(names),
        json!(images),
        json!(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

pub(crate) const CONTROLLER_REVISION_COLUMNS: &[Col] = &[
    NAME,
    s("Controller", d::CONTROLLER),
    s("Revision", d::REVISION),
    AGE,
];

/// `kind.group/name` of the controlling owner (lower-cased kind and group), or `<none>`.
fn controller_name(obj: &Value) -> String {
    let Some(owner) = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|o| bool_at(o, &["controller"]))
    else {
        return "<none>".to_string();
    };
    let owner_name = str_at(owner, &["name"]);
    let api_version = str_at(owner, &["apiVersion"]);
    let group = match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [_version] => "",
        [group, _version] => group,
        // Upstream refuses to print such an owner; showing the bare name is kinder.
        _ => return owner_name.to_string(),
    };
    let kind = str_at(owner, &["kind"]);
    let group_kind = match (kind.is_empty(), group.is_empty()) {
        (true, true) => return owner_name.to_string(),
        (_, true) => kind.to_string(),
        _ => format!("{kind}.{group}"),
    };
    format!("{}/{owner_name}", group_kind.to_lowercase())
}

pub(crate) fn controller_revision_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(controller_name(obj)),
        json!(int_at(obj, &["revision"])),
        age(obj, now),
    ]
}
