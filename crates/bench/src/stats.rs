//! Latency samples to percentiles and rates.

use std::time::Duration;

/// Result of one timed run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Successful operations.
    pub ok: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// First error seen, to explain a non-zero error count.
    pub first_error: Option<String>,
}

/// Nearest-rank percentile of sorted samples (`p` in 0..=100); zero for no samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median of a small set of durations.
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    percentile(&sorted, 50.0)
}

impl Summary {
    pub fn from_samples(mut samples: Vec<Duration>, errors: usize, elapsed: Duration) -> Self {
        samples.sort_unstable();
        Self {
            ok: samples.len(),
            errors,
            elapsed,
            p50: percentile(&samples, 50.0),
            p99: percentile(&samples, 99.0),
            max: samples.last().copied().unwrap_or_default(),
            first_error: None,
        }
    }

    /// Successful operations per second of wall time.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs <= 0.0 {
            0.0
        } else {
            self.ok as f64 / secs
        }
    }

    /// One-line human form: "1,234/s p50 1.20 ms p99 3.40 ms (n=..., errors)".
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}/s, p50 {}, p99 {}, max {} (n={} in {:.2} s",
            thousands(self.rate()),
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.ok,
            self.elapsed.as_secs_f64()
        );
        if self.errors > 0 {
            s.push_str(&format!(", {} errors", self.errors));
            if let Some(e) = &self.first_error {
                s.push_str(&format!(": {e}"));
            }
        }
        s.push(')');
        s
    }
}

/// Milliseconds with a precision that suits the magnitude.
pub fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{} ms", thousands(v))
    }
}

/// Rounds and groups digits: 12345.6 -> "12,346".
pub fn thousands(v: f64) -> String {
    let n = v.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_list(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&s, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&s, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&s, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn median_sorts_first() {
        assert_eq!(median(&ms_list(&[9, 1, 5, 7, 3])), Duration::from_millis(5));
    }

    #[test]
    fn summary_rate_and_tail() {
        let s = Summary::from_samples(ms_list(&[4, 2, 8, 6]), 1, Duration::from_secs(2));
        assert_eq!(s.ok, 4);
        assert_eq!(s.max, Duration::from_millis(8));
        assert_eq!(s.p50, Duration::from_millis(4));
        assert!((s.rate() - 2.0).abs() < 1e-9);
        assert!(s.describe().contains("1 errors"));
    }

    #[test]
    fn number_formatting() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(ms(Duration::from_micros(1500)), "1.50 ms");
        assert_eq!(ms(Duration::from_millis(1234)), "1,234 ms");
        assert_eq!(mib(2048), "2.0 MiB");
    }
}
