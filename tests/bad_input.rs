//! Every rejection is a Status with the right code, and the store is untouched by it.

mod common;

use common::{json, Cluster};

const CM: &str = "/api/v1/namespaces/default/configmaps";

fn assert_status(code: u16, body: &str, want_code: u16, want_reason: &str) -> serde_json::Value {
    assert_eq!(code, want_code, "body: {body}");
    let status = json(body);
    assert_eq!(status["kind"], "Status", "{body}");
    assert_eq!(status["code"], want_code, "{body}");
    assert_eq!(status["reason"], want_reason, "{body}");
    status
}

#[test]
fn rejections_are_statuses_and_change_nothing() {
    // Only the API server: controllers would write (leases, service accounts) and move the
    // revision this test watches.
    let c = Cluster::start_with(&["--disable-controllers"]);
    let (code, body) = c.curl("POST", CM, "application/json", Some(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keep"},"data":{"k":"v1"}}"#));
    assert_eq!(code, 201, "{body}");
    let kept = json(&body);
    let stale_rv = kept["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, body) = c.curl("PUT", &format!("{CM}/keep"), "application/json",
        Some(format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"keep","resourceVersion":"{stale_rv}"}},"data":{{"k":"v2"}}}}"#).as_bytes()));
    assert_eq!(code, 200, "{body}");
    let before = c.revision();
    let snapshot = |c: &Cluster| c.curl("GET", CM, "application/json", None).1;
    let items_before = json(&snapshot(&c))["items"].clone();

    // (method, path, content type, body, expected code, expected reason)
    type Case<'a> = (&'a str, String, &'a str, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("POST", CM.into(), "application/json", b"{\"apiVersion\": \"v1\", \"kind\": ".to_vec(), 400, "BadRequest"),
        ("POST", CM.into(), "application/yaml", b"kind: ConfigMap\nmetadata: [unclosed\n".to_vec(), 400, "BadRequest"),
        ("POST", format!("{CM}?fieldValidation=Strict"), "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"strict"},"dta":{"a":"b"}}"#.to_vec(), 400, "BadRequest"),
        ("POST", CM.into(), "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#.to_vec(), 422, "Invalid"),
        ("PUT", format!("{CM}/keep"), "application/json",
            format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"keep","resourceVersion":"{stale_rv}"}},"data":{{"k":"v3"}}}}"#).into_bytes(), 409, "Conflict"),
        ("POST", CM.into(), "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keep"}}"#.to_vec(), 409, "AlreadyExists"),
        ("POST", CM.into(), "application/json",
            format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"huge"}},"data":{{"a":"{}"}}}}"#, "x".repeat(3 * 1024 * 1024 + 10)).into_bytes(), 413, "RequestEntityTooLarge"),
        ("GET", "/api/v1/namespaces/default/widgets".into(), "application/json", Vec::new(), 404, "NotFound"),
        ("POST", "/apis/apps/v1/namespaces/default/deployments".into(), "application/json",
            br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"c"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#.to_vec(), 422, "Invalid"),
        ("PATCH", format!("{CM}/keep"), "application/json-patch+json", b"[{\"op\":\"test\",\"path\":\"/data/k\",\"value\":\"nope\"}]".to_vec(), 422, "Invalid"),
        ("PATCH", format!("{CM}/keep"), "text/plain", b"x".to_vec(), 415, "UnsupportedMediaType"),
        ("POST", "/api/v1/namespaces/missing-ns/configmaps".into(), "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#.to_vec(), 404, "NotFound"),
    ];
    for (method, path, ct, body, want, reason) in cases {
        let (code, text) = c.curl(
            method,
            &path,
            ct,
            if body.is_empty() { None } else { Some(&body) },
        );
        let status = assert_status(code, &text, want, reason);
        match want {
            422 if method == "POST" && path.contains("configmaps") => {
                assert_eq!(
                    status["details"]["causes"][0]["field"], "metadata.name",
                    "{text}"
                );
                assert!(status["message"].as_str().unwrap().starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""), "{text}");
            }
            409 if reason == "AlreadyExists" => {
                assert_eq!(status["message"], "configmaps \"keep\" already exists")
            }
            _ => {}
        }
        if path.contains("Strict") {
            assert!(
                status["message"]
                    .as_str()
                    .unwrap()
                    .contains("unknown field \"dta\""),
                "{text}"
            );
        }
        assert_eq!(c.revision(), before, "{method} {path} changed the store");
    }
    assert_eq!(json(&snapshot(&c))["items"], items_before);

    // Deployment selector is immutable: 422 with a field cause.
    let (code, text) = c.curl("POST", "/apis/apps/v1/namespaces/default/deployments", "application/json",
        Some(br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#));
    assert_eq!(code, 201, "{text}");
    let (code, text) = c.curl("PATCH", "/apis/apps/v1/namespaces/default/deployments/d", "application/merge-patch+json",
        Some(br#"{"spec":{"selector":{"matchLabels":{"a":"z"}},"template":{"metadata":{"labels":{"a":"z"}}}}}"#));
    let status = assert_status(code, &text, 422, "Invalid");
    assert!(
        status["details"]["causes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "spec.selector"),
        "{text}"
    );
}

#[test]
fn anonymous_requests_are_unauthorized() {
    let c = Cluster::start();
    let (code, body) = c.curl_anonymous("/api/v1/namespaces/default/pods");
    assert_status(code, &body, 401, "Unauthorized");
    let (code, body) = c.curl_anonymous("/apis");
    assert_eq!(code, 401, "{body}");
    // Health and version stay public, as upstream's system:public-info-viewer allows.
    assert_eq!(c.curl_anonymous("/readyz").0, 200);
    assert_eq!(c.curl_anonymous("/version").0, 200);
}

#[test]
fn quota_of_two_pods_refuses_the_third() {
    let c = Cluster::start_with(&["--disable-controllers"]);
    c.ok("1.33", &["create", "quota", "q", "--hard=pods=2"]);
    c.ok("1.33", &["run", "p1", "--image=busybox"]);
    c.ok("1.33", &["run", "p2", "--image=busybox"]);
    let before = c.revision();
    let err = c.fails("1.33", &["run", "p3", "--image=busybox"]);
    assert!(
        err.contains("pods \"p3\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"),
        "{err}"
    );
    assert_eq!(c.revision(), before);
    // Freeing a slot lets the next one in.
    c.ok("1.33", &["delete", "pod", "p1"]);
    c.ok("1.33", &["run", "p3", "--image=busybox"]);
}

#[test]
fn a_binding_sets_the_node_once() {
    let c = Cluster::start_with(&["--disable-controllers"]);
    let pods = "/api/v1/namespaces/default/pods";
    for name in ["p", "q", "going"] {
        let (code, body) = c.curl("POST", pods, "application/json", Some(format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","finalizers":["test/hold"]}},"spec":{{"containers":[{{"name":"c","image":"i"}}]}}}}"#).as_bytes()));
        assert_eq!(code, 201, "{body}");
    }
    let binding = |pod: &str, node: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Binding","metadata":{{"name":"{pod}"}},"target":{{"kind":"Node","name":"{node}"}}}}"#
        )
    };
    let before = json(
        &c.curl("GET", &format!("{pods}/p"), "application/json", None)
            .1,
    );
    let (code, body) = c.curl(
        "POST",
        &format!("{pods}/p/binding"),
        "application/json",
        Some(binding("p", "n1").as_bytes()),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(json(&body)["status"], "Success", "{body}");
    let after = json(
        &c.curl("GET", &format!("{pods}/p"), "application/json", None)
            .1,
    );
    assert_eq!(after["spec"]["nodeName"], "n1", "{after}");
    let scheduled = after["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled"))
        .cloned();
    assert_eq!(
        scheduled.as_ref().map(|c| c["status"].clone()),
        Some("True".into()),
        "{after}"
    );
    let rv = |o: &serde_json::Value| {
        o["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    assert!(rv(&after) > rv(&before));
    // Everything else is as it was.
    for path in [
        "/metadata/uid",
        "/metadata/finalizers",
        "/spec/containers",
        "/status/phase",
        "/status/qosClass",
    ] {
        assert_eq!(after.pointer(path), before.pointer(path), "{path}");
    }

    // The legacy collection endpoint binds too.
    let (code, body) = c.curl(
        "POST",
        "/api/v1/namespaces/default/bindings",
        "application/json",
        Some(binding("q", "n2").as_bytes()),
    );
    assert_eq!(code, 201, "{body}");
    let q = json(
        &c.curl("GET", &format!("{pods}/q"), "application/json", None)
            .1,
    );
    assert_eq!(q["spec"]["nodeName"], "n2");

    let (code, body) = c.curl("DELETE", &format!("{pods}/going"), "application/json", None);
    assert_eq!(code, 200, "{body}");
    let unchanged = c.revision();
    let refused = [
        (
            "p",
            binding("p", "n2"),
            409,
            "Conflict",
            "pod p is already assigned to node \"n1\"",
        ),
        (
            "going",
            binding("going", "n1"),
            409,
            "Conflict",
            "pod is being deleted, cannot be assigned to a host",
        ),
        (
            "nope",
            binding("nope", "n1"),
            404,
            "NotFound",
            "pods \"nope\" not found",
        ),
        ("q", binding("q", ""), 422, "Invalid", ""),
    ];
    for (pod, body, want, reason, message) in refused {
        let (code, text) = c.curl(
            "POST",
            &format!("{pods}/{pod}/binding"),
            "application/json",
            Some(body.as_bytes()),
        );
        let status = assert_status(code, &text, want, reason);
        assert!(
            status["message"].as_str().unwrap().contains(message),
            "{text}"
        );
    }
    assert_eq!(c.revision(), unchanged, "a refused binding wrote something");
    let p = json(
        &c.curl("GET", &format!("{pods}/p"), "application/json", None)
            .1,
    );
    assert_eq!(p["spec"]["nodeName"], "n1");
}
