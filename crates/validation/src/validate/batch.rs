//! batch/v1 Job and CronJob validation.

use super::pod::validate_pod_template_spec;
use crate::errors::{invalid, nonnegative, not_supported, required, FieldError, Path};
use crate::selector::{selector_matches, validate_label_selector};
use crate::value::{b, i, sz};
use serde_json::Value;

/// validateJobSpec: the part shared by Jobs and CronJob job templates.
fn validate_job_spec_common(spec: &Value, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for k in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        if let Some(v) = i(spec, k) {
            errs.extend(nonnegative(v, &p.child(k)));
        }
    }
    match spec.get("completionMode").and_then(Value::as_str) {
        None | Some("NonIndexed") => {}
        Some("Indexed") => {
            if spec.get("completions").is_none_or(Value::is_null) {
                errs.push(required(
                    &p.child("completions"),
                    "when completion mode is Indexed",
                ));
            }
        }
        Some(other) => errs.push(not_supported(
            &p.child("completionMode"),
            other,
            &["NonIndexed", "Indexed"],
        )),
    }
    match spec.get("template").filter(|t| !t.is_null()) {
        None => errs.push(required(&p.child("template"), "")),
        Some(t) => {
            errs.extend(validate_pod_template_spec(t, &p.child("template")));
            let rp = t
                .pointer("/spec/restartPolicy")
                .and_then(Value::as_str)
                .unwrap_or("");
            if rp != "OnFailure" && rp != "Never" {
                errs.push(not_supported(
                    &p.child("template").child("spec").child("restartPolicy"),
                    rp,
                    &["OnFailure", "Never"],
                ));
            }
        }
    }
    if let Some(prp) = spec.get("podReplacementPolicy").and_then(Value::as_str) {
        if prp != "TerminatingOrFailed" && prp != "Failed" {
            errs.push(not_supported(
                &p.child("podReplacementPolicy"),
                prp,
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    errs
}

pub fn validate_job_spec(spec: &Value, p: &Path) -> Vec<FieldError> {
    let mut errs = validate_job_spec_common(spec, p);
    match spec.get("selector").filter(|v| !v.is_null()) {
        None => errs.push(required(&p.child("selector"), "")),
        Some(sel) => {
            errs.extend(validate_label_selector(sel, &p.child("selector")));
            let labels = spec.pointer("/template/metadata/labels");
            if !selector_matches(sel, labels) {
                errs.push(invalid(
                    &p.child("template").child("metadata").child("labels"),
                    labels.cloned().unwrap_or(Value::Null),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    errs
}

pub fn validate_cron_job(cj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = cj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.len() > 52 {
        errs.push(invalid(
            &Path::root("metadata").child("name"),
            name,
            "must be no more than 52 characters",
        ));
    }
    let null = Value::Null;
    let spec = cj.get("spec").unwrap_or(&null);
    let p = Path::root("spec");
    let schedule = sz(spec, "schedule");
    if schedule.is_empty() {
        errs.push(required(&p.child("schedule"), ""));
    } else if schedule.contains("TZ") {
        errs.push(invalid(
            &p.child("schedule"),
            schedule,
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ));
    } else if let Err(e) = parse_schedule(schedule) {
        errs.push(invalid(&p.child("schedule"), schedule, e));
    }
    match sz(spec, "concurrencyPolicy") {
        "" => errs.push(required(&p.child("concurrencyPolicy"), "")),
        "Allow" | "Forbid" | "Replace" => {}
        other => errs.push(not_supported(
            &p.child("concurrencyPolicy"),
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    for k in [
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ] {
        if let Some(v) = i(spec, k) {
            errs.extend(nonnegative(v, &p.child(k)));
        }
    }
    let jtp = p.child("jobTemplate");
    let jspec = spec.pointer("/jobTemplate/spec").unwrap_or(&null);
    errs.extend(validate_job_spec_common(jspec, &jtp.child("spec")));
    if let Some(sel) = jspec.get("selector").filter(|v| !v.is_null()) {
        errs.push(invalid(
            &jtp.child("spec").child("selector"),
            sel.clone(),
            "`selector` will be auto-generated",
        ));
    }
    if b(jspec, "manualSelector") == Some(true) {
        errs.push(not_supported(
            &jtp.child("spec").child("manualSelector"),
            true,
            &["nil", "false"],
        ));
    }
    errs
}

const DESCRIPTORS: &[&str] = &[
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// Standard 5-field cron syntax with the error wording of the cron library upstream uses.
pub fn parse_schedule(spec: &str) -> Result<(), String> {
    if let Some(rest) = spec.strip_prefix('@') {
        if DESCRIPTORS.contains(&spec) {
            return Ok(());
        }
        if let Some(dur) = rest.strip_prefix("every ") {
            return if dur.trim().is_empty() {
                Err(format!(
                    "failed to parse duration {spec}: time: invalid duration \"\""
                ))
            } else {
                Ok(())
            };
        }
        return Err(format!("unrecognized descriptor: {spec}"));
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: {}",
            fields.len(),
            spec
        ));
    }
    let bounds = [
        (0, 59, None),
        (0, 23, None),
        (1, 31, None),
        (1, 12, Some(MONTHS)),
        (0, 6, Some(DAYS)),
    ];
    for (field, (lo, hi, names)) in fields.iter().zip(bounds) {
        for part in field.split(',') {
            parse_range(part, lo, hi, names)?;
        }
    }
    Ok(())
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn parse_value(v: &str, lo: u32, names: Option<&[&str]>) -> Result<u32, String> {
    if let Some(names) = names {
        if let Some(pos) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return Ok(pos as u32 + lo);
        }
    }
    v.parse::<u32>().map_err(|_| {
        format!("failed to parse int from {v}: strconv.Atoi: parsing \"{v}\": invalid syntax")
    })
}

fn parse_range(expr: &str, lo: u32, hi: u32, names: Option<&[&str]>) -> Result<(), String> {
    let (range, step) = match expr.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (expr, None),
    };
    let (start, end) = if range == "*" || range == "?" {
        (lo, hi)
    } else if let Some((a, b)) = range.split_once('-') {
        (parse_value(a, lo, names)?, parse_value(b, lo, names)?)
    } else {
        let v = parse_value(range, lo, names)?;
        (v, if step.is_some() { hi } else { v })
    };
    if let Some(s) = step {
        let n = s.parse::<u32>().map_err(|_| {
            format!("failed to parse int from {s}: strconv.Atoi: parsing \"{s}\": invalid syntax")
        })?;
        if n == 0 {
            return Err(format!("step of range should be a positive number: {expr}"));
        }
    }
    if start < lo {
        return Err(format!(
            "beginning of range ({start}) below minimum ({lo}): {expr}"
        ));
    }
    if end > hi {
        return Err(format!("end of range ({end}) above maximum ({hi}): {expr}"));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert!(parse_schedule("*/5 * * * *").is_ok());
        assert!(parse_schedule("0 0 1 jan mon-fri").is_ok());
        assert!(parse_schedule("@hourly").is_ok());
        assert_eq!(
            parse_schedule("* * *").unwrap_err(),
            "expected exactly 5 fields, found 3: * * *"
        );
        assert_eq!(
            parse_schedule("61 * * * *").unwrap_err(),
            "end of range (61) above maximum (59): 61"
        );
        assert!(parse_schedule("x * * * *")
            .unwrap_err()
            .starts_with("failed to parse int from x"));
        assert_eq!(
            parse_schedule("@often").unwrap_err(),
            "unrecognized descriptor: @often"
        );
    }
}
