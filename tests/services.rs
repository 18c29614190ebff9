//! The bootcamp's "expose your app" and "scale" modules for real: kube-proxy on
//! nftables, NodePort on 127.0.0.1, cluster DNS, the `kubernetes` service, cluster-info
//! and `port-forward svc/…`, with real pods on a real node. Needs root and the runtime.
//!
//! The node's InternalIP is an address on a veth pair this test creates (the kernel here
//! has no dummy interfaces), so pods reach the host (API server, DNS) without anything
//! touching the machine's own address.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use common::node::{
    free_port, pod_names, ready_pods, slowly, start_node, NodeOptions, GREETING, V1,
};
use common::{eventually, Cluster};

/// A host-side veth pair holding the node's IP, removed on drop.
struct NodeAddress {
    link: String,
    ip: String,
}

impl NodeAddress {
    fn create() -> NodeAddress {
        let pid = std::process::id();
        let link = format!("rks{}", pid % 1_000_000);
        let ip = format!("10.252.{}.1", pid % 200);
        let ip_cmd = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("run ip");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = Command::new("ip").args(["link", "del", &link]).output();
        let peer = format!("{link}p");
        ip_cmd(&["link", "add", &link, "type", "veth", "peer", "name", &peer]);
        ip_cmd(&["addr", "add", &format!("{ip}/32"), "dev", &link]);
        ip_cmd(&["link", "set", &link, "up"]);
        ip_cmd(&["link", "set", &peer, "up"]);
        NodeAddress { link, ip }
    }
}

impl Drop for NodeAddress {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .output();
    }
}

