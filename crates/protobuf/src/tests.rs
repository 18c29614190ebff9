//! Tests build protobuf bytes by hand (independently of `encode`) so that the
//! decoder is checked against the wire format itself.

use serde_json::{json, Value};

use crate::{decode_object, DecodeError, MAGIC};

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Varint field.
fn vi(num: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(num) << 3, &mut out);
    varint(v, &mut out);
    out
}

/// Length-delimited field.
fn ld(num: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint((u64::from(num) << 3) | 2, &mut out);
    varint(data.len() as u64, &mut out);
    out.extend_from_slice(data);
    out
}

fn s(num: u32, text: &str) -> Vec<u8> {
    ld(num, text.as_bytes())
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// map<string, string> entry (field `num`).
fn entry(num: u32, k: &str, v: &str) -> Vec<u8> {
    ld(num, &cat(&[s(1, k), s(2, v)]))
}

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let tm = cat(&[s(1, api_version), s(2, kind)]);
    let mut body = MAGIC.to_vec();
    body.extend(cat(&[ld(1, &tm), ld(2, raw), s(3, ""), s(4, "")]));
    body
}

/// A Deployment as Go's generated marshaller lays it out, including the
/// zero-valued value fields it always writes.
fn deployment_bytes() -> Vec<u8> {
    let labels = entry(11, "app", "web");
    let meta = cat(&[
        s(1, "web"),
        s(2, ""),
        s(3, "default"),
        vi(7, 0),
        ld(8, &[]),
        labels.clone(),
    ]);
    let selector = entry(1, "app", "web");
    let quantity = |q: &str| s(1, q);
    let limits = cat(&[
        ld(1, &cat(&[s(1, "cpu"), ld(2, &quantity("500m"))])),
        ld(1, &cat(&[s(1, "memory"), ld(2, &quantity("128Mi"))])),
    ]);
    let port = cat(&[s(1, ""), vi(2, 0), vi(3, 80), s(4, "TCP"), s(5, "")]);
    let container = cat(&[
        s(1, "nginx"),
        s(2, "nginx:1.25"),
        ld(6, &port),
        ld(8, &limits),
    ]);
    let pod_spec = ld(2, &container);
    let template = cat(&[ld(1, &cat(&[ld(8, &[]), labels])), ld(2, &pod_spec)]);
    let strategy = cat(&[
        s(1, "RollingUpdate"),
        ld(
            2,
            &cat(&[
                ld(1, &cat(&[vi(1, 0), vi(2, 1), s(3, "")])),
                ld(2, &cat(&[vi(1, 1), vi(2, 0), s(3, "25%")])),
            ]),
        ),
    ]);
    let spec = cat(&[
        vi(1, 3),
        ld(2, &selector),
        ld(3, &template),
        ld(4, &strategy),
        vi(5, 0),
        vi(7, 0),
    ]);
    envelope(
        "apps/v1",
        "Deployment",
        &cat(&[ld(1, &meta), ld(2, &spec), ld(3, &[])]),
    )
}

fn expected_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null, "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "nginx",
                    "image": "nginx:1.25",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}
                }]}
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}}
        },
        "status": {}
    })
}

#[test]
fn decodes_deployment() {
    let got = decode_object(&deployment_bytes(), "", "").unwrap();
    assert_eq!(got, expected_deployment());
    // Key order follows the Go struct, like kubectl's own JSON.
    let keys: Vec<&String> = got["spec"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["replicas", "selector", "template", "strategy"]);
}

#[test]
fn decodes_secret_bytes_as_base64() {
    let data = ld(2, &cat(&[s(1, "key"), ld(2, b"hi\x00\xff")]));
    let raw = cat(&[ld(1, &s(1, "creds")), data, s(3, "Opaque"), vi(5, 0)]);
    let got = decode_object(&envelope("v1", "Secret", &raw), "", "").unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "creds", "creationTimestamp": null},
            "immutable": false,
            "data": {"key": "aGkA/w=="},
            "type": "Opaque"
        })
    );
}

#[test]
fn fallback_type_meta_and_unknown_types() {
    let body = envelope("", "", &ld(1, &s(1, "ns1")));
    let got = decode_object(&body, "v1", "Namespace").unwrap();
    assert_eq!(got["kind"], "Namespace");
    assert_eq!(got["metadata"]["name"], "ns1");
    assert_eq!(got["spec"], json!({}));

    let err = decode_object(&envelope("example.com/v1", "Widget", &[]), "", "").unwrap_err();
    assert!(
        matches!(err, DecodeError::UnknownType { ref kind, .. } if kind == "Widget"),
        "{err}"
    );
    assert!(matches!(
        decode_object(b"{}", "v1", "Pod"),
        Err(DecodeError::MissingMagic)
    ));
}

#[test]
fn decodes_meta_kinds_under_any_group() {
    let raw = cat(&[vi(1, 0), s(4, "Foreground"), s(5, "All")]);
    let got = decode_object(&envelope("apps/v1", "DeleteOptions", &raw), "", "").unwrap();
    assert_eq!(
        got,
        json!({"apiVersion": "apps/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
               "propagationPolicy": "Foreground", "dryRun": ["All"]})
    );
}

