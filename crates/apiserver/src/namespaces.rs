//! Built-in objects every cluster starts with.

use crate::lifecycle::{for_storage, prepare_create, str_at};
use crate::state::Api;
use rkube_api::find_resource;
use rkube_store::StoreError;
use serde_json::{json, Value};

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
