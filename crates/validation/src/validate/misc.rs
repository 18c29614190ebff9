//! Leases, EndpointSlices and events.k8s.io Events.

use crate::errors::{invalid, not_supported, required, too_long, too_many, FieldError, Path};
use crate::names::{dns1123_label, is_ip, port_num, qualified_name};
use crate::value::{arr, i, sz};
use serde_json::Value;

pub fn validate_lease(l: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let spec = l.get("spec").unwrap_or(&null);
    let sp = Path::root("spec");
    if let Some(d) = i(spec, "leaseDurationSeconds") {
        if d <= 0 {
            errs.push(invalid(
                &sp.child("leaseDurationSeconds"),
                d,
                "must be greater than 0",
            ));
        }
    }
    if let Some(t) = i(spec, "leaseTransitions") {
        errs.extend(crate::errors::nonnegative(t, &sp.child("leaseTransitions")));
    }
    errs
}

const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];

pub fn validate_endpoint_slice(es: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let at = sz(es, "addressType");
    match at {
        "" => errs.push(required(&Path::root("addressType"), "")),
        t if !ADDRESS_TYPES.contains(&t) => {
            errs.push(not_supported(&Path::root("addressType"), t, ADDRESS_TYPES))
        }
        _ => {}
    }
    let endpoints = arr(es, "endpoints");
    if endpoints.len() > 1000 {
        errs.push(too_many(&Path::root("endpoints"), endpoints.len(), 1000));
    }
    for (idx, ep) in endpoints.iter().enumerate() {
        let ep_path = Path::root("endpoints").index(idx);
        let addrs = arr(ep, "addresses");
        if addrs.is_empty() {
            errs.push(required(
                &ep_path.child("addresses"),
                "must contain at least 1 address",
            ));
        } else if addrs.len() > 100 {
            errs.push(too_many(&ep_path.child("addresses"), addrs.len(), 100));
        }
        for (ai, a) in addrs.iter().enumerate() {
            let a = a.as_str().unwrap_or("");
            let ap = ep_path.child("addresses").index(ai);
            let ok = match at {
                "IPv4" => a.parse::<std::net::Ipv4Addr>().is_ok(),
                "IPv6" => a.parse::<std::net::Ipv6Addr>().is_ok(),
                "FQDN" => crate::names::dns1123_subdomain(a).is_empty(),
                _ => true,
            };
            if !ok {
                let msg = match at {
                    "IPv4" if is_ip(a) => "must be an IPv4 address".to_string(),
                    "IPv6" if is_ip(a) => "must be an IPv6 address".to_string(),
                    "FQDN" => crate::names::dns1123_subdomain(a).join(","),
                    _ => {
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_string()
                    }
                };
                errs.push(invalid(&ap, a, msg));
            }
        }
        let hostname = sz(ep, "hostname");
        if !hostname.is_empty() {
            for m in dns1123_label(hostname) {
                errs.push(invalid(&ep_path.child("hostname"), hostname, m));
            }
        }
    }
    let ports = arr(es, "ports");
    if ports.len() > 20000 {
        errs.push(too_many(&Path::root("ports"), ports.len(), 20000));
    }
    let mut names = std::collections::HashSet::new();
    for (idx, port) in ports.iter().enumerate() {
        let pp = Path::root("ports").index(idx);
        let name = sz(port, "name");
        if !name.is_empty() {
            for m in dns1123_label(name) {
                errs.push(invalid(&pp.child("name"), name, m));
            }
        }
        if !names.insert(name.to_string()) {
            errs.push(crate::errors::duplicate(&pp.child("name"), name));
        }
        match sz(port, "protocol") {
            "" => errs.push(required(&pp.child("protocol"), "")),
            "TCP" | "UDP" | "SCTP" => {}
            other => errs.push(not_supported(
                &pp.child("protocol"),
                other,
                &["SCTP", "TCP", "UDP"],
            )),
        }
        if let Some(n) = i(port, "port") {
            for m in port_num(n) {
                errs.push(invalid(&pp.child("port"), n, m));
            }
        }
        if let Some(ap) = port.get("appProtocol").and_then(Value::as_str) {
            for m in qualified_name(ap) {
                errs.push(invalid(&pp.child("appProtocol"), ap, m));
            }
        }
    }
    errs
}

/// events.k8s.io/v1 requests get the strict rules (reporting fields, eventTime, type).
pub fn validate_events_v1(ev: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if ev.get("eventTime").is_none_or(Value::is_null) {
        errs.push(required(&Path::root("eventTime"), ""));
    }
    let ty = sz(ev, "type");
    if ty != "Normal" && ty != "Warning" {
        errs.push(invalid(
            &Path::root("type"),
            "",
            format!("has invalid value: {ty}"),
        ));
    }
    let rc = sz(ev, "reportingController");
    if rc.is_empty() {
        errs.push(required(&Path::root("reportingController"), ""));
    } else {
        for m in qualified_name(rc) {
            errs.push(invalid(&Path::root("reportingController"), rc, m));
        }
    }
    for (k, max) in [("reportingInstance", 128), ("action", 128), ("reason", 128)] {
        let v = sz(ev, k);
        if v.is_empty() {
            errs.push(required(&Path::root(k), ""));
        } else if v.len() > max {
            errs.push(invalid(
                &Path::root(k),
                "",
                format!("can have at most {max} characters"),
            ));
        }
    }
    if sz(ev, "note").len() > 1024 {
        errs.push(too_long(&Path::root("note"), 1024));
    }
    errs
}
