use super::*;
use serde_json::json;
use std::sync::OnceLock;

fn r(group: &str, kind: &str, plural: &str, namespaced: bool, subs: &[&str]) -> ResourceEndpoint {
    ResourceEndpoint {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced,
        subresources: subs.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn resources() -> Vec<ResourceEndpoint> {
    vec![
        r("", "Namespace", "namespaces", false, &["status"]),
        r(
            "",
            "Pod",
            "pods",
            true,
            &["status", "binding", "eviction", "log"],
        ),
        r("", "Service", "services", true, &["status"]),
        r("", "ConfigMap", "configmaps", true, &[]),
        r("", "Secret", "secrets", true, &[]),
        r("", "Node", "nodes", false, &["status"]),
        r("", "Binding", "bindings", true, &[]),
        r(
            "",
            "ReplicationController",
            "replicationcontrollers",
            true,
            &["status", "scale"],
        ),
        r(
            "apps",
            "Deployment",
            "deployments",
            true,
            &["status", "scale"],
        ),
        r(
            "apps",
            "ReplicaSet",
            "replicasets",
            true,
            &["status", "scale"],
        ),
        r("coordination.k8s.io", "Lease", "leases", true, &[]),
        r("example.com", "Widget", "widgets", true, &[]),
    ]
}

fn api() -> &'static OpenApi {
    static API: OnceLock<OpenApi> = OnceLock::new();
    API.get_or_init(|| OpenApi::new(&resources()))
}

fn doc(path: &str) -> Value {
    let (bytes, _) = api().document(path).unwrap();
    serde_json::from_slice(bytes).unwrap()
}

/// Resolves `$ref`/`allOf` inside one document, like kubectl explain does.
fn deref<'a>(d: &'a Value, mut s: &'a Value) -> &'a Value {
    loop {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            s = &d["components"]["schemas"][name];
        } else if let Some(Value::Array(a)) = s.get("allOf") {
            s = &a[0];
        } else {
            return s;
        }
    }
}

#[test]
fn index_points_at_documents_with_their_hash() {
    let index: Value = serde_json::from_slice(api().index()).unwrap();
    let paths = index["paths"].as_object().unwrap();
    for key in [
        "api/v1",
        "apis/apps/v1",
        "apis/coordination.k8s.io/v1",
        "apis/example.com/v1",
    ] {
        let url = paths[key]["serverRelativeURL"].as_str().unwrap();
        let (bytes, hash) = api().document(key).unwrap();
        assert_eq!(url, format!("/openapi/v3/{key}?hash={hash}"));
        assert_eq!(hash.len(), 16);
        assert!(serde_json::from_slice::<Value>(bytes).is_ok());
    }
    assert!(api().document("apis/batch/v1").is_none());
    assert_eq!(api().index_hash(), content_hash(api().index()));
}

#[test]
fn hashes_are_deterministic_and_content_sensitive() {
    let again = OpenApi::new(&resources());
    assert_eq!(
        again.document("api/v1").unwrap().1,
        api().document("api/v1").unwrap().1
    );
    assert_eq!(again.index(), api().index());
    assert_ne!(
        api().document("api/v1").unwrap().1,
        api().document("apis/apps/v1").unwrap().1
    );
    // A different resource set changes the document and therefore its hash.
    let mut fewer = resources();
    fewer.retain(|r| r.kind != "Secret");
    let fewer = OpenApi::new(&fewer);
    assert_ne!(
        fewer.document("api/v1").unwrap().1,
        api().document("api/v1").unwrap().1
    );
    assert_eq!(
        fewer.document("apis/apps/v1").unwrap().1,
        api().document("apis/apps/v1").unwrap().1
    );
}

