//! JSON patch (RFC 6902) operations and upstream error texts.

use serde_json::{json, Value};

use crate::{json_patch, PatchError};

fn doc() -> Value {
    json!({"metadata":{"name":"web","labels":{"app":"web"}},"spec":{"list":[1,2,3]}})
}

fn run(patch: Value) -> Result<Value, PatchError> {
    json_patch(&doc(), &serde_json::to_vec(&patch).unwrap())
}

#[test]
fn add_member_and_array_elements() {
    let out = run(json!([
        {"op":"add","path":"/metadata/labels/tier","value":"fe"},
        {"op":"add","path":"/spec/list/0","value":0},
        {"op":"add","path":"/spec/list/-","value":4},
        {"op":"add","path":"/metadata/annotations","value":{"a/b":"c"}}
    ]))
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"app":"web","tier":"fe"}));
    assert_eq!(out["spec"]["list"], json!([0, 1, 2, 3, 4]));
    assert_eq!(out["metadata"]["annotations"], json!({"a/b":"c"}));
}

#[test]
fn escaped_pointer_segments() {
    let out = run(json!([
        {"op":"add","path":"/metadata/labels/example.com~1x","value":"1"},
        {"op":"replace","path":"/metadata/labels/example.com~1x","value":"2"}
    ]))
    .unwrap();
    assert_eq!(out["metadata"]["labels"]["example.com/x"], "2");
}

#[test]
fn remove_and_replace() {
    let out = run(json!([
        {"op":"remove","path":"/metadata/labels/app"},
        {"op":"replace","path":"/spec/list/1","value":20},
        {"op":"remove","path":"/spec/list/0"}
    ]))
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({}));
    assert_eq!(out["spec"]["list"], json!([20, 3]));
}

#[test]
fn replace_missing_key_fails_like_upstream() {
    let err = run(json!([{"op":"replace","path":"/metadata/annotations","value":{}}])).unwrap_err();
    assert_eq!(
        err,
        PatchError::NotApplicable(
            "replace operation does not apply: doc is missing key: /metadata/annotations: missing value"
                .into()
        )
    );
    assert_eq!(err.status_code(), 422);
}

#[test]
fn remove_missing_key_fails() {
    let err = run(json!([{"op":"remove","path":"/metadata/nope"}])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "error in remove for path: '/metadata/nope': Unable to remove nonexistent key: nope: missing value"
    );
}

#[test]
fn add_under_missing_parent_fails() {
    let err = run(json!([{"op":"add","path":"/status/phase","value":"x"}])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "add operation does not apply: doc is missing path: \"/status/phase\": missing value"
    );
}

#[test]
fn test_operation_passes_and_fails() {
    let ok = run(json!([
        {"op":"test","path":"/metadata/name","value":"web"},
        {"op":"replace","path":"/metadata/name","value":"other"}
    ]))
    .unwrap();
    assert_eq!(ok["metadata"]["name"], "other");

    let err = run(json!([
        {"op":"replace","path":"/spec/list/0","value":9},
        {"op":"test","path":"/metadata/name","value":"nope"}
    ]))
    .unwrap_err();
    assert_eq!(
        err,
        PatchError::NotApplicable("testing value /metadata/name failed: test failed".into())
    );
}

#[test]
fn move_and_copy() {
    let out = run(json!([
        {"op":"copy","from":"/metadata/labels","path":"/spec/selector"},
        {"op":"move","from":"/spec/list/2","path":"/spec/list/0"},
        {"op":"move","from":"/metadata/labels/app","path":"/metadata/labels/name"}
    ]))
    .unwrap();
    assert_eq!(out["spec"]["selector"], json!({"app":"web"}));
    assert_eq!(out["spec"]["list"], json!([3, 1, 2]));
    assert_eq!(out["metadata"]["labels"], json!({"name":"web"}));
}

#[test]
fn array_index_errors() {
    let err = run(json!([{"op":"add","path":"/spec/list/7","value":1}])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "error in add for path: '/spec/list/7': Unable to access invalid index: 7: invalid index referenced"
    );
    let err = run(json!([{"op":"replace","path":"/spec/list/x","value":1}])).unwrap_err();
    assert!(err.to_string().contains("doc is missing key"), "{err}");
}

#[test]
fn unknown_op_is_unprocessable() {
    let err = run(json!([{"op":"frob","path":"/a"}])).unwrap_err();
    assert_eq!(
        err,
        PatchError::NotApplicable("Unexpected kind: frob".into())
    );
}

#[test]
fn undecodable_bodies_are_invalid_body() {
    for body in [&b"{"[..], b"{\"op\":\"add\"}", b"[1]", b"nonsense"] {
        let err = json_patch(&doc(), body).unwrap_err();
        assert!(matches!(err, PatchError::InvalidBody(_)), "{err:?}");
        assert_eq!(err.status_code(), 400);
    }
    assert_eq!(
        json_patch(&doc(), b"{}").unwrap_err().to_string(),
        "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
    );
}

#[test]
fn rollout_undo_body_applies() {
    let mut live = doc();
    live["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision":"3"});
    live["spec"]["template"] = json!({"spec":{"containers":[{"name":"a","image":"v3"}]}});
    let body = br#"[{"op":"replace","path":"/spec/template","value":{"spec":{"containers":[{"name":"a","image":"v1"}]}}},
        {"op":"replace","path":"/metadata/annotations","value":{"deployment.kubernetes.io/revision":"2"}}]"#;
    let out = json_patch(&live, body).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["image"],
        "v1"
    );
    assert_eq!(
        out["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
}
