//! Turning desired endpoints plus the existing slices into creates, updates and deletes,
//! changing as few slices as possible (upstream staging/src/k8s.io/endpointslice).

use super::desired::{endpoint_key, Group, Shape};
use crate::endpoints::pods::{is_headless, service_families};
use crate::endpoints::{now_rfc3339, HEADLESS_LABEL, LAST_CHANGE_TRIGGER_TIME};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
pub(crate) const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub(crate) const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
pub(crate) const MAX_ENDPOINTS_PER_SLICE: usize = 100;

#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<Arc<EndpointSlice>>,
}

/// Labels every slice of `svc` carries: the service's own (minus the ones we own) plus ours.
pub(crate) fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = svc
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != SERVICE_NAME_LABEL && k != MANAGED_BY_LABEL && k != HEADLESS_LABEL)
        .collect();
    labels.insert(
        SERVICE_NAME_LABEL.into(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(MANAGED_BY_LABEL.into(), CONTROLLER_NAME.into());
    if is_headless(svc) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}

fn metadata_current(slice: &EndpointSlice, svc: &Service) -> bool {
    let owned = slice
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| Some(&r.uid) == svc.metadata.uid.as_ref() && r.controller == Some(true));
    owned && slice.metadata.labels.as_ref() == Some(&slice_labels(svc))
}

fn stamp(slice: &mut EndpointSlice, svc: &Service) {
    slice.metadata.labels = Some(slice_labels(svc));
    slice.metadata.owner_references = rkube_client::objects::controller_ref(svc).map(|r| vec![r]);
    slice
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(LAST_CHANGE_TRIGGER_TIME.into(), now_rfc3339());
}

fn new_slice(
    svc: &Service,
    shape: &Shape,
    group: &Group,
    endpoints: Vec<Endpoint>,
) -> EndpointSlice {
    let mut slice = EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}-",
                svc.metadata.name.as_deref().unwrap_or("service")
            )),
            namespace: svc.metadata.namespace.clone(),
            ..Default::default()
        },
        address_type: shape.address_type.clone(),
        endpoints,
        ports: Some(group.ports.clone()),
    };
    stamp(&mut slice, svc);
    slice
}

fn is_placeholder(slice: &EndpointSlice) -> bool {
    slice.endpoints.is_empty() && slice.ports.as_ref().is_none_or(Vec::is_empty)
}

/// Computes the writes that bring `existing` (this service's slices) to `desired`.
pub(crate) fn plan(
    svc: &Service,
    mut desired: BTreeMap<Shape, Group>,
    existing: &[Arc<EndpointSlice>],
    max: usize,
) -> Plan {
    let max = max.max(1);
    let mut by_shape: BTreeMap<Shape, Vec<Arc<EndpointSlice>>> = BTreeMap::new();
    for s in existing {
        let shape = Shape::of(&s.address_type, s.ports.as_deref().unwrap_or_default());
        by_shape.entry(shape).or_default().push(s.clone());
    }
    let mut out = Plan::default();
    let mut kept = 0;
    for (shape, slices) in by_shape {
        match desired.remove(&shape) {
            Some(group) => kept += fill_shape(svc, &shape, group, slices, max, &mut out),
            None => out.delete.extend(slices),
        }
    }
    for (shape, mut group) in desired {
        let eps: Vec<Endpoint> = std::mem::take(&mut group.endpoints).into_values().collect();
        for chunk in eps.chunks(max) {
            out.create
                .push(new_slice(svc, &shape, &group, chunk.to_vec()));
        }
    }
    // A service with no endpoints still gets one empty slice, as upstream does.
    if kept + out.create.len() == 0 {
        if let Some(pos) = out.delete.iter().position(|s| is_placeholder(s)) {
            let keep = out.delete.remove(pos);
            if !metadata_current(&keep, svc) {
                let mut s = (*keep).clone();
                stamp(&mut s, svc);
                out.update.push(s);
            }
        } else {
            let family = service_families(svc).into_iter().next().unwrap_or_default();
            let shape = Shape::of(&family, &[]);
            let mut slice = new_slice(svc, &shape, &Group::default(), Vec::new());
            slice.ports = None;
            out.create.push(slice);
        }
    }
    out
}

