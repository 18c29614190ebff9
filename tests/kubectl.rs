//! The real kubectl (1.32 and 1.33) against a real `rkube server`: the object commands of
//! the Kubernetes bootcamp and the issue's acceptance list.

mod common;

use common::{eventually, json, write_file, Cluster};
use std::process::Stdio;

const APP: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {app: api}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: busybox:1.36
        env: [{name: MODE, value: "one"}]
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  type: NodePort
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
"#;

const NODE: &str = r#"apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: {kubernetes.io/hostname: node-a}
status:
  capacity: {cpu: "2", memory: 4Gi, pods: "110"}
  allocatable: {cpu: "2", memory: 4Gi, pods: "110"}
  conditions: [{type: Ready, status: "True", reason: KubeletReady, message: ready}]
  nodeInfo: {kubeletVersion: v1.33.0, osImage: Debian, kernelVersion: "6.1", containerRuntimeVersion: "containerd://1.6", architecture: amd64, operatingSystem: linux, bootID: "", machineID: "", systemUUID: "", kubeProxyVersion: ""}
"#;

fn bootcamp_objects(v: &str) {
    let c = Cluster::start();
    let dir = c.data_dir().to_path_buf();
    let k = |args: &[&str]| c.ok(v, args);

    assert!(k(&["version"]).contains("Server Version: v1.33"));
    let versions = k(&["api-versions"]);
    for gv in [
        "apps/v1",
        "batch/v1",
        "v1",
        "coordination.k8s.io/v1",
        "discovery.k8s.io/v1",
        "events.k8s.io/v1",
    ] {
        assert!(
            versions.lines().any(|l| l == gv),
            "{gv} missing from {versions}"
        );
    }
    let resources = k(&["api-resources"]);
    assert!(
        resources.lines().any(|l| l.starts_with("deployments ")
            && l.contains("deploy")
            && l.contains("apps/v1")),
        "{resources}"
    );

    // create deployment NAME --image (protobuf body on 1.32+).
    assert!(k(&["create", "deployment", "web", "--image=nginx:1.25"])
        .contains("deployment.apps/web created"));
    let wide = k(&["get", "deployments", "-o", "wide"]);
    assert!(
        wide.contains("CONTAINERS") && wide.contains("nginx:1.25") && wide.contains("app=web"),
        "{wide}"
    );
    k(&["create", "namespace", "team"]);
    k(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=color=blue",
    ]);
    k(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=s3cret",
    ]);
    let secret = json(&k(&["get", "secret", "creds", "-o", "json"]));
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    assert_eq!(secret["type"], "Opaque");

    // scale through the scale subresource; set image bumps generation.
    k(&["scale", "deployments/web", "--replicas=4"]);
    assert_eq!(
        k(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "4"
    );
    k(&["set", "image", "deployment/web", "nginx=nginx:1.26"]);
    let d = json(&k(&["get", "deploy", "web", "-o", "json"]));
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );
    assert_eq!(d["metadata"]["generation"], 3);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");

    k(&["label", "deployment", "web", "tier=frontend"]);
    k(&["annotate", "deployment", "web", "owner=team-a"]);
    let labelled = k(&["get", "deploy", "-l", "tier=frontend", "-o", "name"]);
    assert_eq!(labelled.trim(), "deployment.apps/web");
    assert_eq!(
        k(&["get", "deploy", "-l", "tier=backend", "-o", "name"]).trim(),
        ""
    );
    assert_eq!(
        k(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.owner}"
        ]),
        "team-a"
    );

    // apply: create, then a partial change.
    let app = write_file(&dir, "app.yaml", APP);
    let out = k(&["apply", "-f", app.to_str().unwrap()]);
    assert!(
        out.contains("deployment.apps/api created") && out.contains("service/api created"),
        "{out}"
    );
    write_file(
        &dir,
        "app.yaml",
        &APP.replace("replicas: 1", "replicas: 3")
            .replace("\"one\"", "\"two\""),
    );
    let out = k(&["apply", "-f", app.to_str().unwrap()]);
    assert!(
        out.contains("deployment.apps/api configured") && out.contains("service/api unchanged"),
        "{out}"
    );
    let d = json(&k(&["get", "deploy", "api", "-o", "json"]));
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "two"
    );
    let svc = json(&k(&["get", "svc", "api", "-o", "json"]));
    let node_port = svc["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .expect("nodePort allocated");
    assert!((30000..=32767).contains(&node_port));
    let cluster_ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(cluster_ip.starts_with("10."), "{cluster_ip}");

    let multi = k(&["get", "pods,deployments,services,rs"]);
    assert!(
        multi.contains("deployment.apps/api")
            && multi.contains("service/api")
            && multi.contains("service/kubernetes"),
        "{multi}"
    );
    let selected = k(&["get", "pods,deployments,services,rs", "-l", "app=api"]);
    assert!(
        selected.contains("deployment.apps/api") && !selected.contains("service/kubernetes"),
        "{selected}"
    );
    let yaml = k(&["get", "svc", "api", "-o", "yaml"]);
    assert!(
        yaml.contains("type: NodePort") && yaml.contains(&format!("nodePort: {node_port}")),
        "{yaml}"
    );
    let names = k(&[
        "get",
        "deploy",
        "-o",
        "go-template={{range .items}}{{.metadata.name}}{{\"\\n\"}}{{end}}",
    ]);
    assert_eq!(names, "api\nweb\n");

    // `get -o yaml` output (a `kind: List`) goes back in through apply and create.
    let listed = k(&["get", "configmaps", "-o", "yaml"]);
    let list_file = write_file(&dir, "list.yaml", &listed);
    k(&["apply", "-f", list_file.to_str().unwrap()]);
    let one = write_file(
        &dir,
        "one.json",
        r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"from-list"}}]}"#,
    );
    assert!(k(&["create", "-f", one.to_str().unwrap()]).contains("configmap/from-list created"));

    // Server-side apply creates, then updates.
    let ssa = write_file(
        &dir,
        "ssa.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {k: one}\n",
    );
    assert!(k(&["apply", "--server-side", "-f", ssa.to_str().unwrap()])
        .contains("configmap/ssa serverside-applied"));
    write_file(
        &dir,
        "ssa.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {k: two}\n",
    );
    k(&["apply", "--server-side", "-f", ssa.to_str().unwrap()]);
    assert_eq!(k(&["get", "cm", "ssa", "-o", "jsonpath={.data.k}"]), "two");

    // apply -k / delete -k.
    write_file(
        &dir,
        "kz/kustomization.yaml",
        "resources: [cm.yaml]\nnamePrefix: kz-\n",
    );
    write_file(
        &dir,
        "kz/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf}\ndata: {x: \"1\"}\n",
    );
    let kz = dir.join("kz");
    assert!(k(&["apply", "-k", kz.to_str().unwrap()]).contains("configmap/kz-conf created"));
    assert_eq!(
        k(&["get", "cm", "kz-conf", "-o", "jsonpath={.data.x}"]),
        "1"
    );
    k(&["delete", "-k", kz.to_str().unwrap()]);
    assert!(c.fails(v, &["get", "cm", "kz-conf"]).contains("NotFound"));

    // create -f, replace --force -f keeps working and re-allocates.
    let job = write_file(&dir, "job.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: once}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n");
    assert!(k(&["create", "-f", job.to_str().unwrap()]).contains("job.batch/once created"));
    let err = c.fails(v, &["create", "-f", job.to_str().unwrap()]);
    assert!(err.contains("AlreadyExists"), "{err}");
    let out = k(&["replace", "--force", "-f", app.to_str().unwrap()]);
    assert!(
        out.contains("deployment.apps/api replaced") && out.contains("service/api replaced"),
        "{out}"
    );

    // edit with a non-interactive editor.
    let out = c
        .kubectl_cmd(v)
        .args(["edit", "deployment", "api"])
        .env("EDITOR", "sed -i s/replicas:\\ 3/replicas:\\ 5/")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        k(&["get", "deploy", "api", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );

    // describe.
    let node = write_file(&dir, "node.yaml", NODE);
    k(&["create", "-f", node.to_str().unwrap()]);
    let pod = write_file(&dir, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: solo, labels: {run: solo}}\nspec:\n  containers: [{name: c, image: busybox:1.36}]\n");
    k(&["apply", "-f", pod.to_str().unwrap()]);
    for (what, needle) in [
        (
            vec!["describe", "deployment", "web"],
            "RollingUpdateStrategy:  25% max unavailable, 25% max surge",
        ),
        (vec!["describe", "service", "api"], "NodePort:"),
        (vec!["describe", "pod", "solo"], "Pending"),
        (vec!["describe", "node", "node-a"], "Capacity:"),
        (
            vec!["describe", "namespace", "team"],
            "Status:       Active",
        ),
    ] {
        let out = k(&what);
        assert!(out.contains(needle), "{what:?}: {out}");
    }
    let pods = k(&["get", "pods", "-o", "wide"]);
    assert!(
        pods.contains("solo") && pods.contains("Pending") && pods.contains("NOMINATED NODE"),
        "{pods}"
    );

    // explain needs the OpenAPI schemas.
    let explain = k(&["explain", "pod.spec.containers"]);
    assert!(
        explain.contains("FIELD: containers <[]Container>") && explain.contains("image"),
        "{explain}"
    );

    // --raw and jsonpath.
    let raw = json(&k(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/configmaps/settings",
    ]));
    assert_eq!(raw["data"]["color"], "blue");

    // --watch sees a change.
    let mut watch = c
        .kubectl_cmd(v)
        .args(["get", "configmaps", "--watch", "--request-timeout=20s"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let watch_out = watch.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(watch_out)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("watched-cm"))
    });
    eventually("watch to list the existing config maps", || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        Some(())
    });
    k(&["create", "configmap", "watched-cm", "--from-literal=a=b"]);
    let seen = reader.join().unwrap();
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        seen.is_some(),
        "kubectl get --watch did not print the new config map"
    );

    // delete by name, -l, -f.
    assert!(k(&["delete", "configmap", "settings"]).contains("configmap \"settings\" deleted"));
    k(&["delete", "deploy", "-l", "tier=frontend"]);
    assert!(c.fails(v, &["get", "deploy", "web"]).contains("NotFound"));
    let out = k(&["delete", "-f", app.to_str().unwrap()]);
    assert!(out.contains("deployment.apps \"api\" deleted"), "{out}");
    let left = k(&["get", "deploy,svc", "-o", "name"]);
    assert_eq!(left.trim(), "service/kubernetes");

    // Deleting a namespace empties it and removes it.
    k(&[
        "create",
        "configmap",
        "inside",
        "-n",
        "team",
        "--from-literal=a=b",
    ]);
    k(&["delete", "namespace", "team"]);
    assert!(c
        .fails(v, &["get", "namespace", "team"])
        .contains("NotFound"));
}

