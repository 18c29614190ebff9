//! POST pods/NAME/binding (and the legacy POST bindings): sets spec.nodeName once and
//! PodScheduled=True, as upstream's binding storage does.
//!
//! Every scheduled pod costs one binding, so this is the scheduler's hot path. The pod is
//! rewritten member by member from its cached JSON: metadata, spec and status are split
//! into their members, which stay raw JSON text; only the conditions list is parsed.
//! A whole-tree parse, copy and re-serialisation was a fifth of the server's work while
//! scheduling a backlog. Anything unexpected in the stored shape falls back to the
//! general update path.

use crate::body::decode_object;
use crate::lifecycle::{now, str_at};
use crate::request::{Query, Target};
use crate::state::Api;
use crate::status::{ApiError, ApiResult};
use crate::write::{self, Part};
use rkube_store::StoreError;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// Tries of the fast path before the general path takes over (each lost race reloads).
const FAST_TRIES: usize = 3;

pub async fn bind(
    api: &Api,
    t: &Target,
    name: Option<&str>,
    q: &Query,
    content_type: &str,
    body: &[u8],
) -> ApiResult<Value> {
    let binding = decode_object(body, content_type, "v1", "Binding")?;
    let pod_name = name
        .unwrap_or_else(|| str_at(&binding, "/metadata/name"))
        .to_string();
    let node = str_at(&binding, "/target/name").to_string();
    if node.is_empty() {
        let err = rkube_validation::FieldError {
            field: "target.name".into(),
            error_type: rkube_validation::ErrorType::Required,
            bad_value: None,
            detail: String::new(),
        };
        return Err(ApiError::invalid("Binding", "", &pod_name, &[err]));
    }
    let pods = rkube_api::find_resource("", "v1", "pods")
        .ok_or_else(|| ApiError::internal("pods not registered"))?;
    let pt = Target {
        resource: pods,
        namespace: t.namespace.clone(),
        name: Some(pod_name.clone()),
        subresource: None,
        rest: String::new(),
    };
    if !write::dry_run(q) && bind_in_place(api, &pt, &pod_name, &node).await? {
        return Ok(success());
    }
    write::guaranteed_update(api, &pt, &pod_name, Part::Server, q, |old| {
        refuse_if_taken(
            &pod_name,
            old.pointer("/metadata/deletionTimestamp").is_some(),
            str_at(old, "/spec/nodeName"),
        )?;
        let mut new = old.clone();
        new["spec"]["nodeName"] = Value::String(node.clone());
        if !new["status"].is_object() {
            new["status"] = json!({});
        }
        let conditions = &mut new["status"]["conditions"];
        if !conditions.is_array() {
            *conditions = json!([]);
        }
        if let Some(list) = conditions.as_array_mut() {
            mark_scheduled(list, &now());
        }
        Ok(new)
    })
    .await?;
    Ok(success())
}

fn success() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
}

fn refuse_if_taken(pod: &str, deleting: bool, node: &str) -> ApiResult<()> {
    if deleting {
        return Err(ApiError::conflict(
            "",
            "pods",
            pod,
            "pod is being deleted, cannot be assigned to a host",
        ));
    }
    if !node.is_empty() {
        return Err(ApiError::conflict(
            "",
            "pods",
            pod,
            &format!("pod {pod} is already assigned to node \"{node}\""),
        ));
    }
    Ok(())
}

/// The fast path. Ok(false) = the stored shape was unexpected: use the general path.
async fn bind_in_place(api: &Api, t: &Target, pod: &str, node: &str) -> ApiResult<bool> {
    let res = t.resource;
    let key = res.key(t.namespace.as_deref(), pod);
    for _ in 0..FAST_TRIES {
        let Some(current) = api.current(&key).await else {
            return Err(ApiError::not_found(res.group, res.plural, pod));
        };
        refuse_if_taken(
            pod,
            current.is_deleting(),
            current.field("spec.nodeName").unwrap_or(""),
        )?;
        let Some(bytes) = bound_pod(&current.bytes, node, &now()) else {
            return Ok(false);
        };
        match api.store.update(&key, bytes.into(), current.revision).await {
            Ok(_) => return Ok(true),
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::NotFound(_)) => {
                return Err(ApiError::not_found(res.group, res.plural, pod))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// An object's members in document order, their values left as raw JSON text.
type Members<'a> = Vec<(String, &'a RawValue)>;

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
        let mut out = Vec::new();
        while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
            out.push(entry);
        }
        Ok(out)
    }
}

fn members(json: &str) -> Option<Members<'_>> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde::Deserializer::deserialize_map(&mut de, MembersVisitor).ok()
}

/// The object with `replaced` members (raw JSON; "" removes the member), the others
/// copied as they were; replacements of absent members are appended.
fn rewrite(members: &[(String, &RawValue)], replaced: &[(&str, &str)]) -> String {
    let mut out = Vec::with_capacity(
        members
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum::<usize>()
            + 64,
    );
    out.push(b'{');
    let mut first = true;
    let mut put = |out: &mut Vec<u8>, key: &str, raw: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        // A String always serialises.
        let _ = serde_json::to_writer(&mut *out, key);
        out.push(b':');
        out.extend_from_slice(raw.as_bytes());
    };
    for (key, raw) in members {
        match replaced.iter().find(|(k, _)| k == key) {
            Some((_, "")) => {}
            Some((_, new)) => put(&mut out, key, new),
            None => put(&mut out, key, raw.get()),
        }
    }
    for (key, new) in replaced {
        if !new.is_empty() && !members.iter().any(|(k, _)| k == key) {
            put(&mut out, key, new);
        }
    }
    out.push(b'}');
    // Only valid UTF-8 went in: keys re-encoded by serde_json, values copied from a &str.
    String::from_utf8(out).unwrap_or_default()
}

