use super::*;
use crate::fixtures::{external, headless, service, slice};

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn zone() -> Zone {
    let z = Zone::new("cluster.local", 30).unwrap();
    z.update(|i| {
        i.apply_service(&service(
            "default",
            "kubernetes",
            &["10.96.0.1"],
            &[("https", "TCP", 443)],
        ));
        i.apply_service(&service(
            "web",
            "front",
            &["10.96.0.20", "fd00::20"],
            &[("http", "TCP", 80), ("", "UDP", 9000)],
        ));
        i.apply_service(&headless("web", "db", &[("pg", "TCP", 5432)], false));
        i.apply_slice(&slice(
            "web",
            "db",
            "db-x1",
            "IPv4",
            &[
                ("10.1.0.1", Some("db-0"), true),
                ("10.1.0.2", None, true),
                ("10.1.0.3", Some("db-2"), false),
            ],
            &[("pg", "TCP", 5432)],
        ));
        i.apply_service(&headless("web", "empty", &[], false));
        i.apply_service(&external("web", "ext", "example.com"));
        i.apply_service(&external("web", "alias", "front.web.svc.cluster.local"));
        i.apply_service(&external("web", "byip", "192.0.2.1"));
    });
    z
}

/// Answer rdata rendered as text, for compact assertions.
fn rdatas(a: &Answer) -> Vec<String> {
    match a {
        Answer::Found { answers, .. } | Answer::Cname { answers, .. } => {
            answers.iter().map(|r| r.data.to_string()).collect()
        }
        other => panic!("expected records, got {other:?}"),
    }
}

fn additionals(a: &Answer) -> Vec<String> {
    match a {
        Answer::Found { additionals, .. } => additionals
            .iter()
            .map(|r| format!("{} {}", r.name, r.data))
            .collect(),
        other => panic!("expected records, got {other:?}"),
    }
}

fn is_nodata(a: &Answer) -> bool {
    matches!(a, Answer::Found { answers, .. } if answers.is_empty())
}

#[test]
fn cluster_ip_a_and_aaaa() {
    let z = zone();
    let a = z.lookup(
        &name("kubernetes.default.svc.cluster.local."),
        RecordType::A,
    );
    assert_eq!(rdatas(&a), vec!["10.96.0.1"]);
    let a = z.lookup(&name("front.web.svc.cluster.local."), RecordType::AAAA);
    assert_eq!(rdatas(&a), vec!["fd00::20"]);
    // Owner name echoes the question.
    if let Answer::Found { answers, .. } = a {
        assert_eq!(answers[0].name, name("front.web.svc.cluster.local."));
        assert_eq!(answers[0].ttl, 30);
    }
    assert!(is_nodata(&z.lookup(
        &name("kubernetes.default.svc.cluster.local."),
        RecordType::AAAA
    )));
}

#[test]
fn matching_is_case_insensitive() {
    let z = zone();
    let a = z.lookup(
        &name("KuberNetes.DEFAULT.Svc.Cluster.Local."),
        RecordType::A,
    );
    assert_eq!(rdatas(&a), vec!["10.96.0.1"]);
}

#[test]
fn headless_returns_ready_endpoints_and_hostnames() {
    let z = zone();
    let mut got = rdatas(&z.lookup(&name("db.web.svc.cluster.local."), RecordType::A));
    got.sort();
    assert_eq!(got, vec!["10.1.0.1", "10.1.0.2"]);
    let host = z.lookup(&name("db-0.db.web.svc.cluster.local."), RecordType::A);
    assert_eq!(rdatas(&host), vec!["10.1.0.1"]);
    let dashed = z.lookup(&name("10-1-0-2.db.web.svc.cluster.local."), RecordType::A);
    assert_eq!(rdatas(&dashed), vec!["10.1.0.2"]);
    // Not ready: no record.
    assert_eq!(
        z.lookup(&name("db-2.db.web.svc.cluster.local."), RecordType::A),
        Answer::NxDomain
    );
    // The specification: no ready endpoints means NXDOMAIN.
    assert_eq!(
        z.lookup(&name("empty.web.svc.cluster.local."), RecordType::A),
        Answer::NxDomain
    );
}

