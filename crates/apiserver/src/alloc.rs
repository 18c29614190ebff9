//! ClusterIP and NodePort allocation. What is taken is read from the services themselves
//! (the cache), so there is no separate bitmap to keep consistent; one lock serialises
//! allocating writers.

use crate::status::{ApiError, ApiResult};
use rand::Rng;
use rkube_validation::{ErrorType, FieldError};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::Ipv4Addr;

#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    #[error("invalid service CIDR {0}")]
    Cidr(String),
    #[error("invalid node port range {0}")]
    Ports(String),
}

#[derive(Debug, Clone)]
pub struct Ranges {
    pub cidr: String,
    base: u32,
    size: u32,
    pub ports: (u16, u16),
}

/// What other services hold.
#[derive(Debug, Default)]
pub struct Taken {
    pub ips: HashSet<String>,
    pub ports: HashSet<u16>,
}

impl Taken {
    pub fn from_services<'a>(services: impl Iterator<Item = &'a Value>) -> Self {
        let mut t = Taken::default();
        for svc in services {
            for ip in svc
                .pointer("/spec/clusterIPs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(ip) = ip.as_str() {
                    t.ips.insert(ip.to_string());
                }
            }
            if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str) {
                t.ips.insert(ip.to_string());
            }
            for p in svc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = p.get("nodePort").and_then(Value::as_u64) {
                    t.ports.insert(n as u16);
                }
            }
        }
        t
    }
}

fn field_error(field: &str, value: Value, detail: String) -> FieldError {
    FieldError {
        field: field.to_string(),
        error_type: ErrorType::Invalid,
        bad_value: Some(value),
        detail,
    }
}

