//! The collector's writes and live reads, over any served resource.

use super::graph::{Node, OwnerRef, OwnerState, Policy, FOREGROUND};
use super::resources::{by_kind, Served};
use crate::Result;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams, Preconditions, PropagationPolicy};
use kube::Client;

/// The status code of an API error, if the error is one.
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

pub fn api_for(client: &Client, s: &Served, namespace: Option<&str>) -> Api<DynamicObject> {
    match (s.namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &s.api),
        _ => Api::all_with(client.clone(), &s.api),
    }
}

/// Asks the server about an owner the graph has not seen (it may just be slow to
/// arrive, so absence in the graph alone never justifies a deletion).
pub async fn owner_state(
    client: &Client,
    resources: &[Served],
    r: &OwnerRef,
    namespace: Option<&str>,
) -> Result<OwnerState> {
    let Some(s) = by_kind(resources, &r.api_version, &r.kind) else {
        // A kind we cannot look up is treated as present: never delete on a guess.
        return Ok(OwnerState::Unknown);
    };
    if s.namespaced && namespace.is_none() {
        // A cluster-scoped dependent cannot have a namespaced owner: the reference
        // can never resolve, as upstream treats it.
        return Ok(OwnerState::Absent);
    }
    let api = api_for(client, s, namespace);
    let found = api.get_metadata_opt(&r.name).await?;
    Ok(match found {
        None => OwnerState::Absent,
        Some(m) if m.metadata.uid.as_deref() != Some(r.uid.as_str()) => OwnerState::Absent,
        Some(m)
            if m.metadata.deletion_timestamp.is_some()
                && m.metadata
                    .finalizers
                    .iter()
                    .flatten()
                    .any(|f| f == FOREGROUND) =>
        {
            OwnerState::Waiting
        }
        Some(_) => OwnerState::Present,
    })
}

/// Deletes `node` (only that incarnation of it: the uid is a precondition).
pub async fn delete(
    client: &Client,
    resources: &[Served],
    node: &Node,
    policy: Policy,
) -> Result<()> {
    let Some(s) = resources.get(node.res) else {
        return Ok(());
    };
    let dp = DeleteParams {
        propagation_policy: Some(match policy {
            Policy::Background => PropagationPolicy::Background,
            Policy::Foreground => PropagationPolicy::Foreground,
            Policy::Orphan => PropagationPolicy::Orphan,
        }),
        preconditions: Some(Preconditions {
            uid: Some(node.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api_for(client, s, node.namespace.as_deref())
        .delete(&node.name, &dp)
        .await
    {
        Ok(_) => {
            tracing::debug!(resource = %s.qualified(), name = %node.name, policy = policy.as_str(), "garbage collected");
            Ok(())
        }
        // Already gone, or replaced by a namesake: nothing of ours to delete.
        Err(e) if matches!(api_code(&e), Some(404 | 409)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reads, changes and writes back the metadata of `node`, retrying on conflicts.
/// `change` returns false when there is nothing to write.
pub async fn update_meta(
    client: &Client,
    resources: &[Served],
    node: &Node,
    change: impl Fn(&mut ObjectMeta) -> bool,
) -> Result<()> {
    let Some(s) = resources.get(node.res) else {
        return Ok(());
    };
    let api = api_for(client, s, node.namespace.as_deref());
    let mut last = None;
    for _ in 0..5 {
        let Some(mut obj) = api.get_opt(&node.name).await? else {
            return Ok(());
        };
        if obj.metadata.uid.as_deref() != Some(node.uid.as_str()) || !change(&mut obj.metadata) {
            return Ok(());
        }
        match api.replace(&node.name, &PostParams::default(), &obj).await {
            Ok(_) => return Ok(()),
            Err(e) if api_code(&e) == Some(404) => return Ok(()),
            Err(e) if api_code(&e) == Some(409) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    match last {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Removes the references to the owner uids in `owners` from `node`.
pub async fn drop_refs(
    client: &Client,
    resources: &[Served],
    node: &Node,
    owners: &[String],
) -> Result<()> {
    update_meta(client, resources, node, |meta| {
        let Some(refs) = meta.owner_references.as_mut() else {
            return false;
        };
        let before = refs.len();
        refs.retain(|r| !owners.contains(&r.uid));
        if refs.is_empty() {
            meta.owner_references = None;
        }
        meta.owner_references.as_ref().map_or(0, Vec::len) != before
    })
    .await
}

pub async fn remove_finalizer(
    client: &Client,
    resources: &[Served],
    node: &Node,
    finalizer: &str,
) -> Result<()> {
    update_meta(client, resources, node, |meta| {
        let Some(list) = meta.finalizers.as_mut() else {
            return false;
        };
        let before = list.len();
        list.retain(|f| f != finalizer);
        list.len() != before
    })
    .await
}
