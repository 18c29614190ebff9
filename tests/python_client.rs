//! The official Kubernetes Python client against a real `rkube server`.

mod common;

use common::Cluster;

#[test]
fn python_client_lists_creates_patches_watches_deletes() {
    let c = Cluster::start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/client_test.py"
    );
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("KUBECONFIG", c.kubeconfig())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client test failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

#[test]
fn python_client_runs_workloads_on_simulated_nodes() {
    let c = Cluster::start_with(&["--sim-nodes", "2"]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/python/workloads_test.py"
    );
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("KUBECONFIG", c.kubeconfig())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python workloads test failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(stdout.matches("ok   ").count(), 5, "{stdout}");
}
