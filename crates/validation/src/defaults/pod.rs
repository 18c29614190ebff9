//! Pod spec defaulting (core/v1 SetDefaults_PodSpec, _Container, _Probe, volume sources).

use crate::value::{default_str, default_to, each_mut, empty_obj, get_obj_mut, obj_mut};
use serde_json::{json, Value};

/// Upstream picks Always only when the parsed tag is "latest" (a missing tag
/// counts as latest, a digest-only reference has no tag).
pub fn pull_policy_for(image: &str) -> &'static str {
    if image.is_empty() {
        return "IfNotPresent";
    }
    let without_digest = match image.split_once('@') {
        Some((_, _)) => return "IfNotPresent",
        None => image,
    };
    // The tag is after the last ':' that follows the last '/' (a ':' before a '/' is a registry port).
    let last_segment = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last_segment.rsplit_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn default_probe(probe: &mut Value) {
    for (k, v) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        if probe.get(k).and_then(Value::as_i64).unwrap_or(0) == 0 {
            if let Some(m) = probe.as_object_mut() {
                m.insert(k.to_string(), json!(v));
            }
        }
    }
    default_handler(probe);
    if let Some(grpc) = get_obj_mut(probe, "grpc") {
        default_to(grpc, "service", json!(""));
    }
}

/// httpGet defaults apply to probes and lifecycle hooks alike.
fn default_handler(handler: &mut Value) {
    if let Some(http) = get_obj_mut(handler, "httpGet") {
        default_str(http, "path", "/");
        default_str(http, "scheme", "HTTP");
    }
}

fn default_field_ref(holder: &mut Value) {
    if let Some(fr) = get_obj_mut(holder, "fieldRef") {
        default_str(fr, "apiVersion", "v1");
    }
    if let Some(rr) = get_obj_mut(holder, "resourceFieldRef") {
        // Quantity is a non-pointer struct upstream, so a zero divisor is always serialized.
        default_to(rr, "divisor", json!("0"));
    }
}

fn default_container(c: &mut Value, host_network: bool) {
    if !c.is_object() {
        return;
    }
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    default_str(c, "imagePullPolicy", pull_policy_for(&image));
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    default_to(c, "resources", empty_obj());
    for port in each_mut(c, "ports") {
        default_str(port, "protocol", "TCP");
        if host_network && port.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0 {
            if let Some(cp) = port.get("containerPort").cloned() {
                if let Some(m) = port.as_object_mut() {
                    m.insert("hostPort".into(), cp);
                }
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = get_obj_mut(c, probe) {
            default_probe(p);
        }
    }
    if let Some(lc) = get_obj_mut(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = get_obj_mut(lc, hook) {
                default_handler(h);
            }
        }
    }
    for env in each_mut(c, "env") {
        if let Some(vf) = get_obj_mut(env, "valueFrom") {
            default_field_ref(vf);
        }
    }
}

fn default_volume(vol: &mut Value) {
    let Some(m) = vol.as_object() else { return };
    let has_source = m.iter().any(|(k, v)| k != "name" && !v.is_null());
    if !has_source {
        if let Some(m) = vol.as_object_mut() {
            m.insert("emptyDir".into(), empty_obj());
        }
        return;
    }
    for src in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = get_obj_mut(vol, src) {
            default_to(s, "defaultMode", json!(420));
        }
    }
    if let Some(d) = get_obj_mut(vol, "downwardAPI") {
        for item in each_mut(d, "items") {
            default_field_ref(item);
        }
    }
    if let Some(p) = get_obj_mut(vol, "projected") {
        for source in each_mut(p, "sources") {
            if let Some(t) = get_obj_mut(source, "serviceAccountToken") {
                default_to(t, "expirationSeconds", json!(3600));
            }
            if let Some(d) = get_obj_mut(source, "downwardAPI") {
                for item in each_mut(d, "items") {
                    default_field_ref(item);
                }
            }
        }
    }
    if let Some(h) = get_obj_mut(vol, "hostPath") {
        default_to(h, "type", json!(""));
    }
    if let Some(e) = get_obj_mut(vol, "ephemeral") {
        if let Some(spec) =
            get_obj_mut(e, "volumeClaimTemplate").and_then(|t| get_obj_mut(t, "spec"))
        {
            default_str(spec, "volumeMode", "Filesystem");
        }
    }
}

