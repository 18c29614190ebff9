//! Strategic merge patch: list merging by key, maps, atomic lists, fallbacks.

use serde_json::{json, Value};

use super::fixtures::{deployment, schemas, DEPLOYMENT};
use crate::{strategic_merge_patch, NoSchemas, PatchError};

fn apply(patch: Value) -> Value {
    let body = serde_json::to_vec(&patch).unwrap();
    strategic_merge_patch(&deployment(), &body, &schemas(), Some(DEPLOYMENT)).unwrap()
}

fn apply_err(patch: &str) -> PatchError {
    strategic_merge_patch(
        &deployment(),
        patch.as_bytes(),
        &schemas(),
        Some(DEPLOYMENT),
    )
    .unwrap_err()
}

fn containers(obj: &Value) -> &Vec<Value> {
    obj["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
}

fn names(list: &[Value], key: &str) -> Vec<Value> {
    list.iter().map(|c| c[key].clone()).collect()
}

#[test]
fn set_image_by_name_keeps_other_containers() {
    // The body `kubectl set image` sends.
    let out = apply(json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],
        "containers":[{"image":"nginx:1.26","name":"nginx"}]}}}}));
    let cs = containers(&out);
    assert_eq!(names(cs, "name"), vec![json!("nginx"), json!("sidecar")]);
    assert_eq!(cs[0]["image"], "nginx:1.26");
    // Fields the patch did not mention survive the merge.
    assert_eq!(cs[0]["args"], json!(["--a", "--b"]));
    assert_eq!(cs[0]["env"].as_array().unwrap().len(), 2);
    assert_eq!(cs[1], json!({"name":"sidecar","image":"busybox:1.36"}));
    assert!(!out.to_string().contains("$setElementOrder"));
}

#[test]
fn set_image_without_order_directive() {
    let out = apply(json!({"spec":{"template":{"spec":{
        "containers":[{"name":"sidecar","image":"busybox:1.37"}]}}}}));
    let cs = containers(&out);
    assert_eq!(names(cs, "name"), vec![json!("nginx"), json!("sidecar")]);
    assert_eq!(cs[1]["image"], "busybox:1.37");
    assert_eq!(cs[0]["image"], "nginx:1.25");
}

#[test]
fn env_merges_by_name() {
    // The shape client-side `kubectl apply` sends after editing an env var and adding one.
    let out = apply(json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],
        "containers":[{"name":"nginx",
            "$setElementOrder/env":[{"name":"A"},{"name":"B"},{"name":"C"}],
            "env":[{"name":"A","value":"10"},{"name":"C","value":"3"}]}]}}}}));
    let env = containers(&out)[0]["env"].as_array().unwrap().clone();
    assert_eq!(
        env,
        vec![
            json!({"name":"A","value":"10"}),
            json!({"name":"B","value":"2"}),
            json!({"name":"C","value":"3"})
        ]
    );
}

#[test]
fn new_env_var_without_order_goes_first() {
    // Upstream quirk: without `$setElementOrder`, an element the server does not know yet
    // sorts before the server-only ones (they cannot be compared by live position).
    let out = apply(json!({"spec":{"template":{"spec":{"containers":[
        {"name":"nginx","env":[{"name":"Z","value":"26"}]}]}}}}));
    let env = containers(&out)[0]["env"].as_array().unwrap().clone();
    assert_eq!(
        names(&env, "name"),
        vec![json!("Z"), json!("A"), json!("B")]
    );
}

#[test]
fn matched_element_keeps_live_position_among_server_only_ones() {
    let out = apply(json!({"spec":{"template":{"spec":{"containers":[
        {"name":"nginx","env":[{"name":"B","value":"b"}]}]}}}}));
    let env = containers(&out)[0]["env"].as_array().unwrap().clone();
    assert_eq!(
        env,
        vec![
            json!({"name":"A","value":"1"}),
            json!({"name":"B","value":"b"})
        ]
    );
}

