use super::*;

fn options() -> ContainerdOptions {
    ContainerdOptions {
        bridge: "rk-test1".to_string(),
        pod_subnet: "10.250.3.0/24".to_string(),
        ..ContainerdOptions::default()
    }
}

#[test]
fn paths_stay_under_the_data_dir() {
    let paths = Paths::new(Path::new("/var/lib/rkube"));
    assert_eq!(
        paths.socket,
        Path::new("/var/lib/rkube/containerd/containerd.sock")
    );
    assert_eq!(
        paths.conflist(),
        Path::new("/var/lib/rkube/cni/net.d/10-rkube.conflist")
    );
    for p in [
        &paths.root,
        &paths.state,
        &paths.runc_root,
        &paths.cni_ipam_dir,
        &paths.opt,
    ] {
        assert!(p.starts_with("/var/lib/rkube"), "{}", p.display());
    }
}

#[test]
fn containerd_config_has_our_dirs_and_the_required_settings() {
    let paths = Paths::new(Path::new("/d"));
    let text = containerd_config(&paths, &options());
    for needle in [
        "root = \"/d/containerd/root\"",
        "state = \"/d/containerd/state\"",
        "address = \"/d/containerd/containerd.sock\"",
        "sandbox_image = \"registry.k8s.io/pause:3.9\"",
        "restrict_oom_score_adj = true",
        "stream_server_address = \"127.0.0.1\"",
        "conf_dir = \"/d/cni/net.d\"",
        "bin_dir = \"/usr/lib/cni\"",
        "SystemdCgroup = false",
        "Root = \"/d/runc\"",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn toml_strings_are_escaped() {
    assert_eq!(toml_str(r#"a"b\c"#), r#""a\"b\\c""#);
    assert_eq!(toml_str("x\ny\u{1}"), "\"x\\ny\\u0001\"");
}

#[test]
fn conflist_carries_bridge_subnet_and_ipam_dir() {
    let paths = Paths::new(Path::new("/d"));
    let text = cni_conflist(&paths, &options());
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["name"], "rkube");
    let bridge = &doc["plugins"][0];
    assert_eq!(bridge["type"], "bridge");
    assert_eq!(bridge["bridge"], "rk-test1");
    assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.250.3.0/24");
    assert_eq!(bridge["ipam"]["dataDir"], "/d/cni/ipam");
    assert_eq!(doc["plugins"][1]["capabilities"]["portMappings"], true);
}

#[test]
fn cidrs_are_checked() {
    assert!(parse_cidr("10.244.0.0/16").is_ok());
    assert!(parse_cidr("fd00::/64").is_ok());
    assert!(parse_cidr("10.244.0.1/24")
        .unwrap_err()
        .contains("host bits"));
    assert!(parse_cidr("10.244.0.0/33").is_err());
    assert!(parse_cidr("10.244.0.0").is_err());
    assert!(parse_cidr("fd00::1/64").is_err());
    assert!(parse_cidr("0.0.0.0/0").is_ok());
}

#[test]
fn options_are_validated() {
    let paths = Paths::new(Path::new("/d"));
    assert!(validate(&paths, &options()).is_ok());
    let long = ContainerdOptions {
        bridge: "a-name-too-long-for-linux".to_string(),
        ..options()
    };
    assert!(validate(&paths, &long).is_err());
    let bad_subnet = ContainerdOptions {
        pod_subnet: "10.250.3.7/24".to_string(),
        ..options()
    };
    assert!(validate(&paths, &bad_subnet).is_err());
    let deep = Paths::new(&Path::new("/").join("x".repeat(100)));
    assert!(matches!(
        validate(&deep, &options()),
        Err(CriError::InvalidOption {
            name: "data_dir",
            ..
        })
    ));
}
