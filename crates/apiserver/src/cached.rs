//! An object as the watch cache holds it: its JSON bytes (resourceVersion included) plus
//! the few values selectors ask for. Lists and watches send the bytes as they are; the
//! rare reader that needs the tree parses it.

use crate::stored::{with_resource_version, Paths};
use bytes::Bytes;
use rkube_api::selectors::{field_path, field_text, index_fields};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

const RV: &str = "metadata.resourceVersion";

/// What the cache reads out of every object of one resource, built once per resource.
struct Index {
    /// labels, deletionTimestamp, resourceVersion, then `fields` in order.
    paths: Paths,
    fields: Vec<&'static str>,
}

impl Index {
    fn of(plural: &str) -> Arc<Index> {
        static INDEXES: OnceLock<Mutex<HashMap<String, Arc<Index>>>> = OnceLock::new();
        let mut indexes = INDEXES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        indexes
            .entry(plural.to_string())
            .or_insert_with(|| {
                let fields = index_fields(plural);
                let mut paths = vec!["metadata.labels", "metadata.deletionTimestamp", RV];
                paths.extend(fields.iter().map(|f| field_path(f)));
                Arc::new(Index {
                    paths: Paths::new(paths),
                    fields,
                })
            })
            .clone()
    }
}

#[derive(Debug)]
pub struct CachedObject {
    pub bytes: Bytes,
    pub revision: i64,
    labels: Box<[(Box<str>, Box<str>)]>,
    fields: Box<[(&'static str, Box<str>)]>,
    deleting: bool,
}

/// `/registry/<plural>/...` → plural.
fn plural_of(key: &str) -> &str {
    key.trim_start_matches("/registry/")
        .split('/')
        .next()
        .unwrap_or("")
}

impl CachedObject {
    /// Builds the cached form of a stored object at `revision`.
    pub fn from_stored(key: &str, stored: &[u8], revision: i64) -> Option<Self> {
        let index = Index::of(plural_of(key));
        let picked = index.paths.pick(stored)?;
        let bytes = match picked[2] {
            None => with_resource_version(stored, revision),
            Some(_) => None,
        };
        let bytes = match bytes {
            Some(b) => b,
            // Stored with a resourceVersion of its own (or without metadata): rewrite.
            None => {
                let mut v: Value = serde_json::from_slice(stored).ok()?;
                if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert(
                        "resourceVersion".into(),
                        Value::String(revision.to_string()),
                    );
                }
                serde_json::to_vec(&v).ok()?
            }
        };
        let labels = match &picked[0] {
            Some(Value::Object(l)) => l
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().into(), v.as_str()?.into())))
                .collect(),
            _ => Box::default(),
        };
        let fields = index
            .fields
            .iter()
            .zip(&picked[3..])
            .map(|(&f, v)| (f, field_text(f, v.as_ref()).into_boxed_str()))
            .collect();
        Some(Self {
            bytes: Bytes::from(bytes),
            revision,
            labels,
            fields,
            deleting: picked[1].as_ref().is_some_and(|v| !v.is_null()),
        })
    }

    /// The object as a JSON tree.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| &**v)
    }

    pub fn name(&self) -> &str {
        self.field("metadata.name").unwrap_or("")
    }

    pub fn namespace(&self) -> &str {
        self.field("metadata.namespace").unwrap_or("")
    }

    pub fn is_deleting(&self) -> bool {
        self.deleting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_labels_and_fields() {
        let stored = br#"{"kind":"Pod","metadata":{"name":"p","namespace":"d","labels":{"app":"web"}},"spec":{"nodeName":"n1"},"status":{"phase":"Running"}}"#;
        let o = CachedObject::from_stored("/registry/pods/d/p", stored, 42).unwrap();
        assert_eq!(o.label("app"), Some("web"));
        assert_eq!(o.field("spec.nodeName"), Some("n1"));
        assert_eq!(o.field("status.phase"), Some("Running"));
        assert_eq!((o.name(), o.namespace()), ("p", "d"));
        assert_eq!(o.value()["metadata"]["resourceVersion"], "42");
        assert!(!o.is_deleting());
    }
}
