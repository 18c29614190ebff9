use super::*;
use crate::fixtures::{external, headless, service, slice};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn cluster_ip_service_resolves_to_its_ips_and_ptr() {
    let mut idx = Index::new();
    idx.apply_service(&service(
        "Default",
        "Web",
        &["10.96.0.5", "fd00::5"],
        &[("http", "TCP", 80)],
    ));
    let r = idx.service("default", "web").unwrap();
    assert_eq!(
        r.kind,
        Kind::ClusterIp(vec![ip("10.96.0.5"), ip("fd00::5")])
    );
    assert_eq!(r.ports[0].name, "http");
    assert_eq!(r.ports[0].protocol, "tcp");
    assert_eq!(idx.ptr(&ip("10.96.0.5"))[0].name, "web.default.svc");
    assert_eq!(idx.ptr(&ip("fd00::5"))[0].name, "web.default.svc");
    assert!(idx.has_namespace("default"));
}

#[test]
fn headless_uses_ready_endpoints_from_all_slices() {
    let mut idx = Index::new();
    // The slice arrives before its Service: it must still be used once the Service shows up.
    idx.apply_slice(&slice(
        "ns",
        "db",
        "db-a",
        "IPv4",
        &[("10.1.0.1", Some("db-0"), true), ("10.1.0.2", None, false)],
        &[("pg", "TCP", 5432)],
    ));
    idx.apply_slice(&slice(
        "ns",
        "db",
        "db-b",
        "IPv4",
        &[("10.1.0.3", None, true), ("10.1.0.1", Some("db-0"), true)],
        &[("pg", "TCP", 5432)],
    ));
    assert!(idx.service("ns", "db").is_none());
    idx.apply_service(&headless("ns", "db", &[("pg", "TCP", 5432)], false));
    let r = idx.service("ns", "db").unwrap();
    let ips: Vec<_> = r.endpoints.iter().map(|e| e.ip).collect();
    assert_eq!(ips, vec![ip("10.1.0.1"), ip("10.1.0.3")]);
    assert_eq!(r.endpoints[0].host, "db-0");
    assert_eq!(r.endpoints[1].host, "10-1-0-3");
    assert_eq!(idx.ptr(&ip("10.1.0.1"))[0].name, "db-0.db.ns.svc");
    assert_eq!(idx.ptr(&ip("10.1.0.3"))[0].name, "10-1-0-3.db.ns.svc");
    assert!(idx.ptr(&ip("10.1.0.2")).is_empty());

    // Deleting a slice drops its endpoints and their reverse records.
    idx.delete_slice(&slice("ns", "db", "db-b", "IPv4", &[], &[]));
    let r = idx.service("ns", "db").unwrap();
    assert_eq!(r.endpoints.len(), 1);
    assert!(idx.ptr(&ip("10.1.0.3")).is_empty());
}

#[test]
fn publish_not_ready_includes_unready_endpoints() {
    let mut idx = Index::new();
    idx.apply_service(&headless("ns", "db", &[], true));
    idx.apply_slice(&slice(
        "ns",
        "db",
        "db-a",
        "IPv4",
        &[("10.1.0.2", None, false)],
        &[],
    ));
    assert_eq!(idx.service("ns", "db").unwrap().endpoints.len(), 1);
}

#[test]
fn deleting_service_removes_records_and_namespace() {
    let mut idx = Index::new();
    let svc = service("ns", "web", &["10.96.0.9"], &[]);
    idx.apply_service(&svc);
    let before = idx.generation();
    idx.delete_service(&svc);
    assert!(idx.service("ns", "web").is_none());
    assert!(idx.ptr(&ip("10.96.0.9")).is_empty());
    assert!(!idx.has_namespace("ns"));
    assert_ne!(idx.generation(), before);
}

#[test]
fn shared_ptr_address_survives_one_owner_leaving() {
    let mut idx = Index::new();
    idx.apply_service(&headless("ns", "a", &[], false));
    idx.apply_service(&headless("ns", "b", &[], false));
    for svc in ["a", "b"] {
        idx.apply_slice(&slice(
            "ns",
            svc,
            svc,
            "IPv4",
            &[("10.1.0.7", None, true)],
            &[],
        ));
    }
    assert_eq!(idx.ptr(&ip("10.1.0.7")).len(), 2);
    idx.delete_service(&headless("ns", "a", &[], false));
    let left: Vec<_> = idx
        .ptr(&ip("10.1.0.7"))
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(left, vec!["10-1-0-7.b.ns.svc".to_string()]);
}

#[test]
fn relist_replaces_everything() {
    let mut idx = Index::new();
    idx.apply_service(&service("ns", "old", &["10.96.0.1"], &[]));
    let fresh = [
        service("ns", "new", &["10.96.0.2"], &[]),
        external("ns", "ext", "Example.COM."),
    ];
    idx.replace_services(fresh.iter());
    assert!(idx.service("ns", "old").is_none());
    assert!(idx.ptr(&ip("10.96.0.1")).is_empty());
    assert!(idx.service("ns", "new").is_some());
    assert_eq!(
        idx.service("ns", "ext").unwrap().kind,
        Kind::ExternalName("example.com".into())
    );
    assert_eq!(idx.service_count(), 2);

    idx.apply_slice(&slice(
        "ns",
        "new",
        "s1",
        "IPv4",
        &[("10.1.1.1", None, true)],
        &[],
    ));
    idx.replace_slices(std::iter::empty());
    assert!(idx.service("ns", "new").unwrap().endpoints.is_empty());
}

#[test]
fn fqdn_slices_publish_nothing() {
    let mut idx = Index::new();
    idx.apply_service(&headless("ns", "h", &[], false));
    idx.apply_slice(&slice(
        "ns",
        "h",
        "s",
        "FQDN",
        &[("example.com", None, true)],
        &[],
    ));
    assert!(idx.service("ns", "h").unwrap().endpoints.is_empty());
}
