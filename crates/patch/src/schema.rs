//! Patch metadata (merge keys and patch strategies) read from OpenAPI v3 component schemas.
//!
//! Anything that cannot be resolved yields "no metadata": maps then merge like a JSON merge
//! patch and lists are replaced atomically, which is what upstream does for fields without
//! patch tags.

use serde_json::Value;

use crate::SchemaSource;

const REF_PREFIXES: [&str; 2] = ["#/components/schemas/", "#/definitions/"];
/// Bounds `$ref` chains so a cyclic schema graph cannot loop forever.
const MAX_REF_DEPTH: usize = 32;

/// How a field's value is combined with the live value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// No strategy declared: maps merge, lists are replaced.
    Default,
    /// `merge`: lists are merged (by merge key, or as a set for primitives).
    Merge,
    /// `replace`: the patch value replaces the live value.
    Replace,
}

/// A position in the schema graph: the resolved schema of the value being patched.
#[derive(Clone, Copy)]
pub(crate) struct Schema<'a> {
    source: &'a dyn SchemaSource,
    node: Option<&'a Value>,
}

/// What the schema says about one field of an object.
pub(crate) struct FieldMeta<'a> {
    pub strategy: Strategy,
    pub merge_key: Option<&'a str>,
    /// Schema of the field's value (for lists: of the list's elements).
    pub schema: Schema<'a>,
}

impl<'a> Schema<'a> {
    pub(crate) fn root(source: &'a dyn SchemaSource, definition: Option<&str>) -> Self {
        let node = definition
            .and_then(|name| source.schema(name))
            .and_then(|v| resolve(source, v));
        Schema { source, node }
    }

    /// Metadata of `key` when its value is a map.
    pub(crate) fn map_field(&self, key: &str) -> FieldMeta<'a> {
        let (strategy, merge_key, value) = self.property(key);
        FieldMeta {
            strategy,
            merge_key,
            schema: Schema {
                source: self.source,
                node: value.and_then(|v| resolve(self.source, v)),
            },
        }
    }

    /// Metadata of `key` when its value is a list; the schema is that of the elements.
    pub(crate) fn list_field(&self, key: &str) -> FieldMeta<'a> {
        let (strategy, merge_key, value) = self.property(key);
        let items = value
            .and_then(|v| resolve(self.source, v))
            .and_then(|array| array.get("items"))
            .and_then(|items| resolve(self.source, items));
        FieldMeta {
            strategy,
            merge_key,
            schema: Schema {
                source: self.source,
                node: items,
            },
        }
    }

    /// The raw (unresolved) schema of property `key` with the patch extensions found on it.
    fn property(&self, key: &str) -> (Strategy, Option<&'a str>, Option<&'a Value>) {
        let Some(node) = self.node else {
            return (Strategy::Default, None, None);
        };
        if let Some(prop) = node.get("properties").and_then(|p| p.get(key)) {
            let (strategy, merge_key) = patch_extensions(self.source, prop);
            return (strategy, merge_key, Some(prop));
        }
        // A map type (`additionalProperties`) has no per-key patch metadata.
        match node.get("additionalProperties") {
            Some(value @ Value::Object(_)) => (Strategy::Default, None, Some(value)),
            _ => (Strategy::Default, None, None),
        }
    }
}

/// Reads `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` from a property,
/// looking through `allOf`/`$ref` wrappers when the property itself carries none.
fn patch_extensions<'a>(
    source: &'a dyn SchemaSource,
    prop: &'a Value,
) -> (Strategy, Option<&'a str>) {
    let mut current = Some(prop);
    let mut strategy = None;
    let mut merge_key = None;
    for _ in 0..MAX_REF_DEPTH {
        let Some(node) = current else { break };
        if strategy.is_none() {
            strategy = node
                .get("x-kubernetes-patch-strategy")
                .and_then(Value::as_str);
        }
        if merge_key.is_none() {
            merge_key = node
                .get("x-kubernetes-patch-merge-key")
                .and_then(Value::as_str);
        }
        if strategy.is_some() && merge_key.is_some() {
            break;
        }
        current = step(source, node);
    }
    (
        parse_strategy(strategy.unwrap_or("")),
        merge_key.filter(|k| !k.is_empty()),
    )
}

/// `retainKeys` only matters when patches are computed; applying honours `$retainKeys`
/// wherever it appears, so only the list/map strategy is kept.
fn parse_strategy(raw: &str) -> Strategy {
    let parts = raw.split(',').map(str::trim);
    let mut strategy = Strategy::Default;
    for part in parts {
        match part {
            "replace" => return Strategy::Replace,
            "merge" => strategy = Strategy::Merge,
            _ => {}
        }
    }
    strategy
}

/// One hop through a `$ref` or a single-reference `allOf` wrapper; `None` when the node is
/// already a concrete schema (or the reference cannot be followed).
fn step<'a>(source: &'a dyn SchemaSource, node: &'a Value) -> Option<&'a Value> {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let name = REF_PREFIXES
            .iter()
            .find_map(|prefix| reference.strip_prefix(prefix))
            .unwrap_or(reference);
        return source.schema(name);
    }
    let all_of = node.get("allOf")?.as_array()?;
    all_of
        .iter()
        .find(|part| part.get("$ref").is_some())
        .or_else(|| all_of.first())
}

/// Follows references until a concrete schema is reached.
fn resolve<'a>(source: &'a dyn SchemaSource, node: &'a Value) -> Option<&'a Value> {
    let mut current = node;
    for _ in 0..MAX_REF_DEPTH {
        match step(source, current) {
            Some(next) => current = next,
            None => {
                let is_wrapper = current.get("$ref").is_some() || current.get("allOf").is_some();
                return if is_wrapper { None } else { Some(current) };
            }
        }
    }
    None
}
