//! Real packets through a real table: network namespaces act as pods on a test bridge, and
//! we program ClusterIP / NodePort services for them with `Proxier::sync`. Needs root and
//! nft and conntrack; fails without them. Everything it creates carries the test's pid and is removed by a
//! Drop guard, even when an assertion fails.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use rkube_proxy::{cleanup, Endpoint, Protocol, Proxier, ProxyMetrics, ServicePort, Snapshot};

const PODS: usize = 3;
const TCP_PORT: u16 = 8080;
const UDP_PORT: u16 = 5353;
const ROUTE_LOCALNET: &str = "/proc/sys/net/ipv4/conf/all/route_localnet";

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .is_ok_and(|s| s.success())
}

fn must(args: &[&str]) {
    assert!(sh(args), "command failed: {args:?}");
}

struct Env {
    pid: u32,
    subnet: u8,
    table: String,
    route_localnet_before: Option<String>,
}

impl Env {
    fn bridge(&self) -> String {
        format!("rkpb{}", self.pid)
    }
    fn netns(&self, i: usize) -> String {
        format!("rkp{}-{i}", self.pid)
    }
    fn veth(&self, i: usize) -> String {
        format!("rkp{}h{i}", self.pid)
    }
    fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 253, self.subnet, 1)
    }
    fn pod_ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 253, self.subnet, 2 + i as u8)
    }
    fn service_ip(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 97, self.subnet, last)
    }

    fn setup() -> Env {
        let pid = std::process::id();
        let env = Env {
            pid,
            subnet: (pid % 200) as u8,
            table: format!("rkp-test-{pid}"),
            route_localnet_before: std::fs::read_to_string(ROUTE_LOCALNET).ok(),
        };
        let br = env.bridge();
        must(&["ip", "link", "add", &br, "type", "bridge"]);
        must(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", env.gateway()),
            "dev",
            &br,
        ]);
        must(&["ip", "link", "set", &br, "up"]);
        // Keep un-NATed service traffic on the bridge instead of the default route.
        must(&[
            "ip",
            "route",
            "add",
            &format!("10.97.{}.0/24", env.subnet),
            "dev",
            &br,
        ]);
        for i in 0..PODS {
            let (ns, host, peer) = (env.netns(i), env.veth(i), format!("rkp{}p{i}", pid));
            must(&["ip", "netns", "add", &ns]);
            must(&[
                "ip", "link", "add", &host, "type", "veth", "peer", "name", &peer,
            ]);
            must(&["ip", "link", "set", &peer, "netns", &ns]);
            must(&["ip", "link", "set", &host, "master", &br, "up"]);
            // What the CNI bridge plugin's hairpinMode does: a pod reaching itself through a
            // ClusterIP is bridged back out of the port it came in on.
            must(&[
                "ip",
                "link",
                "set",
                &host,
                "type",
                "bridge_slave",
                "hairpin",
                "on",
            ]);
            let ip = format!("{}/24", env.pod_ip(i));
            must(&["ip", "-n", &ns, "addr", "add", &ip, "dev", &peer]);
            must(&["ip", "-n", &ns, "link", "set", &peer, "up"]);
            must(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            must(&[
                "ip",
                "-n",
                &ns,
                "route",
                "add",
                "default",
                "via",
                &env.gateway().to_string(),
            ]);
        }
        env
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = cleanup(&self.table);
        for i in 0..PODS {
            sh(&["ip", "link", "del", &self.veth(i)]);
            sh(&["ip", "netns", "del", &self.netns(i)]);
        }
        sh(&["ip", "link", "del", &self.bridge()]);
        if let Some(v) = &self.route_localnet_before {
            let _ = std::fs::write(ROUTE_LOCALNET, v.trim());
        }
    }
}

/// Runs `f` on a thread that has joined network namespace `ns`.
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: setns only switches this thread's network namespace; the fd is valid.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}");
        f()
    })
}

/// Each pod answers TCP connections and UDP datagrams with its own name.
fn start_servers(env: &Env) {
    for i in 0..PODS {
        let name = format!("pod-{i}");
        let (tx, rx) = std::sync::mpsc::channel();
        // Detached: the threads end with the test process.
        drop(in_netns(&env.netns(i), move || {
            let tcp = TcpListener::bind(("0.0.0.0", TCP_PORT)).unwrap();
            let udp = UdpSocket::bind(("0.0.0.0", UDP_PORT)).unwrap();
            tx.send(()).unwrap();
            let reply = name.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 64];
                while let Ok((_, from)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(reply.as_bytes(), from);
                }
            });
            for mut conn in tcp.incoming().flatten() {
                let _ = conn.write_all(name.as_bytes());
            }
        }));
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}