/// Reconciles the slices of one shape; returns how many of them survive.
fn fill_shape(
    svc: &Service,
    shape: &Shape,
    mut group: Group,
    slices: Vec<Arc<EndpointSlice>>,
    max: usize,
    out: &mut Plan,
) -> usize {
    // (slice with its surviving endpoints, needs a write)
    let mut live: Vec<(EndpointSlice, bool)> = Vec::new();
    let mut emptied: Vec<Arc<EndpointSlice>> = Vec::new();
    for slice in slices {
        let mut eps = Vec::new();
        for ep in &slice.endpoints {
            if eps.len() >= max {
                break;
            }
            if let Some(want) = group.endpoints.remove(&endpoint_key(ep)) {
                eps.push(want);
            }
        }
        if eps.is_empty() {
            emptied.push(slice);
            continue;
        }
        let changed = eps != slice.endpoints || !metadata_current(&slice, svc);
        let mut s = (*slice).clone();
        s.endpoints = eps;
        live.push((s, changed));
    }
    // New endpoints go first into slices we are writing anyway, then into others with room.
    live.sort_by_key(|(_, changed)| !*changed);
    let mut remaining = std::mem::take(&mut group.endpoints).into_values();
    let mut next = remaining.next();
    for (s, changed) in &mut live {
        while s.endpoints.len() < max {
            let Some(ep) = next.take() else { break };
            s.endpoints.push(ep);
            *changed = true;
            next = remaining.next();
        }
    }
    // Reuse emptied slices before creating new ones: one write instead of two.
    for slice in emptied {
        if next.is_none() {
            out.delete.push(slice);
            continue;
        }
        let mut s = (*slice).clone();
        s.endpoints.clear();
        while s.endpoints.len() < max {
            let Some(ep) = next.take() else { break };
            s.endpoints.push(ep);
            next = remaining.next();
        }
        live.push((s, true));
    }
    let survivors = live.len();
    for (mut s, changed) in live {
        if changed {
            s.ports = Some(group.ports.clone());
            stamp(&mut s, svc);
            out.update.push(s);
        }
    }
    let rest: Vec<Endpoint> = next.into_iter().chain(remaining).collect();
    for chunk in rest.chunks(max) {
        out.create
            .push(new_slice(svc, shape, &group, chunk.to_vec()));
    }
    survivors
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ObjectReference, ServiceSpec};
    use k8s_openapi::api::discovery::v1::EndpointPort;

    fn svc() -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("ns".into()),
                uid: Some("svc-uid".into()),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some("10.96.0.5".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn ep(i: usize) -> Endpoint {
        Endpoint {
            addresses: vec![format!("10.1.{}.{}", i / 200, i % 200)],
            target_ref: Some(ObjectReference {
                uid: Some(format!("pod-{i:04}")),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn ports() -> Vec<EndpointPort> {
        vec![EndpointPort {
            name: Some("web".into()),
            port: Some(8080),
            protocol: Some("TCP".into()),
            app_protocol: None,
        }]
    }

    fn group(range: std::ops::Range<usize>) -> BTreeMap<Shape, Group> {
        let g = Group {
            ports: ports(),
            endpoints: range.map(ep).map(|e| (endpoint_key(&e), e)).collect(),
        };
        [(Shape::of("IPv4", &ports()), g)].into()
    }

    fn existing(p: &Plan) -> Vec<Arc<EndpointSlice>> {
        p.create
            .iter()
            .chain(&p.update)
            .enumerate()
            .map(|(i, s)| {
                let mut s = s.clone();
                s.metadata.name = Some(format!("web-{i}"));
                Arc::new(s)
            })
            .collect()
    }

    #[test]
    fn creates_slices_of_at_most_max_with_our_labels() {
        let p = plan(&svc(), group(0..250), &[], MAX_ENDPOINTS_PER_SLICE);
        let sizes: Vec<usize> = p.create.iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        let s = &p.create[0];
        let labels = s.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[SERVICE_NAME_LABEL], "web");
        assert_eq!(labels[MANAGED_BY_LABEL], CONTROLLER_NAME);
        assert_eq!(labels["app"], "web");
        assert_eq!(s.metadata.generate_name.as_deref(), Some("web-"));
        let owner = &s.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Service", "svc-uid")
        );
        assert_eq!(s.address_type, "IPv4");
    }

    #[test]
    fn steady_state_writes_nothing_and_changes_touch_few_slices() {
        let first = plan(&svc(), group(0..250), &[], 100);
        let slices = existing(&first);
        let again = plan(&svc(), group(0..250), &slices, 100);
        assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty());
        // Remove one endpoint from the first slice and add a new one: one update only.
        let mut g = group(1..251);
        assert_eq!(g.values().next().unwrap().endpoints.len(), 250);
        let p = plan(&svc(), std::mem::take(&mut g), &slices, 100);
        assert!(p.create.is_empty() && p.delete.is_empty());
        assert_eq!(p.update.len(), 1);
    }

    #[test]
    fn emptied_slices_go_and_empty_services_keep_a_placeholder() {
        let first = plan(&svc(), group(0..150), &[], 100);
        let slices = existing(&first);
        let p = plan(&svc(), group(0..50), &slices, 100);
        // The 100-slice keeps 50 (updated), the 50-slice (100..150) is deleted.
        assert_eq!(p.delete.len(), 1);
        assert_eq!(p.update.len(), 1);
        let none = plan(&svc(), BTreeMap::new(), &slices, 100);
        assert_eq!(none.delete.len(), 2);
        assert_eq!(none.create.len(), 1);
        assert!(none.create[0].endpoints.is_empty());
        // The placeholder, once it exists, is kept as is.
        let holder = existing(&none);
        let steady = plan(&svc(), BTreeMap::new(), &holder, 100);
        assert!(steady.create.is_empty() && steady.delete.is_empty() && steady.update.is_empty());
        // And reused for the first endpoints? It has another shape (no ports): replaced.
        let back = plan(&svc(), group(0..3), &holder, 100);
        assert_eq!((back.create.len(), back.delete.len()), (1, 1));
    }
}
