//! What a request addresses and how it wants its answer.

use crate::status::{ApiError, ApiResult};
use http::HeaderMap;
use rkube_api::{find_resource, ResourceInfo};
use std::collections::HashMap;

/// A resource request: `/api/v1/...` or `/apis/<group>/<version>/...` after the group
/// version, with the namespace, name and subresource pulled out.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Path after the subresource (proxy paths).
    pub rest: String,
}

/// Splits `/api/v1/...` or `/apis/g/v/...` into (group, version, remaining segments).
pub fn split_group_version(path: &str) -> Option<(&str, &str, Vec<&str>)> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["api", version, rest @ ..] => Some(("", version, rest.to_vec())),
        ["apis", group, version, rest @ ..] => Some((group, version, rest.to_vec())),
        _ => None,
    }
}

pub fn parse_target(group: &str, version: &str, segs: &[&str]) -> ApiResult<Target> {
    let segs: Vec<&str> = segs.iter().copied().filter(|s| !s.is_empty()).collect();
    let lookup =
        |plural: &str| find_resource(group, version, plural).ok_or_else(ApiError::not_found_path);
    let (resource, namespace, tail) = match segs.as_slice() {
        [] => return Err(ApiError::not_found_path()),
        // /namespaces/{ns}/{plural}/...; namespaces/{name}/status|finalize address the
        // namespace itself.
        ["namespaces", ns, plural, tail @ ..]
            if group.is_empty() && matches!(*plural, "status" | "finalize") && tail.is_empty() =>
        {
            let _ = ns;
            (lookup("namespaces")?, None, segs[1..].to_vec())
        }
        ["namespaces", ns, plural, tail @ ..] => {
            (lookup(plural)?, Some(ns.to_string()), tail.to_vec())
        }
        [plural, tail @ ..] => (lookup(plural)?, None, tail.to_vec()),
    };
    if resource.namespaced != namespace.is_some() && !(resource.namespaced && tail.is_empty()) {
        return Err(ApiError::not_found_path());
    }
    let name = tail.first().map(|s| s.to_string());
    let subresource = tail.get(1).map(|s| s.to_string());
    if let Some(sub) = &subresource {
        if !resource.has_subresource(sub) {
            return Err(ApiError::not_found_path());
        }
    }
    let rest = if tail.len() > 2 {
        tail[2..].join("/")
    } else {
        String::new()
    };
    Ok(Target {
        resource,
        namespace,
        name,
        subresource,
        rest,
    })
}

pub type Query = HashMap<String, String>;

pub fn parse_query(q: Option<&str>) -> Query {
    q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

pub fn flag(q: &Query, name: &str) -> bool {
    matches!(q.get(name).map(String::as_str), Some("true") | Some("1"))
}

/// The response shape the client asked for in Accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Object,
    Table,
    PartialMetadata,
}

pub fn response_shape(headers: &HeaderMap) -> Shape {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Clients list alternatives in preference order; take the first one we serve.
    for alt in accept.split(',') {
        if alt.contains("as=Table") {
            return Shape::Table;
        }
        if alt.contains("as=PartialObjectMetadata") {
            return Shape::PartialMetadata;
        }
        if alt.contains("json") || alt.contains("protobuf") || alt.contains("*/*") {
            return Shape::Object;
        }
    }
    Shape::Object
}

pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(path: &str) -> ApiResult<Target> {
        let (g, v, segs) = split_group_version(path).unwrap();
        parse_target(g, v, &segs)
    }

    #[test]
    fn paths() {
        let x = t("/api/v1/namespaces/default/pods/p1/log").unwrap();
        assert_eq!(x.resource.plural, "pods");
        assert_eq!(x.namespace.as_deref(), Some("default"));
        assert_eq!(x.name.as_deref(), Some("p1"));
        assert_eq!(x.subresource.as_deref(), Some("log"));
        let x = t("/api/v1/namespaces/kube-system").unwrap();
        assert_eq!(
            (x.resource.plural, x.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let x = t("/api/v1/namespaces/foo/status").unwrap();
        assert_eq!(
            (x.name.as_deref(), x.subresource.as_deref()),
            (Some("foo"), Some("status"))
        );
        let x = t("/apis/apps/v1/deployments").unwrap();
        assert!(x.namespace.is_none() && x.name.is_none());
        let x = t("/api/v1/namespaces/d/pods/p/proxy/a/b").unwrap();
        assert_eq!(x.rest, "a/b");
        assert!(t("/api/v1/namespaces/d/nodes/n").is_err());
        assert!(t("/api/v1/widgets").is_err());
        assert!(t("/apis/apps/v1/namespaces/d/deployments/x/bogus").is_err());
    }
}
