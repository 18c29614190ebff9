//! A small model of one nft table (chains, sets, maps) and the two scripts made from it:
//! a full replacement and a minimal update from the previously applied model. Both are a
//! single `nft -f -` transaction, so the kernel switches from old to new rules atomically.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::ProxyError;

/// Elements per `add element` line; keeps lines of 10,000-element maps readable.
const ELEMENTS_PER_LINE: usize = 500;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chain {
    /// Base chain declaration (`type nat hook output priority -100; policy accept;`), or "".
    pub spec: String,
    pub rules: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Set {
    /// `map` or `set`.
    pub kind: &'static str,
    /// Body of the declaration (`type ipv4_addr; flags timeout; timeout 10s;`).
    pub spec: String,
    /// Key → value ("" for plain sets).
    pub elements: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ruleset {
    pub table: String,
    pub chains: BTreeMap<String, Chain>,
    pub sets: BTreeMap<String, Set>,
}

impl Ruleset {
    pub fn new(table: &str) -> Self {
        Ruleset {
            table: table.to_string(),
            ..Ruleset::default()
        }
    }

    pub fn chain(&mut self, name: &str, spec: &str) -> &mut Vec<String> {
        let chain = self.chains.entry(name.to_string()).or_default();
        chain.spec = spec.to_string();
        &mut chain.rules
    }

    pub fn set(
        &mut self,
        name: &str,
        kind: &'static str,
        spec: &str,
    ) -> &mut BTreeMap<String, String> {
        let set = self.sets.entry(name.to_string()).or_default();
        set.kind = kind;
        set.spec = spec.to_string();
        &mut set.elements
    }

    /// A script that removes whatever the table held before (stale rules of an earlier
    /// run included) and installs this model.
    pub fn full_script(&self) -> String {
        let t = &self.table;
        let mut out = String::new();
        // `add` first so the delete cannot fail on a missing table.
        let _ = writeln!(
            out,
            "add table ip {t}\ndelete table ip {t}\nadd table ip {t}"
        );
        self.update_script_into(&Ruleset::new(t), &mut out);
        out
    }

    /// A script that turns `old` (what the kernel holds) into `self`, touching only chains,
    /// sets and elements that differ. Empty when nothing changed.
    pub fn update_script(&self, old: &Ruleset) -> String {
        let mut out = String::new();
        self.update_script_into(old, &mut out);
        if out.is_empty() {
            return out;
        }
        format!("add table ip {}\n{out}", self.table)
    }

    fn update_script_into(&self, old: &Ruleset, out: &mut String) {
        let t = &self.table;
        // One merge pass classifies everything; the model can hold 100k+ chains.
        let chains = merge(&old.chains, &self.chains);
        let sets = merge(&old.sets, &self.sets);
        let chain_change = |o: Option<&Chain>, n: &Chain| match o {
            None => Change::New,
            Some(o) if o.spec != n.spec => Change::Redeclared,
            Some(o) if o.rules != n.rules => Change::Rewritten,
            Some(_) => Change::Same,
        };
        let set_change = |o: Option<&Set>, n: &Set| match o {
            None => Change::New,
            Some(o) if o.kind != n.kind || o.spec != n.spec => Change::Redeclared,
            Some(o) if o.elements != n.elements => Change::Rewritten,
            Some(_) => Change::Same,
        };
        let chains: Vec<Diffed<Chain>> = chains
            .into_iter()
            .map(|(name, o, n)| (name, o, n.map(|n| (n, chain_change(o, n)))))
            .collect();
        let sets: Vec<Diffed<Set>> = sets
            .into_iter()
            .map(|(name, o, n)| (name, o, n.map(|n| (n, set_change(o, n)))))
            .collect();

        // 1. Empty every chain we rewrite or remove, so nothing references what goes away.
        for (name, o, n) in &chains {
            let flush = match n {
                None => true,
                Some((_, c)) => o.is_some() && matches!(c, Change::Redeclared | Change::Rewritten),
            };
            if flush {
                let _ = writeln!(out, "flush chain ip {t} {name}");
            }
        }
        // 2. Drop map elements that disappear or change value.
        for (name, o, n) in &sets {
            if let (Some(o), Some((set, Change::Rewritten))) = (o, n) {
                let gone = o
                    .elements
                    .iter()
                    .filter(|(k, v)| set.elements.get(*k) != Some(*v))
                    .map(|(k, _)| (k.as_str(), ""));
                write_elements(out, "delete", t, name, gone);
            }
        }
        // 3. Remove sets that are gone or redeclared, and base chains being redeclared.
        for (name, o, n) in &sets {
            if let (Some(o), None | Some((_, Change::Redeclared))) = (o, n) {
                let _ = writeln!(out, "delete {} ip {t} {name}", o.kind);
            }
        }
        for (name, o, n) in &chains {
            if let (Some(_), Some((_, Change::Redeclared))) = (o, n) {
                let _ = writeln!(out, "delete chain ip {t} {name}");
            }
        }
        // 4. Declare new chains and sets.
        for (name, _, n) in &chains {
            if let Some((chain, Change::New | Change::Redeclared)) = n {
                if chain.spec.is_empty() {
                    let _ = writeln!(out, "add chain ip {t} {name}");
                } else {
                    let _ = writeln!(out, "add chain ip {t} {name} {{ {} }}", chain.spec);
                }
            }
        }
        for (name, _, n) in &sets {
            if let Some((set, Change::New | Change::Redeclared)) = n {
                let _ = writeln!(out, "add {} ip {t} {name} {{ {} }}", set.kind, set.spec);
            }
        }
        // 5. Elements that are new or changed (all of them for new sets).
        for (name, o, n) in &sets {
            let Some((set, change)) = n else { continue };
            let added: Vec<(&str, &str)> = match (change, o) {
                (Change::Same, _) => continue,
                (Change::Rewritten, Some(o)) => set
                    .elements
                    .iter()
                    .filter(|(k, v)| o.elements.get(*k) != Some(*v))
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect(),
                _ => set
                    .elements
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect(),
            };
            write_elements(out, "add", t, name, added.into_iter());
        }
        // 6. Rules of new and rewritten chains.
        for (name, _, n) in &chains {
            if let Some((chain, c)) = n {
                if *c != Change::Same {
                    for rule in &chain.rules {
                        let _ = writeln!(out, "add rule ip {t} {name} {rule}");
                    }
                }
            }
        }
        // 7. Finally the chains nothing references any more.
        for (name, _, n) in &chains {
            if n.is_none() {
                let _ = writeln!(out, "delete chain ip {t} {name}");
            }
        }
    }
}

/// (name, as applied before, as wanted now with how it changed).
type Diffed<'a, T> = (&'a str, Option<&'a T>, Option<(&'a T, Change)>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    New,
    /// Declaration differs: delete and add again.
    Redeclared,
    /// Same declaration, different content.
    Rewritten,
    Same,
}

