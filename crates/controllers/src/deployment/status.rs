//! Deployment status and its Available / Progressing conditions (upstream sync.go
//! calculateStatus and progress.go), computed without touching the API.

use super::util::{max_unavailable, replicas, rs_replicas, rs_status};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::time::Duration;

pub const PROGRESSING: &str = "Progressing";
pub const AVAILABLE: &str = "Available";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";

/// Whole seconds, as the wire keeps them: a condition read back compares equal.
pub fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now())
}

pub fn condition(type_: &str, status: &str, reason: &str, message: &str) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_update_time: Some(Time(now())),
        last_transition_time: Some(Time(now())),
    }
}

pub fn get<'a>(s: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    s.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// Sets a condition; one with the same status and reason is left alone, and a status
/// that does not change keeps its transition time.
pub fn set(s: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(cur) = get(s, &c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove(s, &c.type_);
    s.conditions.get_or_insert_with(Vec::new).push(c);
}

pub fn remove(s: &mut DeploymentStatus, type_: &str) {
    if let Some(cs) = s.conditions.as_mut() {
        cs.retain(|c| c.type_ != type_);
    }
}

/// The deadline in seconds, when the deployment has one (MaxInt32 means none).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()?
        .progress_deadline_seconds
        .filter(|s| *s != i32::MAX)
}

fn sum(rss: &[&ReplicaSet], f: impl Fn(&ReplicaSet) -> i32) -> i32 {
    rss.iter().map(|rs| f(rs)).sum()
}

pub fn calculate(
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &Deployment,
) -> DeploymentStatus {
    let available = sum(all, |rs| rs_status(rs).2);
    let total = sum(all, rs_replicas);
    let old = d.status.clone().unwrap_or_default();
    let mut s = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(sum(all, |rs| rs_status(rs).0)),
        updated_replicas: Some(new_rs.map(|rs| rs_status(rs).0).unwrap_or(0)),
        ready_replicas: Some(sum(all, |rs| rs_status(rs).1)),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        let msg = "Deployment has minimum availability.";
        set(
            &mut s,
            condition(AVAILABLE, "True", "MinimumReplicasAvailable", msg),
        );
    } else {
        let msg = "Deployment does not have minimum availability.";
        set(
            &mut s,
            condition(AVAILABLE, "False", "MinimumReplicasUnavailable", msg),
        );
    }
    s
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// Every replica updated and available, and the spec seen.
pub fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = replicas(d);
    n(s.updated_replicas) == want
        && n(s.replicas) == want
        && n(s.available_replicas) == want
        && s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Whether the new status shows progress against the one recorded.
pub fn progressing(d: &Deployment, s: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(s.replicas) - n(s.updated_replicas);
    n(s.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(s.ready_replicas) > n(old.ready_replicas)
        || n(s.available_replicas) > n(old.available_replicas)
}

pub fn timed_out(d: &Deployment, s: &DeploymentStatus, now_s: i64) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(c) = get(s, PROGRESSING) else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => c
            .last_update_time
            .as_ref()
            .is_some_and(|t| t.0.as_second() + i64::from(deadline) < now_s),
    }
}

/// The status after a rollout step, with the Progressing condition brought up to date
/// (upstream syncRolloutStatus without the write).
pub fn rollout(
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &Deployment,
) -> DeploymentStatus {
    let mut s = calculate(all, new_rs, d);
    if progress_deadline(d).is_none() {
        remove(&mut s, PROGRESSING);
    }
    let current = get(&s, PROGRESSING).cloned();
    let already_complete = n(s.replicas) == n(s.updated_replicas)
        && current
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    if progress_deadline(d).is_some() && !already_complete {
        let subject = match new_rs.and_then(|rs| rs.metadata.name.as_deref()) {
            Some(name) => format!("ReplicaSet {name:?}"),
            None => format!("Deployment {:?}", d.metadata.name.as_deref().unwrap_or("")),
        };
        if complete(d, &s) {
            let msg = format!("{subject} has successfully progressed.");
            set(
                &mut s,
                condition(PROGRESSING, "True", NEW_RS_AVAILABLE, &msg),
            );
        } else if progressing(d, &s) {
            let msg = format!("{subject} is progressing.");
            let mut c = condition(PROGRESSING, "True", "ReplicaSetUpdated", &msg);
            if let Some(cur) = &current {
                if cur.status == "True" {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                remove(&mut s, PROGRESSING);
            }
            set(&mut s, c);
        } else if timed_out(d, &s, now().as_second()) {
            let msg = format!("{subject} has timed out progressing.");
            set(&mut s, condition(PROGRESSING, "False", TIMED_OUT, &msg));
        }
    }
    s
}

/// When to look again so a stalled rollout is marked ProgressDeadlineExceeded on time.
pub fn recheck_after(d: &Deployment, s: &DeploymentStatus) -> Option<Duration> {
    let deadline = progress_deadline(d)?;
    let c = get(s, PROGRESSING)?;
    if complete(d, s) || c.reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let due = c.last_update_time.as_ref()?.0.as_second() + i64::from(deadline) + 1;
    let wait = (due - now().as_second()).max(1);
    Some(Duration::from_secs(wait as u64))
}

/// Equal as statuses: a missing count is zero, missing conditions are none.
pub fn same(a: &DeploymentStatus, b: &DeploymentStatus) -> bool {
    let counts = |s: &DeploymentStatus| {
        (
            n(s.replicas),
            n(s.updated_replicas),
            n(s.ready_replicas),
            n(s.available_replicas),
            n(s.unavailable_replicas),
            s.observed_generation.unwrap_or(0),
            s.collision_count,
        )
    };
    let conds = |s: &DeploymentStatus| s.conditions.clone().unwrap_or_default();
    counts(a) == counts(b) && conds(a) == conds(b)
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
