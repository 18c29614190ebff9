//! Per-field OpenAPI extensions that k8s-openapi's JSON schemas do not carry.
//!
//! Strategic merge patch (ours and kubectl's client-side apply) and server-side apply need
//! to know how each list or map field merges. Upstream records that as Go markers and struct
//! tags; `tools/gen_field_ext.py` turns them into `field_ext_table.rs`.

use crate::field_ext_table::{ATOMIC_STRUCTS, FIELD_EXTENSIONS};

/// How one field of one definition merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldExt {
    /// Definition name, e.g. `io.k8s.api.core.v1.PodSpec`.
    pub definition: &'static str,
    /// JSON field name, e.g. `containers`.
    pub field: &'static str,
    /// `x-kubernetes-patch-strategy`: `merge`, `retainKeys` or `merge,retainKeys`.
    pub patch_strategy: Option<&'static str>,
    /// `x-kubernetes-patch-merge-key`.
    pub patch_merge_key: Option<&'static str>,
    /// `x-kubernetes-list-type`: `atomic`, `set` or `map`.
    pub list_type: Option<&'static str>,
    /// `x-kubernetes-list-map-keys` (only for list type `map`).
    pub list_map_keys: &'static [&'static str],
    /// `x-kubernetes-map-type`: `atomic` or `granular`.
    pub map_type: Option<&'static str>,
}

/// Extensions of `definition.field`, if upstream declares any.
pub fn field_ext(definition: &str, field: &str) -> Option<&'static FieldExt> {
    FIELD_EXTENSIONS
        .binary_search_by(|e| (e.definition, e.field).cmp(&(definition, field)))
        .ok()
        .and_then(|i| FIELD_EXTENSIONS.get(i))
}

/// All fields of `definition` that carry extensions.
pub fn fields_of(definition: &str) -> &'static [FieldExt] {
    let start = FIELD_EXTENSIONS.partition_point(|e| e.definition < definition);
    let end = FIELD_EXTENSIONS.partition_point(|e| e.definition <= definition);
    FIELD_EXTENSIONS.get(start..end).unwrap_or(&[])
}

/// Whether the whole struct is replaced rather than merged (`x-kubernetes-map-type: atomic`).
pub fn is_atomic_struct(definition: &str) -> bool {
    ATOMIC_STRUCTS.binary_search(&definition).is_ok()
}

impl FieldExt {
    /// The extension keys and values to put on the property schema.
    pub(crate) fn json_pairs(&self) -> Vec<(&'static str, serde_json::Value)> {
        let mut out = Vec::new();
        if let Some(k) = self.list_type {
            out.push(("x-kubernetes-list-type", k.into()));
        }
        if !self.list_map_keys.is_empty() {
            out.push((
                "x-kubernetes-list-map-keys",
                self.list_map_keys.to_vec().into(),
            ));
        }
        if let Some(m) = self.map_type {
            out.push(("x-kubernetes-map-type", m.into()));
        }
        if let Some(k) = self.patch_merge_key {
            out.push(("x-kubernetes-patch-merge-key", k.into()));
        }
        if let Some(s) = self.patch_strategy {
            out.push(("x-kubernetes-patch-strategy", s.into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        for w in FIELD_EXTENSIONS.windows(2) {
            assert!(
                (w[0].definition, w[0].field) < (w[1].definition, w[1].field),
                "{w:?}"
            );
        }
        for w in ATOMIC_STRUCTS.windows(2) {
            assert!(w[0] < w[1]);
        }
    }

    #[test]
    fn well_known_merge_keys() {
        let c = field_ext("io.k8s.api.core.v1.PodSpec", "containers").unwrap();
        assert_eq!(
            (c.patch_strategy, c.patch_merge_key),
            (Some("merge"), Some("name"))
        );
        let p = field_ext("io.k8s.api.core.v1.Container", "ports").unwrap();
        assert_eq!(p.patch_merge_key, Some("containerPort"));
        assert_eq!(p.list_map_keys, &["containerPort", "protocol"]);
        let v = field_ext("io.k8s.api.core.v1.PodSpec", "volumes").unwrap();
        assert_eq!(v.patch_strategy, Some("merge,retainKeys"));
        let f = field_ext(
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "finalizers",
        )
        .unwrap();
        assert_eq!(
            (f.patch_strategy, f.patch_merge_key, f.list_type),
            (Some("merge"), None, Some("set"))
        );
        let t = field_ext("io.k8s.api.core.v1.PodSpec", "tolerations").unwrap();
        assert_eq!((t.patch_strategy, t.list_type), (None, Some("atomic")));
        let s = field_ext("io.k8s.api.apps.v1.DeploymentSpec", "strategy").unwrap();
        assert_eq!(s.patch_strategy, Some("retainKeys"));
        assert!(field_ext("io.k8s.api.core.v1.PodSpec", "nodeName").is_none());
        assert!(fields_of("io.k8s.api.core.v1.ServiceSpec")
            .iter()
            .any(|e| e.field == "ports"));
        assert!(is_atomic_struct(
            "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
        ));
    }
}
