//! Kinds served in more than one representation over one stored form. Today that is the
//! Event: stored as core/v1, also served as events.k8s.io/v1.

use rkube_api::ResourceInfo;
use serde_json::{Map, Value};

/// (core/v1 field, events.k8s.io/v1 field) pairs; everything else keeps its name.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// Whether `res` is served in a representation other than the stored one.
pub fn needs_conversion(res: &ResourceInfo) -> bool {
    is_new_event(res)
}

fn is_new_event(res: &ResourceInfo) -> bool {
    res.group == "events.k8s.io" && res.plural == "events"
}

fn rename(obj: &Value, api_version: &str, to_new: bool) -> Value {
    let Some(map) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let key = EVENT_FIELDS
            .iter()
            .find(|(core, new)| if to_new { core == k } else { new == k })
            .map(|(core, new)| if to_new { *new } else { *core })
            .unwrap_or(k);
        out.insert(key.to_string(), v.clone());
    }
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    Value::Object(out)
}

/// The stored object as `res` serves it.
pub fn to_view(res: &ResourceInfo, stored: Value) -> Value {
    if is_new_event(res) {
        rename(&stored, "events.k8s.io/v1", true)
    } else {
        stored
    }
}

/// An object in `res`'s representation, in the form it is stored.
pub fn to_storage(res: &ResourceInfo, obj: &Value) -> Value {
    if is_new_event(res) {
        rename(obj, "v1", false)
    } else {
        obj.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip() {
        let new = rkube_api::find_resource("events.k8s.io", "v1", "events").unwrap();
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "message": "hi", "reason": "Started", "count": 2});
        let view = to_view(new, core.clone());
        assert_eq!(view["apiVersion"], "events.k8s.io/v1");
        assert_eq!(view["regarding"]["name"], "p");
        assert_eq!(view["note"], "hi");
        assert_eq!(view["deprecatedCount"], 2);
        assert_eq!(to_storage(new, &view), core);
        let pods = rkube_api::find_resource("", "v1", "pods").unwrap();
        assert_eq!(to_view(pods, core.clone()), core);
    }
}
