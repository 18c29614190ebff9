//! Label and field selectors in upstream's text syntax.

use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    #[error("unable to parse requirement: {0}")]
    Label(String),
    #[error("invalid selector: '{0}'; can't understand '{1}'")]
    Field(String, String),
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn valid_label_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn parse_set(rest: &str, whole: &str) -> Result<Vec<String>, SelectorError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| SelectorError::Label(whole.to_string()))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn parse_requirement(part: &str) -> Result<Requirement, SelectorError> {
    let err = || SelectorError::Label(part.to_string());
    let p = part.trim();
    if let Some(key) = p.strip_prefix('!') {
        let key = key.trim();
        return valid_label_key(key)
            .then(|| Requirement {
                key: key.to_string(),
                op: Op::DoesNotExist,
            })
            .ok_or_else(err);
    }
    for (token, neg) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = p.split_once(token) {
            let (k, v) = (k.trim(), v.trim().to_string());
            if !valid_label_key(k) {
                return Err(err());
            }
            let op = if neg { Op::NotEquals(v) } else { Op::Equals(v) };
            return Ok(Requirement {
                key: k.to_string(),
                op,
            });
        }
    }
    let mut words = p.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or("").trim();
    let rest = words.next().unwrap_or("").trim();
    if !valid_label_key(key) {
        return Err(err());
    }
    let op = if rest.is_empty() {
        Op::Exists
    } else if let Some(set) = rest.strip_prefix("notin") {
        Op::NotIn(parse_set(set, part)?)
    } else if let Some(set) = rest.strip_prefix("in") {
        Op::In(parse_set(set, part)?)
    } else {
        return Err(err());
    };
    Ok(Requirement {
        key: key.to_string(),
        op,
    })
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        let requirements = split_top_level(s)
            .into_iter()
            .map(parse_requirement)
            .collect::<Result<_, _>>()?;
        Ok(Self { requirements })
    }

    /// From a `metav1.LabelSelector` object (matchLabels + matchExpressions).
    pub fn from_object(sel: &Value) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                let v = v.as_str().unwrap_or_default().to_string();
                requirements.push(Requirement {
                    key: k.clone(),
                    op: Op::Equals(v),
                });
            }
        }
        for expr in sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<String> = expr
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let op = match expr.get("operator").and_then(Value::as_str) {
                Some("In") => Op::In(values),
                Some("NotIn") => Op::NotIn(values),
                Some("Exists") => Op::Exists,
                Some("DoesNotExist") => Op::DoesNotExist,
                other => return Err(SelectorError::Label(format!("{key} {other:?}"))),
            };
            requirements.push(Requirement {
                key: key.to_string(),
                op,
            });
        }
        Ok(Self { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Matches against an object's `metadata.labels` (or any string map).
    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        self.matches_with(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str))
    }

    /// Matches against labels looked up by `label`.
    pub fn matches_with<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| {
            let value = label(&r.key);
            match (&r.op, value) {
                (Op::Equals(want), Some(v)) => v == want,
                (Op::Equals(_), None) => false,
                (Op::NotEquals(want), v) => v != Some(want.as_str()),
                (Op::In(set), Some(v)) => set.iter().any(|s| s == v),
                (Op::In(_), None) => false,
                (Op::NotIn(set), v) => v.is_none_or(|v| !set.iter().any(|s| s == v)),
                (Op::Exists, v) => v.is_some(),
                (Op::DoesNotExist, v) => v.is_none(),
            }
        })
    }

    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }
}

/// A parsed field selector: conjunction of `field=value` / `field!=value` terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

/// Fields each resource may be selected by, beyond metadata.name and metadata.namespace.
pub fn selectable_fields(group: &str, resource: &str) -> &'static [&'static str] {
    match (group, resource) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "events") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "replicationcontrollers") | ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        ("", "services") => &["spec.clusterIP", "spec.type"],
        _ => &[],
    }
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits on commas not preceded by a backslash.
fn split_unescaped(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            ',' if !escaped => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => escaped = false,
        }
    }
    parts.push(&s[start..]);
    parts
}

