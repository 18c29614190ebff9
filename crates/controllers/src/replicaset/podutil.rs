//! Facts about a pod's state that the replica controllers count by.

use crate::shared::CachedPod;

pub fn now_millis() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_millisecond()
}

pub fn phase(pod: &CachedPod) -> &str {
    &pod.phase
}

/// Counts toward replicas: not finished and not on its way out.
pub fn is_active(pod: &CachedPod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && !pod.deleting
}

pub fn is_ready(pod: &CachedPod) -> bool {
    pod.ready
}

/// When the pod last became ready (Unix ms), if it is ready.
pub fn ready_since(pod: &CachedPod) -> Option<i64> {
    pod.ready_since.filter(|_| pod.ready)
}

/// The moment a ready pod counts as available (ready for minReadySeconds), in ms.
pub fn available_at(pod: &CachedPod, min_ready_seconds: i32) -> Option<i64> {
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

pub fn is_available(pod: &CachedPod, min_ready_seconds: i32, now: i64) -> bool {
    available_at(pod, min_ready_seconds).is_some_and(|t| t < now || min_ready_seconds <= 0)
}

pub fn max_restarts(pod: &CachedPod) -> i32 {
    pod.max_restarts
}

pub fn node_name(pod: &CachedPod) -> &str {
    pod.node_name.as_deref().unwrap_or("")
}
