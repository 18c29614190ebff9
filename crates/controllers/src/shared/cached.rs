//! The projection of a Pod the shared informer keeps. A pod as the API returns it is
//! several KiB (managedFields, last-applied annotations, full container specs and
//! states), and even an emptied typed `Pod` is over 2 KiB inline (a `Container` alone is
//! 2 KiB); with 150,000 pods that is gigabytes. The controllers read only the fields
//! below, so that is all that is kept.
//!
//! Kept, and who reads it:
//! - identity: namespace, name, uid (everyone); resourceVersion (the ReplicaSet
//!   controller's optimistic adopt/release patches; event references);
//! - labels (selectors of ReplicaSets, Services, quotas);
//! - ownerReferences (ReplicaSet claim, garbage collector), finalizers and whether a
//!   deletion started (garbage collector, "active pod" checks);
//! - creationTimestamp and the `controller.kubernetes.io/pod-deletion-cost` annotation
//!   (which pods a scale-down removes first);
//! - nodeName (deletion ranking, endpoints, node lifecycle), hostname and subdomain
//!   (endpoint hostnames), tolerations (taint eviction);
//! - named container ports, sidecars included (named Service targetPorts);
//! - phase, pod IPs, the Ready condition and when it became true (ready/available
//!   counts, endpoint readiness, node lifecycle), the highest container restart count
//!   (deletion ranking).
//!
//! A controller that starts reading another pod field must add it here.

use k8s_openapi::api::core::v1::{Pod, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use std::collections::BTreeMap;

const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// A container port a Service's named targetPort can resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPort {
    pub name: String,
    pub protocol: String,
    pub number: i32,
}

/// What the controllers know of one pod; see the module comment for why each field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CachedPod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub labels: BTreeMap<String, String>,
    pub owner_references: Vec<OwnerReference>,
    pub finalizers: Vec<String>,
    /// creationTimestamp in Unix milliseconds.
    pub created: Option<i64>,
    /// deletionTimestamp is set.
    pub deleting: bool,
    /// The pod-deletion-cost annotation, 0 when absent or unparsable.
    pub deletion_cost: i32,
    pub node_name: Option<String>,
    pub hostname: Option<String>,
    pub subdomain: Option<String>,
    pub tolerations: Vec<Toleration>,
    pub ports: Vec<NamedPort>,
    pub phase: String,
    /// status.podIP first, then the rest of status.podIPs.
    pub ips: Vec<String>,
    /// The Ready condition is True.
    pub ready: bool,
    /// When the Ready condition last turned True (Unix ms), while it is True.
    pub ready_since: Option<i64>,
    /// The highest restart count among the containers.
    pub max_restarts: i32,
}