#[test]
fn patch_delete_directive_removes_container() {
    let out = apply(json!({"spec":{"template":{"spec":{"containers":[
        {"name":"sidecar","$patch":"delete"}]}}}}));
    let cs = containers(&out);
    assert_eq!(names(cs, "name"), vec![json!("nginx")]);
    assert_eq!(cs[0]["image"], "nginx:1.25");
}

#[test]
fn delete_env_var_while_changing_another() {
    let out = apply(json!({"spec":{"template":{"spec":{"containers":[
        {"name":"nginx","env":[{"name":"A","$patch":"delete"},{"name":"B","value":"22"}]}]}}}}));
    let env = containers(&out)[0]["env"].as_array().unwrap().clone();
    assert_eq!(env, vec![json!({"name":"B","value":"22"})]);
}

#[test]
fn null_removes_label_and_keeps_others() {
    let out = apply(json!({"metadata":{"labels":{"tier":null,"version":"v2"}}}));
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app":"web","version":"v2"})
    );
}

#[test]
fn null_for_absent_key_is_ignored() {
    let out = apply(json!({"metadata":{"annotations":{"x":null, "y":"1"}, "generateName": null}}));
    assert_eq!(out["metadata"]["annotations"], json!({"y":"1"}));
    assert!(out["metadata"].get("generateName").is_none());
}

#[test]
fn set_element_order_reorders_without_content_change() {
    let out = apply(json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"sidecar"},{"name":"nginx"}]}}}}));
    let cs = containers(&out);
    assert_eq!(names(cs, "name"), vec![json!("sidecar"), json!("nginx")]);
    // Content is untouched by a pure reorder.
    assert_eq!(cs[1]["ports"].as_array().unwrap().len(), 2);
}

#[test]
fn set_element_order_places_new_element() {
    let out = apply(json!({"spec":{"template":{"spec":{
        "$setElementOrder/containers":[{"name":"nginx"},{"name":"proxy"},{"name":"sidecar"}],
        "containers":[{"name":"proxy","image":"envoy:1"}]}}}}));
    assert_eq!(
        names(containers(&out), "name"),
        vec![json!("nginx"), json!("proxy"), json!("sidecar")]
    );
}

#[test]
fn set_element_order_mismatch_is_rejected() {
    let err = apply_err(
        r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],
            "containers":[{"name":"other","image":"x"}]}}}}"#,
    );
    assert!(matches!(err, PatchError::Internal(_)), "{err:?}");
    assert!(err
        .to_string()
        .contains("doesn't match $setElementOrder list"));
}

#[test]
fn retain_keys_switches_volume_source() {
    let out = apply(json!({"spec":{"template":{"spec":{
        "$setElementOrder/volumes":[{"name":"data"},{"name":"conf"}],
        "volumes":[{"$retainKeys":["configMap","name"],"configMap":{"name":"cm"},"name":"data"}]}}}}));
    let volumes = out["spec"]["template"]["spec"]["volumes"].clone();
    assert_eq!(
        volumes,
        json!([{"name":"data","configMap":{"name":"cm"}},{"name":"conf","configMap":{"name":"c"}}])
    );
}

#[test]
fn retain_keys_on_deployment_strategy() {
    let out = apply(json!({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}));
    assert_eq!(out["spec"]["strategy"], json!({"type":"Recreate"}));
}

#[test]
fn retain_keys_rejects_unlisted_patch_field() {
    let err = apply_err(r#"{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{}}}}"#);
    assert_eq!(
        err,
        PatchError::BadDirective("invalid patch format of retainKeys".into())
    );
    assert_eq!(err.status_code(), 400);
}

#[test]
fn ports_merge_by_container_port() {
    let out = apply(
        json!({"spec":{"template":{"spec":{"containers":[{"name":"nginx",
        "ports":[{"containerPort":443,"name":"https"},{"containerPort":8080}]}]}}}}),
    );
    let ports = containers(&out)[0]["ports"].clone();
    assert_eq!(
        ports,
        json!([
            {"containerPort":80,"protocol":"TCP"},
            {"containerPort":443,"protocol":"TCP","name":"https"},
            {"containerPort":8080}
        ])
    );
}

#[test]
fn finalizers_merge_as_a_set() {
    let out = apply(json!({"metadata":{"finalizers":["c.example/three","a.example/one"]}}));
    // Patch elements in patch order, server-only ones interleaved by original position.
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["c.example/three", "a.example/one", "b.example/two"])
    );
}

