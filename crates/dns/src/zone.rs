//! The cluster zone: turns a question into an answer from the [`Index`], following the
//! Kubernetes DNS specification (schema 1.0.1) and CoreDNS's kubernetes plugin where the
//! specification leaves room.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::index::{Index, Kind, PortSpec, Resolved};
use crate::Error;

/// Version of the Kubernetes DNS schema served at `dns-version.<zone>`.
pub const SCHEMA_VERSION: &str = "1.0.1";

/// How far an ExternalName chain inside the zone is followed.
const MAX_CNAME_DEPTH: usize = 8;

/// The outcome of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// NOERROR. An empty `answers` is NODATA: the name exists without that type.
    Found {
        answers: Vec<Record>,
        additionals: Vec<Record>,
    },
    /// The name does not exist in the zone.
    NxDomain,
    /// An ExternalName CNAME whose target lies outside the zone: the server resolves
    /// `target` upstream and appends what it gets to `answers`.
    Cname { answers: Vec<Record>, target: Name },
    /// Not ours to answer: forward upstream.
    NotInZone,
}

/// The authoritative cluster zone over a shared, watcher-updated [`Index`].
#[derive(Clone, Debug)]
pub struct Zone {
    origin: Name,
    /// Zone labels, lowercase, in wire order.
    labels: Vec<String>,
    ttl: u32,
    index: Arc<RwLock<Index>>,
    version: Arc<AtomicU64>,
}

/// Labels of a name, lowercased (DNS matching is case-insensitive). Borrows labels that
/// are already lowercase, which is nearly all of them, to keep the hot path allocation-light.
fn lower_labels(name: &Name) -> Vec<Cow<'_, str>> {
    name.iter()
        .map(|l| match String::from_utf8_lossy(l) {
            Cow::Borrowed(s) if !s.bytes().any(|b| b.is_ascii_uppercase()) => Cow::Borrowed(s),
            other => Cow::Owned(other.to_ascii_lowercase()),
        })
        .collect()
}

fn ip_record(owner: &Name, ttl: u32, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner.clone(), ttl, data)
}

/// Whether an address answers a question of this type.
fn family_matches(qtype: RecordType, ip: &IpAddr) -> bool {
    match qtype {
        RecordType::A => ip.is_ipv4(),
        RecordType::AAAA => ip.is_ipv6(),
        RecordType::ANY => true,
        _ => false,
    }
}

/// The IP in a pod name label: `10-1-2-3` or `fd00--1`.
fn pod_ip(label: &str) -> Option<IpAddr> {
    let text = if label.matches('-').count() == 3 && !label.contains("--") {
        label.replace('-', ".")
    } else {
        label.replace('-', ":")
    };
    text.parse().ok()
}

fn found(answers: Vec<Record>) -> Answer {
    Answer::Found {
        answers,
        additionals: Vec::new(),
    }
}

fn nodata() -> Answer {
    found(Vec::new())
}

/// SRV weight so equal-priority records share 100 evenly.
fn srv_weight(count: usize) -> u16 {
    u16::try_from(100 / count.max(1)).unwrap_or(1).max(1)
}

impl Zone {
    /// A zone for `domain` (e.g. "cluster.local") with an empty index.
    pub fn new(domain: &str, ttl: u32) -> Result<Self, Error> {
        let trimmed = domain.trim_end_matches('.');
        let origin = Name::from_ascii(format!("{trimmed}."))
            .map_err(|e| Error::Config(format!("cluster domain {domain:?}: {e}")))?
            .to_lowercase();
        let labels = lower_labels(&origin)
            .into_iter()
            .map(Cow::into_owned)
            .collect();
        Ok(Self {
            origin,
            labels,
            ttl,
            index: Arc::new(RwLock::new(Index::new())),
            version: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// Runs `f` with the index locked for writing. The only write path, so that
    /// [`Zone::version`] moves with every change.
    pub fn update<R>(&self, f: impl FnOnce(&mut Index) -> R) -> R {
        // A writer that panicked left the map consistent per entry; keep serving.
        let mut guard = self.index.write().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut guard);
        // Bumped while still holding the lock: an answer computed from older data was
        // tagged with an older version and can no longer be served from a cache.
        self.version.fetch_add(1, Ordering::Release);
        out
    }

    /// Changes whenever the index may have changed (for answer caches).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// One Service's records; the lock is released on return, so answering (which may
    /// follow a CNAME back into the zone) never holds it.
    fn get(&self, ns: &str, svc: &str) -> Option<Arc<Resolved>> {
        self.read().service(ns, svc)
    }

    /// Whether `name` is the zone or below it.
    pub fn contains(&self, name: &Name) -> bool {
        self.relative(&lower_labels(name)).is_some()
    }

    /// The labels below the zone, if the name is inside it.
    fn relative<'a, 'b>(&self, labels: &'a [Cow<'b, str>]) -> Option<&'a [Cow<'b, str>]> {
        let n = labels.len().checked_sub(self.labels.len())?;
        let suffix_matches = labels[n..]
            .iter()
            .zip(&self.labels)
            .all(|(a, b)| a.as_ref() == b.as_str());
        suffix_matches.then_some(&labels[..n])
    }