#[test]
fn srv_for_named_ports() {
    let z = zone();
    let a = z.lookup(
        &name("_https._tcp.kubernetes.default.svc.cluster.local."),
        RecordType::SRV,
    );
    assert_eq!(
        rdatas(&a),
        vec!["0 100 443 kubernetes.default.svc.cluster.local."]
    );
    assert_eq!(
        additionals(&a),
        vec!["kubernetes.default.svc.cluster.local. 10.96.0.1"]
    );
    // Wrong protocol or unnamed port: no such name.
    assert_eq!(
        z.lookup(
            &name("_https._udp.kubernetes.default.svc.cluster.local."),
            RecordType::SRV
        ),
        Answer::NxDomain
    );
    // Existing SRV name, other type: NODATA.
    assert!(is_nodata(&z.lookup(
        &name("_https._tcp.kubernetes.default.svc.cluster.local."),
        RecordType::A
    )));
}

#[test]
fn srv_for_headless_targets_each_endpoint() {
    let z = zone();
    let a = z.lookup(&name("_pg._tcp.db.web.svc.cluster.local."), RecordType::SRV);
    let mut got = rdatas(&a);
    got.sort();
    assert_eq!(
        got,
        vec![
            "0 50 5432 10-1-0-2.db.web.svc.cluster.local.",
            "0 50 5432 db-0.db.web.svc.cluster.local.",
        ]
    );
    let mut add = additionals(&a);
    add.sort();
    assert_eq!(
        add,
        vec![
            "10-1-0-2.db.web.svc.cluster.local. 10.1.0.2",
            "db-0.db.web.svc.cluster.local. 10.1.0.1",
        ]
    );
}

#[test]
fn srv_on_service_name_lists_all_ports() {
    let z = zone();
    let a = z.lookup(&name("front.web.svc.cluster.local."), RecordType::SRV);
    let mut got = rdatas(&a);
    got.sort();
    assert_eq!(
        got,
        vec![
            "0 50 80 front.web.svc.cluster.local.",
            "0 50 9000 front.web.svc.cluster.local."
        ]
    );
}

#[test]
fn ptr_for_cluster_ips_and_endpoints() {
    let z = zone();
    let a = z.lookup(&name("1.0.96.10.in-addr.arpa."), RecordType::PTR);
    assert_eq!(rdatas(&a), vec!["kubernetes.default.svc.cluster.local."]);
    let a = z.lookup(&name("1.0.1.10.IN-ADDR.ARPA."), RecordType::PTR);
    assert_eq!(rdatas(&a), vec!["db-0.db.web.svc.cluster.local."]);
    let v6 = "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
    assert_eq!(
        rdatas(&z.lookup(&name(v6), RecordType::PTR)),
        vec!["front.web.svc.cluster.local."]
    );
    // Unknown addresses are not ours: they go upstream.
    assert_eq!(
        z.lookup(&name("9.9.9.9.in-addr.arpa."), RecordType::PTR),
        Answer::NotInZone
    );
}

#[test]
fn external_name_is_a_cname() {
    let z = zone();
    match z.lookup(&name("ext.web.svc.cluster.local."), RecordType::A) {
        Answer::Cname { answers, target } => {
            assert_eq!(target, name("example.com."));
            assert_eq!(answers[0].data.to_string(), "example.com.");
            assert_eq!(answers[0].record_type(), RecordType::CNAME);
        }
        other => panic!("{other:?}"),
    }
    // A target inside the zone is followed here.
    let a = z.lookup(&name("alias.web.svc.cluster.local."), RecordType::A);
    assert_eq!(
        rdatas(&a),
        vec!["front.web.svc.cluster.local.", "10.96.0.20"]
    );
    let c = z.lookup(&name("ext.web.svc.cluster.local."), RecordType::CNAME);
    assert_eq!(rdatas(&c), vec!["example.com."]);
    assert_eq!(
        z.lookup(&name("byip.web.svc.cluster.local."), RecordType::A),
        Answer::NxDomain
    );
}

