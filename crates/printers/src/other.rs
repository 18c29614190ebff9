//! Events (both API groups), batch, coordination, discovery and Scale tables.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::descriptions as d;
use crate::duration::{human_duration, parse_time, since, since_value};
use crate::util::{
    arr_at, at, container_cells, format_label_selector, int_at, int_or, name, str_at,
};
use crate::{int, s, wide, Col, AGE, CONTAINERS, IMAGES, NAME};

fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    json!(since_value(
        at(obj, &["metadata", "creationTimestamp"]),
        now
    ))
}

pub(crate) const EVENT_COLUMNS: &[Col] = &[
    s("Last Seen", d::EVENT_LAST_TIMESTAMP),
    s("Type", d::EVENT_TYPE),
    s("Reason", d::EVENT_REASON),
    s("Object", d::EVENT_INVOLVED_OBJECT),
    wide("Subobject", d::EVENT_FIELD_PATH),
    wide("Source", d::EVENT_SOURCE),
    s("Message", d::EVENT_MESSAGE),
    wide("First Seen", d::EVENT_FIRST_TIMESTAMP),
    wide("Count", d::EVENT_COUNT),
    Col {
        priority: 1,
        ..NAME
    },
];

/// Field names of the two Event schemas. Upstream stores both as the core type, so the
/// `events.k8s.io` names are just renamings of the core ones.
struct EventFields {
    involved: &'static str,
    message: &'static str,
    first: &'static str,
    last: &'static str,
    count: &'static str,
    source: &'static str,
}

const CORE_EVENT: EventFields = EventFields {
    involved: "involvedObject",
    message: "message",
    first: "firstTimestamp",
    last: "lastTimestamp",
    count: "count",
    source: "source",
};

const EVENTS_API_EVENT: EventFields = EventFields {
    involved: "regarding",
    message: "note",
    first: "deprecatedFirstTimestamp",
    last: "deprecatedLastTimestamp",
    count: "deprecatedCount",
    source: "deprecatedSource",
};

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
    }
}

pub(crate) fn event_row(group: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let f = if group == "events.k8s.io" {
        &EVENTS_API_EVENT
    } else {
        &CORE_EVENT
    };
    let first_ts = parse_time(obj.get(f.first));
    let first_seen = match first_ts {
        Some(t) => since(Some(t), now),
        None => since_value(obj.get("eventTime"), now),
    };
    let mut last_seen = match parse_time(obj.get(f.last)) {
        Some(t) => since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = int_at(obj, &[f.count]);
    match obj.get("series").filter(|s| !s.is_null()) {
        Some(series) => {
            last_seen = since_value(series.get("lastObservedTime"), now);
            count = int_at(series, &["count"]);
        }
        // Events from the newer API do not set a count for one-off occurrences.
        None if count == 0 => count = 1,
        None => {}
    }

    let kind = str_at(obj, &[f.involved, "kind"]).to_lowercase();
    let involved_name = str_at(obj, &[f.involved, "name"]);
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    let component = first_non_empty(
        str_at(obj, &[f.source, "component"]),
        str_at(obj, &["reportingController"]),
    );
    let host = first_non_empty(
        str_at(obj, &[f.source, "host"]),
        str_at(obj, &["reportingInstance"]),
    );
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };

    vec![
        json!(last_seen),
        json!(str_at(obj, &["type"])),
        json!(str_at(obj, &["reason"])),
        json!(target),
        json!(str_at(obj, &[f.involved, "fieldPath"])),
        json!(source),
        json!(str_at(obj, &[f.message]).trim()),
        json!(first_seen),
        json!(count),
        json!(name(obj)),
    ]
}

pub(crate) const JOB_COLUMNS: &[Col] = &[
    NAME,
    s("Status", d::JOB_STATUS),
    s("Completions", d::JOB_SUCCEEDED),
    s("Duration", d::JOB_DURATION),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", d::JOB_SELECTOR),
];

/// Status of the first condition of a type is what counts, as upstream looks no further.
fn job_condition(obj: &Value, cond_type: &str) -> bool {
    arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == cond_type)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

fn job_status(obj: &Value) -> &'static str {
    let deleting = at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null());
    if job_condition(obj, "Complete") {
        "Complete"
    } else if job_condition(obj, "Failed") {
        "Failed"
    } else if deleting {
        "Terminating"
    } else if job_condition(obj, "Suspended") {
        "Suspended"
    } else if job_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

fn job_completions(obj: &Value) -> String {
    let succeeded = int_at(obj, &["status", "succeeded"]);
    if let Some(completions) = at(obj, &["spec", "completions"]).and_then(Value::as_i64) {
        return format!("{succeeded}/{completions}");
    }
    // Parallelism defaults to 1 when the job is created.
    let parallelism = int_or(obj, &["spec", "parallelism"], 1);
    if parallelism > 1 {
        format!("{succeeded}/1 of {parallelism}")
    } else {
        format!("{succeeded}/1")
    }
}

