//! Built-in objects every cluster starts with: the system namespaces, the `kubernetes`
//! Service with endpoints at the API server, and the `kube-dns` Service in front of the
//! cluster DNS server when one runs. Endpoints of these selector-less services are the
//! server's to keep (the endpoints controllers leave services without selectors alone).

use crate::lifecycle::{for_storage, prepare_create, prepare_update, str_at};
use crate::state::Api;
use rkube_api::find_resource;
use rkube_store::StoreError;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};

pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// What the built-in services point at.
#[derive(Debug, Clone, Default)]
pub struct BuiltIns {
    /// Address pods reach the API server at (the `kubernetes` service's endpoint).
    pub endpoint_ip: Option<IpAddr>,
    pub apiserver_port: u16,
    /// The cluster DNS service: its ClusterIP and where the DNS server listens.
    pub dns: Option<(IpAddr, SocketAddr)>,
}

async fn ensure(
    api: &Api,
    group: &str,
    version: &str,
    plural: &str,
    ns: Option<&str>,
    mut obj: Value,
) -> Result<(), StoreError> {
    let Some(res) = find_resource(group, version, plural) else {
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

/// Creates the object, or replaces the fields we own when they differ (addresses change
/// when the node's IP does).
async fn upsert(
    api: &Api,
    group: &str,
    version: &str,
    plural: &str,
    ns: &str,
    mut obj: Value,
    owned: &[&str],
) -> Result<(), StoreError> {
    let Some(res) = find_resource(group, version, plural) else {
        return Ok(());
    };
    rkube_validation::apply_defaults(res.group, res.plural, &mut obj);
    let key = res.key(Some(ns), str_at(&obj, "/metadata/name"));
    let Some(current) = api.store.get(&key).await? else {
        return ensure(api, group, version, plural, Some(ns), obj).await;
    };
    let old: Value = serde_json::from_slice(&current.value).unwrap_or(Value::Null);
    if owned.iter().all(|f| old.get(*f) == obj.get(*f))
        && old.pointer("/metadata/labels") == obj.pointer("/metadata/labels")
    {
        return Ok(());
    }
    let mut merged = old.clone();
    for f in owned {
        merged[*f] = obj[*f].take();
    }
    merged["metadata"]["labels"] = obj["metadata"]["labels"].take();
    prepare_update(res, &mut merged, &old);
    match api
        .store
        .update(&key, for_storage(res, &merged).into(), current.mod_revision)
        .await
    {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// Endpoints + EndpointSlice of a selector-less service with one address.
async fn point_service_at(
    api: &Api,
    ns: &str,
    service: &str,
    ip: IpAddr,
    ports: &[(&str, u16, &str)],
) -> Result<(), StoreError> {
    let ep_ports: Vec<Value> = ports
        .iter()
        .map(|(name, port, proto)| json!({"name": name, "port": port, "protocol": proto}))
        .collect();
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": service, "namespace": ns, "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip.to_string()}], "ports": ep_ports}],
    });
    upsert(api, "", "v1", "endpoints", ns, endpoints, &["subsets"]).await?;
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": service, "namespace": ns, "labels": {
            "kubernetes.io/service-name": service,
            "endpointslice.kubernetes.io/managed-by": "rkube-apiserver",
        }},
        "addressType": family(ip),
        "endpoints": [{"addresses": [ip.to_string()], "conditions": {"ready": true, "serving": true, "terminating": false}}],
        "ports": ep_ports,
    });
    upsert(
        api,
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        ns,
        slice,
        &["endpoints", "ports", "addressType"],
    )
    .await
}

pub async fn bootstrap(api: &Api, built_ins: &BuiltIns) -> Result<(), StoreError> {
    for ns in SYSTEM_NAMESPACES {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}});
        ensure(api, "", "v1", "namespaces", None, obj).await?;
    }
    let port = built_ins.apiserver_port;
    let ip = api.ranges.first_ip();
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "type": "ClusterIP", "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    });
    upsert(api, "", "v1", "services", "default", svc, &["spec"]).await?;
    if let Some(endpoint) = built_ins.endpoint_ip {
        point_service_at(
            api,
            "default",
            "kubernetes",
            endpoint,
            &[("https", port, "TCP")],
        )
        .await?;
    }
    if let Some((cluster_ip, listen)) = built_ins.dns {
        let ip = cluster_ip.to_string();
        let svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                                    "kubernetes.io/name": "CoreDNS"}},
            "spec": {"clusterIP": ip, "clusterIPs": [ip], "type": "ClusterIP", "sessionAffinity": "None",
                     "ports": [
                        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": listen.port()},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": listen.port()},
                     ]},
        });
        ensure(api, "", "v1", "services", Some("kube-system"), svc).await?;
        point_service_at(
            api,
            "kube-system",
            "kube-dns",
            listen.ip(),
            &[
                ("dns", listen.port(), "UDP"),
                ("dns-tcp", listen.port(), "TCP"),
            ],
        )
        .await?;
    }
    Ok(())
}
