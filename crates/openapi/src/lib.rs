//! rkube-openapi: the OpenAPI v3 documents kubectl reads (`/openapi/v3` and one document
//! per group/version) and a schema facility for the rest of the server.
//!
//! Schemas come from k8s-openapi's `schemars` output, reshaped to upstream's served form
//! (`defs`), with patch/list metadata from a table generated from upstream's Go markers
//! (`field_ext`). Everything is built once in [`OpenApi::new`].

mod defs;
mod document;
pub mod field_ext;
#[rustfmt::skip]
mod field_ext_table;
mod hash;
mod kinds;
mod params;
mod unknown;

pub use field_ext::{field_ext, FieldExt};

use defs::{SchemaIndex, Schemas};
use hash::content_hash;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// A resource the API server serves, as input to the documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceEndpoint {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
    /// Subresource names; `status`, `scale`, `binding` and `eviction` get operations.
    pub subresources: Vec<String>,
}

/// A group/version document; its bytes are rendered on first request because
/// serialising all documents would dominate start-up time in debug builds.
struct Document {
    paths: Value,
    /// Sorted names of the definitions in `components.schemas`.
    components: Vec<String>,
    hash: String,
    bytes: OnceLock<Vec<u8>>,
}

/// All OpenAPI v3 documents and schemas, built once at start-up.
pub struct OpenApi {
    index: Vec<u8>,
    index_hash: String,
    documents: BTreeMap<String, Document>,
    schemas: Schemas,
    /// "group/version/Kind" → definition name for every served kind and its List, so the
    /// per-request lookup (fieldValidation, patches) is one hash probe.
    definitions: std::collections::HashMap<String, String>,
}

fn definition_key(group: &str, version: &str, kind: &str) -> String {
    format!("{group}/{version}/{kind}")
}

impl OpenApi {
    pub fn new(resources: &[ResourceEndpoint]) -> OpenApi {
        let mut by_gv: BTreeMap<(String, String), Vec<&ResourceEndpoint>> = BTreeMap::new();
        for r in resources {
            by_gv
                .entry((r.group.clone(), r.version.clone()))
                .or_default()
                .push(r);
        }
        let gvs: Vec<(String, String)> = by_gv.keys().cloned().collect();
        let schemas = defs::generate(&gvs);
        let schema_index = SchemaIndex::new(&schemas);
        let mut documents = BTreeMap::new();
        let mut index_paths = serde_json::Map::new();
        for ((group, version), rs) in &by_gv {
            let skeleton = document::build(group, version, rs, &schemas);
            let components = schema_index.closure(&skeleton.roots);
            let hash = document::hash(&skeleton.paths, &components, &schema_index.hashes);
            let path = document::gv_path(group, version);
            index_paths.insert(
                path.clone(),
                serde_json::json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}") }),
            );
            let paths = skeleton.paths;
            documents.insert(
                path,
                Document {
                    paths,
                    components,
                    hash,
                    bytes: OnceLock::new(),
                },
            );
        }
        let index =
            serde_json::to_vec(&serde_json::json!({ "paths": index_paths })).unwrap_or_default();
        let index_hash = content_hash(&index);
        let mut definitions = std::collections::HashMap::new();
        for r in resources {
            for kind in [r.kind.clone(), format!("{}List", r.kind)] {
                if let Some(name) = find_definition(&schemas, &r.group, &r.version, &kind) {
                    definitions.insert(definition_key(&r.group, &r.version, &kind), name.into());
                }
            }
        }
        OpenApi {
            index,
            index_hash,
            documents,
            schemas,
            definitions,
        }
    }

    /// "/openapi/v3" index JSON bytes.
    pub fn index(&self) -> &[u8] {
        &self.index
    }

    /// Hash of the index bytes, for its ETag.
    pub fn index_hash(&self) -> &str {
        &self.index_hash
    }

    /// Document for "api/v1" or "apis/apps/v1" (path after /openapi/v3/) → (json bytes, hash).
    pub fn document(&self, gv_path: &str) -> Option<(&[u8], &str)> {
        let gv_path = gv_path.trim_matches('/');
        let d = self.documents.get(gv_path)?;
        let bytes = d.bytes.get_or_init(|| {
            // Serialising string-keyed JSON values into memory cannot fail.
            document::render(&d.paths, &d.components, &self.schemas).unwrap_or_default()
        });
        Some((bytes.as_slice(), d.hash.as_str()))
    }

    /// The components.schemas entry by definition name.
    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.schemas.get(name)
    }

    /// Definition name of a top-level kind, e.g. ("apps","v1","Deployment") →
    /// "io.k8s.api.apps.v1.Deployment". Also knows `<Kind>List`.
    pub fn definition_for(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        match self.definitions.get(&definition_key(group, version, kind)) {
            Some(name) => Some(name),
            None => find_definition(&self.schemas, group, version, kind),
        }
    }

    /// JSON paths of fields in `obj` that the kind's schema does not know, formatted like
    /// upstream's strict decoding errors (`spec.containers[0].imagee`), in document order.
    /// Unknown kinds yield nothing (we cannot tell).
    pub fn unknown_fields(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        obj: &Value,
    ) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(schema) = self
            .definition_for(group, version, kind)
            .and_then(|n| self.schemas.get(n))
        {
            unknown::collect(&self.schemas, schema, obj, &mut out);
        }
        out
    }
}

fn find_definition<'a>(
    schemas: &'a Schemas,
    group: &str,
    version: &str,
    kind: &str,
) -> Option<&'a str> {
    let want = serde_json::json!({ "group": group, "kind": kind, "version": version });
    let candidate = |name: &str| {
        schemas.get_key_value(name).filter(|(_, s)| {
            s.get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .is_some_and(|gvks| gvks.contains(&want))
        })
    };
    let base = kind.strip_suffix("List").unwrap_or(kind);
    let k = kinds::find(group, version, kind).or_else(|| kinds::find(group, version, base))?;
    let name = (k.name)();
    let name = if k.kind == kind {
        name.into_owned()
    } else {
        format!("{name}List")
    };
    candidate(&name).map(|(n, _)| n.as_str())
}

#[cfg(test)]
mod tests;
