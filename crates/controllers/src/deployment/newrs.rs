//! Finding or creating the deployment's new ReplicaSet and keeping revisions in step
//! (upstream sync.go getAllReplicaSetsAndSyncRevision / getNewReplicaSet).

use super::status::{self, progress_deadline, PROGRESSING};
use super::util::{
    compute_hash, equal_ignore_hash, max_surge, replicas, revision, rs_replicas,
    set_new_rs_annotations, HASH_LABEL, REVISION,
};
use super::Sync;
use crate::replicaset::{is_already_exists, message};
use crate::{Error, Result};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams, PostParams};
use rkube_client::events::EventType;
use rkube_client::objects::controller_of;
use serde_json::json;
use std::cmp::Ordering;

/// Oldest first; ties broken by name (upstream ReplicaSetsByCreationTimestamp).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let ts = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    ts(a)
        .cmp(&ts(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// The oldest RS whose template is the deployment's.
pub fn find_new(sync: &Sync, rs_list: &[ReplicaSet]) -> Option<ReplicaSet> {
    let template = &sync.d.spec.as_ref()?.template;
    let mut matching: Vec<&ReplicaSet> = rs_list
        .iter()
        .filter(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .is_some_and(|t| equal_ignore_hash(t, template))
        })
        .collect();
    matching.sort_by(|a, b| by_creation(a, b));
    matching.first().map(|rs| (*rs).clone())
}

impl Sync {
    /// (new RS if any, every other RS), with the new RS's revision brought up to date.
    pub async fn all_and_sync_revision(
        &mut self,
        rs_list: &[ReplicaSet],
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
        let new = find_new(self, rs_list);
        let new_uid = new.as_ref().and_then(|rs| rs.metadata.uid.clone());
        let old: Vec<ReplicaSet> = rs_list
            .iter()
            .filter(|rs| new_uid.is_none() || rs.metadata.uid != new_uid)
            .cloned()
            .collect();
        let new = self.new_replica_set(new, &old, create).await?;
        Ok((new, old))
    }

    async fn new_replica_set(
        &mut self,
        existing: Option<ReplicaSet>,
        old: &[ReplicaSet],
        create: bool,
    ) -> Result<Option<ReplicaSet>> {
        let new_revision = old.iter().map(revision).max().unwrap_or(0) + 1;
        if let Some(rs) = existing {
            return self.update_existing(rs, new_revision).await.map(Some);
        }
        if !create {
            return Ok(None);
        }
        let spec = self.d.spec.clone().unwrap_or_default();
        let collision = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = compute_hash(&spec.template, collision);
        let mut template = spec.template.clone();
        let meta = template.metadata.get_or_insert_with(Default::default);
        meta.labels
            .get_or_insert_with(Default::default)
            .insert(HASH_LABEL.into(), hash.clone());
        let labels = meta.labels.clone();
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(HASH_LABEL.into(), hash.clone());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("{}-{hash}", self.name)),
                namespace: Some(self.ns.clone()),
                labels,
                owner_references: rkube_client::objects::controller_ref(&self.d).map(|r| vec![r]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.push(&rs);
        let count = self.new_rs_replicas(&all, &rs);
        if let Some(s) = rs.spec.as_mut() {
            s.replicas = Some(count);
        }
        set_new_rs_annotations(
            &self.d,
            rs.metadata.annotations.get_or_insert_with(Default::default),
            new_revision,
            false,
        );
        let name = rs.metadata.name.clone().unwrap_or_default();
        let created = match self.rs_api.create(&PostParams::default(), &rs).await {
            Ok(c) => c,
            Err(e) => {
                let e = Error::from(e);
                if !is_already_exists(&e) {
                    return Err(self.creation_failed(&name, e).await);
                }
                // Either our own RS the cache has not shown yet, or a hash collision.
                let found = self.rs_api.get(&name).await?;
                let ours = controller_of(&found.metadata)
                    .is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref());
                let same = found
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| equal_ignore_hash(t, &spec.template));
                if ours && same {
                    return self.update_existing(found, new_revision).await.map(Some);
                }
                let mut st = self.d.status.clone().unwrap_or_default();
                st.collision_count = Some(st.collision_count.unwrap_or(0) + 1);
                self.write_status(st).await?;
                return Err(Error::Other(format!(
                    "hash collision creating replica set {name}"
                )));
            }
        };
        if count > 0 {
            let msg = format!("Scaled up replica set {name} from 0 to {count}");
            self.event(EventType::Normal, "ScalingReplicaSet", &msg)
                .await;
        }
        self.set_revision(&new_revision.to_string()).await?;
        if progress_deadline(&self.d).is_some() {
            let mut st = self.d.status.clone().unwrap_or_default();
            let msg = format!("Created new replica set {name:?}");
            status::set(
                &mut st,
                status::condition(PROGRESSING, "True", "NewReplicaSetCreated", &msg),
            );
            self.write_status(st).await?;
        }
        Ok(Some(created))
    }

    async fn creation_failed(&mut self, name: &str, e: Error) -> Error {
        let msg = format!("Failed to create new replica set {name:?}: {}", message(&e));
        if progress_deadline(&self.d).is_some() {
            let mut st = self.d.status.clone().unwrap_or_default();
            status::set(
                &mut st,
                status::condition(PROGRESSING, "False", "ReplicaSetCreateError", &msg),
            );
            if let Err(w) = self.write_status(st).await {
                tracing::debug!(error = %w, "recording replica set creation failure");
            }
        }
        self.event(EventType::Warning, "ReplicaSetCreateError", &msg)
            .await;
        e
    }

    async fn update_existing(&mut self, rs: ReplicaSet, new_revision: i64) -> Result<ReplicaSet> {
        let mut rs = rs;
        let mut ann = rs.metadata.annotations.clone().unwrap_or_default();
        let changed = set_new_rs_annotations(&self.d, &mut ann, new_revision, true);
        let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
        let rs_min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds);
        if changed || min_ready.unwrap_or(0) != rs_min_ready.unwrap_or(0) {
            let patch = json!({
                "metadata": {"resourceVersion": rs.metadata.resource_version, "annotations": ann},
                "spec": {"minReadySeconds": min_ready.unwrap_or(0)},
            });
            let name = rs.metadata.name.clone().unwrap_or_default();
            rs = self
                .rs_api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        if let Some(rev) = rs
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .cloned()
        {
            self.set_revision(&rev).await?;
        }
        let st = self.d.status.clone().unwrap_or_default();
        if progress_deadline(&self.d).is_some() && status::get(&st, PROGRESSING).is_none() {
            let mut st = st;
            let msg = format!(
                "Found new replica set {:?}",
                rs.metadata.name.as_deref().unwrap_or("")
            );
            status::set(
                &mut st,
                status::condition(PROGRESSING, "True", "FoundNewReplicaSet", &msg),
            );
            self.write_status(st).await?;
        }
        Ok(rs)
    }

    /// How big the new RS may be now (upstream NewRSNewReplicas).
    pub fn new_rs_replicas(&self, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
        let want = replicas(&self.d);
        if !super::util::is_rolling(&self.d) {
            return want;
        }
        let current: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
        let max_total = want + max_surge(&self.d);
        let size = rs_replicas(new_rs);
        if current >= max_total {
            return size;
        }
        size + (max_total - current).min(want - size).max(0)
    }
}
