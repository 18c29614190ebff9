//! Image pulls for a container per imagePullPolicy, with registry credentials from
//! imagePullSecrets, back-off after failures, and upstream's events and waiting reasons.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod, Secret};
use kube::Api;
use rkube_client::events::EventType;
use rkube_cri::api;
use serde_json::Value;

use super::backoff::Backoff;
use super::containers::Kind;
use super::status::Waiting;
use super::Shared;

/// The policy the API server would have defaulted: Always for `:latest` or no tag.
pub fn pull_policy(container: &Container) -> String {
    if let Some(p) = container
        .image_pull_policy
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        return p.to_string();
    }
    let image = container.image.as_deref().unwrap_or_default();
    if image.contains('@') {
        return "IfNotPresent".into();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always".into(),
        Some(_) => "IfNotPresent".into(),
    }
}

/// The registry host an image reference names (`docker.io` when it names none).
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
            normalize_registry(first)
        }
        _ => "docker.io".into(),
    }
}

fn normalize_registry(key: &str) -> String {
    let key = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = key.split('/').next().unwrap_or(key);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        h => h.to_string(),
    }
}

/// Credentials for `registry` from docker config JSON (`{"auths": {...}}` or the old
/// bare map of .dockercfg).
pub fn auth_from_docker_config(config: &Value, registry: &str) -> Option<api::AuthConfig> {
    let auths = config
        .get("auths")
        .and_then(Value::as_object)
        .or_else(|| config.as_object())?;
    let (key, entry) = auths
        .iter()
        .find(|(k, _)| normalize_registry(k) == registry)?;
    let field = |name: &str| {
        entry
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some(api::AuthConfig {
        username: field("username"),
        password: field("password"),
        auth: field("auth"),
        server_address: normalize_registry(key),
        identity_token: field("identitytoken"),
        registry_token: field("registrytoken"),
    })
}

async fn pull_auth(shared: &Shared, pod: &Pod, image: &str) -> Option<api::AuthConfig> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let secrets: Api<Secret> = Api::namespaced(shared.ctx.client.clone(), namespace);
    let registry = registry_of(image);
    let names = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref())?;
    for name in names.iter().map(|r| r.name.as_str()) {
        let Ok(Some(secret)) = secrets.get_opt(name).await else {
            continue;
        };
        let data = secret.data.unwrap_or_default();
        let bytes = data
            .get(".dockerconfigjson")
            .or_else(|| data.get(".dockercfg"));
        let Some(config) = bytes.and_then(|b| serde_json::from_slice::<Value>(&b.0).ok()) else {
            continue;
        };
        if let Some(auth) = auth_from_docker_config(&config, &registry) {
            return Some(auth);
        }
    }
    None
}

/// Go's rendering of a pull duration ("850ms", "1.234s").
fn pull_time(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let text = format!("{}.{:03}", ms / 1000, ms % 1000);
    format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
}

/// The runtime's error as upstream prints a gRPC error.
pub fn cri_message(e: &rkube_cri::CriError) -> String {
    match e {
        rkube_cri::CriError::Status { status, .. } => format!(
            "rpc error: code = {:?} desc = {}",
            status.code(),
            status.message()
        ),
        other => other.to_string(),
    }
}

