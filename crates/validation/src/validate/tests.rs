use super::{validate_create, validate_update};
use crate::defaults::apply;
use crate::errors::{ErrorType, FieldError};
use serde_json::{json, Value};

fn msgs(e: &[FieldError]) -> Vec<String> {
    e.iter().map(FieldError::message).collect()
}

fn defaulted(group: &str, resource: &str, mut v: Value) -> Value {
    apply(group, resource, &mut v);
    v
}

fn deployment(labels: Value) -> Value {
    defaulted(
        "apps",
        "deployments",
        json!({"apiVersion":"apps/v1","kind":"Deployment",
        "metadata":{"name":"web","namespace":"default"},
        "spec":{"selector":{"matchLabels":{"app":"web"}},
          "template":{"metadata":{"labels":labels},"spec":{"containers":[{"name":"web","image":"nginx"}]}}}}),
    )
}

#[test]
fn valid_deployment_passes() {
    let d = deployment(json!({"app":"web"}));
    assert!(
        validate_create("apps", "deployments", &d).is_empty(),
        "{:?}",
        msgs(&validate_create("apps", "deployments", &d))
    );
}

#[test]
fn deployment_selector_mismatch() {
    let d = deployment(json!({"app":"other"}));
    assert_eq!(
        msgs(&validate_create("apps", "deployments", &d)),
        vec![
            r#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`"#
        ]
    );
}

#[test]
fn deployment_negative_replicas_and_missing_selector() {
    let mut d = deployment(json!({"app":"web"}));
    d["spec"]["replicas"] = json!(-1);
    let e = validate_create("apps", "deployments", &d);
    assert_eq!(
        msgs(&e),
        vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
    );
    assert_eq!(e[0].reason(), "FieldValueInvalid");
    d["spec"]["replicas"] = json!(1);
    d["spec"].as_object_mut().unwrap().remove("selector");
    assert_eq!(
        msgs(&validate_create("apps", "deployments", &d)),
        vec!["spec.selector: Required value"]
    );
    d["spec"]["selector"] = json!({});
    assert_eq!(
        msgs(&validate_create("apps", "deployments", &d)),
        vec!["spec.selector: Invalid value: {}: empty selector is invalid for deployment"]
    );
}

