//! One probe of one container: the threshold counting and the timing of upstream's
//! prober worker (pkg/kubelet/prober/worker.go).

use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;

use super::check::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Liveness,
    Readiness,
    Startup,
}

impl Kind {
    /// As events name it: "Liveness probe failed: …".
    pub fn title(self) -> &'static str {
        match self {
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
            Kind::Startup => "Startup",
        }
    }
}

/// A probe's timing and thresholds, with upstream's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

fn secs(v: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(u64::try_from(v.unwrap_or(default)).unwrap_or(0))
}

impl Timing {
    pub fn of(probe: &Probe, kind: Kind) -> Self {
        let threshold = |v: Option<i32>, default: u32| {
            v.and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        Timing {
            initial_delay: secs(probe.initial_delay_seconds, 0),
            period: secs(probe.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: secs(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
            // Liveness and startup probes must use 1 (validation enforces it upstream).
            success_threshold: match kind {
                Kind::Readiness => threshold(probe.success_threshold, 1),
                _ => 1,
            },
            failure_threshold: threshold(probe.failure_threshold, 3),
        }
    }
}

/// The published result of a probe and the run of equal attempts behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    timing: Timing,
    /// The result the rest of the kubelet sees.
    pub result: bool,
    last: Option<bool>,
    run: u32,
}

impl Counter {
    /// Readiness and startup start out failed; liveness starts out healthy.
    pub fn new(kind: Kind, timing: Timing) -> Self {
        Counter {
            timing,
            result: kind == Kind::Liveness,
            last: None,
            run: 0,
        }
    }

    /// Whether the latest attempts are failureThreshold failures in a row (a startup
    /// probe that gives up, even though its published result never was true).
    pub fn exhausted(&self) -> bool {
        self.last == Some(false) && self.run >= self.timing.failure_threshold
    }

    /// Counts one attempt; returns Some(new result) when the published result flips.
    /// Unknown outcomes (the probe could not run) neither count nor reset.
    pub fn observe(&mut self, outcome: &Outcome) -> Option<bool> {
        let ok = match outcome {
            Outcome::Success => true,
            Outcome::Failure(_) => false,
            Outcome::Unknown(_) => return None,
        };
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let needed = if ok {
            self.timing.success_threshold
        } else {
            self.timing.failure_threshold
        };
        if self.run < needed || self.result == ok {
            return None;
        }
        self.result = ok;
        Some(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(success: u32, failure: u32) -> Timing {
        Timing {
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    fn fail() -> Outcome {
        Outcome::Failure("x".into())
    }

    #[test]
    fn readiness_needs_success_threshold_in_a_row() {
        let mut c = Counter::new(Kind::Readiness, timing(2, 3));
        assert!(!c.result);
        assert_eq!(c.observe(&Outcome::Success), None);
        assert_eq!(c.observe(&fail()), None);
        assert_eq!(c.observe(&Outcome::Success), None);
        assert_eq!(c.observe(&Outcome::Success), Some(true));
        assert_eq!(c.observe(&Outcome::Success), None);
        assert!(c.result);
    }

    #[test]
    fn liveness_fails_after_failure_threshold_and_unknown_does_not_count() {
        let mut c = Counter::new(Kind::Liveness, timing(1, 3));
        assert!(c.result);
        assert_eq!(c.observe(&fail()), None);
        assert_eq!(c.observe(&Outcome::Unknown("no ip".into())), None);
        assert_eq!(c.observe(&fail()), None);
        assert!(!c.exhausted());
        assert_eq!(c.observe(&fail()), Some(false));
        assert!(c.exhausted());
        assert_eq!(c.observe(&fail()), None);
        assert_eq!(c.observe(&Outcome::Success), Some(true));
    }

    #[test]
    fn defaults_follow_upstream() {
        let t = Timing::of(&Probe::default(), Kind::Liveness);
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!(t.failure_threshold, 3);
        assert_eq!(t.success_threshold, 1);
        let p = Probe {
            success_threshold: Some(3),
            period_seconds: Some(2),
            ..Default::default()
        };
        assert_eq!(Timing::of(&p, Kind::Liveness).success_threshold, 1);
        assert_eq!(Timing::of(&p, Kind::Readiness).success_threshold, 3);
        assert_eq!(
            Timing::of(&p, Kind::Readiness).period,
            Duration::from_secs(2)
        );
    }
}
