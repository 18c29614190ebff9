//! rkube-patch: applies the bodies of PATCH requests the way the Kubernetes API server does.
//!
//! Three patch types are supported:
//! * JSON patch (RFC 6902, `application/json-patch+json`): [`json_patch`]
//! * JSON merge patch (RFC 7386, `application/merge-patch+json`): [`merge_patch`]
//! * strategic merge patch (`application/strategic-merge-patch+json`): [`strategic_merge_patch`]
//!
//! Objects are plain `serde_json::Value`s in their Kubernetes JSON form. The strategic merge
//! patch takes its list semantics (merge keys, patch strategies) from OpenAPI v3 component
//! schemas supplied through [`SchemaSource`].
//!
//! Error classification follows the upstream API server, so the HTTP layer can map
//! [`PatchError::status_code`] straight onto a `Status` response.

mod error;
mod gofmt;
mod json_patch;
mod merge_patch;
mod schema;
mod smp;

#[cfg(test)]
mod tests;

pub use error::PatchError;
pub use json_patch::json_patch;
pub use merge_patch::merge_patch;
pub use smp::strategic_merge_patch;

/// Look-up of OpenAPI v3 component schemas by definition name.
///
/// `definition` is the key under `components.schemas`, e.g. `io.k8s.api.core.v1.PodSpec`.
pub trait SchemaSource {
    fn schema(&self, definition: &str) -> Option<&serde_json::Value>;
}

impl<T: SchemaSource + ?Sized> SchemaSource for &T {
    fn schema(&self, definition: &str) -> Option<&serde_json::Value> {
        (**self).schema(definition)
    }
}

/// A schema source that knows nothing: strategic merge patch then behaves like a merge patch
/// for maps and replaces lists atomically.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSchemas;

impl SchemaSource for NoSchemas {
    fn schema(&self, _definition: &str) -> Option<&serde_json::Value> {
        None
    }
}

impl SchemaSource for std::collections::HashMap<String, serde_json::Value> {
    fn schema(&self, definition: &str) -> Option<&serde_json::Value> {
        self.get(definition)
    }
}

impl SchemaSource for std::collections::BTreeMap<String, serde_json::Value> {
    fn schema(&self, definition: &str) -> Option<&serde_json::Value> {
        self.get(definition)
    }
}

/// A `components.schemas` JSON object (as found in an OpenAPI v3 document) used directly.
impl SchemaSource for serde_json::Map<String, serde_json::Value> {
    fn schema(&self, definition: &str) -> Option<&serde_json::Value> {
        self.get(definition)
    }
}
