//! Services: a desired count of tasks of one task definition kept running
//! on the hosts that match the service's tags, as ECS's service scheduler
//! does (REPLICA strategy, spread across hosts). Pure: [`plan`] looks at a
//! service, its tasks and the hosts, and says which tasks to start where
//! and which to stop, and why; the server carries it out.
//!
//! Rules, each once:
//! - A host can run tasks when its agent is online, it reported a
//!   container engine, and it carries every tag of the service's selector.
//! - A running task is stopped when its host is lost or no longer matches,
//!   when a container fails its health check (`TaskFailedHealthChecks`), or
//!   when its task set has more tasks than it wants (scale in: the newest
//!   on the busiest hosts first).
//! - A task set wants `ceil(desired × scale% / 100)` tasks. Missing ones are
//!   placed on the eligible host running fewest of the service's tasks
//!   (then by name); a fixed host port is used once per host.
//! - After the task definition changed, tasks of the old task set are
//!   stopped only as tasks of the new one are *ready* (running, healthy
//!   where a health check or a load balancer says so): ECS's rolling update
//!   with minimum healthy 100 % and maximum 200 %. An old task set with no
//!   task left is removed.
//! - Tasks that keep failing to start are throttled: after
//!   [`FAILURES_BEFORE_BACKOFF`] failed tasks in a row, the next start
//!   waits 5 s, doubling up to 5 minutes (ECS's service throttle), so an
//!   unknown image does not turn into a storm of tasks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// Failed tasks in a row before starts are throttled.
pub const FAILURES_BEFORE_BACKOFF: usize = 3;
const BACKOFF_FIRST_MS: Millis = 5_000;
const BACKOFF_MAX_MS: Millis = 300_000;
/// The most tasks a service may want (ECS's default quota is 5 000 per service).
pub const MAX_DESIRED_COUNT: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    /// `family:revision` of the task definition new tasks run.
    pub task_definition: String,
    pub desired_count: u32,
    /// Hosts that may run its tasks carry all of these tags.
    pub hosts: Vec<HostTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<ServiceLoadBalancer>,
    pub task_sets: Vec<TaskSet>,
    pub status: ServiceStatus,
    pub create_time: Millis,
    pub update_time: Millis,
    /// Starts wait until then (the throttle of failing tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_until: Option<Millis>,
    /// What the scheduler did and could not do, newest last (at most
    /// [`MAX_EVENTS`]), as ECS's service events.
    #[serde(default)]
    pub events: Vec<ServiceEvent>,
}

/// Service events kept.
pub const MAX_EVENTS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEvent {
    pub at: Millis,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HostTag {
    pub key: String,
    pub value: String,
}

/// Where a service's tasks take traffic: a ferry target group, reaching
/// `container_name`'s `container_port` at the host port it is published on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLoadBalancer {
    pub target_group: String,
    pub container_name: String,
    pub container_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceStatus {
    Active,
    /// Deleted: its tasks are being stopped; the record goes with the last one.
    Draining,
}

/// A set of tasks of one task definition within a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSet {
    pub id: String,
    pub task_definition: String,
    /// The share of the service's desired count it runs (ECS's `scale`).
    pub scale_percent: u32,
    pub status: TaskSetStatus,
    pub create_time: Millis,
    /// Its share of production traffic, in percent (the task sets of a
    /// service share 100 between them while a deployment shifts traffic).
    #[serde(default = "full")]
    pub weight: u32,
    /// Reached by the target group's test listener.
    #[serde(default)]
    pub test: bool,
    /// The deployment that started it (a replacement task set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// A Draining task set keeps its tasks until then (the termination wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminate_at: Option<Millis>,
}

fn full() -> u32 {
    100
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskSetStatus {
    /// Runs the service's current task definition.
    Primary,
    /// A deployment's replacement, beside the primary until it ends.
    Active,
    /// Replaced: its tasks stop as the primary's become ready.
    Draining,
}

/// One task: the containers of a task definition on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub service: String,
    pub task_set: String,
    pub task_definition: String,
    pub host: String,
    pub desired_status: DesiredStatus,
    pub last_status: LastStatus,
    pub health: TaskHealth,
    /// Whether an essential container has a health check (else `health`
    /// stays Unknown and does not hold the task back).
    pub health_checked: bool,
    /// The load balancer's view of it (None: the service has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_health: Option<TargetHealth>,
    /// Host ports its containers' ports were published on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<TaskPort>,
    /// Fixed host ports its task definition asks for (held on its host).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixed_host_ports: Vec<u16>,
    pub created_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping_at: Option<Millis>,
    /// The agent keeps it running until then (draining from its load balancer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_until: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<StopCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DesiredStatus {
    Running,
    Stopped,
}