    /// The SOA record of the zone (answer to SOA queries, authority of negative answers).
    pub fn soa(&self) -> Record {
        let serial = self.read().generation();
        let at = |label: &str| {
            Name::from_ascii(label)
                .and_then(|n| n.append_domain(&self.origin))
                .unwrap_or_else(|_| self.origin.clone())
        };
        let soa = SOA::new(
            at("ns.dns"),
            at("hostmaster"),
            serial,
            7200,
            1800,
            86400,
            self.ttl,
        );
        Record::from_rdata(self.origin.clone(), self.ttl, RData::SOA(soa))
    }

    /// `<relative>.<zone>.` as a name.
    fn fqdn(&self, relative: &str) -> Option<Name> {
        Name::from_ascii(relative)
            .ok()?
            .append_domain(&self.origin)
            .ok()
    }

    /// Answers one question.
    pub fn lookup(&self, qname: &Name, qtype: RecordType) -> Answer {
        self.lookup_depth(qname, qtype, 0)
    }

    fn lookup_depth(&self, qname: &Name, qtype: RecordType, depth: usize) -> Answer {
        let labels = lower_labels(qname);
        let Some(rel) = self.relative(&labels) else {
            return self.reverse(qname, &labels, qtype);
        };
        let ttl = self.ttl;
        let strs: Vec<&str> = rel.iter().map(Cow::as_ref).collect();
        match strs.as_slice() {
            [] => match qtype {
                RecordType::SOA | RecordType::ANY => found(vec![self.soa()]),
                _ => nodata(),
            },
            ["dns-version"] => match qtype {
                RecordType::TXT | RecordType::ANY => found(vec![Record::from_rdata(
                    qname.clone(),
                    ttl,
                    RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()])),
                )]),
                _ => nodata(),
            },
            ["svc"] | ["pod"] | [_, "pod"] => nodata(),
            [ns, "svc"] => {
                if self.read().has_namespace(ns) {
                    nodata()
                } else {
                    Answer::NxDomain
                }
            }
            [ip, _, "pod"] => match pod_ip(ip) {
                Some(ip) if family_matches(qtype, &ip) => found(vec![ip_record(qname, ttl, ip)]),
                Some(_) => nodata(),
                None => Answer::NxDomain,
            },
            [svc, ns, "svc"] => match self.get(ns, svc) {
                Some(r) => self.service(qname, qtype, svc, ns, &r, depth),
                None => Answer::NxDomain,
            },
            [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => {
                match self.get(ns, svc) {
                    Some(r) => self.srv(qname, qtype, svc, ns, &r, Some((&port[1..], &proto[1..]))),
                    None => Answer::NxDomain,
                }
            }
            [host, svc, ns, "svc"] => match self.get(ns, svc) {
                Some(r) => endpoint(qname, qtype, ttl, host, &r),
                None => Answer::NxDomain,
            },
            _ => Answer::NxDomain,
        }
    }

    /// PTR for ClusterIPs and headless endpoints; other reverse names go upstream.
    fn reverse(&self, qname: &Name, labels: &[Cow<'_, str>], qtype: RecordType) -> Answer {
        let tail: Vec<&str> = labels.iter().rev().take(2).map(Cow::as_ref).collect();
        let is_arpa = matches!(tail.as_slice(), ["arpa", "in-addr"] | ["arpa", "ip6"]);
        if !is_arpa || !matches!(qtype, RecordType::PTR | RecordType::ANY) {
            return Answer::NotInZone;
        }
        let Ok(net) = qname.parse_arpa_name() else {
            return Answer::NotInZone;
        };
        if net.prefix_len() != net.max_prefix_len() {
            return Answer::NotInZone;
        }
        let index = self.read();
        let answers: Vec<Record> = index
            .ptr(&net.addr())
            .iter()
            .filter_map(|t| self.fqdn(&t.name))
            .map(|target| Record::from_rdata(qname.clone(), self.ttl, RData::PTR(PTR(target))))
            .collect();
        if answers.is_empty() {
            Answer::NotInZone
        } else {
            found(answers)
        }
    }

    /// `<svc>.<ns>.svc.<zone>`.
    fn service(
        &self,
        qname: &Name,
        qtype: RecordType,
        svc: &str,
        ns: &str,
        r: &Resolved,
        depth: usize,
    ) -> Answer {
        let ttl = self.ttl;
        match &r.kind {
            Kind::ExternalName(target) => self.external(qname, qtype, target, depth),
            _ if qtype == RecordType::SRV => self.srv(qname, qtype, svc, ns, r, None),
            Kind::ClusterIp(ips) => found(
                ips.iter()
                    .filter(|ip| family_matches(qtype, ip))
                    .map(|ip| ip_record(qname, ttl, *ip))
                    .collect(),
            ),
            // The specification: a headless Service without ready endpoints is NXDOMAIN.
            Kind::Headless if r.endpoints.is_empty() => Answer::NxDomain,
            Kind::Headless => found(
                r.endpoints
                    .iter()
                    .filter(|ep| family_matches(qtype, &ep.ip))
                    .map(|ep| ip_record(qname, ttl, ep.ip))
                    .collect(),
            ),
        }
    }

    fn external(&self, qname: &Name, qtype: RecordType, target: &str, depth: usize) -> Answer {
        // Like CoreDNS: an address in externalName is not a host name, so there is no CNAME.
        if target.parse::<IpAddr>().is_ok() {
            return Answer::NxDomain;
        }
        let Ok(target) = Name::from_ascii(format!("{target}.")) else {
            return Answer::NxDomain;
        };
        let cname =
            Record::from_rdata(qname.clone(), self.ttl, RData::CNAME(CNAME(target.clone())));
        if qtype == RecordType::CNAME {
            return found(vec![cname]);
        }
        if !self.contains(&target) {
            return Answer::Cname {
                answers: vec![cname],
                target,
            };
        }
        let mut answers = vec![cname];
        let mut additionals = Vec::new();
        if depth < MAX_CNAME_DEPTH {
            match self.lookup_depth(&target, qtype, depth + 1) {
                Answer::Found {
                    answers: more,
                    additionals: extra,
                } => {
                    answers.extend(more);
                    additionals.extend(extra);
                }
                Answer::Cname {
                    answers: more,
                    target,
                } => {
                    answers.extend(more);
                    return Answer::Cname { answers, target };
                }
                Answer::NxDomain | Answer::NotInZone => {}
            }
        }
        Answer::Found {
            answers,
            additionals,
        }
    }

    /// SRV answers: for `_<port>._<proto>` names (`filter`) or, as CoreDNS does, for every
    /// port when the Service name itself is asked for SRV.
    fn srv(
        &self,
        qname: &Name,
        qtype: RecordType,
        svc: &str,
        ns: &str,
        r: &Resolved,
        filter: Option<(&str, &str)>,
    ) -> Answer {
        let matches = |p: &PortSpec| match filter {
            Some((name, proto)) => !p.name.is_empty() && p.name == name && p.protocol == proto,
            None => true,
        };
        let ttl = self.ttl;
        // (port, target relative name, target address to add)
        let mut targets: Vec<(u16, String, Option<IpAddr>)> = Vec::new();
        match &r.kind {
            Kind::ExternalName(_) => return Answer::NxDomain,
            Kind::ClusterIp(_) => {
                for p in r.ports.iter().filter(|p| matches(p)) {
                    targets.push((p.port, format!("{svc}.{ns}.svc"), None));
                }
            }
            Kind::Headless => {
                for ep in &r.endpoints {
                    for p in ep.ports.iter().filter(|p| matches(p)) {
                        let host = format!("{}.{svc}.{ns}.svc", ep.host);
                        targets.push((p.port, host, Some(ep.ip)));
                    }
                }
            }
        }
        if targets.is_empty() {
            return if filter.is_some() || matches!(r.kind, Kind::Headless) {
                Answer::NxDomain
            } else {
                nodata()
            };
        }
        if qtype != RecordType::SRV && qtype != RecordType::ANY {
            return nodata();
        }
        let weight = srv_weight(targets.len());
        let mut answers = Vec::with_capacity(targets.len());
        let mut additionals = Vec::new();
        for (port, target, ip) in targets {
            let Some(name) = self.fqdn(&target) else {
                continue;
            };
            match (ip, &r.kind) {
                (Some(ip), _) => additionals.push(ip_record(&name, ttl, ip)),
                (None, Kind::ClusterIp(ips)) if additionals.is_empty() => {
                    additionals.extend(ips.iter().map(|ip| ip_record(&name, ttl, *ip)));
                }
                _ => {}
            }
            let srv = SRV::new(0, weight, port, name);
            answers.push(Record::from_rdata(qname.clone(), ttl, RData::SRV(srv)));
        }
        Answer::Found {
            answers,
            additionals,
        }
    }
}

/// `<host>.<svc>.<ns>.svc.<zone>`: the endpoints with that hostname (or dashed address).
fn endpoint(qname: &Name, qtype: RecordType, ttl: u32, host: &str, r: &Resolved) -> Answer {
    if matches!(r.kind, Kind::ExternalName(_)) {
        return Answer::NxDomain;
    }
    let eps: Vec<_> = r.endpoints.iter().filter(|e| e.host == host).collect();
    if eps.is_empty() {
        return Answer::NxDomain;
    }
    found(
        eps.iter()
            .filter(|e| family_matches(qtype, &e.ip))
            .map(|e| ip_record(qname, ttl, e.ip))
            .collect(),
    )
}

#[cfg(test)]
#[path = "zone_tests.rs"]
mod tests;
