//! Snapshot → nft ruleset. Pure: no I/O, so every rule decision is unit-testable.
//!
//! Layout (our own; ideas follow upstream's nftables proxier):
//! - nat hooks (prerouting, output) jump to `services`, which looks the packet up in verdict
//!   maps: `service-ips` (ClusterIP / external IP . proto . port) and `service-nodeports`
//!   (proto . port, only for node addresses).
//! - Per service port a chain `svc-KEY` picks an endpoint uniformly (numgen random),
//!   after checking ClientIP affinity sets; `local-KEY` does the same among local endpoints;
//!   `ext-KEY` handles NodePort / external IP traffic (masquerade, traffic policy Local).
//! - Those chains DNAT directly; hairpin traffic (an endpoint reaching itself) is found
//!   in postrouting by a set of (endpoint, endpoint) address pairs and masqueraded.
//! - Filter hooks reject (or drop) new connections to services without endpoints, and to
//!   ClusterIP ports nobody serves, so clients fail fast instead of timing out.
//! - postrouting masquerades packets carrying our mark bit.

use std::collections::BTreeSet;

use crate::model::{Endpoint, ServicePort, Snapshot};
use crate::nft::Ruleset;

/// The mark bit asking postrouting to masquerade (the value upstream uses too).
pub const MASQ_MARK: &str = "0x00004000";

const MARK_MASQ: &str = "mark-for-masquerade";
const REJECT: &str = "reject-chain";
const SERVICE_IPS: &str = "service-ips";
const SERVICE_NODEPORTS: &str = "service-nodeports";
const NO_EP_SERVICES: &str = "no-endpoint-services";
const NO_EP_NODEPORTS: &str = "no-endpoint-nodeports";
const CLUSTER_IPS: &str = "cluster-ips";
const NODEPORT_IPS: &str = "nodeport-ips";
const HAIRPIN: &str = "hairpin-pairs";

/// The full nft script installing `snapshot` (replacing whatever our table held).
pub fn render(snapshot: &Snapshot) -> String {
    build(snapshot).full_script()
}

/// The ruleset model for `snapshot`; diff two of them for incremental updates.
pub fn build(snapshot: &Snapshot) -> Ruleset {
    let mut r = Ruleset::new(&snapshot.table);
    base_chains(&mut r, snapshot);
    for sp in &snapshot.services {
        service(&mut r, snapshot, sp);
    }
    r
}

