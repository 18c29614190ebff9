//! Where a connect request goes: a pod's IP and port, a service's ready endpoint, a
//! node's kubelet.

use std::net::{IpAddr, SocketAddr};

use serde_json::Value;

use super::forward::Backend;
use super::{split_port, with_query};
use crate::request::Target;
use crate::state::Api;
use crate::status::{ApiError, ApiResult};

const DEFAULT_KUBELET_PORT: u16 = 10250;

async fn object(api: &Api, plural: &str, ns: Option<&str>, name: &str) -> ApiResult<Value> {
    let res = rkube_api::find_resource("", "v1", plural).ok_or_else(ApiError::not_found_path)?;
    api.current_value(res, &res.key(ns, name))
        .await
        .ok_or_else(|| ApiError::not_found("", plural, name))
}

/// The pod a pod subresource addresses (the name may carry `:port`).
pub async fn pod(api: &Api, t: &Target, name: &str) -> ApiResult<Value> {
    let (pod, _) = split_port(name);
    object(api, "pods", t.namespace.as_deref(), pod).await
}

fn scheme_of(name: &str) -> bool {
    name.starts_with("https:")
}

/// pods/NAME[:PORT]/proxy: the pod's IP and the given (or first declared) port.
pub async fn pod_http(
    api: &Api,
    t: &Target,
    name: &str,
    rest: &str,
    query: &str,
) -> ApiResult<Backend> {
    let pod = pod(api, t, name).await?;
    let (pod_name, port) = split_port(name);
    let ip: IpAddr = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("pod {pod_name} does not have an IP address yet"),
            )
        })?;
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let declared = containers.iter().flat_map(|c| {
        c.get("ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    });
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) => n,
            Err(_) => declared
                .clone()
                .find(|cp| cp.get("name").and_then(Value::as_str) == Some(p))
                .and_then(|cp| cp.get("containerPort").and_then(Value::as_u64))
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("no such port {p} on pod {pod_name}"))
                })?,
        },
        None => declared
            .clone()
            .next()
            .and_then(|cp| cp.get("containerPort").and_then(Value::as_u64))
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(80),
    };
    backend(api, SocketAddr::new(ip, port), scheme_of(name), rest, query)
}

fn backend(
    api: &Api,
    addr: SocketAddr,
    https: bool,
    rest: &str,
    query: &str,
) -> ApiResult<Backend> {
    Ok(Backend {
        addr,
        tls: https.then(|| api.kubelet.tls.clone()),
        path_and_query: with_query(rest, query),
    })
}

/// services/NAME[:PORT]/proxy: a ready endpoint of the chosen service port.
pub async fn service_http(
    api: &Api,
    t: &Target,
    name: &str,
    rest: &str,
    query: &str,
) -> ApiResult<Backend> {
    let (svc_name, port) = split_port(name);
    let ns = t.namespace.as_deref();
    let svc = object(api, "services", ns, svc_name).await?;
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let chosen = match port {
        None => ports.first().cloned(),
        Some(p) => ports
            .iter()
            .find(|sp| {
                sp.get("name").and_then(Value::as_str) == Some(p)
                    || sp
                        .get("port")
                        .and_then(Value::as_u64)
                        .map(|n| n.to_string())
                        .as_deref()
                        == Some(p)
            })
            .cloned(),
    }
    .ok_or_else(|| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{svc_name}\""),
        )
    })?;
    let port_name = chosen.get("name").and_then(Value::as_str).unwrap_or("");
    let endpoints = object(api, "endpoints", ns, svc_name)
        .await
        .map_err(|_| no_endpoints(svc_name))?;
    let mut candidates = Vec::new();
    for subset in endpoints
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(ep_port) = subset
            .get("ports")
            .and_then(Value::as_array)
            .and_then(|ps| {
                ps.iter()
                    .find(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == port_name)
            })
            .and_then(|p| p.get("port").and_then(Value::as_u64))
            .and_then(|n| u16::try_from(n).ok())
        else {
            continue;
        };
        for addr in subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(ip) = addr
                .get("ip")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<IpAddr>().ok())
            {
                candidates.push(SocketAddr::new(ip, ep_port));
            }
        }
    }
    if candidates.is_empty() {
        return Err(no_endpoints(svc_name));
    }
    let pick = candidates[rand::random_range(0..candidates.len())];
    backend(api, pick, scheme_of(name), rest, query)
}

fn no_endpoints(svc: &str) -> ApiError {
    ApiError::new(
        503,
        "ServiceUnavailable",
        format!("no endpoints available for service \"{svc}\""),
    )
}

/// The kubelet of `node`: its InternalIP (else first address) and its advertised port.
pub async fn kubelet_addr(api: &Api, node: &str, port: Option<&str>) -> ApiResult<SocketAddr> {
    let obj = object(api, "nodes", None, node).await?;
    let addresses = obj
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pick = |kind: &str| {
        addresses
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) == Some(kind))
            .find_map(|a| {
                a.get("address")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<IpAddr>().ok())
            })
    };
    let ip = pick("InternalIP")
        .or_else(|| pick("ExternalIP"))
        .ok_or_else(|| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("node {node} has no address"),
            )
        })?;
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid port {p}")))?,
        None => obj
            .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|p| *p != 0)
            .unwrap_or(DEFAULT_KUBELET_PORT),
    };
    Ok(SocketAddr::new(ip, port))
}
