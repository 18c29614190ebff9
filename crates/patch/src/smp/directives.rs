//! Directive names, upstream error texts, and the clean-up of values copied from a patch.

use serde_json::{Map, Value};

use crate::error::PatchError;
use crate::gofmt::{go_type, go_value};

pub(crate) const DIRECTIVE_MARKER: &str = "$patch";
pub(crate) const DELETE: &str = "delete";
pub(crate) const REPLACE: &str = "replace";
pub(crate) const MERGE: &str = "merge";
pub(crate) const RETAIN_KEYS: &str = "$retainKeys";
pub(crate) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
pub(crate) const SET_ELEMENT_ORDER: &str = "$setElementOrder";

pub(crate) fn bad_primitive_list() -> PatchError {
    PatchError::BadDirective("invalid patch format of primitive list".to_string())
}

pub(crate) fn bad_retain_keys() -> PatchError {
    PatchError::BadDirective("invalid patch format of retainKeys".to_string())
}

pub(crate) fn bad_set_element_order() -> PatchError {
    PatchError::BadDirective("invalid patch format of setElementOrder list".to_string())
}

pub(crate) fn no_list_of_lists() -> PatchError {
    PatchError::NotApplicable("lists of lists are not supported".to_string())
}

pub(crate) fn no_merge_key(map: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Internal(format!(
        "map: {} does not contain declared merge key: {}",
        go_value(&Value::Object(map.clone())),
        key
    ))
}

pub(crate) fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Internal(format!(
        "expected a {}, but received a {}",
        expected,
        go_type(actual)
    ))
}

pub(crate) fn bad_patch_type(directive: &Value, map: &Map<String, Value>) -> PatchError {
    PatchError::Internal(format!(
        "unknown patch type: {} in map: {}",
        go_value(directive),
        go_value(&Value::Object(map.clone()))
    ))
}

/// Splits `$prefix/field` into `field`; malformed names are a bad directive.
pub(crate) fn extract_key<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    let (head, tail) = key.split_once('/')?;
    (head == prefix).then_some(tail)
}

/// Whether a key is one of the directives that must never reach a stored object.
fn is_directive_key(key: &str) -> bool {
    key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// Prepares a value copied verbatim from the patch for storage.
///
/// Upstream drops such leftovers when it decodes the result into a typed object (directive
/// keys are unknown fields, nulls are zero values); we store JSON, so they are removed
/// here: directive keys go, null members go, a map marked `$patch: delete` (or any other
/// unknown `$patch`) disappears and one marked `$patch: replace` keeps its content.
/// Returns `None` when the value itself must be dropped.
pub(crate) fn sanitize(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => sanitize_map(map).map(Value::Object),
        Value::Array(items) => Some(Value::Array(sanitize_list(items))),
        other => Some(other),
    }
}

pub(crate) fn sanitize_map(mut map: Map<String, Value>) -> Option<Map<String, Value>> {
    if let Some(directive) = map.shift_remove(DIRECTIVE_MARKER) {
        if directive.as_str() != Some(REPLACE) {
            return None;
        }
    }
    let mut out = Map::with_capacity(map.len());
    for (key, value) in map {
        if is_directive_key(&key) || value.is_null() {
            continue;
        }
        if let Some(value) = sanitize(value) {
            out.insert(key, value);
        }
    }
    Some(out)
}

/// Null elements of lists are kept, as upstream keeps them.
pub(crate) fn sanitize_list(items: Vec<Value>) -> Vec<Value> {
    items.into_iter().filter_map(sanitize).collect()
}

/// Whether a value is a map carrying a `$patch` directive.
pub(crate) fn has_directive(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
}

/// Whether a value is a map carrying `$patch: delete`.
pub(crate) fn is_delete_element(value: &Value) -> bool {
    value
        .as_object()
        .and_then(|m| m.get(DIRECTIVE_MARKER))
        .and_then(Value::as_str)
        == Some(DELETE)
}
