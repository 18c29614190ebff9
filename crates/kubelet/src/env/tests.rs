use super::*;
use serde_json::json;

fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "ns1", "uid": "u-1"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c"}]}
    }))
    .unwrap()
}

fn container(spec: serde_json::Value) -> Container {
    serde_json::from_value(spec).unwrap()
}

const NODE: NodeAllocatable = NodeAllocatable {
    cpu_nanos: 2_000_000_000,
    memory_nanos: 0,
    ephemeral_storage_nanos: 0,
};

const ADDRS: PodAddresses = PodAddresses {
    host_ip: None,
    pod_ip: None,
};

fn sources() -> Sources {
    let mut s = Sources::default();
    s.config_maps.insert(
        "cfg".into(),
        Some(BTreeMap::from([
            ("MODE".to_string(), "fast".to_string()),
            ("bad=key".to_string(), "x".to_string()),
        ])),
    );
    s.config_maps.insert("gone".into(), None);
    s.secrets.insert(
        "creds".into(),
        Some(BTreeMap::from([(
            "PASSWORD".to_string(),
            "hunter2".to_string(),
        )])),
    );
    s
}

fn run(c: &Container, svc: &[(String, String)]) -> Result<Vec<(String, String)>> {
    assemble(&pod(), c, svc, &sources(), ADDRS, &NODE)
}

#[test]
fn order_is_services_then_env_from_then_env() {
    let c = container(json!({"name": "c",
        "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "creds"}, "prefix": "S_"}],
        "env": [{"name": "A", "value": "1"}, {"name": "MODE", "value": "slow"}]}));
    let svc = vec![
        (
            "KUBERNETES_SERVICE_HOST".to_string(),
            "10.96.0.1".to_string(),
        ),
        ("A".to_string(), "hidden".to_string()),
    ];
    let env = run(&c, &svc).unwrap();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        vec![
            ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
            ("MODE", "slow"),
            ("S_PASSWORD", "hunter2"),
            ("A", "1"),
        ]
    );
}

#[test]
fn values_expand_earlier_vars_and_service_vars() {
    let c = container(json!({"name": "c", "env": [
        {"name": "BASE", "value": "/srv"},
        {"name": "PATHX", "value": "$(BASE)/data:$(LATER):$$(BASE)"},
        {"name": "API", "value": "https://$(KUBERNETES_SERVICE_HOST)"},
        {"name": "LATER", "value": "x"}]}));
    let svc = vec![(
        "KUBERNETES_SERVICE_HOST".to_string(),
        "10.96.0.1".to_string(),
    )];
    let env = run(&c, &svc).unwrap();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("PATHX"), "/srv/data:$(LATER):$(BASE)");
    assert_eq!(get("API"), "https://10.96.0.1");
}

#[test]
fn key_refs_and_field_refs_resolve() {
    let c = container(json!({"name": "c", "env": [
        {"name": "M", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}},
        {"name": "P", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
        {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}},
        {"name": "OPTKEY", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nokey", "optional": true}}}]}));
    let env = run(&c, &[]).unwrap();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        vec![("M", "fast"), ("P", "hunter2"), ("N", "web"), ("CPU", "2")]
    );
}

#[test]
fn missing_refs_use_upstream_messages() {
    let err = |env: serde_json::Value| {
        run(&container(json!({"name": "c", "env": env})), &[])
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}])),
        "configmap \"gone\" not found"
    );
    assert_eq!(
        err(json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}])),
        "couldn't find key k in ConfigMap ns1/cfg"
    );
    assert_eq!(
        err(json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}])),
        "secret \"nope\" not found"
    );
    assert_eq!(
        err(json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}])),
        "couldn't find key k in Secret ns1/creds"
    );
    let from_missing = run(
        &container(json!({"name": "c", "envFrom": [{"configMapRef": {"name": "gone"}}]})),
        &[],
    );
    assert_eq!(
        from_missing.unwrap_err().to_string(),
        "configmap \"gone\" not found"
    );
    let optional = run(
        &container(
            json!({"name": "c", "envFrom": [{"configMapRef": {"name": "gone", "optional": true}}]}),
        ),
        &[],
    );
    assert_eq!(optional.unwrap(), vec![]);
}

#[test]
fn referenced_objects_are_collected_once() {
    let c = container(json!({"name": "c",
        "envFrom": [{"configMapRef": {"name": "a"}}],
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "a", "key": "k"}}},
                {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}));
    assert_eq!(
        referenced(&c),
        (vec!["a".to_string()], vec!["s".to_string()])
    );
}
