//! Builds `components.schemas` from k8s-openapi's JSON schemas.
//!
//! k8s-openapi yields JSON Schema with `$ref` siblings and without patch/list metadata;
//! this module reshapes that into what upstream serves: `$ref` plus description wrapped
//! in a single-element `allOf`, the `x-kubernetes-*` extensions from our table, GVK
//! annotations on kinds, and `<Kind>List` definitions (k8s-openapi has a generic list type
//! without a schema).

use crate::field_ext::{fields_of, is_atomic_struct};
use crate::hash::Fnv;
use crate::kinds::{self, KINDS};
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Definition name → schema, sorted by name like upstream documents.
pub(crate) type Schemas = BTreeMap<String, Value>;

pub(crate) const REF_PREFIX: &str = "#/components/schemas/";

/// Generates every schema reachable from the registered kinds. `group_versions` are the
/// served group/versions; meta types that every group accepts list them in their GVKs.
pub(crate) fn generate(group_versions: &[(String, String)]) -> Schemas {
    let mut generator = SchemaSettings::openapi3()
        .with(|s| {
            // We do the OpenAPI reshaping ourselves in one pass below.
            s.transforms.clear();
            s.meta_schema = None;
        })
        .into_generator();
    kinds::add_meta_types(&mut generator);
    for k in KINDS {
        (k.add)(&mut generator);
    }
    let mut out = Schemas::new();
    for (name, mut schema) in generator.take_definitions(false) {
        wrap_ref_siblings(&mut schema);
        shape_definition(&name, &mut schema);
        out.insert(name, schema);
    }
    for k in KINDS {
        let name = (k.name)().into_owned();
        if k.has_list {
            let list = list_schema(&name, k.kind);
            out.insert(format!("{name}List"), list);
            add_gvk(
                &mut out,
                &format!("{name}List"),
                k.group,
                k.version,
                &format!("{}List", k.kind),
            );
        }
        add_gvk(&mut out, &name, k.group, k.version, k.kind);
    }
    add_gvk(&mut out, kinds::STATUS, "", "v1", "Status");
    let mut gvs: Vec<(&str, &str)> = vec![("", "v1")];
    gvs.extend(group_versions.iter().map(|(g, v)| (g.as_str(), v.as_str())));
    gvs.sort_unstable();
    gvs.dedup();
    for (g, v) in gvs {
        add_gvk(&mut out, kinds::DELETE_OPTIONS, g, v, "DeleteOptions");
        add_gvk(&mut out, kinds::WATCH_EVENT, g, v, "WatchEvent");
    }
    out
}

/// Rewrites `{"$ref": R, "description": D}` (JSON Schema style, which OpenAPI 3.0 readers
/// ignore the siblings of) into `{"allOf": [{"$ref": R}], "description": D}`.
fn wrap_ref_siblings(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            for v in obj.values_mut() {
                wrap_ref_siblings(v);
            }
            if obj.len() > 1 {
                if let Some(r) = obj.shift_remove("$ref") {
                    let mut wrapped = Map::new();
                    wrapped.insert("allOf".into(), json!([{ "$ref": r }]));
                    wrapped.append(obj);
                    *obj = wrapped;
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(wrap_ref_siblings),
        _ => {}
    }
}

/// Applies upstream conventions that differ from k8s-openapi's schema for one definition.
fn shape_definition(name: &str, schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    match name {
        // Upstream describes these scalar unions with oneOf so explain shows them sensibly.
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            obj.shift_remove("x-kubernetes-int-or-string");
            obj.insert("format".into(), "int-or-string".into());
            obj.insert(
                "oneOf".into(),
                json!([{"type": "integer"}, {"type": "string"}]),
            );
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            obj.shift_remove("x-kubernetes-int-or-string");
            obj.insert(
                "oneOf".into(),
                json!([{"type": "string"}, {"type": "number"}]),
            );
        }
        _ => {}
    }
    // k8s-openapi marks `metadata` required because its Rust field is not optional;
    // upstream never requires it and explain would print it as `-required-`.
    if let Some(Value::Array(req)) = obj.get_mut("required") {
        req.retain(|f| f != "metadata");
        if req.is_empty() {
            obj.shift_remove("required");
        }
    }
    if is_atomic_struct(name) {
        obj.insert("x-kubernetes-map-type".into(), "atomic".into());
    }
    let exts = fields_of(name);
    if exts.is_empty() {
        return;
    }
    let Some(Value::Object(props)) = obj.get_mut("properties") else {
        return;
    };
    for ext in exts {
        let Some(Value::Object(prop)) = props.get_mut(ext.field) else {
            continue;
        };
        if prop.len() == 1 {
            // A bare `$ref` cannot carry siblings in OpenAPI 3.0: wrap it first.
            if let Some(r) = prop.shift_remove("$ref") {
                prop.insert("allOf".into(), json!([{ "$ref": r }]));
            }
        }
        for (k, v) in ext.json_pairs() {
            prop.insert(k.into(), v);
        }
    }
}

