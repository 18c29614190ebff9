//! The node's InternalIP when none is configured: the IPv4 address of the interface
//! holding the default route, as upstream's ChooseHostInterface picks it.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr};

/// The interface of the lowest-metric IPv4 default route in /proc/net/route text.
pub fn default_route_interface(route_table: &str) -> Option<String> {
    route_table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
            if f.len() < 8 || f[1] != "00000000" || f[7] != "00000000" {
                return None;
            }
            let flags = u32::from_str_radix(f[3], 16).ok()?;
            // RTF_UP
            if flags & 0x1 == 0 {
                return None;
            }
            let metric: u32 = f[6].parse().ok()?;
            Some((metric, f[0].to_string()))
        })
        .min_by_key(|(metric, _)| *metric)
        .map(|(_, iface)| iface)
}

/// IPv4 addresses per interface name (getifaddrs).
fn interface_ipv4s() -> Vec<(String, Ipv4Addr)> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free once.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() && !ifa.ifa_name.is_null() {
            // SAFETY: ifa_addr is non-null; its family says which sockaddr it is.
            let family = unsafe { (*ifa.ifa_addr).sa_family };
            if i32::from(family) == libc::AF_INET {
                // SAFETY: AF_INET addresses are sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
                    .to_string_lossy()
                    .into_owned();
                out.push((name, ip));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// The IPv4 source address of the default route, else 127.0.0.1.
pub fn detect_node_ip() -> IpAddr {
    let iface = std::fs::read_to_string("/proc/net/route")
        .ok()
        .and_then(|t| default_route_interface(&t));
    let addrs = interface_ipv4s();
    let chosen = iface
        .and_then(|name| {
            addrs
                .iter()
                .find(|(n, ip)| *n == name && !ip.is_loopback() && !ip.is_link_local())
                .map(|(_, ip)| *ip)
        })
        // No default route (an isolated host): any global address beats loopback.
        .or_else(|| {
            addrs
                .iter()
                .find(|(_, ip)| !ip.is_loopback() && !ip.is_link_local())
                .map(|(_, ip)| *ip)
        });
    IpAddr::V4(chosen.unwrap_or(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
docker0\t00000000\t00000000\t0000\t0\t0\t0\t00000000\t0\t0\t0
";

    #[test]
    fn picks_the_lowest_metric_default_route_that_is_up() {
        assert_eq!(default_route_interface(ROUTES).as_deref(), Some("eth0"));
        let only_header = ROUTES.lines().next().unwrap();
        assert_eq!(default_route_interface(only_header), None);
    }

    #[test]
    fn detection_always_yields_an_ipv4_address() {
        assert!(detect_node_ip().is_ipv4());
    }
}
