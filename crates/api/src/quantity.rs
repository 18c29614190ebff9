//! Kubernetes resource quantities ("100m", "1.5", "2Gi", "500M", "1e3") as integer
//! milli-units, enough for quota and scheduling arithmetic.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)]
pub struct QuantityError;

/// The quantity in thousandths of its unit (millicores for cpu, millibytes for memory),
/// rounded up as upstream's `MilliValue` does.
pub fn parse_milli(text: &str) -> Result<i128, QuantityError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    if number.is_empty() || number == "+" || number == "-" {
        return Err(QuantityError);
    }
    let negative = number.starts_with('-');
    let digits = number.trim_start_matches(['+', '-']);
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(QuantityError);
    }
    if !int_part
        .chars()
        .chain(frac_part.chars())
        .all(|c| c.is_ascii_digit())
        || int_part.len() > 30
        || frac_part.len() > 30
    {
        return Err(QuantityError);
    }
    // value = mantissa / 10^frac_len, scaled by the suffix, times 1000.
    let mantissa: i128 = format!("{int_part}{frac_part}")
        .parse()
        .map_err(|_| QuantityError)?;
    let (base, exp): (i128, i32) = match suffix {
        "" => (10, 0),
        "n" => (10, -9),
        "u" => (10, -6),
        "m" => (10, -3),
        "k" => (10, 3),
        "M" => (10, 6),
        "G" => (10, 9),
        "T" => (10, 12),
        "P" => (10, 15),
        "E" => (10, 18),
        "Ki" => (2, 10),
        "Mi" => (2, 20),
        "Gi" => (2, 30),
        "Ti" => (2, 40),
        "Pi" => (2, 50),
        "Ei" => (2, 60),
        s if s.starts_with(['e', 'E']) => (10, s[1..].parse().map_err(|_| QuantityError)?),
        _ => return Err(QuantityError),
    };
    let frac_len = frac_part.len() as i32;
    let value = if base == 2 {
        let scaled = mantissa.checked_mul(1i128 << exp).ok_or(QuantityError)? * 1000;
        div_ceil(scaled, 10i128.pow(frac_len as u32))
    } else {
        let e = exp + 3 - frac_len;
        if e >= 0 {
            mantissa
                .checked_mul(10i128.checked_pow(e as u32).ok_or(QuantityError)?)
                .ok_or(QuantityError)?
        } else {
            div_ceil(
                mantissa,
                10i128.checked_pow((-e) as u32).ok_or(QuantityError)?,
            )
        }
    };
    Ok(if negative { -value } else { value })
}

fn div_ceil(a: i128, b: i128) -> i128 {
    (a + b - 1) / b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_forms() {
        assert_eq!(parse_milli("100m"), Ok(100));
        assert_eq!(parse_milli("1.5"), Ok(1500));
        assert_eq!(parse_milli("2"), Ok(2000));
        assert_eq!(parse_milli("2Gi"), Ok(2 * (1 << 30) * 1000));
        assert_eq!(parse_milli("500M"), Ok(500_000_000_000));
        assert_eq!(parse_milli("1e3"), Ok(1_000_000));
        assert_eq!(parse_milli("1n"), Ok(1));
        assert_eq!(parse_milli("0.5Ki"), Ok(512_000));
        assert!(parse_milli("abc").is_err());
        assert!(parse_milli("1Zi").is_err());
        assert!(parse_milli("").is_err());
    }
}
