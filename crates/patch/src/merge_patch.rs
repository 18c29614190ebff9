//! JSON merge patch (RFC 7386) with the behaviour of the library kube-apiserver uses
//! (evanphx/json-patch v4 `MergePatch`).

use serde_json::{Map, Value};

use crate::error::PatchError;

/// Upstream's text for every undecodable merge patch body (answered with 400).
const BAD_PATCH: &str = "Invalid JSON Patch";

/// Applies an RFC 7386 merge patch body to `original` and returns the merged document.
///
/// A body that is not JSON, or is `null` or a scalar, gives [`PatchError::InvalidBody`]
/// ("Invalid JSON Patch", 400). A JSON array body replaces the whole document upstream and
/// then fails to decode as an object, so it gives [`PatchError::NotApplicable`] (422).
pub fn merge_patch(original: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let decoded: Value = serde_json::from_slice(patch)
        .map_err(|_| PatchError::InvalidBody(BAD_PATCH.to_string()))?;
    match decoded {
        Value::Object(patch) => match original {
            Value::Object(doc) => {
                let mut doc = doc.clone();
                merge_objects(&mut doc, patch);
                Ok(Value::Object(doc))
            }
            _ => {
                let mut patch = Value::Object(patch);
                prune_nulls(&mut patch);
                Ok(patch)
            }
        },
        Value::Array(_) => Err(PatchError::NotApplicable(
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
                .to_string(),
        )),
        _ => Err(PatchError::InvalidBody(BAD_PATCH.to_string())),
    }
}

fn merge_objects(doc: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            doc.shift_remove(&key);
            continue;
        }
        match doc.get_mut(&key) {
            Some(current) => {
                let taken = std::mem::take(current);
                *current = merge_value(taken, value);
            }
            None => {
                let mut value = value;
                prune_nulls(&mut value);
                doc.insert(key, value);
            }
        }
    }
}

fn merge_value(current: Value, patch: Value) -> Value {
    match (current, patch) {
        (Value::Object(mut doc), Value::Object(patch)) => {
            merge_objects(&mut doc, patch);
            Value::Object(doc)
        }
        // Upstream keeps a non-object patch value verbatim when it replaces an object.
        (Value::Object(_), patch) => patch,
        (_, mut patch) => {
            prune_nulls(&mut patch);
            patch
        }
    }
}

/// Drops null members of objects and null elements of arrays, recursively; a value taken
/// wholesale from a merge patch must not carry the "delete" markers.
fn prune_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(prune_nulls);
        }
        Value::Array(items) => {
            items.retain(|v| !v.is_null());
            items.iter_mut().for_each(prune_nulls);
        }
        _ => {}
    }
}