/// Walks two sorted maps together: (name, in old, in new).
fn merge<'a, T>(
    old: &'a BTreeMap<String, T>,
    new: &'a BTreeMap<String, T>,
) -> Vec<(&'a str, Option<&'a T>, Option<&'a T>)> {
    let mut out = Vec::with_capacity(old.len().max(new.len()));
    let (mut a, mut b) = (old.iter().peekable(), new.iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some((ka, _)), Some((kb, _))) => ka.as_str().cmp(kb.as_str()),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
        };
        match next {
            std::cmp::Ordering::Less => {
                if let Some((k, v)) = a.next() {
                    out.push((k.as_str(), Some(v), None));
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some((k, v)) = b.next() {
                    out.push((k.as_str(), None, Some(v)));
                }
            }
            std::cmp::Ordering::Equal => {
                if let (Some((k, va)), Some((_, vb))) = (a.next(), b.next()) {
                    out.push((k.as_str(), Some(va), Some(vb)));
                }
            }
        }
    }
    out
}

fn write_elements<'a>(
    out: &mut String,
    verb: &str,
    table: &str,
    set: &str,
    items: impl Iterator<Item = (&'a str, &'a str)>,
) {
    let items: Vec<(&str, &str)> = items.collect();
    for chunk in items.chunks(ELEMENTS_PER_LINE) {
        let body: Vec<String> = chunk
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.to_string()
                } else {
                    format!("{k} : {v}")
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "{verb} element ip {table} {set} {{ {} }}",
            body.join(", ")
        );
    }
}