#[test]
fn finalizers_delete_from_primitive_list() {
    let out = apply(json!({"metadata":{
        "$deleteFromPrimitiveList/finalizers":["a.example/one"],
        "finalizers":["z.example/new"]}}));
    let finalizers = out["metadata"]["finalizers"].as_array().unwrap().clone();
    assert!(!finalizers.contains(&json!("a.example/one")));
    assert!(finalizers.contains(&json!("b.example/two")));
    assert!(finalizers.contains(&json!("z.example/new")));
    assert_eq!(finalizers.len(), 2);
}

#[test]
fn replicas_only_changes_nothing_else() {
    let out = apply(json!({"spec":{"replicas":5}}));
    let mut expected = deployment();
    expected["spec"]["replicas"] = json!(5);
    assert_eq!(out, expected);
}

#[test]
fn lists_without_strategy_are_replaced() {
    let out = apply(json!({"spec":{"template":{"spec":{
        "tolerations":[{"key":"y","operator":"Exists"}],
        "containers":[{"name":"nginx","args":["--c"]}]}}}}));
    assert_eq!(
        out["spec"]["template"]["spec"]["tolerations"],
        json!([{"key":"y","operator":"Exists"}])
    );
    assert_eq!(containers(&out)[0]["args"], json!(["--c"]));
}

#[test]
fn without_schema_lists_are_atomic_and_maps_merge() {
    let body = br#"{"metadata":{"labels":{"app":null}},"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"x"}]}}}}"#;
    let out = strategic_merge_patch(&deployment(), body, &NoSchemas, None).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"tier":"frontend"}));
    assert_eq!(containers(&out), &vec![json!({"name":"nginx","image":"x"})]);
}

#[test]
fn unknown_root_definition_falls_back() {
    let body = br#"{"spec":{"template":{"spec":{"containers":[{"name":"only"}]}}}}"#;
    let out = strategic_merge_patch(&deployment(), body, &schemas(), Some("no.such.Kind")).unwrap();
    assert_eq!(containers(&out), &vec![json!({"name":"only"})]);
}

#[test]
fn owner_references_merge_by_uid() {
    let mut live = deployment();
    live["metadata"]["ownerReferences"] = json!([{"uid":"1","name":"a"},{"uid":"2","name":"b"}]);
    let body =
        br#"{"metadata":{"ownerReferences":[{"uid":"2","name":"bb"},{"uid":"3","name":"c"}]}}"#;
    let out = strategic_merge_patch(&live, body, &schemas(), Some(DEPLOYMENT)).unwrap();
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([{"uid":"1","name":"a"},{"uid":"2","name":"bb"},{"uid":"3","name":"c"}])
    );
}

#[test]
fn without_schema_set_element_order_is_dropped_and_list_replaced() {
    // The `kubectl set image` body against an object whose kind has no schema.
    let body = br#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],
        "containers":[{"image":"nginx:2","name":"nginx"}]}}}}"#;
    let out = strategic_merge_patch(&deployment(), body, &NoSchemas, None).unwrap();
    assert_eq!(
        containers(&out),
        &vec![json!({"image":"nginx:2","name":"nginx"})]
    );
    assert!(!out.to_string().contains("$setElementOrder"));
}

#[test]
fn set_element_order_on_primitive_merge_list() {
    let out = apply(json!({"metadata":{
        "$setElementOrder/finalizers":["b.example/two","a.example/one"]}}));
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["b.example/two", "a.example/one"])
    );
}