fn base_chains(r: &mut Ruleset, snap: &Snapshot) {
    let svc_key = "type ipv4_addr . inet_proto . inet_service : verdict;";
    let port_key = "type inet_proto . inet_service : verdict;";
    r.set(SERVICE_IPS, "map", svc_key);
    r.set(NO_EP_SERVICES, "map", svc_key);
    r.set(SERVICE_NODEPORTS, "map", port_key);
    r.set(NO_EP_NODEPORTS, "map", port_key);
    r.set(CLUSTER_IPS, "set", "type ipv4_addr;");
    r.set(HAIRPIN, "set", "type ipv4_addr . ipv4_addr;");

    // Which destinations count as "this node" for NodePorts.
    let nodeport_match = if snap.node_ips.is_empty() {
        if snap.localhost_nodeports {
            "fib daddr type local".to_string()
        } else {
            "fib daddr type local ip daddr != 127.0.0.0/8".to_string()
        }
    } else {
        let set = r.set(NODEPORT_IPS, "set", "type ipv4_addr;");
        for ip in &snap.node_ips {
            set.insert(ip.to_string(), String::new());
        }
        if snap.localhost_nodeports {
            set.insert("127.0.0.1".into(), String::new());
        }
        format!("ip daddr @{NODEPORT_IPS}")
    };

    // route_localnet lets 127/8 destinations arrive from other interfaces; drop those so
    // localhost NodePorts stay reachable from this host only.
    let pre = r.chain(
        "filter-prerouting",
        "type filter hook prerouting priority -110; policy accept;",
    );
    if snap.localhost_nodeports {
        pre.push("iifname != \"lo\" ip daddr 127.0.0.0/8 drop".into());
    }
    r.chain(
        "filter-input",
        "type filter hook input priority -110; policy accept;",
    )
    .extend([
        "ct state new jump nodeport-endpoints-check".to_string(),
        "ct state new jump service-endpoints-check".to_string(),
    ]);
    r.chain(
        "filter-forward",
        "type filter hook forward priority -110; policy accept;",
    )
    .extend([
        "ct state new jump service-endpoints-check".to_string(),
        "ct state new jump cluster-ips-check".to_string(),
    ]);
    // After the output DNAT (-100): what is still addressed to a ClusterIP was not served.
    r.chain(
        "filter-output",
        "type filter hook output priority -90; policy accept;",
    )
    .extend([
        "ct state new jump service-endpoints-check".to_string(),
        "ct state new jump cluster-ips-check".to_string(),
    ]);
    r.chain("service-endpoints-check", "").push(format!(
        "ip daddr . meta l4proto . th dport vmap @{NO_EP_SERVICES}"
    ));
    r.chain("nodeport-endpoints-check", "").push(format!(
        "{nodeport_match} meta l4proto . th dport vmap @{NO_EP_NODEPORTS}"
    ));
    r.chain("cluster-ips-check", "")
        .push(format!("ip daddr @{CLUSTER_IPS} goto {REJECT}"));
    r.chain(REJECT, "").extend([
        "meta l4proto tcp reject with tcp reset".to_string(),
        "reject".to_string(),
    ]);

    r.chain(
        "nat-prerouting",
        "type nat hook prerouting priority -100; policy accept;",
    )
    .push("jump services".into());
    r.chain(
        "nat-output",
        "type nat hook output priority -100; policy accept;",
    )
    .push("jump services".into());
    // An endpoint reaching itself through a service must see the reply come from us,
    // not from its own address (hairpin): after DNAT, source and destination are equal.
    r.chain(
        "nat-postrouting",
        "type nat hook postrouting priority 100; policy accept;",
    )
    .extend([
        format!("ct status dnat ip saddr . ip daddr @{HAIRPIN} jump {MARK_MASQ}"),
        "jump masquerading".to_string(),
    ]);
    r.chain("masquerading", "").extend([
        format!("meta mark & {MASQ_MARK} == 0 return"),
        // Clear the bit so a packet that is forwarded again is not masqueraded twice.
        format!("meta mark set meta mark ^ {MASQ_MARK}"),
        "masquerade fully-random".to_string(),
    ]);
    r.chain(MARK_MASQ, "")
        .push(format!("meta mark set meta mark | {MASQ_MARK}"));

    let services = r.chain("services", "");
    if let Some(cidr) = &snap.cluster_cidr {
        // Replies from the endpoint must come back through us to be un-NATed.
        services.push(format!(
            "ip daddr @{CLUSTER_IPS} ip saddr != {cidr} jump {MARK_MASQ}"
        ));
    }
    services.push(format!(
        "ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}"
    ));
    services.push(format!(
        "{nodeport_match} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}"
    ));
}

fn ep_id(key: &str, ep: &Endpoint) -> String {
    format!("{key}/{}/{}", ep.ip, ep.port)
}

