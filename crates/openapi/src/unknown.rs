//! Finds fields of an object that its kind's schema does not declare, for the
//! `fieldValidation=Strict|Warn` query parameter.

use crate::defs::{Schemas, REF_PREFIX};
use serde_json::Value;

/// Deep enough for any real object; stops runaway recursion on self-referencing schemas
/// (JSONSchemaProps) fed with adversarially deep input.
const MAX_DEPTH: usize = 128;

/// Follows `$ref` and single-element `allOf` wrappers to the schema that has the shape.
fn resolve<'a>(schemas: &'a Schemas, mut schema: &'a Value) -> Option<&'a Value> {
    for _ in 0..16 {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            schema = schemas.get(r.strip_prefix(REF_PREFIX)?)?;
            continue;
        }
        match schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([only]) if schema.get("properties").is_none() => schema = only,
            _ => return Some(schema),
        }
    }
    None
}

/// The path to the value being checked, rendered only when an unknown field is found:
/// objects without one (nearly all) cost no string building.
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Field(parent, name) => {
                parent.render(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Path::Index(parent, i) => {
                parent.render(out);
                out.push_str(&format!("[{i}]"));
            }
        }
    }

    fn child(&self, field: &str) -> String {
        let mut out = String::new();
        Path::Field(self, field).render(&mut out);
        out
    }
}

/// Appends the path of every undeclared field in `value` (checked against `schema`) to
/// `out`, formatted like upstream's strict decoding errors: `spec.containers[0].imagee`.
pub(crate) fn collect(schemas: &Schemas, schema: &Value, value: &Value, out: &mut Vec<String>) {
    walk(schemas, schema, value, &Path::Root, 0, out);
}

fn walk(
    schemas: &Schemas,
    schema: &Value,
    value: &Value,
    path: &Path<'_>,
    depth: usize,
    out: &mut Vec<String>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(schema) = resolve(schemas, schema) else {
        return;
    };
    if schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return;
    }
    match value {
        Value::Object(fields) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties").filter(|a| a.is_object());
            let open = schema.get("additionalProperties").and_then(Value::as_bool) == Some(true);
            if open || (props.is_none() && extra.is_none()) {
                // A schema without declared properties (FieldsV1, RawExtension) is free-form.
                return;
            }
            for (key, v) in fields {
                let sub = props.and_then(|p| p.get(key)).or(extra);
                match sub {
                    Some(s) => walk(schemas, s, v, &Path::Field(path, key), depth + 1, out),
                    None => out.push(path.child(key)),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(
                        schemas,
                        item_schema,
                        v,
                        &Path::Index(path, i),
                        depth + 1,
                        out,
                    );
                }
            }
        }
        _ => {}
    }
}
