//! metav1.LabelSelector validation and matching over JSON.

use crate::errors::{forbidden, invalid, required, FieldError, Path};
use crate::meta::validate_labels;
use crate::names::{label_value, qualified_name};
use crate::value::{arr, obj, sz};
use serde_json::Value;

pub fn validate_label_selector(sel: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = validate_labels(sel.get("matchLabels"), &path.child("matchLabels"));
    for (idx, expr) in arr(sel, "matchExpressions").iter().enumerate() {
        let p = path.child("matchExpressions").index(idx);
        let values = arr(expr, "values");
        let op = sz(expr, "operator");
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(required(
                        &p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(forbidden(
                        &p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(invalid(
                &p.child("operator"),
                op,
                "not a valid selector operator",
            )),
        }
        let key = sz(expr, "key");
        for msg in qualified_name(key) {
            errs.push(invalid(&p.child("key"), key, msg));
        }
        for (vi, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            for msg in label_value(v) {
                errs.push(invalid(&p.child("values").index(vi), v, msg));
            }
        }
    }
    errs
}

/// True when the selector has neither matchLabels nor matchExpressions entries.
pub fn selector_is_empty(sel: &Value) -> bool {
    obj(sel, "matchLabels").is_none_or(|m| m.is_empty()) && arr(sel, "matchExpressions").is_empty()
}

/// Whether a LabelSelector selects the given label set. Unknown operators never match.
pub fn selector_matches(sel: &Value, labels: Option<&Value>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    if let Some(ml) = obj(sel, "matchLabels") {
        for (k, v) in ml {
            if get(k) != v.as_str() {
                return false;
            }
        }
    }
    for expr in arr(sel, "matchExpressions") {
        let key = sz(expr, "key");
        let vals: Vec<&str> = arr(expr, "values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let ok = match sz(expr, "operator") {
            "In" => get(key).is_some_and(|v| vals.contains(&v)),
            "NotIn" => get(key).is_none_or(|v| !vals.contains(&v)),
            "Exists" => get(key).is_some(),
            "DoesNotExist" => get(key).is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Map-style selector (Service, ReplicationController): every pair must match.
pub fn map_selector_matches(sel: &Value, labels: Option<&Value>) -> bool {
    sel.as_object().is_some_and(|m| {
        m.iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)).and_then(Value::as_str) == v.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matching() {
        let sel = json!({"matchLabels":{"app":"x"},"matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]}]});
        assert!(selector_matches(&sel, Some(&json!({"app":"x","tier":"a"}))));
        assert!(!selector_matches(
            &sel,
            Some(&json!({"app":"x","tier":"c"}))
        ));
        assert!(!selector_matches(
            &sel,
            Some(&json!({"app":"y","tier":"a"}))
        ));
        assert!(selector_is_empty(&json!({})));
        assert!(!selector_is_empty(&sel));
    }

    #[test]
    fn validation_messages() {
        let sel = json!({"matchExpressions":[{"key":"a","operator":"In"},{"key":"b","operator":"Exists","values":["x"]},{"key":"c","operator":"Bogus"}]});
        let m: Vec<String> = validate_label_selector(&sel, &Path::root("spec").child("selector"))
            .iter()
            .map(FieldError::message)
            .collect();
        assert_eq!(
            m,
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                "spec.selector.matchExpressions[2].operator: Invalid value: \"Bogus\": not a valid selector operator",
            ]
        );
    }
}
