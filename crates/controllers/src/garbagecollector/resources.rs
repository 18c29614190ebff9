//! Which resources the server serves, found through discovery so that kinds the server
//! learns later are covered without touching the controllers. Shared by the garbage
//! collector, the namespace controller and the quota controller.

use kube::core::ApiResource;
use kube::discovery::{verbs, Discovery, Scope};
use kube::Client;

/// One served, listable resource.
#[derive(Debug, Clone)]
pub struct Served {
    pub api: ApiResource,
    pub namespaced: bool,
    pub watch: bool,
    pub delete: bool,
    pub deletecollection: bool,
}

impl Served {
    /// `<resource>.<group>` as quota `count/` names and conditions spell it (`pods`,
    /// `deployments.apps`).
    pub fn qualified(&self) -> String {
        if self.api.group.is_empty() {
            self.api.plural.clone()
        } else {
            format!("{}.{}", self.api.plural, self.api.group)
        }
    }

    pub fn is(&self, group: &str, plural: &str) -> bool {
        self.api.group == group && self.api.plural == plural
    }
}

/// The served resources (one version each, the preferred one). Falls back to the kinds
/// rkube is known to serve when discovery fails, so a flaky start does not stop the
/// controllers.
pub async fn discover(client: &Client) -> Vec<Served> {
    match Discovery::new(client.clone()).run().await {
        Ok(d) => {
            let mut out = Vec::new();
            for group in d.groups() {
                for (api, caps) in group.recommended_resources() {
                    if !caps.supports_operation(verbs::LIST) {
                        continue;
                    }
                    out.push(Served {
                        namespaced: caps.scope == Scope::Namespaced,
                        watch: caps.supports_operation(verbs::WATCH),
                        delete: caps.supports_operation(verbs::DELETE),
                        deletecollection: caps.supports_operation(verbs::DELETE_COLLECTION),
                        api,
                    });
                }
            }
            if out.is_empty() {
                fixed()
            } else {
                out
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "discovery failed; using the built-in resource list");
            fixed()
        }
    }
}

/// The resources rkube serves today.
pub fn fixed() -> Vec<Served> {
    const LIST: &[(&str, &str, &str, &str, bool)] = &[
        ("", "v1", "Namespace", "namespaces", false),
        ("", "v1", "Node", "nodes", false),
        ("", "v1", "Pod", "pods", true),
        ("", "v1", "Service", "services", true),
        ("", "v1", "Endpoints", "endpoints", true),
        ("", "v1", "ConfigMap", "configmaps", true),
        ("", "v1", "Secret", "secrets", true),
        ("", "v1", "ServiceAccount", "serviceaccounts", true),
        ("", "v1", "Event", "events", true),
        (
            "",
            "v1",
            "ReplicationController",
            "replicationcontrollers",
            true,
        ),
        ("", "v1", "LimitRange", "limitranges", true),
        ("", "v1", "ResourceQuota", "resourcequotas", true),
        ("", "v1", "PodTemplate", "podtemplates", true),
        ("apps", "v1", "Deployment", "deployments", true),
        ("apps", "v1", "ReplicaSet", "replicasets", true),
        ("apps", "v1", "StatefulSet", "statefulsets", true),
        ("apps", "v1", "DaemonSet", "daemonsets", true),
        (
            "apps",
            "v1",
            "ControllerRevision",
            "controllerrevisions",
            true,
        ),
        ("coordination.k8s.io", "v1", "Lease", "leases", true),
        (
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            true,
        ),
        ("batch", "v1", "Job", "jobs", true),
        ("batch", "v1", "CronJob", "cronjobs", true),
    ];
    LIST.iter()
        .map(|(group, version, kind, plural, namespaced)| Served {
            api: api_resource(group, version, kind, plural),
            namespaced: *namespaced,
            watch: true,
            delete: true,
            deletecollection: true,
        })
        .collect()
}

pub fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default()
}

/// Finds the resource serving `kind` in the group of `api_version`.
pub fn by_kind<'a>(all: &'a [Served], api_version: &str, kind: &str) -> Option<&'a Served> {
    let group = group_of(api_version);
    all.iter()
        .find(|s| s.api.group == group && s.api.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_resolve_by_group_not_version() {
        let all = fixed();
        let rs = by_kind(&all, "apps/v1beta2", "ReplicaSet").map(|s| s.api.plural.as_str());
        assert_eq!(rs, Some("replicasets"));
        assert!(by_kind(&all, "v1", "ReplicaSet").is_none());
        let pod = by_kind(&all, "v1", "Pod").map(Served::qualified);
        assert_eq!(pod.as_deref(), Some("pods"));
        let dep = by_kind(&all, "apps/v1", "Deployment").map(Served::qualified);
        assert_eq!(dep.as_deref(), Some("deployments.apps"));
        assert_eq!(group_of("v1"), "");
    }
}
