//! File sets of configMap, secret, downwardAPI and projected volumes (upstream
//! MakePayload / CollectData of each plugin). Building is pure once objects are fetched.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, DownwardAPIVolumeFile, KeyToPath, Pod, ProjectedVolumeSource, Secret,
    ServiceAccount, ServiceAccountTokenProjection,
};
use kube::api::PostParams;
use kube::Api;

use super::atomic::{FileProjection, Payload};
use crate::env::fieldref::{self, NodeAllocatable, PodAddresses};
use crate::env::{config_map_not_found, fetch_config_map, fetch_secret, secret_not_found};
use crate::error::{Error, Result};

/// Upstream's default file mode for these volumes (0644).
pub const DEFAULT_MODE: i32 = 0o644;

fn mode(m: Option<i32>, default: i32) -> u32 {
    (m.unwrap_or(default) as u32) & 0o7777
}

/// Key → bytes of a ConfigMap (data and binaryData).
pub fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    for (k, v) in cm.binary_data.iter().flatten() {
        out.insert(k.clone(), v.0.clone());
    }
    out
}

pub fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = s
        .string_data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    for (k, v) in s.data.iter().flatten() {
        out.insert(k.clone(), v.0.clone());
    }
    out
}

/// Keys (all, or the listed items) as files. `kind` names the object in the error
/// for a missing key ("configmap" / "secret"), as upstream's messages do.
pub fn key_payload(
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
    optional: bool,
    kind: &str,
) -> Result<Payload> {
    let mut out = Payload::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in data {
                out.insert(
                    k.clone(),
                    FileProjection {
                        data: v.clone(),
                        mode: mode(None, default_mode),
                    },
                );
            }
        }
        Some(items) => {
            for item in items {
                let Some(v) = data.get(&item.key) else {
                    if optional {
                        continue;
                    }
                    return Err(Error::Spec(format!(
                        "{kind} references non-existent {} key: {}",
                        if kind == "configmap" {
                            "config"
                        } else {
                            "secret"
                        },
                        item.key
                    )));
                };
                out.insert(
                    item.path.clone(),
                    FileProjection {
                        data: v.clone(),
                        mode: mode(item.mode, default_mode),
                    },
                );
            }
        }
    }
    Ok(out)
}

/// downwardAPI items as files.
pub fn downward_payload(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: i32,
    addrs: PodAddresses,
    node: &NodeAllocatable,
) -> Result<Payload> {
    let mut out = Payload::new();
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            fieldref::field_value(pod, f, addrs, true)?
        } else if let Some(r) = &item.resource_field_ref {
            let wanted = r.container_name.as_deref().unwrap_or_default();
            let container = pod
                .spec
                .iter()
                .flat_map(|s| {
                    s.containers
                        .iter()
                        .chain(s.init_containers.iter().flatten())
                })
                .find(|c| c.name == wanted)
                .ok_or_else(|| {
                    Error::Spec(format!(
                        "downwardAPI item {}: container {wanted:?} not found",
                        item.path
                    ))
                })?;
            fieldref::resource_value(container, r, node)?
        } else {
            continue;
        };
        out.insert(
            item.path.clone(),
            FileProjection {
                data: value.into_bytes(),
                mode: mode(item.mode, default_mode),
            },
        );
    }
    Ok(out)
}

/// Tokens already issued, per (pod uid, service account, audience, expiry): a sync
/// every few seconds must not mint a token each time.
struct CachedToken {
    token: String,
    issued: SystemTime,
    expires: SystemTime,
}

type TokenKey = (String, String, String, i64);

fn token_cache() -> &'static Mutex<HashMap<TokenKey, CachedToken>> {
    static CACHE: OnceLock<Mutex<HashMap<TokenKey, CachedToken>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Drops the cached tokens of a pod that is gone.
pub fn forget_tokens(pod_uid: &str) {
    if let Ok(mut cache) = token_cache().lock() {
        cache.retain(|k, _| k.0 != pod_uid);
    }
}

