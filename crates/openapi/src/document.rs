//! One OpenAPI v3 document per group/version, shaped like upstream's
//! `/openapi/v3/apis/<group>/<version>`.

use crate::defs::{Schemas, REF_PREFIX};
use crate::hash::Fnv;
use crate::kinds::{self, KindType};
use crate::params;
use crate::ResourceEndpoint;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

const PATCH_TYPES: [&str; 4] = [
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// Key of a group/version in the index: `api/v1` or `apis/<group>/<version>`.
pub(crate) fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `rbac.authorization.k8s.io` → `RbacAuthorization`, `` → `Core`, as in upstream
/// operation ids.
fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    let short = group.strip_suffix(".k8s.io").unwrap_or(group);
    short.split('.').map(capitalize).collect()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The schema a response or body refers to, if we have it.
#[derive(Clone, Copy)]
struct Target<'a> {
    group: &'a str,
    version: &'a str,
    kind: &'a str,
    /// Definition name; `None` for kinds without a generated schema.
    schema: Option<&'a str>,
}

struct Builder<'a> {
    schemas: &'a Schemas,
    /// `CoreV1`, `AppsV1`: infix of operation ids.
    op_infix: String,
    tag: String,
    used: BTreeSet<String>,
    paths: Map<String, Value>,
}

