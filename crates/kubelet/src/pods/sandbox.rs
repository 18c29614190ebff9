//! The CRI sandbox config of a pod: metadata, hostname, DNS from dnsPolicy, host port
//! mappings, labels, and the Linux namespaces and cgroup parent.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Pod, PodDNSConfig};
use rkube_cri::api;

use super::resources;
use crate::config::KubeletConfig;
use crate::meta;

/// Upstream's limits on the resolver configuration it hands to a pod.
const MAX_SEARCHES: usize = 32;
const MAX_NAMESERVERS: usize = 3;

/// What a resolv.conf says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolv {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

pub fn parse_resolv_conf(text: &str) -> Resolv {
    let mut r = Resolv::default();
    let mut domain = None;
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => r.servers.extend(words.next().map(str::to_string)),
            Some("search") => r.searches = words.map(str::to_string).collect(),
            Some("domain") => domain = words.next().map(str::to_string),
            Some("options") => r.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    if r.searches.is_empty() {
        r.searches.extend(domain);
    }
    r
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_string());
    }
}

/// spec.dnsConfig on top of the policy's base: servers and searches appended, options
/// replaced by name.
fn merge(base: &mut Resolv, extra: Option<&PodDNSConfig>) {
    let Some(extra) = extra else { return };
    for s in extra.nameservers.iter().flatten() {
        push_unique(&mut base.servers, s);
    }
    for s in extra.searches.iter().flatten() {
        push_unique(&mut base.searches, s);
    }
    for o in extra.options.iter().flatten() {
        let text = match &o.value {
            Some(v) => format!("{}:{v}", o.name.as_deref().unwrap_or_default()),
            None => o.name.clone().unwrap_or_default(),
        };
        let name = text.split(':').next().unwrap_or_default().to_string();
        base.options
            .retain(|x| x.split(':').next().unwrap_or_default() != name);
        base.options.push(text);
    }
}

/// The pod's resolver configuration (upstream dns.Configurer.GetPodDNS).
pub fn dns_config(pod: &Pod, config: &KubeletConfig, host: &Resolv) -> api::DnsConfig {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let cluster_first = match policy {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_network,
        _ => false,
    };
    let mut r = match policy {
        "None" => Resolv::default(),
        _ if cluster_first && !config.cluster_dns.is_empty() => {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let domain = config.cluster_domain.trim_end_matches('.');
            let mut searches = vec![
                format!("{ns}.svc.{domain}"),
                format!("svc.{domain}"),
                domain.to_string(),
            ];
            for s in &host.searches {
                push_unique(&mut searches, s);
            }
            Resolv {
                servers: config.cluster_dns.iter().map(|ip| ip.to_string()).collect(),
                searches,
                options: vec!["ndots:5".into()],
            }
        }
        // Default, or ClusterFirst without a cluster DNS: the host's resolver.
        _ => host.clone(),
    };
    merge(&mut r, spec.and_then(|s| s.dns_config.as_ref()));
    r.servers.truncate(MAX_NAMESERVERS);
    r.searches.truncate(MAX_SEARCHES);
    api::DnsConfig {
        servers: r.servers,
        searches: r.searches,
        options: r.options,
    }
}