/// ECS's `lastStatus`, as far as ferry tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LastStatus {
    /// Placed; its host has not started it yet.
    Pending,
    Running,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskHealth {
    Unknown,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetHealth {
    Initial,
    Healthy,
    Unhealthy,
}

/// ECS's `stopCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopCode {
    TaskFailedToStart,
    EssentialContainerExited,
    /// Stopped by ferry: scaled in, replaced, unhealthy, its host lost.
    ServiceSchedulerInitiated,
    UserInitiated,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskPort {
    pub container_name: String,
    pub container_port: u16,
    pub host_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    pub last_status: LastStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub health: TaskHealth,
}

impl Task {
    /// Still counts toward its task set: meant to run and not stopped.
    pub fn is_live(&self) -> bool {
        self.desired_status == DesiredStatus::Running && self.last_status != LastStatus::Stopped
    }

    /// Running, and healthy wherever something checks it.
    pub fn is_ready(&self) -> bool {
        self.is_live()
            && self.last_status == LastStatus::Running
            && match self.health {
                TaskHealth::Healthy => true,
                TaskHealth::Unknown => !self.health_checked,
                TaskHealth::Unhealthy => false,
            }
            && matches!(self.target_health, None | Some(TargetHealth::Healthy))
    }

    /// Whether it ended without ever running well (for the throttle).
    fn failed(&self) -> bool {
        matches!(self.stop_code, Some(StopCode::TaskFailedToStart | StopCode::EssentialContainerExited))
            || self.stopped_reason.as_deref().is_some_and(|r| r.starts_with(UNHEALTHY))
    }

    /// The host port `container`'s `port` is published on.
    pub fn host_port(&self, container: &str, port: u16) -> Option<u16> {
        self.ports.iter().find(|p| p.container_name == container && p.container_port == port).map(|p| p.host_port)
    }
}

/// A host as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub tags: Vec<HostTag>,
    /// Its agent was heard from recently.
    pub online: bool,
    /// Its agent reported a working container engine.
    pub engine: bool,
    /// Fixed host ports held by live tasks of any service on it.
    pub used_ports: Vec<u16>,
}

impl Service {
    /// Records an event, unless it repeats the newest one.
    pub fn event(&mut self, at: Millis, message: impl Into<String>) {
        let message = message.into();
        if self.events.last().is_some_and(|e| e.message == message) {
            return;
        }
        self.events.push(ServiceEvent { at, message });
        if self.events.len() > MAX_EVENTS {
            self.events.remove(0);
        }
    }

    pub fn matches(&self, host: &Host) -> bool {
        self.hosts.iter().all(|t| host.tags.contains(t))
    }

    pub fn primary(&self) -> Option<&TaskSet> {
        self.task_sets.iter().find(|s| s.status == TaskSetStatus::Primary)
    }

    /// The replacement task set a deployment started, if it is still there.
    pub fn replacement(&self, deployment: &str) -> Option<&TaskSet> {
        self.task_sets.iter().find(|s| s.deployment.as_deref() == Some(deployment))
    }