/// Makes sure the container's image is present; returns the runtime's image id, or
/// the waiting state to report (ErrImagePull, ImagePullBackOff, ErrImageNeverPull).
pub async fn ensure_image(
    shared: &Shared,
    pod: &Pod,
    kind: Kind,
    container: &Container,
    backoff: &mut Backoff,
    last_errors: &mut std::collections::HashMap<String, String>,
) -> Result<String, (Waiting, Option<Duration>)> {
    let image = container.image.clone().unwrap_or_default();
    let path = kind.field_path(&container.name);
    let policy = pull_policy(container);
    let event = |t: EventType, reason: &str, message: String| {
        shared.event(pod, Some(path.clone()), t, reason, message)
    };
    let waiting = |reason: &str, message: String| Waiting {
        reason: reason.into(),
        message,
    };
    if policy != "Always" {
        match shared.ctx.runtime.image_status(&image).await {
            Ok(Some(found)) => {
                event(
                    EventType::Normal,
                    "Pulled",
                    format!("Container image \"{image}\" already present on machine"),
                );
                return Ok(found.id);
            }
            Ok(None) => {}
            Err(e) => {
                let msg = cri_message(&e);
                return Err((
                    waiting("ErrImageInspect", msg),
                    Some(Duration::from_secs(2)),
                ));
            }
        }
        if policy == "Never" {
            let msg =
                format!("Container image \"{image}\" is not present with pull policy of Never");
            event(EventType::Warning, "ErrImageNeverPull", msg.clone());
            event(
                EventType::Warning,
                "Failed",
                "Error: ErrImageNeverPull".into(),
            );
            return Err((
                waiting("ErrImageNeverPull", msg),
                Some(Duration::from_secs(10)),
            ));
        }
    }
    let key = format!(
        "{}/{image}",
        pod.metadata.uid.as_deref().unwrap_or_default()
    );
    let now = Instant::now();
    if let Some(rest) = backoff.remaining(&key, now, now) {
        event(
            EventType::Normal,
            "BackOff",
            format!("Back-off pulling image \"{image}\""),
        );
        event(
            EventType::Warning,
            "Failed",
            "Error: ImagePullBackOff".into(),
        );
        let previous = last_errors.get(&image).cloned().unwrap_or_default();
        let msg = format!("Back-off pulling image \"{image}\": ErrImagePull: {previous}");
        return Err((waiting("ImagePullBackOff", msg), Some(rest)));
    }
    event(
        EventType::Normal,
        "Pulling",
        format!("Pulling image \"{image}\""),
    );
    let auth = pull_auth(shared, pod, &image).await;
    let started = Instant::now();
    match shared.ctx.runtime.pull_image(&image, auth, None).await {
        Ok(image_ref) => {
            let took = pull_time(started.elapsed());
            let size = match shared.ctx.runtime.image_status(&image_ref).await {
                Ok(Some(i)) => format!(" Image size: {} bytes.", i.size),
                _ => String::new(),
            };
            event(
                EventType::Normal,
                "Pulled",
                format!("Successfully pulled image \"{image}\" in {took} ({took} including waiting).{size}"),
            );
            backoff.forget(&key);
            last_errors.remove(&image);
            Ok(image_ref)
        }
        Err(e) => {
            let msg = cri_message(&e);
            backoff.next(&key, Instant::now());
            last_errors.insert(image.clone(), msg.clone());
            event(
                EventType::Warning,
                "Failed",
                format!("Failed to pull image \"{image}\": {msg}"),
            );
            event(EventType::Warning, "Failed", "Error: ErrImagePull".into());
            let wait = backoff.delay(&key);
            Err((waiting("ErrImagePull", msg), wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(image: &str, policy: Option<&str>) -> Container {
        Container {
            name: "c".into(),
            image: Some(image.into()),
            image_pull_policy: policy.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn default_pull_policies() {
        assert_eq!(pull_policy(&c("nginx", None)), "Always");
        assert_eq!(pull_policy(&c("nginx:latest", None)), "Always");
        assert_eq!(pull_policy(&c("nginx:1.25", None)), "IfNotPresent");
        assert_eq!(pull_policy(&c("localhost:5000/app", None)), "Always");
        assert_eq!(
            pull_policy(&c("localhost:5000/app:v1", None)),
            "IfNotPresent"
        );
        assert_eq!(pull_policy(&c("a@sha256:00", None)), "IfNotPresent");
        assert_eq!(pull_policy(&c("nginx", Some("Never"))), "Never");
    }

    #[test]
    fn registries() {
        assert_eq!(registry_of("nginx"), "docker.io");
        assert_eq!(registry_of("library/nginx:1"), "docker.io");
        assert_eq!(registry_of("localhost:5000/x/y:1"), "localhost:5000");
        assert_eq!(registry_of("gcr.io/google-samples/x:v1"), "gcr.io");
    }

    #[test]
    fn docker_config_lookup() {
        let cfg = json!({"auths": {
            "https://index.docker.io/v1/": {"username": "hub", "password": "p1"},
            "localhost:5000": {"username": "me", "password": "pw", "auth": "bWU6cHc="}
        }});
        let a = auth_from_docker_config(&cfg, "localhost:5000").unwrap();
        assert_eq!((a.username.as_str(), a.password.as_str()), ("me", "pw"));
        assert_eq!(a.auth, "bWU6cHc=");
        let hub = auth_from_docker_config(&cfg, "docker.io").unwrap();
        assert_eq!(hub.username, "hub");
        assert!(auth_from_docker_config(&cfg, "quay.io").is_none());
        let old = json!({"localhost:5000": {"auth": "eDp5"}});
        assert_eq!(
            auth_from_docker_config(&old, "localhost:5000")
                .unwrap()
                .auth,
            "eDp5"
        );
    }

    #[test]
    fn pull_times_read_like_go() {
        assert_eq!(pull_time(Duration::from_millis(850)), "850ms");
        assert_eq!(pull_time(Duration::from_millis(1234)), "1.234s");
        assert_eq!(pull_time(Duration::from_millis(2500)), "2.5s");
        assert_eq!(pull_time(Duration::from_millis(3000)), "3s");
    }
}
