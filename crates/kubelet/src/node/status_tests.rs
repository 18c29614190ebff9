use super::*;
use crate::node::eviction::EvictionHard;
use rkube_cri::api;

fn facts() -> HostFacts {
    HostFacts {
        cpus: 4,
        memory_bytes: 16318412 * 1024,
        disk_bytes: 100 * 1024 * 1024 * 1024,
        arch: "amd64".into(),
        runtime_version: "containerd://2.0.0".into(),
        ..Default::default()
    }
}

fn healthy() -> Health {
    Health {
        memory: Some((16 << 30, 8 << 30)),
        disk: Some((100, 50)),
        inodes: Some((1000, 900)),
        pids: Some((4_194_304, 300)),
        runtime: Ok(()),
    }
}

fn defaults() -> EvictionHard {
    EvictionHard::defaults()
}

fn time(s: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap())
}

#[test]
fn quantities_use_the_largest_exact_binary_suffix() {
    assert_eq!(bytes_quantity(16318412 * 1024).0, "16318412Ki");
    assert_eq!(bytes_quantity(8 << 30).0, "8Gi");
    assert_eq!(bytes_quantity(1023).0, "1023");
    assert_eq!(bytes_quantity(0).0, "0");
}

#[test]
fn capacity_and_allocatable_hold_back_eviction_thresholds() {
    let cap = capacity(&facts(), 110);
    assert_eq!(cap["cpu"].0, "4");
    assert_eq!(cap["memory"].0, "16318412Ki");
    assert_eq!(cap["pods"].0, "110");
    assert_eq!(cap["ephemeral-storage"].0, "100Gi");
    assert_eq!(cap["hugepages-2Mi"].0, "0");
    let alloc = allocatable(&facts(), 110, &EvictionHard::defaults());
    assert_eq!(alloc["memory"].0, format!("{}Ki", 16318412 - 100 * 1024));
    assert_eq!(alloc["cpu"].0, "4");
    assert_eq!(alloc["ephemeral-storage"].0, "95Gi");
}

#[test]
fn labels_include_config_labels() {
    let mut config = KubeletConfig::new("node-a", std::path::Path::new("/tmp/x"));
    config.node_labels.insert("role".into(), "edge".into());
    let l = labels(&config, "arm64");
    assert_eq!(l["kubernetes.io/hostname"], "node-a");
    assert_eq!(l["kubernetes.io/arch"], "arm64");
    assert_eq!(l["beta.kubernetes.io/os"], "linux");
    assert_eq!(l["role"], "edge");
    assert_eq!(l.len(), 6);
}

#[test]
fn conditions_reflect_thresholds_and_keep_transition_times() {
    let c = conditions(&healthy(), &defaults(), &[], &time(100));
    let summary: Vec<(&str, &str)> = c
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("MemoryPressure", "False"),
            ("DiskPressure", "False"),
            ("PIDPressure", "False"),
            ("Ready", "True")
        ]
    );
    assert_eq!(c[3].reason.as_deref(), Some("KubeletReady"));

    let mut sick = healthy();
    sick.memory = Some((16 << 30, 50 << 20));
    sick.disk = Some((100, 4));
    sick.runtime = Err("container runtime network not ready".into());
    let later = conditions(&sick, &defaults(), &c, &time(200));
    assert_eq!(later[0].status, "True");
    assert_eq!(
        later[0].reason.as_deref(),
        Some("KubeletHasInsufficientMemory")
    );
    assert_eq!(later[1].status, "True");
    assert_eq!(later[2].status, "False");
    // Unchanged PID condition keeps its transition time; changed ones move.
    assert_eq!(later[2].last_transition_time, Some(time(100)));
    assert_eq!(later[2].last_heartbeat_time, Some(time(200)));
    assert_eq!(later[3].last_transition_time, Some(time(200)));
    assert_eq!(later[3].reason.as_deref(), Some("KubeletNotReady"));
    assert_eq!(
        later[3].message.as_deref(),
        Some("container runtime network not ready")
    );
}

#[test]
fn runtime_readiness_needs_both_conditions() {
    let cond = |t: &str, ok: bool| api::RuntimeCondition {
        r#type: t.into(),
        status: ok,
        reason: if ok { "" } else { "NetworkPluginNotReady" }.into(),
        message: if ok { "" } else { "cni plugin not initialized" }.into(),
    };
    let resp = |conds: Vec<api::RuntimeCondition>| api::StatusResponse {
        status: Some(api::RuntimeStatus { conditions: conds }),
        ..Default::default()
    };
    assert_eq!(
        runtime_readiness(&resp(vec![
            cond("RuntimeReady", true),
            cond("NetworkReady", true)
        ])),
        Ok(())
    );
    let err = runtime_readiness(&resp(vec![
        cond("RuntimeReady", true),
        cond("NetworkReady", false),
    ]))
    .unwrap_err();
    assert_eq!(
        err,
        "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:cni plugin not initialized"
    );
    assert!(runtime_readiness(&resp(vec![])).is_err());
}

#[test]
fn images_are_sorted_by_size_and_capped() {
    let img = |name: &str, size: u64| api::Image {
        repo_tags: vec![name.into()],
        repo_digests: vec![format!("{name}@sha256:00")],
        size,
        ..Default::default()
    };
    let mut list: Vec<api::Image> = (0..60).map(|i| img(&format!("img{i}"), i)).collect();
    list.push(api::Image::default());
    let out = images(&list);
    assert_eq!(out.len(), MAX_IMAGES);
    assert_eq!(out[0].size_bytes, Some(59));
    assert_eq!(
        out[0].names.as_deref().unwrap(),
        &["img59@sha256:00".to_string(), "img59".to_string()]
    );
}

#[test]
fn status_carries_node_info_and_endpoint() {
    let config = KubeletConfig::new("node-a", std::path::Path::new("/tmp/x"));
    let f = facts();
    let h = healthy();
    let s = node_status(StatusInput {
        config: &config,
        host_ip: "192.168.1.5".parse().unwrap(),
        facts: &f,
        health: &h,
        images: vec![],
        previous: &[],
        now: time(5),
    });
    let info = s.node_info.as_ref().unwrap();
    assert_eq!(info.container_runtime_version, "containerd://2.0.0");
    assert!(info.kubelet_version.starts_with("v1.33.0"));
    assert_eq!(
        s.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port,
        10250
    );
    let addrs = s.addresses.unwrap();
    assert_eq!(addrs[0].address, "192.168.1.5");
    assert_eq!(addrs[1].type_, "Hostname");
}

#[test]
fn heartbeat_time_alone_is_not_a_change() {
    let config = KubeletConfig::new("node-a", std::path::Path::new("/tmp/x"));
    let f = facts();
    let h = healthy();
    let build = |t: i64, prev: &[NodeCondition]| {
        node_status(StatusInput {
            config: &config,
            host_ip: "10.0.0.1".parse().unwrap(),
            facts: &f,
            health: &h,
            images: vec![],
            previous: prev,
            now: time(t),
        })
    };
    let first = build(1, &[]);
    let second = build(2, first.conditions.as_deref().unwrap());
    assert!(!differs(&first, &second));
    let mut f2 = facts();
    f2.cpus = 8;
    let third = node_status(StatusInput {
        config: &config,
        host_ip: "10.0.0.1".parse().unwrap(),
        facts: &f2,
        health: &h,
        images: vec![],
        previous: first.conditions.as_deref().unwrap(),
        now: time(3),
    });
    assert!(differs(&first, &third));
}
