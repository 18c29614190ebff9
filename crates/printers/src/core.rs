//! Core (`v1`) kinds other than pods and events.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::descriptions as d;
use crate::duration::since_value;
use crate::util::{
    arr_at, at, bool_at, container_cells, format_labels, int_at, int_or, len_obj, name, or_none,
    str_at,
};
use crate::{int, s, wide, Col, AGE, CONTAINERS, IMAGES, NAME};

fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    json!(since_value(
        at(obj, &["metadata", "creationTimestamp"]),
        now
    ))
}

pub(crate) const POD_TEMPLATE_COLUMNS: &[Col] = &[
    NAME,
    s("Containers", d::CONTAINERS),
    s("Images", d::IMAGES),
    s("Pod Labels", d::POD_LABELS),
];

pub(crate) fn pod_template_row(obj: &Value) -> Vec<Value> {
    let (names, images) = container_cells(at(obj, &["template", "spec"]));
    vec![
        json!(name(obj)),
        json!(names),
        json!(images),
        json!(format_labels(at(obj, &["template", "metadata", "labels"]))),
    ]
}

pub(crate) const RC_COLUMNS: &[Col] = &[
    NAME,
    int("Desired", d::RC_SPEC_REPLICAS),
    int("Current", d::RC_STATUS_REPLICAS),
    int("Ready", d::RC_STATUS_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", d::RC_SPEC_SELECTOR),
];

pub(crate) fn rc_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(at(obj, &["spec", "template", "spec"]));
    vec![
        json!(name(obj)),
        // `spec.replicas` defaults to 1 before an object is ever stored.
        json!(int_or(obj, &["spec", "replicas"], 1)),
        json!(int_at(obj, &["status", "replicas"])),
        json!(int_at(obj, &["status", "readyReplicas"])),
        age(obj, now),
        json!(names),
        json!(images),
        json!(format_labels(at(obj, &["spec", "selector"]))),
    ]
}

pub(crate) const SERVICE_COLUMNS: &[Col] = &[
    NAME,
    s("Type", d::SVC_TYPE),
    s("Cluster-IP", d::SVC_CLUSTER_IP),
    s("External-IP", d::SVC_EXTERNAL_IPS),
    s("Port(s)", d::SVC_PORTS),
    AGE,
    wide("Selector", d::SVC_SELECTOR),
];

fn strings(v: &[Value]) -> Vec<&str> {
    v.iter().filter_map(Value::as_str).collect()
}

