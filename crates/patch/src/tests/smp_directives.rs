//! Strategic merge patch: `$patch` directives on maps and lists, body and format errors.

use serde_json::{json, Value};

use super::fixtures::{deployment, schemas, DEPLOYMENT};
use crate::{strategic_merge_patch, PatchError};

fn run(patch: &str) -> Result<Value, PatchError> {
    strategic_merge_patch(
        &deployment(),
        patch.as_bytes(),
        &schemas(),
        Some(DEPLOYMENT),
    )
}

#[test]
fn replace_directive_on_map() {
    let out = run(r#"{"metadata":{"labels":{"$patch":"replace","only":"this"}}}"#).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"only":"this"}));
}

#[test]
fn delete_directive_on_map_empties_it() {
    let out = run(r#"{"spec":{"strategy":{"$patch":"delete"}}}"#).unwrap();
    assert_eq!(out["spec"]["strategy"], json!({}));
}

#[test]
fn replace_directive_in_list() {
    let out = run(
        r#"{"spec":{"template":{"spec":{"containers":[{"$patch":"replace"},{"name":"solo","image":"x"}]}}}}"#,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name":"solo","image":"x"}])
    );
}

#[test]
fn merge_directive_in_list_is_rejected_like_upstream() {
    let err =
        run(r#"{"spec":{"template":{"spec":{"containers":[{"$patch":"merge"}]}}}}"#).unwrap_err();
    assert_eq!(
        err,
        PatchError::Internal("merging lists cannot yet be specified in the patch".into())
    );
}

#[test]
fn unknown_directive_on_map_is_rejected() {
    let err = run(r#"{"metadata":{"labels":{"$patch":"bogus"}}}"#).unwrap_err();
    assert_eq!(err.status_code(), 500);
    assert!(
        err.to_string()
            .starts_with("unknown patch type: bogus in map:"),
        "{err}"
    );
}

#[test]
fn element_without_merge_key_is_rejected() {
    let err = run(r#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#).unwrap_err();
    assert_eq!(
        err,
        PatchError::Internal("map: map[image:x] does not contain declared merge key: name".into())
    );
}

#[test]
fn malformed_delete_list_directive() {
    let err = run(r#"{"metadata":{"$deleteFromPrimitiveListfinalizers":["a"]}}"#).unwrap_err();
    assert_eq!(
        err,
        PatchError::BadDirective("invalid patch format of primitive list".into())
    );
}

#[test]
fn malformed_set_element_order_directive() {
    let err = run(r#"{"metadata":{"$setElementOrderX/finalizers":["a"]}}"#).unwrap_err();
    assert_eq!(
        err,
        PatchError::BadDirective("invalid patch format of setElementOrder list".into())
    );
}

#[test]
fn non_object_and_undecodable_bodies_are_invalid_body() {
    for body in ["[1,2]", "{\"spec\":", "not json", "\"str\""] {
        let err = run(body).unwrap_err();
        assert!(matches!(err, PatchError::InvalidBody(_)), "{body}: {err:?}");
        assert_eq!(err.status_code(), 400);
    }
    assert_eq!(
        run("[]").unwrap_err().to_string(),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
}

#[test]
fn null_body_is_a_no_op() {
    assert_eq!(run("null").unwrap(), deployment());
}

#[test]
fn list_of_lists_is_unprocessable() {
    let mut live = deployment();
    live["metadata"]["finalizers"] = json!([["a"]]);
    let err = strategic_merge_patch(
        &live,
        br#"{"metadata":{"finalizers":[["b"]]}}"#,
        &schemas(),
        Some(DEPLOYMENT),
    )
    .unwrap_err();
    assert_eq!(
        err,
        PatchError::NotApplicable("lists of lists are not supported".into())
    );
    assert_eq!(err.status_code(), 422);
}

#[test]
fn directives_do_not_leak_into_new_values() {
    // A brand-new template spec carrying directives: they must not be stored.
    let mut live = deployment();
    live["spec"]
        .as_object_mut()
        .unwrap()
        .shift_remove("template");
    let out = strategic_merge_patch(
        &live,
        br#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"a"}],
            "containers":[{"name":"a","env":null,"$retainKeys":["name"]}]}}}}"#,
        &schemas(),
        Some(DEPLOYMENT),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["template"],
        json!({"spec":{"containers":[{"name":"a"}]}})
    );
}

#[test]
fn type_change_replaces_value() {
    let out = run(r#"{"spec":{"replicas":{"weird":true}}}"#).unwrap();
    assert_eq!(out["spec"]["replicas"], json!({"weird":true}));
}