#[test]
fn decodes_times_inline_and_packed_fields() {
    // Lease: MicroTime keeps microseconds, Time only seconds.
    let renew = cat(&[vi(1, 1_735_689_600), vi(2, 123_456_789)]);
    let meta = cat(&[s(1, "l"), ld(8, &cat(&[vi(1, 1_735_689_601), vi(2, 5)]))]);
    let spec = cat(&[s(1, "holder"), vi(2, 15), ld(4, &renew), vi(5, 0)]);
    let got = decode_object(
        &envelope(
            "coordination.k8s.io/v1",
            "Lease",
            &cat(&[ld(1, &meta), ld(2, &spec)]),
        ),
        "",
        "",
    )
    .unwrap();
    assert_eq!(got["metadata"]["creationTimestamp"], "2025-01-01T00:00:01Z");
    assert_eq!(
        got["spec"],
        json!({"holderIdentity": "holder", "leaseDurationSeconds": 15,
               "renewTime": "2025-01-01T00:00:00.123456Z", "leaseTransitions": 0})
    );

    // Volume's VolumeSource and ConfigMapVolumeSource's reference are inline;
    // supplementalGroups arrives packed, runAsUser negative (sign-extended).
    let cm = ld(19, &cat(&[ld(1, &s(1, "cfg")), vi(3, 0o644)]));
    let volume = cat(&[s(1, "v"), ld(2, &cm)]);
    let mut groups = Vec::new();
    for g in [1000u64, 2000] {
        varint(g, &mut groups);
    }
    let sc = cat(&[vi(2, (-1i64) as u64), ld(4, &groups), vi(4, 3000)]);
    let pod_spec = cat(&[ld(1, &volume), ld(2, &s(1, "c")), ld(14, &sc)]);
    let got = decode_object(&envelope("v1", "Pod", &ld(2, &pod_spec)), "", "").unwrap();
    assert_eq!(
        got["spec"]["volumes"],
        json!([{"name": "v", "configMap": {"name": "cfg", "defaultMode": 420}}])
    );
    assert_eq!(
        got["spec"]["securityContext"],
        json!({"runAsUser": -1, "supplementalGroups": [1000, 2000, 3000]})
    );
    assert_eq!(
        got["spec"]["containers"],
        json!([{"name": "c", "resources": {}}])
    );
}

#[test]
fn decodes_raw_extension() {
    let data = ld(1, br#"{"spec":{"x":1}}"#);
    let raw = cat(&[ld(1, &s(1, "rev")), ld(2, &data), vi(3, 2)]);
    let got = decode_object(&envelope("apps/v1", "ControllerRevision", &raw), "", "").unwrap();
    assert_eq!(got["data"], json!({"spec": {"x": 1}}));
    assert_eq!(got["revision"], 2);

    let bad = cat(&[ld(2, &ld(1, b"not json"))]);
    assert!(decode_object(&envelope("apps/v1", "ControllerRevision", &bad), "", "").is_err());
}

#[test]
fn wrong_wire_types_are_errors() {
    // metadata.name as a varint instead of a string.
    let raw = ld(1, &vi(1, 7));
    assert!(matches!(
        decode_object(&envelope("v1", "ConfigMap", &raw), "", ""),
        Err(DecodeError::Malformed(_))
    ));
    // Group wire type.
    let mut body = MAGIC.to_vec();
    body.extend([0x0b, 0x0c]);
    assert!(decode_object(&body, "v1", "ConfigMap").is_err());
}

#[test]
fn truncated_and_garbage_input_never_panics() {
    let good = deployment_bytes();
    for n in 0..good.len() {
        let r = decode_object(&good[..n], "apps/v1", "Deployment");
        // A prefix that ends between fields may still be well-formed.
        if let Ok(v) = r {
            assert_eq!(v["kind"], "Deployment");
        }
    }
    // Deterministic pseudo-random corruption (xorshift).
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut errors = 0;
    for _ in 0..3000 {
        let mut body = good.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = 4 + (next() as usize) % (body.len() - 4);
            body[i] = next() as u8;
        }
        if decode_object(&body, "apps/v1", "Deployment").is_err() {
            errors += 1;
        }
        let mut junk = MAGIC.to_vec();
        junk.extend((0..(next() % 64)).map(|_| next() as u8));
        let _ = decode_object(&junk, "v1", "Pod");
    }
    assert!(
        errors > 0,
        "corruption should be detected at least sometimes"
    );
}

#[test]
fn deeply_nested_input_is_rejected() {
    // JSONSchemaProps-like recursion does not exist here, but nested
    // RawExtension envelopes do; make a chain far beyond the limit.
    let mut raw = br#"{}"#.to_vec();
    for _ in 0..200 {
        raw = envelope("apps/v1", "ControllerRevision", &ld(2, &ld(1, &raw)));
    }
    assert!(matches!(
        decode_object(&raw, "", ""),
        Err(DecodeError::TooDeep)
    ));
}

#[test]
fn serves_every_required_kind() {
    let kinds = [
        ("v1", "Namespace"),
        ("v1", "Pod"),
        ("v1", "Service"),
        ("v1", "Endpoints"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "ServiceAccount"),
        ("v1", "Event"),
        ("v1", "Node"),
        ("v1", "ReplicationController"),
        ("v1", "LimitRange"),
        ("v1", "ResourceQuota"),
        ("v1", "PodTemplate"),
        ("v1", "Binding"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ControllerRevision"),
        ("coordination.k8s.io/v1", "Lease"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("events.k8s.io/v1", "Event"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("autoscaling/v1", "Scale"),
        ("policy/v1", "Eviction"),
        ("meta.k8s.io/v1", "DeleteOptions"),
        ("v1", "DeleteOptions"),
        ("meta.k8s.io/v1", "PartialObjectMetadata"),
        ("v1", "Status"),
        ("v1", "WatchEvent"),
        ("v1", "List"),
        ("apps/v1", "DeploymentList"),
    ];
    for (av, kind) in kinds {
        assert!(crate::supports(av, kind), "{av} {kind}");
    }
    assert!(!crate::supports("apps/v1", "DeploymentSpec"));
}