#[test]
fn core_document_has_resource_paths_and_patch_metadata() {
    let d = doc("api/v1");
    let paths = d["paths"].as_object().unwrap();
    for p in [
        "/api/v1/namespaces/{namespace}/pods",
        "/api/v1/namespaces/{namespace}/pods/{name}",
        "/api/v1/namespaces/{namespace}/pods/{name}/status",
        "/api/v1/namespaces/{namespace}/pods/{name}/binding",
        "/api/v1/namespaces/{namespace}/pods/{name}/eviction",
        "/api/v1/pods",
        "/api/v1/nodes",
        "/api/v1/nodes/{name}",
        "/api/v1/namespaces/{name}",
        "/api/v1/namespaces/{namespace}/replicationcontrollers/{name}/scale",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert!(!paths.contains_key("/api/v1/namespaces/{namespace}/pods/{name}/log"));
    assert!(!paths.contains_key("/api/v1/namespaces/{namespace}/bindings/{name}"));
    let patch = &paths["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "", "kind": "Pod", "version": "v1"})
    );
    assert_eq!(patch["x-kubernetes-action"], "patch");
    let names: Vec<&str> = patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in ["fieldValidation", "dryRun", "fieldManager", "force"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let content = patch["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/strategic-merge-patch+json"));
    assert!(content.contains_key("application/apply-patch+yaml"));
    let list = &paths["/api/v1/namespaces/{namespace}/pods"]["get"];
    assert_eq!(list["x-kubernetes-action"], "list");
    let resp = &list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(resp, "#/components/schemas/io.k8s.api.core.v1.PodList");
    let post = &paths["/api/v1/namespaces/{namespace}/pods"]["post"];
    assert!(post["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "fieldValidation"));
    let eviction = &paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"];
    assert_eq!(
        eviction["x-kubernetes-group-version-kind"]["kind"],
        "Eviction"
    );

    let schemas = &d["components"]["schemas"];
    let pod_spec = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"];
    assert_eq!(
        pod_spec["containers"]["x-kubernetes-patch-merge-key"],
        "name"
    );
    assert_eq!(
        pod_spec["containers"]["x-kubernetes-patch-strategy"],
        "merge"
    );
    assert_eq!(
        pod_spec["volumes"]["x-kubernetes-patch-strategy"],
        "merge,retainKeys"
    );
    assert!(pod_spec["tolerations"]
        .get("x-kubernetes-patch-strategy")
        .is_none());
    let ports = &schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"];
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
    assert_eq!(
        ports["x-kubernetes-list-map-keys"],
        json!(["containerPort", "protocol"])
    );
    assert_eq!(
        schemas["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"]
            ["x-kubernetes-patch-merge-key"],
        "port"
    );
    let meta = &schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"];
    assert_eq!(meta["finalizers"]["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(
        meta["ownerReferences"]["x-kubernetes-patch-merge-key"],
        "uid"
    );
    let pod = &schemas["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
    assert!(
        pod.get("required").is_none(),
        "metadata must not be required"
    );
    assert_eq!(
        pod["properties"]["spec"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.PodSpec"
    );
    assert!(pod["properties"]["spec"]["description"].is_string());
    // Documents carry only what they reach: no apps types in core.
    assert!(schemas.get("io.k8s.api.apps.v1.Deployment").is_none());
}

#[test]
fn every_ref_resolves_inside_its_document() {
    for key in [
        "api/v1",
        "apis/apps/v1",
        "apis/coordination.k8s.io/v1",
        "apis/example.com/v1",
    ] {
        let d = doc(key);
        let mut refs = Vec::new();
        defs::refs_of(&d, &mut refs);
        assert!(!refs.is_empty());
        for name in refs {
            assert!(
                d["components"]["schemas"].get(&name).is_some(),
                "{key}: dangling {name}"
            );
        }
    }
}

#[test]
fn apps_document_scale_and_strategy() {
    let d = doc("apis/apps/v1");
    let scale =
        &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
    assert_eq!(
        scale["x-kubernetes-group-version-kind"],
        json!({"group": "autoscaling", "kind": "Scale", "version": "v1"})
    );
    assert_eq!(scale["operationId"], "patchAppsV1NamespacedDeploymentScale");
    let status =
        &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"]["put"];
    assert_eq!(
        status["x-kubernetes-group-version-kind"]["kind"],
        "Deployment"
    );
    let schemas = &d["components"]["schemas"];
    assert_eq!(
        schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
            ["x-kubernetes-patch-strategy"],
        "retainKeys"
    );
    assert!(schemas.get("io.k8s.api.core.v1.Container").is_some());
    assert!(schemas.get("io.k8s.api.autoscaling.v1.Scale").is_some());
}

#[test]
fn unknown_kind_gets_paths_without_dangling_schemas() {
    let d = doc("apis/example.com/v1");
    let patch = &d["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    assert!(patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "fieldValidation"));
    assert!(patch.get("requestBody").is_none());
    assert!(d["paths"]["/apis/example.com/v1/widgets"]["get"].is_object());
    assert!(api()
        .unknown_fields("example.com", "v1", "Widget", &json!({"x": 1}))
        .is_empty());
}

#[test]
fn explain_walk_reaches_container_fields() {
    let d = doc("apis/apps/v1");
    let schemas = d["components"]["schemas"].as_object().unwrap();
    let (_, dep) = schemas
        .iter()
        .find(|(_, s)| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|g| {
                    g.contains(&json!({"group": "apps", "kind": "Deployment", "version": "v1"}))
                })
        })
        .unwrap();
    let spec = deref(&d, &dep["properties"]["spec"]);
    let template = deref(&d, &spec["properties"]["template"]);
    let pod_spec = deref(&d, &template["properties"]["spec"]);
    let container = deref(&d, &pod_spec["properties"]["containers"]["items"]);
    let props = container["properties"].as_object().unwrap();
    for f in ["name", "image", "ports", "env", "resources", "volumeMounts"] {
        assert!(props.contains_key(f), "{f}");
    }
    assert_eq!(container["required"], json!(["name"]));
    assert!(container["description"]
        .as_str()
        .unwrap()
        .contains("container"));
    let c = api().schema("io.k8s.api.core.v1.Container").unwrap();
    assert_eq!(c["properties"]["image"]["type"], "string");
}

#[test]
fn definition_names() {
    assert_eq!(
        api().definition_for("apps", "v1", "Deployment"),
        Some("io.k8s.api.apps.v1.Deployment")
    );
    assert_eq!(
        api().definition_for("", "v1", "PodList"),
        Some("io.k8s.api.core.v1.PodList")
    );
    assert_eq!(
        api().definition_for("events.k8s.io", "v1", "Event"),
        Some("io.k8s.api.events.v1.Event")
    );
    assert_eq!(api().definition_for("apps", "v1", "Pod"), None);
    assert!(api()
        .schema("io.k8s.apimachinery.pkg.util.intstr.IntOrString")
        .unwrap()["oneOf"]
        .is_array());
}

#[test]
fn unknown_fields_finds_nested_misspellings() {
    let dep = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"a/b": "c"}, "bogus": 1},
        "spec": {
            "replicas": 1, "foo": true,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "a", "image": "nginx", "resources": {"limits": {"cpu": "1"}}},
                    {"name": "b", "imagee": "nginx", "ports": [{"containerPort": 80, "protocoll": "TCP"}],
                     "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]}
                ]}
            }
        },
        "status": {}
    });
    assert_eq!(
        api().unknown_fields("apps", "v1", "Deployment", &dep),
        vec![
            "metadata.bogus",
            "spec.foo",
            "spec.template.spec.containers[1].imagee",
            "spec.template.spec.containers[1].ports[0].protocoll",
        ]
    );
}

