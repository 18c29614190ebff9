//! Rule layout tests: they read the rendered model the way the kernel would walk it.

use std::net::Ipv4Addr;

use crate::model::{Endpoint, Protocol, ServicePort, Snapshot};
use crate::nft::Ruleset;
use crate::render::{build, render};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn ep(addr: &str, port: u16) -> Endpoint {
    Endpoint::ready(ip(addr), port)
}

fn svc(name: &str, cip: &str, port: u16, eps: Vec<Endpoint>) -> ServicePort {
    ServicePort {
        namespace: "default".into(),
        name: name.into(),
        port_name: String::new(),
        protocol: Protocol::Tcp,
        cluster_ip: ip(cip),
        port,
        node_port: None,
        external_ips: vec![],
        affinity_timeout: None,
        external_local: false,
        internal_local: false,
        endpoints: eps,
    }
}

fn snap(services: Vec<ServicePort>) -> Snapshot {
    Snapshot {
        cluster_cidr: Some("10.244.0.0/16".into()),
        node_ips: vec![ip("10.252.0.1")],
        services,
        ..Snapshot::new("rkube-proxy")
    }
}

fn rules<'a>(r: &'a Ruleset, chain: &str) -> &'a [String] {
    &r.chains
        .get(chain)
        .unwrap_or_else(|| panic!("no chain {chain}: {:?}", r.chains.keys()))
        .rules
}

fn elem<'a>(r: &'a Ruleset, set: &str, key: &str) -> Option<&'a str> {
    r.sets[set].elements.get(key).map(String::as_str)
}

