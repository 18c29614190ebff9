//! Strategic merge patch, applied the way kube-apiserver applies it
//! (k8s.io/apimachinery/pkg/util/strategicpatch, server side: parallel lists are merged and
//! unmatched nulls are ignored).

mod directives;
mod list;
mod order;

use serde_json::{Map, Value};

use crate::error::{decode_error_text, PatchError};
use crate::gofmt::json_kind;
use crate::schema::{Schema, Strategy};
use crate::SchemaSource;

use directives::{
    bad_patch_type, bad_primitive_list, bad_retain_keys, extract_key, sanitize, sanitize_map,
    DELETE, DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE_MARKER, REPLACE, RETAIN_KEYS, SET_ELEMENT_ORDER,
};

type Object = Map<String, Value>;

/// Applies a strategic merge patch body to `original`.
///
/// `root_definition` names the object's kind in the schema graph, e.g.
/// `io.k8s.api.apps.v1.Deployment`. Without it (or where the graph has no answer) maps are
/// merged like a JSON merge patch and lists are replaced atomically.
///
/// A body that is not a JSON object gives [`PatchError::InvalidBody`] (400).
pub fn strategic_merge_patch(
    original: &Value,
    patch: &[u8],
    schemas: &dyn SchemaSource,
    root_definition: Option<&str>,
) -> Result<Value, PatchError> {
    let decoded: Value = serde_json::from_slice(patch)
        .map_err(|e| PatchError::InvalidBody(decode_error_text(&e)))?;
    let patch = match decoded {
        Value::Object(map) => map,
        // Go leaves the target map untouched when decoding `null`.
        Value::Null => Object::new(),
        other => {
            return Err(PatchError::InvalidBody(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&other)
            )))
        }
    };
    let original = match original {
        Value::Object(map) => map.clone(),
        Value::Null => Object::new(),
        other => return Err(directives::bad_arg_type("map[string]interface {}", other)),
    };
    let schema = Schema::root(schemas, root_definition);
    merge_map(original, patch, schema).map(Value::Object)
}

/// Merges `patch` into `original` (both maps at the same position of the schema graph).
pub(super) fn merge_map(
    mut original: Object,
    mut patch: Object,
    schema: Schema<'_>,
) -> Result<Object, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
        return match directive.as_str() {
            Some(REPLACE) => Ok(sanitize_map(patch).unwrap_or_default()),
            Some(DELETE) => Ok(Object::new()),
            _ => Err(bad_patch_type(directive, &patch)),
        };
    }

    apply_retain_keys(&mut original, &mut patch)?;
    order::merge_ordered_lists(&mut original, &mut patch, schema)?;

    for (raw_key, patch_value) in patch {
        let (key, is_delete_list) = if raw_key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            let field =
                extract_key(&raw_key, DELETE_FROM_PRIMITIVE_LIST).ok_or_else(bad_primitive_list)?;
            (field.to_string(), true)
        } else {
            (raw_key, false)
        };

        if patch_value.is_null() {
            original.shift_remove(&key);
            continue;
        }

        let Some(current) = original.get_mut(&key) else {
            if !is_delete_list {
                if let Some(value) = sanitize(patch_value) {
                    original.insert(key, value);
                }
            }
            continue;
        };

        match (current, patch_value) {
            (Value::Object(current), Value::Object(patch_map)) => {
                let meta = schema.map_field(&key);
                let taken = std::mem::take(current);
                *current = if meta.strategy == Strategy::Replace {
                    sanitize_map(patch_map).unwrap_or_default()
                } else {
                    merge_map(taken, patch_map, meta.schema)?
                };
            }
            (Value::Array(current), Value::Array(patch_list)) => {
                let meta = schema.list_field(&key);
                let taken = std::mem::take(current);
                *current = list::merge_list_field(taken, patch_list, &meta, is_delete_list)?;
            }
            (current, patch_value) => {
                if is_delete_list && !same_kind(current, &patch_value) {
                    continue;
                }
                match sanitize(patch_value) {
                    Some(value) => *current = value,
                    None => {
                        original.shift_remove(&key);
                    }
                }
            }
        }
    }
    Ok(original)
}

/// Whether two values decode to the same Go type (upstream replaces on a type change, but
/// a deletion list never replaces anything).
fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Honours `$retainKeys`: every key of `original` not listed is cleared, and the patch may
/// only set listed keys.
fn apply_retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(bad_retain_keys());
    };
    let listed = |key: &str| retain.iter().any(|k| k.as_str() == Some(key));
    for (key, value) in patch.iter() {
        if value.is_null()
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || key.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(key) {
            return Err(bad_retain_keys());
        }
    }
    original.retain(|key, _| listed(key));
    Ok(())
}
