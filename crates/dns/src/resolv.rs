//! Upstream resolvers from resolv.conf.

use std::net::{IpAddr, SocketAddr};

/// Nameserver addresses (port 53) listed in resolv.conf text.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "nameserver" {
                return None;
            }
            // A scoped IPv6 address ("fe80::1%eth0") cannot be used without its scope id.
            let ip: IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

/// The host's resolvers from /etc/resolv.conf, without any of `ours` (forwarding to
/// ourselves would loop). Empty if the file cannot be read.
pub fn system_upstreams(ours: &[SocketAddr]) -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    parse_resolv_conf(&text)
        .into_iter()
        .filter(|u| !is_ours(u, ours))
        .collect()
}

fn is_ours(upstream: &SocketAddr, ours: &[SocketAddr]) -> bool {
    ours.iter().any(|o| {
        o.port() == upstream.port() && (o.ip() == upstream.ip() || o.ip().is_unspecified())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nameservers_and_skips_the_rest() {
        let text = "# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver  ::1\n\
                    nameserver fe80::1%eth0\noptions ndots:5\nnameserver\n";
        let got = parse_resolv_conf(text);
        assert_eq!(
            got,
            vec![
                "10.0.0.2:53".parse::<SocketAddr>().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn own_listen_addresses_are_not_upstreams() {
        let ours: Vec<SocketAddr> = vec!["10.0.0.2:53".parse().unwrap()];
        assert!(is_ours(&"10.0.0.2:53".parse().unwrap(), &ours));
        assert!(!is_ours(&"10.0.0.3:53".parse().unwrap(), &ours));
        let any: Vec<SocketAddr> = vec!["0.0.0.0:53".parse().unwrap()];
        assert!(is_ours(&"10.9.9.9:53".parse().unwrap(), &any));
        assert!(!is_ours(&"10.9.9.9:5353".parse().unwrap(), &any));
    }
}