impl Builder<'_> {
    fn content(&mut self, schema: Option<&str>, types: &[&str]) -> Option<Value> {
        let name = schema.filter(|n| self.schemas.contains_key(*n))?;
        self.used.insert(name.to_owned());
        let mut m = Map::new();
        for t in types {
            m.insert(
                (*t).into(),
                json!({"schema": {"$ref": format!("{REF_PREFIX}{name}")}}),
            );
        }
        Some(Value::Object(m))
    }

    fn responses(&mut self, codes: &[(&str, &str)], schema: Option<&str>, watch: bool) -> Value {
        let mut types = vec![
            "application/json",
            "application/vnd.kubernetes.protobuf",
            "application/yaml",
        ];
        if watch {
            types.push("application/json;stream=watch");
            types.push("application/vnd.kubernetes.protobuf;stream=watch");
        }
        let content = self.content(schema, &types);
        let mut out = Map::new();
        for (code, description) in codes {
            let mut r = Map::new();
            if let Some(c) = &content {
                r.insert("content".into(), c.clone());
            }
            r.insert("description".into(), (*description).into());
            out.insert((*code).into(), Value::Object(r));
        }
        out.insert("401".into(), json!({"description": "Unauthorized"}));
        Value::Object(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn operation(
        &mut self,
        action: &str,
        op_id: String,
        description: String,
        target: Target<'_>,
        parameters: Vec<Value>,
        body: Option<Value>,
        responses: Value,
    ) -> Value {
        let mut op = Map::new();
        op.insert("description".into(), description.into());
        op.insert("operationId".into(), op_id.into());
        if !parameters.is_empty() {
            op.insert("parameters".into(), parameters.into());
        }
        if let Some(b) = body {
            op.insert("requestBody".into(), b);
        }
        op.insert("responses".into(), responses);
        op.insert("tags".into(), json!([self.tag]));
        op.insert("x-kubernetes-action".into(), action.into());
        op.insert(
            "x-kubernetes-group-version-kind".into(),
            json!({"group": target.group, "kind": target.kind, "version": target.version}),
        );
        Value::Object(op)
    }

    fn body(&mut self, schema: Option<&str>, types: &[&str]) -> Option<Value> {
        let content = self.content(schema, types)?;
        Some(json!({"content": content, "required": true}))
    }

    fn add_path(&mut self, path: String, path_params: Vec<Value>, ops: Vec<(&str, Value)>) {
        let mut item = Map::new();
        for (method, op) in ops {
            item.insert(method.into(), op);
        }
        let mut params = path_params;
        params.push(params::pretty());
        item.insert("parameters".into(), params.into());
        self.paths.insert(path, Value::Object(item));
    }

    /// GET/PUT/PATCH on an object or on a subresource that shares the object's shape
    /// (status) or has its own kind (scale).
    fn item_ops(
        &mut self,
        id: &str,
        what: &str,
        t: Target<'_>,
        with_delete: bool,
    ) -> Vec<(&'static str, Value)> {
        let infix = self.op_infix.clone();
        let mut ops = Vec::new();
        let r = self.responses(&[("200", "OK")], t.schema, false);
        ops.push((
            "get",
            self.operation(
                "get",
                format!("read{infix}{id}"),
                format!("read {what}"),
                t,
                vec![],
                None,
                r,
            ),
        ));
        let b = self.body(t.schema, &["*/*"]);
        let r = self.responses(&[("200", "OK"), ("201", "Created")], t.schema, false);
        ops.push((
            "put",
            self.operation(
                "put",
                format!("replace{infix}{id}"),
                format!("replace {what}"),
                t,
                params::write(),
                b,
                r,
            ),
        ));
        // Without a requestBody kubectl falls back to its compiled-in types for the
        // strategic merge patch, which is what we want for kinds we have no schema for.
        let b = t
            .schema
            .and_then(|_| self.body(Some(kinds::PATCH), &PATCH_TYPES));
        let r = self.responses(&[("200", "OK"), ("201", "Created")], t.schema, false);
        ops.push((
            "patch",
            self.operation(
                "patch",
                format!("patch{infix}{id}"),
                format!("partially update {what}"),
                t,
                params::patch(),
                b,
                r,
            ),
        ));
        if with_delete {
            let b = self.body(Some(kinds::DELETE_OPTIONS), &["*/*"]);
            let r = self.responses(
                &[("200", "OK"), ("202", "Accepted")],
                Some(kinds::STATUS),
                false,
            );
            ops.push((
                "delete",
                self.operation(
                    "delete",
                    format!("delete{infix}{id}"),
                    format!("delete {what}"),
                    t,
                    params::delete(),
                    b,
                    r,
                ),
            ));
        }
        ops
    }

    fn resource(&mut self, prefix: &str, r: &ResourceEndpoint) {
        let known = kinds::find(&r.group, &r.version, &r.kind);
        let name = known.map(|k: &KindType| (k.name)().into_owned());
        let list_name = known
            .filter(|k| k.has_list)
            .map(|k| format!("{}List", (k.name)()));
        // Kinds without a list (Binding, Eviction...) are create-only resources; kinds we
        // have no schema for get the full set of operations.
        let listable = known.is_none_or(|k| k.has_list);
        let t = Target {
            group: &r.group,
            version: &r.version,
            kind: &r.kind,
            schema: name.as_deref(),
        };
        let infix = self.op_infix.clone();
        let kind = &r.kind;
        let (base, ns_word, mut scope_params) = if r.namespaced {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", r.plural),
                "Namespaced",
                vec![params::path_param(
                    "namespace",
                    "object name and auth scope, such as for teams and projects",
                )],
            )
        } else {
            (format!("{prefix}/{}", r.plural), "", vec![])
        };
        let id = format!("{ns_word}{kind}");

        let mut coll_ops = Vec::new();
        if listable {
            let rs = self.responses(&[("200", "OK")], list_name.as_deref(), true);
            coll_ops.push((
                "get",
                self.operation(
                    "list",
                    format!("list{infix}{id}"),
                    format!("list or watch objects of kind {kind}"),
                    t,
                    params::list(),
                    None,
                    rs,
                ),
            ));
        }
        let b = self.body(t.schema, &["*/*"]);
        let rs = self.responses(
            &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
            t.schema,
            false,
        );
        coll_ops.push((
            "post",
            self.operation(
                "post",
                format!("create{infix}{id}"),
                format!("create a {kind}"),
                t,
                params::write(),
                b,
                rs,
            ),
        ));
        if listable {
            let b = self.body(Some(kinds::DELETE_OPTIONS), &["*/*"]);
            let rs = self.responses(&[("200", "OK")], Some(kinds::STATUS), false);
            coll_ops.push((
                "delete",
                self.operation(
                    "deletecollection",
                    format!("delete{infix}Collection{id}"),
                    format!("delete collection of {kind}"),
                    t,
                    params::delete_collection(),
                    b,
                    rs,
                ),
            ));
        }
        self.add_path(base.clone(), scope_params.clone(), coll_ops);
        if !listable {
            return;
        }
        if r.namespaced {
            let rs = self.responses(&[("200", "OK")], list_name.as_deref(), true);
            let op = self.operation(
                "list",
                format!("list{infix}{kind}ForAllNamespaces"),
                format!("list or watch objects of kind {kind}"),
                t,
                params::list(),
                None,
                rs,
            );
            self.add_path(format!("{prefix}/{}", r.plural), vec![], vec![("get", op)]);
        }

        scope_params.insert(
            0,
            params::path_param("name", &format!("name of the {kind}")),
        );
        let ops = self.item_ops(&id, &format!("the specified {kind}"), t, true);
        self.add_path(format!("{base}/{{name}}"), scope_params.clone(), ops);
        for sub in &r.subresources {
            match sub.as_str() {
                "status" => {
                    let ops = self.item_ops(
                        &format!("{id}Status"),
                        &format!("status of the specified {kind}"),
                        t,
                        false,
                    );
                    self.add_path(format!("{base}/{{name}}/status"), scope_params.clone(), ops);
                }
                "scale" => {
                    let st = Target {
                        group: "autoscaling",
                        version: "v1",
                        kind: "Scale",
                        schema: Some("io.k8s.api.autoscaling.v1.Scale"),
                    };
                    let ops = self.item_ops(
                        &format!("{id}Scale"),
                        &format!("scale of the specified {kind}"),
                        st,
                        false,
                    );
                    self.add_path(format!("{base}/{{name}}/scale"), scope_params.clone(), ops);
                }
                "binding" | "eviction" => {
                    let (g, v, k) = if sub == "binding" {
                        ("", "v1", "Binding")
                    } else {
                        ("policy", "v1", "Eviction")
                    };
                    let schema = kinds::find(g, v, k).map(|k| (k.name)().into_owned());
                    let st = Target {
                        group: g,
                        version: v,
                        kind: k,
                        schema: schema.as_deref(),
                    };
                    let b = self.body(st.schema, &["*/*"]);
                    let rs = self.responses(
                        &[("200", "OK"), ("201", "Created"), ("202", "Accepted")],
                        st.schema,
                        false,
                    );
                    let op = self.operation(
                        "post",
                        format!("create{infix}{id}{k}"),
                        format!("create {k} of a {kind}"),
                        st,
                        params::write(),
                        b,
                        rs,
                    );
                    self.add_path(
                        format!("{base}/{{name}}/{sub}"),
                        scope_params.clone(),
                        vec![("post", op)],
                    );
                }
                _ => {}
            }
        }
    }
}

