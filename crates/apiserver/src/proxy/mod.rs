//! Subresources that are not stored objects but connections: pods/log, exec, attach and
//! portforward go to the pod's kubelet; pods/proxy and services/proxy go to the pod (or a
//! ready endpoint) directly; nodes/proxy goes to the kubelet.

mod forward;
mod targets;

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::Request;
use serde_json::Value;

use crate::request::{Query, Target};
use crate::state::Api;
use crate::status::{ApiError, ApiResult};
pub use forward::kubelet_tls;
use forward::{forward, Backend};

/// How the API server authenticates to kubelets.
#[derive(Clone)]
pub struct KubeletClient {
    tls: Arc<rustls::ClientConfig>,
}

impl KubeletClient {
    pub fn new(tls: rustls::ClientConfig) -> Self {
        KubeletClient { tls: Arc::new(tls) }
    }
}

/// Subresources answered by forwarding the connection rather than from the store.
pub fn is_connect(t: &Target) -> bool {
    matches!(
        (t.resource.plural, t.subresource.as_deref()),
        (
            "pods",
            Some("log" | "exec" | "attach" | "portforward" | "proxy")
        ) | ("services" | "nodes", Some("proxy"))
    )
}

pub async fn serve(
    api: &Arc<Api>,
    t: &Target,
    q: &Query,
    req: Request<Body>,
) -> ApiResult<Response> {
    let name = t.name.as_deref().unwrap_or_default();
    let sub = t.subresource.as_deref().unwrap_or_default();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let backend = match (t.resource.plural, sub) {
        ("pods", "proxy") => {
            let rest = proxy_rest(req.uri().path(), name);
            targets::pod_http(api, t, name, &rest, &raw_query).await?
        }
        ("services", "proxy") => {
            let rest = proxy_rest(req.uri().path(), name);
            targets::service_http(api, t, name, &rest, &raw_query).await?
        }
        ("nodes", "proxy") => {
            let rest = proxy_rest(req.uri().path(), name);
            let (node, port) = split_port(name);
            let addr = targets::kubelet_addr(api, node, port).await?;
            Backend {
                addr,
                tls: Some(api.kubelet.tls.clone()),
                path_and_query: with_query(&rest, &raw_query),
            }
        }
        ("pods", _) => {
            let pod = targets::pod(api, t, name).await?;
            let path = kubelet_path(&pod, sub, q)?;
            let node = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("pod {name} does not have a host assigned"))
                })?;
            let addr = targets::kubelet_addr(api, node, None).await?;
            let query = if sub == "log" {
                log_query(q)
            } else {
                raw_query
            };
            Backend {
                addr,
                tls: Some(api.kubelet.tls.clone()),
                path_and_query: with_query(&path, &query),
            }
        }
        _ => return Err(ApiError::not_found_path()),
    };
    forward(backend, req).await
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// `NAME:PORT` or `SCHEME:NAME:PORT` → (NAME, PORT) (the scheme is ignored for nodes).
fn split_port(name: &str) -> (&str, Option<&str>) {
    let parts: Vec<&str> = name.split(':').collect();
    match parts.as_slice() {
        [n] => (n, None),
        [s, n] if matches!(*s, "http" | "https") => (n, None),
        [n, p] => (n, Some(p)),
        [_, n, p] => (n, Some(p)),
        _ => (name, None),
    }
}

/// The path after `<name>/proxy` in the request, always starting with `/`.
fn proxy_rest(path: &str, name: &str) -> String {
    let marker = format!("/{name}/proxy");
    match path.find(&marker) {
        Some(i) => {
            let rest = &path[i + marker.len()..];
            if rest.is_empty() {
                "/".to_string()
            } else {
                rest.to_string()
            }
        }
        None => "/".to_string(),
    }
}

fn container_names(pod: &Value) -> Vec<String> {
    ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|f| {
            pod.pointer(&format!("/spec/{f}"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The kubelet path for a pod subresource, with the container defaulted and checked as
/// upstream does.
fn kubelet_path(pod: &Value, sub: &str, q: &Query) -> ApiResult<String> {
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if sub == "portforward" {
        return Ok(format!("/portForward/{ns}/{name}"));
    }
    let names = container_names(pod);
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !names.contains(c) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.clone()
        }
        None => {
            let main: Vec<String> = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if main.len() != 1 {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    main.join(" ")
                )));
            }
            main[0].clone()
        }
    };
    let prefix = match sub {
        "log" => "containerLogs",
        other => other,
    };
    Ok(format!("/{prefix}/{ns}/{name}/{container}"))
}

/// The log options the kubelet understands, re-encoded (the container is in the path).
fn log_query(q: &Query) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for key in [
        "follow",
        "previous",
        "timestamps",
        "sinceSeconds",
        "sinceTime",
        "tailLines",
        "limitBytes",
    ] {
        if let Some(v) = q.get(key) {
            out.append_pair(key, v);
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_with_ports_and_schemes() {
        assert_eq!(split_port("web"), ("web", None));
        assert_eq!(split_port("web:8080"), ("web", Some("8080")));
        assert_eq!(split_port("https:web:443"), ("web", Some("443")));
        assert_eq!(split_port("http:web"), ("web", None));
    }

    #[test]
    fn proxy_rest_keeps_the_trailing_path() {
        let p = "/api/v1/namespaces/default/pods/web:8080/proxy/a/b/";
        assert_eq!(proxy_rest(p, "web:8080"), "/a/b/");
        assert_eq!(
            proxy_rest("/api/v1/namespaces/default/pods/web/proxy", "web"),
            "/"
        );
    }

    #[test]
    fn containers_are_defaulted_and_checked() {
        let one = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [{"name": "app"}]}});
        let q = Query::new();
        assert_eq!(
            kubelet_path(&one, "log", &q).unwrap(),
            "/containerLogs/ns/p/app"
        );
        assert_eq!(
            kubelet_path(&one, "portforward", &q).unwrap(),
            "/portForward/ns/p"
        );
        let mut bad = Query::new();
        bad.insert("container".into(), "nope".into());
        let e = kubelet_path(&one, "exec", &bad).unwrap_err();
        assert_eq!(e.message, "container nope is not valid for pod p");
        let two = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let e = kubelet_path(&two, "log", &q).unwrap_err();
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b]"
        );
    }

    #[test]
    fn log_options_pass_through_without_the_container() {
        let mut q = Query::new();
        q.insert("container".into(), "app".into());
        q.insert("follow".into(), "true".into());
        q.insert("tailLines".into(), "5".into());
        let s = log_query(&q);
        assert!(s.contains("follow=true") && s.contains("tailLines=5"));
        assert!(!s.contains("container"));
    }
}