impl Ranges {
    pub fn new(cidr: &str, ports: &str) -> Result<Self, RangeError> {
        let bad = || RangeError::Cidr(cidr.to_string());
        let (ip, bits) = cidr.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let bits: u32 = bits.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&bits) {
            return Err(bad());
        }
        let size = 1u32 << (32 - bits);
        let base = u32::from(ip) & !(size - 1);
        let badp = || RangeError::Ports(ports.to_string());
        let (lo, hi) = ports.split_once('-').ok_or_else(badp)?;
        let ports = (
            lo.parse().map_err(|_| badp())?,
            hi.parse().map_err(|_| badp())?,
        );
        if ports.0 > ports.1 {
            return Err(badp());
        }
        Ok(Self {
            cidr: cidr.to_string(),
            base,
            size,
            ports,
        })
    }

    /// The `kubernetes` service's address: the first usable one.
    pub fn first_ip(&self) -> String {
        Ipv4Addr::from(self.base + 1).to_string()
    }

    fn contains(&self, ip: &str) -> bool {
        ip.parse::<Ipv4Addr>().is_ok_and(|ip| {
            let n = u32::from(ip);
            n > self.base && n < self.base + self.size - 1
        })
    }

    fn random_ip(&self, taken: &Taken) -> Option<String> {
        let usable = self.size - 2;
        let start = rand::rng().random_range(0..usable);
        (0..usable)
            .map(|i| Ipv4Addr::from(self.base + 1 + (start + i) % usable).to_string())
            .find(|ip| !taken.ips.contains(ip))
    }

    fn random_port(&self, taken: &Taken) -> Option<u16> {
        let span = u32::from(self.ports.1 - self.ports.0) + 1;
        let start = rand::rng().random_range(0..span);
        (0..span)
            .map(|i| self.ports.0 + ((start + i) % span) as u16)
            .find(|p| !taken.ports.contains(p))
    }

    /// Fills in clusterIP(s) and node ports of a service being created or updated.
    /// `old` carries what an update must keep.
    pub fn allocate(
        &self,
        svc: &mut Value,
        old: Option<&Value>,
        taken: &mut Taken,
        name: &str,
    ) -> ApiResult<()> {
        let invalid = |e: FieldError| ApiError::invalid("Service", "", name, &[e]);
        let svc_type = svc
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        if svc_type == "ExternalName" {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        } else {
            let old_ip = old
                .and_then(|o| o.pointer("/spec/clusterIP"))
                .and_then(Value::as_str);
            let asked = spec
                .get("clusterIP")
                .and_then(Value::as_str)
                .map(str::to_string);
            let ip = match (asked, old_ip) {
                (None, Some(old)) | (Some(_), Some(old)) if !old.is_empty() => {
                    let asked = spec.get("clusterIP").and_then(Value::as_str);
                    if asked.is_some_and(|a| !a.is_empty() && a != old) {
                        return Err(invalid(field_error(
                            "spec.clusterIPs[0]",
                            json!([asked]),
                            "may not change once set".into(),
                        )));
                    }
                    old.to_string()
                }
                (Some(ip), _) if ip == "None" => ip,
                (Some(ip), _) if !ip.is_empty() => {
                    if !self.contains(&ip) {
                        return Err(invalid(field_error("spec.clusterIPs", json!([ip]), format!(
                            "failed to allocate IP {ip}: provided IP is not in the valid range. The range of valid IPs is {}", self.cidr))));
                    }
                    if taken.ips.contains(&ip) {
                        return Err(invalid(field_error(
                            "spec.clusterIPs",
                            json!([ip]),
                            format!("failed to allocate IP {ip}: provided IP is already allocated"),
                        )));
                    }
                    ip
                }
                _ => self.random_ip(taken).ok_or_else(|| {
                    ApiError::internal("failed to allocate a serviceIP: range is full")
                })?,
            };
            taken.ips.insert(ip.clone());
            spec.insert("clusterIPs".into(), json!([ip]));
            spec.insert("clusterIP".into(), Value::String(ip));
        }
        let wants_node_ports = matches!(svc_type.as_str(), "NodePort" | "LoadBalancer");
        let old_ports: Vec<Value> = old
            .and_then(|o| o.pointer("/spec/ports"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
            return Ok(());
        };
        for (i, port) in ports.iter_mut().enumerate() {
            let Some(port) = port.as_object_mut() else {
                continue;
            };
            if !wants_node_ports {
                port.remove("nodePort");
                continue;
            }
            let previous = old_ports
                .iter()
                .find(|o| {
                    o.get("port") == port.get("port") && o.get("protocol") == port.get("protocol")
                })
                .and_then(|o| o.get("nodePort"))
                .and_then(Value::as_u64);
            let asked = port
                .get("nodePort")
                .and_then(Value::as_u64)
                .filter(|n| *n != 0);
            let n = match (asked, previous) {
                (Some(a), Some(p)) if a == p => a as u16,
                (None, Some(p)) => p as u16,
                (Some(a), _) => {
                    let field = format!("spec.ports[{i}].nodePort");
                    if a < u64::from(self.ports.0) || a > u64::from(self.ports.1) {
                        return Err(invalid(field_error(&field, json!(a), format!(
                            "provided port is not in the valid range. The range of valid ports is {}-{}", self.ports.0, self.ports.1))));
                    }
                    if taken.ports.contains(&(a as u16)) {
                        return Err(invalid(field_error(
                            &field,
                            json!(a),
                            "provided port is already allocated".into(),
                        )));
                    }
                    a as u16
                }
                (None, None) => self.random_port(taken).ok_or_else(|| {
                    ApiError::internal("failed to allocate a nodePort: range is full")
                })?,
            };
            taken.ports.insert(n);
            port.insert("nodePort".into(), json!(n));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_and_rejects_conflicts() {
        let r = Ranges::new("10.96.0.0/12", "30000-32767").unwrap();
        assert_eq!(r.first_ip(), "10.96.0.1");
        let mut taken = Taken::default();
        let mut a =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
        r.allocate(&mut a, None, &mut taken, "a").unwrap();
        let ip = a["spec"]["clusterIP"].as_str().unwrap().to_string();
        assert!(ip.starts_with("10."));
        let np = a["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
        assert!((30000..=32767).contains(&np));
        let mut b = json!({"spec": {"clusterIP": ip, "ports": [{"port": 80}]}});
        let err = r.allocate(&mut b, None, &mut taken, "b").unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message.contains("provided IP is already allocated"),
            "{}",
            err.message
        );
        let mut c = json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": np}]}});
        assert!(r
            .allocate(&mut c, None, &mut taken, "c")
            .unwrap_err()
            .message
            .contains("already allocated"));
        let mut d = json!({"spec": {"clusterIP": "192.168.0.1"}});
        assert!(r
            .allocate(&mut d, None, &mut taken, "d")
            .unwrap_err()
            .message
            .contains("valid range"));
        // An update keeps what the old object held, without tripping over itself.
        let mut again = Taken::default();
        let mut upd =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
        r.allocate(&mut upd, Some(&a), &mut again, "a").unwrap();
        assert_eq!(upd["spec"]["clusterIP"], a["spec"]["clusterIP"]);
        assert_eq!(
            upd["spec"]["ports"][0]["nodePort"],
            a["spec"]["ports"][0]["nodePort"]
        );
    }
}
