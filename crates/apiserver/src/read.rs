//! GET of one object and of collections, as objects, Tables or metadata only.

use crate::cached::CachedObject;
use crate::request::{Query, Shape, Target};
use crate::state::Api;
use crate::status::{ApiError, ApiResult};
use base64::Engine;
use rkube_api::selectors::{FieldSelector, LabelSelector};
use rkube_api::ResourceInfo;
use serde_json::{json, Value};
use std::sync::Arc;

pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn from_query(res: &ResourceInfo, q: &Query, name: Option<&str>) -> ApiResult<Self> {
        let labels = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut field_text = q.get("fieldSelector").cloned().unwrap_or_default();
        if let Some(name) = name {
            if !field_text.is_empty() {
                field_text.push(',');
            }
            field_text.push_str(&format!("metadata.name={name}"));
        }
        let fields = FieldSelector::parse(&field_text, res.group, res.plural)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(Self { labels, fields })
    }

    pub fn matches(&self, obj: &CachedObject) -> bool {
        self.labels.matches_with(|k| obj.label(k)) && self.fields.matches_with(|f| obj.field(f))
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// Continue tokens carry the list's revision and the last key returned.
fn encode_continue(rev: i64, key: &str) -> String {
    let raw = json!({"rv": rev, "start": key}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> ApiResult<(i64, String)> {
    let bad = || ApiError::bad_request("continue key is not valid: malformed continue token");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rev = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rev, start.to_string()))
}

pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

pub fn table(res: &ResourceInfo, objects: &[&Value], q: &Query, with_columns: bool) -> Value {
    let now = chrono::Utc::now();
    let include = q
        .get("includeObject")
        .map(String::as_str)
        .unwrap_or("Metadata");
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let object = match include {
                "None" => Value::Null,
                "Object" => (*o).clone(),
                _ => partial_metadata(o),
            };
            json!({"cells": rkube_printers::row_cells(res.group, res.plural, o, now), "object": object})
        })
        .collect();
    let columns = if with_columns {
        Value::Array(rkube_printers::column_definitions(res.group, res.plural))
    } else {
        Value::Null
    };
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns, "rows": rows})
}

/// One object in the requested shape.
pub fn shape_object(res: &ResourceInfo, obj: &Value, shape: Shape, q: &Query) -> Value {
    match shape {
        Shape::Object => obj.clone(),
        Shape::PartialMetadata => partial_metadata(obj),
        Shape::Table => {
            let mut t = table(res, &[obj], q, true);
            t["metadata"]["resourceVersion"] = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null);
            t
        }
    }
}

/// One object's response body: the cached bytes as they are when nothing needs changing.
pub async fn get(api: &Api, t: &Target, name: &str, q: &Query, shape: Shape) -> ApiResult<Vec<u8>> {
    let res = t.resource;
    let key = res.key(t.namespace.as_deref(), name);
    let obj = api
        .current(&key)
        .await
        .ok_or_else(|| ApiError::not_found(res.group, res.plural, name))?;
    if shape == Shape::Object && !crate::convert::needs_conversion(res) {
        return Ok(obj.bytes.to_vec());
    }
    let view = crate::convert::to_view(res, obj.value());
    serde_json::to_vec(&shape_object(res, &view, shape, q)).map_err(ApiError::internal)
}

/// A list response serialised straight from the cached objects.
pub async fn list(api: &Api, t: &Target, q: &Query, shape: Shape) -> ApiResult<Vec<u8>> {
    let res = t.resource;
    let filter = Filter::from_query(res, q, None)?;
    match q.get("resourceVersion").map(String::as_str) {
        Some("0") => {}
        Some(rv) if !rv.is_empty() => {
            if let Ok(rev) = rv.parse::<i64>() {
                if api.cache.revision() < rev {
                    api.cache.wait_for(rev).await;
                }
            }
        }
        _ => api.sync().await,
    }
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let (token_rev, start) = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => {
            let (rev, key) = decode_continue(c)?;
            (Some(rev), Some(key))
        }
        None => (None, None),
    };
    let prefix = res.key_prefix(t.namespace.as_deref());
    let page = api
        .cache
        .page(&prefix, start.as_deref(), limit, |o| filter.matches(o));
    let rev = token_rev.unwrap_or(page.revision);
    let remaining = page.remaining;
    let next = page.items.last().map(|(key, _)| key.clone());
    let selected: Vec<&Arc<CachedObject>> = page.items.iter().map(|(_, o)| o).collect();
    let mut meta = json!({"resourceVersion": rev.to_string()});
    if remaining > 0 {
        if let Some(next) = &next {
            meta["continue"] = Value::String(encode_continue(rev, next));
            if filter.is_empty() {
                meta["remainingItemCount"] = json!(remaining);
            }
        }
    }
    let raw = shape == Shape::Object && !crate::convert::needs_conversion(res);
    if !raw {
        let views: Vec<Value> = selected
            .iter()
            .map(|o| crate::convert::to_view(res, o.value()))
            .collect();
        if shape == Shape::Table {
            let objs: Vec<&Value> = views.iter().collect();
            let mut t = table(res, &objs, q, true);
            t["metadata"] = meta;
            return serde_json::to_vec(&t).map_err(ApiError::internal);
        }
        let (kind, api_version) = match shape {
            Shape::PartialMetadata => (
                "PartialObjectMetadataList".to_string(),
                "meta.k8s.io/v1".to_string(),
            ),
            _ => (res.list_kind(), res.api_version()),
        };
        let items: Vec<Value> = match shape {
            Shape::PartialMetadata => views.iter().map(partial_metadata).collect(),
            _ => views,
        };
        let list =
            json!({"kind": kind, "apiVersion": api_version, "metadata": meta, "items": items});
        return serde_json::to_vec(&list).map_err(ApiError::internal);
    }
    let size: usize = selected.iter().map(|o| o.bytes.len() + 1).sum();
    let mut out = Vec::with_capacity(256 + size);
    out.extend_from_slice(
        format!(
            "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":",
            res.list_kind(),
            res.api_version()
        )
        .as_bytes(),
    );
    serde_json::to_writer(&mut out, &meta).map_err(ApiError::internal)?;
    out.extend_from_slice(b",\"items\":[");
    for (i, obj) in selected.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&obj.bytes);
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let tok = encode_continue(42, "/registry/configmaps/default/b");
        assert_eq!(
            decode_continue(&tok).unwrap(),
            (42, "/registry/configmaps/default/b".to_string())
        );
        assert_eq!(decode_continue("!!").unwrap_err().code, 400);
    }
}
