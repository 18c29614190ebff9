//! Element order of merged lists and the `$setElementOrder/<field>` directive.
//!
//! Precedence, as upstream: the `$setElementOrder` list, then the order of the patch list,
//! then the order of the live list. Elements only present on the server keep their relative
//! order and are interleaved by their original positions.

use serde_json::{Map, Value};

use super::directives::{
    bad_arg_type, bad_set_element_order, extract_key, has_directive, is_delete_element,
    no_merge_key, sanitize_list, DELETE, DIRECTIVE_MARKER, SET_ELEMENT_ORDER,
};
use super::list::{element_kind, merge_list_field, ElementKind};
use crate::error::PatchError;
use crate::gofmt::go_value;
use crate::schema::{Schema, Strategy};

type Object = Map<String, Value>;

/// Processes every `$setElementOrder/<field>` of `patch` together with the patch list of
/// that field, writing the ordered result into `original` and removing both from `patch`.
pub(super) fn merge_ordered_lists(
    original: &mut Object,
    patch: &mut Object,
    schema: Schema<'_>,
) -> Result<(), PatchError> {
    let order_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive_key in order_keys {
        let order = match patch.shift_remove(&directive_key) {
            Some(Value::Array(order)) => order,
            Some(other) => return Err(bad_arg_type("[]interface {}", &other)),
            None => continue,
        };
        let field = extract_key(&directive_key, SET_ELEMENT_ORDER)
            .ok_or_else(bad_set_element_order)?
            .to_string();

        let meta = schema.list_field(&field);
        if meta.strategy != Strategy::Merge {
            // Only merging lists have an order to preserve; without metadata (unknown
            // schema) the patch list simply replaces the live one in the main pass.
            continue;
        }
        let original_list = take_list(original.get(&field))?;
        let patch_list = take_list(patch.get(&field))?;
        let merge_key = meta.merge_key;
        validate_patch_with_order(patch_list.as_deref().unwrap_or(&[]), &order, merge_key)?;

        let kind = element_kind(&[
            original_list.as_deref().unwrap_or(&[]),
            patch_list.as_deref().unwrap_or(&[]),
        ])?;
        let server_order = original_list.clone().unwrap_or_default();
        let merged = match (original_list, patch_list) {
            (Some(live), None) => live,
            (None, Some(list)) => sanitize_list(list),
            (Some(live), Some(list)) => merge_list_field(live, list, &meta, false)?,
            (None, None) => continue,
        };
        let Some(kind) = kind else {
            original.insert(field.clone(), Value::Array(merged));
            patch.shift_remove(&field);
            continue;
        };
        let (in_order, server_only) = match merge_key {
            Some(key) => partition_maps(merged, &order, key)?,
            None => merged.into_iter().partition(|v| order.contains(v)),
        };
        let ordered = normalize_element_order(
            in_order,
            server_only,
            &order,
            &server_order,
            merge_key,
            kind,
        )?;
        original.insert(field.clone(), Value::Array(ordered));
        patch.shift_remove(&field);
    }
    Ok(())
}

/// A list-valued member, or an upstream-style type error when it is something else.
fn take_list(value: Option<&Value>) -> Result<Option<Vec<Value>>, PatchError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(other) => Err(bad_arg_type("[]interface {}", other)),
    }
}

