//! Create, update, patch and delete through one pipeline per verb: decode, default,
//! prepare server-owned fields, validate, allocate, then a compare-and-swap write.

use crate::alloc::Taken;
use crate::body::{check_type, decode_object};
use crate::lifecycle::{
    self, for_storage, prepare_create, prepare_status_update, prepare_update, set_resource_version,
    str_at,
};
use crate::request::{Query, Target};
use crate::state::Api;
use crate::status::{ApiError, ApiResult};
use rkube_api::ResourceInfo;
use rkube_store::StoreError;
use serde_json::{json, Value};

/// How many times a read-modify-write retries after losing a race.
const RETRIES: usize = 8;

pub struct Written {
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

pub(crate) fn dry_run(q: &Query) -> bool {
    q.get("dryRun").is_some_and(|d| d == "All")
}

/// Applies `fieldValidation`: Strict rejects unknown fields, Warn (the default) reports them.
fn check_fields(api: &Api, res: &ResourceInfo, obj: &Value, q: &Query) -> ApiResult<Vec<String>> {
    let mode = q
        .get("fieldValidation")
        .map(String::as_str)
        .unwrap_or("Warn");
    if mode == "Ignore" {
        return Ok(Vec::new());
    }
    let unknown = api
        .openapi()
        .unknown_fields(res.group, res.version, res.kind, obj);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let texts: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    if mode == "Strict" {
        return Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            texts.join(", ")
        )));
    }
    Ok(texts)
}

fn name_of(obj: &Value) -> &str {
    str_at(obj, "/metadata/name")
}

fn conflict_or(e: StoreError, res: &ResourceInfo, name: &str) -> ApiError {
    match e {
        StoreError::AlreadyExists(_) => ApiError::already_exists(res.group, res.plural, name),
        StoreError::Conflict { .. } => ApiError::modified(res.group, res.plural, name),
        StoreError::NotFound(_) => ApiError::not_found(res.group, res.plural, name),
        other => other.into(),
    }
}