/// The `<Kind>List` definition for a kind.
fn list_schema(item: &str, kind: &str) -> Value {
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "properties": {
            "apiVersion": {
                "description": "The versioned schema of this representation of an object.",
                "type": "string"
            },
            "items": {
                "description": format!("List of {kind} objects."),
                "items": { "$ref": format!("{REF_PREFIX}{item}") },
                "type": "array"
            },
            "kind": {
                "description": "The REST resource this object represents.",
                "type": "string"
            },
            "metadata": {
                "allOf": [{ "$ref": format!("{REF_PREFIX}{}", kinds::LIST_META) }],
                "description": "Standard list metadata."
            }
        },
        "required": ["items"],
        "type": "object"
    })
}

fn add_gvk(out: &mut Schemas, name: &str, group: &str, version: &str, kind: &str) {
    let Some(Value::Object(obj)) = out.get_mut(name) else {
        return;
    };
    let entry = json!({ "group": group, "kind": kind, "version": version });
    let list = obj
        .entry("x-kubernetes-group-version-kind")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = list {
        if !items.contains(&entry) {
            items.push(entry);
        }
    }
}

/// Per-definition facts computed once so documents can be assembled cheaply.
pub(crate) struct SchemaIndex {
    /// Definitions each definition refers to directly.
    refs: BTreeMap<String, Vec<String>>,
    /// Content hash of each definition.
    pub hashes: BTreeMap<String, u64>,
}

impl SchemaIndex {
    pub(crate) fn new(schemas: &Schemas) -> SchemaIndex {
        let mut refs = BTreeMap::new();
        let mut hashes = BTreeMap::new();
        for (name, schema) in schemas {
            let mut r = Vec::new();
            refs_of(schema, &mut r);
            r.sort_unstable();
            r.dedup();
            refs.insert(name.clone(), r);
            let mut h = Fnv::default();
            h.value(schema);
            hashes.insert(name.clone(), h.finish());
        }
        SchemaIndex { refs, hashes }
    }

    /// `roots` and every definition they reach, sorted; names without a schema are dropped.
    pub(crate) fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<&str> = roots.into_iter().map(String::as_str).collect();
        while let Some(name) = pending.pop() {
            let Some(next) = self.refs.get(name) else {
                continue;
            };
            if seen.insert(name.to_owned()) {
                pending.extend(next.iter().map(String::as_str));
            }
        }
        seen.into_iter().collect()
    }
}

/// Names of the definitions `schema` refers to directly.
pub(crate) fn refs_of(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(obj) => {
            if let Some(Value::String(r)) = obj.get("$ref") {
                if let Some(name) = r.strip_prefix(REF_PREFIX) {
                    out.push(name.to_owned());
                }
            }
            obj.values().for_each(|v| refs_of(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs_of(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_with_description_becomes_all_of() {
        let mut v = json!({"properties": {"spec": {"$ref": "#/components/schemas/X", "description": "d"},
                                          "plain": {"$ref": "#/components/schemas/Y"}}});
        wrap_ref_siblings(&mut v);
        assert_eq!(
            v["properties"]["spec"],
            json!({"allOf": [{"$ref": "#/components/schemas/X"}], "description": "d"})
        );
        assert_eq!(
            v["properties"]["plain"],
            json!({"$ref": "#/components/schemas/Y"})
        );
    }
}
