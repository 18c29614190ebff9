//! Field errors with upstream's wire text (`field.Error.Error()` and StatusCause reasons).

use serde_json::Value;
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq)]
pub enum ErrorType {
    Required,
    Invalid,
    NotSupported,
    Duplicate,
    Forbidden,
    TooLong,
    TooMany,
    NotFound,
}

impl ErrorType {
    fn label(&self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::NotFound => "Not found",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: String,
    pub error_type: ErrorType,
    pub bad_value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    /// The text upstream's `field.Error.Error()` produces.
    pub fn message(&self) -> String {
        let mut s = format!("{}: {}", self.field, self.error_type.label());
        // Upstream never prints the value for these kinds, whatever was passed.
        let hides_value = matches!(
            self.error_type,
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong
        );
        if !hides_value {
            if let Some(v) = &self.bad_value {
                s.push_str(": ");
                s.push_str(&render_value(v));
            }
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// The StatusCause `reason` upstream reports for this error.
    pub fn reason(&self) -> &'static str {
        match self.error_type {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::NotFound => "FieldValueNotFound",
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// Renders a bad value the way Go's `%v`/`%q`/`%#v` would for the shapes that
/// reach clients: strings quoted, scalars bare, string maps and string slices
/// in Go literal syntax (so label errors read exactly like upstream), and
/// anything structured as compact JSON (upstream prints Go structs there,
/// which has no JSON equivalent).
pub fn render_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => go_quote(s),
        Value::Object(m) if !m.is_empty() && m.values().all(Value::is_string) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .iter()
                .map(|k| {
                    let val = m.get(k.as_str()).and_then(Value::as_str).unwrap_or("");
                    format!("{}:{}", go_quote(k), go_quote(val))
                })
                .collect();
            format!("map[string]string{{{}}}", body.join(", "))
        }
        Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_string) => {
            let body: Vec<String> = a
                .iter()
                .map(|s| go_quote(s.as_str().unwrap_or("")))
                .collect();
            format!("[]string{{{}}}", body.join(", "))
        }
        other => other.to_string(),
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A field path as upstream prints it: `spec.containers[0].image`, `data[key]`.
#[derive(Debug, Clone, Default)]
pub struct Path(String);

impl Path {
    pub fn root(name: &str) -> Path {
        Path(name.to_string())
    }
    pub fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{}", self.0, name))
        }
    }
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{}]", self.0, i))
    }
    pub fn key(&self, k: &str) -> Path {
        Path(format!("{}[{}]", self.0, k))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn mk(path: &Path, t: ErrorType, v: Option<Value>, detail: impl Into<String>) -> FieldError {
    FieldError {
        field: path.0.clone(),
        error_type: t,
        bad_value: v,
        detail: detail.into(),
    }
}

pub fn required(path: &Path, detail: &str) -> FieldError {
    mk(
        path,
        ErrorType::Required,
        Some(Value::String(String::new())),
        detail,
    )
}
pub fn invalid(path: &Path, v: impl Into<Value>, detail: impl Into<String>) -> FieldError {
    mk(path, ErrorType::Invalid, Some(v.into()), detail)
}
pub fn not_supported(path: &Path, v: impl Into<Value>, valid: &[&str]) -> FieldError {
    let detail = if valid.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = valid.iter().map(|s| go_quote(s)).collect();
        format!("supported values: {}", quoted.join(", "))
    };
    mk(path, ErrorType::NotSupported, Some(v.into()), detail)
}
pub fn duplicate(path: &Path, v: impl Into<Value>) -> FieldError {
    mk(path, ErrorType::Duplicate, Some(v.into()), "")
}
pub fn forbidden(path: &Path, detail: impl Into<String>) -> FieldError {
    mk(
        path,
        ErrorType::Forbidden,
        Some(Value::String(String::new())),
        detail,
    )
}
pub fn too_long(path: &Path, max_bytes: usize) -> FieldError {
    mk(
        path,
        ErrorType::TooLong,
        None,
        format!("must have at most {max_bytes} bytes"),
    )
}
pub fn too_many(path: &Path, actual: usize, max: usize) -> FieldError {
    mk(
        path,
        ErrorType::TooMany,
        Some(Value::from(actual)),
        format!("must have at most {max} items"),
    )
}
pub fn not_found(path: &Path, v: impl Into<Value>) -> FieldError {
    mk(path, ErrorType::NotFound, Some(v.into()), "")
}

/// Upstream's `ValidateNonnegativeField`.
pub fn nonnegative(v: i64, path: &Path) -> Option<FieldError> {
    (v < 0).then(|| invalid(path, v, "must be greater than or equal to 0"))
}

pub const IMMUTABLE: &str = "field is immutable";

/// Upstream's `ValidateImmutableField`; absent and null compare equal.
pub fn immutable(new: Option<&Value>, old: Option<&Value>, path: &Path) -> Option<FieldError> {
    let n = new.filter(|v| !v.is_null());
    let o = old.filter(|v| !v.is_null());
    (n != o).then(|| invalid(path, n.cloned().unwrap_or(Value::Null), IMMUTABLE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_match_upstream_formats() {
        let p = Path::root("spec")
            .child("containers")
            .index(0)
            .child("image");
        assert_eq!(
            required(&p, "").message(),
            "spec.containers[0].image: Required value"
        );
        let n = Path::root("metadata").child("name");
        assert_eq!(
            required(&n, "name or generateName is required").message(),
            "metadata.name: Required value: name or generateName is required"
        );
        let s = Path::root("spec").child("selector");
        assert_eq!(
            invalid(&s, json!({"matchLabels":{"app":"x"}}), IMMUTABLE).message(),
            r#"spec.selector: Invalid value: {"matchLabels":{"app":"x"}}: field is immutable"#
        );
        assert_eq!(
            invalid(
                &Path::root("spec").child("replicas"),
                -1,
                "must be greater than or equal to 0"
            )
            .message(),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let rp = Path::root("spec").child("restartPolicy");
        let e = not_supported(&rp, "Sometimes", &["Always", "OnFailure", "Never"]);
        assert_eq!(
            e.message(),
            r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#
        );
        assert_eq!(e.reason(), "FieldValueNotSupported");
        assert_eq!(
            duplicate(&Path::root("x"), "a").message(),
            r#"x: Duplicate value: "a""#
        );
        assert_eq!(
            forbidden(&Path::root("x"), "nope").message(),
            "x: Forbidden: nope"
        );
        assert_eq!(
            too_long(&Path::root("data"), 10).message(),
            "data: Too long: must have at most 10 bytes"
        );
        assert_eq!(
            too_many(&Path::root("l"), 5, 4).message(),
            "l: Too many: 5: must have at most 4 items"
        );
        assert_eq!(
            not_found(&Path::root("n"), "v").message(),
            r#"n: Not found: "v""#
        );
    }

    #[test]
    fn renders_string_maps_like_go() {
        let v = json!({"b":"2","a":"1"});
        assert_eq!(render_value(&v), r#"map[string]string{"a":"1", "b":"2"}"#);
        assert_eq!(render_value(&json!(["x", "y"])), r#"[]string{"x", "y"}"#);
        assert_eq!(go_quote("a\"b\n"), r#""a\"b\n""#);
    }

    #[test]
    fn path_keys() {
        assert_eq!(Path::root("data").key("a b").as_str(), "data[a b]");
        assert_eq!(Path::default().child("x").as_str(), "x");
    }
}