fn protocol(p: Option<&String>) -> String {
    p.cloned().unwrap_or_else(|| "TCP".into())
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl CachedPod {
    pub fn from_pod(pod: Pod) -> Self {
        let meta = pod.metadata;
        let spec = pod.spec.unwrap_or_default();
        let status = pod.status.unwrap_or_default();
        // Sidecars (init containers that keep running) serve ports too.
        let sidecars = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"));
        let ports = spec
            .containers
            .iter()
            .chain(sidecars)
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| {
                Some(NamedPort {
                    name: p.name.clone()?,
                    protocol: protocol(p.protocol.as_ref()),
                    number: p.container_port,
                })
            })
            .collect();
        let mut ips: Vec<String> = status
            .pod_ips
            .into_iter()
            .flatten()
            .map(|ip| ip.ip)
            .collect();
        if let Some(ip) = non_empty(status.pod_ip) {
            if !ips.contains(&ip) {
                ips.insert(0, ip);
            }
        }
        let ready_condition = status
            .conditions
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "Ready");
        let ready = ready_condition.as_ref().is_some_and(|c| c.status == "True");
        let ready_since = ready_condition
            .filter(|_| ready)
            .and_then(|c| c.last_transition_time)
            .map(|t| t.0.as_millisecond());
        let max_restarts = status
            .container_statuses
            .iter()
            .flatten()
            .map(|c| c.restart_count)
            .max()
            .unwrap_or(0);
        let deletion_cost = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(DELETION_COST))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Self {
            namespace: meta.namespace.unwrap_or_default(),
            name: meta.name.unwrap_or_default(),
            uid: meta.uid.unwrap_or_default(),
            resource_version: meta.resource_version.unwrap_or_default(),
            labels: meta.labels.unwrap_or_default(),
            owner_references: meta.owner_references.unwrap_or_default(),
            finalizers: meta.finalizers.unwrap_or_default(),
            created: meta.creation_timestamp.map(|t| t.0.as_millisecond()),
            deleting: meta.deletion_timestamp.is_some(),
            deletion_cost,
            node_name: non_empty(spec.node_name),
            hostname: non_empty(spec.hostname),
            subdomain: non_empty(spec.subdomain),
            tolerations: spec.tolerations.unwrap_or_default(),
            ports,
            phase: status.phase.unwrap_or_default(),
            ips,
            ready,
            ready_since,
            max_restarts,
        }
    }

    /// The owner reference marked controller, as upstream's GetControllerOf.
    pub fn controller(&self) -> Option<&OwnerReference> {
        self.owner_references
            .iter()
            .find(|r| r.controller == Some(true))
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// A reference for events and patches about this pod.
    pub fn reference(&self) -> k8s_openapi::api::core::v1::ObjectReference {
        k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            namespace: Some(self.namespace.clone()),
            name: Some(self.name.clone()),
            uid: Some(self.uid.clone()),
            resource_version: Some(self.resource_version.clone()),
            field_path: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, ContainerStatus, PodCondition, PodIP, PodSpec, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use k8s_openapi::jiff::Timestamp;

    fn t(ms: i64) -> Option<Time> {
        Some(Time(Timestamp::from_millisecond(ms).unwrap()))
    }

    fn port(name: &str, n: i32, proto: Option<&str>) -> ContainerPort {
        ContainerPort {
            name: Some(name.into()),
            container_port: n,
            protocol: proto.map(Into::into),
            ..Default::default()
        }
    }

    fn full() -> Pod {
        let mut ann = BTreeMap::new();
        ann.insert(
            "kubectl.kubernetes.io/last-applied-configuration".into(),
            "{}".into(),
        );
        ann.insert(DELETION_COST.into(), "-7".into());
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u".into()),
                resource_version: Some("9".into()),
                annotations: Some(ann),
                creation_timestamp: t(1_000),
                owner_references: Some(vec![
                    OwnerReference {
                        uid: "other".into(),
                        ..Default::default()
                    },
                    OwnerReference {
                        uid: "rs".into(),
                        controller: Some(true),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                hostname: Some(String::new()),
                tolerations: Some(vec![Toleration::default()]),
                containers: vec![Container {
                    name: "app".into(),
                    image: Some("img".into()),
                    ports: Some(vec![port("http", 80, None), ContainerPort::default()]),
                    ..Default::default()
                }],
                init_containers: Some(vec![
                    Container {
                        name: "setup".into(),
                        ports: Some(vec![port("init", 1, None)]),
                        ..Default::default()
                    },
                    Container {
                        name: "sidecar".into(),
                        restart_policy: Some("Always".into()),
                        ports: Some(vec![port("dns", 53, Some("UDP"))]),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: Some("10.0.0.1".into()),
                pod_ips: Some(vec![
                    PodIP {
                        ip: "10.0.0.1".into(),
                    },
                    PodIP {
                        ip: "fd00::1".into(),
                    },
                ]),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: t(5_000),
                    ..Default::default()
                }]),
                container_statuses: Some(vec![
                    ContainerStatus {
                        restart_count: 2,
                        ..Default::default()
                    },
                    ContainerStatus {
                        restart_count: 4,
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn projects_what_controllers_read() {
        let c = CachedPod::from_pod(full());
        assert_eq!(c.key(), "ns/p");
        assert_eq!(c.resource_version, "9");
        assert_eq!(c.deletion_cost, -7);
        assert_eq!(c.created, Some(1_000));
        assert_eq!(c.controller().map(|r| r.uid.as_str()), Some("rs"));
        assert_eq!(c.node_name.as_deref(), Some("n1"));
        assert_eq!(c.hostname, None, "empty strings mean unset");
        assert_eq!(c.tolerations.len(), 1);
        let names: Vec<&str> = c.ports.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["http", "dns"],
            "unnamed ports and plain init containers left out"
        );
        assert_eq!(c.ports[1].protocol, "UDP");
        assert_eq!(c.ips, ["10.0.0.1", "fd00::1"]);
        assert!(c.ready);
        assert_eq!(c.ready_since, Some(5_000));
        assert_eq!(c.max_restarts, 4);
        assert!(!c.deleting);
    }

    #[test]
    fn not_ready_has_no_ready_time_and_bad_cost_is_zero() {
        let mut p = full();
        if let Some(s) = p.status.as_mut() {
            s.conditions.as_mut().unwrap()[0].status = "False".into();
            s.pod_ips = None;
        }
        p.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(DELETION_COST.into(), "lots".into());
        let c = CachedPod::from_pod(p);
        assert!(!c.ready);
        assert_eq!(c.ready_since, None);
        assert_eq!(c.deletion_cost, 0);
        assert_eq!(c.ips, ["10.0.0.1"]);
        assert_eq!(CachedPod::from_pod(Pod::default()), CachedPod::default());
    }
}
