//! Wall-clock time in milliseconds since the Unix epoch, the unit every
//! stored time uses (`ferry_core::Millis`).
//!
//! `now_millis` reads the system clock. `Clock` is the same reading made
//! injectable: the system clock by default, or a manual clock a test sets
//! and advances, so time-dependent behaviour can be tested without waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry_core::Millis;

/// The system clock now (0 if it is set before 1970).
pub fn now_millis() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0)
}

/// Where the server reads the time from.
///
/// Clones share one manual clock: advancing one advances them all.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system clock (the same as `Clock::default()`).
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that reads `start_ms` until it is set or advanced.
    pub fn manual(start_ms: Millis) -> Self {
        Self { manual: Some(Arc::new(AtomicU64::new(start_ms))) }
    }

    pub fn now(&self) -> Millis {
        match &self.manual {
            Some(ms) => ms.load(Ordering::SeqCst),
            None => now_millis(),
        }
    }

    /// Moves a manual clock forward.
    ///
    /// # Panics
    /// On the system clock, which cannot be moved: a test that tries has a bug.
    pub fn advance(&self, by: Duration) {
        let ms = self.manual_cell("advance");
        ms.fetch_add(by.as_millis() as Millis, Ordering::SeqCst);
    }

    /// Sets a manual clock to `ms` (backwards too).
    ///
    /// # Panics
    /// On the system clock, which cannot be set.
    pub fn set(&self, ms: Millis) {
        self.manual_cell("set").store(ms, Ordering::SeqCst);
    }

    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    fn manual_cell(&self, action: &str) -> &AtomicU64 {
        self.manual.as_deref().unwrap_or_else(|| panic!("cannot {action} the system clock; use Clock::manual"))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.manual {
            Some(ms) => write!(f, "Clock::manual({})", ms.load(Ordering::SeqCst)),
            None => f.write_str("Clock::system"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_clock_is_the_system_clock() {
        let clock = Clock::default();
        assert!(!clock.is_manual());
        let before = now_millis();
        let read = clock.now();
        let after = now_millis();
        assert!(before <= read && read <= after, "{before} <= {read} <= {after}");
    }

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = Clock::manual(1_000);
        let other = clock.clone();
        assert_eq!(clock.now(), 1_000);
        clock.advance(Duration::from_secs(5));
        assert_eq!(other.now(), 6_000);
        other.set(42);
        assert_eq!(clock.now(), 42);
    }

    #[test]
    #[should_panic(expected = "cannot advance the system clock")]
    fn the_system_clock_cannot_be_advanced() {
        Clock::system().advance(Duration::from_secs(1));
    }
}