#[test]
fn deployment_strategy_rules() {
    let mut d = deployment(json!({"app":"web"}));
    d["spec"]["strategy"] =
        json!({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":0,"maxSurge":0}});
    assert_eq!(
        msgs(&validate_create("apps", "deployments", &d)),
        vec!["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"]
    );
    d["spec"]["strategy"] = json!({"type":"Recreate","rollingUpdate":{}});
    assert_eq!(
        msgs(&validate_create("apps", "deployments", &d)),
        vec!["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]
    );
}

#[test]
fn deployment_selector_immutable() {
    let old = deployment(json!({"app":"web","v":"1"}));
    let mut new = old.clone();
    new["spec"]["selector"] = json!({"matchLabels":{"app":"web","v":"1"}});
    let e = validate_update("apps", "deployments", &new, &old);
    assert_eq!(
        msgs(&e),
        vec![
            r#"spec.selector: Invalid value: {"matchLabels":{"app":"web","v":"1"}}: field is immutable"#
        ]
    );
}

fn pod(spec: Value) -> Value {
    defaulted(
        "",
        "pods",
        json!({"metadata":{"name":"p","namespace":"default"},"spec":spec}),
    )
}

#[test]
fn pod_container_errors() {
    let p = pod(
        json!({"containers":[{"name":"a"},{"name":"a","image":"x","ports":[{"containerPort":70000}]},{"name":"Bad_","image":"y"}]}),
    );
    let m = msgs(&validate_create("", "pods", &p));
    assert_eq!(m[0], "spec.containers[0].image: Required value");
    assert_eq!(m[1], r#"spec.containers[1].name: Duplicate value: "a""#);
    assert_eq!(m[2], "spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive");
    assert!(m[3].starts_with(
        r#"spec.containers[2].name: Invalid value: "Bad_": a lowercase RFC 1123 label"#
    ));
    assert_eq!(m.len(), 4);
}

#[test]
fn pod_no_containers_and_enums() {
    let p = pod(json!({"containers":[],"restartPolicy":"Sometimes","dnsPolicy":"Weird"}));
    assert_eq!(
        msgs(&validate_create("", "pods", &p)),
        vec![
            "spec.containers: Required value",
            r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
            r#"spec.dnsPolicy: Unsupported value: "Weird": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None""#,
        ]
    );
}

#[test]
fn pod_volume_mount_and_resources() {
    let p = pod(
        json!({"containers":[{"name":"c","image":"x","volumeMounts":[{"name":"missing","mountPath":"/d"}],
        "resources":{"requests":{"cpu":"2"},"limits":{"cpu":"1"}}}]}),
    );
    assert_eq!(
        msgs(&validate_create("", "pods", &p)),
        vec![
            r#"spec.containers[0].volumeMounts[0].name: Not found: "missing""#,
            r#"spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1"#,
        ]
    );
}

#[test]
fn pod_update_only_image_mutable() {
    let old = pod(json!({"containers":[{"name":"c","image":"nginx:1"}]}));
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:2");
    assert!(validate_update("", "pods", &new, &old).is_empty());
    new["spec"]["containers"][0]["ports"] = json!([{"containerPort":80,"protocol":"TCP"}]);
    let e = validate_update("", "pods", &new, &old);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].error_type, ErrorType::Forbidden);
    assert!(e[0].message().starts_with(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    ));
    // tolerations may be added
    let mut new = old.clone();
    new["spec"]["tolerations"] = json!([{"key":"k","operator":"Exists"}]);
    assert!(validate_update("", "pods", &new, &old).is_empty());
}

#[test]
fn service_rules() {
    let s = defaulted(
        "",
        "services",
        json!({"metadata":{"name":"svc","namespace":"default"},"spec":{"selector":{"app":"a"}}}),
    );
    assert_eq!(
        msgs(&validate_create("", "services", &s)),
        vec!["spec.ports: Required value"]
    );
    let s = defaulted(
        "",
        "services",
        json!({"metadata":{"name":"1svc","namespace":"default"},"spec":{"type":"Bogus","ports":[{"port":80},{"port":0,"name":"b"}]}}),
    );
    let m = msgs(&validate_create("", "services", &s));
    assert!(
        m[0].starts_with(r#"metadata.name: Invalid value: "1svc": a DNS-1035 label must consist"#)
    );
    assert!(m.contains(&r#"spec.type: Unsupported value: "Bogus": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort""#.to_string()));
    assert!(m.contains(&"spec.ports[0].name: Required value".to_string()));
    assert!(m.contains(
        &"spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive".to_string()
    ));
    let headless = defaulted(
        "",
        "services",
        json!({"metadata":{"name":"h","namespace":"default"},"spec":{"clusterIP":"None"}}),
    );
    assert!(validate_create("", "services", &headless).is_empty());
}

#[test]
fn service_cluster_ip_immutable() {
    let old = defaulted(
        "",
        "services",
        json!({"metadata":{"name":"s","namespace":"d"},"spec":{"clusterIP":"10.96.0.5","clusterIPs":["10.96.0.5"],"ports":[{"port":80}]}}),
    );
    let mut new = old.clone();
    new["spec"]["clusterIP"] = json!("10.96.0.6");
    new["spec"]["clusterIPs"] = json!(["10.96.0.6"]);
    assert_eq!(
        msgs(&validate_update("", "services", &new, &old)),
        vec![
            r#"spec.clusterIPs[0]: Invalid value: []string{"10.96.0.6"}: may not change once set"#
        ]
    );
    let mut omitted = old.clone();
    omitted["spec"].as_object_mut().unwrap().remove("clusterIP");
    omitted["spec"]
        .as_object_mut()
        .unwrap()
        .remove("clusterIPs");
    crate::prepare_update("", "services", &mut omitted, &old);
    assert!(validate_update("", "services", &omitted, &old).is_empty());
}

#[test]
fn configmap_and_secret() {
    let cm = json!({"metadata":{"name":"c","namespace":"d"},"data":{"bad key":"v"}});
    let m = msgs(&validate_create("", "configmaps", &cm));
    assert_eq!(m.len(), 1);
    assert!(m[0].starts_with(r#"data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"#));
    let tls = defaulted(
        "",
        "secrets",
        json!({"metadata":{"name":"t","namespace":"d"},"type":"kubernetes.io/tls","data":{"tls.crt":"eA=="}}),
    );
    assert_eq!(
        msgs(&validate_create("", "secrets", &tls)),
        vec!["data[tls.key]: Required value"]
    );
    let old = json!({"metadata":{"name":"c","namespace":"d"},"immutable":true,"data":{"a":"1"}});
    let new = json!({"metadata":{"name":"c","namespace":"d"},"immutable":true,"data":{"a":"2"}});
    assert_eq!(
        msgs(&validate_update("", "configmaps", &new, &old)),
        vec!["data: Forbidden: field is immutable when `immutable` is set"]
    );
}

#[test]
fn namespace_and_node() {
    let ns = defaulted("", "namespaces", json!({"metadata":{"name":"a.b"}}));
    assert_eq!(
        msgs(&validate_create("", "namespaces", &ns)),
        vec![r#"metadata.name: Invalid value: "a.b": must not contain dots"#]
    );
    let ns = defaulted("", "namespaces", json!({"metadata":{"name":"dev"}}));
    assert!(validate_create("", "namespaces", &ns).is_empty());
    let node =
        json!({"metadata":{"name":"n1"},"spec":{"taints":[{"key":"k","effect":"Sometimes"}]}});
    assert_eq!(
        msgs(&validate_create("", "nodes", &node)),
        vec![
            r#"spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoExecute", "NoSchedule", "PreferNoSchedule""#
        ]
    );
}

#[test]
fn jobs_and_cronjobs() {
    let j = defaulted(
        "batch",
        "jobs",
        json!({"metadata":{"name":"j","namespace":"d","uid":"u1"},
        "spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}),
    );
    assert_eq!(
        msgs(&validate_create("batch", "jobs", &j)),
        vec![
            r#"spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never""#
        ]
    );
    let mut ok = j.clone();
    ok["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    assert!(validate_create("batch", "jobs", &ok).is_empty());
    let mut changed = ok.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("other");
    let e = validate_update("batch", "jobs", &changed, &ok);
    assert_eq!(e.len(), 1);
    assert!(e[0].message().starts_with("spec.template: Invalid value: "));
    assert!(e[0].message().ends_with(": field is immutable"));

    let cj = defaulted(
        "batch",
        "cronjobs",
        json!({"metadata":{"name":"c","namespace":"d"},
        "spec":{"schedule":"","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"b"}]}}}}}}),
    );
    assert_eq!(
        msgs(&validate_create("batch", "cronjobs", &cj)),
        vec!["spec.schedule: Required value"]
    );
    let mut bad = cj.clone();
    bad["spec"]["schedule"] = json!("* *");
    assert_eq!(
        msgs(&validate_create("batch", "cronjobs", &bad)),
        vec![r#"spec.schedule: Invalid value: "* *": expected exactly 5 fields, found 2: * *"#]
    );
}

#[test]
fn statefulset_daemonset_rc() {
    let ss = defaulted(
        "apps",
        "statefulsets",
        json!({"metadata":{"name":"s","namespace":"d"},"spec":{"serviceName":"s",
        "selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}),
    );
    assert!(validate_create("apps", "statefulsets", &ss).is_empty());
    let mut changed = ss.clone();
    changed["spec"]["serviceName"] = json!("other");
    assert_eq!(
        msgs(&validate_update("apps", "statefulsets", &changed, &ss)),
        vec!["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"]
    );
    let ds = defaulted(
        "apps",
        "daemonsets",
        json!({"metadata":{"name":"d","namespace":"d"},"spec":{
        "selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"i"}]}}}}),
    );
    assert_eq!(
        msgs(&validate_create("apps", "daemonsets", &ds)),
        vec![
            r#"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#
        ]
    );
    let rc = defaulted(
        "",
        "replicationcontrollers",
        json!({"metadata":{"name":"r","namespace":"d"},"spec":{
        "selector":{"a":"x"},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}),
    );
    assert_eq!(
        msgs(&validate_create("", "replicationcontrollers", &rc)),
        vec![
            r#"spec.template.metadata.labels: Invalid value: map[string]string{"a":"b"}: `selector` does not match template `labels`"#
        ]
    );
}

#[test]
fn leases_slices_events() {
    let l = json!({"metadata":{"name":"l","namespace":"d"},"spec":{"leaseDurationSeconds":0}});
    assert_eq!(
        msgs(&validate_create("coordination.k8s.io", "leases", &l)),
        vec!["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"]
    );
    let es = json!({"metadata":{"name":"e","namespace":"d"},"addressType":"IPv5","endpoints":[{"addresses":[]}]});
    assert_eq!(
        msgs(&validate_create("discovery.k8s.io", "endpointslices", &es)),
        vec![
            r#"addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6""#,
            "endpoints[0].addresses: Required value: must contain at least 1 address",
        ]
    );
    let old = json!({"metadata":{"name":"e","namespace":"d"},"addressType":"IPv4"});
    let new = json!({"metadata":{"name":"e","namespace":"d"},"addressType":"IPv6"});
    assert_eq!(
        msgs(&validate_update(
            "discovery.k8s.io",
            "endpointslices",
            &new,
            &old
        )),
        vec![r#"addressType: Invalid value: "IPv6": field is immutable"#]
    );
    let ev = json!({"metadata":{"name":"e.1","namespace":"d"},"type":"Normal"});
    let m = msgs(&validate_create("events.k8s.io", "events", &ev));
    assert!(m.contains(&"eventTime: Required value".to_string()));
    assert!(m.contains(&"reportingController: Required value".to_string()));
    let core_ev =
        json!({"metadata":{"name":"e.1","namespace":"d"},"involvedObject":{"namespace":"other"}});
    assert_eq!(
        msgs(&validate_create("", "events", &core_ev)),
        vec![r#"involvedObject.namespace: Invalid value: "other": does not match event.namespace"#]
    );
}

#[test]
fn kubectl_create_deployment_payload_is_valid() {
    let d = defaulted(
        "apps",
        "deployments",
        json!({"kind":"Deployment","apiVersion":"apps/v1",
        "metadata":{"name":"kubernetes-bootcamp","namespace":"default","creationTimestamp":null,"labels":{"app":"kubernetes-bootcamp"}},
        "spec":{"replicas":1,"selector":{"matchLabels":{"app":"kubernetes-bootcamp"}},
          "template":{"metadata":{"creationTimestamp":null,"labels":{"app":"kubernetes-bootcamp"}},
            "spec":{"containers":[{"name":"kubernetes-bootcamp","image":"gcr.io/google-samples/kubernetes-bootcamp:v1","resources":{}}]}},
          "strategy":{}},"status":{}}),
    );
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    let e = validate_create("apps", "deployments", &d);
    assert!(e.is_empty(), "{:?}", msgs(&e));
}

#[test]
fn generate_name_prefix_rules() {
    let p = pod(json!({"containers":[{"name":"c","image":"x"}]}));
    let mut p2 = p.clone();
    p2["metadata"] = json!({"generateName":"Web-","namespace":"default"});
    let m = msgs(&validate_create("", "pods", &p2));
    assert!(m[0].starts_with(
        r#"metadata.generateName: Invalid value: "Web-": a lowercase RFC 1123 subdomain"#
    ));
    assert_eq!(
        m[1],
        "metadata.name: Required value: name or generateName is required"
    );
}