/// SetDefaults_PodSpec plus everything nested (containers, probes, volumes).
pub fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_to(spec, "securityContext", empty_obj());
    default_to(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    // Only a Pod gets host ports filled in; templates keep what was sent.
    for key in ["initContainers", "containers", "ephemeralContainers"] {
        for c in each_mut(spec, key) {
            default_container(c, false);
        }
    }
    for v in each_mut(spec, "volumes") {
        default_volume(v);
    }
}

/// Pod-only defaults (SetDefaults_Pod) applied on top of the spec defaults.
pub fn default_pod(pod: &mut Value) {
    let Some(spec) = obj_mut(pod, "spec") else {
        return;
    };
    default_pod_spec(spec);
    let host_network = spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    for key in ["initContainers", "containers"] {
        for c in each_mut(spec, key) {
            requests_from_limits(c);
            if host_network {
                default_container(c, true);
            }
        }
    }
    default_to(spec, "enableServiceLinks", json!(true));
}

fn requests_from_limits(c: &mut Value) {
    let Some(res) = get_obj_mut(c, "resources") else {
        return;
    };
    let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    let Some(req) = obj_mut(res, "requests").and_then(Value::as_object_mut) else {
        return;
    };
    for (k, v) in limits {
        req.entry(k).or_insert(v);
    }
}

/// Defaults for the pod spec inside a PodTemplateSpec at `template`.
pub fn default_template(template: Option<&mut Value>) {
    if let Some(spec) = template.and_then(|t| get_obj_mut(t, "spec")) {
        default_pod_spec(spec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy() {
        assert_eq!(pull_policy_for("nginx"), "Always");
        assert_eq!(pull_policy_for("nginx:latest"), "Always");
        assert_eq!(pull_policy_for("nginx:1.25"), "IfNotPresent");
        assert_eq!(pull_policy_for("localhost:5000/nginx"), "Always");
        assert_eq!(pull_policy_for("localhost:5000/nginx:v1"), "IfNotPresent");
        assert_eq!(pull_policy_for("nginx@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn pod_defaults() {
        let mut pod = json!({"spec":{"containers":[{"name":"c","image":"nginx:1.2",
            "ports":[{"containerPort":80}],
            "livenessProbe":{"httpGet":{"port":80}},
            "resources":{"limits":{"cpu":"1"}},
            "env":[{"name":"N","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}],
            "volumes":[{"name":"a"},{"name":"b","configMap":{"name":"cm"}},{"name":"c","secret":{"secretName":"s"}}]}});
        default_pod(&mut pod);
        let spec = &pod["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["enableServiceLinks"], true);
        let c = &spec["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert!(c["ports"][0].get("hostPort").is_none());
        assert_eq!(c["resources"]["requests"]["cpu"], "1");
        assert_eq!(
            c["livenessProbe"],
            json!({"httpGet":{"port":80,"path":"/","scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3})
        );
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(spec["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(spec["volumes"][1]["configMap"]["defaultMode"], 420);
        assert_eq!(spec["volumes"][2]["secret"]["defaultMode"], 420);
    }

    #[test]
    fn host_network_ports_and_explicit_values_kept() {
        let mut pod = json!({"spec":{"hostNetwork":true,"restartPolicy":"Never","containers":[{"name":"c","image":"x","imagePullPolicy":"Never","ports":[{"containerPort":8080}]}]}});
        default_pod(&mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Never");
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["hostPort"], 8080);
        assert_eq!(pod["spec"]["containers"][0]["resources"], json!({}));
    }

    #[test]
    fn template_has_no_pod_only_defaults() {
        let mut t = json!({"spec":{"containers":[{"name":"c","image":"x","resources":{"limits":{"cpu":"1"}}}]}});
        default_template(Some(&mut t));
        assert!(t["spec"].get("enableServiceLinks").is_none());
        assert!(t["spec"]["containers"][0]["resources"]
            .get("requests")
            .is_none());
        assert_eq!(t["spec"]["containers"][0]["imagePullPolicy"], "Always");
    }
}
