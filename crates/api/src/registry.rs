//! The built-in kinds, with everything discovery and the generic handler need.

/// A subresource as discovery advertises it.
#[derive(Debug, Clone, Copy)]
pub struct Subresource {
    pub name: &'static str,
    /// Group/version/kind of the subresource's body when it differs from the parent's.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

#[derive(Debug, Clone, Copy)]
pub struct ResourceInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
}

pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const GPU: &[&str] = &["get", "patch", "update"];

const fn sub(name: &'static str) -> Subresource {
    Subresource {
        name,
        group: "",
        version: "",
        kind: "",
        verbs: GPU,
    }
}
const STATUS: Subresource = sub("status");
const SCALE: Subresource = Subresource {
    name: "scale",
    group: "autoscaling",
    version: "v1",
    kind: "Scale",
    verbs: GPU,
};
const fn other(
    name: &'static str,
    group: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        group,
        version: "v1",
        kind,
        verbs,
    }
}

// One positional row per resource keeps the table below readable at a glance.
#[allow(clippy::too_many_arguments)]
const fn res(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
    categories: &'static [&'static str],
    subresources: &'static [Subresource],
) -> ResourceInfo {
    ResourceInfo {
        group,
        version: "v1",
        kind,
        plural,
        singular,
        short_names,
        namespaced,
        categories,
        subresources,
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

/// Every served resource, in discovery order.
pub static RESOURCES: &[ResourceInfo] = &[
    res("", "Binding", "bindings", "binding", NONE, true, NONE, &[]),
    res(
        "",
        "ConfigMap",
        "configmaps",
        "configmap",
        &["cm"],
        true,
        NONE,
        &[],
    ),
    res(
        "",
        "Endpoints",
        "endpoints",
        "endpoints",
        &["ep"],
        true,
        NONE,
        &[],
    ),
    res("", "Event", "events", "event", &["ev"], true, NONE, &[]),
    res(
        "",
        "LimitRange",
        "limitranges",
        "limitrange",
        &["limits"],
        true,
        NONE,
        &[],
    ),
    res(
        "",
        "Namespace",
        "namespaces",
        "namespace",
        &["ns"],
        false,
        NONE,
        &[STATUS, sub("finalize")],
    ),
    res(
        "",
        "Node",
        "nodes",
        "node",
        &["no"],
        false,
        NONE,
        &[
            STATUS,
            other(
                "proxy",
                "",
                "NodeProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
        ],
    ),
    res(
        "",
        "Pod",
        "pods",
        "pod",
        &["po"],
        true,
        ALL,
        &[
            STATUS,
            other("binding", "", "Binding", &["create"]),
            other("eviction", "policy", "Eviction", &["create"]),
            other("log", "", "Pod", &["get"]),
            other("exec", "", "PodExecOptions", &["create", "get"]),
            other("attach", "", "PodAttachOptions", &["create", "get"]),
            other(
                "portforward",
                "",
                "PodPortForwardOptions",
                &["create", "get"],
            ),
            other(
                "proxy",
                "",
                "PodProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
        ],
    ),
    res(
        "",
        "PodTemplate",
        "podtemplates",
        "podtemplate",
        NONE,
        true,
        NONE,
        &[],
    ),
    res(
        "",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        &["rc"],
        true,
        ALL,
        &[STATUS, SCALE],
    ),
    res(
        "",
        "ResourceQuota",
        "resourcequotas",
        "resourcequota",
        &["quota"],
        true,
        NONE,
        &[STATUS],
    ),
    res("", "Secret", "secrets", "secret", NONE, true, NONE, &[]),
    res(
        "",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        &["sa"],
        true,
        NONE,
        &[other(
            "token",
            "authentication.k8s.io",
            "TokenRequest",
            &["create"],
        )],
    ),
    res(
        "",
        "Service",
        "services",
        "service",
        &["svc"],
        true,
        ALL,
        &[
            STATUS,
            other(
                "proxy",
                "",
                "ServiceProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
        ],
    ),
    res(
        "apps",
        "ControllerRevision",
        "controllerrevisions",
        "controllerrevision",
        NONE,
        true,
        NONE,
        &[],
    ),
    res(
        "apps",
        "DaemonSet",
        "daemonsets",
        "daemonset",
        &["ds"],
        true,
        ALL,
        &[STATUS],
    ),
    res(
        "apps",
        "Deployment",
        "deployments",
        "deployment",
        &["deploy"],
        true,
        ALL,
        &[STATUS, SCALE],
    ),
    res(
        "apps",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        &["rs"],
        true,
        ALL,
        &[STATUS, SCALE],
    ),
    res(
        "apps",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        &["sts"],
        true,
        ALL,
        &[STATUS, SCALE],
    ),
    res(
        "batch",
        "CronJob",
        "cronjobs",
        "cronjob",
        &["cj"],
        true,
        ALL,
        &[STATUS],
    ),
    res("batch", "Job", "jobs", "job", NONE, true, ALL, &[STATUS]),
    res(
        "coordination.k8s.io",
        "Lease",
        "leases",
        "lease",
        NONE,
        true,
        NONE,
        &[],
    ),
    res(
        "discovery.k8s.io",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        NONE,
        true,
        NONE,
        &[],
    ),
    res(
        "events.k8s.io",
        "Event",
        "events",
        "event",
        &["ev"],
        true,
        NONE,
        &[],
    ),
];

/// Groups in discovery order; the core group ("") is served under /api.
pub const GROUPS: &[&str] = &[
    "apps",
    "events.k8s.io",
    "batch",
    "coordination.k8s.io",
    "discovery.k8s.io",
];

pub fn resources() -> &'static [ResourceInfo] {
    RESOURCES
}

/// The resource served at `/api(s)/<group>/<version>/<plural>`.
pub fn find_resource(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Objects of this resource exist in the store (bindings only act on pods).
    pub fn is_stored(&self) -> bool {
        self.plural != "bindings"
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name == name)
    }

    /// `group.resource` as upstream names it in error messages ("deployments.apps", "pods").
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Storage key prefix of the collection, ending in '/': upstream's bare
    /// `/registry/<plural>/`. core/v1 and events.k8s.io/v1 events are one resource in two
    /// representations, stored once in the core form.
    pub fn key_prefix(&self, namespace: Option<&str>) -> String {
        let base = format!("/registry/{}", self.plural);
        match namespace {
            Some(ns) if self.namespaced => format!("{base}/{ns}/"),
            _ => format!("{base}/"),
        }
    }

    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.key_prefix(namespace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_and_keys() {
        let deploy = find_resource("apps", "v1", "deployments").unwrap();
        assert_eq!(deploy.api_version(), "apps/v1");
        assert_eq!(deploy.qualified_name(), "deployments.apps");
        assert_eq!(
            deploy.key(Some("default"), "web"),
            "/registry/deployments/default/web"
        );
        let ns = find_resource("", "v1", "namespaces").unwrap();
        assert_eq!(
            ns.key(Some("ignored"), "kube-system"),
            "/registry/namespaces/kube-system"
        );
        assert!(find_resource("apps", "v1", "pods").is_none());
        let ev = find_resource("events.k8s.io", "v1", "events").unwrap();
        assert_eq!(
            ev.key_prefix(None),
            find_resource("", "v1", "events").unwrap().key_prefix(None)
        );
    }

    #[test]
    fn every_group_is_listed() {
        for r in RESOURCES {
            assert!(
                r.group.is_empty() || GROUPS.contains(&r.group),
                "{}",
                r.group
            );
        }
    }
}