async fn check_namespace(api: &Api, res: &ResourceInfo, ns: Option<&str>) -> ApiResult<()> {
    let Some(ns) = ns.filter(|_| res.namespaced) else {
        return Ok(());
    };
    let key = format!("/registry/namespaces/{ns}");
    let Some(obj) = api.current(&key).await else {
        return Err(ApiError::not_found("", "namespaces", ns));
    };
    if obj.is_deleting() {
        return Err(ApiError::forbidden(format!(
            "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            res.qualified_name(),
            "",
        ))
        .with_details(json!({"causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]})));
    }
    Ok(())
}

/// Addresses and ports other services hold. The ClusterIP comes from the cache's field
/// index; only services that can hold node ports are parsed, so a create costs a walk of
/// the index rather than a parse of every service.
fn taken_by_others(api: &Api, except_key: &str) -> Taken {
    let (services, _) = api.cache.list("/registry/services/");
    let mut with_ports = Vec::new();
    let mut ips = Vec::new();
    for (_, svc) in services.iter().filter(|(k, _)| k != except_key) {
        if let Some(ip) = svc.field("spec.clusterIP").filter(|ip| !ip.is_empty()) {
            ips.push(ip.to_string());
        }
        if matches!(svc.field("spec.type"), Some("NodePort" | "LoadBalancer")) {
            with_ports.push(svc.value());
        }
    }
    let mut taken = Taken::from_services(with_ports.iter());
    taken.ips.extend(ips);
    taken
}

/// Fills namespace from the URL, refusing a body that names another.
fn set_namespace(obj: &mut Value, t: &Target) -> ApiResult<()> {
    let Some(ns) = t.namespace.as_deref().filter(|_| t.resource.namespaced) else {
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("namespace");
        }
        return Ok(());
    };
    let body_ns = str_at(obj, "/metadata/namespace");
    if !body_ns.is_empty() && body_ns != ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["namespace"] = Value::String(ns.to_string());
    Ok(())
}

/// Decodes a whole object sent to `t`, checks its type, fields and namespace.
fn decode_for_write(
    api: &Api,
    t: &Target,
    q: &Query,
    content_type: &str,
    body: &[u8],
) -> ApiResult<(Value, Vec<String>)> {
    let res = t.resource;
    let mut obj = decode_object(body, content_type, &res.api_version(), res.kind)?;
    check_type(&mut obj, &res.api_version(), res.kind)?;
    let warnings = check_fields(api, res, &obj, q)?;
    set_namespace(&mut obj, t)?;
    Ok((obj, warnings))
}

pub async fn create(
    api: &Api,
    t: &Target,
    q: &Query,
    content_type: &str,
    body: &[u8],
) -> ApiResult<Written> {
    let (obj, warnings) = decode_for_write(api, t, q, content_type, body)?;
    create_object(api, t, q, obj, warnings).await
}

pub async fn create_object(
    api: &Api,
    t: &Target,
    q: &Query,
    mut obj: Value,
    warnings: Vec<String>,
) -> ApiResult<Written> {
    let res = t.resource;
    if name_of(&obj).is_empty() {
        let generate = str_at(&obj, "/metadata/generateName").to_string();
        if !generate.is_empty() {
            obj["metadata"]["name"] =
                Value::String(format!("{generate}{}", lifecycle::name_suffix()));
        }
    }
    prepare_create(res, &mut obj);
    rkube_validation::apply_defaults(res.group, res.plural, &mut obj);
    crate::admission::mutate(res, &mut obj);
    let name = name_of(&obj).to_string();
    let key = res.key(t.namespace.as_deref(), &name);
    // Services get their addresses before validation, as upstream (headless and
    // ExternalName rules depend on them).
    let _service_guard = if res.plural == "services" && res.group.is_empty() && !name.is_empty() {
        let guard = api.service_lock.lock().await;
        api.sync().await;
        let mut taken = taken_by_others(api, &key);
        api.ranges.allocate(&mut obj, None, &mut taken, &name)?;
        Some(guard)
    } else {
        None
    };
    let errors = rkube_validation::validate_create(res.group, res.plural, &obj);
    if !errors.is_empty() {
        return Err(ApiError::invalid(res.kind, res.group, &name, &errors));
    }
    check_namespace(api, res, t.namespace.as_deref()).await?;
    // Quota checks and the write happen under one lock so two creates cannot both take
    // the last unit of a quota.
    let quota_ns = t
        .namespace
        .as_deref()
        .filter(|ns| res.namespaced && crate::admission::has_quota(api, ns));
    let _quota_guard = match quota_ns {
        Some(ns) => {
            let guard = api.quota_lock.lock().await;
            api.sync().await;
            crate::admission::check_quota(api, res, ns, &obj).await?;
            Some(guard)
        }
        None => None,
    };
    if dry_run(q) {
        return Ok(Written {
            object: obj,
            created: true,
            warnings,
        });
    }
    let rev = api
        .store
        .create(&key, for_storage(res, &obj).into())
        .await
        .map_err(|e| conflict_or(e, res, &name))?;
    set_resource_version(&mut obj, rev);
    Ok(Written {
        object: obj,
        created: true,
        warnings,
    })
}

/// Which part of the object an update may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
    /// A change the server itself makes to the stored object (binding a pod, dropping a
    /// namespace finalizer): no defaulting, no update validation.
    Server,
}

/// Turns a client's new version of `old` into what gets stored, or an error.
fn prepare(api: &Api, t: &Target, part: Part, old: &Value, mut new: Value) -> ApiResult<Value> {
    let res = t.resource;
    let name = name_of(old).to_string();
    if name_of(&new) != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            name_of(&new)
        )));
    }
    match part {
        Part::Status => return Ok(prepare_status_update(&new, old)),
        Part::Server => return Ok(new),
        Part::Main => {}
    }
    rkube_validation::apply_defaults(res.group, res.plural, &mut new);
    rkube_validation::prepare_update(res.group, res.plural, &mut new, old);
    prepare_update(res, &mut new, old);
    if res.plural == "services" && res.group.is_empty() {
        let key = res.key(t.namespace.as_deref(), &name);
        let mut taken = taken_by_others(api, &key);
        api.ranges
            .allocate(&mut new, Some(old), &mut taken, &name)?;
    }
    let errors = rkube_validation::validate_update(res.group, res.plural, &new, old);
    if !errors.is_empty() {
        return Err(ApiError::invalid(res.kind, res.group, &name, &errors));
    }
    Ok(new)
}

