//! Load balancers behind one interface, for taking instances out of traffic
//! before a deployment touches them and putting them back once healthy.
//!
//! A target group's wanted state is a list of [`Member`]s (address, weight,
//! [`AdminState`], whether the test listener reaches it). [`Backend::apply`]
//! makes the load balancer match it, idempotently, so the caller can apply
//! the same state again after any restart; [`Backend::status`] reports each
//! member's [`Health`] by the load balancer's own active checks and its
//! in-flight requests, which is what draining waits on.
//!
//! Three backends:
//! - [`proxy::Proxy`]: ferry's own HTTP reverse proxy (hyper): weighted
//!   members, active health checks, draining, keep-alive pooling, a routing
//!   table swapped atomically, and an optional test listener.
//! - [`control::RemoteProxy`]: the same proxy in its own process (`ferry
//!   proxy`, [`daemon::ProxyDaemon`]), driven over a Unix socket, which keeps
//!   serving (and keeps its routing table in a state file) while the server
//!   restarts.
//! - [`haproxy::HaProxy`]: a real HAProxy driven through its runtime API
//!   (`add server`, `set server … state|weight`, `show servers state`, `show stat`).
//!
//! **Architecture Invariant:** knows nothing of deployments, instances as
//! ferry records them, or the store: only addresses, weights and states.

pub mod control;
pub mod daemon;
pub mod haproxy;
pub mod proxy;

use std::net::SocketAddr;
use std::time::Duration;

/// How a member's health is checked: `GET path` every `interval`; a member
/// becomes healthy after `healthy_threshold` answers in 200–399 within
/// `timeout`, and unhealthy after `unhealthy_threshold` failures in a row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HealthCheck {
    pub path: String,
    #[serde(with = "millis", rename = "interval_ms")]
    pub interval: Duration,
    #[serde(with = "millis", rename = "timeout_ms")]
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

impl Default for HealthCheck {
    /// ELB's defaults, but every 5 s rather than 30 s.
    fn default() -> Self {
        Self {
            path: "/".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            healthy_threshold: 3,
            unhealthy_threshold: 2,
        }
    }
}

/// What the load balancer may do with a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminState {
    /// Takes new requests (when healthy and its weight is above 0).
    Ready,
    /// Finishes what it has, takes nothing new; still health-checked.
    Drain,
    /// Out of the load balancer entirely.
    Maint,
}

impl AdminState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Drain => "drain",
            Self::Maint => "maint",
        }
    }
}

/// One member of a target group as it should be.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// Unique in the group (ferry uses the instance name).
    pub name: String,
    pub addr: SocketAddr,
    /// Share of production traffic relative to the other members (0 takes none).
    pub weight: u32,
    pub state: AdminState,
    /// Whether the test listener sends requests to it.
    pub test: bool,
}

/// A member's health by the load balancer's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not checked enough yet.
    Unknown,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// A member as the load balancer has it now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberStatus {
    pub name: String,
    pub addr: SocketAddr,
    pub weight: u32,
    pub state: AdminState,
    pub health: Health,
    /// Requests (built-in proxy) or sessions (HAProxy) in progress.
    pub in_flight: u64,
    /// Requests (sessions) it was sent since the load balancer started.
    pub requests: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LbError {
    /// The load balancer could not be reached or refused a command.
    #[error("{0}")]
    Backend(String),
    /// The wanted state is not valid (two members of one name, …).
    #[error("{0}")]
    Invalid(String),
}

/// A target group's load balancer.
#[derive(Clone)]
pub enum Backend {
    Builtin(proxy::Proxy),
    /// The built-in proxy in its own process (`ferry proxy`).
    Remote(control::RemoteProxy),
    HaProxy(haproxy::HaProxy),
}

impl Backend {
    /// Makes the load balancer's members exactly `members`.
    pub async fn apply(&self, members: &[Member]) -> Result<(), LbError> {
        check_unique(members)?;
        match self {
            Backend::Builtin(p) => {
                p.apply(members);
                Ok(())
            }
            Backend::Remote(r) => r.apply(members).await,
            Backend::HaProxy(h) => h.apply(members).await,
        }
    }

    /// Every member's state, health and in-flight work.
    pub async fn status(&self) -> Result<Vec<MemberStatus>, LbError> {
        match self {
            Backend::Builtin(p) => Ok(p.status()),
            Backend::Remote(r) => Ok(r.status().await?.members),
            Backend::HaProxy(h) => h.status().await,
        }
    }
}

/// Durations as whole milliseconds on the wire and in state files.
mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(serde::Deserialize::deserialize(d)?))
    }
}

fn check_unique(members: &[Member]) -> Result<(), LbError> {
    for (i, m) in members.iter().enumerate() {
        if members[..i].iter().any(|o| o.name == m.name) {
            return Err(LbError::Invalid(format!("member {} is listed twice", m.name)));
        }
    }
    Ok(())
}
