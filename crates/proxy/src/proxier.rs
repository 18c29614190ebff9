//! Applies snapshots: a full replacement the first time (and after any failure), then
//! only the difference from what the kernel holds.

use std::time::{Duration, Instant};

use crate::metrics::ProxyMetrics;
use crate::model::Snapshot;
use crate::nft::{self, Ruleset};
use crate::{conntrack, render, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct SyncOutcome {
    /// The whole table was replaced (first sync or recovery).
    pub full: bool,
    /// Bytes of nft script applied (0: nothing changed).
    pub script_bytes: usize,
    pub duration: Duration,
}

pub struct Proxier {
    applied: Option<Ruleset>,
    last: Option<Snapshot>,
    metrics: ProxyMetrics,
}

impl Proxier {
    pub fn new(metrics: ProxyMetrics) -> Self {
        Proxier {
            applied: None,
            last: None,
            metrics,
        }
    }

    /// The next sync rewrites the whole table (e.g. after someone else changed it).
    pub fn force_full_sync(&mut self) {
        self.applied = None;
    }

    pub fn sync(&mut self, snap: &Snapshot) -> Result<SyncOutcome> {
        let start = Instant::now();
        let model = render::build(snap);
        let (full, script) = match &self.applied {
            Some(old) if old.table == model.table => (false, model.update_script(old)),
            _ => (true, model.full_script()),
        };
        if !script.is_empty() {
            if let Err(e) = nft::apply(&script) {
                // The kernel state is unknown to us now; start over with a full replace.
                self.applied = None;
                self.metrics.record_error(Some(e.to_string()));
                return Err(e);
            }
        }
        conntrack::run(&conntrack::stale_flows(self.last.as_ref(), snap));
        self.applied = Some(model);
        self.last = Some(snap.clone());
        let duration = start.elapsed();
        self.metrics.record_sync(duration);
        self.metrics.record_error(None);
        Ok(SyncOutcome {
            full,
            script_bytes: script.len(),
            duration,
        })
    }
}
