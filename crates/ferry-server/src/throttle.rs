//! Limits on what unauthenticated callers can make the server do, per
//! source address:
//!
//! - [`Throttle`]: exponential back-off after repeated failed console
//!   sign-ins or agent enrolments (a few failures are free; then each one
//!   blocks the address for twice as long as the last, up to a cap), so
//!   secrets cannot be guessed at network speed;
//! - [`RowLimiter`]: at most [`AUDIT_ROWS_PER_MINUTE`] audit entries a
//!   minute for refused unauthenticated calls from one address; the rest
//!   are counted and recorded as one summary entry, so refusals cannot
//!   fill the disk.
//!
//! Both tables are in memory and bounded ([`MAX_ADDRESSES`]): when full,
//! the stalest address is forgotten (a throttle) or further addresses are
//! counted together (the row limiter). IPv6 addresses count by their /64,
//! which is what one host usually has to choose from.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses each table remembers at most.
pub const MAX_ADDRESSES: usize = 4096;
/// Audit entries a minute for refused unauthenticated calls of one address.
pub const AUDIT_ROWS_PER_MINUTE: u32 = 30;
const AUDIT_WINDOW: Duration = Duration::from_secs(60);

/// The per-process limits (one each for sign-ins, enrolments, audit rows).
pub struct Throttles {
    pub sign_in: Throttle,
    pub enrol: Throttle,
    pub audit: RowLimiter,
}

impl Default for Throttles {
    fn default() -> Self {
        Self {
            sign_in: Throttle::new(Policy::default()),
            enrol: Throttle::new(Policy::default()),
            audit: RowLimiter::new(),
        }
    }
}

/// The address an abuser is counted by: IPv4 as is (also when mapped into
/// IPv6), IPv6 by its /64.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

/// How a [`Throttle`] backs off.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed before the first block.
    pub free: u32,
    /// The first block; each further failure doubles it.
    pub base: Duration,
    pub max: Duration,
    /// An address with no failure for this long starts afresh.
    pub forget_after: Duration,
    pub capacity: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            free: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            forget_after: Duration::from_secs(15 * 60),
            capacity: MAX_ADDRESSES,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Exponential back-off per address after failed attempts.
pub struct Throttle {
    policy: Policy,
    table: Mutex<HashMap<IpAddr, Failures>>,
}

impl Throttle {
    pub fn new(policy: Policy) -> Self {
        Self { policy, table: Mutex::new(HashMap::new()) }
    }

    /// `Err(wait)` while `ip` is blocked: the attempt must be refused
    /// without looking at its credentials.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        match table.get(&bucket(ip)).and_then(|f| f.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt; returns the block it starts, if any.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let ip = bucket(ip);
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if !table.contains_key(&ip) && table.len() >= self.policy.capacity {
            self.make_room(&mut table, now);
        }
        let entry = table.entry(ip).or_insert(Failures { count: 0, last: now, blocked_until: None });
        if now.saturating_duration_since(entry.last) > self.policy.forget_after {
            *entry = Failures { count: 0, last: now, blocked_until: None };
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let over = entry.count.checked_sub(self.policy.free + 1)?;
        let block = self.policy.base.saturating_mul(1u32 << over.min(30)).min(self.policy.max);
        entry.blocked_until = Some(now + block);
        Some(block)
    }

    /// A success from `ip` clears its failures.
    pub fn succeeded(&self, ip: IpAddr) {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).remove(&bucket(ip));
    }

    /// Forgets addresses whose failures are old; if none are, the one whose
    /// last failure is oldest.
    fn make_room(&self, table: &mut HashMap<IpAddr, Failures>, now: Instant) {
        let forget = self.policy.forget_after;
        table.retain(|_, f| {
            now.saturating_duration_since(f.last) <= forget || f.blocked_until.is_some_and(|until| until > now)
        });
        if table.len() >= self.policy.capacity
            && let Some(stalest) = table.iter().min_by_key(|(_, f)| f.last).map(|(ip, _)| *ip)
        {
            table.remove(&stalest);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().unwrap().len()
    }
}

/// What to do with the audit entry of a refused unauthenticated call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Write it.
    Write,
    /// Count it only.
    Suppress,
}

/// Refusals of one address that were counted, not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// The address, or `None` for addresses counted together when the table was full.
    pub source: Option<IpAddr>,
    pub count: u64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    written: u32,
    suppressed: u64,
}

/// At most [`AUDIT_ROWS_PER_MINUTE`] entries a minute per address for
/// refused unauthenticated calls.
pub struct RowLimiter {
    per_window: u32,
    window: Duration,
    capacity: usize,
    state: Mutex<Rows>,
}

#[derive(Default)]
struct Rows {
    table: HashMap<IpAddr, Window>,
    /// Refusals of addresses that found the table full.
    overflow: u64,
}

impl RowLimiter {
    pub fn new() -> Self {
        Self::with(AUDIT_ROWS_PER_MINUTE, AUDIT_WINDOW, MAX_ADDRESSES)
    }

    fn with(per_window: u32, window: Duration, capacity: usize) -> Self {
        Self { per_window, window, capacity, state: Mutex::new(Rows::default()) }
    }

