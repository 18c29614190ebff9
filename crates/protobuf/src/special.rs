//! JSON forms of the apimachinery types whose JSON is not their proto shape:
//! timestamps (RFC 3339, UTC) and Go duration strings.

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's civil-from-days algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats Unix seconds (+ microseconds when `micros` is given) the way
/// metav1.Time / metav1.MicroTime marshal to JSON. Go refuses years outside
/// 0..=9999, and so do we.
pub fn format_time(seconds: i64, micros: Option<u32>) -> Option<String> {
    // Keeps the day arithmetic far from overflow; anything outside is
    // outside Go's accepted year range anyway.
    if !(-62_167_219_200..=253_402_300_799).contains(&seconds) {
        return None;
    }
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    Some(match micros {
        Some(us) => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z"),
        None => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
    })
}

fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
    if s.len() < n || !s.as_bytes()[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

/// Parses an RFC 3339 timestamp into (Unix seconds, nanoseconds).
pub fn parse_time(s: &str) -> Option<(i64, u32)> {
    let (year, r) = digits(s, 4)?;
    let r = r.strip_prefix('-')?;
    let (month, r) = digits(r, 2)?;
    let r = r.strip_prefix('-')?;
    let (day, r) = digits(r, 2)?;
    let r = r.strip_prefix(['T', 't'])?;
    let (hour, r) = digits(r, 2)?;
    let r = r.strip_prefix(':')?;
    let (min, r) = digits(r, 2)?;
    let r = r.strip_prefix(':')?;
    let (sec, mut r) = digits(r, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut nanos: u32 = 0;
    if let Some(frac) = r.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        for (i, b) in frac.bytes().take(n).enumerate() {
            if i < 9 {
                nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
            }
        }
        r = &frac[n..];
    }
    let offset: i64 = match r {
        "Z" | "z" => 0,
        _ => {
            let sign = match r.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, rest) = digits(&r[1..], 2)?;
            let rest = rest.strip_prefix(':')?;
            let (om, rest) = digits(rest, 2)?;
            if !rest.is_empty() || oh > 23 || om > 59 {
                return None;
            }
            sign * (i64::from(oh) * 3600 + i64::from(om) * 60)
        }
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec);
    Some((secs - offset, nanos))
}

/// Appends ".ddd" for the lowest `prec` decimal digits of `v` (trailing zeros
/// dropped, nothing at all when they are zero); returns the remaining value.
fn push_frac(out: &mut String, v: u64, prec: u32) -> u64 {
    let scale = 10u64.pow(prec);
    let frac = v % scale;
    if frac != 0 {
        let s = format!("{frac:0width$}", width = prec as usize);
        out.push('.');
        out.push_str(s.trim_end_matches('0'));
    }
    v / scale
}

/// Renders nanoseconds like Go's `time.Duration.String` ("1h2m3.5s", "10ms").
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            u if u < 1_000 => (0, "ns"),
            u if u < 1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let mut frac = String::new();
        let whole = push_frac(&mut frac, u, prec);
        out = format!("{whole}{frac}{unit}");
    } else {
        let mut frac = String::new();
        let secs = push_frac(&mut frac, u, 9);
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if secs >= 60 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{s}{frac}s"));
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Parses a Go duration string ("1h30m", "1.5s", "-300ms") into nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut r) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if r == "0" {
        return Some(0);
    }
    if r.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !r.is_empty() {
        let int_len = r.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &r[..int_len];
        r = &r[int_len..];
        let mut frac_part = "";
        if let Some(rest) = r.strip_prefix('.') {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &rest[..n];
            r = &rest[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = r
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(r.len(), |(i, _)| i);
        let unit: i128 = match &r[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        r = &r[unit_len..];
        let int_val: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = int_val.checked_mul(unit)?;
        let mut scale = unit;
        for b in frac_part.bytes() {
            scale /= 10;
            value += i128::from(b - b'0') * scale;
        }
        total = total.checked_add(value)?;
        if total > i128::from(i64::MAX) + 1 {
            return None;
        }
    }
    let signed = if neg { -total } else { total };
    i64::try_from(signed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trip() {
        assert_eq!(
            format_time(1_735_689_600, None).unwrap(),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            format_time(0, Some(123_456)).unwrap(),
            "1970-01-01T00:00:00.123456Z"
        );
        assert_eq!(
            format_time(951_782_400, None).unwrap(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            format_time(-62_135_596_800, None).unwrap(),
            "0001-01-01T00:00:00Z"
        );
        assert_eq!(format_time(i64::MAX, None), None);
        assert_eq!(parse_time("2025-01-01T00:00:00Z"), Some((1_735_689_600, 0)));
        assert_eq!(
            parse_time("2025-01-01T02:00:00.5+02:00"),
            Some((1_735_689_600, 500_000_000))
        );
        assert_eq!(parse_time("2000-02-29T00:00:00Z"), Some((951_782_400, 0)));
        assert_eq!(parse_time("2025-13-01T00:00:00Z"), None);
        assert_eq!(parse_time("2025-01-01"), None);
    }

    #[test]
    fn durations_match_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (10_000_000, "10ms"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (3_723_000_000_000, "1h2m3s"),
            (3_600_000_000_000, "1h0m0s"),
            (-2_000_000_000, "-2s"),
        ];
        for (n, s) in cases {
            assert_eq!(format_duration(n), s, "format {n}");
            assert_eq!(parse_duration(s), Some(n), "parse {s}");
        }
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("300us"), Some(300_000));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("xs"), None);
        assert_eq!(parse_duration(""), None);
    }
}
