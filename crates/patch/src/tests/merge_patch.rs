//! JSON merge patch (RFC 7386) semantics and error classes.

use serde_json::{json, Value};

use crate::{merge_patch, PatchError};

fn doc() -> Value {
    json!({"metadata":{"name":"web","labels":{"app":"web","tier":"fe"}},
           "spec":{"replicas":1,"list":[1,2],"template":{"a":1}}})
}

fn run(patch: &str) -> Result<Value, PatchError> {
    merge_patch(&doc(), patch.as_bytes())
}

#[test]
fn label_add_and_remove() {
    let out = run(r#"{"metadata":{"labels":{"version":"v1","tier":null}}}"#).unwrap();
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app":"web","version":"v1"})
    );
}

#[test]
fn scale_changes_replicas_only() {
    let out = run(r#"{"spec":{"replicas":4}}"#).unwrap();
    let mut expected = doc();
    expected["spec"]["replicas"] = json!(4);
    assert_eq!(out, expected);
}

#[test]
fn arrays_are_replaced_and_maps_merge() {
    let out = run(r#"{"spec":{"list":[3],"template":{"b":2}}}"#).unwrap();
    assert_eq!(out["spec"]["list"], json!([3]));
    assert_eq!(out["spec"]["template"], json!({"a":1,"b":2}));
}

#[test]
fn new_values_lose_their_nulls() {
    let out = run(r#"{"status":{"phase":"x","gone":null,"items":[1,null,{"k":null}]}}"#).unwrap();
    assert_eq!(out["status"], json!({"phase":"x","items":[1,{}]}));
}

#[test]
fn object_replaces_scalar() {
    let out = run(r#"{"spec":{"replicas":{"n":1,"m":null}}}"#).unwrap();
    assert_eq!(out["spec"]["replicas"], json!({"n":1}));
}

#[test]
fn bad_bodies() {
    for body in ["{", "null", "5", "\"x\""] {
        assert_eq!(
            run(body).unwrap_err(),
            PatchError::InvalidBody("Invalid JSON Patch".into()),
            "{body}"
        );
    }
    assert_eq!(run("[1]").unwrap_err().status_code(), 422);
}
