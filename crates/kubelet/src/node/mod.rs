//! This machine as a Node: registration, the Lease in kube-node-lease, and status
//! heartbeats with conditions (upstream kubelet_node_status.go, nodestatus/, nodelease/).

pub mod eviction;
pub mod host;
mod netip;
pub mod status;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeStatus, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use rkube_client::events::{EventType, Recorder};
use rkube_cri::RuntimeClient;
use serde_json::json;

use crate::config::KubeletConfig;
use crate::error::Result;
use status::{Health, HostFacts, StatusInput};

pub use netip::detect_node_ip;

pub const LEASE_NAMESPACE: &str = "kube-node-lease";
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// Upstream renews at a quarter of the duration and computes status every 10 s.
const LEASE_EVERY: Duration = Duration::from_secs(10);
const STATUS_EVERY: Duration = Duration::from_secs(10);
/// Unchanged status is still posted this often, refreshing lastHeartbeatTime.
const STATUS_REPORT_EVERY: Duration = Duration::from_secs(60);

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

async fn runtime_facts(runtime: Option<&RuntimeClient>, facts: &mut HostFacts) {
    if let Some(rt) = runtime {
        if let Ok(v) = rt.version().await {
            facts.runtime_version = format!("{}://{}", v.runtime_name, v.runtime_version);
        }
    }
}

async fn current_health(config: &KubeletConfig, runtime: Option<&RuntimeClient>) -> Health {
    let disk_path = if config.root_dir.exists() {
        config.root_dir.clone()
    } else {
        "/".into()
    };
    let runtime = match runtime {
        None => Err("container runtime status check may not have completed yet".to_string()),
        Some(rt) => match rt.status(false).await {
            Ok(s) => status::runtime_readiness(&s),
            Err(e) => Err(format!("container runtime is down: {e}")),
        },
    };
    let fs = host::filesystem_usage(&disk_path);
    Health {
        memory: host::memory_total_bytes().zip(host::memory_available_bytes()),
        disk: fs.map(|u| u.bytes),
        inodes: fs.map(|u| u.inodes),
        pids: host::pid_usage(),
        runtime,
    }
}

async fn node_images(
    runtime: Option<&RuntimeClient>,
) -> Vec<k8s_openapi::api::core::v1::ContainerImage> {
    match runtime {
        Some(rt) => match rt.list_images(None).await {
            Ok(list) => status::images(&list),
            Err(e) => {
                tracing::debug!(error = %e, "listing images for node status");
                Vec::new()
            }
        },
        None => Vec::new(),
    }
}

async fn build_status(
    config: &KubeletConfig,
    host_ip: IpAddr,
    facts: &HostFacts,
    runtime: Option<&RuntimeClient>,
    previous: &[NodeCondition],
) -> NodeStatus {
    let health = current_health(config, runtime).await;
    status::node_status(StatusInput {
        config,
        host_ip,
        facts,
        health: &health,
        images: node_images(runtime).await,
        previous,
        now: now(),
    })
}

fn new_node(config: &KubeletConfig, arch: &str, status: NodeStatus) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            labels: Some(status::labels(config, arch)),
            annotations: Some(
                [(
                    "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
                    "true".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        spec: None,
        status: Some(status),
    }
}

/// Creates (or adopts and updates) this kubelet's Node and returns it as stored.
pub async fn register(
    client: &kube::Client,
    config: &KubeletConfig,
    host_ip: IpAddr,
    runtime: Option<&RuntimeClient>,
) -> Result<Node> {
    let mut facts = HostFacts::gather(config);
    runtime_facts(runtime, &mut facts).await;
    register_with(client, config, host_ip, runtime, &facts).await
}

async fn register_with(
    client: &kube::Client,
    config: &KubeletConfig,
    host_ip: IpAddr,
    runtime: Option<&RuntimeClient>,
    facts: &HostFacts,
) -> Result<Node> {
    let api: Api<Node> = Api::all(client.clone());
    let name = &config.node_name;
    let existing = api.get_opt(name).await?;
    let previous: Vec<NodeCondition> = existing
        .as_ref()
        .and_then(|n| n.status.as_ref())
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let status = build_status(config, host_ip, facts, runtime, &previous).await;
    let pp = PatchParams::default();
    if existing.is_none() {
        match api
            .create(
                &PostParams::default(),
                &new_node(config, &facts.arch, status.clone()),
            )
            .await
        {
            Ok(node) => {
                tracing::info!(node = %name, "registered node");
                return Ok(node);
            }
            Err(e) if is_status(&e, 409) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Adopt: our labels on top of whatever is there, then a fresh status.
    let labels = json!({"metadata": {"labels": status::labels(config, &facts.arch)}});
    api.patch(name, &pp, &Patch::Merge(&labels)).await?;
    let node = api
        .patch_status(name, &pp, &Patch::Merge(&json!({ "status": status })))
        .await?;
    tracing::info!(node = %name, "adopted existing node");
    Ok(node)
}

fn lease_for(node: &Node, config: &KubeletConfig) -> Lease {
    let owner = node.metadata.uid.clone().map(|uid| {
        vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: config.node_name.clone(),
            uid,
            ..Default::default()
        }]
    });
    Lease {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            namespace: Some(LEASE_NAMESPACE.into()),
            owner_references: owner,
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(config.node_name.clone()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
            ..Default::default()
        }),
    }
}

