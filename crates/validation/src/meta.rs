//! ObjectMeta checks (apimachinery api/validation/objectmeta.go plus core's finalizer rule).

use crate::errors::{
    forbidden, immutable, invalid, nonnegative, required, too_long, FieldError, Path,
};
use crate::names::{dns1123_label, label_value, qualified_name, validate_name, NameRule};
use crate::value::{arr, i, s};
use serde_json::Value;

const ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// `ValidateLabels`: errors are reported on the map path itself, not per key.
pub fn validate_labels(labels: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(m) = labels.and_then(Value::as_object) else {
        return errs;
    };
    for (k, v) in m {
        for msg in qualified_name(k) {
            errs.push(invalid(path, k.as_str(), msg));
        }
        let val = v.as_str().unwrap_or("");
        for msg in label_value(val) {
            errs.push(invalid(path, val, msg));
        }
    }
    errs
}

pub fn validate_annotations(ann: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(m) = ann.and_then(Value::as_object) else {
        return errs;
    };
    let mut total = 0usize;
    for (k, v) in m {
        // Annotation keys are case-insensitive qualified names.
        for msg in qualified_name(&k.to_lowercase()) {
            errs.push(invalid(path, k.as_str(), msg));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > ANNOTATION_SIZE_LIMIT {
        errs.push(too_long(path, ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// Core's `ValidateFinalizerName`: qualified, and unprefixed names must be standard ones.
pub fn validate_finalizer_name(name: &str, path: &Path) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> = qualified_name(name)
        .into_iter()
        .map(|m| invalid(path, name, m))
        .collect();
    if errs.is_empty() && !name.contains('/') && !STANDARD_FINALIZERS.contains(&name) {
        errs.push(invalid(
            path,
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
    errs
}

fn validate_finalizers(meta: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let list = arr(meta, "finalizers");
    for f in list {
        errs.extend(validate_finalizer_name(f.as_str().unwrap_or(""), path));
    }
    let has = |n: &str| list.iter().any(|f| f.as_str() == Some(n));
    if has("orphan") && has("foregroundDeletion") {
        errs.push(invalid(
            path,
            Value::Array(list.to_vec()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

fn validate_owner_refs(meta: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let refs = arr(meta, "ownerReferences");
    let mut first_controller: Option<String> = None;
    for r in refs {
        let api_version = s(r, "apiVersion").unwrap_or("");
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(invalid(
                &path.child("apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        for (k, msg) in [
            ("kind", "must not be empty"),
            ("name", "must not be empty"),
            ("uid", "must not be empty"),
        ] {
            let v = s(r, k).unwrap_or("");
            if v.is_empty() {
                errs.push(invalid(&path.child(k), v, msg));
            }
        }
        if api_version == "v1" && s(r, "kind") == Some("Event") {
            errs.push(invalid(
                path,
                r.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let cur = format!(
                "{}/{}",
                s(r, "kind").unwrap_or(""),
                s(r, "name").unwrap_or("")
            );
            match &first_controller {
                Some(first) => errs.push(invalid(
                    path,
                    Value::Array(refs.to_vec()),
                    format!("Only one reference can have Controller set to true. Found \"true\" in references for {first} and {cur}"),
                )),
                None => first_controller = Some(cur),
            }
        }
    }
    errs
}

/// Metadata checks for create. `namespaced` decides whether namespace is required or forbidden.
pub fn validate_object_meta(obj: &Value, namespaced: bool, rule: NameRule) -> Vec<FieldError> {
    let path = Path::root("metadata");
    let null = Value::Null;
    let meta = obj.get("metadata").unwrap_or(&null);
    let mut errs = Vec::new();
    let gen_name = s(meta, "generateName").unwrap_or("");
    if !gen_name.is_empty() {
        for msg in validate_name(rule, gen_name, true) {
            errs.push(invalid(&path.child("generateName"), gen_name, msg));
        }
    }
    let name = s(meta, "name").unwrap_or("");
    if name.is_empty() {
        errs.push(required(
            &path.child("name"),
            "name or generateName is required",
        ));
    } else {
        for msg in validate_name(rule, name, false) {
            errs.push(invalid(&path.child("name"), name, msg));
        }
    }
    errs.extend(validate_meta_common(meta, namespaced, &path));
    errs
}

fn validate_meta_common(meta: &Value, namespaced: bool, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ns = s(meta, "namespace").unwrap_or("");
    if namespaced {
        if ns.is_empty() {
            errs.push(required(&path.child("namespace"), ""));
        } else {
            for msg in dns1123_label(ns) {
                errs.push(invalid(&path.child("namespace"), ns, msg));
            }
        }
    } else if !ns.is_empty() {
        errs.push(forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }
    if let Some(g) = i(meta, "generation") {
        errs.extend(nonnegative(g, &path.child("generation")));
    }
    errs.extend(validate_labels(meta.get("labels"), &path.child("labels")));
    errs.extend(validate_annotations(
        meta.get("annotations"),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_refs(meta, &path.child("ownerReferences")));
    errs.extend(validate_finalizers(meta, &path.child("finalizers")));
    errs
}

/// Metadata checks for update (`ValidateObjectMetaAccessorUpdate`). The
/// resourceVersion-presence rule is left to the server's precondition logic.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let path = Path::root("metadata");
    let null = Value::Null;
    let nm = new.get("metadata").unwrap_or(&null);
    let om = old.get("metadata").unwrap_or(&null);
    let mut errs = Vec::new();
    if crate::value::present(om, "deletionTimestamp") {
        let old_f: Vec<&str> = arr(om, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut extra: Vec<&str> = arr(nm, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .filter(|f| !old_f.contains(f))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            let list: Vec<String> = extra.iter().map(|f| crate::errors::go_quote(f)).collect();
            errs.push(forbidden(
                &path.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            ));
        }
    }
    if let (Some(ng), Some(og)) = (i(nm, "generation"), i(om, "generation")) {
        if ng < og {
            errs.push(invalid(
                &path.child("generation"),
                ng,
                "must not be decremented",
            ));
        }
    }
    for k in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        // Empty strings and absent fields are the same Go zero value.
        let norm = |m: &Value| m.get(k).filter(|v| v.as_str() != Some("")).cloned();
        if let Some(e) = immutable(norm(nm).as_ref(), norm(om).as_ref(), &path.child(k)) {
            let shown = norm(nm).unwrap_or(Value::String(String::new()));
            errs.push(FieldError {
                bad_value: Some(shown),
                ..e
            });
        }
    }
    errs.extend(validate_labels(nm.get("labels"), &path.child("labels")));
    errs.extend(validate_annotations(
        nm.get("annotations"),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_refs(nm, &path.child("ownerReferences")));
    errs.extend(validate_finalizers(nm, &path.child("finalizers")));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(e: &[FieldError]) -> Vec<String> {
        e.iter().map(FieldError::message).collect()
    }

    #[test]
    fn name_required_and_namespace() {
        let e = validate_object_meta(&json!({"metadata":{}}), true, NameRule::Subdomain);
        assert_eq!(
            msgs(&e),
            vec![
                "metadata.name: Required value: name or generateName is required",
                "metadata.namespace: Required value"
            ]
        );
        let e = validate_object_meta(
            &json!({"metadata":{"name":"x","namespace":"d"}}),
            false,
            NameRule::Label,
        );
        assert_eq!(
            msgs(&e),
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
    }

    #[test]
    fn bad_name_and_labels() {
        let obj =
            json!({"metadata":{"name":"Bad_Name","namespace":"default","labels":{"ok":"-bad"}}});
        let e = validate_object_meta(&obj, true, NameRule::Subdomain);
        assert_eq!(e.len(), 2);
        assert!(e[0].message().starts_with(
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        ));
        assert!(e[1]
            .message()
            .starts_with("metadata.labels: Invalid value: \"-bad\": a valid label must be"));
    }

    #[test]
    fn finalizers() {
        let obj = json!({"metadata":{"name":"x","finalizers":["custom"]}});
        let e = validate_object_meta(&obj, false, NameRule::Subdomain);
        assert_eq!(
            msgs(&e),
            vec!["metadata.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"]
        );
    }

    #[test]
    fn update_immutables() {
        let old = json!({"metadata":{"name":"a","uid":"1","generation":3}});
        let new = json!({"metadata":{"name":"b","uid":"1","generation":2}});
        let e = validate_object_meta_update(&new, &old);
        assert_eq!(
            msgs(&e),
            vec![
                "metadata.generation: Invalid value: 2: must not be decremented",
                "metadata.name: Invalid value: \"b\": field is immutable"
            ]
        );
    }
}