/// Stores `new` over `old` if `old` is still current. Returns None on a lost race.
async fn store_update(
    api: &Api,
    t: &Target,
    q: &Query,
    old: &Value,
    mut new: Value,
) -> ApiResult<Option<Value>> {
    let res = t.resource;
    let name = name_of(old).to_string();
    if crate::lifecycle::same_but_rv(&new, old) {
        return Ok(Some(old.clone()));
    }
    if dry_run(q) {
        return Ok(Some(new));
    }
    let key = res.key(t.namespace.as_deref(), &name);
    let old_rev = Api::revision_of(old)?;
    let finished = new.pointer("/metadata/deletionTimestamp").is_some()
        && new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        && new
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
        && (res.plural != "namespaces"
            || new
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty));
    if finished {
        // The last finalizer went away from an object being deleted: it is gone now.
        return match api.store.delete(&key, Some(old_rev)).await {
            Ok(kv) => {
                set_resource_version(&mut new, kv.mod_revision);
                Ok(Some(new))
            }
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(e) => Err(conflict_or(e, res, &name)),
        };
    }
    // The stored form has no resourceVersion (the revision is the store's own); `new`
    // gets the new one below, so drop it now rather than serialise a copy without it.
    if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    match api
        .store
        .update(&key, for_storage(res, &new).into(), old_rev)
        .await
    {
        Ok(rev) => {
            set_resource_version(&mut new, rev);
            Ok(Some(new))
        }
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(e) => Err(conflict_or(e, res, &name)),
    }
}

async fn load(api: &Api, t: &Target, name: &str) -> ApiResult<Value> {
    let res = t.resource;
    api.current_value(res, &res.key(t.namespace.as_deref(), name))
        .await
        .ok_or_else(|| ApiError::not_found(res.group, res.plural, name))
}

/// PUT: the client's whole object, guarded by its resourceVersion when it sends one.
pub async fn update(
    api: &Api,
    t: &Target,
    name: &str,
    part: Part,
    q: &Query,
    content_type: &str,
    body: &[u8],
) -> ApiResult<Written> {
    let (new, warnings) = decode_for_write(api, t, q, content_type, body)?;
    let object = guaranteed_update(api, t, name, part, q, |_| Ok(new.clone())).await?;
    Ok(Written {
        object,
        created: false,
        warnings,
    })
}

/// Read-modify-write with retries: `change` maps the current object to the new one.
pub async fn guaranteed_update<F>(
    api: &Api,
    t: &Target,
    name: &str,
    part: Part,
    q: &Query,
    mut change: F,
) -> ApiResult<Value>
where
    F: FnMut(&Value) -> ApiResult<Value>,
{
    let res = t.resource;
    for _ in 0..RETRIES {
        let old = load(api, t, name).await?;
        let new = change(&old)?;
        // A resourceVersion the change itself carries is a precondition (kubectl apply
        // and edit send one).
        let wanted = str_at(&new, "/metadata/resourceVersion");
        if !wanted.is_empty() && wanted != str_at(&old, "/metadata/resourceVersion") {
            return Err(ApiError::modified(res.group, res.plural, name));
        }
        let _guard = match res.plural {
            "services" if res.group.is_empty() => Some(api.service_lock.lock().await),
            _ => None,
        };
        let prepared = prepare(api, t, part, &old, new)?;
        if let Some(obj) = store_update(api, t, q, &old, prepared).await? {
            return Ok(obj);
        }
    }
    Err(ApiError::modified(res.group, res.plural, name))
}

