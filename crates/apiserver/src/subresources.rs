//! /scale and /eviction: views onto a parent object (/binding is in `binding`).

use crate::body::decode_object;
use crate::lifecycle::str_at;
use crate::request::{Query, Target};
use crate::state::Api;
use crate::status::{ApiError, ApiResult};
use crate::write::{self, DeleteOptions, Part};
use serde_json::{json, Value};

/// The autoscaling/v1 Scale of a scalable object.
pub fn scale_of(parent: &Value) -> Value {
    let selector = parent
        .pointer("/spec/selector")
        .map(|s| {
            if s.get("matchLabels").is_some() || s.get("matchExpressions").is_some() {
                selector_text(s)
            } else {
                // ReplicationControllers carry a plain map.
                selector_text(&json!({"matchLabels": s}))
            }
        })
        .unwrap_or_default();
    let meta = parent.get("metadata").cloned().unwrap_or_else(|| json!({}));
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"), "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": parent.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {"replicas": parent.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0), "selector": selector},
    })
}

fn selector_text(sel: &Value) -> String {
    let mut parts: Vec<String> = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = str_at(e, "/key");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match str_at(e, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "DoesNotExist" => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    parts.join(",")
}

pub async fn get_scale(api: &Api, t: &Target, name: &str) -> ApiResult<Value> {
    let res = t.resource;
    let parent = api
        .current_value(res, &res.key(t.namespace.as_deref(), name))
        .await
        .ok_or_else(|| ApiError::not_found(res.group, res.plural, name))?;
    Ok(scale_of(&parent))
}

/// PUT or PATCH of /scale: the new replica count goes into the parent's spec.
pub async fn write_scale(
    api: &Api,
    t: &Target,
    name: &str,
    q: &Query,
    content_type: &str,
    body: &[u8],
    is_patch: bool,
) -> ApiResult<Value> {
    let res = t.resource;
    let parsed_put = if is_patch {
        None
    } else {
        Some(decode_object(
            body,
            content_type,
            "autoscaling/v1",
            "Scale",
        )?)
    };
    let updated = write::guaranteed_update(api, t, name, Part::Main, q, |old| {
        let current = scale_of(old);
        let new_scale = match &parsed_put {
            Some(s) => s.clone(),
            None => write::apply_patch(
                api,
                &current,
                content_type,
                body,
                Some("io.k8s.api.autoscaling.v1.Scale"),
            )?,
        };
        let wanted_rv = str_at(&new_scale, "/metadata/resourceVersion");
        if !wanted_rv.is_empty() && wanted_rv != str_at(old, "/metadata/resourceVersion") {
            return Err(ApiError::modified(res.group, res.plural, name));
        }
        let replicas = new_scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if replicas < 0 {
            let err = rkube_validation::FieldError {
                field: "spec.replicas".into(),
                error_type: rkube_validation::ErrorType::Invalid,
                bad_value: Some(json!(replicas)),
                detail: "must be greater than or equal to 0".into(),
            };
            return Err(ApiError::invalid("Scale", "autoscaling", name, &[err]));
        }
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(replicas);
        Ok(new)
    })
    .await?;
    Ok(scale_of(&updated))
}

/// POST pods/NAME/eviction: a delete honouring the eviction's delete options.
pub async fn evict(
    api: &Api,
    t: &Target,
    name: &str,
    q: &Query,
    content_type: &str,
    body: &[u8],
) -> ApiResult<Value> {
    let eviction = decode_object(body, content_type, "policy/v1", "Eviction")?;
    let opts_body = eviction
        .get("deleteOptions")
        .map(Value::to_string)
        .unwrap_or_default();
    let opts: DeleteOptions = write::delete_options(q, opts_body.as_bytes())?;
    write::delete(api, t, name, q, &opts).await?;
    Ok(
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}
