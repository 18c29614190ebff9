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
    mount_service_account_token(spec);
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

const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Upstream's ServiceAccount admission: a projected `kube-api-access-xxxxx` volume (a
/// bound token, the cluster CA, the namespace) mounted read-only in every container,
/// unless the pod opts out.
fn mount_service_account_token(spec: &mut serde_json::Map<String, Value>) {
    if spec.get("automountServiceAccountToken") == Some(&Value::Bool(false)) {
        return;
    }
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    let Some(volumes) = volumes.as_array_mut() else {
        return;
    };
    if volumes
        .iter()
        .any(|v| str_at(v, "/name").starts_with("kube-api-access-"))
    {
        return;
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    let name = format!("kube-api-access-{suffix}");
    volumes.push(json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    }));
    for field in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(field).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let Some(c) = c.as_object_mut() else { continue };
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            if let Some(mounts) = mounts.as_array_mut() {
                if !mounts
                    .iter()
                    .any(|m| str_at(m, "/mountPath") == TOKEN_MOUNT_PATH)
                {
                    mounts.push(
                        json!({"name": name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH}),
                    );
                }
            }
        }
    }
}

/// Resource names a quota may limit, and how much of each `obj` uses, in milli-units.
fn usage(res: &ResourceInfo, obj: &Value) -> BTreeMap<String, i128> {
    let mut u = BTreeMap::new();
    let count_key = count_key(res);
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

/// Whether objects of `res` can count towards quota key `key` (what [`usage`] may
/// return for them), so counting a pod quota parses no ConfigMaps or Events.
fn may_use(res: &ResourceInfo, key: &str) -> bool {
    if key == count_key(res) {
        return true;
    }
    if !res.group.is_empty() {
        return false;
    }
    match res.plural {
        "pods" => {
            matches!(key, "pods" | "cpu" | "memory")
                || key.starts_with("requests.")
                || key.starts_with("limits.")
        }
        "services" => key.starts_with("services"),
        plural => key == plural,
    }
}

/// Whether `key` counts each (non-terminal) object of `res` as one.
fn counts_objects(res: &ResourceInfo, key: &str) -> bool {
    key == count_key(res) || (res.group.is_empty() && key == res.plural)
}

fn count_key(res: &ResourceInfo) -> String {
    if res.group.is_empty() {
        format!("count/{}", res.plural)
    } else {
        format!("count/{}.{}", res.plural, res.group)
    }
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
        .list(&format!("/registry/resourcequotas/{namespace}/"))
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
        .list(&format!("/registry/resourcequotas/{namespace}/"));
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
    for res in rkube_api::resources().iter().filter(|r| {
        r.namespaced
            && r.is_stored()
            && r.group != "events.k8s.io"
            && keys.iter().any(|k| may_use(r, k))
    }) {
        let (objects, _) = api.cache.list(&res.key_prefix(Some(namespace)));
        let counted: Vec<&str> = keys.iter().copied().filter(|k| may_use(res, k)).collect();
        let is_pod = res.group.is_empty() && res.plural == "pods";
        // Object counts need no parse: a pod's phase is in the cache's field index.
        if counted.iter().all(|k| counts_objects(res, k)) {
            for (_, obj) in objects {
                if is_pod && matches!(obj.field("status.phase"), Some("Succeeded" | "Failed")) {
                    continue;
                }
                for k in &counted {
                    *used.entry(k.to_string()).or_insert(0) += 1000;
                }
            }
            continue;
        }
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
        let volume = pod["spec"]["volumes"][0]["name"].as_str().unwrap();
        assert!(volume.starts_with("kube-api-access-"), "{pod}");
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["name"],
            volume
        );
        assert_eq!(
            pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
            TOKEN_MOUNT_PATH
        );
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

    /// The resource filter of the usage count never skips a kind that counts.
    #[test]
    fn may_use_covers_every_key_usage_returns() {
        let samples = [
            json!({"spec": {"containers": [{"resources": {
                "requests": {"cpu": "1", "memory": "1Mi"},
                "limits": {"cpu": "2", "memory": "2Mi"}}}]}}),
            json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
            json!({}),
        ];
        for res in rkube_api::resources().iter().filter(|r| r.namespaced) {
            for obj in &samples {
                for (key, amount) in usage(res, obj) {
                    assert!(may_use(res, &key), "{} {key}", res.plural);
                    if counts_objects(res, &key) {
                        assert_eq!(amount, 1000, "{} {key}", res.plural);
                    }
                }
            }
        }
        let configmaps = find_resource("", "v1", "configmaps").unwrap();
        let events = find_resource("", "v1", "events").unwrap();
        for key in ["pods", "requests.cpu", "count/pods"] {
            assert!(!may_use(configmaps, key) && !may_use(events, key), "{key}");
        }
    }
}
