//! Kubernetes resource quantities ("100m", "1.5", "2Gi", "500M", "1e3") as exact integer
//! milli-units, enough for quota sums (sub-milli amounts round up, as upstream's
//! MilliValue does).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    BinarySI,
    DecimalSI,
    DecimalExponent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    /// The amount in thousandths of the unit (millicores, millibytes, milli-objects).
    pub milli: i128,
    /// How to print it; sums keep the format of their first non-zero term.
    pub format: Format,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}")]
pub struct ParseError(pub String);

impl Quantity {
    pub const ZERO: Quantity = Quantity {
        milli: 0,
        format: Format::DecimalSI,
    };

    /// A whole count (objects, pods).
    pub fn count(n: i128) -> Self {
        Quantity {
            milli: n.saturating_mul(1000),
            format: Format::DecimalSI,
        }
    }

    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let err = || ParseError(text.to_string());
        let s = text.trim();
        let (negative, s) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let number_len = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(number_len);
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(err());
        }
        let (exp10, exp2, format) = match suffix {
            "" => (0, 0, Format::DecimalSI),
            "n" => (-9, 0, Format::DecimalSI),
            "u" => (-6, 0, Format::DecimalSI),
            "m" => (-3, 0, Format::DecimalSI),
            "k" => (3, 0, Format::DecimalSI),
            "M" => (6, 0, Format::DecimalSI),
            "G" => (9, 0, Format::DecimalSI),
            "T" => (12, 0, Format::DecimalSI),
            "P" => (15, 0, Format::DecimalSI),
            "E" => (18, 0, Format::DecimalSI),
            "Ki" => (0, 10, Format::BinarySI),
            "Mi" => (0, 20, Format::BinarySI),
            "Gi" => (0, 30, Format::BinarySI),
            "Ti" => (0, 40, Format::BinarySI),
            "Pi" => (0, 50, Format::BinarySI),
            "Ei" => (0, 60, Format::BinarySI),
            s if s.starts_with(['e', 'E']) => {
                let e: i32 = s[1..].parse().map_err(|_| err())?;
                (e, 0, Format::DecimalExponent)
            }
            _ => return Err(err()),
        };
        let digits = format!("{whole}{frac}");
        let mantissa: i128 = digits.parse().map_err(|_| err())?;
        let frac_len = i32::try_from(frac.len()).map_err(|_| err())?;
        // value = mantissa × 10^(exp10 − frac_len) × 2^exp2, expressed in milli-units.
        let scale = exp10 - frac_len + 3;
        let binary = 1i128.checked_shl(exp2).ok_or_else(err)?;
        let scaled = mantissa.checked_mul(binary).ok_or_else(err)?;
        let milli = if scale >= 0 {
            let p = 10i128.checked_pow(scale.unsigned_abs()).ok_or_else(err)?;
            scaled.checked_mul(p).ok_or_else(err)?
        } else {
            match 10i128.checked_pow(scale.unsigned_abs()) {
                // Round up what is below a milli-unit.
                Some(p) => (scaled + p - 1) / p,
                None => i128::from(scaled > 0),
            }
        };
        Ok(Quantity {
            milli: if negative { -milli } else { milli },
            format,
        })
    }

    pub fn plus(self, other: Quantity) -> Quantity {
        Quantity {
            milli: self.milli.saturating_add(other.milli),
            format: if self.milli == 0 {
                other.format
            } else {
                self.format
            },
        }
    }

    pub fn max(self, other: Quantity) -> Quantity {
        if other.milli > self.milli {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for Quantity {
    /// The canonical form upstream prints: the largest suffix leaving a whole number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.milli < 0 { "-" } else { "" };
        let milli = self.milli.unsigned_abs();
        if !milli.is_multiple_of(1000) {
            return write!(f, "{sign}{milli}m");
        }
        let whole = milli / 1000;
        if whole == 0 {
            return write!(f, "0");
        }
        match self.format {
            Format::BinarySI => {
                const SUFFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
                let mut v = whole;
                let mut i = 0;
                while v.is_multiple_of(1024) && i < SUFFIXES.len() {
                    v /= 1024;
                    i += 1;
                }
                match i {
                    0 => write!(f, "{sign}{v}"),
                    i => write!(f, "{sign}{v}{}", SUFFIXES[i - 1]),
                }
            }
            Format::DecimalSI | Format::DecimalExponent => {
                const SUFFIXES: [&str; 6] = ["k", "M", "G", "T", "P", "E"];
                let mut v = whole;
                let mut i = 0;
                while v.is_multiple_of(1000) && i < SUFFIXES.len() {
                    v /= 1000;
                    i += 1;
                }
                match (i, self.format) {
                    (0, _) => write!(f, "{sign}{v}"),
                    (i, Format::DecimalExponent) => write!(f, "{sign}{v}e{}", i * 3),
                    (i, _) => write!(f, "{sign}{v}{}", SUFFIXES[i - 1]),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn milli(s: &str) -> i128 {
        Quantity::parse(s).map(|q| q.milli).unwrap()
    }

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(milli("100m"), 100);
        assert_eq!(milli("1.5"), 1500);
        assert_eq!(milli("0.1"), 100);
        assert_eq!(milli(".5"), 500);
        assert_eq!(milli("2Gi"), 2 * 1024 * 1024 * 1024 * 1000);
        assert_eq!(milli("500M"), 500_000_000_000);
        assert_eq!(milli("1e3"), 1_000_000);
        assert_eq!(milli("1E-3"), 1);
        assert_eq!(milli("1.5Ki"), 1536 * 1000);
        assert_eq!(milli("-2k"), -2_000_000);
        assert_eq!(milli("+4"), 4000);
        // Below a milli-unit rounds up.
        assert_eq!(milli("1n"), 1);
        assert_eq!(milli("1500u"), 2);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "1.2.3", "1Qi", "Gi", "1e", "1ee3", "."] {
            assert!(Quantity::parse(bad).is_err(), "{bad} should not parse");
        }
        assert!(Quantity::parse("1e400").is_err());
    }

    #[test]
    fn prints_canonically() {
        let show = |s: &str| Quantity::parse(s).unwrap().to_string();
        assert_eq!(show("1536Mi"), "1536Mi");
        assert_eq!(show("2048Mi"), "2Gi");
        assert_eq!(show("1.5Ki"), "1536");
        assert_eq!(show("1000"), "1k");
        assert_eq!(show("1500k"), "1500k");
        assert_eq!(show("0.5"), "500m");
        assert_eq!(show("2000m"), "2");
        assert_eq!(show("1e3"), "1e3");
        assert_eq!(show("0Gi"), "0");
    }

    #[test]
    fn sums_keep_the_first_format() {
        let a = Quantity::parse("128Mi").unwrap();
        let b = Quantity::parse("128Mi").unwrap();
        assert_eq!(Quantity::ZERO.plus(a).plus(b).to_string(), "256Mi");
        let cpu = Quantity::parse("250m")
            .unwrap()
            .plus(Quantity::parse("750m").unwrap());
        assert_eq!(cpu.to_string(), "1");
        assert_eq!(Quantity::count(3).to_string(), "3");
    }
}
