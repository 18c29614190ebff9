//! Docker-link style variables for services (upstream pkg/kubelet/envvars).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;

fn env_name(s: &str) -> String {
    s.replace('-', "_").to_ascii_uppercase()
}

fn cluster_ip(svc: &Service) -> Option<&str> {
    svc.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .filter(|ip| !ip.is_empty() && *ip != "None")
}

/// `ip:port`, bracketing IPv6 addresses like Go's net.JoinHostPort.
fn join_host_port(ip: &str, port: i32) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The variables for one service, in upstream's order.
pub fn service_vars(svc: &Service) -> Vec<(String, String)> {
    let Some(ip) = cluster_ip(svc) else {
        return Vec::new();
    };
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let Some(first) = ports.first() else {
        return Vec::new();
    };
    let prefix = env_name(svc.metadata.name.as_deref().unwrap_or_default());
    let mut out = vec![
        (format!("{prefix}_SERVICE_HOST"), ip.to_string()),
        (format!("{prefix}_SERVICE_PORT"), first.port.to_string()),
    ];
    for p in ports {
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            out.push((
                format!("{prefix}_SERVICE_PORT_{}", env_name(name)),
                p.port.to_string(),
            ));
        }
    }
    for (i, p) in ports.iter().enumerate() {
        let proto = p.protocol.as_deref().unwrap_or("TCP");
        let lower = proto.to_ascii_lowercase();
        let url = format!("{lower}://{}", join_host_port(ip, p.port));
        if i == 0 {
            out.push((format!("{prefix}_PORT"), url.clone()));
        }
        let port_prefix = format!("{prefix}_PORT_{}_{}", p.port, proto.to_ascii_uppercase());
        out.push((port_prefix.clone(), url));
        out.push((format!("{port_prefix}_PROTO"), lower));
        out.push((format!("{port_prefix}_PORT"), p.port.to_string()));
        out.push((format!("{port_prefix}_ADDR"), ip.to_string()));
    }
    out
}

/// Which services a pod in `namespace` sees: the `kubernetes` service of `default`
/// always, the services of its own namespace when service links are on (a local
/// service of the same name wins). Variables are sorted by service name for a stable
/// container spec hash.
pub fn env_for(services: &[Service], namespace: &str, links: bool) -> Vec<(String, String)> {
    let mut chosen: BTreeMap<&str, &Service> = BTreeMap::new();
    for svc in services {
        if cluster_ip(svc).is_none() {
            continue;
        }
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
        if ns == "default" && name == "kubernetes" {
            chosen.entry(name).or_insert(svc);
        } else if ns == namespace && links {
            chosen.insert(name, svc);
        }
    }
    chosen.values().flat_map(|s| service_vars(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports}}))
        .unwrap()
    }

    #[test]
    fn names_follow_the_docker_link_scheme() {
        let s = svc(
            "a",
            "my-db",
            "10.96.0.7",
            json!([{"name": "sql", "port": 5432}, {"name": "udp-x", "port": 53, "protocol": "UDP"}]),
        );
        let vars = service_vars(&s);
        let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "MY_DB_SERVICE_HOST",
                "MY_DB_SERVICE_PORT",
                "MY_DB_SERVICE_PORT_SQL",
                "MY_DB_SERVICE_PORT_UDP_X",
                "MY_DB_PORT",
                "MY_DB_PORT_5432_TCP",
                "MY_DB_PORT_5432_TCP_PROTO",
                "MY_DB_PORT_5432_TCP_PORT",
                "MY_DB_PORT_5432_TCP_ADDR",
                "MY_DB_PORT_53_UDP",
                "MY_DB_PORT_53_UDP_PROTO",
                "MY_DB_PORT_53_UDP_PORT",
                "MY_DB_PORT_53_UDP_ADDR",
            ]
        );
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("MY_DB_PORT"), "tcp://10.96.0.7:5432");
        assert_eq!(get("MY_DB_PORT_53_UDP"), "udp://10.96.0.7:53");
        assert_eq!(get("MY_DB_PORT_53_UDP_PROTO"), "udp");
    }

    #[test]
    fn headless_services_and_other_namespaces_are_skipped() {
        let services = vec![
            svc(
                "default",
                "kubernetes",
                "10.96.0.1",
                json!([{"name": "https", "port": 443}]),
            ),
            svc("a", "web", "10.96.0.9", json!([{"port": 80}])),
            svc("a", "headless", "None", json!([{"port": 80}])),
            svc("b", "other", "10.96.0.10", json!([{"port": 80}])),
        ];
        let names: Vec<String> = env_for(&services, "a", true)
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.ends_with("_SERVICE_HOST"))
            .collect();
        assert_eq!(names, vec!["KUBERNETES_SERVICE_HOST", "WEB_SERVICE_HOST"]);
        let without_links: Vec<String> = env_for(&services, "a", false)
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.ends_with("_SERVICE_HOST"))
            .collect();
        assert_eq!(without_links, vec!["KUBERNETES_SERVICE_HOST"]);
    }

    #[test]
    fn ipv6_addresses_are_bracketed() {
        let s = svc("a", "v6", "fd00::1", json!([{"port": 80}]));
        let vars = service_vars(&s);
        assert!(vars.contains(&("V6_PORT".into(), "tcp://[fd00::1]:80".into())));
    }
}
