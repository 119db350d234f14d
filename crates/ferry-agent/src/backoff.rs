//! Exponential backoff with jitter, and "log once per state change".

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Delays between retries: `initial`, doubling up to `max`, each drawn
/// uniformly from the upper half of its step ("equal jitter"), so that a
/// fleet whose server comes back does not return in lock step.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Self { initial, max: max.max(initial), failures: 0 }
    }

    /// The delay before the next attempt; counts a failure.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.initial.saturating_mul(1u32 << self.failures.min(20)).min(self.max);
        self.failures = self.failures.saturating_add(1);
        let half = step / 2;
        half + half.mul_f64(random_fraction())
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A number in [0, 1): std's randomly keyed hasher is random enough for jitter.
fn random_fraction() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    hasher.write_u128(nanos);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Remembers which kind of failure was last logged, so that a retry loop
/// logs a line when the situation changes, not on every attempt.
#[derive(Debug, Default)]
pub(crate) struct FailureLog {
    current: Option<String>,
}

impl FailureLog {
    /// True when `class` differs from the failure logged last (log it then).
    pub fn changed(&mut self, class: &str) -> bool {
        if self.current.as_deref() == Some(class) {
            return false;
        }
        self.current = Some(class.to_string());
        true
    }

    /// Marks a success; true when it ends a run of failures (log the recovery).
    pub fn recovered(&mut self) -> bool {
        self.current.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let expected_steps = [200u64, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000];
        for step in expected_steps {
            let d = b.next_delay().as_millis() as u64;
            assert!(d >= step / 2 && d <= step, "delay {d} ms outside [{}, {step}]", step / 2);
        }
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(10));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(200));
    }

    #[test]
    fn jitter_varies() {
        let delays: std::collections::HashSet<_> =
            (0..20).map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay()).collect();
        assert!(delays.len() > 1);
    }

    #[test]
    fn failure_log_reports_changes_only() {
        let mut log = FailureLog::default();
        assert!(!log.recovered());
        assert!(log.changed("connect"));
        assert!(!log.changed("connect"));
        assert!(log.changed("HTTP 503"));
        assert!(log.recovered());
        assert!(!log.recovered());
        assert!(log.changed("HTTP 503"));
    }
}
