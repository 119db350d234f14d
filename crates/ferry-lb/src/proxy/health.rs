//! Active health checks of the built-in proxy's members.

use std::sync::Weak;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;

use super::{Inner, Runtime};
use crate::{Health, HealthCheck};

pub(super) fn encode(h: Health) -> u8 {
    match h {
        Health::Unknown => 0,
        Health::Healthy => 1,
        Health::Unhealthy => 2,
    }
}

pub(super) fn decode(v: u8) -> Health {
    match v {
        1 => Health::Healthy,
        2 => Health::Unhealthy,
        _ => Health::Unknown,
    }
}

/// A member's check history.
#[derive(Debug, Clone, Copy)]
pub(super) struct State {
    pub health: Health,
    successes: u32,
    failures: u32,
}

impl Default for State {
    fn default() -> Self {
        Self { health: Health::Unknown, successes: 0, failures: 0 }
    }
}

impl State {
    /// Records one check's result and applies the thresholds.
    pub(super) fn record(&mut self, ok: bool, check: &HealthCheck) {
        if ok {
            self.successes += 1;
            self.failures = 0;
            if self.successes >= check.healthy_threshold.max(1) {
                self.health = Health::Healthy;
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.failures >= check.unhealthy_threshold.max(1) {
                self.health = Health::Unhealthy;
            }
        }
    }
}

/// Checks every member each interval until the proxy is dropped.
pub(super) async fn run(inner: Weak<Inner>) {
    let interval = match inner.upgrade() {
        Some(inner) => inner.check.interval,
        None => return,
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(strong) = inner.upgrade() else { return };
        for entry in &strong.snapshot().entries {
            let rt = entry.rt.clone();
            let proxy = strong.clone();
            tokio::spawn(async move {
                let ok = probe(&proxy.check, &rt).await;
                let mut state = rt.checks.lock().unwrap();
                let before = state.health;
                state.record(ok, &proxy.check);
                rt.health.store(encode(state.health), Ordering::Relaxed);
                if state.health != before {
                    tracing::info!(member = %rt.name, addr = %rt.addr, health = state.health.as_str(), "member health changed");
                }
            });
        }
    }
}

/// One check on a connection of its own (as a load balancer's checks are).
async fn probe(check: &HealthCheck, rt: &Runtime) -> bool {
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(rt.addr).await.ok()?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = Request::get(check.path.as_str())
            .header("host", rt.addr.to_string())
            .header("user-agent", "ferry-health-check")
            .header("connection", "close")
            .body(Empty::<Bytes>::new())
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        let status = response.status();
        response.into_body().collect().await.ok()?;
        Some(status)
    };
    let answer = tokio::time::timeout(check.timeout, attempt).await;
    matches!(answer, Ok(Some(status)) if (200..400).contains(&status.as_u16()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_need_consecutive_results() {
        let check = HealthCheck { healthy_threshold: 2, unhealthy_threshold: 3, ..Default::default() };
        let mut s = State::default();
        s.record(true, &check);
        assert_eq!(s.health, Health::Unknown);
        s.record(true, &check);
        assert_eq!(s.health, Health::Healthy);
        s.record(false, &check);
        s.record(false, &check);
        s.record(true, &check);
        s.record(false, &check);
        s.record(false, &check);
        assert_eq!(s.health, Health::Healthy, "failures must be consecutive");
        s.record(false, &check);
        assert_eq!(s.health, Health::Unhealthy);
    }
}
