//! Rollout strategies, proportional scaling and history cleanup (upstream rolling.go,
//! recreate.go, sync.go scale / cleanupDeployment).

use super::newrs::by_creation;
use super::status;
use super::util::{
    annotation, is_rolling, max_surge, max_unavailable, proportion, replicas, revision,
    rs_replicas, rs_status, DESIRED_REPLICAS,
};
use super::Sync;
use crate::replicaset::is_not_found;
use crate::{Error, Result};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};
use kube::Api;
use rkube_client::objects::{controller_of, selector_matches};
use std::collections::HashMap;

fn active(rss: &[ReplicaSet]) -> Vec<ReplicaSet> {
    rss.iter()
        .filter(|rs| rs_replicas(rs) > 0)
        .cloned()
        .collect()
}

fn total(rss: &[ReplicaSet]) -> i32 {
    rss.iter().map(rs_replicas).sum()
}

fn all_of(new: &Option<ReplicaSet>, old: &[ReplicaSet]) -> Vec<ReplicaSet> {
    old.iter().cloned().chain(new.clone()).collect()
}

impl Sync {
    pub async fn rolling(&mut self, rs_list: &[ReplicaSet]) -> Result<()> {
        let (new, mut old) = self.all_and_sync_revision(rs_list, true).await?;
        let all = all_of(&new, &old);
        if let Some(n) = &new {
            if self.reconcile_new(&all, n).await? {
                return self.sync_rollout_status(&all, new.as_ref()).await;
            }
        }
        let all: Vec<ReplicaSet> = all.iter().map(|rs| self.current(rs)).collect();
        let mut active_old = active(&old);
        let new_now = new.as_ref().map(|n| self.current(n));
        if self
            .reconcile_old(&all, &mut active_old, new_now.as_ref())
            .await?
        {
            return self.sync_rollout_status(&all, new.as_ref()).await;
        }
        if status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(&mut old).await?;
        }
        self.sync_rollout_status(&all, new.as_ref()).await
    }

    async fn reconcile_new(&mut self, all: &[ReplicaSet], new: &ReplicaSet) -> Result<bool> {
        let want = replicas(&self.d);
        let size = rs_replicas(new);
        if size == want {
            return Ok(false);
        }
        if size > want {
            return self.scale_and_record(new, want).await;
        }
        let refs: Vec<&ReplicaSet> = all.iter().collect();
        let count = self.new_rs_replicas(&refs, new);
        self.scale_and_record(new, count).await
    }

    /// Scales old RSs down as far as availability allows: unhealthy replicas first, then
    /// the oldest RSs. `old` (active ones) is updated in place.
    async fn reconcile_old(
        &mut self,
        all: &[ReplicaSet],
        old: &mut [ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> Result<bool> {
        if total(old) == 0 {
            return Ok(false);
        }
        let want = replicas(&self.d);
        let min_available = want - max_unavailable(&self.d);
        let new_unavailable = new.map(|n| rs_replicas(n) - rs_status(n).2).unwrap_or(0);
        let max_scaled_down = total(all) - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        old.sort_by(by_creation);
        let mut cleaned = 0;
        for rs in old.iter_mut() {
            if cleaned >= max_scaled_down {
                break;
            }
            let size = rs_replicas(rs);
            let unhealthy = size - rs_status(rs).2;
            if size == 0 || unhealthy <= 0 {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(unhealthy);
            self.scale_and_record(rs, size - down).await?;
            *rs = self.current(rs);
            cleaned += down;
        }
        // Then healthy old replicas, as long as enough stay available overall.
        let available: i32 = old.iter().chain(new).map(|rs| rs_status(rs).2).sum();
        let mut scaled = 0;
        if available > min_available {
            let budget = available - min_available;
            for rs in old.iter_mut() {
                if scaled >= budget {
                    break;
                }
                let size = rs_replicas(rs);
                if size == 0 {
                    continue;
                }
                let down = size.min(budget - scaled);
                self.scale_and_record(rs, size - down).await?;
                *rs = self.current(rs);
                scaled += down;
            }
        }
        Ok(cleaned + scaled > 0)
    }

    pub async fn recreate(&mut self, rs_list: &[ReplicaSet]) -> Result<()> {
        let (mut new, mut old) = self.all_and_sync_revision(rs_list, false).await?;
        let mut scaled_down = false;
        for rs in active(&old) {
            scaled_down |= self.scale_and_record(&rs, 0).await?;
        }
        let old_now: Vec<ReplicaSet> = old.iter().map(|rs| self.current(rs)).collect();
        if scaled_down {
            return self
                .sync_rollout_status(&all_of(&new, &old_now), new.as_ref())
                .await;
        }
        if self.old_pods_running(new.as_ref(), &old_now).await? {
            // Pods going away raise no RS event once the RS is at zero: look again soon.
            self.requeue_soon();
            return self
                .sync_rollout_status(&all_of(&new, &old_now), new.as_ref())
                .await;
        }
        if new.is_none() {
            (new, old) = self.all_and_sync_revision(rs_list, true).await?;
        }
        if let Some(n) = new.clone() {
            let want = replicas(&self.d);
            self.scale_and_record(&n, want).await?;
            new = Some(self.current(&n));
        }
        if status::complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(&mut old).await?;
        }
        let all = all_of(&new, &old);
        self.sync_rollout_status(&all, new.as_ref()).await
    }

    async fn old_pods_running(&self, new: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Result<bool> {
        if old.iter().map(|rs| rs_status(rs).0).sum::<i32>() > 0 {
            return Ok(true);
        }
        let Some(selector) = self.d.spec.as_ref().map(|s| s.selector.clone()) else {
            return Ok(false);
        };
        let old_uids: Vec<&String> = old
            .iter()
            .filter_map(|rs| rs.metadata.uid.as_ref())
            .collect();
        let new_uid = new.and_then(|n| n.metadata.uid.as_ref());
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let text = rkube_client::objects::selector_text(
            &selector.match_labels.clone().unwrap_or_default(),
        );
        let pods = api.list(&ListParams::default().labels(&text)).await?;
        Ok(pods.items.iter().any(|p| {
            let owner = controller_of(&p.metadata).map(|r| &r.uid);
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            selector_matches(&selector, p.metadata.labels.as_ref())
                && owner.is_some_and(|u| old_uids.contains(&u) && Some(u) != new_uid)
                && !matches!(phase, Some("Failed" | "Succeeded"))
        }))
    }

    /// Resizes RSs when the deployment's replicas changed (or it is paused): the only
    /// active RS takes all; otherwise extra or missing replicas are spread in proportion.
    pub async fn scale(&mut self, new: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Result<()> {
        let want = replicas(&self.d);
        let mut newest_first = old.to_vec();
        newest_first.sort_by(|a, b| by_creation(b, a));
        let actives = active(&all_of(&new.cloned(), &newest_first));
        let only = match actives.len() {
            0 => new.cloned().or_else(|| newest_first.first().cloned()),
            1 => actives.first().cloned(),
            _ => None,
        };
        if let Some(rs) = only {
            if rs_replicas(&rs) != want {
                self.scale_and_record(&rs, want).await?;
            }
            return Ok(());
        }
        if new.is_some_and(|n| self.saturated(n)) {
            for rs in active(old) {
                self.scale_and_record(&rs, 0).await?;
            }
            return Ok(());
        }
        if !is_rolling(&self.d) {
            return Ok(());
        }
        let mut rss = actives;
        let allowed = if want > 0 {
            want + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - total(&rss);
        let (op, newer_first) = if to_add > 0 {
            ("up", true)
        } else {
            ("down", false)
        };
        // Largest first; among equals, newer first when growing, older first when shrinking.
        rss.sort_by(|a, b| {
            rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| {
                if newer_first {
                    by_creation(b, a)
                } else {
                    by_creation(a, b)
                }
            })
        });
        let mut sizes: HashMap<String, i32> = HashMap::new();
        let mut added = 0;
        for rs in &rss {
            let name = rs.metadata.name.clone().unwrap_or_default();
            let p = if to_add != 0 {
                proportion(rs, &self.d, to_add, added)
            } else {
                0
            };
            added += p;
            sizes.insert(name, rs_replicas(rs) + p);
        }
        for (i, rs) in rss.iter().enumerate() {
            let name = rs.metadata.name.clone().unwrap_or_default();
            let mut size = sizes.get(&name).copied().unwrap_or(0);
            if i == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            self.scale_rs(rs, size, op).await?;
        }
        Ok(())
    }

    fn saturated(&self, rs: &ReplicaSet) -> bool {
        let want = replicas(&self.d);
        let desired = annotation(rs, DESIRED_REPLICAS).and_then(|v| v.parse::<i32>().ok());
        rs_replicas(rs) == want && desired == Some(want) && rs_status(rs).2 == want
    }

    /// Deletes the oldest unused RSs beyond revisionHistoryLimit.
    pub async fn cleanup(&mut self, old: &mut [ReplicaSet]) -> Result<()> {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
            return Ok(());
        };
        let mut alive: Vec<&ReplicaSet> = old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = alive.len() as i64 - i64::from(limit);
        if excess <= 0 {
            return Ok(());
        }
        alive.sort_by(|a, b| {
            revision(a)
                .cmp(&revision(b))
                .then_with(|| by_creation(a, b))
        });
        for rs in alive.into_iter().take(excess as usize) {
            let rs = self.current(rs);
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if rs_status(&rs).0 != 0
                || rs_replicas(&rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            let name = rs.metadata.name.clone().unwrap_or_default();
            if let Err(e) = self.rs_api.delete(&name, &DeleteParams::default()).await {
                let e = Error::from(e);
                if !is_not_found(&e) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    pub async fn sync_rollout_status(
        &mut self,
        all: &[ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> Result<()> {
        let all: Vec<ReplicaSet> = all.iter().map(|rs| self.current(rs)).collect();
        let new = new.map(|rs| self.current(rs));
        let refs: Vec<&ReplicaSet> = all.iter().collect();
        let st = status::rollout(&refs, new.as_ref(), &self.d);
        if let Some(after) = status::recheck_after(&self.d, &st) {
            self.requeue_at_most(after);
        }
        self.write_status(st).await
    }

    pub async fn sync_plain_status(
        &mut self,
        all: &[ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> Result<()> {
        let all: Vec<ReplicaSet> = all.iter().map(|rs| self.current(rs)).collect();
        let new = new.map(|rs| self.current(rs));
        let refs: Vec<&ReplicaSet> = all.iter().collect();
        let st = status::calculate(&refs, new.as_ref(), &self.d);
        self.write_status(st).await
    }
}
