//! The deletion conditions a Terminating namespace shows, as upstream reports them.

use k8s_openapi::api::core::v1::NamespaceCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeMap;

/// What one pass over a namespace's content found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub discovery_error: Option<String>,
    pub delete_errors: Vec<String>,
    /// `<resource>.<group>` → objects still present.
    pub remaining: BTreeMap<String, usize>,
    /// Finalizer → objects still carrying it.
    pub finalizers: BTreeMap<String, usize>,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.remaining.values().all(|n| *n == 0)
    }
}

/// (type, reason when fine, message when fine), in upstream's order.
const TYPES: &[(&str, &str, &str)] = &[
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
];

/// The failing conditions a report calls for: (type, reason, message).
fn failing(report: &Report) -> BTreeMap<&'static str, (&'static str, String)> {
    let mut out = BTreeMap::new();
    if let Some(e) = &report.discovery_error {
        out.insert(
            "NamespaceDeletionDiscoveryFailure",
            ("DiscoveryFailed", e.clone()),
        );
    }
    if !report.delete_errors.is_empty() {
        let mut msgs = report.delete_errors.clone();
        msgs.sort();
        out.insert(
            "NamespaceDeletionContentFailure",
            (
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    msgs.len(),
                    msgs.join(", ")
                ),
            ),
        );
    }
    let mut remaining: Vec<String> = report
        .remaining
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r} has {n} resource instances"))
        .collect();
    remaining.sort();
    if !remaining.is_empty() {
        out.insert(
            "NamespaceContentRemaining",
            (
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", remaining.join(", ")),
            ),
        );
    }
    let mut finalizers: Vec<String> = report
        .finalizers
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(f, n)| format!("{f} in {n} resource instances"))
        .collect();
    finalizers.sort();
    if !finalizers.is_empty() {
        out.insert(
            "NamespaceFinalizersRemaining",
            (
                "SomeFinalizerRemain",
                format!("Some finalizers are remaining: {}", finalizers.join(", ")),
            ),
        );
    }
    out
}

/// Brings `conditions` in line with `report`; returns whether anything changed. The
/// transition time moves only when a condition's status flips.
pub fn apply(conditions: &mut Vec<NamespaceCondition>, report: &Report, now: Time) -> bool {
    let failing = failing(report);
    let mut changed = false;
    for (kind, ok_reason, ok_message) in TYPES {
        let (status, reason, message) = match failing.get(kind) {
            Some((reason, message)) => ("True", *reason, message.clone()),
            None => ("False", *ok_reason, ok_message.to_string()),
        };
        match conditions.iter_mut().find(|c| c.type_ == *kind) {
            None => {
                conditions.push(NamespaceCondition {
                    type_: kind.to_string(),
                    status: status.into(),
                    reason: Some(reason.into()),
                    message: Some(message),
                    last_transition_time: Some(now.clone()),
                });
                changed = true;
            }
            Some(c) => {
                let same = c.status == status
                    && c.reason.as_deref() == Some(reason)
                    && c.message.as_deref() == Some(message.as_str());
                if !same {
                    if c.status != status {
                        c.last_transition_time = Some(now.clone());
                    }
                    c.status = status.into();
                    c.reason = Some(reason.into());
                    c.message = Some(message);
                    changed = true;
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn remaining_content_and_finalizers_are_reported() {
        let report = Report {
            remaining: [("pods.".to_string(), 2), ("configmaps.".to_string(), 0)].into(),
            finalizers: [("example.com/hold".to_string(), 1)].into(),
            ..Report::default()
        };
        assert!(!report.is_empty());
        let mut conds = Vec::new();
        assert!(apply(&mut conds, &report, time("2024-01-01T00:00:00Z")));
        assert_eq!(conds.len(), 5);
        let get = |t: &str| conds.iter().find(|c| c.type_ == t).unwrap().clone();
        let remaining = get("NamespaceContentRemaining");
        assert_eq!(remaining.status, "True");
        assert_eq!(
            remaining.message.as_deref(),
            Some("Some resources are remaining: pods. has 2 resource instances")
        );
        let fin = get("NamespaceFinalizersRemaining");
        assert_eq!(
            fin.message.as_deref(),
            Some("Some finalizers are remaining: example.com/hold in 1 resource instances")
        );
        assert_eq!(get("NamespaceDeletionContentFailure").status, "False");
    }

    #[test]
    fn unchanged_reports_do_not_rewrite_and_flips_move_the_time() {
        let busy = Report {
            remaining: [("pods.".to_string(), 1)].into(),
            ..Report::default()
        };
        let mut conds = Vec::new();
        apply(&mut conds, &busy, time("2024-01-01T00:00:00Z"));
        assert!(!apply(&mut conds, &busy, time("2024-01-01T00:00:05Z")));
        let done = Report::default();
        assert!(done.is_empty());
        assert!(apply(&mut conds, &done, time("2024-01-01T00:00:09Z")));
        let c = conds
            .iter()
            .find(|c| c.type_ == "NamespaceContentRemaining")
            .unwrap();
        assert_eq!(c.status, "False");
        assert_eq!(c.last_transition_time, Some(time("2024-01-01T00:00:09Z")));
        let d = conds
            .iter()
            .find(|c| c.type_ == "NamespaceDeletionDiscoveryFailure")
            .unwrap();
        assert_eq!(d.last_transition_time, Some(time("2024-01-01T00:00:00Z")));
    }

    #[test]
    fn delete_errors_are_sorted_and_counted() {
        let report = Report {
            delete_errors: vec!["b failed".into(), "a failed".into()],
            ..Report::default()
        };
        let mut conds = Vec::new();
        apply(&mut conds, &report, time("2024-01-01T00:00:00Z"));
        let c = conds
            .iter()
            .find(|c| c.type_ == "NamespaceDeletionContentFailure")
            .unwrap();
        assert_eq!(c.status, "True");
        assert_eq!(
            c.message.as_deref(),
            Some("Failed to delete all resource types, 2 remaining: a failed, b failed")
        );
    }
}
