//! Pods: the READY / STATUS / RESTARTS summary kubectl users read all day.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::descriptions as d;
use crate::duration::{parse_time, since, since_value};
use crate::util::{arr_at, at, bool_at, int_at, name, or_none, str_at};
use crate::{s, wide, Col, AGE, NAME};

pub(crate) const COLUMNS: &[Col] = &[
    NAME,
    s("Ready", d::POD_READY),
    s("Status", d::POD_STATUS),
    s("Restarts", d::POD_RESTARTS),
    AGE,
    wide("IP", d::POD_IP),
    wide("Node", d::POD_NODE_NAME),
    wide("Nominated Node", d::POD_NOMINATED_NODE),
    wide("Readiness Gates", d::POD_READINESS_GATES),
];

/// Restart bookkeeping: a count and the latest `lastState.terminated.finishedAt`.
#[derive(Default, Clone, Copy)]
struct Restarts {
    count: i64,
    last: Option<DateTime<Utc>>,
}

impl Restarts {
    fn add(&mut self, status: &Value) {
        self.count += int_at(status, &["restartCount"]);
        if let Some(term) = at(status, &["lastState", "terminated"]) {
            let finished = parse_time(term.get("finishedAt"));
            if finished > self.last {
                self.last = finished;
            }
        }
    }
}

/// Sidecar-style init containers (`restartPolicy: Always`) keep running next to the
/// app containers, so they count as containers in READY and RESTARTS.
fn restartable_init_names(obj: &Value) -> Vec<&str> {
    arr_at(obj, &["spec", "initContainers"])
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
        .map(|c| str_at(c, &["name"]))
        .collect()
}

fn condition_is_true(obj: &Value, cond_type: &str) -> bool {
    // Only the first condition of a type counts, as upstream's lookup stops there.
    arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == cond_type)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

fn any_condition_true(obj: &Value, cond_type: &str) -> bool {
    arr_at(obj, &["status", "conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == cond_type && str_at(c, &["status"]) == "True")
}

/// Reason text for a terminated state without a reason: signal wins over exit code.
fn exit_text(term: &Value, prefix: &str) -> String {
    let signal = int_at(term, &["signal"]);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!("{prefix}ExitCode:{}", int_at(term, &["exitCode"]))
    }
}

fn non_empty<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub(crate) fn row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let phase = match str_at(obj, &["status", "phase"]) {
        // The registry sets Pending on create, so a stored pod always has a phase.
        "" => "Pending",
        p => p,
    };
    let status_reason = str_at(obj, &["status", "reason"]);
    let mut reason = if status_reason.is_empty() {
        phase.to_string()
    } else {
        status_reason.to_string()
    };
    let gated = arr_at(obj, &["status", "conditions"]).iter().any(|c| {
        str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated"
    });
    if gated {
        reason = "SchedulingGated".to_string();
    }

    let sidecars = restartable_init_names(obj);
    let init_total = arr_at(obj, &["spec", "initContainers"]).len();
    let total = arr_at(obj, &["spec", "containers"]).len() + sidecars.len();
    let mut ready = 0usize;
    let mut restarts = Restarts::default();
    let mut sidecar_restarts = Restarts::default();

    let mut initializing = false;
    for (i, cs) in arr_at(obj, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        restarts.add(cs);
        let is_sidecar = sidecars.contains(&str_at(cs, &["name"]));
        if is_sidecar {
            sidecar_restarts.add(cs);
        }
        let terminated = at(cs, &["state", "terminated"]);
        if terminated.is_some_and(|t| int_at(t, &["exitCode"]) == 0) {
            continue;
        }
        if is_sidecar && bool_at(cs, &["started"]) {
            if bool_at(cs, &["ready"]) {
                ready += 1;
            }
            continue;
        }
        // This init container is the one holding the pod back.
        reason = if let Some(t) = terminated {
            match non_empty(t, &["reason"]) {
                Some(r) => format!("Init:{r}"),
                None => exit_text(t, "Init:"),
            }
        } else {
            match non_empty(cs, &["state", "waiting", "reason"]) {
                Some(r) if r != "PodInitializing" => format!("Init:{r}"),
                _ => format!("Init:{i}/{init_total}"),
            }
        };
        initializing = true;
        break;
    }

    if !initializing || condition_is_true(obj, "Initialized") {
        // Once initialised, only sidecar restarts carry over from the init phase.
        restarts = sidecar_restarts;
        let mut has_running = false;
        for cs in arr_at(obj, &["status", "containerStatuses"]).iter().rev() {
            restarts.add(cs);
            let terminated = at(cs, &["state", "terminated"]);
            if let Some(r) = non_empty(cs, &["state", "waiting", "reason"]) {
                reason = r.to_string();
            } else if let Some(t) = terminated {
                reason = match non_empty(t, &["reason"]) {
                    Some(r) => r.to_string(),
                    None => exit_text(t, ""),
                };
            } else if bool_at(cs, &["ready"]) && at(cs, &["state", "running"]).is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if any_condition_true(obj, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null()) {
        if status_reason == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_string();
        }
    }

    let restarts_text = match restarts.last {
        Some(last) if restarts.count != 0 => {
            format!("{} ({} ago)", restarts.count, since(Some(last), now))
        }
        _ => restarts.count.to_string(),
    };

    vec![
        json!(name(obj)),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_text),
        json!(since_value(
            at(obj, &["metadata", "creationTimestamp"]),
            now
        )),
        json!(or_none(pod_ip(obj))),
        json!(or_none(str_at(obj, &["spec", "nodeName"]))),
        json!(or_none(str_at(obj, &["status", "nominatedNodeName"]))),
        json!(readiness_gates(obj)),
    ]
}

/// First pod IP; older objects may only carry the singular `podIP`.
fn pod_ip(obj: &Value) -> &str {
    match arr_at(obj, &["status", "podIPs"]).first() {
        Some(first) => str_at(first, &["ip"]),
        None => str_at(obj, &["status", "podIP"]),
    }
}

fn readiness_gates(obj: &Value) -> String {
    let gates = arr_at(obj, &["spec", "readinessGates"]);
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let satisfied = gates
        .iter()
        .filter(|g| condition_is_true(obj, str_at(g, &["conditionType"])))
        .count();
    format!("{satisfied}/{}", gates.len())
}

/// The `Completed` row condition upstream sets for finished pods.
pub(crate) fn conditions(obj: &Value) -> Option<Value> {
    let (reason, message) = match str_at(obj, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{
        "type": "Completed",
        "status": "True",
        "reason": reason,
        "message": message,
    }]))
}