#[test]
fn kubectl_1_33_manages_objects() {
    bootcamp_objects("1.33");
}

#[test]
fn kubectl_1_32_manages_objects() {
    bootcamp_objects("1.32");
}

#[test]
fn kubectl_proxy_serves_the_api() {
    let c = Cluster::start();
    let dir = c.data_dir();
    let pod = write_file(dir, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: hello}\nspec:\n  containers: [{name: c, image: busybox}]\n");
    c.ok("1.33", &["apply", "-f", pod.to_str().unwrap()]);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut proxy = c
        .kubectl_cmd("1.33")
        .args(["proxy", &format!("--port={port}")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let body = eventually("kubectl proxy to answer", || {
        let out = std::process::Command::new("curl")
            .args([
                "-sf",
                &format!("http://127.0.0.1:{port}/api/v1/namespaces/default/pods/hello"),
            ])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
    });
    let _ = proxy.kill();
    let _ = proxy.wait();
    let pod = json(&body);
    assert_eq!(pod["metadata"]["name"], "hello");
    assert_eq!(pod["status"]["phase"], "Pending");
}

/// `kubectl create token` (the TokenRequest API) issues a service-account token that
/// authenticates as that account, and stops working once the account is deleted.
#[test]
fn service_account_tokens_authenticate_until_the_account_goes() {
    let c = Cluster::start_with(&["--disable-controllers"]);
    c.ok("1.33", &["create", "serviceaccount", "robot"]);
    let token = c.ok("1.33", &["create", "token", "robot", "--duration=1h"]);
    let token = token.trim();
    assert_eq!(token.matches('.').count(), 2, "a JWT: {token}");
    let get = |token: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(c.data_dir().join("data/pki/ca.crt"))
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .arg(c.url("/api/v1/namespaces/default/pods"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(get(token), "200");
    let mid = token.len() / 2;
    let swap = if &token[mid..mid + 1] == "A" {
        "B"
    } else {
        "A"
    };
    let forged = format!("{}{swap}{}", &token[..mid], &token[mid + 1..]);
    assert_eq!(get(&forged), "401");
    // Too short a lifetime is refused like upstream.
    let err = c.fails("1.33", &["create", "token", "robot", "--duration=1m"]);
    assert!(
        err.contains("may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let err = c.fails("1.33", &["create", "token", "nobody"]);
    assert!(
        err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );
    c.ok("1.33", &["delete", "serviceaccount", "robot"]);
    assert_eq!(get(token), "401");
}