/// The stored form of a cached pod once bound to `node`: spec.nodeName set, PodScheduled
/// True, and no metadata.resourceVersion (the store keeps the revision itself). None when
/// the pod does not have the usual shape (objects for metadata, spec and status).
pub fn bound_pod(cached: &[u8], node: &str, now: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(cached).ok()?;
    let top = members(text)?;
    let raw_of = |name: &str| top.iter().find(|(k, _)| k == name).map(|(_, v)| v.get());
    let metadata = rewrite(&members(raw_of("metadata")?)?, &[("resourceVersion", "")]);
    let node_json = serde_json::to_string(node).ok()?;
    let spec = rewrite(&members(raw_of("spec")?)?, &[("nodeName", &node_json)]);
    let status = members(raw_of("status").unwrap_or("{}"))?;
    let mut conditions: Vec<Value> = match status.iter().find(|(k, _)| k == "conditions") {
        Some((_, raw)) => serde_json::from_str(raw.get()).ok()?,
        None => Vec::new(),
    };
    mark_scheduled(&mut conditions, now);
    let conditions = serde_json::to_string(&conditions).ok()?;
    let status = rewrite(&status, &[("conditions", &conditions)]);
    let out = rewrite(
        &top,
        &[
            ("metadata", &metadata),
            ("spec", &spec),
            ("status", &status),
        ],
    );
    Some(out.into_bytes())
}

/// Sets PodScheduled=True in a conditions list (a scheduler's earlier False condition
/// with its reason is replaced; an existing True one is kept with its time).
fn mark_scheduled(list: &mut Vec<Value>, now: &str) {
    let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
        "lastTransitionTime": now});
    match list.iter_mut().find(|c| c["type"] == "PodScheduled") {
        Some(existing) if existing["status"] == "True" => {}
        Some(existing) => *existing = cond,
        None => list.push(cond),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the general path makes of the same pod.
    fn bound_the_slow_way(cached: &Value, node: &str, now: &str) -> Value {
        let mut new = cached.clone();
        new["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        new["spec"]["nodeName"] = json!(node);
        if !new["status"].is_object() {
            new["status"] = json!({});
        }
        if !new["status"]["conditions"].is_array() {
            new["status"]["conditions"] = json!([]);
        }
        mark_scheduled(new["status"]["conditions"].as_array_mut().unwrap(), now);
        new
    }

    #[test]
    fn rewrites_like_the_general_path() {
        let now = "2026-11-30T12:00:00Z";
        let pods = [
            json!({"kind": "Pod", "apiVersion": "v1",
                "metadata": {"name": "a", "namespace": "default", "resourceVersion": "7",
                    "labels": {"app": "x\"y"}, "annotations": {"n": "1.50"}},
                "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "100m"}}}],
                    "schedulerName": "default-scheduler"},
                "status": {"phase": "Pending", "qosClass": "Burstable"}}),
            // A previous FailedScheduling left PodScheduled=False; no status at all.
            json!({"metadata": {"name": "b", "resourceVersion": "9"},
                "spec": {"containers": []},
                "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
                    {"type": "Other", "status": "True"}]}}),
            json!({"metadata": {"name": "c"}, "spec": {"nodeName": ""}}),
        ];
        for pod in pods {
            let cached = serde_json::to_vec(&pod).unwrap();
            let fast = bound_pod(&cached, "node-ü", now).expect("usual shape");
            let fast: Value = serde_json::from_slice(&fast).unwrap();
            assert_eq!(fast, bound_the_slow_way(&pod, "node-ü", now), "{pod}");
            assert_eq!(fast["spec"]["nodeName"], "node-ü");
            assert!(fast["metadata"].get("resourceVersion").is_none());
        }
        // Member order is kept; nodeName goes last in spec.
        let cached =
            br#"{"metadata":{"resourceVersion":"3","name":"p"},"spec":{"b":1,"a":2},"status":{}}"#;
        let fast = String::from_utf8(bound_pod(cached, "n", now).unwrap()).unwrap();
        assert!(
            fast.starts_with(r#"{"metadata":{"name":"p"},"spec":{"b":1,"a":2,"nodeName":"n"},"status":{"conditions":[{"#),
            "{fast}"
        );
        // Shapes the fast path leaves to the general one.
        for odd in [
            &b"[]"[..],
            b"{\"spec\":{}}",
            b"{\"metadata\":{},\"spec\":[]}",
            b"{\"metadata\":{},\"spec\":{},\"status\":{\"conditions\":{}}}",
        ] {
            assert!(
                bound_pod(odd, "n", now).is_none(),
                "{}",
                String::from_utf8_lossy(odd)
            );
        }
    }
}
