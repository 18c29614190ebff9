//! Built-in objects every cluster starts with, and emptying namespaces being deleted.
//!
//! Namespace finalization belongs to the controller manager upstream; until ours exists
//! the server empties a Terminating namespace itself so `kubectl delete namespace`
//! completes.

use crate::lifecycle::{for_storage, prepare_create, str_at};
use crate::state::Api;
use rkube_api::{find_resource, resources};
use rkube_store::StoreError;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

async fn ensure(
    api: &Api,
    plural: &str,
    ns: Option<&str>,
    mut obj: Value,
) -> Result<(), StoreError> {
    let Some(res) = find_resource("", "v1", plural) else {
        return Ok(());
    };
    let key = res.key(ns, str_at(&obj, "/metadata/name"));
    if api.store.get(&key).await?.is_some() {
        return Ok(());
    }
    rkube_validation::apply_defaults(res.group, res.plural, &mut obj);
    prepare_create(res, &mut obj);
    match api.store.create(&key, for_storage(res, &obj).into()).await {
        Ok(_) | Err(StoreError::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn bootstrap(api: &Api, apiserver_port: u16) -> Result<(), StoreError> {
    for ns in SYSTEM_NAMESPACES {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}});
        ensure(api, "namespaces", None, obj).await?;
    }
    let ip = api.ranges.first_ip();
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "type": "ClusterIP", "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": apiserver_port}]},
    });
    ensure(api, "services", Some("default"), svc).await
}

/// Deletes everything in namespaces marked for deletion, then the namespaces.
pub async fn finalize_loop(api: Arc<Api>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let (namespaces, _) = api.cache.list("/registry/namespaces/", None);
        for (key, ns) in namespaces
            .iter()
            .filter(|(_, n)| n.pointer("/metadata/deletionTimestamp").is_some())
        {
            let name = str_at(ns, "/metadata/name").to_string();
            if let Err(e) = finalize(&api, key, &name).await {
                tracing::warn!(namespace = %name, error = %e, "namespace finalization");
            }
        }
    }
}

async fn finalize(api: &Api, key: &str, name: &str) -> Result<(), StoreError> {
    let mut remaining = 0;
    for res in resources().iter().filter(|r| r.namespaced && r.is_stored()) {
        let (objects, _) = api.cache.list(&res.key_prefix(Some(name)), None);
        for (k, obj) in objects {
            remaining += 1;
            let rev = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|r| r.parse().ok());
            match api.store.delete(&k, rev).await {
                Ok(_) | Err(StoreError::NotFound(_)) | Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    if remaining == 0 {
        if let Some(kv) = api.store.get(key).await? {
            match api.store.delete(key, Some(kv.mod_revision)).await {
                Ok(_) | Err(StoreError::NotFound(_)) | Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
