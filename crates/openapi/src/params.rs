//! Query and path parameters of the generated operations (names and types are the
//! wire contract; descriptions are our own short wording).

use serde_json::{json, Value};

fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({
        "description": description,
        "in": "query",
        "name": name,
        "schema": { "type": ty, "uniqueItems": true }
    })
}

pub(crate) fn path_param(name: &str, description: &str) -> Value {
    json!({
        "description": description,
        "in": "path",
        "name": name,
        "required": true,
        "schema": { "type": "string", "uniqueItems": true }
    })
}

pub(crate) fn pretty() -> Value {
    query(
        "pretty",
        "string",
        "If 'true', the output is indented for reading.",
    )
}

fn dry_run() -> Value {
    query(
        "dryRun",
        "string",
        "If set to 'All', the request is processed fully but nothing is persisted.",
    )
}

fn field_manager() -> Value {
    query(
        "fieldManager",
        "string",
        "Name of the actor making this change, recorded in managedFields.",
    )
}

/// kubectl looks for this parameter on the kind's PATCH operation to decide that the
/// server validates fields itself (and then skips client-side validation).
fn field_validation() -> Value {
    query(
        "fieldValidation",
        "string",
        "How to treat unknown or duplicate fields in the body: Ignore, Warn or Strict.",
    )
}

/// Parameters of create (POST) and replace (PUT).
pub(crate) fn write() -> Vec<Value> {
    vec![dry_run(), field_manager(), field_validation()]
}

/// Parameters of PATCH.
pub(crate) fn patch() -> Vec<Value> {
    vec![
        dry_run(),
        field_manager(),
        field_validation(),
        query(
            "force",
            "boolean",
            "Take over fields owned by other managers in an apply patch; must be unset otherwise.",
        ),
    ]
}

fn list_common() -> Vec<Value> {
    vec![
        query(
            "continue",
            "string",
            "Continue token returned by a previous limited list call.",
        ),
        query(
            "fieldSelector",
            "string",
            "Restrict the returned objects by their fields.",
        ),
        query(
            "labelSelector",
            "string",
            "Restrict the returned objects by their labels.",
        ),
        query(
            "limit",
            "integer",
            "Maximum number of objects to return in one response.",
        ),
        query(
            "resourceVersion",
            "string",
            "Resource version the result must be at least as new as.",
        ),
        query(
            "resourceVersionMatch",
            "string",
            "How resourceVersion is applied: Exact or NotOlderThan.",
        ),
        query(
            "sendInitialEvents",
            "boolean",
            "With watch, start the stream with synthetic ADDED events.",
        ),
        query(
            "timeoutSeconds",
            "integer",
            "Timeout of the list or watch call.",
        ),
    ]
}

/// Parameters of list (GET on a collection).
pub(crate) fn list() -> Vec<Value> {
    let mut out = vec![query(
        "allowWatchBookmarks",
        "boolean",
        "Ask for BOOKMARK events in a watch.",
    )];
    out.extend(list_common());
    out.push(query(
        "watch",
        "boolean",
        "Stream changes instead of returning a list.",
    ));
    out
}

fn delete_common() -> Vec<Value> {
    vec![
        query(
            "gracePeriodSeconds",
            "integer",
            "Seconds before the object is deleted; 0 deletes immediately.",
        ),
        query(
            "orphanDependents",
            "boolean",
            "Deprecated; use propagationPolicy.",
        ),
        query(
            "propagationPolicy",
            "string",
            "Garbage collection policy: Orphan, Background or Foreground.",
        ),
        dry_run(),
    ]
}

/// Parameters of DELETE on one object.
pub(crate) fn delete() -> Vec<Value> {
    delete_common()
}

/// Parameters of DELETE on a collection.
pub(crate) fn delete_collection() -> Vec<Value> {
    let mut out = delete_common();
    out.extend(list_common());
    out
}
