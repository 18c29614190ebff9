//! A small, hand-written OpenAPI v3 schema graph shaped like the Deployment one.

use std::collections::HashMap;

use serde_json::{json, Value};

pub(crate) const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn wrapped(name: &str) -> Value {
    json!({ "allOf": [reference(name)], "default": {}, "description": "wrapped reference" })
}

fn merge_list(item: &str, key: &str) -> Value {
    json!({
        "type": "array",
        "items": wrapped(item),
        "x-kubernetes-patch-merge-key": key,
        "x-kubernetes-patch-strategy": "merge",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": [key]
    })
}

pub(crate) fn schemas() -> HashMap<String, Value> {
    let mut s = HashMap::new();
    s.insert(
        DEPLOYMENT.to_string(),
        json!({ "type": "object", "properties": {
            "apiVersion": { "type": "string" },
            "kind": { "type": "string" },
            "metadata": wrapped("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
            "spec": wrapped("io.k8s.api.apps.v1.DeploymentSpec"),
        }}),
    );
    s.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".to_string(),
        json!({ "type": "object", "properties": {
            "name": { "type": "string" },
            "labels": { "type": "object", "additionalProperties": { "type": "string", "default": "" } },
            "annotations": { "type": "object", "additionalProperties": { "type": "string", "default": "" } },
            "finalizers": { "type": "array", "items": { "type": "string", "default": "" },
                "x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set" },
            "ownerReferences": merge_list("io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference", "uid"),
        }}),
    );
    s.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference".to_string(),
        json!({ "type": "object", "properties": {
            "uid": { "type": "string" }, "name": { "type": "string" }, "kind": { "type": "string" }
        }}),
    );
    s.insert(
        "io.k8s.api.apps.v1.DeploymentSpec".to_string(),
        json!({ "type": "object", "properties": {
            "replicas": { "type": "integer", "format": "int32" },
            "template": wrapped("io.k8s.api.core.v1.PodTemplateSpec"),
            "strategy": {
                "allOf": [reference("io.k8s.api.apps.v1.DeploymentStrategy")],
                "default": {},
                "x-kubernetes-patch-strategy": "retainKeys"
            },
        }}),
    );
    s.insert(
        "io.k8s.api.apps.v1.DeploymentStrategy".to_string(),
        json!({ "type": "object", "properties": {
            "type": { "type": "string" },
            "rollingUpdate": reference("io.k8s.api.apps.v1.RollingUpdateDeployment"),
        }}),
    );
    s.insert(
        "io.k8s.api.apps.v1.RollingUpdateDeployment".to_string(),
        json!({ "type": "object", "properties": {
            "maxSurge": { "x-kubernetes-int-or-string": true },
            "maxUnavailable": { "x-kubernetes-int-or-string": true },
        }}),
    );
    s.insert(
        "io.k8s.api.core.v1.PodTemplateSpec".to_string(),
        json!({ "type": "object", "properties": {
            "metadata": wrapped("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
            "spec": wrapped("io.k8s.api.core.v1.PodSpec"),
        }}),
    );
    let mut volumes = merge_list("io.k8s.api.core.v1.Volume", "name");
    volumes["x-kubernetes-patch-strategy"] = json!("merge,retainKeys");
    s.insert(
        "io.k8s.api.core.v1.PodSpec".to_string(),
        json!({ "type": "object", "properties": {
            "containers": merge_list("io.k8s.api.core.v1.Container", "name"),
            "volumes": volumes,
            "tolerations": { "type": "array", "items": wrapped("io.k8s.api.core.v1.Toleration"),
                "x-kubernetes-list-type": "atomic" },
            "nodeSelector": { "type": "object", "additionalProperties": { "type": "string" } },
        }}),
    );
    s.insert(
        "io.k8s.api.core.v1.Container".to_string(),
        json!({ "type": "object", "properties": {
            "name": { "type": "string" },
            "image": { "type": "string" },
            "args": { "type": "array", "items": { "type": "string" }, "x-kubernetes-list-type": "atomic" },
            "env": merge_list("io.k8s.api.core.v1.EnvVar", "name"),
            "ports": merge_list("io.k8s.api.core.v1.ContainerPort", "containerPort"),
        }}),
    );
    for name in [
        "io.k8s.api.core.v1.EnvVar",
        "io.k8s.api.core.v1.ContainerPort",
        "io.k8s.api.core.v1.Toleration",
        "io.k8s.api.core.v1.Volume",
    ] {
        s.insert(
            name.to_string(),
            json!({ "type": "object", "properties": {} }),
        );
    }
    s
}

/// A live Deployment with two containers, env, ports, volumes and a rolling-update strategy.
pub(crate) fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": { "app": "web", "tier": "frontend" },
            "finalizers": ["a.example/one", "b.example/two"]
        },
        "spec": {
            "replicas": 2,
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:1.25",
                            "args": ["--a", "--b"],
                            "env": [ { "name": "A", "value": "1" }, { "name": "B", "value": "2" } ],
                            "ports": [ { "containerPort": 80, "protocol": "TCP" }, { "containerPort": 443, "protocol": "TCP" } ]
                        },
                        { "name": "sidecar", "image": "busybox:1.36" }
                    ],
                    "volumes": [ { "name": "data", "emptyDir": {} }, { "name": "conf", "configMap": { "name": "c" } } ],
                    "tolerations": [ { "key": "x", "operator": "Exists" } ]
                }
            }
        }
    })
}
