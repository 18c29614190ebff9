use super::*;
use serde_json::json;

fn cm() -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": "cfg"},
        "data": {"a.conf": "A", "b.conf": "B"}, "binaryData": {"blob": "AAEC"}}))
    .unwrap()
}

fn items(v: serde_json::Value) -> Vec<KeyToPath> {
    serde_json::from_value(v).unwrap()
}

#[test]
fn all_keys_with_default_mode() {
    let p = key_payload(&config_map_data(&cm()), None, 0o600, false, "configmap").unwrap();
    assert_eq!(
        p.keys().collect::<Vec<_>>(),
        vec!["a.conf", "b.conf", "blob"]
    );
    assert_eq!(p["a.conf"].mode, 0o600);
    assert_eq!(p["blob"].data, vec![0, 1, 2]);
}

#[test]
fn items_choose_paths_and_modes() {
    let list = items(
        json!([{"key": "a.conf", "path": "sub/x.conf", "mode": 256}, {"key": "b.conf", "path": "y"}]),
    );
    let p = key_payload(
        &config_map_data(&cm()),
        Some(&list),
        DEFAULT_MODE,
        false,
        "configmap",
    )
    .unwrap();
    assert_eq!(p.keys().collect::<Vec<_>>(), vec!["sub/x.conf", "y"]);
    assert_eq!(p["sub/x.conf"].mode, 0o400);
    assert_eq!(p["y"].mode, 0o644);
    assert_eq!(p["y"].data, b"B");
}

#[test]
fn missing_item_keys_fail_unless_optional() {
    let list = items(json!([{"key": "nope", "path": "n"}]));
    let data = config_map_data(&cm());
    let err = key_payload(&data, Some(&list), DEFAULT_MODE, false, "configmap").unwrap_err();
    assert_eq!(
        err.to_string(),
        "configmap references non-existent config key: nope"
    );
    let err = key_payload(&data, Some(&list), DEFAULT_MODE, false, "secret").unwrap_err();
    assert_eq!(
        err.to_string(),
        "secret references non-existent secret key: nope"
    );
    assert!(
        key_payload(&data, Some(&list), DEFAULT_MODE, true, "configmap")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn downward_items_render_fields_and_resources() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "ns", "labels": {"b": "2", "a": "1"}},
        "spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "64Mi"}}}]}
    }))
    .unwrap();
    let list: Vec<DownwardAPIVolumeFile> = serde_json::from_value(json!([
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}, "mode": 0o400},
        {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Mi"}}
    ]))
    .unwrap();
    let node = NodeAllocatable {
        cpu_nanos: 0,
        memory_nanos: 0,
        ephemeral_storage_nanos: 0,
    };
    let addrs = PodAddresses {
        host_ip: None,
        pod_ip: None,
    };
    let p = downward_payload(&pod, &list, DEFAULT_MODE, addrs, &node).unwrap();
    assert_eq!(p["labels"].data, b"a=\"1\"\nb=\"2\"");
    assert_eq!(p["ns"].data, b"ns");
    assert_eq!(p["ns"].mode, 0o400);
    assert_eq!(p["mem"].data, b"64");
    let bad: Vec<DownwardAPIVolumeFile> = serde_json::from_value(json!([
        {"path": "x", "resourceFieldRef": {"containerName": "ghost", "resource": "limits.cpu"}}
    ]))
    .unwrap();
    assert!(downward_payload(&pod, &bad, DEFAULT_MODE, addrs, &node).is_err());
}

#[test]
fn tokens_refresh_at_eighty_percent_of_their_life() {
    let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
    let expires = issued + Duration::from_secs(3600);
    assert!(!needs_refresh(
        issued,
        expires,
        issued + Duration::from_secs(2000)
    ));
    assert!(needs_refresh(
        issued,
        expires,
        issued + Duration::from_secs(2881)
    ));
    let long = issued + Duration::from_secs(10 * 24 * 3600);
    assert!(needs_refresh(
        issued,
        long,
        issued + Duration::from_secs(24 * 3600)
    ));
}
