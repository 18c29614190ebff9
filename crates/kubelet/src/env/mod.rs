//! Container environment, built as upstream's kubelet does (makeEnvironmentVariables):
//! service link variables, then envFrom, then env with `$(VAR)` expansion and valueFrom
//! sources. Objects are fetched first; assembling is pure so its rules are tested.

pub mod expand;
pub mod fieldref;
pub mod quantity;
pub mod services;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use kube::Api;

use crate::error::{Error, Result};
use fieldref::{NodeAllocatable, PodAddresses};

/// The data of the ConfigMaps and Secrets a container refers to; `None` = not found.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub config_maps: HashMap<String, Option<BTreeMap<String, String>>>,
    pub secrets: HashMap<String, Option<BTreeMap<String, String>>>,
}

/// Upstream's kubelet-side not-found text, shown as CreateContainerConfigError.
pub fn config_map_not_found(name: &str) -> Error {
    Error::Spec(format!("configmap \"{name}\" not found"))
}

pub fn secret_not_found(name: &str) -> Error {
    Error::Spec(format!("secret \"{name}\" not found"))
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// A ConfigMap's string data; `None` when it does not exist.
pub async fn fetch_config_map(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<ConfigMap>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.get(name).await {
        Ok(cm) => Ok(Some(cm)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn fetch_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Secret>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.get(name).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn secret_strings(s: Secret) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = s.string_data.unwrap_or_default();
    for (k, v) in s.data.unwrap_or_default() {
        out.insert(k, String::from_utf8_lossy(&v.0).into_owned());
    }
    out
}

/// Names of the ConfigMaps and Secrets `container` reads through env and envFrom.
fn referenced(container: &Container) -> (Vec<String>, Vec<String>) {
    let mut cms = Vec::new();
    let mut secrets = Vec::new();
    for from in container.env_from.iter().flatten() {
        if let Some(r) = &from.config_map_ref {
            cms.push(r.name.clone());
        }
        if let Some(r) = &from.secret_ref {
            secrets.push(r.name.clone());
        }
    }
    for var in container.env.iter().flatten() {
        let Some(from) = &var.value_from else {
            continue;
        };
        if let Some(r) = &from.config_map_key_ref {
            cms.push(r.name.clone());
        }
        if let Some(r) = &from.secret_key_ref {
            secrets.push(r.name.clone());
        }
    }
    cms.sort();
    cms.dedup();
    secrets.sort();
    secrets.dedup();
    (cms, secrets)
}

/// The environment of one container, in upstream order.
pub async fn container_env(
    client: &kube::Client,
    pod: &Pod,
    container: &Container,
    host_ip: IpAddr,
    pod_ip: Option<IpAddr>,
) -> Result<Vec<rkube_cri::api::KeyValue>> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let mut services: Vec<Service> = Vec::new();
    if links {
        let api: Api<Service> = Api::namespaced(client.clone(), namespace);
        services.extend(api.list(&Default::default()).await?.items);
    }
    if namespace != "default" || !links {
        let api: Api<Service> = Api::namespaced(client.clone(), "default");
        if let Some(svc) = api.get_opt("kubernetes").await? {
            services.push(svc);
        }
    }
    let service_env = services::env_for(&services, namespace, links);

    let (cm_names, secret_names) = referenced(container);
    let mut sources = Sources::default();
    for name in cm_names {
        let data = fetch_config_map(client, namespace, &name)
            .await?
            .map(|cm| cm.data.unwrap_or_default());
        sources.config_maps.insert(name, data);
    }
    for name in secret_names {
        let data = fetch_secret(client, namespace, &name)
            .await?
            .map(secret_strings);
        sources.secrets.insert(name, data);
    }
    let addrs = PodAddresses {
        host_ip: Some(host_ip),
        pod_ip,
    };
    let vars = assemble(
        pod,
        container,
        &service_env,
        &sources,
        addrs,
        &NodeAllocatable::of_host(),
    )?;
    Ok(vars
        .into_iter()
        .map(|(key, value)| rkube_cri::api::KeyValue { key, value })
        .collect())
}

/// An ordered map: a later definition replaces the value but keeps the first position.
#[derive(Default)]
struct EnvList {
    order: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl EnvList {
    fn set(&mut self, key: String, value: String) {
        match self.index.get(&key) {
            Some(&i) => self.order[i].1 = value,
            None => {
                self.index.insert(key.clone(), self.order.len());
                self.order.push((key, value));
            }
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.index.get(key).map(|&i| self.order[i].1.as_str())
    }
}

/// Keys a process environment cannot carry are dropped from envFrom.
fn usable_key(k: &str) -> bool {
    !k.is_empty() && !k.contains('=') && k.chars().all(|c| c.is_ascii_graphic())
}

/// Pure assembly: service variables first, then envFrom, then env (later wins, and
/// user-defined names hide service variables of the same name).
pub fn assemble(
    pod: &Pod,
    container: &Container,
    service_env: &[(String, String)],
    sources: &Sources,
    addrs: PodAddresses,
    node: &NodeAllocatable,
) -> Result<Vec<(String, String)>> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut defined = EnvList::default();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or_default();
        let (data, optional, missing) = if let Some(r) = &from.config_map_ref {
            (
                sources.config_maps.get(&r.name).cloned().flatten(),
                r.optional.unwrap_or(false),
                config_map_not_found(&r.name),
            )
        } else if let Some(r) = &from.secret_ref {
            (
                sources.secrets.get(&r.name).cloned().flatten(),
                r.optional.unwrap_or(false),
                secret_not_found(&r.name),
            )
        } else {
            continue;
        };
        let Some(data) = data else {
            if optional {
                continue;
            }
            return Err(missing);
        };
        for (k, v) in data {
            let key = format!("{prefix}{k}");
            if usable_key(&key) {
                defined.set(key, v);
            } else {
                tracing::debug!(key, "skipping an envFrom key that is not a valid name");
            }
        }
    }
    let service_map: HashMap<&str, &str> = service_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for var in container.env.iter().flatten() {
        let literal = var.value.as_deref().unwrap_or_default();
        let value = if !literal.is_empty() {
            expand::expand(literal, |name| {
                defined
                    .get(name)
                    .or_else(|| service_map.get(name).copied())
                    .map(str::to_string)
            })
        } else if let Some(from) = &var.value_from {
            if let Some(f) = &from.field_ref {
                fieldref::field_value(pod, f, addrs, false)?
            } else if let Some(r) = &from.resource_field_ref {
                fieldref::resource_value(container, r, node)?
            } else if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional.unwrap_or(false);
                match sources.config_maps.get(&r.name).and_then(Option::as_ref) {
                    None if optional => continue,
                    None => return Err(config_map_not_found(&r.name)),
                    Some(data) => match data.get(&r.key) {
                        Some(v) => v.clone(),
                        None if optional => continue,
                        None => {
                            return Err(Error::Spec(format!(
                                "couldn't find key {} in ConfigMap {namespace}/{}",
                                r.key, r.name
                            )))
                        }
                    },
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional.unwrap_or(false);
                match sources.secrets.get(&r.name).and_then(Option::as_ref) {
                    None if optional => continue,
                    None => return Err(secret_not_found(&r.name)),
                    Some(data) => match data.get(&r.key) {
                        Some(v) => v.clone(),
                        None if optional => continue,
                        None => {
                            return Err(Error::Spec(format!(
                                "couldn't find key {} in Secret {namespace}/{}",
                                r.key, r.name
                            )))
                        }
                    },
                }
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        defined.set(var.name.clone(), value);
    }
    let mut out: Vec<(String, String)> = service_env
        .iter()
        .filter(|(k, _)| defined.get(k).is_none())
        .cloned()
        .collect();
    out.extend(defined.order);
    Ok(out)
}

#[cfg(test)]
mod tests;
