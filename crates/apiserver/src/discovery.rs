//! /version and API discovery, legacy and aggregated (v2 and v2beta1).

use rkube_api::registry::{ResourceInfo, ALL_VERBS, GROUPS};
use rkube_api::resources;
use serde_json::{json, Value};

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "emulationMajor": "1", "emulationMinor": "33",
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "32",
        "gitVersion": concat!("v1.33.0+rkube-", env!("CARGO_PKG_VERSION")),
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "rust", "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

/// Which aggregated discovery version the Accept header asks for, if any.
pub fn aggregated_version(accept: &str) -> Option<&'static str> {
    for alt in accept.split(',') {
        if alt.contains("as=APIGroupDiscoveryList") {
            if alt.contains("v=v2beta1") {
                return Some("v2beta1");
            }
            if alt.contains("v=v2") {
                return Some("v2");
            }
        }
        if alt.trim().starts_with("application/json") && !alt.contains("as=") {
            return None;
        }
    }
    None
}

pub fn aggregated_content_type(v: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList")
}

fn verbs(res: &ResourceInfo) -> Vec<&'static str> {
    if res.is_stored() {
        ALL_VERBS.to_vec()
    } else {
        vec!["create"]
    }
}

fn of_group(group: &str) -> impl Iterator<Item = &'static ResourceInfo> + '_ {
    resources().iter().filter(move |r| r.group == group)
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})
}

fn group_entry(group: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

pub fn api_group_list() -> Value {
    let groups: Vec<Value> = GROUPS.iter().map(|g| group_entry(g)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_group(group: &str) -> Option<Value> {
    GROUPS.contains(&group).then(|| {
        let mut g = group_entry(group);
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        g
    })
}

pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    if version != "v1" || !(group.is_empty() || GROUPS.contains(&group)) {
        return None;
    }
    let mut out = Vec::new();
    for r in of_group(group) {
        let mut e = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                           "kind": r.kind, "verbs": verbs(r)});
        if !r.short_names.is_empty() {
            e["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            e["categories"] = json!(r.categories);
        }
        out.push(e);
        for s in r.subresources {
            let mut e = json!({"name": format!("{}/{}", r.plural, s.name), "singularName": "",
                               "namespaced": r.namespaced, "kind": if s.kind.is_empty() { r.kind } else { s.kind },
                               "verbs": s.verbs});
            if !s.group.is_empty() {
                e["group"] = json!(s.group);
                e["version"] = json!(s.version);
            }
            out.push(e);
        }
    }
    let gv = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}),
    )
}

fn aggregated_group(group: &str) -> Value {
    let resources: Vec<Value> = of_group(group)
        .map(|r| {
            let subs: Vec<Value> = r
                .subresources
                .iter()
                .map(|s| {
                    let (g, v, k) = if s.kind.is_empty() { (r.group, r.version, r.kind) } else { (s.group, s.version, s.kind) };
                    json!({"subresource": s.name, "responseKind": {"group": g, "version": v, "kind": k}, "verbs": s.verbs})
                })
                .collect();
            let mut e = json!({
                "resource": r.plural, "singularResource": r.singular,
                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                "verbs": verbs(r),
            });
            if !r.short_names.is_empty() {
                e["shortNames"] = json!(r.short_names);
            }
            if !r.categories.is_empty() {
                e["categories"] = json!(r.categories);
            }
            if !subs.is_empty() {
                e["subresources"] = Value::Array(subs);
            }
            e
        })
        .collect();
    json!({"metadata": {"name": group}, "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}]})
}

/// Aggregated discovery for the core group (`core` true) or all named groups.
pub fn aggregated(core: bool, v: &str) -> Value {
    let items: Vec<Value> = if core {
        vec![aggregated_group("")]
    } else {
        GROUPS.iter().map(|g| aggregated_group(g)).collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{v}"), "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_and_shapes() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(kubectl), Some("v2"));
        assert_eq!(aggregated_version("application/json, */*"), None);
        let agg = aggregated(false, "v2");
        let apps = &agg["items"][0];
        assert_eq!(apps["metadata"]["name"], "apps");
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(deploy["scope"], "Namespaced");
        assert!(deploy["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["subresource"] == "scale" && s["responseKind"]["kind"] == "Scale"));
        let core = resource_list("", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"pods/status") && names.contains(&"services"));
        assert!(resource_list("nope", "v1").is_none());
    }
}