#[test]
fn cname_loops_inside_the_zone_end() {
    let z = Zone::new("cluster.local", 30).unwrap();
    z.update(|i| {
        i.apply_service(&external("a", "x", "y.a.svc.cluster.local"));
        i.apply_service(&external("a", "y", "x.a.svc.cluster.local"));
    });
    let a = z.lookup(&name("x.a.svc.cluster.local."), RecordType::A);
    assert!(rdatas(&a).len() <= MAX_CNAME_DEPTH + 2);
}

#[test]
fn unknown_names_in_zone_are_nxdomain() {
    let z = zone();
    for n in [
        "nope.default.svc.cluster.local.",
        "kubernetes.nope.svc.cluster.local.",
        "foo.cluster.local.",
        "a.b.c.d.e.f.svc.cluster.local.",
        "kubernetes.default.default.svc.cluster.local.",
    ] {
        assert_eq!(z.lookup(&name(n), RecordType::A), Answer::NxDomain, "{n}");
    }
}

#[test]
fn structural_names_are_nodata() {
    let z = zone();
    for n in [
        "cluster.local.",
        "svc.cluster.local.",
        "default.svc.cluster.local.",
        "pod.cluster.local.",
    ] {
        assert!(is_nodata(&z.lookup(&name(n), RecordType::A)), "{n}");
    }
    // A namespace without Services is treated as absent.
    assert_eq!(
        z.lookup(&name("ghost.svc.cluster.local."), RecordType::A),
        Answer::NxDomain
    );
    let soa = z.lookup(&name("cluster.local."), RecordType::SOA);
    assert!(rdatas(&soa)[0].starts_with("ns.dns.cluster.local. hostmaster.cluster.local."));
}

#[test]
fn schema_version_txt() {
    let z = zone();
    let a = z.lookup(&name("dns-version.cluster.local."), RecordType::TXT);
    assert_eq!(rdatas(&a), vec![SCHEMA_VERSION]);
}

#[test]
fn pod_names_answer_from_the_name() {
    let z = zone();
    let a = z.lookup(&name("10-244-1-7.any.pod.cluster.local."), RecordType::A);
    assert_eq!(rdatas(&a), vec!["10.244.1.7"]);
    let a = z.lookup(&name("fd00--7.any.pod.cluster.local."), RecordType::AAAA);
    assert_eq!(rdatas(&a), vec!["fd00::7"]);
    assert!(is_nodata(&z.lookup(
        &name("10-244-1-7.any.pod.cluster.local."),
        RecordType::AAAA
    )));
    assert_eq!(
        z.lookup(&name("not-an-ip.any.pod.cluster.local."), RecordType::A),
        Answer::NxDomain
    );
}

#[test]
fn names_outside_the_zone_are_not_ours() {
    let z = zone();
    assert_eq!(
        z.lookup(&name("example.com."), RecordType::A),
        Answer::NotInZone
    );
    // A suffix match on a label boundary only.
    assert_eq!(
        z.lookup(&name("svc.mycluster.local."), RecordType::A),
        Answer::NotInZone
    );
    assert!(!z.contains(&name("local.")));
    assert!(z.contains(&name("x.Cluster.Local.")));
}

#[test]
fn updates_are_visible_to_the_next_query() {
    let z = zone();
    let q = name("late.web.svc.cluster.local.");
    assert_eq!(z.lookup(&q, RecordType::A), Answer::NxDomain);
    z.update(|i| i.apply_service(&service("web", "late", &["10.96.0.99"], &[])));
    assert_eq!(rdatas(&z.lookup(&q, RecordType::A)), vec!["10.96.0.99"]);
}
