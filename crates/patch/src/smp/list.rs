//! Merging of list fields: merge-keyed lists of maps, primitive sets, and the special
//! `$patch` elements.

use serde_json::Value;

use super::directives::{
    bad_patch_type, has_directive, no_list_of_lists, no_merge_key, sanitize, sanitize_list, DELETE,
    DIRECTIVE_MARKER, MERGE, REPLACE,
};
use super::{merge_map, order};
use crate::error::PatchError;
use crate::gofmt::go_value;
use crate::schema::{FieldMeta, Schema, Strategy};

/// What the elements of a list are, as far as merging cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ElementKind {
    Map,
    Scalar,
}

/// Combines a live list with a patch list according to the field's metadata.
pub(super) fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: &FieldMeta<'_>,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    // A deletion list is honoured whatever the field's strategy says.
    if meta.strategy == Strategy::Merge || is_delete_list {
        merge_list(original, patch, meta.schema, meta.merge_key, is_delete_list)
    } else {
        Ok(sanitize_list(patch))
    }
}

/// The element kind shared by all elements of the given lists; `None` when all are empty.
/// Mixed element types and nested lists are errors, as upstream.
pub(super) fn element_kind(lists: &[&[Value]]) -> Result<Option<ElementKind>, PatchError> {
    let mut first: Option<&Value> = None;
    for value in lists.iter().flat_map(|l| l.iter()) {
        match first {
            None => {
                if value.is_array() {
                    return Err(no_list_of_lists());
                }
                first = Some(value);
            }
            Some(seen) => {
                if !same_go_type(seen, value) {
                    let rendered: Vec<String> = lists
                        .iter()
                        .map(|l| go_value(&Value::Array(l.to_vec())))
                        .collect();
                    return Err(PatchError::Internal(format!(
                        "list element types are not identical: [{}]",
                        rendered.join(" ")
                    )));
                }
            }
        }
    }
    Ok(first.map(|v| {
        if v.is_object() {
            ElementKind::Map
        } else {
            ElementKind::Scalar
        }
    }))
}

/// Go distinguishes integers from floats after decoding with preserved ints.
fn same_go_type(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.is_f64() == y.is_f64(),
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema<'_>,
    merge_key: Option<&str>,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let Some(kind) = element_kind(&[&original, &patch])? else {
        return Ok(original);
    };
    match kind {
        ElementKind::Scalar => {
            if is_delete_list {
                return Ok(original
                    .into_iter()
                    .filter(|v| !patch.contains(v))
                    .collect());
            }
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for value in original.iter().chain(patch.iter()) {
                if !merged.contains(value) {
                    merged.push(value.clone());
                }
            }
            let (in_patch, server_only): (Vec<Value>, Vec<Value>) =
                merged.into_iter().partition(|v| patch.contains(v));
            order::normalize_element_order(in_patch, server_only, &patch, &original, None, kind)
        }
        ElementKind::Map => {
            let Some(key) = merge_key else {
                return Err(PatchError::Internal(
                    "cannot merge lists without merge key for map".to_string(),
                ));
            };
            let (original, patch) = apply_special_elements(original, patch, key)?;
            let server_order = original.clone();
            let merged = merge_by_key(original, &patch, key, schema)?;
            let (in_patch, server_only) = order::partition_maps(merged, &patch, key)?;
            order::normalize_element_order(
                in_patch,
                server_only,
                &patch,
                &server_order,
                Some(key),
                kind,
            )
        }
    }
}

/// Handles patch elements carrying `$patch`: `delete` removes the live elements with that
/// merge key, `replace` makes the remaining patch elements the whole list.
/// Returns the live list after deletions and the patch without special elements.
fn apply_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for element in patch {
        let Some(map) = element.as_object().filter(|_| has_directive(&element)) else {
            plain.push(element);
            continue;
        };
        let directive = map.get(DIRECTIVE_MARKER).unwrap_or(&Value::Null);
        match directive.as_str() {
            Some(DELETE) => {
                let Some(target) = map.get(key) else {
                    return Err(no_merge_key(map, key));
                };
                for (index, live) in original.iter().enumerate() {
                    if !live.is_object() {
                        return Err(PatchError::Internal(format!(
                            "value for key {index} is not a map"
                        )));
                    }
                }
                original.retain(|live| live.get(key) != Some(target));
            }
            Some(REPLACE) => replace = true,
            Some(MERGE) => {
                return Err(PatchError::Internal(
                    "merging lists cannot yet be specified in the patch".to_string(),
                ))
            }
            _ => return Err(bad_patch_type(directive, map)),
        }
    }
    if replace {
        // The remaining patch elements become the list; nothing is merged into them.
        return Ok((sanitize_list(plain), Vec::new()));
    }
    Ok((original, plain))
}

/// Merges each patch element into the live element with the same merge key value, or
/// appends it when there is none.
fn merge_by_key(
    mut original: Vec<Value>,
    patch: &[Value],
    key: &str,
    schema: Schema<'_>,
) -> Result<Vec<Value>, PatchError> {
    for element in patch {
        let Some(map) = element.as_object() else {
            return Err(PatchError::Internal(format!(
                "expected a map[string]interface {{}}, but received a {}",
                crate::gofmt::go_type(element)
            )));
        };
        let Some(target) = map.get(key) else {
            return Err(no_merge_key(map, key));
        };
        let mut found = None;
        for (index, live) in original.iter().enumerate() {
            let Some(live_map) = live.as_object() else {
                return Err(PatchError::Internal(format!(
                    "value for key {index} is not a map"
                )));
            };
            if live_map.get(key) == Some(target) {
                found = Some(index);
                break;
            }
        }
        match found.and_then(|index| original.get_mut(index)) {
            Some(slot) => {
                let live = match std::mem::take(slot) {
                    Value::Object(m) => m,
                    _ => serde_json::Map::new(),
                };
                *slot = Value::Object(merge_map(live, map.clone(), schema)?);
            }
            None => {
                if let Some(value) = sanitize(element.clone()) {
                    original.push(value);
                }
            }
        }
    }
    Ok(original)
}