/// Load-balancer ingress points: IP, else hostname; sorted and de-duplicated.
fn load_balancer_ingress(obj: &Value) -> Vec<String> {
    let mut out: Vec<String> = arr_at(obj, &["status", "loadBalancer", "ingress"])
        .iter()
        .filter_map(|ing| {
            let ip = str_at(ing, &["ip"]);
            let host = str_at(ing, &["hostname"]);
            if !ip.is_empty() {
                Some(ip.to_string())
            } else if !host.is_empty() {
                Some(host.to_string())
            } else {
                None
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn service_external_ip(obj: &Value, svc_type: &str) -> String {
    let external = strings(arr_at(obj, &["spec", "externalIPs"]));
    match svc_type {
        "ClusterIP" | "NodePort" => or_none(&external.join(",")),
        "LoadBalancer" => {
            // The server renders the wide form, so the list is never shortened here.
            let mut all = load_balancer_ingress(obj);
            if all.is_empty() && external.is_empty() {
                return "<pending>".to_string();
            }
            all.extend(external.iter().map(|s| s.to_string()));
            all.join(",")
        }
        "ExternalName" => str_at(obj, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn service_ports(obj: &Value) -> String {
    let pieces: Vec<String> = arr_at(obj, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            let proto = match str_at(p, &["protocol"]) {
                "" => "TCP",
                other => other,
            };
            let node_port = int_at(p, &["nodePort"]);
            if node_port > 0 {
                format!("{port}:{node_port}/{proto}")
            } else {
                format!("{port}/{proto}")
            }
        })
        .collect();
    or_none(&pieces.join(","))
}

pub(crate) fn service_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let svc_type = match str_at(obj, &["spec", "type"]) {
        "" => "ClusterIP",
        t => t,
    };
    let cluster_ip = match arr_at(obj, &["spec", "clusterIPs"]).first() {
        Some(ip) => ip.as_str().unwrap_or(""),
        None => str_at(obj, &["spec", "clusterIP"]),
    };
    vec![
        json!(name(obj)),
        json!(svc_type),
        json!(or_none(cluster_ip)),
        json!(service_external_ip(obj, svc_type)),
        json!(service_ports(obj)),
        age(obj, now),
        json!(format_labels(at(obj, &["spec", "selector"]))),
    ]
}

pub(crate) const ENDPOINTS_COLUMNS: &[Col] = &[NAME, s("Endpoints", d::ENDPOINTS_SUBSETS), AGE];

fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `ip:port` for every address and port, the first three listed, the rest counted.
fn format_endpoints(obj: &Value) -> String {
    const MAX: usize = 3;
    let subsets = arr_at(obj, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addrs: Vec<&str> = arr_at(ss, &["addresses"])
            .iter()
            .map(|a| str_at(a, &["ip"]))
            .collect();
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            // Headless services can publish addresses without ports.
            count += addrs.len();
            for ip in &addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(ip.to_string());
            }
            continue;
        }
        for port in ports {
            count += addrs.len();
            let port_num = int_at(port, &["port"]);
            for ip in &addrs {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(ip, port_num));
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

pub(crate) fn endpoints_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(format_endpoints(obj)),
        age(obj, now),
    ]
}

pub(crate) const NODE_COLUMNS: &[Col] = &[
    NAME,
    s("Status", d::NODE_STATUS),
    s("Roles", d::NODE_ROLES),
    AGE,
    s("Version", d::NODE_KUBELET_VERSION),
    wide("Internal-IP", d::NODE_INTERNAL_IP),
    wide("External-IP", d::NODE_EXTERNAL_IP),
    wide("OS-Image", d::NODE_OS_IMAGE),
    wide("Kernel-Version", d::NODE_KERNEL_VERSION),
    wide("Container-Runtime", d::NODE_RUNTIME_VERSION),
];

fn node_status(obj: &Value) -> String {
    // A later duplicate Ready condition overrides an earlier one.
    let ready = arr_at(obj, &["status", "conditions"])
        .iter()
        .rfind(|c| str_at(c, &["type"]) == "Ready");
    let mut parts = vec![match ready {
        Some(c) if str_at(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_at(obj, &["spec", "unschedulable"]) {
        parts.push("SchedulingDisabled");
    }
    parts.join(",")
}

fn node_roles(obj: &Value) -> String {
    const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
    let mut roles: Vec<&str> = Vec::new();
    if let Some(labels) = at(obj, &["metadata", "labels"]).and_then(Value::as_object) {
        for (k, v) in labels {
            let v = v.as_str().unwrap_or("");
            if let Some(role) = k.strip_prefix(ROLE_PREFIX) {
                if !role.is_empty() {
                    roles.push(role);
                }
            } else if k == "kubernetes.io/role" && !v.is_empty() {
                roles.push(v);
            }
        }
    }
    roles.sort_unstable();
    roles.dedup();
    or_none(&roles.join(","))
}

fn node_address(obj: &Value, addr_type: &str) -> String {
    arr_at(obj, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == addr_type)
        .map(|a| str_at(a, &["address"]).to_string())
        .unwrap_or_else(|| "<none>".to_string())
}

fn or_unknown(s: &str) -> String {
    if s.is_empty() {
        "<unknown>".to_string()
    } else {
        s.to_string()
    }
}

pub(crate) fn node_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let info = |field: &str| str_at(obj, &["status", "nodeInfo", field]);
    vec![
        json!(name(obj)),
        json!(node_status(obj)),
        json!(node_roles(obj)),
        age(obj, now),
        json!(info("kubeletVersion")),
        json!(node_address(obj, "InternalIP")),
        json!(node_address(obj, "ExternalIP")),
        json!(or_unknown(info("osImage"))),
        json!(or_unknown(info("kernelVersion"))),
        json!(or_unknown(info("containerRuntimeVersion"))),
    ]
}

pub(crate) const NAMESPACE_COLUMNS: &[Col] = &[NAME, s("Status", d::NAMESPACE_STATUS), AGE];

pub(crate) fn namespace_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // Namespace status defaults to Active.
    let phase = match str_at(obj, &["status", "phase"]) {
        "" => "Active",
        p => p,
    };
    vec![json!(name(obj)), json!(phase), age(obj, now)]
}

pub(crate) const CONFIGMAP_COLUMNS: &[Col] = &[NAME, s("Data", d::CONFIGMAP_DATA), AGE];

pub(crate) fn configmap_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let count = len_obj(obj, &["data"]) + len_obj(obj, &["binaryData"]);
    vec![json!(name(obj)), json!(count), age(obj, now)]
}

pub(crate) const SECRET_COLUMNS: &[Col] = &[
    NAME,
    s("Type", d::SECRET_TYPE),
    s("Data", d::SECRET_DATA),
    AGE,
];

/// Keys of `data` plus `stringData` keys, which the API merges into `data`.
fn secret_key_count(obj: &Value) -> usize {
    let data = at(obj, &["data"]).and_then(Value::as_object);
    let extra = at(obj, &["stringData"])
        .and_then(Value::as_object)
        .map_or(0, |sd| {
            sd.keys()
                .filter(|k| !data.is_some_and(|d| d.contains_key(*k)))
                .count()
        });
    data.map_or(0, |d| d.len()) + extra
}

pub(crate) fn secret_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let secret_type = match str_at(obj, &["type"]) {
        "" => "Opaque",
        t => t,
    };
    vec![
        json!(name(obj)),
        json!(secret_type),
        json!(secret_key_count(obj)),
        age(obj, now),
    ]
}

pub(crate) const SERVICE_ACCOUNT_COLUMNS: &[Col] = &[NAME, s("Secrets", d::SA_SECRETS), AGE];

pub(crate) fn service_account_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(arr_at(obj, &["secrets"]).len()),
        age(obj, now),
    ]
}

pub(crate) const RESOURCE_QUOTA_COLUMNS: &[Col] = &[
    NAME,
    s("Request", d::QUOTA_REQUEST),
    s("Limit", d::QUOTA_LIMIT),
    AGE,
];

fn quantity(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    }
}

/// `resource: used/hard` pairs from the quota status, split into the `limits.*` ones
/// and everything else, in resource-name order.
pub(crate) fn resource_quota_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    if let Some(hard) = at(obj, &["status", "hard"]).and_then(Value::as_object) {
        let mut names: Vec<&String> = hard.keys().collect();
        names.sort();
        for res in names {
            let used = quantity(at(obj, &["status", "used", res.as_str()]));
            let entry = format!("{res}: {used}/{}", quantity(hard.get(res.as_str())));
            let is_limit = res.contains('.') && res.split('.').next() == Some("limits");
            if is_limit {
                limits.push(entry);
            } else {
                requests.push(entry);
            }
        }
    }
    vec![
        json!(name(obj)),
        json!(requests.join(", ")),
        json!(limits.join(", ")),
        age(obj, now),
    ]
}