#[test]
fn unknown_fields_accepts_maps_and_free_form() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"x": "y"}, "annotations": {"k": "v"},
                     "managedFields": [{"manager": "m", "fieldsV1": {"f:data": {"f:anything": {}}}}]},
        "data": {"any-key": "v", "other": "w"}, "binaryData": {"b": "AA=="}});
    assert!(api().unknown_fields("", "v1", "ConfigMap", &cm).is_empty());
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "stringData": {"u": "p"}, "type": "Opaque", "extra": 1});
    assert_eq!(
        api().unknown_fields("", "v1", "Secret", &secret),
        vec!["extra"]
    );
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": 8080, "nodeport": 1}]}});
    assert_eq!(
        api().unknown_fields("", "v1", "Service", &svc),
        vec!["spec.ports[0].nodeport"]
    );
}

#[test]
fn build_time() {
    let start = std::time::Instant::now();
    let api = OpenApi::new(&resources());
    let took = start.elapsed();
    let start = std::time::Instant::now();
    let len = api.document("api/v1").unwrap().0.len();
    eprintln!(
        "OpenApi::new took {took:?}; rendering api/v1 ({len} bytes) took {:?}",
        start.elapsed()
    );
    assert!(took.as_secs() < 5);
}

/// Writes the index and documents to `$RKUBE_OPENAPI_DUMP` for manual checks with a real
/// kubectl against a throw-away fake server. `cargo test -p rkube-openapi dump -- --ignored`
#[test]
#[ignore]
fn dump() {
    let Ok(dir) = std::env::var("RKUBE_OPENAPI_DUMP") else {
        return;
    };
    let dir = std::path::Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("index.json"), api().index()).unwrap();
    for key in ["api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1"] {
        let (bytes, _) = api().document(key).unwrap();
        std::fs::write(dir.join(key.replace('/', "_") + ".json"), bytes).unwrap();
    }
}
