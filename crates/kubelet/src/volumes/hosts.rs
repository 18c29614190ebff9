//! The pod's /etc/hosts (upstream kubelet_pods.go: managedHostsFileContent and
//! nodeHostsFileContent).

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{HostAlias, Pod};

const HEADER: &str = "# Kubernetes-managed hosts file.\n";
const HEADER_HOST_NETWORK: &str = "# Kubernetes-managed hosts file (host network).\n";

/// The pod's host name (spec.hostname or its name, cut to 63 characters without a
/// trailing '-' or '.') and, with a subdomain, its domain.
pub fn hostname_and_domain(pod: &Pod, cluster_domain: &str) -> (String, Option<String>) {
    let spec = pod.spec.as_ref();
    let mut hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    if hostname.len() > 63 {
        hostname.truncate(63);
        while hostname.ends_with(['-', '.']) {
            hostname.pop();
        }
    }
    let domain = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
        .map(|sub| {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            format!("{sub}.{ns}.svc.{cluster_domain}")
        });
    (hostname, domain)
}

fn aliases(host_aliases: &[HostAlias]) -> String {
    if host_aliases.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n# Entries added by HostAliases.\n");
    for a in host_aliases {
        out.push_str(&format!(
            "{}\t{}\n",
            a.ip,
            a.hostnames.as_deref().unwrap_or_default().join("\t")
        ));
    }
    out
}

/// The managed hosts file of a pod with its own network namespace.
pub fn managed(
    pod_ips: &[IpAddr],
    hostname: &str,
    domain: Option<&str>,
    host_aliases: &[HostAlias],
) -> String {
    let mut out = String::from(HEADER);
    out.push_str("127.0.0.1\tlocalhost\n");
    out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str("fe00::0\tip6-localnet\n");
    out.push_str("fe00::0\tip6-mcastprefix\n");
    out.push_str("fe00::1\tip6-allnodes\n");
    out.push_str("fe00::2\tip6-allrouters\n");
    for ip in pod_ips {
        match domain {
            Some(d) => out.push_str(&format!("{ip}\t{hostname}.{d}\t{hostname}\n")),
            None => out.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    out.push_str(&aliases(host_aliases));
    out
}

/// A host-network pod sees the node's hosts file plus its aliases.
pub fn host_network(node_hosts: &str, host_aliases: &[HostAlias]) -> String {
    let mut out = String::from(HEADER_HOST_NETWORK);
    out.push_str(node_hosts);
    if !node_hosts.is_empty() && !node_hosts.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&aliases(host_aliases));
    out
}

/// The pod's IPs: the one the kubelet knows now first, then the ones in its status.
pub fn pod_ips(pod: &Pod, current: Option<IpAddr>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = current.into_iter().collect();
    for ip in pod
        .status
        .iter()
        .flat_map(|s| s.pod_ips.iter().flatten())
        .filter_map(|i| i.ip.parse::<IpAddr>().ok())
    {
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "web-0", "namespace": "shop"}, "spec": spec}),
        )
        .unwrap()
    }

    #[test]
    fn plain_pod_gets_its_name() {
        let p = pod(json!({"containers": []}));
        let (h, d) = hostname_and_domain(&p, "cluster.local");
        assert_eq!((h.as_str(), d), ("web-0", None));
        let text = managed(&["10.244.0.5".parse().unwrap()], &h, None, &[]);
        assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(text.ends_with("fe00::2\tip6-allrouters\n10.244.0.5\tweb-0\n"));
    }

    #[test]
    fn subdomain_gives_a_fqdn_and_aliases_follow() {
        let p = pod(
            json!({"containers": [], "hostname": "db", "subdomain": "dbs",
            "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["foo.local", "bar.local"]}]}),
        );
        let (h, d) = hostname_and_domain(&p, "cluster.local");
        assert_eq!(d.as_deref(), Some("dbs.shop.svc.cluster.local"));
        let aliases = p.spec.as_ref().unwrap().host_aliases.clone().unwrap();
        let text = managed(&["10.244.0.6".parse().unwrap()], &h, d.as_deref(), &aliases);
        assert!(text.contains("10.244.0.6\tdb.dbs.shop.svc.cluster.local\tdb\n"));
        assert!(
            text.ends_with("\n# Entries added by HostAliases.\n1.2.3.4\tfoo.local\tbar.local\n")
        );
    }

    #[test]
    fn long_names_are_cut_without_trailing_dash() {
        let name = format!("{}-{}", "a".repeat(62), "b");
        let p: Pod =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"containers": []}}))
                .unwrap();
        let (h, _) = hostname_and_domain(&p, "cluster.local");
        assert_eq!(h, "a".repeat(62));
    }

    #[test]
    fn host_network_copies_the_node_file() {
        let text = host_network("127.0.0.1 localhost", &[]);
        assert_eq!(
            text,
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"
        );
    }
}