fn job_duration(obj: &Value, now: DateTime<Utc>) -> String {
    let Some(start) = parse_time(at(obj, &["status", "startTime"])) else {
        return String::new();
    };
    match parse_time(at(obj, &["status", "completionTime"])) {
        Some(done) => human_duration(done - start),
        None => human_duration(now - start),
    }
}

pub(crate) fn job_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(at(obj, &["spec", "template", "spec"]));
    vec![
        json!(name(obj)),
        json!(job_status(obj)),
        json!(job_completions(obj)),
        json!(job_duration(obj, now)),
        age(obj, now),
        json!(names),
        json!(images),
        json!(format_label_selector(at(obj, &["spec", "selector"]))),
    ]
}

pub(crate) const CRONJOB_COLUMNS: &[Col] = &[
    NAME,
    s("Schedule", d::CRONJOB_SCHEDULE),
    s("Timezone", d::CRONJOB_TIMEZONE),
    Col::new("Suspend", "boolean", d::CRONJOB_SUSPEND, 0),
    int("Active", d::CRONJOB_ACTIVE),
    s("Last Schedule", d::CRONJOB_LAST_SCHEDULE),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", d::JOB_SELECTOR),
];

pub(crate) fn cronjob_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let job_spec = at(obj, &["spec", "jobTemplate", "spec"]);
    let (names, images) = container_cells(job_spec.and_then(|j| at(j, &["template", "spec"])));
    let time_zone = at(obj, &["spec", "timeZone"])
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    // Upstream prints the pointer as text; `suspend` defaults to false on create.
    let suspend = match at(obj, &["spec", "suspend"]).and_then(Value::as_bool) {
        Some(true) => "True",
        _ => "False",
    };
    let last_schedule = match parse_time(at(obj, &["status", "lastScheduleTime"])) {
        Some(t) => since(Some(t), now),
        None if at(obj, &["status", "lastScheduleTime"]).is_some_and(|v| !v.is_null()) => {
            "<unknown>".to_string()
        }
        None => "<none>".to_string(),
    };
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "schedule"])),
        json!(time_zone),
        json!(suspend),
        json!(arr_at(obj, &["status", "active"]).len()),
        json!(last_schedule),
        age(obj, now),
        json!(names),
        json!(images),
        json!(format_label_selector(
            job_spec.and_then(|j| j.get("selector"))
        )),
    ]
}

pub(crate) const LEASE_COLUMNS: &[Col] = &[NAME, s("Holder", d::LEASE_HOLDER), AGE];

pub(crate) fn lease_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "holderIdentity"])),
        age(obj, now),
    ]
}

pub(crate) const ENDPOINTSLICE_COLUMNS: &[Col] = &[
    NAME,
    s("AddressType", d::SLICE_ADDRESS_TYPE),
    s("Ports", d::SLICE_PORTS),
    s("Endpoints", d::SLICE_ENDPOINTS),
    AGE,
];

/// First three entries comma-joined, then ` + N more...`; `<unset>` when empty.
fn list_with_more(items: Vec<String>) -> String {
    const MAX: usize = 3;
    let total = items.len();
    if total > MAX {
        let shown = items[..MAX].join(",");
        return format!("{shown} + {} more...", total - MAX);
    }
    if total == 0 {
        return "<unset>".to_string();
    }
    items.join(",")
}

pub(crate) fn endpointslice_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ports: Vec<String> = arr_at(obj, &["ports"])
        .iter()
        .map(|p| {
            if let Some(n) = p.get("port").and_then(Value::as_i64) {
                n.to_string()
            } else if let Some(n) = p.get("name").and_then(Value::as_str) {
                n.to_string()
            } else {
                "*".to_string()
            }
        })
        .collect();
    let addresses: Vec<String> = arr_at(obj, &["endpoints"])
        .iter()
        .flat_map(|e| arr_at(e, &["addresses"]))
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["addressType"])),
        json!(list_with_more(ports)),
        json!(list_with_more(addresses)),
        age(obj, now),
    ]
}

/// Scale has no `format: name` column upstream, so kubectl shows no `kind/` prefix.
pub(crate) const SCALE_COLUMNS: &[Col] = &[
    s("Name", d::META_NAME),
    int("Desired", d::SCALE_SPEC_REPLICAS),
    int("Available", d::SCALE_STATUS_REPLICAS),
    AGE,
];

pub(crate) fn scale_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(int_at(obj, &["spec", "replicas"])),
        json!(int_at(obj, &["status", "replicas"])),
        age(obj, now),
    ]
}
