use super::*;
use k8s_openapi::api::core::v1::Container;
use rkube_cri::api::MountPropagation;
use serde_json::json;

fn prepared(dir: &Path) -> PodVolumes {
    let mut volumes = BTreeMap::new();
    volumes.insert(
        "data".to_string(),
        PreparedVolume {
            host_path: dir.join("data"),
            read_only: false,
        },
    );
    volumes.insert(
        "cfg".to_string(),
        PreparedVolume {
            host_path: dir.join("cfg"),
            read_only: true,
        },
    );
    PodVolumes {
        pod_dir: dir.to_path_buf(),
        volumes,
        etc_hosts: Some(dir.join("etc-hosts")),
    }
}

fn pod() -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
        "spec": {"containers": [{"name": "app"}]}}),
    )
    .unwrap()
}

#[test]
fn volume_mounts_map_to_cri_mounts() {
    let tmp = tempfile::tempdir().unwrap();
    let v = prepared(tmp.path());
    let c: Container = serde_json::from_value(json!({"name": "app",
    "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    "volumeMounts": [
        {"name": "data", "mountPath": "/data", "mountPropagation": "HostToContainer"},
        {"name": "cfg", "mountPath": "/etc/app"},
        {"name": "data", "mountPath": "/logs", "subPathExpr": "logs/$(POD)", "readOnly": true}
    ]}))
    .unwrap();
    let mounts = v.mounts_for(&pod(), &c).unwrap();
    let summary: Vec<(&str, String, bool)> = mounts
        .iter()
        .map(|m| {
            let host = Path::new(&m.host_path)
                .strip_prefix(tmp.path())
                .unwrap()
                .display()
                .to_string();
            (m.container_path.as_str(), host, m.readonly)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("/data", "data".to_string(), false),
            ("/etc/app", "cfg".to_string(), true),
            ("/logs", "data/logs/web".to_string(), true),
            ("/etc/hosts", "etc-hosts".to_string(), false),
            (
                "/dev/termination-log",
                "containers/app/termination-log".to_string(),
                false
            ),
        ]
    );
    assert_eq!(
        mounts[0].propagation,
        MountPropagation::PropagationHostToContainer as i32
    );
    assert!(tmp.path().join("data/logs/web").is_dir());
    assert!(tmp.path().join("containers/app/termination-log").is_file());
}

#[test]
fn unknown_volume_and_escaping_sub_path_are_spec_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let v = prepared(tmp.path());
    let c: Container = serde_json::from_value(
        json!({"name": "app", "volumeMounts": [{"name": "ghost", "mountPath": "/g"}]}),
    )
    .unwrap();
    let err = v.mounts_for(&pod(), &c).unwrap_err().to_string();
    assert_eq!(
        err,
        "cannot find volume \"ghost\" to mount into container \"app\""
    );
    let c: Container = serde_json::from_value(
        json!({"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/g", "subPath": "../../etc"}]}),
    )
    .unwrap();
    assert!(matches!(v.mounts_for(&pod(), &c), Err(Error::Spec(_))));
}

#[test]
fn explicit_mounts_replace_generated_files() {
    let tmp = tempfile::tempdir().unwrap();
    let v = prepared(tmp.path());
    let c: Container = serde_json::from_value(json!({"name": "app",
        "terminationMessagePath": "/tmp/msg",
        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/hosts", "subPath": "hosts"}]}))
    .unwrap();
    let mounts = v.mounts_for(&pod(), &c).unwrap();
    let paths: Vec<&str> = mounts.iter().map(|m| m.container_path.as_str()).collect();
    assert_eq!(paths, vec!["/etc/hosts", "/tmp/msg"]);
}

#[test]
fn hosts_file_is_written_and_teardown_removes_the_pod_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let config = KubeletConfig::new("n1", tmp.path());
    let p = pod();
    let dir = config.pod_dir("u1");
    std::fs::create_dir_all(&dir).unwrap();
    let path = write_hosts_file(&config, &dir, &p, Some("10.244.0.9".parse().unwrap())).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("10.244.0.9\tweb\n"));
    assert_eq!(path, dir.join("etc-hosts"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(teardown(&config, "u1")).unwrap();
    assert!(!dir.exists());
    rt.block_on(teardown(&config, "u1")).unwrap();
}
