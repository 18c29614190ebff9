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

fn child(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// Appends the path of every undeclared field in `value` (checked against `schema`) to
/// `out`, formatted like upstream's strict decoding errors: `spec.containers[0].imagee`.
pub(crate) fn collect(
    schemas: &Schemas,
    schema: &Value,
    value: &Value,
    path: &str,
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
                    Some(s) => collect(schemas, s, v, &child(path, key), depth + 1, out),
                    None => out.push(child(path, key)),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    collect(
                        schemas,
                        item_schema,
                        v,
                        &format!("{path}[{i}]"),
                        depth + 1,
                        out,
                    );
                }
            }
        }
        _ => {}
    }
}