pub async fn patch(
    api: &Api,
    t: &Target,
    name: &str,
    part: Part,
    q: &Query,
    content_type: &str,
    body: &[u8],
) -> ApiResult<Written> {
    let res = t.resource;
    let definition = api
        .openapi()
        .definition_for(res.group, res.version, res.kind)
        .map(str::to_string);
    let is_apply = content_type == "application/apply-patch+yaml";
    if is_apply && q.get("fieldManager").is_none_or(|m| m.is_empty()) {
        let err = rkube_validation::FieldError {
            field: "fieldManager".into(),
            error_type: rkube_validation::ErrorType::Required,
            bad_value: None,
            detail: "is required for apply patch".into(),
        };
        return Err(ApiError::invalid("PatchOptions", "meta.k8s.io", "", &[err]));
    }
    if is_apply && part == Part::Main && load(api, t, name).await.is_err() {
        // Apply creates what does not exist yet.
        let (mut obj, warnings) = decode_for_write(api, t, q, "application/yaml", body)?;
        if name_of(&obj) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&obj)
            )));
        }
        obj["metadata"]["name"] = Value::String(name.to_string());
        return create_object(api, t, q, obj, warnings).await;
    }
    let mut warnings = Vec::new();
    let object = guaranteed_update(api, t, name, part, q, |old| {
        let mut base = old.clone();
        if let Some(m) = base.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let mut patched = apply_patch(api, &base, content_type, body, definition.as_deref())?;
        if let Some(m) = patched.get_mut("metadata").and_then(Value::as_object_mut) {
            // Keep the precondition only when the patch itself set one.
            if m.get("resourceVersion").is_none() {
                m.insert(
                    "resourceVersion".into(),
                    old.pointer("/metadata/resourceVersion")
                        .cloned()
                        .unwrap_or(Value::Null),
                );
            }
        }
        check_type(&mut patched, &res.api_version(), res.kind)?;
        warnings = check_fields(api, res, &patched, q)?;
        set_namespace(&mut patched, t)?;
        Ok(patched)
    })
    .await?;
    Ok(Written {
        object,
        created: false,
        warnings,
    })
}

pub fn apply_patch(
    api: &Api,
    base: &Value,
    content_type: &str,
    body: &[u8],
    definition: Option<&str>,
) -> ApiResult<Value> {
    let result = match content_type {
        "application/json-patch+json" => rkube_patch::json_patch(base, body),
        "application/merge-patch+json" => rkube_patch::merge_patch(base, body),
        "application/strategic-merge-patch+json" => {
            rkube_patch::strategic_merge_patch(base, body, &SchemaLookup(api), definition)
        }
        // Server-side apply, simplified: the applied configuration is merged like a
        // strategic merge patch; field ownership and conflicts are not tracked yet.
        "application/apply-patch+yaml" => {
            let applied = crate::body::decode_object(body, "application/yaml", "", "")?;
            let bytes = serde_json::to_vec(&applied).map_err(ApiError::internal)?;
            rkube_patch::strategic_merge_patch(base, &bytes, &SchemaLookup(api), definition)
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    result.map_err(patch_error)
}

fn patch_error(e: rkube_patch::PatchError) -> ApiError {
    ApiError::new(e.status_code(), e.reason(), e.message().to_string())
}

struct SchemaLookup<'a>(&'a Api);

impl rkube_patch::SchemaSource for SchemaLookup<'_> {
    fn schema(&self, definition: &str) -> Option<&Value> {
        self.0.openapi().schema(definition)
    }
}