/// Runs one `nft -f -` transaction.
pub fn apply(script: &str) -> Result<(), ProxyError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ProxyError::Nft(format!("cannot run nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| ProxyError::Nft(format!("writing to nft: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| ProxyError::Nft(format!("waiting for nft: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // nft's messages can be long for big scripts; the first lines locate the problem.
    let head: Vec<&str> = stderr.lines().take(12).collect();
    Err(ProxyError::Nft(format!(
        "nft -f failed ({}): {}",
        output.status,
        head.join("\n")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Ruleset {
        let mut r = Ruleset::new("t");
        r.chain(
            "nat-output",
            "type nat hook output priority -100; policy accept;",
        )
        .push("jump services".into());
        r.chain("services", "")
            .push("ip daddr . meta l4proto . th dport vmap @service-ips".into());
        r.chain("svc-a", "").push("goto ep-a1".into());
        r.chain("ep-a1", "")
            .push("meta l4proto tcp dnat to 10.0.0.1:80".into());
        r.set(
            "service-ips",
            "map",
            "type ipv4_addr . inet_proto . inet_service : verdict;",
        )
        .insert("10.96.0.1 . tcp . 80".into(), "goto svc-a".into());
        r
    }

    #[test]
    fn full_script_replaces_table_and_orders_declarations_before_use() {
        let s = base().full_script();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            &lines[..3],
            &["add table ip t", "delete table ip t", "add table ip t"]
        );
        let pos = |needle: &str| s.find(needle).unwrap();
        assert!(pos("add chain ip t svc-a") < pos("add element ip t service-ips"));
        assert!(pos("add map ip t service-ips") < pos("add rule ip t services"));
        assert!(s.contains(
            "add chain ip t nat-output { type nat hook output priority -100; policy accept; }"
        ));
        assert!(s.contains("add element ip t service-ips { 10.96.0.1 . tcp . 80 : goto svc-a }"));
    }

    #[test]
    fn unchanged_model_gives_empty_update() {
        assert_eq!(base().update_script(&base()), "");
    }

    #[test]
    fn update_rewrites_only_changed_chains_and_elements() {
        let old = base();
        let mut new = base();
        new.chains.get_mut("svc-a").unwrap().rules = vec!["goto ep-a2".into()];
        new.chains.remove("ep-a1");
        new.chain("ep-a2", "")
            .push("meta l4proto tcp dnat to 10.0.0.2:80".into());
        new.sets
            .get_mut("service-ips")
            .unwrap()
            .elements
            .insert("10.96.0.2 . udp . 53".into(), "goto svc-a".into());
        let s = new.update_script(&old);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines,
            vec![
                "add table ip t",
                "flush chain ip t ep-a1",
                "flush chain ip t svc-a",
                "add chain ip t ep-a2",
                "add element ip t service-ips { 10.96.0.2 . udp . 53 : goto svc-a }",
                "add rule ip t ep-a2 meta l4proto tcp dnat to 10.0.0.2:80",
                "add rule ip t svc-a goto ep-a2",
                "delete chain ip t ep-a1",
            ]
        );
    }

    #[test]
    fn update_deletes_changed_elements_before_readding_and_removes_sets() {
        let mut old = base();
        old.set(
            "aff-x",
            "set",
            "type ipv4_addr; flags dynamic,timeout; timeout 10s;",
        );
        let mut new = base();
        new.sets
            .get_mut("service-ips")
            .unwrap()
            .elements
            .insert("10.96.0.1 . tcp . 80".into(), "drop".into());
        let s = new.update_script(&old);
        let del = s
            .find("delete element ip t service-ips { 10.96.0.1 . tcp . 80 }")
            .unwrap();
        let add = s
            .find("add element ip t service-ips { 10.96.0.1 . tcp . 80 : drop }")
            .unwrap();
        assert!(del < add);
        assert!(s.contains("delete set ip t aff-x"));
    }

    #[test]
    fn redeclared_set_is_recreated_with_all_elements() {
        let mut old = base();
        old.set(
            "aff-x",
            "set",
            "type ipv4_addr; flags dynamic,timeout; timeout 10s;",
        );
        let mut new = base();
        new.set(
            "aff-x",
            "set",
            "type ipv4_addr; flags dynamic,timeout; timeout 20s;",
        );
        let s = new.update_script(&old);
        let del = s.find("delete set ip t aff-x").unwrap();
        let add = s
            .find("add set ip t aff-x { type ipv4_addr; flags dynamic,timeout; timeout 20s; }")
            .unwrap();
        assert!(del < add);
    }

    #[test]
    fn elements_are_chunked() {
        let mut r = Ruleset::new("t");
        let set = r.set("s", "set", "type inet_service;");
        for p in 0..(ELEMENTS_PER_LINE + 1) {
            set.insert(p.to_string(), String::new());
        }
        let s = r.full_script();
        assert_eq!(s.matches("add element ip t s {").count(), 2);
    }
}