/// What a group/version document consists of before rendering.
pub(crate) struct Skeleton {
    pub paths: Value,
    /// Definitions the operations refer to directly (components add their closure).
    pub roots: BTreeSet<String>,
}

/// Builds the paths of one group/version.
pub(crate) fn build(
    group: &str,
    version: &str,
    resources: &[&ResourceEndpoint],
    schemas: &Schemas,
) -> Skeleton {
    let op_infix = format!("{}{}", group_camel(group), capitalize(version));
    let tag = format!("{}_{version}", lower_first(&group_camel(group)));
    let mut b = Builder {
        schemas,
        op_infix,
        tag,
        used: BTreeSet::new(),
        paths: Map::new(),
    };
    let prefix = format!("/{}", gv_path(group, version));
    for r in resources {
        b.resource(&prefix, r);
    }
    // Meta types every upstream document carries.
    for n in [
        kinds::STATUS,
        kinds::DELETE_OPTIONS,
        kinds::WATCH_EVENT,
        kinds::PATCH,
    ] {
        if schemas.contains_key(n) {
            b.used.insert(n.to_owned());
        }
    }
    let mut paths: Vec<(String, Value)> = std::mem::take(&mut b.paths).into_iter().collect();
    paths.sort_by(|a, c| a.0.cmp(&c.0));
    Skeleton {
        paths: Value::Object(Map::from_iter(paths)),
        roots: b.used,
    }
}

fn head() -> Value {
    json!({ "openapi": "3.0.0", "info": { "title": "Kubernetes", "version": "unversioned" } })
}

fn security() -> (Value, Value) {
    (
        json!({
            "BearerToken": {
                "description": "Bearer token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey"
            }
        }),
        json!([{ "BearerToken": [] }]),
    )
}

/// Hash of the document `render` produces for the same inputs.
pub(crate) fn hash(
    paths: &Value,
    components: &[String],
    schema_hashes: &BTreeMap<String, u64>,
) -> String {
    let mut h = Fnv::default();
    h.value(&head());
    h.value(paths);
    for name in components {
        h.str(name);
        h.u64(schema_hashes.get(name).copied().unwrap_or(0));
    }
    let (schemes, security) = security();
    h.value(&schemes);
    h.value(&security);
    h.hex()
}

/// Renders the JSON bytes. Written piecewise so the shared schemas are not cloned into a
/// per-document tree first.
pub(crate) fn render(
    paths: &Value,
    components: &[String],
    schemas: &Schemas,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256 * 1024);
    let head = serde_json::to_vec(&head())?;
    // `head` is an object: reuse it without its closing brace.
    out.extend_from_slice(head.get(..head.len().saturating_sub(1)).unwrap_or_default());
    out.extend_from_slice(b",\"paths\":");
    serde_json::to_writer(&mut out, paths)?;
    out.extend_from_slice(b",\"components\":{\"schemas\":{");
    let mut first = true;
    for name in components {
        let Some(schema) = schemas.get(name) else {
            continue;
        };
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut out, name)?;
        out.push(b':');
        serde_json::to_writer(&mut out, schema)?;
    }
    let (schemes, security) = security();
    out.extend_from_slice(b"},\"securitySchemes\":");
    serde_json::to_writer(&mut out, &schemes)?;
    out.extend_from_slice(b"},\"security\":");
    serde_json::to_writer(&mut out, &security)?;
    out.push(b'}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_id_parts() {
        assert_eq!(group_camel(""), "Core");
        assert_eq!(group_camel("apps"), "Apps");
        assert_eq!(
            group_camel("rbac.authorization.k8s.io"),
            "RbacAuthorization"
        );
        assert_eq!(
            lower_first(&group_camel("coordination.k8s.io")),
            "coordination"
        );
        assert_eq!(gv_path("", "v1"), "api/v1");
        assert_eq!(gv_path("apps", "v1"), "apis/apps/v1");
    }
}
