//! The bootcamp's "explore your app" module on a real node: `rkube server` with its
//! agent (kubelet + our containerd + CNI), the project's offline images, the real
//! kubectl 1.32 and 1.33 and the official Python client. Needs root and the runtime
//! (scripts/install-runtime.sh); fails, not skips, without them.
//!
//! One node per machine at a time: the tests take turns through `NODE`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::node::{
    apply, free_port, is_ready, pod_json, pod_names, ready_pods, slowly, start_node, KubectlProxy,
    NodeOptions, GREETING, V1, V2,
};
use common::{eventually, json, Cluster};

/// Serialises the tests: each runs its own node, one at a time.
static NODE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn node_turn() -> std::sync::MutexGuard<'static, ()> {
    NODE.lock().unwrap_or_else(|e| e.into_inner())
}

fn greeting_of(proxy: &KubectlProxy, pod: &str) -> Option<String> {
    let (code, body) = proxy.get(&format!(
        "/api/v1/namespaces/default/pods/{pod}:8080/proxy/"
    ));
    (code == 200 && body.starts_with(GREETING)).then_some(body)
}

fn explore_your_app(c: &Cluster, version: &str, pod: &str, proxy: &KubectlProxy) {
    // kubectl logs
    let logs = c.ok(version, &["logs", pod]);
    assert!(
        logs.contains("Kubernetes Bootcamp App Started At"),
        "{logs}"
    );

    // exec env: the pod's environment, with the service links of the `kubernetes` service.
    let env = c.ok(version, &["exec", pod, "--", "env"]);
    assert!(env.contains(&format!("HOSTNAME={pod}")), "{env}");
    assert!(env.contains("KUBERNETES_SERVICE_HOST="), "{env}");

    // A failing command's exit code reaches kubectl.
    let out = c.kubectl(
        version,
        &[
            "exec",
            pod,
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err"));

    // stdin reaches the command.
    let mut child = c
        .kubectl_cmd(version)
        .args(["exec", "-i", pod, "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"through stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through stdin\n");

    // exec -ti POD -- bash, under a pseudo-terminal (script(1) provides one).
    let kubectl = common::kubectl_path(version);
    let mut child = Command::new("script")
        .args(["-qfec"])
        .arg(format!("{} exec -ti {pod} -- bash", kubectl.display()))
        .arg("/dev/null")
        .env("KUBECONFIG", c.kubeconfig())
        .env("HOME", c.home())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    stdin.write_all(b"echo tty-$((40+2)); tty\r").unwrap();
    std::thread::sleep(Duration::from_secs(1));
    stdin.write_all(b"exit\r").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tty-42"),
        "exec -ti output: {text:?} {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("/dev/pts/"), "no terminal inside: {text:?}");

    // port-forward pod/NAME 18080:8080 then curl.
    let local = free_port();
    let mut pf = c
        .kubectl_cmd(version)
        .args([
            "port-forward",
            &format!("pod/{pod}"),
            &format!("{local}:8080"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let body = eventually("port-forward answers", || {
        let out = Command::new("curl")
            .args(["-sS", "-m", "5"])
            .arg(format!("http://127.0.0.1:{local}/"))
            .output()
            .ok()?;
        let body = String::from_utf8_lossy(&out.stdout).to_string();
        body.starts_with(GREETING).then_some(body)
    });
    assert!(body.contains(pod), "{body}");
    // A second connection over the same forward.
    let again = Command::new("curl")
        .args(["-sS", "-m", "5"])
        .arg(format!("http://127.0.0.1:{local}/"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).starts_with(GREETING));
    let _ = pf.kill();
    let _ = pf.wait();

    // The proxy URLs of the tutorial.
    let (code, body) = proxy.get(&format!("/api/v1/namespaces/default/pods/{pod}/"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["metadata"]["name"], pod);
    let greeting = greeting_of(proxy, pod).expect("greeting through the API proxy");
    assert!(greeting.contains(pod), "{greeting}");
}

#[test]
fn bootcamp_explore_your_app_on_a_real_node() {
    let _turn = node_turn();
    let node = start_node(NodeOptions::default());
    let c = &node.c;

    // The node registered with the host's real capacity and became Ready.
    let n = json(&c.ok("1.33", &["get", "node", "rkube-node", "-o", "json"]));
    let cpus = std::thread::available_parallelism()
        .unwrap()
        .get()
        .to_string();
    assert_eq!(n["status"]["capacity"]["cpu"], cpus.as_str(), "{n}");
    // start_node's --eviction-hard holds nothing back from the disk and 100Mi of memory.
    assert_eq!(
        n["status"]["allocatable"]["ephemeral-storage"],
        n["status"]["capacity"]["ephemeral-storage"],
        "{n}"
    );
    let memory = |q: &serde_json::Value| {
        let text = q.as_str().unwrap_or_default();
        let (digits, unit) = text.split_at(
            text.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len()),
        );
        let scale: u64 = match unit {
            "" => 1,
            "Ki" => 1 << 10,
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            other => panic!("unexpected memory quantity suffix {other:?} in {text}"),
        };
        digits.parse::<u64>().expect("a memory quantity") * scale
    };
    assert_eq!(
        memory(&n["status"]["capacity"]["memory"]) - memory(&n["status"]["allocatable"]["memory"]),
        100 << 20,
        "{n}"
    );
    assert!(n["status"]["nodeInfo"]["containerRuntimeVersion"]
        .as_str()
        .unwrap()
        .starts_with("containerd://"));

    c.ok(
        "1.33",
        &[
            "create",
            "deployment",
            "kubernetes-bootcamp",
            &format!("--image={V1}"),
        ],
    );
    slowly("bootcamp pod Ready", || {
        (ready_pods(c, "app=kubernetes-bootcamp").len() == 1).then_some(())
    });
    let pod = c.ok(
        "1.33",
        &[
            "get",
            "pods",
            "-o",
            "go-template",
            "--template",
            "{{range .items}}{{.metadata.name}}{{\"\\n\"}}{{end}}",
        ],
    );
    let pod = pod.trim().to_string();
    let wide = c.ok("1.33", &["get", "pods", "-o", "wide"]);
    assert!(
        wide.contains("Running") && wide.contains("rkube-node"),
        "{wide}"
    );
    let pod_ip = c.ok(
        "1.33",
        &["get", "pod", &pod, "-o", "jsonpath={.status.podIP}"],
    );
    let node_cidr = c.ok(
        "1.33",
        &[
            "get",
            "node",
            "rkube-node",
            "-o",
            "jsonpath={.spec.podCIDR}",
        ],
    );
    let prefix = node_cidr
        .rsplit_once(".0/")
        .map(|(p, _)| format!("{p}."))
        .unwrap();
    assert!(
        pod_ip.starts_with(&prefix),
        "pod IP {pod_ip} outside the node's podCIDR {node_cidr}"
    );
    assert!(wide.contains(&pod_ip), "{wide}");
    let describe = c.ok("1.33", &["describe", "pods"]);
    for event in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(
            describe.contains(event),
            "describe lacks {event}: {describe}"
        );
    }
    c.ok(
        "1.33",
        &[
            "wait",
            "--for=condition=ready",
            "pod",
            "-l",
            "app=kubernetes-bootcamp",
        ],
    );

    let proxy = KubectlProxy::start(c);
    for version in ["1.32", "1.33"] {
        explore_your_app(c, version, &pod, &proxy);
    }

    // The official Python client: exec stream and WebSocket port-forwarding.
    let script = format!(
        "{}/../../tests/python/kubelet_test.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new("python3")
        .arg(&script)
        .env("KUBECONFIG", c.kubeconfig())
        .env("POD", &pod)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "kubelet_test.py failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // logs -f follows new lines: each request through the proxy logs one.
    let mut follow = c
        .kubectl_cmd("1.33")
        .args(["logs", "-f", &pod])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let before = lines.lock().unwrap().matches("Total Requests").count();
    slowly("logs -f shows a new request", || {
        greeting_of(&proxy, &pod);
        let now = lines.lock().unwrap().matches("Total Requests").count();
        (now > before + 1).then_some(())
    });
    let _ = follow.kill();
    let _ = follow.wait();

    // Scale to 4: each pod answers with its own name.
    c.ok(
        "1.33",
        &["scale", "deployments/kubernetes-bootcamp", "--replicas=4"],
    );
    slowly("4 ready pods", || {
        (ready_pods(c, "app=kubernetes-bootcamp").len() == 4).then_some(())
    });
    for p in pod_names(c, "app=kubernetes-bootcamp") {
        let body = slowly("pod answers", || greeting_of(&proxy, &p));
        assert!(body.contains(&p) && body.contains("v=1"), "{body}");
    }

    // set image v2: every answer says v=2.
    c.ok(
        "1.33",
        &[
            "set",
            "image",
            "deployments/kubernetes-bootcamp",
            &format!("kubernetes-bootcamp={V2}"),
        ],
    );
    c.ok(
        "1.33",
        &[
            "rollout",
            "status",
            "deployments/kubernetes-bootcamp",
            "--timeout=180s",
        ],
    );
    slowly("v2 everywhere", || {
        let pods = pod_names(c, "app=kubernetes-bootcamp");
        (pods.len() == 4
            && pods
                .iter()
                .all(|p| greeting_of(&proxy, p).is_some_and(|b| b.contains("v=2"))))
        .then_some(())
    });

    // Deleting a pod stops its container within the grace period, and the pod goes.
    let victim = pod_names(c, "app=kubernetes-bootcamp")[0].clone();
    let started = Instant::now();
    c.ok("1.33", &["delete", "pod", &victim, "--grace-period=5"]);
    assert!(started.elapsed() < Duration::from_secs(60));
    slowly("replacement", || {
        (ready_pods(c, "app=kubernetes-bootcamp").len() == 4).then_some(())
    });

    // A kill -9 of the whole server and a restart leave the containers running.
    let before = container_ids(c);
    let mut node = node;
    node.c.kill9();
    node.c.launch();
    let c = &node.c;
    slowly("pods still ready after restart", || {
        (ready_pods(c, "app=kubernetes-bootcamp").len() == 4).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(container_ids(c), before, "containers were restarted");
}

/// Container IDs and restart counts of the bootcamp pods, sorted.
fn container_ids(c: &Cluster) -> Vec<String> {
    let out = c.ok(
        "1.33",
        &[
            "get",
            "pods",
            "-l",
            "app=kubernetes-bootcamp",
            "-o",
            "go-template={{range .items}}{{range .status.containerStatuses}}{{.containerID}}/{{.restartCount}}{{\"\\n\"}}{{end}}{{end}}",
        ],
    );
    let mut ids: Vec<String> = out.lines().map(str::to_string).collect();
    ids.sort();
    ids
}

/// Liveness failures restart the container (RESTARTS counts them), a failing readiness
/// probe keeps the pod out of Ready until it passes, an image that cannot be pulled
/// shows ErrImagePull / ImagePullBackOff, and a containerd crash is survived.
#[test]
fn probes_pull_errors_and_runtime_restarts() {
    let _turn = node_turn();
    let node = start_node(NodeOptions::default());
    let c = &node.c;
    apply(
        c,
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: liveness}}
spec:
  containers:
  - name: app
    image: {V1}
    livenessProbe:
      httpGet: {{path: /, port: 8081}}
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: Pod
metadata: {{name: readiness}}
spec:
  containers:
  - name: app
    image: {V1}
    readinessProbe:
      exec: {{command: [cat, /tmp/ready]}}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {{name: unpullable}}
spec:
  containers:
  - name: app
    image: 127.0.0.1:1/nothing/here:v9
"#
        ),
    );
    // Liveness: restarted, and the RESTARTS column counts it.
    slowly("liveness restarts", || {
        let p = pod_json(c, "liveness");
        (p["status"]["containerStatuses"][0]["restartCount"].as_i64()? >= 1).then_some(())
    });
    let table = c.ok("1.33", &["get", "pod", "liveness"]);
    let restarts: i64 = table
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert!(restarts >= 1, "{table}");
    let events = c.ok("1.33", &["describe", "pod", "liveness"]);
    assert!(events.contains("Liveness probe failed"), "{events}");

    // Readiness: running but not Ready until the probe passes.
    slowly("readiness pod running", || {
        (pod_json(c, "readiness")["status"]["phase"] == "Running").then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let p = pod_json(c, "readiness");
    assert!(
        !is_ready(&p),
        "Ready without a passing readiness probe: {p}"
    );
    assert_eq!(p["status"]["containerStatuses"][0]["ready"], false);
    c.ok("1.33", &["exec", "readiness", "--", "touch", "/tmp/ready"]);
    slowly("readiness passes", || {
        is_ready(&pod_json(c, "readiness")).then_some(())
    });

    // An image that cannot be pulled.
    let reason = slowly("pull failure", || {
        let p = pod_json(c, "unpullable");
        let r = p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            .as_str()?
            .to_string();
        matches!(r.as_str(), "ErrImagePull" | "ImagePullBackOff").then_some(r)
    });
    assert!(!reason.is_empty());
    let described = c.ok("1.33", &["describe", "pod", "unpullable"]);
    assert!(
        described.contains("Failed to pull image \"127.0.0.1:1/nothing/here:v9\""),
        "{described}"
    );

    // containerd killed: the supervisor restarts it, pods keep running, new pods start.
    let config = c.data_dir().join("data/containerd/config.toml");
    let before = pod_json(c, "readiness")["status"]["containerStatuses"][0]["containerID"].clone();
    for pid in common::node::pids_mentioning(&format!("--config\0{}", config.display())) {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .output();
    }
    c.ok("1.33", &["run", "after-restart", &format!("--image={V1}")]);
    slowly("new pod ready after containerd restart", || {
        is_ready(&pod_json(c, "after-restart")).then_some(())
    });
    let p = pod_json(c, "readiness");
    assert!(is_ready(&p), "{p}");
    assert_eq!(p["status"]["containerStatuses"][0]["containerID"], before);
    let out = c.ok("1.33", &["exec", "after-restart", "--", "echo", "alive"]);
    assert_eq!(out, "alive\n");
    c.ok("1.33", &["delete", "pod", "--all", "--grace-period=1"]);
}

/// A registry on loopback (Debian's docker-registry) serving an image pushed into it.
struct Registry {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = common::write_file(
            dir.path(),
            "config.yml",
            &format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        );
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (scripts/install-deps.sh test installs it)");
        let r = Registry {
            child,
            port,
            _dir: dir,
        };
        eventually("registry up", || {
            let out = Command::new("curl")
                .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg(format!("http://127.0.0.1:{port}/v2/"))
                .output()
                .ok()?;
            (String::from_utf8_lossy(&out.stdout) == "200").then_some(())
        });
        r
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// imagePullPolicy Always pulls through CRI PullImage from a registry, with the
/// Pulling/Pulled events; the registry's answer for a missing tag reaches the event.
#[test]
fn images_are_pulled_from_a_registry() {
    let _turn = node_turn();
    let node = start_node(NodeOptions::default());
    let c = &node.c;
    let registry = Registry::start();
    let data = c.data_dir().join("data");
    let socket = data.join("containerd/containerd.sock");
    let host = format!("127.0.0.1:{}", registry.port);
    // Our containerd reads registry hosts from certs.d: this one speaks plain HTTP.
    common::write_file(
        &data.join("containerd/certs.d").join(&host),
        "hosts.toml",
        &format!("server = \"http://{host}\"\n\n[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"),
    );
    let pushed = format!("{host}/demo/bootcamp:pulled");
    let ctr = |args: &[&str]| {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(&socket)
            .args(["-n", "k8s.io"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ctr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ctr(&["images", "tag", V2, &pushed]);
    ctr(&["images", "push", "--plain-http", &pushed]);
    ctr(&["images", "rm", &pushed]);

    apply(
        c,
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: pulled}}
spec:
  containers:
  - name: app
    image: {pushed}
    imagePullPolicy: Always
---
apiVersion: v1
kind: Pod
metadata: {{name: missing-tag}}
spec:
  containers:
  - name: app
    image: {host}/demo/bootcamp:nope
"#
        ),
    );
    slowly("pulled pod ready", || {
        is_ready(&pod_json(c, "pulled")).then_some(())
    });
    let described = c.ok("1.33", &["describe", "pod", "pulled"]);
    assert!(
        described.contains(&format!("Pulling image \"{pushed}\"")),
        "{described}"
    );
    assert!(
        described.contains("Successfully pulled image"),
        "{described}"
    );
    let out = c.ok(
        "1.33",
        &[
            "exec",
            "pulled",
            "--",
            "curl",
            "-s",
            "http://localhost:8080",
        ],
    );
    assert!(out.contains("v=2"), "{out}");
    let reason = slowly("missing tag fails to pull", || {
        let p = pod_json(c, "missing-tag");
        let r = p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            .as_str()?
            .to_string();
        matches!(r.as_str(), "ErrImagePull" | "ImagePullBackOff").then_some(r)
    });
    assert!(!reason.is_empty());
    let described = c.ok("1.33", &["describe", "pod", "missing-tag"]);
    assert!(
        described.contains("not found"),
        "the registry's answer should reach the event: {described}"
    );
    c.ok("1.33", &["delete", "pod", "--all", "--grace-period=1"]);
}