/// Upstream refreshes a token once 80% of its lifetime has passed, or after 24 h.
fn needs_refresh(issued: SystemTime, expires: SystemTime, now: SystemTime) -> bool {
    let ttl = expires.duration_since(issued).unwrap_or_default();
    let age = now.duration_since(issued).unwrap_or_default();
    age >= ttl.mul_f64(0.8) || age >= Duration::from_secs(24 * 3600)
}

async fn service_account_token(
    client: &kube::Client,
    pod: &Pod,
    source: &ServiceAccountTokenProjection,
) -> Result<String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let sa = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into());
    let expiration = source.expiration_seconds.unwrap_or(3600);
    let audience = source.audience.clone().unwrap_or_default();
    let key = (uid.clone(), sa.clone(), audience.clone(), expiration);
    let now = SystemTime::now();
    if let Ok(cache) = token_cache().lock() {
        if let Some(t) = cache.get(&key) {
            if !needs_refresh(t.issued, t.expires, now) {
                return Ok(t.token.clone());
            }
        }
    }
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: if audience.is_empty() {
                Vec::new()
            } else {
                vec![audience]
            },
            expiration_seconds: Some(expiration),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: pod.metadata.name.clone(),
                uid: Some(uid),
            }),
        },
        ..Default::default()
    };
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let issued: TokenRequest = api
        .create_subresource("token", &sa, &PostParams::default(), &request)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => Error::Spec(format!(
                "failed to fetch token: serviceaccounts \"{sa}\" not found"
            )),
            other => other.into(),
        })?;
    let status = issued
        .status
        .ok_or_else(|| Error::Other("TokenRequest answered without a token".into()))?;
    let expires = SystemTime::UNIX_EPOCH
        + Duration::from_secs(
            u64::try_from(status.expiration_timestamp.0.as_second()).unwrap_or(0),
        );
    if let Ok(mut cache) = token_cache().lock() {
        cache.insert(
            key,
            CachedToken {
                token: status.token.clone(),
                issued: now,
                expires,
            },
        );
    }
    Ok(status.token)
}

/// All sources of a projected volume, later sources overriding earlier paths.
pub async fn projected_payload(
    client: &kube::Client,
    pod: &Pod,
    source: &ProjectedVolumeSource,
    addrs: PodAddresses,
    node: &NodeAllocatable,
) -> Result<Payload> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let default_mode = source.default_mode.unwrap_or(DEFAULT_MODE);
    let mut out = Payload::new();
    for s in source.sources.iter().flatten() {
        if let Some(cm) = &s.config_map {
            let optional = cm.optional.unwrap_or(false);
            match fetch_config_map(client, namespace, &cm.name).await? {
                Some(obj) => out.extend(key_payload(
                    &config_map_data(&obj),
                    cm.items.as_deref(),
                    default_mode,
                    optional,
                    "configmap",
                )?),
                None if optional => {}
                None => return Err(config_map_not_found(&cm.name)),
            }
        }
        if let Some(sec) = &s.secret {
            let optional = sec.optional.unwrap_or(false);
            match fetch_secret(client, namespace, &sec.name).await? {
                Some(obj) => out.extend(key_payload(
                    &secret_data(&obj),
                    sec.items.as_deref(),
                    default_mode,
                    optional,
                    "secret",
                )?),
                None if optional => {}
                None => return Err(secret_not_found(&sec.name)),
            }
        }
        if let Some(d) = &s.downward_api {
            out.extend(downward_payload(
                pod,
                d.items.as_deref().unwrap_or_default(),
                default_mode,
                addrs,
                node,
            )?);
        }
        if let Some(t) = &s.service_account_token {
            let token = service_account_token(client, pod, t).await?;
            out.insert(
                t.path.clone(),
                FileProjection {
                    data: token.into_bytes(),
                    mode: mode(None, default_mode),
                },
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "projection_tests.rs"]
mod tests;