fn ask_tcp(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn spread(addr: SocketAddr, tries: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..tries {
        let who = ask_tcp(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        *seen.entry(who).or_insert(0) += 1;
    }
    seen
}

fn service(
    env: &Env,
    name: &str,
    last: u8,
    protocol: Protocol,
    target: u16,
    pods: &[usize],
) -> ServicePort {
    ServicePort {
        namespace: "test".into(),
        name: name.into(),
        port_name: String::new(),
        protocol,
        cluster_ip: env.service_ip(last),
        port: 80,
        node_port: None,
        external_ips: vec![],
        affinity_timeout: None,
        external_local: false,
        internal_local: false,
        endpoints: pods
            .iter()
            .map(|i| Endpoint::ready(env.pod_ip(*i), target))
            .collect(),
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn services_reach_every_endpoint_through_nftables() {
    // Fails rather than skips without what scripts/install-runtime.sh installs.
    assert!(
        is_root(),
        "this test programs nftables and network namespaces: run it as root"
    );
    assert!(
        sh(&["nft", "--version"]),
        "nft is not installed: run scripts/install-runtime.sh"
    );
    assert!(
        sh(&["conntrack", "--version"]),
        "conntrack is not installed: run scripts/install-runtime.sh"
    );
    let env = Env::setup();
    start_servers(&env);
    rkube_proxy::enable_route_localnet().unwrap();

    let node_port = 31000 + (env.pid % 700) as u16;
    let mut web = service(&env, "web", 10, Protocol::Tcp, TCP_PORT, &[0, 1, 2]);
    web.node_port = Some(node_port);
    let empty = service(&env, "empty", 11, Protocol::Tcp, TCP_PORT, &[]);
    let mut dns = service(&env, "dns", 12, Protocol::Udp, UDP_PORT, &[0, 1, 2]);
    dns.port = 53;
    let mut snap = Snapshot {
        cluster_cidr: Some(format!("10.253.{}.0/24", env.subnet)),
        node_ips: vec![env.gateway()],
        services: vec![web.clone(), empty, dns],
        ..Snapshot::new(&env.table)
    };
    let mut proxier = Proxier::new(ProxyMetrics::new());
    let first = proxier.sync(&snap).unwrap();
    assert!(first.full);

    // Host → ClusterIP: every endpoint, roughly evenly.
    let cip = SocketAddr::from((env.service_ip(10), 80));
    let seen = spread(cip, 30);
    assert_eq!(seen.len(), PODS, "host → ClusterIP spread: {seen:?}");
    assert!(seen.values().all(|n| *n >= 3), "uneven spread: {seen:?}");

    // Pod → ClusterIP, including back to itself (hairpin).
    let from_pod = in_netns(&env.netns(0), move || spread(cip, 30))
        .join()
        .unwrap();
    assert_eq!(
        from_pod.len(),
        PODS,
        "pod → ClusterIP spread (hairpin included): {from_pod:?}"
    );

    // NodePort on localhost and on the node address (from a pod).
    let local_np = SocketAddr::from((Ipv4Addr::LOCALHOST, node_port));
    assert!(ask_tcp(local_np).unwrap().starts_with("pod-"));
    let node_np = SocketAddr::from((env.gateway(), node_port));
    let via_node = in_netns(&env.netns(1), move || spread(node_np, 15))
        .join()
        .unwrap();
    assert!(!via_node.is_empty());

    // No endpoints, or a port nobody serves: refused at once, not a timeout.
    for addr in [
        SocketAddr::from((env.service_ip(11), 80)),
        SocketAddr::from((env.service_ip(10), 81)),
    ] {
        let start = Instant::now();
        let err = ask_tcp(addr).expect_err("must be refused");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{addr}: {err}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    // UDP through the ClusterIP.
    let udp = UdpSocket::bind("0.0.0.0:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    udp.send_to(b"hi", (env.service_ip(12), 53)).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    let udp_pod = std::str::from_utf8(&buf[..n]).unwrap().to_string();
    let udp_idx: usize = udp_pod.trim_start_matches("pod-").parse().unwrap();

    // Incremental update: pod-2 leaves; its traffic share moves to the others.
    // The UDP flow's endpoint leaves too; its conntrack entry must go with it.
    let dns_idx = snap.services.iter().position(|s| s.name == "dns").unwrap();
    snap.services[dns_idx]
        .endpoints
        .retain(|e| e.ip != env.pod_ip(udp_idx));
    let web_idx = snap.services.iter().position(|s| s.name == "web").unwrap();
    snap.services[web_idx].endpoints.pop();
    let second = proxier.sync(&snap).unwrap();
    assert!(!second.full && second.script_bytes > 0);
    let seen = spread(cip, 30);
    assert!(
        !seen.contains_key("pod-2"),
        "removed endpoint still used: {seen:?}"
    );
    assert_eq!(seen.len(), 2);
    {
        udp.send_to(b"hi", (env.service_ip(12), 53)).unwrap();
        let (n, _) = udp.recv_from(&mut buf).unwrap();
        let now = std::str::from_utf8(&buf[..n]).unwrap();
        assert_ne!(
            now, udp_pod,
            "UDP flow still pinned to the removed endpoint"
        );
    }
    let listing = Command::new("nft")
        .args(["list", "table", "ip", &env.table])
        .output()
        .unwrap();
    assert!(listing.status.success());
    let gone = format!("{}:{TCP_PORT}", env.pod_ip(2));
    assert!(
        !String::from_utf8_lossy(&listing.stdout).contains(&gone),
        "stale endpoint rules"
    );

    // Cleanup leaves nothing of ours.
    cleanup(&env.table).unwrap();
    let ruleset = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&ruleset.stdout).contains(&env.table as &str));
}
