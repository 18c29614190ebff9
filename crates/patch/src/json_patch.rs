//! JSON patch (RFC 6902) with the error texts of the library kube-apiserver uses
//! (evanphx/json-patch v4), since those texts reach kubectl in 422 answers.

use serde_json::{Map, Value};

use crate::error::{decode_error_text, PatchError};
use crate::gofmt::json_kind;

/// Upstream refuses longer patches with 413 to bound the work per request.
const MAX_OPERATIONS: usize = 10_000;

/// Reason text evanphx/json-patch appends for absent values.
const MISSING: &str = "missing value";

/// Applies an RFC 6902 JSON patch body to `original` and returns the patched document.
///
/// Undecodable bodies give [`PatchError::InvalidBody`] (400); operations that cannot be
/// applied, including a failed `test`, give [`PatchError::NotApplicable`] (422).
pub fn json_patch(original: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let decoded: Value = serde_json::from_slice(patch)
        .map_err(|e| PatchError::InvalidBody(decode_error_text(&e)))?;
    let ops = match decoded {
        // Go decodes `null` into an empty patch.
        Value::Null => Vec::new(),
        Value::Array(ops) => ops,
        other => {
            return Err(PatchError::InvalidBody(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                json_kind(&other)
            )))
        }
    };
    let mut operations = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Value::Object(map) => operations.push(map),
            Value::Null => operations.push(Map::new()),
            other => {
                return Err(PatchError::InvalidBody(format!(
                    "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                    json_kind(&other)
                )))
            }
        }
    }
    if operations.len() > MAX_OPERATIONS {
        return Err(PatchError::TooLarge(format!(
            "The allowed maximum operations in a JSON patch is {}, got {}",
            MAX_OPERATIONS,
            operations.len()
        )));
    }

    let mut doc = original.clone();
    for op in &operations {
        apply_operation(&mut doc, op).map_err(PatchError::NotApplicable)?;
    }
    Ok(doc)
}

fn apply_operation(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let kind = match op.get("op") {
        Some(Value::String(s)) => s.as_str(),
        _ => "unknown",
    };
    match kind {
        "add" => op_add(doc, op),
        "remove" => op_remove(doc, op),
        "replace" => op_replace(doc, op),
        "move" => op_move(doc, op),
        "test" => op_test(doc, op),
        "copy" => op_copy(doc, op),
        other => Err(format!("Unexpected kind: {other}")),
    }
}

fn string_field(op: &Map<String, Value>, field: &str, missing: &str) -> Result<String, String> {
    match op.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Err(format!("{missing}: {MISSING}")),
        Some(other) => Err(format!(
            "json: cannot unmarshal {} into Go value of type string",
            json_kind(other)
        )),
    }
}

fn path_of(op: &Map<String, Value>) -> Result<String, String> {
    string_field(op, "path", "operation missing path field")
}

fn from_of(op: &Map<String, Value>) -> Result<String, String> {
    string_field(op, "from", "operation, missing from field")
}

fn value_of(op: &Map<String, Value>) -> Value {
    op.get("value").cloned().unwrap_or(Value::Null)
}

fn op_add(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let path =
        path_of(op).map_err(|_| format!("add operation failed to decode path: {MISSING}"))?;
    let Some((container, key)) = locate(doc, &path) else {
        return Err(format!(
            "add operation does not apply: doc is missing path: \"{path}\": {MISSING}"
        ));
    };
    add_to(container, &key, value_of(op))
        .map_err(|e| format!("error in add for path: '{path}': {e}"))
}

fn op_remove(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let path =
        path_of(op).map_err(|_| format!("remove operation failed to decode path: {MISSING}"))?;
    let Some((container, key)) = locate(doc, &path) else {
        return Err(format!(
            "remove operation does not apply: doc is missing path: \"{path}\": {MISSING}"
        ));
    };
    remove_from(container, &key)
        .map(drop)
        .map_err(|e| format!("error in remove for path: '{path}': {e}"))
}

fn op_replace(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let path = path_of(op).map_err(|e| format!("replace operation failed to decode path: {e}"))?;
    let Some((container, key)) = locate(doc, &path) else {
        return Err(format!(
            "replace operation does not apply: doc is missing path: {path}: {MISSING}"
        ));
    };
    let slot = get_mut(container, &key).map_err(|_| {
        format!("replace operation does not apply: doc is missing key: {path}: {MISSING}")
    })?;
    *slot = value_of(op);
    Ok(())
}

fn op_move(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let from = from_of(op).map_err(|e| format!("move operation failed to decode from: {e}"))?;
    let Some((container, key)) = locate(doc, &from) else {
        return Err(format!(
            "move operation does not apply: doc is missing from path: {from}: {MISSING}"
        ));
    };
    get_mut(container, &key).map_err(|e| format!("error in move for path: '{key}': {e}"))?;
    let moved = remove_from(container, &key)
        .map_err(|e| format!("error in move for path: '{key}': {e}"))?;
    let path = path_of(op).map_err(|e| format!("move operation failed to decode path: {e}"))?;
    let Some((container, key)) = locate(doc, &path) else {
        return Err(format!(
            "move operation does not apply: doc is missing destination path: {path}: {MISSING}"
        ));
    };
    add_to(container, &key, moved).map_err(|e| format!("error in move for path: '{path}': {e}"))
}

