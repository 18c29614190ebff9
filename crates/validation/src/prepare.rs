//! What upstream's generic `rest.BeforeUpdate` and a few strategies do to an
//! incoming object before validating an update.

use serde_json::Value;

fn meta_field<'a>(obj: &'a Value, k: &str) -> Option<&'a Value> {
    obj.get("metadata")
        .and_then(|m| m.get(k))
        .filter(|v| !v.is_null())
}

pub fn prepare_update(group: &str, resource: &str, new: &mut Value, old: &Value) {
    let carry: Vec<(&str, Value)> = [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ]
    .into_iter()
    .filter_map(|k| meta_field(old, k).map(|v| (k, v.clone())))
    .collect();
    if let Some(meta) = crate::value::obj_mut(new, "metadata").and_then(Value::as_object_mut) {
        for (k, old_v) in carry {
            let cur = meta
                .get(k)
                .filter(|v| !v.is_null() && v.as_str() != Some(""));
            let replace = match k {
                // A client cannot clear or move these; the stored value wins.
                "creationTimestamp" | "deletionTimestamp" => true,
                // Generation only moves forward (strategies bump it afterwards).
                "generation" => cur.and_then(Value::as_i64) < old_v.as_i64(),
                _ => cur.is_none(),
            };
            if replace {
                meta.insert(k.to_string(), old_v);
            }
        }
    }
    match (group, resource) {
        ("", "services") => crate::validate::carry_allocated(new, old),
        // Namespace finalizers change only through the finalize subresource.
        ("", "namespaces") => {
            if let Some(fins) = old.pointer("/spec/finalizers").cloned() {
                if let Some(spec) =
                    crate::value::obj_mut(new, "spec").and_then(Value::as_object_mut)
                {
                    spec.insert("finalizers".into(), fins);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn carries_system_metadata() {
        let old = json!({"metadata":{"name":"a","uid":"u","creationTimestamp":"2024-01-01T00:00:00Z","generation":4}});
        let mut new = json!({"metadata":{"name":"a","generation":1}});
        prepare_update("apps", "deployments", &mut new, &old);
        assert_eq!(new["metadata"]["uid"], "u");
        assert_eq!(new["metadata"]["creationTimestamp"], "2024-01-01T00:00:00Z");
        assert_eq!(new["metadata"]["generation"], 4);
        assert!(crate::validate_update("apps", "deployments", &new, &old)
            .iter()
            .all(|e| !e.field.starts_with("metadata")));
        let mut newer = json!({"metadata":{"name":"a","uid":"u","generation":5}});
        prepare_update("apps", "deployments", &mut newer, &old);
        assert_eq!(newer["metadata"]["generation"], 5);
    }

    #[test]
    fn namespace_finalizers_kept() {
        let old = json!({"metadata":{"name":"n"},"spec":{"finalizers":["kubernetes"]}});
        let mut new = json!({"metadata":{"name":"n"},"spec":{}});
        prepare_update("", "namespaces", &mut new, &old);
        assert_eq!(new["spec"]["finalizers"], json!(["kubernetes"]));
    }
}
