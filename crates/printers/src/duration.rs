//! Human-readable ages, matching what kube-apiserver puts into AGE-style cells.

use chrono::{DateTime, TimeDelta, Utc};

/// Largest span Go's `time.Duration` can hold, in whole seconds. `time.Since` saturates
/// there, so very old timestamps all print the same age upstream; we mirror that.
const MAX_GO_DURATION_SECS: i64 = i64::MAX / 1_000_000_000;

/// Formats a span the way upstream's `HumanDuration` does: coarse, at most two units,
/// `<invalid>` for clearly negative spans (more than a second of clock skew).
pub fn human_duration(d: TimeDelta) -> String {
    // Truncate toward zero, as Go's int conversions of durations do.
    let secs = match d.num_nanoseconds() {
        Some(ns) => ns / 1_000_000_000,
        None if d < TimeDelta::zero() => i64::MIN,
        None => MAX_GO_DURATION_SECS,
    };
    format_seconds(secs)
}

fn format_seconds(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".to_string();
    }
    if secs < 0 {
        return "0s".to_string();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let dy = days % 365;
        return if dy == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{dy}d")
        };
    }
    format!("{years}y")
}

/// Parses a Kubernetes `Time`/`MicroTime` JSON value. Absent, null, unparsable and the
/// Go zero time all count as "no timestamp", which upstream renders as `<unknown>`.
pub fn parse_time(v: Option<&serde_json::Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?;
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    if t == go_zero_time() {
        None
    } else {
        Some(t)
    }
}

fn go_zero_time() -> DateTime<Utc> {
    // 0001-01-01T00:00:00Z, Go's zero `time.Time`.
    DateTime::<Utc>::from_timestamp(-62_135_596_800, 0).unwrap_or_default()
}

/// Age of a timestamp relative to `now`, or `<unknown>` when there is none.
pub fn since(ts: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match ts {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

/// Convenience: age of the timestamp stored at `v`.
pub fn since_value(v: Option<&serde_json::Value>, now: DateTime<Utc>) -> String {
    since(parse_time(v), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(s: i64) -> String {
        human_duration(TimeDelta::seconds(s))
    }

    #[test]
    fn small_spans() {
        assert_eq!(secs(0), "0s");
        assert_eq!(secs(59), "59s");
        assert_eq!(secs(119), "119s");
        assert_eq!(secs(120), "2m");
        assert_eq!(secs(320), "5m20s");
        assert_eq!(secs(599), "9m59s");
        assert_eq!(secs(600), "10m");
        assert_eq!(secs(179 * 60 + 59), "179m");
    }

    #[test]
    fn hours_days_years() {
        assert_eq!(secs(3 * 3600), "3h");
        assert_eq!(secs(3 * 3600 + 4 * 60 + 5), "3h4m");
        assert_eq!(secs(8 * 3600), "8h");
        assert_eq!(secs(47 * 3600 + 3599), "47h");
        assert_eq!(secs(48 * 3600), "2d");
        assert_eq!(secs(51 * 3600 + 10), "2d3h");
        assert_eq!(secs(8 * 86400), "8d");
        assert_eq!(secs(12 * 86400 + 5 * 3600), "12d");
        assert_eq!(secs(729 * 86400), "729d");
        assert_eq!(secs(730 * 86400), "2y");
        assert_eq!(secs((3 * 365 + 45) * 86400), "3y45d");
        assert_eq!(secs(8 * 365 * 86400), "8y");
        assert_eq!(secs(20 * 365 * 86400 + 86400 * 100), "20y");
    }

    #[test]
    fn negative_spans() {
        assert_eq!(human_duration(TimeDelta::milliseconds(-1999)), "0s");
        assert_eq!(human_duration(TimeDelta::milliseconds(-500)), "0s");
        assert_eq!(secs(-2), "<invalid>");
    }

    #[test]
    fn sub_second_truncates() {
        assert_eq!(human_duration(TimeDelta::milliseconds(1999)), "1s");
    }

    #[test]
    fn timestamps() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            since_value(Some(&json!("2024-05-01T11:54:40Z")), now),
            "5m20s"
        );
        assert_eq!(
            since_value(Some(&json!("2024-05-01T11:59:59.500000Z")), now),
            "0s"
        );
        assert_eq!(since_value(None, now), "<unknown>");
        assert_eq!(since_value(Some(&json!(null)), now), "<unknown>");
        assert_eq!(since_value(Some(&json!("garbage")), now), "<unknown>");
        assert_eq!(
            since_value(Some(&json!("0001-01-01T00:00:00Z")), now),
            "<unknown>"
        );
        assert_eq!(
            since_value(Some(&json!("2024-05-01T12:00:05Z")), now),
            "<invalid>"
        );
    }
}
