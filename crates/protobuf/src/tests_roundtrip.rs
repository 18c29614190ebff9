//! Encoder tests: JSON in the form kubectl sends must survive
//! encode → decode unchanged, and encoded bodies must match the wire layout.

use serde_json::{json, Value};

use crate::{decode_object, encode_object, encode_object_as, EncodeError, MAGIC};

fn round_trip(obj: Value) {
    let body = encode_object(&obj).unwrap();
    assert!(body.starts_with(MAGIC));
    let back = decode_object(&body, "", "").unwrap();
    assert_eq!(back, obj);
}

#[test]
fn deployment_as_kubectl_creates_it() {
    round_trip(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "nginx", "image": "nginx",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m"}},
                        "livenessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                        "securityContext": {"allowPrivilegeEscalation": false, "runAsUser": -5}
                    }],
                    "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}],
                    "terminationGracePeriodSeconds": 0
                }
            },
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
        },
        "status": {}
    }));
}

#[test]
fn core_kinds_round_trip() {
    round_trip(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default", "creationTimestamp": "2025-01-01T00:00:00Z",
                     "annotations": {"a": "b"}},
        "data": {"tls.key": "AAEC/w=="}, "type": "kubernetes.io/tls"
    }));
    round_trip(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "creationTimestamp": null},
        "immutable": true, "data": {"k": "v"}, "binaryData": {"b": "aGk="}
    }));
    round_trip(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "svc", "creationTimestamp": null},
        "spec": {"ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                 "selector": {"app": "web"}, "type": "ClusterIP"},
        "status": {"loadBalancer": {}}
    }));
    round_trip(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "team", "creationTimestamp": null}, "spec": {}, "status": {}
    }));
}

#[test]
fn batch_and_coordination_round_trip() {
    round_trip(json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "cj", "creationTimestamp": null},
        "spec": {"schedule": "*/1 * * * *", "suspend": false, "jobTemplate": {
            "metadata": {"creationTimestamp": null},
            "spec": {"backoffLimit": 0, "template": {
                "metadata": {"creationTimestamp": null},
                "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["date"], "resources": {}}],
                         "restartPolicy": "OnFailure"}}}}},
        "status": {"lastScheduleTime": "2025-06-01T12:30:00Z"}
    }));
    round_trip(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "l", "creationTimestamp": null},
        "spec": {"holderIdentity": "a", "renewTime": "2025-01-01T00:00:00.250000Z", "leaseTransitions": 3}
    }));
    round_trip(json!({
        "apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions",
        "gracePeriodSeconds": 30, "preconditions": {"uid": "u1"}, "propagationPolicy": "Background"
    }));
    round_trip(json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null},
        "spec": {"replicas": 5}, "status": {"replicas": 0}
    }));
}

#[test]
fn encoded_layout_matches_go() {
    let body = encode_object(&json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}
    }))
    .unwrap();
    let mut want = MAGIC.to_vec();
    // typeMeta {apiVersion "v1", kind "Namespace"}
    want.extend([0x0a, 0x0f, 0x0a, 0x02, b'v', b'1', 0x12, 0x09]);
    want.extend(b"Namespace");
    // raw: Namespace { metadata { name "x" } }
    want.extend([0x12, 0x05, 0x0a, 0x03, 0x0a, 0x01, b'x']);
    // empty contentEncoding and contentType
    want.extend([0x1a, 0x00, 0x22, 0x00]);
    assert_eq!(body, want);
}

#[test]
fn encode_errors() {
    assert!(matches!(
        encode_object(&json!({"kind": "Pod"})),
        Err(EncodeError::MissingTypeMeta)
    ));
    assert!(matches!(
        encode_object(&json!([1])),
        Err(EncodeError::MissingTypeMeta)
    ));
    assert!(matches!(
        encode_object_as(&json!({}), "x/v1", "Y"),
        Err(EncodeError::UnknownType { .. })
    ));
    let err = encode_object(
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "3"}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Deployment.spec.replicas: expected an integer in range"
    );
    let err = encode_object(&json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "!!"}}))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Secret.data[k]: invalid base64"),
        "{err}"
    );
}