    /// Each task set's weight per task (for the load balancer): the set's
    /// share spread over its live tasks, as integers whose ratios hold the
    /// shares (a set with weight 0 gets 0).
    pub fn member_weights(&self, tasks: &[Task]) -> BTreeMap<String, u32> {
        let counts: BTreeMap<&str, u64> = self
            .task_sets
            .iter()
            .map(|s| (s.id.as_str(), tasks.iter().filter(|t| t.task_set == s.id && t.is_live()).count() as u64))
            .collect();
        let weighted: Vec<&TaskSet> =
            self.task_sets.iter().filter(|s| s.weight > 0 && counts[s.id.as_str()] > 0).collect();
        // weight_s / n_s for each set, over a common denominator.
        let product: u64 = weighted.iter().map(|s| counts[s.id.as_str()]).product::<u64>().max(1);
        let mut raw: BTreeMap<String, u64> = self
            .task_sets
            .iter()
            .map(|s| {
                let n = counts[s.id.as_str()];
                let w = if s.weight > 0 && n > 0 { u64::from(s.weight) * product / n } else { 0 };
                (s.id.clone(), w)
            })
            .collect();
        let divisor = raw.values().copied().filter(|w| *w > 0).fold(0, gcd);
        if divisor > 1 {
            for w in raw.values_mut() {
                *w /= divisor;
            }
        }
        raw.into_iter().map(|(k, w)| (k, u32::try_from(w).unwrap_or(u32::MAX))).collect()
    }

    /// The tasks a task set wants.
    pub fn wanted(&self, set: &TaskSet) -> u32 {
        if self.status == ServiceStatus::Draining || set.status == TaskSetStatus::Draining {
            return 0;
        }
        (u64::from(self.desired_count) * u64::from(set.scale_percent)).div_ceil(100) as u32
    }
}

/// What to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub start: Vec<Placement>,
    pub stop: Vec<StopTask>,
    /// Task sets to remove (replaced, no task left).
    pub remove_task_sets: Vec<String>,
    /// Tasks that could not be placed, and why (a service event).
    pub unplaced: Option<String>,
    /// Starts are throttled until then.
    pub backoff_until: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub task_set: String,
    pub task_definition: String,
    pub host: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopTask {
    pub task: String,
    pub code: StopCode,
    pub reason: String,
}

/// The reason given to tasks stopped for failed health checks.
pub const UNHEALTHY: &str = "Task failed container health checks";