fn service(r: &mut Ruleset, snap: &Snapshot, sp: &ServicePort) {
    let key = sp.key();
    let proto = sp.protocol.nft();
    let cluster = sp.cluster_endpoints();
    let local = sp.local_endpoints();
    let cip_key = format!("{} . {proto} . {}", sp.cluster_ip, sp.port);
    r.sets
        .entry(CLUSTER_IPS.to_string())
        .or_default()
        .elements
        .insert(sp.cluster_ip.to_string(), String::new());
    let ext_keys: Vec<String> = sp
        .external_ips
        .iter()
        .map(|ip| format!("{ip} . {proto} . {}", sp.port))
        .collect();
    let np_key = sp.node_port.map(|np| format!("{proto} . {np}"));
    let put = |r: &mut Ruleset, map: &str, k: &str, v: &str| {
        r.sets
            .entry(map.to_string())
            .or_default()
            .elements
            .insert(k.to_string(), v.to_string());
    };

    if cluster.is_empty() {
        // No endpoint anywhere (local ones are a subset): refuse quickly.
        let reject = format!("goto {REJECT}");
        put(r, NO_EP_SERVICES, &cip_key, &reject);
        for k in &ext_keys {
            put(r, NO_EP_SERVICES, k, &reject);
        }
        if let Some(k) = &np_key {
            put(r, NO_EP_NODEPORTS, k, &reject);
        }
        return;
    }

    // Endpoints some policy may pick: hairpin pairs and affinity sets.
    let mut used: Vec<&Endpoint> = cluster.clone();
    let wants_local = sp.internal_local || sp.external_local;
    for ep in local.iter().filter(|_| wants_local) {
        if !used.contains(ep) {
            used.push(ep);
        }
    }
    for ep in &used {
        put(r, HAIRPIN, &format!("{} . {}", ep.ip, ep.ip), "");
        if let Some(timeout) = sp.affinity_timeout {
            r.set(
                &format!("aff-{}", ep_id(&key, ep)),
                "set",
                &format!("type ipv4_addr; flags dynamic,timeout; timeout {timeout}s;"),
            );
        }
    }

    let cluster_chain = format!("svc-{key}");
    *r.chain(&cluster_chain, "") = pick_rules(&key, proto, &cluster, sp.affinity_timeout.is_some());
    let same = |a: &[&Endpoint], b: &[&Endpoint]| {
        let set = |v: &[&Endpoint]| v.iter().map(|e| (e.ip, e.port)).collect::<BTreeSet<_>>();
        set(a) == set(b)
    };
    let local_chain = if local.is_empty() {
        None
    } else if same(&local, &cluster) {
        Some(cluster_chain.clone())
    } else if wants_local {
        let name = format!("local-{key}");
        *r.chain(&name, "") = pick_rules(&key, proto, &local, sp.affinity_timeout.is_some());
        Some(name)
    } else {
        None
    };

    // Traffic to the ClusterIP.
    if sp.internal_local {
        match &local_chain {
            Some(chain) => put(r, SERVICE_IPS, &cip_key, &format!("goto {chain}")),
            // Endpoints exist, but none here: upstream drops rather than rejects.
            None => put(r, NO_EP_SERVICES, &cip_key, "drop"),
        }
    } else {
        put(r, SERVICE_IPS, &cip_key, &format!("goto {cluster_chain}"));
    }

    // Traffic to NodePorts and external IPs.
    if np_key.is_none() && ext_keys.is_empty() {
        return;
    }
    let ext_chain = format!("ext-{key}");
    let mut rules = Vec::new();
    if sp.external_local {
        // Keep the client address for outside traffic; traffic from this node or from
        // pods still goes anywhere in the cluster (it could not be routed back otherwise).
        rules.push(format!("fib saddr type local jump {MARK_MASQ}"));
        rules.push(format!("fib saddr type local goto {cluster_chain}"));
        if let Some(cidr) = &snap.cluster_cidr {
            rules.push(format!("ip saddr {cidr} goto {cluster_chain}"));
        }
        match &local_chain {
            Some(chain) => rules.push(format!("goto {chain}")),
            None => rules.push("drop".into()),
        }
    } else {
        rules.push(format!("jump {MARK_MASQ}"));
        rules.push(format!("goto {cluster_chain}"));
    }
    *r.chain(&ext_chain, "") = rules;
    let verdict = format!("goto {ext_chain}");
    for k in &ext_keys {
        put(r, SERVICE_IPS, k, &verdict);
    }
    if let Some(k) = &np_key {
        put(r, SERVICE_NODEPORTS, k, &verdict);
    }
}

/// Rules of a chain choosing one of `eps` and DNATing to it: affinity first, then a
/// uniform random pick.
///
/// The pick is a cascade: rule i draws `numgen random mod (N - i)` afresh and takes its
/// endpoint on 0, so each endpoint gets 1/N. A single `numgen ... vmap { ... }` would be
/// one anonymous set per service, and the kernel names anonymous sets by scanning all
/// sets of the table: quadratic, 29 s instead of 2 s for 4,000 services. Endpoints get no
/// chain of their own because every `nft` run that adds a rule first dumps all chains of
/// the table: 110,000 chains at 10,000 services cost ~0.5 s per update.
fn pick_rules(key: &str, proto: &str, eps: &[&Endpoint], affinity: bool) -> Vec<String> {
    let dnat = |ep: &Endpoint| -> String {
        let remember = if affinity {
            format!("update @aff-{} {{ ip saddr }} ", ep_id(key, ep))
        } else {
            String::new()
        };
        format!(
            "{remember}meta l4proto {proto} dnat to {}:{}",
            ep.ip, ep.port
        )
    };
    let mut rules = Vec::new();
    if affinity {
        for ep in eps {
            rules.push(format!("ip saddr @aff-{} {}", ep_id(key, ep), dnat(ep)));
        }
    }
    let n = eps.len();
    for (i, ep) in eps.iter().enumerate() {
        if n - i > 1 {
            rules.push(format!("numgen random mod {} 0 {}", n - i, dnat(ep)));
        } else {
            rules.push(dnat(ep));
        }
    }
    rules
}
