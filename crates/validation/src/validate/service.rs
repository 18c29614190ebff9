//! Service validation (create) and its update-time rules.

use super::pod::port_num_or_name;
use crate::errors::{duplicate, forbidden, invalid, not_supported, required, FieldError, Path};
use crate::meta::validate_labels;
use crate::names::{dns1123_label, dns1123_subdomain, is_ip, port_num, qualified_name};
use crate::value::{arr, i, s, sz};
use serde_json::{json, Value};
use std::collections::HashSet;

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

fn cluster_ips(spec: &Value) -> Vec<String> {
    let list: Vec<String> = arr(spec, "clusterIPs")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if list.is_empty() {
        s(spec, "clusterIP")
            .filter(|c| !c.is_empty())
            .map(|c| vec![c.to_string()])
            .unwrap_or_default()
    } else {
        list
    }
}

pub fn validate_service_spec(spec: &Value) -> Vec<FieldError> {
    let p = Path::root("spec");
    let mut errs = Vec::new();
    let ty = sz(spec, "type");
    let ips = cluster_ips(spec);
    let headless = ips.first().map(String::as_str) == Some("None");
    match ty {
        "" => errs.push(required(&p.child("type"), "")),
        t if !TYPES.contains(&t) => errs.push(not_supported(&p.child("type"), t, TYPES)),
        _ => {}
    }
    if ty == "ExternalName" {
        if !ips.is_empty() {
            errs.push(forbidden(
                &p.child("clusterIPs"),
                "may not be set for ExternalName services",
            ));
        }
        let name = sz(spec, "externalName");
        if name.is_empty() {
            errs.push(required(&p.child("externalName"), ""));
        } else {
            let trimmed = name.strip_suffix('.').unwrap_or(name);
            let sub = dns1123_subdomain(trimmed);
            if !sub.is_empty() {
                errs.push(invalid(&p.child("externalName"), trimmed, sub.join(",")));
            } else if !trimmed.contains('.') {
                errs.push(invalid(
                    &p.child("externalName"),
                    trimmed,
                    "should be a domain with at least two segments separated by dots",
                ));
            }
        }
    }
    let ports = arr(spec, "ports");
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(required(&p.child("ports"), ""));
    }
    let mut names = HashSet::new();
    let require_name = ports.len() > 1;
    for (idx, port) in ports.iter().enumerate() {
        let pp = p.child("ports").index(idx);
        let name = sz(port, "name");
        if require_name && name.is_empty() {
            errs.push(required(&pp.child("name"), ""));
        } else if !name.is_empty() {
            for m in dns1123_label(name) {
                errs.push(invalid(&pp.child("name"), name, m));
            }
            if !names.insert(name.to_string()) {
                errs.push(duplicate(&pp.child("name"), name));
            }
        }
        let num = i(port, "port").unwrap_or(0);
        for m in port_num(num) {
            errs.push(invalid(&pp.child("port"), num, m));
        }
        match sz(port, "protocol") {
            "" => errs.push(required(&pp.child("protocol"), "")),
            pr if !PROTOCOLS.contains(&pr) => {
                errs.push(not_supported(&pp.child("protocol"), pr, PROTOCOLS))
            }
            _ => {}
        }
        if port.get("targetPort").is_some_and(|v| !v.is_null()) {
            let mut tp_errs = Vec::new();
            port_num_or_name(
                port.get("targetPort"),
                &pp.child("targetPort"),
                &mut tp_errs,
            );
            errs.extend(tp_errs);
        }
        if let Some(ap) = s(port, "appProtocol") {
            for m in qualified_name(ap) {
                errs.push(invalid(&pp.child("appProtocol"), ap, m));
            }
        }
        let node_port = i(port, "nodePort").unwrap_or(0);
        if node_port != 0 {
            if ty == "ClusterIP" {
                errs.push(forbidden(
                    &pp.child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            } else {
                for m in port_num(node_port) {
                    errs.push(invalid(&pp.child("nodePort"), node_port, m));
                }
            }
        }
    }
    let mut seen = HashSet::new();
    let mut seen_node = HashSet::new();
    for (idx, port) in ports.iter().enumerate() {
        let key = (
            i(port, "port").unwrap_or(0),
            sz(port, "protocol").to_string(),
        );
        if !seen.insert(key.clone()) {
            errs.push(duplicate(
                &p.child("ports").index(idx),
                json!({"port": key.0, "protocol": key.1}),
            ));
        }
        let np = i(port, "nodePort").unwrap_or(0);
        if np != 0 && !seen_node.insert((np, key.1.clone())) {
            errs.push(duplicate(
                &p.child("ports").index(idx).child("nodePort"),
                np,
            ));
        }
    }
    if headless && (ty == "NodePort" || ty == "LoadBalancer") {
        errs.push(invalid(
            &p.child("clusterIPs").index(0),
            "None",
            format!("may not be set to 'None' for {ty} services"),
        ));
    }
    for (idx, ip) in ips.iter().enumerate() {
        let headless_marker = ip == "None" && idx == 0;
        if !headless_marker && !is_ip(ip) {
            errs.push(invalid(
                &p.child("clusterIPs").index(idx),
                ip.as_str(),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    if let (Some(single), Some(first)) = (
        s(spec, "clusterIP").filter(|c| !c.is_empty()),
        arr(spec, "clusterIPs").first(),
    ) {
        if first.as_str() != Some(single) {
            errs.push(invalid(
                &p.child("clusterIPs"),
                Value::Array(arr(spec, "clusterIPs").to_vec()),
                "first value must match `clusterIP`",
            ));
        }
    }
    match sz(spec, "sessionAffinity") {
        "" => errs.push(required(&p.child("sessionAffinity"), "")),
        "None" | "ClientIP" => {}
        other => errs.push(not_supported(
            &p.child("sessionAffinity"),
            other,
            &["ClientIP", "None"],
        )),
    }
    errs.extend(validate_labels(spec.get("selector"), &p.child("selector")));
    let etp = sz(spec, "externalTrafficPolicy");
    let external = matches!(ty, "NodePort" | "LoadBalancer");
    if external {
        match etp {
            "" => errs.push(required(&p.child("externalTrafficPolicy"), "")),
            "Cluster" | "Local" => {}
            other => errs.push(not_supported(
                &p.child("externalTrafficPolicy"),
                other,
                &["Cluster", "Local"],
            )),
        }
    } else if !etp.is_empty() && arr(spec, "externalIPs").is_empty() {
        errs.push(invalid(
            &p.child("externalTrafficPolicy"),
            etp,
            "may only be set for externally-accessible services",
        ));
    }
    if ty != "ExternalName" {
        if let Some(itp) = s(spec, "internalTrafficPolicy") {
            if itp != "Cluster" && itp != "Local" {
                errs.push(not_supported(
                    &p.child("internalTrafficPolicy"),
                    itp,
                    &["Cluster", "Local"],
                ));
            }
        }
    }
    if let Some(pol) = s(spec, "ipFamilyPolicy") {
        if !matches!(pol, "SingleStack" | "PreferDualStack" | "RequireDualStack") {
            errs.push(not_supported(
                &p.child("ipFamilyPolicy"),
                pol,
                &["PreferDualStack", "RequireDualStack", "SingleStack"],
            ));
        }
    }
    for (idx, fam) in arr(spec, "ipFamilies").iter().enumerate() {
        let f = fam.as_str().unwrap_or("");
        if f != "IPv4" && f != "IPv6" {
            errs.push(not_supported(
                &p.child("ipFamilies").index(idx),
                f,
                &["IPv4", "IPv6"],
            ));
        }
    }
    for (idx, ip) in arr(spec, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        if !is_ip(ip) {
            errs.push(invalid(
                &p.child("externalIPs").index(idx),
                ip,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    errs
}

/// Allocated IPs may not change, except when the type moves to or from ExternalName.
pub fn validate_service_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let null = Value::Null;
    let ns = new.get("spec").unwrap_or(&null);
    let os = old.get("spec").unwrap_or(&null);
    if sz(ns, "type") == "ExternalName" || sz(os, "type") == "ExternalName" {
        return errs;
    }
    let new_ips = cluster_ips(ns);
    let old_ips = cluster_ips(os);
    for (idx, old_ip) in old_ips.iter().enumerate() {
        if let Some(new_ip) = new_ips.get(idx) {
            if new_ip != old_ip {
                let field = Path::root("spec").child("clusterIPs").index(idx);
                errs.push(invalid(&field, json!(new_ips), "may not change once set"));
            }
        } else if idx == 0 {
            let field = Path::root("spec").child("clusterIPs").index(0);
            errs.push(invalid(&field, json!(new_ips), "may not change once set"));
        }
    }
    errs
}

/// The service registry's "patch allocated values": an update that omits
/// server-assigned fields keeps the stored ones instead of failing.
pub fn carry_allocated(new: &mut Value, old: &Value) {
    let Some(os) = old.get("spec") else { return };
    let Some(ns) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let same_type = ns.get("type") == os.get("type") || ns.get("type").is_none();
    if !same_type || os.get("type").and_then(Value::as_str) == Some("ExternalName") {
        return;
    }
    for k in [
        "clusterIP",
        "clusterIPs",
        "ipFamilies",
        "ipFamilyPolicy",
        "healthCheckNodePort",
    ] {
        let missing = ns.get(k).is_none_or(|v| {
            v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(|a| a.is_empty())
        });
        if missing {
            if let Some(v) = os.get(k).filter(|v| !v.is_null()) {
                ns.insert(k.to_string(), v.clone());
            }
        }
    }
    let old_ports = arr(os, "ports").to_vec();
    if let Some(ports) = ns.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut() {
            if port.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                continue;
            }
            let matched = old_ports.iter().find(|op| {
                op.get("port") == port.get("port")
                    && op.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                        == port
                            .get("protocol")
                            .and_then(Value::as_str)
                            .unwrap_or("TCP")
            });
            if let (Some(np), Some(m)) = (
                matched
                    .and_then(|op| op.get("nodePort"))
                    .filter(|v| !v.is_null()),
                port.as_object_mut(),
            ) {
                m.insert("nodePort".into(), np.clone());
            }
        }
    }
}
