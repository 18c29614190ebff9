//! The official Kubernetes Python client against a real `rkube server`.

mod common;

use common::Cluster;

/// Runs tests/python/<script> against `c`; returns its stdout, failing the test if it fails.
fn run_script(c: &Cluster, script: &str) -> String {
    let path = format!("{}/../../tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(&path)
        .env("KUBECONFIG", c.kubeconfig())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

#[test]
fn python_client_lists_creates_patches_watches_deletes() {
    let c = Cluster::start();
    let stdout = run_script(&c, "client_test.py");
    assert!(stdout.contains("checks passed"), "{stdout}");
}

#[test]
fn python_client_runs_workloads_on_simulated_nodes() {
    let c = Cluster::start_with(&["--sim-nodes", "2"]);
    let stdout = run_script(&c, "workloads_test.py");
    assert_eq!(stdout.matches("ok   ").count(), 5, "{stdout}");
}
