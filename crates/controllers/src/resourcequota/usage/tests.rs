use super::*;
use serde_json::json;

fn pod(v: serde_json::Value) -> Pod {
    serde_json::from_value(v).unwrap()
}

fn hard(names: &[&str]) -> BTreeMap<String, String> {
    names
        .iter()
        .map(|n| (n.to_string(), "100".into()))
        .collect()
}

fn web(cpu: &str, memory: &str, phase: &str) -> Pod {
    pod(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": cpu, "memory": memory},
                                        "limits": {"cpu": "1"}}},
            {"name": "b", "resources": {"limits": {"memory": "64Mi"}}}
        ]},
        "status": {"phase": phase}
    }))
}

#[test]
fn pods_and_compute_resources_sum_over_live_pods() {
    let inputs = Inputs {
        pods: vec![
            web("250m", "128Mi", "Running"),
            web("500m", "128Mi", "Pending"),
            web("4", "1Gi", "Succeeded"),
        ],
        ..Inputs::default()
    };
    let names = hard(&[
        "pods",
        "count/pods",
        "requests.cpu",
        "cpu",
        "memory",
        "limits.cpu",
        "limits.memory",
    ]);
    let used = used(&names, &[], &inputs, chrono::Utc::now());
    let show = |k: &str| used.get(k).map(ToString::to_string).unwrap_or_default();
    assert_eq!(show("pods"), "2");
    assert_eq!(show("count/pods"), "2");
    assert_eq!(show("requests.cpu"), "750m");
    assert_eq!(show("cpu"), "750m");
    // Container b has only a limit, which counts as its request too.
    assert_eq!(show("memory"), "384Mi");
    assert_eq!(show("limits.cpu"), "2");
    assert_eq!(show("limits.memory"), "128Mi");
}

#[test]
fn init_containers_raise_the_request_only_when_larger() {
    let p = pod(json!({
        "metadata": {"name": "p"},
        "spec": {
            "initContainers": [
                {"name": "big", "resources": {"requests": {"cpu": "2"}}},
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}
            ],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}}}]
        }
    }));
    assert_eq!(pod_resource(&p, false, "cpu").milli, 2000);
    let small = pod(json!({
        "metadata": {"name": "p"},
        "spec": {
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}
            ],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}}}]
        }
    }));
    assert_eq!(pod_resource(&small, false, "cpu").milli, 600);
}

#[test]
fn pods_past_their_grace_period_do_not_count() {
    let mut p = web("1", "1Mi", "Running");
    p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2020-01-01T00:00:00Z".parse().unwrap(),
    ));
    p.metadata.deletion_grace_period_seconds = Some(30);
    assert!(!pod_counts(&p, chrono::Utc::now()));
    let future = chrono::DateTime::parse_from_rfc3339("2019-12-31T23:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert!(pod_counts(&p, future));
}

#[test]
fn object_counts_services_and_scopes() {
    let svc = |t: &str| -> Service {
        serde_json::from_value(json!({"metadata": {"name": "s"},
            "spec": {"type": t, "ports": [{"port": 80}, {"port": 443}]}}))
        .unwrap()
    };
    let inputs = Inputs {
        pods: vec![web("1", "1Mi", "Running")],
        services: vec![svc("ClusterIP"), svc("NodePort"), svc("LoadBalancer")],
        counts: [
            ("configmaps".to_string(), 3),
            ("deployments.apps".to_string(), 1),
        ]
        .into(),
    };
    let names = hard(&[
        "services",
        "services.nodeports",
        "services.loadbalancers",
        "configmaps",
        "count/configmaps",
        "count/deployments.apps",
        "secrets",
        "example.com/unknown",
    ]);
    let counted = used(&names, &[], &inputs, chrono::Utc::now());
    let show = |k: &str| counted.get(k).map(ToString::to_string);
    assert_eq!(show("services").as_deref(), Some("3"));
    assert_eq!(show("services.nodeports").as_deref(), Some("4"));
    assert_eq!(show("services.loadbalancers").as_deref(), Some("1"));
    assert_eq!(show("configmaps").as_deref(), Some("3"));
    assert_eq!(show("count/configmaps").as_deref(), Some("3"));
    assert_eq!(show("count/deployments.apps").as_deref(), Some("1"));
    assert_eq!(show("secrets").as_deref(), Some("0"));
    assert_eq!(show("example.com/unknown"), None);

    // A BestEffort-scoped quota sees no pod with requests, and no services.
    let scoped = used(
        &names_with_pods(),
        &["BestEffort".into()],
        &inputs,
        chrono::Utc::now(),
    );
    assert_eq!(scoped.get("pods").map(|q| q.milli), Some(0));
    assert!(!scoped.contains_key("services"));
}

fn names_with_pods() -> BTreeMap<String, String> {
    hard(&["pods", "services"])
}

#[test]
fn needs_follow_the_names() {
    let n = needs(
        hard(&[
            "pods",
            "count/secrets",
            "services.nodeports",
            "count/jobs.batch",
        ])
        .keys(),
    );
    assert!(n.pods && n.services);
    assert_eq!(
        n.counts.into_iter().collect::<Vec<_>>(),
        vec!["jobs.batch".to_string(), "secrets".to_string()]
    );
    let only = needs(hard(&["configmaps"]).keys());
    assert!(!only.pods && !only.services);
}