/// Upstream's delete options, from the body or the query.
pub struct DeleteOptions {
    pub grace: Option<i64>,
    pub propagation: String,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

pub fn delete_options(q: &Query, body: &[u8]) -> ApiResult<DeleteOptions> {
    let opts: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else if body.starts_with(rkube_protobuf::MAGIC) {
        rkube_protobuf::decode_object(body, "meta.k8s.io/v1", "DeleteOptions")
            .map_err(|e| ApiError::bad_request(e.to_string()))?
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("json: {e}")))?
    };
    let grace = q
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse().ok())
        .or_else(|| opts.get("gracePeriodSeconds").and_then(Value::as_i64));
    let orphan = opts.get("orphanDependents").and_then(Value::as_bool);
    let propagation = q
        .get("propagationPolicy")
        .cloned()
        .or_else(|| {
            opts.get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| match orphan {
            Some(true) => "Orphan".into(),
            _ => "Background".into(),
        });
    Ok(DeleteOptions {
        grace,
        propagation,
        uid: opts
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        resource_version: opts
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

pub async fn delete(
    api: &Api,
    t: &Target,
    name: &str,
    q: &Query,
    opts: &DeleteOptions,
) -> ApiResult<Value> {
    let res = t.resource;
    let key = res.key(t.namespace.as_deref(), name);
    for _ in 0..RETRIES {
        let old = load(api, t, name).await?;
        if let Some(uid) = &opts.uid {
            let have = str_at(&old, "/metadata/uid");
            if have != uid {
                return Err(ApiError::conflict(
                    res.group,
                    res.plural,
                    name,
                    &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"),
                ));
            }
        }
        if let Some(rv) = &opts.resource_version {
            let have = str_at(&old, "/metadata/resourceVersion");
            if have != rv {
                return Err(ApiError::conflict(res.group, res.plural, name, &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}")));
            }
        }
        if let Some(pending) = graceful(res, &old, opts) {
            if dry_run(q) {
                return Ok(pending);
            }
            if pending == old {
                return Ok(pending);
            }
            match store_update(api, t, q, &old, pending).await? {
                Some(obj) => return Ok(obj),
                None => continue,
            }
        }
        if dry_run(q) {
            return Ok(old);
        }
        match api.store.delete(&key, Some(Api::revision_of(&old)?)).await {
            Ok(kv) => {
                let mut obj = old;
                set_resource_version(&mut obj, kv.mod_revision);
                return Ok(obj);
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(conflict_or(e, res, name)),
        }
    }
    Err(ApiError::modified(res.group, res.plural, name))
}

/// The object marked for deletion when it cannot go at once (finalizers, a pod's grace
/// period, a namespace's contents), or None to delete it now.
fn graceful(res: &ResourceInfo, old: &Value, opts: &DeleteOptions) -> Option<Value> {
    let mut obj = old.clone();
    let already = old.pointer("/metadata/deletionTimestamp").is_some();
    let mut finalizers: Vec<Value> = old
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let policy_finalizer = match opts.propagation.as_str() {
        "Foreground" => Some("foregroundDeletion"),
        "Orphan" => Some("orphan"),
        _ => None,
    };
    if let Some(f) = policy_finalizer {
        if !already && !finalizers.iter().any(|x| x == f) {
            finalizers.push(Value::String(f.into()));
        }
    }
    let is_pod = res.group.is_empty() && res.plural == "pods";
    let is_namespace = res.group.is_empty() && res.plural == "namespaces";
    let mut grace = 0;
    if is_pod {
        let phase = str_at(old, "/status/phase");
        let bound = !str_at(old, "/spec/nodeName").is_empty();
        let default = old
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        grace = opts.grace.unwrap_or(default).max(0);
        if !bound || phase == "Succeeded" || phase == "Failed" {
            grace = 0;
        }
        if let Some(current) = old
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
        {
            // A second delete may shorten the grace period, never lengthen it.
            grace = grace.min(current);
        }
    }
    if finalizers.is_empty() && grace == 0 && !is_namespace {
        return None;
    }
    let meta = obj.get_mut("metadata")?.as_object_mut()?;
    if !already || grace > 0 {
        let when = if grace > 0 {
            lifecycle::time_after(grace)
        } else {
            lifecycle::now()
        };
        if !already
            || grace
                < old
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(i64::MAX)
        {
            meta.insert("deletionTimestamp".into(), Value::String(when));
        }
    }
    meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }
    if is_namespace {
        obj["status"]["phase"] = Value::String("Terminating".into());
    }
    Some(obj)
}