/// The patch list must name its elements in the same relative order as the
/// `$setElementOrder` list, and only elements that list names (deletions aside).
fn validate_patch_with_order(
    patch: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let kept: Vec<&Value> = match merge_key {
        Some(_) => {
            let mut kept = Vec::with_capacity(patch.len());
            for element in patch {
                if !element.is_object() {
                    return Err(bad_arg_type("map[string]interface {}", element));
                }
                if !is_delete_element(element) {
                    kept.push(element);
                }
            }
            kept
        }
        None => patch.iter().collect(),
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < kept.len() && oi < order.len() {
        if has_directive(kept[pi]) {
            pi += 1;
            continue;
        }
        if merge_key_equal(kept[pi], &order[oi], merge_key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < kept.len() && oi >= order.len() {
        return Err(PatchError::Internal(format!(
            "the order in patch list:\n{}\n doesn't match {} list:\n{}",
            go_value(&Value::Array(patch.to_vec())),
            SET_ELEMENT_ORDER,
            go_value(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

fn merge_key_equal(left: &Value, right: &Value, key: Option<&str>) -> Result<bool, PatchError> {
    let Some(key) = key else {
        return Ok(left == right);
    };
    let lhs = left
        .as_object()
        .ok_or_else(|| bad_arg_type("map[string]interface {}", left))?;
    let rhs = right
        .as_object()
        .ok_or_else(|| bad_arg_type("map[string]interface {}", right))?;
    let l = lhs.get(key).ok_or_else(|| no_merge_key(lhs, key))?;
    let r = rhs.get(key).ok_or_else(|| no_merge_key(rhs, key))?;
    Ok(l == r)
}

/// Splits merged maps into those whose merge key appears in `by` and the rest.
pub(super) fn partition_maps(
    merged: Vec<Value>,
    by: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut inside = Vec::with_capacity(merged.len());
    let mut outside = Vec::with_capacity(merged.len());
    for element in merged {
        let Some(map) = element.as_object() else {
            return Err(bad_arg_type("map[string]interface {}", &element));
        };
        let Some(value) = map.get(key) else {
            return Err(no_merge_key(map, key));
        };
        let mut found = false;
        for (index, candidate) in by.iter().enumerate() {
            let Some(candidate) = candidate.as_object() else {
                return Err(PatchError::Internal(format!(
                    "value for key {index} is not a map"
                )));
            };
            if candidate.get(key) == Some(value) {
                found = true;
                break;
            }
        }
        if found {
            inside.push(element);
        } else {
            outside.push(element);
        }
    }
    Ok((inside, outside))
}

/// Sorts the patch elements by `patch_order` and the server-only elements by
/// `server_order`, then interleaves them.
pub(super) fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
    kind: ElementKind,
) -> Result<Vec<Value>, PatchError> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted(
        server_only,
        patch,
        server_order,
        merge_key,
        kind,
    ))
}

fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: Option<&str>,
    kind: ElementKind,
) -> Result<Vec<Value>, PatchError> {
    let (mut to_sort, to_delete) = if kind == ElementKind::Map {
        let key = merge_key.unwrap_or_default();
        for element in to_sort.iter().chain(order.iter()) {
            let Some(map) = element.as_object() else {
                return Err(bad_arg_type("map[string]interface {}", element));
            };
            if !map.contains_key(key) {
                return Err(no_merge_key(map, key));
            }
        }
        to_sort.into_iter().partition::<Vec<Value>, _>(|v| {
            v.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE)
        })
    } else {
        (to_sort, Vec::new())
    };
    // Elements the order list does not name go last, keeping their relative order.
    to_sort.sort_by_key(|v| index_of(order, v, merge_key, kind).unwrap_or(usize::MAX));
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// Interleaves `left` (server-only elements) into `right` (patch elements): a left element
/// goes first only when both are found in `server_order` and it comes earlier there.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: Option<&str>,
    kind: ElementKind,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                let li = index_of(server_order, l, merge_key, kind);
                let ri = index_of(server_order, r, merge_key, kind);
                matches!((li, ri), (Some(li), Some(ri)) if li < ri)
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some(value) = next {
            out.push(value);
        }
    }
    out
}

/// Position of `item` in `list`, comparing merge key values for maps and whole values
/// otherwise.
fn index_of(
    list: &[Value],
    item: &Value,
    merge_key: Option<&str>,
    kind: ElementKind,
) -> Option<usize> {
    match (kind, merge_key) {
        (ElementKind::Map, Some(key)) => {
            let wanted = item.get(key);
            list.iter().position(|v| v.get(key) == wanted)
        }
        _ => list.iter().position(|v| v == item),
    }
}
