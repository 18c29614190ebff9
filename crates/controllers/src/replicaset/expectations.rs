//! Expectations, as upstream keeps them: after a sync creates or deletes pods, the cache
//! lags behind; acting again before it catches up would create or delete twice. A sync
//! records what it expects to see, the pod watch checks items off, and the next sync only
//! manages replicas once nothing is outstanding (or the record has grown too old).

use super::podcache::Observed;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upstream's ExpectationsTimeout: a lost watch event never wedges an owner for longer.
const TTL: Duration = Duration::from_secs(300);

struct Pending {
    creates: i64,
    deletes: HashSet<String>,
    since: Instant,
}

#[derive(Default)]
pub struct Expectations {
    by_owner: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    pub fn expect(&self, owner: &str, creates: usize, deletes: &[String]) {
        if let Ok(mut m) = self.by_owner.lock() {
            m.insert(
                owner.to_string(),
                Pending {
                    creates: creates as i64,
                    deletes: deletes.iter().cloned().collect(),
                    since: Instant::now(),
                },
            );
        }
    }

    /// Lowers the expectations for an action that failed or was never attempted.
    pub fn lower(&self, owner: &str, creates: usize, deleted: Option<&str>) {
        if let Ok(mut m) = self.by_owner.lock() {
            if let Some(p) = m.get_mut(owner) {
                p.creates -= creates as i64;
                if let Some(name) = deleted {
                    p.deletes.remove(name);
                }
            }
        }
    }

    pub fn observe(&self, seen: &Observed) {
        match seen {
            Observed::Created { owner } => self.lower(owner, 1, None),
            Observed::Deleted { owner, name } => self.lower(owner, 0, Some(name)),
        }
    }

    pub fn satisfied(&self, owner: &str) -> bool {
        let Ok(m) = self.by_owner.lock() else {
            return true;
        };
        m.get(owner)
            .is_none_or(|p| (p.creates <= 0 && p.deletes.is_empty()) || p.since.elapsed() > TTL)
    }

    pub fn forget(&self, owner: &str) {
        if let Ok(mut m) = self.by_owner.lock() {
            m.remove(owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfied_once_everything_is_observed() {
        let e = Expectations::default();
        assert!(e.satisfied("u"));
        e.expect("u", 2, &["p1".into()]);
        assert!(!e.satisfied("u"));
        e.observe(&Observed::Created { owner: "u".into() });
        e.observe(&Observed::Created {
            owner: "other".into(),
        });
        assert!(!e.satisfied("u"));
        e.lower("u", 1, None);
        assert!(!e.satisfied("u"), "a deletion is still outstanding");
        e.observe(&Observed::Deleted {
            owner: "u".into(),
            name: "p1".into(),
        });
        assert!(e.satisfied("u"));
    }
}