/// What the scheduler does next for `service`: `tasks` are its tasks
/// (stopped ones too: they feed the throttle), `hosts` every host, `fixed_ports`
/// the fixed host ports each task definition (`family:revision`) of its task
/// sets asks for.
pub fn plan(
    service: &Service,
    tasks: &[Task],
    hosts: &[Host],
    fixed_ports: &BTreeMap<String, Vec<u16>>,
    now: Millis,
) -> Plan {
    let mut plan = Plan::default();
    let eligible: BTreeMap<&str, &Host> =
        hosts.iter().filter(|h| h.online && h.engine && service.matches(h)).map(|h| (h.name.as_str(), h)).collect();
    let mut stopped: Vec<&str> = Vec::new();
    for t in tasks.iter().filter(|t| t.is_live()) {
        let why = match hosts.iter().find(|h| h.name == t.host) {
            None => Some(format!("Host {} is no longer registered", t.host)),
            Some(h) if !h.online => Some(format!("Host {} was lost (its agent went silent)", t.host)),
            Some(h) if !service.matches(h) => Some(format!("Host {} no longer matches the service's tags", t.host)),
            Some(_) if t.health == TaskHealth::Unhealthy => Some(UNHEALTHY.to_string()),
            Some(_) => None,
        };
        if let Some(reason) = why {
            stopped.push(&t.id);
            plan.stop.push(StopTask { task: t.id.clone(), code: StopCode::ServiceSchedulerInitiated, reason });
        }
    }
    let live = |set: &str| -> Vec<&Task> {
        tasks.iter().filter(|t| t.task_set == set && t.is_live() && !stopped.contains(&t.id.as_str())).collect()
    };
    // Live tasks per host (this service's), for spreading.
    let mut load: BTreeMap<&str, usize> = eligible.keys().map(|h| (*h, 0)).collect();
    for t in tasks.iter().filter(|t| t.is_live() && !stopped.contains(&t.id.as_str())) {
        *load.entry(t.host.as_str()).or_default() += 1;
    }

    let throttled = throttle(tasks, now);
    plan.backoff_until = throttled;
    let mut missing_reason = None;
    for set in &service.task_sets {
        let wanted = service.wanted(set) as usize;
        let mut current = live(&set.id);
        if set.status == TaskSetStatus::Draining || service.status == ServiceStatus::Draining {
            // The termination wait of a deployment's original task set.
            if service.status == ServiceStatus::Active && set.terminate_at.is_some_and(|at| now < at) {
                continue;
            }
            // Old tasks stay while the primary has fewer ready tasks than it wants.
            let keep = match (service.status, service.primary()) {
                (ServiceStatus::Active, Some(primary)) => {
                    let ready = live(&primary.id).iter().filter(|t| t.is_ready()).count();
                    (service.wanted(primary) as usize).saturating_sub(ready)
                }
                _ => 0,
            };
            if current.is_empty() && tasks.iter().filter(|t| t.task_set == set.id).all(|t| !t.is_live()) {
                plan.remove_task_sets.push(set.id.clone());
                continue;
            }
            scale_in(&mut plan, &mut current, &mut load, keep, "Replaced by a newer task definition");
            continue;
        }
        if current.len() > wanted {
            scale_in(&mut plan, &mut current, &mut load, wanted, "Scaled in");
            continue;
        }
        let short = wanted - current.len();
        if short == 0 {
            continue;
        }
        if throttled.is_some_and(|until| now < until) {
            continue;
        }
        let ports = fixed_ports.get(&set.task_definition).cloned().unwrap_or_default();
        let mut held: BTreeMap<&str, Vec<u16>> =
            eligible.values().map(|h| (h.name.as_str(), h.used_ports.clone())).collect();
        for _ in 0..short {
            let host = load
                .iter()
                .filter(|(h, _)| held.get(*h).is_some_and(|used| ports.iter().all(|p| !used.contains(p))))
                .min_by_key(|(h, n)| (**n, **h))
                .map(|(h, _)| *h);
            let Some(host) = host else {
                missing_reason = Some(if eligible.is_empty() {
                    let matching = hosts.iter().filter(|h| service.matches(h)).count();
                    format!(
                        "no host can run tasks of {}: {} host(s) match its tags, none online with a container engine",
                        service.name, matching
                    )
                } else {
                    format!(
                        "no host can run another task of {}: host port(s) {:?} are taken on every eligible host",
                        service.name, ports
                    )
                });
                break;
            };
            *load.entry(host).or_default() += 1;
            held.entry(host).or_default().extend(&ports);
            plan.start.push(Placement {
                task_set: set.id.clone(),
                task_definition: set.task_definition.clone(),
                host: host.to_string(),
            });
        }
    }
    plan.unplaced = missing_reason;
    plan
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Stops tasks beyond `keep`: newest first, from the busiest hosts.
fn scale_in(plan: &mut Plan, current: &mut Vec<&Task>, load: &mut BTreeMap<&str, usize>, keep: usize, why: &str) {
    while current.len() > keep {
        let Some((i, _)) = current.iter().enumerate().max_by_key(|(_, t)| {
            (
                // Not yet running first: they serve nobody.
                t.last_status != LastStatus::Running,
                load.get(t.host.as_str()).copied().unwrap_or(0),
                t.created_at,
                t.id.clone(),
            )
        }) else {
            break;
        };
        let t = current.remove(i);
        if let Some(n) = load.get_mut(t.host.as_str()) {
            *n = n.saturating_sub(1);
        }
        plan.stop.push(StopTask { task: t.id.clone(), code: StopCode::ServiceSchedulerInitiated, reason: why.into() });
    }
}

/// When starts may resume after tasks failed in a row, if they are throttled.
fn throttle(tasks: &[Task], now: Millis) -> Option<Millis> {
    let mut ended: Vec<&Task> = tasks.iter().filter(|t| t.last_status == LastStatus::Stopped || t.is_ready()).collect();
    ended.sort_by_key(|t| std::cmp::Reverse(t.stopped_at.unwrap_or(now)));
    let failures: Vec<&&Task> =
        ended.iter().take_while(|t| t.last_status == LastStatus::Stopped && t.failed()).collect();
    if failures.len() < FAILURES_BEFORE_BACKOFF {
        return None;
    }
    let doublings = (failures.len() - FAILURES_BEFORE_BACKOFF).min(10) as u32;
    let wait = (BACKOFF_FIRST_MS << doublings).min(BACKOFF_MAX_MS);
    let last = failures.iter().filter_map(|t| t.stopped_at).max().unwrap_or(now);
    Some(last + wait)
}

/// A service name's rule (ECS: up to 255 letters, digits, hyphens and underscores).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(format!("service name {name:?}: 1 to 255 letters, digits, '-' or '_'")) }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
