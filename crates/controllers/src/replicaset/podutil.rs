//! Facts about a pod's state that the replica controllers count by.

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub fn millis(t: &Time) -> i64 {
    t.0.as_millisecond()
}

pub fn now_millis() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_millisecond()
}

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Counts toward replicas: not finished and not on its way out.
pub fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_none()
}

fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// When the pod last became ready, if it is ready.
pub fn ready_since(pod: &Pod) -> Option<i64> {
    let c = ready_condition(pod).filter(|c| c.status == "True")?;
    c.last_transition_time.as_ref().map(millis)
}

/// The moment a ready pod counts as available (ready for minReadySeconds), in ms.
pub fn available_at(pod: &Pod, min_ready_seconds: i32) -> Option<i64> {
    if !is_ready(pod) {
        return None;
    }
    if min_ready_seconds <= 0 {
        return Some(i64::MIN);
    }
    // Ready without a transition time: upstream cannot date it, so it never becomes
    // available through minReadySeconds either.
    ready_since(pod).map(|t| t + i64::from(min_ready_seconds) * 1000)
}

pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: i64) -> bool {
    available_at(pod, min_ready_seconds).is_some_and(|t| t < now || min_ready_seconds <= 0)
}

pub fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

pub fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}