impl FieldSelector {
    pub fn parse(s: &str, group: &str, resource: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self { terms });
        }
        for part in split_unescaped(s) {
            let (field, neg, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(SelectorError::Field(s.to_string(), part.to_string()));
            };
            let field = field.trim();
            let known = matches!(field, "metadata.name" | "metadata.namespace")
                || selectable_fields(group, resource).contains(&field);
            if !known {
                return Err(SelectorError::UnsupportedField(field.to_string()));
            }
            terms.push((
                storage_field(group, resource, field).to_string(),
                neg,
                unescape(value.trim()),
            ));
        }
        Ok(Self { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value of `metadata.name` when the selector pins it (`kubectl wait` does).
    pub fn required_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|(f, neg, _)| f == "metadata.name" && !neg)
            .map(|(_, _, v)| v.as_str())
    }

    /// Matches an object in its stored form.
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|(field, neg, want)| {
            let have = field_value(obj, field);
            (have == *want) != *neg
        })
    }

    /// Matches against field values looked up by `field` (stored-form field names, as
    /// [`index_fields`] lists them).
    pub fn matches_with<'a>(&self, field: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.terms.iter().all(|(name, neg, want)| {
            let have = field(name).unwrap_or("");
            (have == want) != *neg
        })
    }
}

/// events.k8s.io/v1 events are stored in the core/v1 form: select by the stored names.
fn storage_field<'a>(group: &str, resource: &str, field: &'a str) -> &'a str {
    if group != "events.k8s.io" || resource != "events" {
        return field;
    }
    match field {
        "regarding.kind" => "involvedObject.kind",
        "regarding.namespace" => "involvedObject.namespace",
        "regarding.name" => "involvedObject.name",
        "regarding.uid" => "involvedObject.uid",
        "reportingController" => "reportingComponent",
        other => other,
    }
}

/// Every field a selector may ask of objects stored under `plural`, in stored form.
pub fn index_fields(plural: &str) -> Vec<&'static str> {
    let mut fields = vec!["metadata.name", "metadata.namespace"];
    for group in ["", "apps", "batch"] {
        for f in selectable_fields(group, plural) {
            if !fields.contains(f) {
                fields.push(f);
            }
        }
    }
    fields
}

/// A field's value as a selector string: missing is "", booleans and numbers as text.
pub fn field_value(obj: &Value, field: &str) -> String {
    let pointer = format!("/{}", field_path(field).replace('.', "/"));
    field_text(field, obj.pointer(&pointer))
}

/// Where in the object a selectable field lives (dotted); `source` is an alias.
pub fn field_path(field: &str) -> &str {
    if field == "source" {
        "source.component"
    } else {
        field
    }
}

/// The selector text of `field` whose value (at [`field_path`]) is `value`.
pub fn field_text(field: &str, value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Null) | None => match field {
            "spec.hostNetwork" | "spec.unschedulable" => "false".into(),
            "status.replicas" | "status.successful" => "0".into(),
            _ => String::new(),
        },
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "p1", "namespace": "default", "labels": labels},
               "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_selector_syntax() {
        let o = obj(json!({"app": "web", "tier": "fe"}));
        let yes = [
            "",
            "app=web",
            "app==web",
            "app!=db",
            "app in (web, db)",
            "tier notin (be)",
            "app",
            "!missing",
            "app=web,tier in (fe)",
        ];
        for s in yes {
            assert!(LabelSelector::parse(s).unwrap().matches_object(&o), "{s}");
        }
        let no = [
            "app=db",
            "app notin (web)",
            "missing",
            "!app",
            "app=web,tier=be",
            "x in (a)",
        ];
        for s in no {
            assert!(!LabelSelector::parse(s).unwrap().matches_object(&o), "{s}");
        }
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a b c").is_err());
    }

    #[test]
    fn label_selector_from_object() {
        let sel = LabelSelector::from_object(&json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]}))
        .unwrap();
        assert!(sel.matches_object(&obj(json!({"app": "web", "tier": "fe"}))));
        assert!(!sel.matches_object(&obj(json!({"app": "web"}))));
    }

    #[test]
    fn field_selectors() {
        let o = obj(json!({}));
        let ok = |s: &str| FieldSelector::parse(s, "", "pods").unwrap().matches(&o);
        assert!(ok("spec.nodeName=n1,status.phase!=Failed"));
        assert!(ok("metadata.name==p1"));
        assert!(!ok("status.phase=Pending"));
        assert!(ok("spec.hostNetwork=false"));
        assert_eq!(
            FieldSelector::parse("spec.foo=x", "", "pods"),
            Err(SelectorError::UnsupportedField("spec.foo".into()))
        );
        let sel = FieldSelector::parse("metadata.name=p1", "", "configmaps").unwrap();
        assert_eq!(sel.required_name(), Some("p1"));
        let ev = json!({"source": {"component": "kubelet"}, "involvedObject": {"kind": "Pod"}});
        assert!(
            FieldSelector::parse("source=kubelet,involvedObject.kind=Pod", "", "events")
                .unwrap()
                .matches(&ev)
        );
    }
}
