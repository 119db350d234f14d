//! Scaling groups (issue #16): hosts ferry launches and terminates through
//! a provider, kept at a desired capacity between a minimum and a maximum.
//!
//! A launched host runs `ferry agent` with the group's tags and enrols;
//! deployment groups whose tags it matches then bring it up to date
//! ([`crate::joins`]) before it takes traffic. [`plan`] decides, from the
//! group and what the server knows of each host ([`HostFacts`]), what to
//! do next ([`Action`]); the server persists each action before it runs
//! the provider's command, so a crash leaves a host `Launching` (it times
//! out and is terminated: the terminate command cleans up whatever the
//! launch left) or `Terminating` (terminated again), never lost.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::resources::Tag;

/// The most hosts a scaling group may have.
pub const MAX_CAPACITY: u32 = 1000;
/// The first wait after a failed launch; it doubles with each failure in a
/// row, up to [`MAX_LAUNCH_BACKOFF_MS`].
pub const FIRST_LAUNCH_BACKOFF_MS: u64 = 5_000;
pub const MAX_LAUNCH_BACKOFF_MS: u64 = 300_000;
/// How long after a failed terminate command it is tried again.
pub const TERMINATE_RETRY_MS: u64 = 30_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingGroup {
    pub name: String,
    pub provider: Provider,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    /// Every launched host enrols with these tags.
    pub tags: Vec<Tag>,
    pub hosts: Vec<ScalingHost>,
    /// The number in the next host's name (`NAME-N`).
    pub next_host: u32,
    /// Launches that failed in a row, and when the next may start.
    #[serde(default)]
    pub launch_failures: u32,
    #[serde(default)]
    pub launch_after: Option<Millis>,
    /// How long a launched host has to enrol before it is terminated.
    pub launch_timeout_ms: u64,
    /// How long an agent may be silent before its host is replaced.
    pub replace_after_ms: u64,
    /// Deleted: its hosts are terminated, then it goes.
    #[serde(default)]
    pub deleting: bool,
    pub create_time: Millis,
}

/// How hosts are made and unmade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Provider {
    /// Operator commands, run with `sh -c`; the host's name, tags, the join
    /// token and the server's URL are in their environment.
    Command { launch: String, terminate: String },
    /// Spare hosts of a `ferry fleet run --spare N` running in `fleet_dir`.
    Local { fleet_dir: String },
}

impl Provider {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Command { .. } => "command",
            Self::Local { .. } => "local",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingHost {
    pub name: String,
    pub state: HostState,
    /// When it was launched: only an agent that enrolled since is its own.
    pub launched: Millis,
    /// When it entered its state.
    pub since: Millis,
    /// Why it is terminating, or what went wrong.
    #[serde(default)]
    pub reason: Option<String>,
    /// When its failed terminate command is tried again (`None`: at once,
    /// e.g. after a server restart interrupted it).
    #[serde(default)]
    pub retry_at: Option<Millis>,
    /// Terminating a host in service on purpose (scale in, deletion): its
    /// deployment groups' termination hooks run first.
    #[serde(default)]
    pub drain: bool,
    /// The termination deployments made for it (recorded once, so a
    /// restart waits for them instead of making more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Its launch command ran (or runs); its agent has not enrolled yet.
    Launching,
    InService,
    Terminating,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Launching => "launching",
            Self::InService => "in service",
            Self::Terminating => "terminating",
        }
    }
}

/// What the server knows of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostFacts {
    /// An agent enrolled under its name since it was launched.
    pub enrolled: bool,
    /// How long its agent has been silent (`None`: not enrolled).
    pub silent_ms: Option<u64>,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Record the host as Launching, then run the launch command.
    Launch { name: String },
    /// Its agent enrolled.
    InService { name: String },
    /// Record it as Terminating, then run the terminate command (after its
    /// termination hooks when `drain`).
    Terminate { name: String, reason: String, drain: bool },
    /// Run the terminate command again (it failed, or the server restarted).
    RetryTerminate { name: String },
}

/// Checks capacities: `min <= desired <= max <= MAX_CAPACITY`.
pub fn check_capacity(min: u32, desired: u32, max: u32) -> Result<(), String> {
    if max > MAX_CAPACITY {
        return Err(format!("the maximum capacity is at most {MAX_CAPACITY} (got {max})"));
    }
    if min > max {
        return Err(format!("the minimum capacity ({min}) is above the maximum ({max})"));
    }
    if desired < min || desired > max {
        return Err(format!(
            "the desired capacity ({desired}) must be between the minimum ({min}) and the maximum ({max})"
        ));
    }
    Ok(())
}