/// containerPorts with a hostPort become CNI portmap entries.
pub fn port_mappings(pod: &Pod) -> Vec<api::PortMapping> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.unwrap_or(0) > 0)
        .map(|p| api::PortMapping {
            protocol: match p.protocol.as_deref() {
                Some("UDP") => api::Protocol::Udp as i32,
                Some("SCTP") => api::Protocol::Sctp as i32,
                _ => api::Protocol::Tcp as i32,
            },
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or(0),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect()
}

/// The hostname a pod's sandbox gets: spec.hostname or the pod name, cut to 63
/// characters without a trailing dot or dash, as upstream does.
pub fn hostname(pod: &Pod) -> String {
    let name = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    let mut h: String = name.chars().take(63).collect();
    while h.ends_with(['-', '.']) {
        h.pop();
    }
    h
}

/// Labels every runtime object of the pod carries.
pub fn pod_labels(pod: &Pod) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = pod
        .metadata
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(
        meta::POD_NAME.into(),
        pod.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(
        meta::POD_NAMESPACE.into(),
        pod.metadata.namespace.clone().unwrap_or_default(),
    );
    labels.insert(
        meta::POD_UID.into(),
        pod.metadata.uid.clone().unwrap_or_default(),
    );
    labels
}

fn mode(host: bool, otherwise: api::NamespaceMode) -> i32 {
    if host {
        api::NamespaceMode::Node as i32
    } else {
        otherwise as i32
    }
}

/// The Linux namespaces of the pod (shared by the sandbox and its containers).
pub fn namespace_options(pod: &Pod) -> api::NamespaceOption {
    let spec = pod.spec.as_ref();
    let flag = |f: fn(&k8s_openapi::api::core::v1::PodSpec) -> Option<bool>| {
        spec.and_then(f).unwrap_or(false)
    };
    let pid_default = if flag(|s| s.share_process_namespace) {
        api::NamespaceMode::Pod
    } else {
        api::NamespaceMode::Container
    };
    api::NamespaceOption {
        network: mode(flag(|s| s.host_network), api::NamespaceMode::Pod),
        pid: mode(flag(|s| s.host_pid), pid_default),
        ipc: mode(flag(|s| s.host_ipc), api::NamespaceMode::Pod),
        ..Default::default()
    }
}

/// The whole sandbox config; `attempt` counts sandboxes made for this pod before.
pub fn sandbox_config(
    pod: &Pod,
    config: &KubeletConfig,
    host_resolv: &Resolv,
    attempt: u32,
) -> api::PodSandboxConfig {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let qos = pod
        .status
        .as_ref()
        .and_then(|s| s.qos_class.clone())
        .unwrap_or_else(|| resources::qos_class(pod).to_string());
    let psc = spec.and_then(|s| s.security_context.as_ref());
    let privileged = spec.is_some_and(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
            .any(|c| {
                c.security_context
                    .as_ref()
                    .and_then(|sc| sc.privileged)
                    .unwrap_or(false)
            })
    });
    let mut supplemental: Vec<i64> = psc
        .and_then(|p| p.supplemental_groups.clone())
        .unwrap_or_default();
    supplemental.extend(psc.and_then(|p| p.fs_group));
    let security_context = api::LinuxSandboxSecurityContext {
        namespace_options: Some(namespace_options(pod)),
        run_as_user: psc
            .and_then(|p| p.run_as_user)
            .map(|value| api::Int64Value { value }),
        run_as_group: psc
            .and_then(|p| p.run_as_group)
            .map(|value| api::Int64Value { value }),
        supplemental_groups: supplemental,
        privileged,
        ..Default::default()
    };
    let sysctls = psc
        .and_then(|p| p.sysctls.as_ref())
        .into_iter()
        .flatten()
        .map(|s| (s.name.clone(), s.value.clone()))
        .collect();
    let annotations = pod
        .metadata
        .annotations
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: name.clone(),
            uid: uid.clone(),
            namespace: namespace.clone(),
            attempt,
        }),
        hostname: if host_network {
            String::new()
        } else {
            hostname(pod)
        },
        log_directory: meta::pod_log_dir(&config.pod_log_dir, &namespace, &name, &uid)
            .display()
            .to_string(),
        dns_config: Some(dns_config(pod, config, host_resolv)),
        port_mappings: port_mappings(pod),
        labels: pod_labels(pod),
        annotations,
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: resources::cgroup_parent(&config.cgroup_root, &qos, &uid),
            security_context: Some(security_context),
            sysctls,
            ..Default::default()
        }),
        windows: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerPort, PodDNSConfigOption, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::path::Path;

    fn pod(spec: PodSpec) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("apps".into()),
                uid: Some("u-1".into()),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            spec: Some(spec),
            ..Default::default()
        }
    }

    fn config() -> KubeletConfig {
        let mut c = KubeletConfig::new("n1", Path::new("/d"));
        c.cluster_dns = vec!["10.96.0.10".parse().unwrap()];
        c
    }

    fn host() -> Resolv {
        parse_resolv_conf(
            "# c\nnameserver 1.1.1.1\nnameserver 8.8.8.8\nsearch corp.example\noptions edns0\n",
        )
    }

    #[test]
    fn resolv_conf_parsing() {
        let r = host();
        assert_eq!(r.servers, vec!["1.1.1.1", "8.8.8.8"]);
        assert_eq!(r.searches, vec!["corp.example"]);
        assert_eq!(r.options, vec!["edns0"]);
        assert_eq!(parse_resolv_conf("domain x.y\n").searches, vec!["x.y"]);
    }

    #[test]
    fn cluster_first_uses_cluster_dns_and_search_path() {
        let d = dns_config(&pod(PodSpec::default()), &config(), &host());
        assert_eq!(d.servers, vec!["10.96.0.10"]);
        assert_eq!(
            d.searches,
            vec![
                "apps.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "corp.example"
            ]
        );
        assert_eq!(d.options, vec!["ndots:5"]);
    }

    #[test]
    fn cluster_first_without_cluster_dns_or_on_host_network_uses_the_host() {
        let mut c = config();
        c.cluster_dns.clear();
        let d = dns_config(&pod(PodSpec::default()), &c, &host());
        assert_eq!(d.servers, vec!["1.1.1.1", "8.8.8.8"]);
        let hn = pod(PodSpec {
            host_network: Some(true),
            ..Default::default()
        });
        assert_eq!(
            dns_config(&hn, &config(), &host()).servers,
            vec!["1.1.1.1", "8.8.8.8"]
        );
        let with_net = pod(PodSpec {
            host_network: Some(true),
            dns_policy: Some("ClusterFirstWithHostNet".into()),
            ..Default::default()
        });
        assert_eq!(
            dns_config(&with_net, &config(), &host()).servers,
            vec!["10.96.0.10"]
        );
    }

    #[test]
    fn policy_none_takes_only_dns_config() {
        let p = pod(PodSpec {
            dns_policy: Some("None".into()),
            dns_config: Some(PodDNSConfig {
                nameservers: Some(vec!["9.9.9.9".into()]),
                searches: Some(vec!["a.b".into()]),
                options: Some(vec![PodDNSConfigOption {
                    name: Some("ndots".into()),
                    value: Some("2".into()),
                }]),
            }),
            ..Default::default()
        });
        let d = dns_config(&p, &config(), &host());
        assert_eq!(d.servers, vec!["9.9.9.9"]);
        assert_eq!(d.searches, vec!["a.b"]);
        assert_eq!(d.options, vec!["ndots:2"]);
    }

    #[test]
    fn sandbox_config_fields() {
        let p = pod(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                ports: Some(vec![
                    ContainerPort {
                        container_port: 80,
                        host_port: Some(8080),
                        protocol: Some("UDP".into()),
                        ..Default::default()
                    },
                    ContainerPort {
                        container_port: 81,
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }],
            hostname: Some("h".into()),
            ..Default::default()
        });
        let s = sandbox_config(&p, &config(), &host(), 2);
        let m = s.metadata.as_ref().unwrap();
        assert_eq!(
            (m.name.as_str(), m.uid.as_str(), m.attempt),
            ("web", "u-1", 2)
        );
        assert_eq!(s.hostname, "h");
        assert_eq!(s.log_directory, "/d/pods/apps_web_u-1");
        assert_eq!(s.port_mappings.len(), 1);
        assert_eq!(s.port_mappings[0].host_port, 8080);
        assert_eq!(s.port_mappings[0].protocol, api::Protocol::Udp as i32);
        assert_eq!(s.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(s.labels.get(meta::POD_UID).map(String::as_str), Some("u-1"));
        let linux = s.linux.unwrap();
        assert_eq!(linux.cgroup_parent, "/kubepods/besteffort/podu-1");
        let ns = linux.security_context.unwrap().namespace_options.unwrap();
        assert_eq!(ns.network, api::NamespaceMode::Pod as i32);
        assert_eq!(ns.pid, api::NamespaceMode::Container as i32);
    }

    #[test]
    fn hostnames_are_cut_to_63() {
        let mut p = pod(PodSpec::default());
        p.metadata.name = Some(format!("{}-x", "a".repeat(62)));
        assert_eq!(hostname(&p), "a".repeat(62));
    }
}
