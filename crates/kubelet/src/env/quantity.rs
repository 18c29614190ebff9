//! Just enough of resource.Quantity for resourceFieldRef: exact parsing into nano-units
//! (i128, so even exbibytes fit) and the rounded-up division upstream applies.

/// `q` in nano-units (1 = 1e-9 of the unit). `None` when the text is not a quantity.
pub fn parse_nanos(q: &str) -> Option<i128> {
    let q = q.trim();
    let (negative, q) = match q.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, q.strip_prefix('+').unwrap_or(q)),
    };
    let number_end = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(number_end);
    if number.is_empty() || number == "." {
        return None;
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if frac_part.contains('.') {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let mantissa: i128 = digits.parse().ok()?;
    let (exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.starts_with(['e', 'E']) => (s[1..].parse().ok()?, 0),
        _ => return None,
    };
    let scale = 9 + exp10 - i32::try_from(frac_part.len()).ok()?;
    let mut value = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    if scale >= 0 {
        value = value.checked_mul(10i128.checked_pow(scale.unsigned_abs())?)?;
    } else {
        let div = 10i128.checked_pow(scale.unsigned_abs())?;
        value = (value + div - 1) / div;
    }
    Some(if negative { -value } else { value })
}

/// ceil(value / divisor) as upstream formats resourceFieldRef values; divisor 0 counts as 1.
pub fn ceil_div_text(value_nanos: i128, divisor_nanos: i128) -> String {
    let divisor = if divisor_nanos <= 0 {
        1_000_000_000
    } else {
        divisor_nanos
    };
    let q = value_nanos.div_euclid(divisor);
    let rounded = if value_nanos.rem_euclid(divisor) != 0 {
        q + 1
    } else {
        q
    };
    rounded.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_binary_and_exponent_forms() {
        assert_eq!(parse_nanos("1"), Some(1_000_000_000));
        assert_eq!(parse_nanos("500m"), Some(500_000_000));
        assert_eq!(parse_nanos("0.1"), Some(100_000_000));
        assert_eq!(
            parse_nanos("128Mi"),
            Some(128 * 1024 * 1024 * 1_000_000_000)
        );
        assert_eq!(parse_nanos("1k"), Some(1_000_000_000_000));
        assert_eq!(parse_nanos("1e3"), Some(1_000_000_000_000));
        assert_eq!(parse_nanos("2n"), Some(2));
        assert_eq!(parse_nanos("1Ei"), Some((1i128 << 60) * 1_000_000_000));
        assert_eq!(parse_nanos("abc"), None);
        assert_eq!(parse_nanos("1Xi"), None);
        assert_eq!(parse_nanos(""), None);
    }

    #[test]
    fn division_rounds_up_like_upstream() {
        let cpu = parse_nanos("250m").unwrap();
        assert_eq!(ceil_div_text(cpu, parse_nanos("1").unwrap()), "1");
        assert_eq!(ceil_div_text(cpu, parse_nanos("1m").unwrap()), "250");
        let mem = parse_nanos("64Mi").unwrap();
        assert_eq!(ceil_div_text(mem, parse_nanos("1Mi").unwrap()), "64");
        assert_eq!(ceil_div_text(mem, parse_nanos("1").unwrap()), "67108864");
        assert_eq!(ceil_div_text(mem, parse_nanos("1G").unwrap()), "1");
        assert_eq!(ceil_div_text(0, parse_nanos("1").unwrap()), "0");
    }
}