/// The actions the group needs now. `facts` says what the server knows of
/// a host by name; `running` whether a command for it runs now (nothing
/// else is decided for such a host).
pub fn plan(
    g: &ScalingGroup,
    facts: impl Fn(&str) -> HostFacts,
    running: impl Fn(&str) -> bool,
    now: Millis,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut leaving: Vec<&str> = Vec::new();
    for h in &g.hosts {
        if running(&h.name) {
            if h.state == HostState::Terminating {
                leaving.push(&h.name);
            }
            continue;
        }
        let f = facts(&h.name);
        match h.state {
            HostState::Launching if f.enrolled => actions.push(Action::InService { name: h.name.clone() }),
            HostState::Launching if now.saturating_sub(h.since) >= g.launch_timeout_ms => {
                leaving.push(&h.name);
                actions.push(Action::Terminate {
                    name: h.name.clone(),
                    reason: format!("its agent did not enrol within {} s of the launch", g.launch_timeout_ms / 1000),
                    drain: false,
                });
            }
            HostState::InService if f.silent_ms.is_some_and(|s| s >= g.replace_after_ms) => {
                leaving.push(&h.name);
                actions.push(Action::Terminate {
                    name: h.name.clone(),
                    reason: format!(
                        "lost: its agent has been silent for {} s (replaced after {} s)",
                        f.silent_ms.unwrap_or(0) / 1000,
                        g.replace_after_ms / 1000
                    ),
                    drain: false,
                });
            }
            HostState::Terminating => {
                leaving.push(&h.name);
                if h.retry_at.is_none_or(|at| now >= at) {
                    actions.push(Action::RetryTerminate { name: h.name.clone() });
                }
            }
            _ => {}
        }
    }
    let desired = if g.deleting { 0 } else { g.desired } as usize;
    let mut live: Vec<&ScalingHost> = g.hosts.iter().filter(|h| !leaving.contains(&h.name.as_str())).collect();
    if live.len() > desired {
        // Scale in: hosts still launching first, then the newest; a host
        // whose launch command runs waits for it (a later pass takes it).
        let excess = live.len() - desired;
        live.retain(|h| !running(&h.name));
        live.sort_by_key(|h| (h.state == HostState::InService, std::cmp::Reverse(number(&h.name))));
        for h in live.iter().take(excess) {
            actions.push(Action::Terminate {
                name: h.name.clone(),
                reason: format!("scale in to {desired}"),
                drain: h.state == HostState::InService,
            });
        }
    } else if live.len() < desired && g.launch_after.is_none_or(|at| now >= at) {
        for k in 0..(desired - live.len()) as u32 {
            actions.push(Action::Launch { name: format!("{}-{}", g.name, g.next_host + k) });
        }
    }
    actions
}

/// The number at the end of a host's name (`web-12` → 12).
fn number(name: &str) -> u32 {
    name.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Records an action before its command runs.
pub fn apply(g: &mut ScalingGroup, action: &Action, now: Millis) {
    match action {
        Action::Launch { name } => {
            g.next_host = g.next_host.max(number(name) + 1);
            g.hosts.push(ScalingHost {
                name: name.clone(),
                state: HostState::Launching,
                launched: now,
                since: now,
                reason: None,
                retry_at: None,
                drain: false,
                hooks: None,
            });
        }
        Action::InService { name } => {
            if let Some(h) = g.hosts.iter_mut().find(|h| &h.name == name) {
                h.state = HostState::InService;
                h.since = now;
                h.reason = None;
            }
            g.launch_failures = 0;
            g.launch_after = None;
        }
        Action::Terminate { name, reason, drain } => {
            if let Some(h) = g.hosts.iter_mut().find(|h| &h.name == name) {
                h.state = HostState::Terminating;
                h.since = now;
                h.reason = Some(reason.clone());
                h.drain = *drain;
            }
        }
        Action::RetryTerminate { .. } => {}
    }
}

/// A launch command failed: the host goes (its terminate command is still
/// run, to clean up what the launch left) and launches back off.
pub fn launch_failed(g: &mut ScalingGroup, name: &str, why: &str, now: Millis) {
    g.launch_failures += 1;
    let backoff =
        FIRST_LAUNCH_BACKOFF_MS.saturating_mul(1 << (g.launch_failures - 1).min(10)).min(MAX_LAUNCH_BACKOFF_MS);
    g.launch_after = Some(now + backoff);
    let reason = format!("the launch failed: {why}");
    apply(g, &Action::Terminate { name: name.to_string(), reason, drain: false }, now);
}

/// A terminate command failed: tried again after [`TERMINATE_RETRY_MS`].
pub fn terminate_failed(g: &mut ScalingGroup, name: &str, why: &str, now: Millis) {
    if let Some(h) = g.hosts.iter_mut().find(|h| h.name == name) {
        h.retry_at = Some(now + TERMINATE_RETRY_MS);
        h.reason =
            Some(format!("the terminate command failed (tried again in {} s): {why}", TERMINATE_RETRY_MS / 1000));
    }
}

/// The host is gone.
pub fn terminated(g: &mut ScalingGroup, name: &str) {
    g.hosts.retain(|h| h.name != name);
}

#[cfg(test)]
mod tests;