fn op_test(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let path = path_of(op).map_err(|e| format!("test operation failed to decode path: {e}"))?;
    let Some((container, key)) = locate(doc, &path) else {
        return Err(format!(
            "test operation does not apply: is missing path: {path}: {MISSING}"
        ));
    };
    // An absent member compares like a JSON null, as in the upstream library.
    let actual = match container {
        Value::Object(map) => map.get(&key).cloned().unwrap_or(Value::Null),
        _ => get_mut(container, &key)
            .map_err(|e| format!("error in test for path: '{path}': {e}"))?
            .clone(),
    };
    if actual == value_of(op) {
        Ok(())
    } else {
        Err(format!("testing value {path} failed: test failed"))
    }
}

fn op_copy(doc: &mut Value, op: &Map<String, Value>) -> Result<(), String> {
    let from = from_of(op).map_err(|e| format!("copy operation failed to decode from: {e}"))?;
    let Some((container, key)) = locate(doc, &from) else {
        return Err(format!(
            "copy operation does not apply: doc is missing from path: {from}: {MISSING}"
        ));
    };
    let copied = get_mut(container, &key)
        .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
        .clone();
    let path =
        path_of(op).map_err(|_| format!("copy operation failed to decode path: {MISSING}"))?;
    let Some((container, key)) = locate(doc, &path) else {
        return Err(format!(
            "copy operation does not apply: doc is missing destination path: {path}: {MISSING}"
        ));
    };
    add_to(container, &key, copied)
        .map_err(|e| format!("error while adding value during copy: {e}"))
}

/// Decodes one JSON-pointer segment (`~1` is `/`, `~0` is `~`).
fn decode_segment(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Finds the object or array that holds the last segment of `path`, and that segment.
/// `None` when the path has no `/` at all or an intermediate member is missing or scalar.
fn locate<'a>(doc: &'a mut Value, path: &str) -> Option<(&'a mut Value, String)> {
    let segments: Vec<&str> = path.split('/').collect();
    if segments.len() < 2 {
        return None;
    }
    let last = decode_segment(segments[segments.len() - 1]);
    let mut current = doc;
    for raw in &segments[1..segments.len() - 1] {
        let part = decode_segment(raw);
        let next = match current {
            Value::Object(map) => map.get_mut(&part)?,
            Value::Array(items) => {
                let index = usize::try_from(parse_index(&part).ok()?).ok()?;
                items.get_mut(index)?
            }
            _ => return None,
        };
        if !(next.is_object() || next.is_array()) {
            return None;
        }
        current = next;
    }
    Some((current, last))
}

/// Array index parsing with Go's `strconv.Atoi` error texts.
fn parse_index(key: &str) -> Result<i64, String> {
    let digits = key.strip_prefix(['+', '-']).unwrap_or(key);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing \"{key}\": invalid syntax"));
    }
    key.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing \"{key}\": value out of range"))
}

fn invalid_index(index: i64) -> String {
    format!("Unable to access invalid index: {index}: invalid index referenced")
}

fn get_mut<'a>(container: &'a mut Value, key: &str) -> Result<&'a mut Value, String> {
    match container {
        Value::Object(map) => map
            .get_mut(key)
            .ok_or_else(|| format!("unable to get nonexistent key: {key}: {MISSING}")),
        Value::Array(items) => {
            let index = parse_index(key)?;
            let len = items.len();
            usize::try_from(index)
                .ok()
                .filter(|i| *i < len)
                .and_then(|i| items.get_mut(i))
                .ok_or_else(|| invalid_index(index))
        }
        _ => Err(format!("unable to get nonexistent key: {key}: {MISSING}")),
    }
}

fn add_to(container: &mut Value, key: &str, value: Value) -> Result<(), String> {
    match container {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
            Ok(())
        }
        Value::Array(items) => {
            if key == "-" {
                items.push(value);
                return Ok(());
            }
            let index = parse_index(key)
                .map_err(|e| format!("value was not a proper array index: '{key}': {e}"))?;
            // The new array is one longer; negative indices count from its end.
            let new_len = i64::try_from(items.len())
                .unwrap_or(i64::MAX)
                .saturating_add(1);
            if index >= new_len || index < -new_len {
                return Err(invalid_index(index));
            }
            let position = if index < 0 { index + new_len } else { index };
            let position = usize::try_from(position).map_err(|_| invalid_index(index))?;
            items.insert(position, value);
            Ok(())
        }
        _ => Err(format!("unable to get nonexistent key: {key}: {MISSING}")),
    }
}

fn remove_from(container: &mut Value, key: &str) -> Result<Value, String> {
    match container {
        Value::Object(map) => map
            .shift_remove(key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: {MISSING}")),
        Value::Array(items) => {
            let index = parse_index(key)?;
            let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
            if index >= len || index < -len {
                return Err(invalid_index(index));
            }
            let position = if index < 0 { index + len } else { index };
            let position = usize::try_from(position).map_err(|_| invalid_index(index))?;
            Ok(items.remove(position))
        }
        _ => Err(format!(
            "Unable to remove nonexistent key: {key}: {MISSING}"
        )),
    }
}
