//! Small helpers shared by the per-kind printers: tolerant JSON access and the label /
//! selector / container formatting upstream uses in several tables.

use serde_json::Value;

/// Follows a path of object keys; missing keys or non-objects yield `None`.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.get(key))
}

/// String at `path`, or "" when absent or not a string (Go's zero value).
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or("")
}

/// Integer at `path`, or `default` when absent or not an integer.
pub fn int_or(v: &Value, path: &[&str], default: i64) -> i64 {
    at(v, path).and_then(Value::as_i64).unwrap_or(default)
}

/// Integer at `path`, 0 when absent (fields with `omitempty` drop zeros).
pub fn int_at(v: &Value, path: &[&str]) -> i64 {
    int_or(v, path, 0)
}

pub fn bool_at(v: &Value, path: &[&str]) -> bool {
    at(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// Array at `path`; absent or non-array is an empty slice.
pub fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Number of keys of the object at `path` (0 when absent).
pub fn len_obj(v: &Value, path: &[&str]) -> usize {
    at(v, path)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

pub fn name(obj: &Value) -> &str {
    str_at(obj, &["metadata", "name"])
}

pub fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s.to_string()
    }
}

/// `k=v` pairs sorted and comma-joined; `<none>` for an empty map.
pub fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    or_none(&pairs.join(","))
}

/// Comma-joined container names and images of a pod spec's `containers`.
pub fn container_cells(pod_spec: Option<&Value>) -> (String, String) {
    let containers = pod_spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// Why a label selector could not be turned into a selector string.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SelectorError {
    #[error("invalid label selector operator {0:?}")]
    Operator(String),
    #[error("invalid label selector requirement for key {0:?}")]
    Requirement(String),
}

/// Renders a metav1 `LabelSelector` as upstream's selector string: requirements sorted
/// by key, `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`. A missing selector selects
/// nothing and an empty one everything; both render as "".
pub fn selector_string(sel: Option<&Value>) -> Result<String, SelectorError> {
    let Some(sel) = sel.filter(|s| !s.is_null()) else {
        return Ok(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            let v = v.as_str().unwrap_or("");
            validate_requirement(k, &[v])?;
            reqs.push((k.clone(), format!("{k}={v}")));
        }
    }
    for expr in arr_at(sel, &["matchExpressions"]) {
        let key = str_at(expr, &["key"]);
        let mut values: Vec<&str> = arr_at(expr, &["values"])
            .iter()
            .map(|v| v.as_str().unwrap_or(""))
            .collect();
        let op = str_at(expr, &["operator"]);
        let rendered = match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    return Err(SelectorError::Requirement(key.to_string()));
                }
                validate_requirement(key, &values)?;
                values.sort_unstable();
                let word = if op == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", values.join(","))
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    return Err(SelectorError::Requirement(key.to_string()));
                }
                validate_requirement(key, &[])?;
                if op == "Exists" {
                    key.to_string()
                } else {
                    format!("!{key}")
                }
            }
            other => return Err(SelectorError::Operator(other.to_string())),
        };
        reqs.push((key.to_string(), rendered));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, r)| r)
        .collect::<Vec<_>>()
        .join(","))
}

/// Upstream's `FormatLabelSelector`: `<error>` when invalid, `<none>` when empty.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Ok(s) => or_none(&s),
        Err(_) => "<error>".to_string(),
    }
}

fn validate_requirement(key: &str, values: &[&str]) -> Result<(), SelectorError> {
    if is_qualified_name(key) && values.iter().all(|v| is_label_value(v)) {
        Ok(())
    } else {
        Err(SelectorError::Requirement(key.to_string()))
    }
}

/// `[prefix/]name` where prefix is a DNS subdomain and name a 63-char label-ish token.
fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if !is_dns_subdomain(p) {
            return false;
        }
    }
    !name.is_empty() && is_label_value(name)
}

fn is_label_value(v: &str) -> bool {
    if v.is_empty() {
        return true;
    }
    let bytes = v.as_bytes();
    v.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.first()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.last()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_sorted() {
        let m = json!({"tier": "web", "app": "nginx"});
        assert_eq!(format_labels(Some(&m)), "app=nginx,tier=web");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn selectors() {
        let sel = json!({
            "matchLabels": {"pod-template-hash": "5d8f", "app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["a"]},
                {"key": "b", "operator": "Exists"}
            ]
        });
        assert_eq!(
            selector_string(Some(&sel)).unwrap(),
            "app=web,b,!canary,env in (dev,prod),pod-template-hash=5d8f,zone notin (a)"
        );
        assert_eq!(selector_string(None).unwrap(), "");
        assert_eq!(selector_string(Some(&json!({}))).unwrap(), "");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
    }

    #[test]
    fn invalid_selectors() {
        let bad_op = json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]});
        assert_eq!(format_label_selector(Some(&bad_op)), "<error>");
        let empty_in = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
        assert!(selector_string(Some(&empty_in)).is_err());
        let bad_key = json!({"matchLabels": {"-bad": "x"}});
        assert!(selector_string(Some(&bad_key)).is_err());
        let prefixed = json!({"matchLabels": {"app.kubernetes.io/name": "x"}});
        assert_eq!(
            selector_string(Some(&prefixed)).unwrap(),
            "app.kubernetes.io/name=x"
        );
    }

    #[test]
    fn containers() {
        let spec = json!({"containers": [
            {"name": "a", "image": "nginx:1"}, {"name": "b", "image": "busybox"}
        ]});
        assert_eq!(
            container_cells(Some(&spec)),
            ("a,b".to_string(), "nginx:1,busybox".to_string())
        );
        assert_eq!(container_cells(None), (String::new(), String::new()));
    }
}
