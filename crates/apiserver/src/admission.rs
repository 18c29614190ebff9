//! Admission on create: the defaults upstream's admission plugins add to pods
//! (ServiceAccount, DefaultTolerationSeconds, Priority) and ResourceQuota enforcement.

use crate::lifecycle::str_at;
use crate::state::Api;
use crate::status::{ApiError, ApiResult};
use rkube_api::quantity::parse_milli;
use rkube_api::ResourceInfo;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Mutating admission for a new object.
pub fn mutate(res: &ResourceInfo, obj: &mut Value) {
    if !(res.group.is_empty() && res.plural == "pods") {
        return;
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let sa = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    spec.insert("serviceAccountName".into(), Value::String(sa.clone()));
    spec.insert("serviceAccount".into(), Value::String(sa));
    if !spec.contains_key("priority") && !spec.contains_key("priorityClassName") {
        spec.insert("priority".into(), json!(0));
    }
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if let Some(list) = tolerations.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            let covered = list.iter().any(|t| {
                let k = str_at(t, "/key");
                let effect = str_at(t, "/effect");
                (k == key || (k.is_empty() && str_at(t, "/operator") == "Exists"))
                    && (effect.is_empty() || effect == "NoExecute")
            });
            if !covered {
                list.push(
                    json!({"key": key, "operator": "Exists", "effect": "NoExecute",
                                 "tolerationSeconds": DEFAULT_TOLERATION_SECONDS}),
                );
            }
        }
    }
}

/// Resource names a quota may limit, and how much of each `obj` uses, in milli-units.
fn usage(res: &ResourceInfo, obj: &Value) -> BTreeMap<String, i128> {
    let mut u = BTreeMap::new();
    let count_key = if res.group.is_empty() {
        format!("count/{}", res.plural)
    } else {
        format!("count/{}.{}", res.plural, res.group)
    };
    if res.group.is_empty() && res.plural == "pods" {
        let phase = str_at(obj, "/status/phase");
        if phase == "Succeeded" || phase == "Failed" {
            return u;
        }
        u.insert("pods".into(), 1000);
        u.insert(count_key, 1000);
        for (prefix, field) in [("requests", "requests"), ("limits", "limits")] {
            for r in ["cpu", "memory"] {
                let total = pod_resource(obj, field, r);
                if total > 0 {
                    u.insert(format!("{prefix}.{r}"), total);
                    if prefix == "requests" {
                        u.insert(r.to_string(), total);
                    }
                }
            }
        }
        return u;
    }
    u.insert(count_key, 1000);
    if res.group.is_empty() {
        match res.plural {
            "services" => {
                u.insert("services".into(), 1000);
                let t = str_at(obj, "/spec/type");
                if t == "NodePort" || t == "LoadBalancer" {
                    let ports = obj
                        .pointer("/spec/ports")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    u.insert("services.nodeports".into(), 1000 * ports as i128);
                }
                if t == "LoadBalancer" {
                    u.insert("services.loadbalancers".into(), 1000);
                }
            }
            "configmaps"
            | "secrets"
            | "replicationcontrollers"
            | "resourcequotas"
            | "persistentvolumeclaims" => {
                u.insert(res.plural.into(), 1000);
            }
            _ => {}
        }
    }
    u
}

/// A pod's effective request (or limit) of `resource`: the sum over containers, or the
/// largest init container if that is more, as upstream computes it.
fn pod_resource(pod: &Value, field: &str, resource: &str) -> i128 {
    let amount = |c: &Value| {
        c.pointer(&format!("/resources/{field}/{resource}"))
            .and_then(Value::as_str)
            .and_then(|q| parse_milli(q).ok())
            .unwrap_or(0)
    };
    let list = |name: &str| {
        pod.pointer(&format!("/spec/{name}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let sum: i128 = list("containers").iter().map(amount).sum();
    let init = list("initContainers").iter().map(amount).max().unwrap_or(0);
    sum.max(init)
}

fn render(milli: i128) -> String {
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

pub fn has_quota(api: &Api, namespace: &str) -> bool {
    !api.cache
        .list(&format!("/registry/resourcequotas/{namespace}/"), None)
        .0
        .is_empty()
}

/// Refuses a create that would take a namespace over one of its quotas.
pub async fn check_quota(
    api: &Api,
    res: &ResourceInfo,
    namespace: &str,
    obj: &Value,
) -> ApiResult<()> {
    let (quotas, _) = api
        .cache
        .list(&format!("/registry/resourcequotas/{namespace}/"), None);
    if quotas.is_empty() {
        return Ok(());
    }
    let wanted = usage(res, obj);
    for (_, quota) in &quotas {
        let quota = quota.value();
        let Some(hard) = quota.pointer("/spec/hard").and_then(Value::as_object) else {
            continue;
        };
        let limited: Vec<(&String, i128)> = hard
            .iter()
            .filter_map(|(k, v)| Some((k, parse_milli(v.as_str()?).ok()?)))
            .filter(|(k, _)| wanted.contains_key(*k))
            .collect();
        if limited.is_empty() {
            continue;
        }
        let used = used_in(
            api,
            namespace,
            &limited.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        );
        let over: Vec<&(&String, i128)> = limited
            .iter()
            .filter(|(k, max)| used.get(*k).copied().unwrap_or(0) + wanted[*k] > *max)
            .collect();
        if over.is_empty() {
            continue;
        }
        let join = |f: &dyn Fn(&str, i128) -> String| {
            over.iter()
                .map(|(k, max)| f(k, *max))
                .collect::<Vec<_>>()
                .join(",")
        };
        let requested = join(&|k, _| format!("{k}={}", render(wanted[k])));
        let used_text = join(&|k, _| format!("{k}={}", render(used.get(k).copied().unwrap_or(0))));
        let limited_text = join(&|k, max| format!("{k}={}", render(max)));
        return Err(ApiError::forbidden(format!(
            "{} \"{}\" is forbidden: exceeded quota: {}, requested: {requested}, used: {used_text}, limited: {limited_text}",
            res.qualified_name(),
            str_at(obj, "/metadata/name"),
            str_at(&quota, "/metadata/name"),
        )));
    }
    Ok(())
}

/// Current usage of `keys` in `namespace`, counted from the cache.
fn used_in(api: &Api, namespace: &str, keys: &[&str]) -> BTreeMap<String, i128> {
    let mut used = BTreeMap::new();
    for res in rkube_api::resources()
        .iter()
        .filter(|r| r.namespaced && r.is_stored() && r.group != "events.k8s.io")
    {
        let (objects, _) = api.cache.list(&res.key_prefix(Some(namespace)), None);
        for (_, obj) in objects {
            for (k, v) in usage(res, &obj.value()) {
                if keys.contains(&k.as_str()) {
                    *used.entry(k).or_insert(0) += v;
                }
            }
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_api::find_resource;

    #[test]
    fn pod_defaults_and_usage() {
        let pods = find_resource("", "v1", "pods").unwrap();
        let mut pod = json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "1"}}}],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}]}});
        mutate(pods, &mut pod);
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(pod["spec"]["priority"], 0);
        let u = usage(pods, &pod);
        assert_eq!(u["pods"], 1000);
        assert_eq!(u["requests.cpu"], 2000, "init container dominates");
        assert_eq!(u["requests.memory"], 64 * 1024 * 1024 * 1000);
        mutate(pods, &mut pod);
        assert_eq!(
            pod["spec"]["tolerations"].as_array().unwrap().len(),
            2,
            "idempotent"
        );
        assert_eq!(render(1500), "1500m");
        assert_eq!(render(3000), "3");
    }
}