    /// Decides about one refusal from `ip`; the summaries of windows that
    /// ended (to be written now) go into `ended`.
    pub fn admit(&self, ip: IpAddr, now: Instant, ended: &mut Vec<Suppressed>) -> Admit {
        let ip = bucket(ip);
        let mut rows = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !rows.table.contains_key(&ip) && rows.table.len() >= self.capacity {
            Self::end_windows(&mut rows, self.window, now, ended);
            if rows.table.len() >= self.capacity {
                // Counted together, summarised by the periodic [`RowLimiter::ended`].
                rows.overflow += 1;
                return Admit::Suppress;
            }
        }
        let window = rows.table.entry(ip).or_insert(Window { start: now, written: 0, suppressed: 0 });
        if now.saturating_duration_since(window.start) >= self.window {
            if window.suppressed > 0 {
                ended.push(Suppressed { source: Some(ip), count: window.suppressed });
            }
            *window = Window { start: now, written: 0, suppressed: 0 };
        }
        if window.written < self.per_window {
            window.written += 1;
            Admit::Write
        } else {
            window.suppressed += 1;
            Admit::Suppress
        }
    }

    /// The summaries of every window that has ended (for a periodic flush),
    /// forgetting those windows.
    pub fn ended(&self, now: Instant) -> Vec<Suppressed> {
        let mut rows = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut ended = Vec::new();
        Self::end_windows(&mut rows, self.window, now, &mut ended);
        if rows.overflow > 0 {
            ended.push(Suppressed { source: None, count: std::mem::take(&mut rows.overflow) });
        }
        ended
    }

    fn end_windows(rows: &mut Rows, window: Duration, now: Instant, ended: &mut Vec<Suppressed>) {
        rows.table.retain(|ip, w| {
            let over = now.saturating_duration_since(w.start) >= window;
            if over && w.suppressed > 0 {
                ended.push(Suppressed { source: Some(*ip), count: w.suppressed });
            }
            !over
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let t = Throttle::new(Policy { max: Duration::from_secs(8), ..Policy::default() });
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(t.failed(ip(1), now), None, "the first failures are free");
            assert_eq!(t.check(ip(1), now), Ok(()));
        }
        let mut at = now;
        for expected in [1, 2, 4, 8, 8] {
            assert_eq!(t.failed(ip(1), at), Some(Duration::from_secs(expected)));
            assert_eq!(t.check(ip(1), at), Err(Duration::from_secs(expected)));
            assert_eq!(t.check(ip(2), at), Ok(()), "other addresses are not blocked");
            at += Duration::from_secs(expected);
            assert_eq!(t.check(ip(1), at), Ok(()), "the block ends");
        }
        t.succeeded(ip(1));
        assert_eq!(t.failed(ip(1), at), None, "a success starts afresh");
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t = Throttle::new(Policy::default());
        let now = Instant::now();
        for _ in 0..5 {
            t.failed(ip(1), now);
        }
        let later = now + Duration::from_secs(16 * 60);
        assert_eq!(t.failed(ip(1), later), None);
    }

    #[test]
    fn the_throttle_table_is_bounded() {
        let t = Throttle::new(Policy { capacity: 100, ..Policy::default() });
        let now = Instant::now();
        for i in 0..10_000u32 {
            t.failed(IpAddr::from(i.to_be_bytes()), now + Duration::from_millis(u64::from(i)));
        }
        assert!(t.len() <= 100, "{}", t.len());
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(bucket(a), bucket(b));
        assert_ne!(bucket(a), bucket(other));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(bucket(mapped), ip(1));
    }

    #[test]
    fn rows_are_limited_per_window_and_summarised() {
        let rows = RowLimiter::with(3, Duration::from_secs(60), 100);
        let now = Instant::now();
        let mut ended = Vec::new();
        let admitted: Vec<Admit> = (0..10).map(|_| rows.admit(ip(1), now, &mut ended)).collect();
        assert_eq!(admitted.iter().filter(|a| **a == Admit::Write).count(), 3);
        assert_eq!(rows.admit(ip(2), now, &mut ended), Admit::Write, "per address");
        assert!(ended.is_empty());
        assert!(rows.ended(now + Duration::from_secs(59)).is_empty());
        // The next window writes again and reports the last one's count.
        let next = now + Duration::from_secs(60);
        assert_eq!(rows.admit(ip(1), next, &mut ended), Admit::Write);
        assert_eq!(ended, vec![Suppressed { source: Some(ip(1)), count: 7 }]);
        // A periodic flush reports windows nobody touched again.
        for _ in 0..5 {
            rows.admit(ip(3), next, &mut ended);
        }
        let flushed = rows.ended(next + Duration::from_secs(60));
        assert!(flushed.contains(&Suppressed { source: Some(ip(3)), count: 2 }), "{flushed:?}");
    }

    #[test]
    fn rows_of_too_many_addresses_are_counted_together() {
        let rows = RowLimiter::with(3, Duration::from_secs(60), 10);
        let now = Instant::now();
        let mut ended = Vec::new();
        let written =
            (0..1000u32).filter(|i| rows.admit(IpAddr::from(i.to_be_bytes()), now, &mut ended) == Admit::Write).count();
        assert_eq!(written, 10);
        assert!(ended.is_empty(), "no entry per refusal: {ended:?}");
        assert_eq!(rows.ended(now), vec![Suppressed { source: None, count: 990 }]);
    }
}