/// Follows `goto` verdicts from a map element down to the DNAT targets it can reach.
fn dnat_targets(r: &Ruleset, verdict: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![verdict.trim_start_matches("goto ").to_string()];
    while let Some(chain) = stack.pop() {
        for rule in rules(r, &chain) {
            if let Some(t) = rule.split("dnat to ").nth(1) {
                out.push(t.to_string());
            }
            for part in rule.split("goto ").skip(1) {
                let target: String = part
                    .chars()
                    .take_while(|c| !matches!(c, ',' | ' ' | '}'))
                    .collect();
                if r.chains.contains_key(&target) && target != "reject-chain" {
                    stack.push(target);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn cluster_ip_spreads_evenly_over_ready_endpoints() {
    let s = snap(vec![svc(
        "web",
        "10.96.0.20",
        80,
        vec![ep("10.244.0.5", 8080), ep("10.244.0.6", 8080)],
    )]);
    let r = build(&s);
    let v = elem(&r, "service-ips", "10.96.0.20 . tcp . 80").unwrap();
    assert_eq!(v, "goto svc-default/web/tcp/80");
    let pick = rules(&r, "svc-default/web/tcp/80");
    assert_eq!(
        pick,
        &[
            "numgen random mod 2 0 meta l4proto tcp dnat to 10.244.0.5:8080",
            "meta l4proto tcp dnat to 10.244.0.6:8080"
        ]
    );
    assert_eq!(elem(&r, "cluster-ips", "10.96.0.20"), Some(""));
    assert!(r.sets["no-endpoint-services"].elements.is_empty());
    assert!(r.sets["service-nodeports"].elements.is_empty());
}

/// Each endpoint's share under the cascade, computed exactly from the rules.
fn shares(rules: &[String]) -> Vec<f64> {
    let mut remaining = 1.0;
    let mut out = Vec::new();
    for rule in rules {
        let p = match rule.strip_prefix("numgen random mod ") {
            Some(rest) => 1.0 / rest.split(' ').next().unwrap().parse::<f64>().unwrap(),
            None => 1.0,
        };
        out.push(remaining * p);
        remaining *= 1.0 - p;
    }
    out
}

#[test]
fn random_pick_is_uniform_for_any_count() {
    for n in 1..=12u8 {
        let eps = (0..n).map(|i| ep(&format!("10.244.1.{i}"), 80)).collect();
        let r = build(&snap(vec![svc("u", "10.96.0.21", 80, eps)]));
        let pick = rules(&r, "svc-default/u/tcp/80");
        assert_eq!(pick.len(), n as usize);
        let targets: std::collections::BTreeSet<_> = pick
            .iter()
            .map(|r| r.split("dnat to ").nth(1).unwrap())
            .collect();
        assert_eq!(targets.len(), n as usize, "every endpoint once");
        for share in shares(pick) {
            assert!(
                (share - 1.0 / n as f64).abs() < 1e-9,
                "n={n}: {:?}",
                shares(pick)
            );
        }
    }
}

#[test]
fn hairpin_and_off_cluster_sources_are_marked_and_masqueraded() {
    let r = build(&snap(vec![svc(
        "web",
        "10.96.0.20",
        80,
        vec![ep("10.244.0.5", 8080)],
    )]));
    assert_eq!(
        rules(&r, "services")[0],
        "ip daddr @cluster-ips ip saddr != 10.244.0.0/16 jump mark-for-masquerade"
    );
    // Hairpin: after DNAT an endpoint talking to itself is masqueraded in postrouting.
    assert_eq!(
        rules(&r, "nat-postrouting"),
        &[
            "ct status dnat ip saddr . ip daddr @hairpin-pairs jump mark-for-masquerade",
            "jump masquerading"
        ]
    );
    let pairs: Vec<_> = r.sets["hairpin-pairs"].elements.keys().cloned().collect();
    assert_eq!(pairs, vec!["10.244.0.5 . 10.244.0.5".to_string()]);
    assert_eq!(
        rules(&r, "mark-for-masquerade"),
        &["meta mark set meta mark | 0x00004000"]
    );
    let masq = rules(&r, "masquerading");
    assert_eq!(masq[0], "meta mark & 0x00004000 == 0 return");
    assert_eq!(masq[2], "masquerade fully-random");
    // Without a cluster CIDR there is no off-cluster rule.
    let mut s = snap(vec![]);
    s.cluster_cidr = None;
    assert!(!rules(&build(&s), "services")
        .iter()
        .any(|r| r.contains("saddr !=")));
}

#[test]
fn service_without_endpoints_is_rejected_on_every_address() {
    let mut s = svc("empty", "10.96.0.30", 80, vec![]);
    s.node_port = Some(30030);
    s.external_ips = vec![ip("192.0.2.1")];
    let r = build(&snap(vec![s]));
    assert_eq!(
        elem(&r, "no-endpoint-services", "10.96.0.30 . tcp . 80"),
        Some("goto reject-chain")
    );
    assert_eq!(
        elem(&r, "no-endpoint-services", "192.0.2.1 . tcp . 80"),
        Some("goto reject-chain")
    );
    assert_eq!(
        elem(&r, "no-endpoint-nodeports", "tcp . 30030"),
        Some("goto reject-chain")
    );
    assert!(r.sets["service-ips"].elements.is_empty());
    assert!(!r.chains.keys().any(|c| c.starts_with("svc-")));
    assert_eq!(
        rules(&r, "reject-chain"),
        &["meta l4proto tcp reject with tcp reset", "reject"]
    );
    // The checks run for new connections on input, forward and (after DNAT) output.
    for chain in ["filter-input", "filter-forward", "filter-output"] {
        assert!(rules(&r, chain).contains(&"ct state new jump service-endpoints-check".to_string()));
    }
    assert!(r.chains["filter-output"].spec.contains("priority -90"));
    assert_eq!(
        rules(&r, "cluster-ips-check"),
        &["ip daddr @cluster-ips goto reject-chain"]
    );
}

#[test]
fn node_port_answers_on_node_ips_and_localhost_and_masquerades() {
    let mut s = svc("web", "10.96.0.20", 80, vec![ep("10.244.0.5", 8080)]);
    s.node_port = Some(30080);
    let r = build(&snap(vec![s]));
    assert_eq!(
        elem(&r, "service-nodeports", "tcp . 30080"),
        Some("goto ext-default/web/tcp/80")
    );
    assert_eq!(
        rules(&r, "ext-default/web/tcp/80"),
        &["jump mark-for-masquerade", "goto svc-default/web/tcp/80"]
    );
    let ips: Vec<_> = r.sets["nodeport-ips"].elements.keys().cloned().collect();
    assert_eq!(ips, vec!["10.252.0.1".to_string(), "127.0.0.1".to_string()]);
    assert_eq!(
        rules(&r, "services")[2],
        "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"
    );
    // Martian packets to 127/8 from other interfaces are dropped before DNAT.
    assert_eq!(
        rules(&r, "filter-prerouting"),
        &["iifname != \"lo\" ip daddr 127.0.0.0/8 drop"]
    );
    assert_eq!(
        dnat_targets(&r, "goto ext-default/web/tcp/80"),
        vec!["10.244.0.5:8080"]
    );
}

#[test]
fn localhost_node_ports_can_be_disabled() {
    let mut s = snap(vec![]);
    s.localhost_nodeports = false;
    let r = build(&s);
    assert!(!r.sets["nodeport-ips"].elements.contains_key("127.0.0.1"));
    assert!(rules(&r, "filter-prerouting").is_empty());
    s.node_ips.clear();
    let r = build(&s);
    assert!(!r.sets.contains_key("nodeport-ips"));
    assert_eq!(
        rules(&r, "services")[2],
        "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports"
    );
}

#[test]
fn session_affinity_remembers_client_per_endpoint() {
    let mut s = svc(
        "sticky",
        "10.96.0.40",
        80,
        vec![ep("10.244.0.5", 80), ep("10.244.0.6", 80)],
    );
    s.affinity_timeout = Some(600);
    let r = build(&snap(vec![s]));
    let a5 = "aff-default/sticky/tcp/80/10.244.0.5/80";
    assert_eq!(
        r.sets[a5].spec,
        "type ipv4_addr; flags dynamic,timeout; timeout 600s;"
    );
    let pick = rules(&r, "svc-default/sticky/tcp/80");
    // A known client goes to its endpoint (refreshing the timeout); a new one is
    // remembered where the random pick sends it.
    let remember = format!("update @{a5} {{ ip saddr }} meta l4proto tcp dnat to 10.244.0.5:80");
    assert_eq!(pick[0], format!("ip saddr @{a5} {remember}"));
    assert_eq!(pick[2], format!("numgen random mod 2 0 {remember}"));
    assert!(pick[3].starts_with("update @aff-default/sticky/tcp/80/10.244.0.6/80 { ip saddr }"));
    assert_eq!(pick.len(), 4);
}

fn local_ep(addr: &str, local: bool) -> Endpoint {
    Endpoint {
        local,
        ..ep(addr, 80)
    }
}

#[test]
fn external_traffic_policy_local_uses_only_local_endpoints() {
    let mut s = svc(
        "lb",
        "10.96.0.50",
        80,
        vec![local_ep("10.244.0.5", true), local_ep("10.244.1.5", false)],
    );
    s.node_port = Some(30050);
    s.external_local = true;
    let r = build(&snap(vec![s.clone()]));
    let ext = rules(&r, "ext-default/lb/tcp/80");
    assert_eq!(
        ext,
        &[
            "fib saddr type local jump mark-for-masquerade",
            "fib saddr type local goto svc-default/lb/tcp/80",
            "ip saddr 10.244.0.0/16 goto svc-default/lb/tcp/80",
            "goto local-default/lb/tcp/80"
        ]
    );
    assert_eq!(
        dnat_targets(&r, "goto local-default/lb/tcp/80"),
        vec!["10.244.0.5:80"]
    );
    // ClusterIP traffic still goes anywhere.
    assert_eq!(
        dnat_targets(
            &r,
            elem(&r, "service-ips", "10.96.0.50 . tcp . 80").unwrap()
        ),
        vec!["10.244.0.5:80", "10.244.1.5:80"]
    );
    // No local endpoint: outside traffic is dropped, local/pod traffic still served.
    s.endpoints = vec![local_ep("10.244.1.5", false)];
    let r = build(&snap(vec![s]));
    let ext = rules(&r, "ext-default/lb/tcp/80");
    assert_eq!(ext.last().unwrap(), "drop");
    assert!(!r.chains.contains_key("local-default/lb/tcp/80"));
    assert!(r.sets["no-endpoint-nodeports"].elements.is_empty());
}

#[test]
fn internal_traffic_policy_local() {
    let mut s = svc(
        "itp",
        "10.96.0.60",
        80,
        vec![local_ep("10.244.0.5", true), local_ep("10.244.1.5", false)],
    );
    s.internal_local = true;
    let r = build(&snap(vec![s.clone()]));
    let v = elem(&r, "service-ips", "10.96.0.60 . tcp . 80").unwrap();
    assert_eq!(v, "goto local-default/itp/tcp/80");
    assert_eq!(dnat_targets(&r, v), vec!["10.244.0.5:80"]);
    // Endpoints only elsewhere: dropped, not rejected.
    s.endpoints = vec![local_ep("10.244.1.5", false)];
    let r = build(&snap(vec![s.clone()]));
    assert_eq!(
        elem(&r, "no-endpoint-services", "10.96.0.60 . tcp . 80"),
        Some("drop")
    );
    assert!(elem(&r, "service-ips", "10.96.0.60 . tcp . 80").is_none());
    // All endpoints local: the cluster chain is reused.
    s.endpoints = vec![local_ep("10.244.0.5", true)];
    let r = build(&snap(vec![s]));
    assert_eq!(
        elem(&r, "service-ips", "10.96.0.60 . tcp . 80"),
        Some("goto svc-default/itp/tcp/80")
    );
}

#[test]
fn terminating_endpoints_are_only_a_fallback() {
    let term = |addr: &str| Endpoint {
        ready: false,
        serving: true,
        terminating: true,
        ..ep(addr, 80)
    };
    let r = build(&snap(vec![svc(
        "t",
        "10.96.0.70",
        80,
        vec![ep("10.244.0.5", 80), term("10.244.0.6")],
    )]));
    assert_eq!(
        dnat_targets(&r, "goto svc-default/t/tcp/80"),
        vec!["10.244.0.5:80"]
    );
    assert!(!r.sets["hairpin-pairs"]
        .elements
        .contains_key("10.244.0.6 . 10.244.0.6"));
    let r = build(&snap(vec![svc(
        "t",
        "10.96.0.70",
        80,
        vec![term("10.244.0.6")],
    )]));
    assert_eq!(
        dnat_targets(&r, "goto svc-default/t/tcp/80"),
        vec!["10.244.0.6:80"]
    );
    // Terminating and not serving: nothing usable → reject.
    let dead = Endpoint {
        serving: false,
        ..term("10.244.0.6")
    };
    let r = build(&snap(vec![svc("t", "10.96.0.70", 80, vec![dead])]));
    assert_eq!(
        elem(&r, "no-endpoint-services", "10.96.0.70 . tcp . 80"),
        Some("goto reject-chain")
    );
}

#[test]
fn named_port_and_udp_and_sctp_protocols() {
    let mut dns = svc("kube-dns", "10.96.0.10", 53, vec![ep("10.252.0.1", 53)]);
    dns.namespace = "kube-system".into();
    dns.port_name = "dns".into();
    dns.protocol = Protocol::Udp;
    let mut sctp = svc("s", "10.96.0.11", 9999, vec![ep("10.244.0.8", 9999)]);
    sctp.protocol = Protocol::Sctp;
    let r = build(&snap(vec![dns, sctp]));
    assert_eq!(
        elem(&r, "service-ips", "10.96.0.10 . udp . 53"),
        Some("goto svc-kube-system/kube-dns/udp/dns")
    );
    assert_eq!(
        rules(&r, "svc-kube-system/kube-dns/udp/dns"),
        &["meta l4proto udp dnat to 10.252.0.1:53"]
    );
    assert_eq!(
        rules(&r, "svc-default/s/sctp/9999"),
        &["meta l4proto sctp dnat to 10.244.0.8:9999"]
    );
}

#[test]
fn external_ips_are_external_traffic() {
    let mut s = svc("web", "10.96.0.20", 80, vec![ep("10.244.0.5", 8080)]);
    s.external_ips = vec![ip("192.0.2.7")];
    let r = build(&snap(vec![s]));
    assert_eq!(
        elem(&r, "service-ips", "192.0.2.7 . tcp . 80"),
        Some("goto ext-default/web/tcp/80")
    );
    assert!(!r.sets["cluster-ips"].elements.contains_key("192.0.2.7"));
}

#[test]
fn render_is_a_full_replace_of_our_table_only() {
    let s = render(&snap(vec![svc(
        "web",
        "10.96.0.20",
        80,
        vec![ep("10.244.0.5", 8080)],
    )]));
    assert!(s.starts_with(
        "add table ip rkube-proxy\ndelete table ip rkube-proxy\nadd table ip rkube-proxy\n"
    ));
    for line in s.lines() {
        assert!(
            line.contains(" ip rkube-proxy"),
            "touches another table: {line}"
        );
    }
}

#[test]
fn endpoint_change_updates_only_that_service() {
    let a = svc("a", "10.96.0.1", 80, vec![ep("10.244.0.1", 80)]);
    let b = svc("b", "10.96.0.2", 80, vec![ep("10.244.0.2", 80)]);
    let old = build(&snap(vec![a.clone(), b.clone()]));
    let b2 = svc("b", "10.96.0.2", 80, vec![ep("10.244.0.3", 80)]);
    let script = build(&snap(vec![a, b2])).update_script(&old);
    assert!(!script.contains("default/a/"), "{script}");
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(
        lines,
        vec![
            "add table ip rkube-proxy",
            "flush chain ip rkube-proxy svc-default/b/tcp/80",
            "delete element ip rkube-proxy hairpin-pairs { 10.244.0.2 . 10.244.0.2 }",
            "add element ip rkube-proxy hairpin-pairs { 10.244.0.3 . 10.244.0.3 }",
            "add rule ip rkube-proxy svc-default/b/tcp/80 meta l4proto tcp dnat to 10.244.0.3:80",
        ]
    );
}

/// With root and nft present, the kernel itself validates the script (`nft -c` changes nothing).
#[test]
fn kernel_accepts_rendered_scripts() {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    let nft_ok = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    // `nft -c` needs root; scripts/install-runtime.sh installs nft. Fail, never skip.
    assert!(is_root, "the kernel check of a rendered script needs root");
    assert!(
        nft_ok,
        "nft is not installed: run scripts/install-runtime.sh"
    );
    let mut np = svc(
        "np",
        "10.96.0.20",
        80,
        vec![local_ep("10.244.0.5", true), local_ep("10.244.1.5", false)],
    );
    np.node_port = Some(30080);
    np.external_local = true;
    np.affinity_timeout = Some(10800);
    np.external_ips = vec![ip("192.0.2.7")];
    let mut itp = svc("itp", "10.96.0.60", 80, vec![local_ep("10.244.1.5", false)]);
    itp.internal_local = true;
    let mut udp = svc("dns", "10.96.0.10", 53, vec![ep("10.244.0.9", 53)]);
    udp.protocol = Protocol::Udp;
    let mut sctp = svc(
        "sctp",
        "10.96.0.11",
        9,
        vec![ep("10.244.0.9", 9), ep("10.244.0.10", 9)],
    );
    sctp.protocol = Protocol::Sctp;
    let empty = svc("empty", "10.96.0.30", 80, vec![]);
    let mut s = snap(vec![np, itp, udp, sctp, empty]);
    s.table = format!("rkube-proxy-check-{}", std::process::id());
    let script = render(&s);
    let mut child = std::process::Command::new("nft")
        .args(["-c", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft rejected:\n{}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}