fn curl(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sS", "-m", "5", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// The pod name in a bootcamp greeting.
fn answered_by(body: &str) -> Option<String> {
    let rest = body.strip_prefix(GREETING)?;
    Some(rest.split(" |").next()?.trim().to_string())
}

/// `kubectl exec POD -- ARGS…` as the tutorial types it (no shell: busybox's shell would
/// run its own nslookup applet instead of the image's).
fn exec_args(c: &Cluster, pod: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["exec", pod, "--"];
    all.extend_from_slice(args);
    c.kubectl("1.33", &all)
}

fn exec(c: &Cluster, pod: &str, script: &str) -> std::process::Output {
    c.kubectl("1.33", &["exec", pod, "--", "sh", "-c", script])
}

#[test]
fn expose_scale_dns_and_cluster_info_on_a_real_node() {
    let address = NodeAddress::create();
    let node = start_node(NodeOptions {
        extra: vec![],
        node_ip: Some(address.ip.clone()),
        bind_host: "0.0.0.0".into(),
    });
    let c = &node.c;

    c.ok(
        "1.33",
        &[
            "create",
            "deployment",
            "kubernetes-bootcamp",
            &format!("--image={V1}"),
        ],
    );
    c.ok(
        "1.33",
        &[
            "expose",
            "deployment/kubernetes-bootcamp",
            "--type=NodePort",
            "--port",
            "8080",
        ],
    );
    let services = c.ok("1.33", &["get", "services"]);
    assert!(
        services.contains("NodePort") && services.contains("8080:"),
        "{services}"
    );
    let node_port = c.ok(
        "1.33",
        &[
            "get",
            "services/kubernetes-bootcamp",
            "-o",
            "go-template={{(index .spec.ports 0).nodePort}}",
        ],
    );
    let node_port: u16 = node_port.trim().parse().expect("a node port");
    let url = format!("http://127.0.0.1:{node_port}");
    let body = slowly("NodePort answers on 127.0.0.1", || curl(&url));
    assert!(body.starts_with(GREETING), "{body}");

    // Scale to 4: 100 requests reach all 4 pods.
    c.ok(
        "1.33",
        &["scale", "deployments/kubernetes-bootcamp", "--replicas=4"],
    );
    slowly("4 ready pods", || {
        (ready_pods(c, "app=kubernetes-bootcamp").len() == 4).then_some(())
    });
    let pods: BTreeSet<String> = pod_names(c, "app=kubernetes-bootcamp")
        .into_iter()
        .collect();
    slowly("endpoints for 4 pods", || {
        let ips = c.ok(
            "1.33",
            &[
                "get",
                "endpoints",
                "kubernetes-bootcamp",
                "-o",
                "jsonpath={.subsets[*].addresses[*].ip}",
            ],
        );
        (ips.split_whitespace().count() == 4).then_some(())
    });
    // describe shows the first three endpoints and counts the rest, like upstream.
    let d = c.ok("1.33", &["describe", "services/kubernetes-bootcamp"]);
    let line = d
        .lines()
        .find(|l| l.starts_with("Endpoints:"))
        .unwrap_or_default();
    assert!(
        line.matches(":8080").count() == 3 && line.contains("+ 1 more"),
        "{d}"
    );
    let mut seen = BTreeSet::new();
    for _ in 0..100 {
        let body = curl(&url).expect("request through the NodePort");
        seen.insert(answered_by(&body).expect("a greeting"));
    }
    assert_eq!(seen, pods, "100 requests did not reach every pod");

    // A deleted pod: once its replacement is Ready, no request fails.
    let victim = pods.iter().next().unwrap().clone();
    c.ok("1.33", &["delete", "pod", &victim]);
    slowly("replacement ready", || {
        let ready = ready_pods(c, "app=kubernetes-bootcamp");
        (ready.len() == 4 && !ready.contains(&victim)).then_some(())
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    for i in 0..50 {
        let body = curl(&url)
            .unwrap_or_else(|| panic!("request {i} failed after the replacement was Ready"));
        assert_ne!(answered_by(&body).as_deref(), Some(victim.as_str()));
    }

    // label + selector.
    let pod = pod_names(c, "app=kubernetes-bootcamp")[0].clone();
    c.ok("1.33", &["label", "pods", &pod, "version=v1"]);
    let labelled = c.ok("1.33", &["get", "pods", "-l", "version=v1"]);
    assert!(labelled.contains(&pod), "{labelled}");

    // From a tools pod: service DNS names, the kubernetes service, NXDOMAIN, headless.
    c.ok(
        "1.33",
        &[
            "run",
            "tools",
            "--image=rkube.local/tools:1",
            "--",
            "sleep",
            "3600",
        ],
    );
    c.ok(
        "1.33",
        &[
            "expose",
            "deployment/kubernetes-bootcamp",
            "--name=bootcamp-headless",
            "--cluster-ip=None",
            "--port=8080",
        ],
    );
    slowly("tools pod ready", || {
        let out = exec(c, "tools", "true");
        out.status.success().then_some(())
    });
    let body = slowly("wget through the service name", || {
        let out = exec(
            c,
            "tools",
            "wget -qO- http://kubernetes-bootcamp.default.svc.cluster.local:8080",
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.starts_with(GREETING).then_some(text)
    });
    assert!(body.contains("v=1"), "{body}");
    let out = exec_args(c, "tools", &["nslookup", "kubernetes.default"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("10.96.0.1"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = exec(
        c,
        "tools",
        "nslookup no-such-service.default.svc.cluster.local",
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("NXDOMAIN"), "{text}");
    let ips = c.ok(
        "1.33",
        &[
            "get",
            "pods",
            "-l",
            "app=kubernetes-bootcamp",
            "-o",
            "jsonpath={.items[*].status.podIP}",
        ],
    );
    let out = exec(
        c,
        "tools",
        "nslookup bootcamp-headless.default.svc.cluster.local",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for ip in ips.split_whitespace() {
        assert!(text.contains(ip), "headless answer lacks {ip}: {text}");
    }

    // A pod reaches the API through the kubernetes service with its token. The images'
    // busybox wget speaks only TLS cipher suites rustls refuses (CBC), so the request is
    // made by the host's curl from inside the pod's network namespace, with the token,
    // CA and namespace the pod has mounted.
    let read = |file: &str| {
        let out = exec_args(
            c,
            "tools",
            &[
                "cat",
                &format!("/var/run/secrets/kubernetes.io/serviceaccount/{file}"),
            ],
        );
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let (token, ca, namespace) = (read("token"), read("ca.crt"), read("namespace"));
    assert_eq!(namespace, "default");
    let ca_file = common::write_file(c.data_dir(), "pod-ca.crt", &ca);
    let netns = pod_netns(c, "tools");
    let out = Command::new("nsenter")
        .arg(format!("--net={netns}"))
        .args(["curl", "-sS", "-m", "10", "--cacert"])
        .arg(&ca_file)
        .args(["--resolve", "kubernetes.default.svc:443:10.96.0.1"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg("https://kubernetes.default.svc/api/v1/namespaces/default/services/kubernetes")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"kind\": \"Service\"") || text.contains("\"kind\":\"Service\""),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // port-forward svc/NAME.
    let local = free_port();
    let mut pf = c
        .kubectl_cmd("1.33")
        .args([
            "port-forward",
            "svc/kubernetes-bootcamp",
            &format!("{local}:8080"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let body = eventually("port-forward svc answers", || {
        curl(&format!("http://127.0.0.1:{local}/")).filter(|b| b.starts_with(GREETING))
    });
    assert!(answered_by(&body).is_some());
    let _ = pf.kill();
    let _ = pf.wait();

    // cluster-info names the control plane and the DNS service.
    let info = c.ok("1.33", &["cluster-info"]);
    assert!(
        info.contains("Kubernetes control plane") && info.contains("is running at"),
        "{info}"
    );
    assert!(
        info.contains("CoreDNS") || info.contains("KubeDNS"),
        "{info}"
    );

    // The proxy's rules go with `rkube proxy --cleanup`.
    let table = node.proxy_table.clone();
    let listed = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&table));
    let mut node = node;
    node.c.kill9();
    let out = Command::new(env!("CARGO_BIN_EXE_rkube"))
        .args(["proxy", "--cleanup", "--table", &table])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ruleset = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&ruleset.stdout).contains(&table));
}

/// The network namespace of a running pod: `/proc/<pid>/ns/net` of its container's task.
fn pod_netns(c: &Cluster, pod: &str) -> String {
    let id = c.ok(
        "1.33",
        &[
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.status.containerStatuses[0].containerID}",
        ],
    );
    let id = id.trim().trim_start_matches("containerd://").to_string();
    let socket = c.data_dir().join("data/containerd/containerd.sock");
    let out = Command::new("ctr")
        .arg("--address")
        .arg(&socket)
        .args(["-n", "k8s.io", "tasks", "ls"])
        .output()
        .expect("ctr tasks ls");
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    let pid = listing
        .lines()
        .find(|l| l.starts_with(&id))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no task for {id} in {listing}"));
    format!("/proc/{pid}/ns/net")
}
