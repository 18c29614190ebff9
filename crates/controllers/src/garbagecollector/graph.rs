//! The owner → dependents graph and the decisions taken from it. Pure: the caller feeds
//! watch events in and carries the decisions out through the API.

use std::collections::{HashMap, HashSet};

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub uid: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub block: bool,
}

/// What the collector remembers of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Index of the object's resource in the collector's resource list.
    pub res: usize,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub owners: Vec<OwnerRef>,
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

impl Node {
    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// Being deleted and waiting for its blocking dependents to go first.
    pub fn foreground(&self) -> bool {
        self.deleting && self.has_finalizer(FOREGROUND)
    }

    fn orphaning(&self) -> bool {
        self.deleting && self.has_finalizer(ORPHAN)
    }
}

/// What is known of an owner that a dependent references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// Exists with the referenced uid.
    Present,
    /// Exists but is being deleted in the foreground, waiting for its dependents.
    Waiting,
    /// Gone, or replaced by an object of another uid.
    Absent,
    /// Not in the graph: ask the API server.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Background,
    Foreground,
    Orphan,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Background => "Background",
            Policy::Foreground => "Foreground",
            Policy::Orphan => "Orphan",
        }
    }
}

/// The outcome for a dependent once every owner's state is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Another owner keeps the object: only the references to these owner uids go.
    DropRefs(Vec<String>),
    Delete(Policy),
}

/// The next thing to do for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Resolve the owners (some may need an API lookup), then act on the verdict.
    Judge(Vec<(OwnerRef, OwnerState)>),
    /// Strip the references to this owner from these dependents, then drop "orphan".
    Orphan(Vec<Node>),
    /// No blocking dependent is left: drop the finalizer so the object goes.
    RemoveFinalizer(&'static str),
    /// Foreground deletion in progress: these dependents should be processed (deleted).
    Process(Vec<String>),
}