/// Renews the Lease, creating it when missing (first start, or deleted by someone).
async fn renew_lease(client: &kube::Client, config: &KubeletConfig, node: &Node) -> Result<()> {
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let lease = lease_for(node, config);
    let renewal = json!({"spec": lease.spec});
    match api
        .patch(
            &config.node_name,
            &PatchParams::default(),
            &Patch::Merge(&renewal),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_status(&e, 404) => match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 409) => Ok(()),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

fn node_reference(config: &KubeletConfig) -> ObjectReference {
    // Upstream refers to the Node with its name as uid, so events survive re-creation.
    ObjectReference {
        kind: Some("Node".into()),
        name: Some(config.node_name.clone()),
        uid: Some(config.node_name.clone()),
        ..Default::default()
    }
}

/// Events for conditions that changed between two statuses (all of them at start).
async fn condition_events(
    recorder: &Recorder,
    config: &KubeletConfig,
    before: &[NodeCondition],
    after: &[NodeCondition],
) {
    let reference = node_reference(config);
    for c in after {
        let unchanged = before
            .iter()
            .any(|b| b.type_ == c.type_ && b.status == c.status);
        if unchanged {
            continue;
        }
        let reason = match (c.type_.as_str(), c.status.as_str()) {
            ("MemoryPressure", "False") => "NodeHasSufficientMemory",
            ("MemoryPressure", _) => "NodeHasInsufficientMemory",
            ("DiskPressure", "False") => "NodeHasNoDiskPressure",
            ("DiskPressure", _) => "NodeHasDiskPressure",
            ("PIDPressure", "False") => "NodeHasSufficientPID",
            ("PIDPressure", _) => "NodeHasInsufficientPID",
            ("Ready", "True") => "NodeReady",
            ("Ready", _) => "NodeNotReady",
            _ => continue,
        };
        let message = format!("Node {} status is now: {reason}", config.node_name);
        recorder
            .record(&reference, EventType::Normal, reason, &message)
            .await;
    }
}

fn conditions_of(node: &Node) -> Vec<NodeCondition> {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
}

/// Renews the node Lease every 10 s and keeps Node status current, until the process ends.
pub async fn run(
    client: kube::Client,
    config: Arc<KubeletConfig>,
    host_ip: IpAddr,
    runtime: RuntimeClient,
) -> Result<()> {
    let recorder = Recorder::new(client.clone(), "kubelet", Some(&config.node_name));
    let mut facts = HostFacts::gather(&config);
    runtime_facts(Some(&runtime), &mut facts).await;
    let api: Api<Node> = Api::all(client.clone());
    // Registration is retried rather than returned: ending here would end the node.
    let mut delay = Duration::from_millis(500);
    let mut node = loop {
        match register_with(&client, &config, host_ip, Some(&runtime), &facts).await {
            Ok(node) => break node,
            Err(e) => {
                tracing::warn!(error = %e, "registering node; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    recorder
        .record(
            &node_reference(&config),
            EventType::Normal,
            "Starting",
            "Starting kubelet.",
        )
        .await;
    condition_events(&recorder, &config, &[], &conditions_of(&node)).await;
    let mut last_posted = Instant::now();
    let mut next_lease = Instant::now();
    let mut next_status = Instant::now() + STATUS_EVERY;
    loop {
        let now = Instant::now();
        if now >= next_lease {
            next_lease = now + LEASE_EVERY;
            if let Err(e) = renew_lease(&client, &config, &node).await {
                tracing::warn!(error = %e, "renewing node lease");
            }
        }
        if now >= next_status {
            next_status = now + STATUS_EVERY;
            if facts.runtime_version.is_empty() {
                runtime_facts(Some(&runtime), &mut facts).await;
            }
            let before = conditions_of(&node);
            let fresh = build_status(&config, host_ip, &facts, Some(&runtime), &before).await;
            let stored = node.status.clone().unwrap_or_default();
            if status::differs(&fresh, &stored) || last_posted.elapsed() >= STATUS_REPORT_EVERY {
                let body = json!({ "status": fresh });
                match api
                    .patch_status(
                        &config.node_name,
                        &PatchParams::default(),
                        &Patch::Merge(&body),
                    )
                    .await
                {
                    Ok(updated) => {
                        last_posted = Instant::now();
                        condition_events(&recorder, &config, &before, &conditions_of(&updated))
                            .await;
                        node = updated;
                    }
                    Err(e) if is_status(&e, 404) => {
                        tracing::warn!(node = %config.node_name, "node was deleted, registering again");
                        match register_with(&client, &config, host_ip, Some(&runtime), &facts).await
                        {
                            Ok(n) => {
                                node = n;
                                last_posted = Instant::now();
                                // The old Lease is owned by the deleted Node; replace it.
                                let leases: Api<Lease> =
                                    Api::namespaced(client.clone(), LEASE_NAMESPACE);
                                let _ = leases.delete(&config.node_name, &Default::default()).await;
                                next_lease = Instant::now();
                            }
                            Err(e) => tracing::warn!(error = %e, "registering node again"),
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "posting node status"),
                }
            }
        }
        let wake = next_lease.min(next_status);
        tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
    }
}