#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    /// Owner uid → uids of objects referencing it. Owners need not be present: an owner
    /// that is gone still has dependents until they are collected.
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// Records an added or changed object; returns the uids that need processing.
    pub fn upsert(&mut self, node: Node) -> Vec<String> {
        let mut dirty = Vec::new();
        let old = self.nodes.get(&node.uid);
        let owners_changed = old.is_none_or(|o| o.owners != node.owners);
        let state_changed =
            old.is_none_or(|o| o.deleting != node.deleting || o.finalizers != node.finalizers);
        if owners_changed && !node.owners.is_empty() {
            dirty.push(node.uid.clone());
        }
        if state_changed && (node.foreground() || node.orphaning()) {
            dirty.push(node.uid.clone());
        }
        if owners_changed || state_changed {
            // Owners waiting on their dependents re-check whether any still blocks them,
            // including owners this object stopped referencing.
            let refs = old.map(|o| o.owners.iter()).into_iter().flatten();
            for r in refs.chain(node.owners.iter()) {
                if self.nodes.get(&r.uid).is_some_and(Node::foreground) {
                    dirty.push(r.uid.clone());
                }
            }
        }
        if let Some(old) = self.nodes.remove(&node.uid) {
            self.unlink(&old);
        }
        for r in &node.owners {
            self.dependents
                .entry(r.uid.clone())
                .or_default()
                .insert(node.uid.clone());
        }
        self.nodes.insert(node.uid.clone(), node);
        dedup(dirty)
    }

    /// Forgets a deleted object; returns the uids that need processing.
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        self.unlink(&node);
        let mut dirty: Vec<String> = self
            .dependents
            .get(uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default();
        for r in &node.owners {
            if self.nodes.get(&r.uid).is_some_and(Node::foreground) {
                dirty.push(r.uid.clone());
            }
        }
        dedup(dirty)
    }

    /// After a relist of resource `res`: forgets its objects that were not listed.
    pub fn retain_listed(&mut self, res: usize, listed: &HashSet<String>) -> Vec<String> {
        let gone: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.res == res && !listed.contains(&n.uid))
            .map(|n| n.uid.clone())
            .collect();
        let mut dirty = Vec::new();
        for uid in gone {
            dirty.extend(self.remove(&uid));
        }
        dedup(dirty)
    }

    fn unlink(&mut self, node: &Node) {
        for r in &node.owners {
            if let Some(set) = self.dependents.get_mut(&r.uid) {
                set.remove(&node.uid);
                if set.is_empty() {
                    self.dependents.remove(&r.uid);
                }
            }
        }
    }

    /// Present objects referencing `uid`.
    pub fn dependents(&self, uid: &str) -> Vec<&Node> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get(d))
            .collect()
    }

    /// Dependents whose reference to `uid` sets blockOwnerDeletion.
    pub fn blocking(&self, uid: &str) -> Vec<&Node> {
        self.dependents(uid)
            .into_iter()
            .filter(|d| d.owners.iter().any(|r| r.uid == uid && r.block))
            .collect()
    }

    /// What the graph alone says of an owner reference.
    pub fn owner_state(&self, r: &OwnerRef) -> OwnerState {
        match self.nodes.get(&r.uid) {
            Some(n) if n.foreground() => OwnerState::Waiting,
            Some(_) => OwnerState::Present,
            None => OwnerState::Unknown,
        }
    }

    /// Decides the next step for `uid`. `kicked` holds the foreground owners whose
    /// dependents were already sent for deletion, so a large owner is not re-scanned for
    /// every dependent that goes.
    pub fn step(&self, uid: &str, kicked: &mut HashSet<String>) -> Step {
        let Some(node) = self.nodes.get(uid) else {
            return Step::Nothing;
        };
        if node.deleting {
            if node.has_finalizer(ORPHAN) {
                return Step::Orphan(self.dependents(uid).into_iter().cloned().collect());
            }
            if node.has_finalizer(FOREGROUND) {
                if self.blocking(uid).is_empty() {
                    return Step::RemoveFinalizer(FOREGROUND);
                }
                if kicked.insert(uid.to_string()) {
                    let pending = self
                        .dependents(uid)
                        .into_iter()
                        .filter(|d| !d.deleting)
                        .map(|d| d.uid.clone())
                        .collect();
                    return Step::Process(pending);
                }
            }
            return Step::Nothing;
        }
        if node.owners.is_empty() {
            return Step::Nothing;
        }
        let states = node
            .owners
            .iter()
            .map(|r| (r.clone(), self.owner_state(r)))
            .collect();
        Step::Judge(states)
    }

    pub fn has_dependents(&self, uid: &str) -> bool {
        !self.dependents(uid).is_empty()
    }
}

/// The verdict for `item` given the resolved state of each owner (Unknown counts as
/// present: never delete on a guess).
pub fn judge(item: &Node, owners: &[(OwnerRef, OwnerState)], has_dependents: bool) -> Verdict {
    if owners.is_empty() {
        return Verdict::Keep;
    }
    let solid = owners
        .iter()
        .any(|(_, s)| matches!(s, OwnerState::Present | OwnerState::Unknown));
    let unwanted: Vec<String> = owners
        .iter()
        .filter(|(_, s)| matches!(s, OwnerState::Absent | OwnerState::Waiting))
        .map(|(r, _)| r.uid.clone())
        .collect();
    if solid {
        return if unwanted.is_empty() {
            Verdict::Keep
        } else {
            Verdict::DropRefs(unwanted)
        };
    }
    let waiting = owners.iter().any(|(_, s)| *s == OwnerState::Waiting);
    if waiting && has_dependents {
        // An owner deleted in the foreground waits for the whole subtree below it.
        return Verdict::Delete(Policy::Foreground);
    }
    Verdict::Delete(if item.has_finalizer(ORPHAN) {
        Policy::Orphan
    } else if item.has_finalizer(FOREGROUND) {
        Policy::Foreground
    } else {
        Policy::Background
    })
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}

#[cfg(test)]
mod tests;
