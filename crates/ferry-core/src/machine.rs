//! The deployment state machine: `step(deployment, input, now)` changes the
//! deployment and returns the effects the driver must carry out *after*
//! persisting it.
//!
//! Agents are never sent anything directly: an instance's work is derived
//! from the persisted state ([`agent_command`]), so a command lost to a crash
//! is simply derived again, and every command carries an id built from the
//! deployment, the instance, the attempt and the first event, which the agent
//! uses to run each command once.

use crate::Millis;
use crate::config::MinimumHealthyHosts;
use crate::deployment::{
    Deployment, DeploymentStatus, ErrorCode, ErrorInfo, EventDiagnostics, EventStatus, Phase, RollbackEvent,
    StopRequest, Target, TargetStatus,
};
use crate::events::{Event, Runner};
use crate::planner::{Verdict, minimum_is_invalid, plan};

/// Something that happened to a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Begin a Created or Queued deployment on these instances, in priority order.
    Start { instances: Vec<String> },
    /// An agent began an event of its current command.
    EventStarted { instance: String, attempt: u32, event: Event },
    /// An agent finished an event of its current command.
    EventFinished {
        instance: String,
        attempt: u32,
        event: Event,
        succeeded: bool,
        diagnostics: Option<EventDiagnostics>,
    },
    /// The server finished an event it runs itself (BlockTraffic, AllowTraffic).
    ServerEventFinished {
        instance: String,
        attempt: u32,
        event: Event,
        succeeded: bool,
        diagnostics: Option<EventDiagnostics>,
    },
    /// The instance's agent stopped answering; its in-flight event fails.
    InstanceLost { instance: String, message: String },
    /// Stop the deployment: no new work; in-flight events finish.
    Stop { rollback: Option<bool>, code: ErrorCode, message: String },
    /// Begin a blue/green deployment: the replacement and the original instances.
    StartBlueGreen { green: Vec<String>, blue: Vec<String> },
    /// ContinueDeployment: end the Ready wait, or skip the termination wait.
    Continue { wait: Wait },
    /// Time passed (a Ready or termination wait may have run out).
    Tick,
    /// The traffic shift reached `share` percent on green at step `step`.
    ShiftProgress { step: u32, share: u32 },
    /// The traffic shift ended: all traffic on green, or (failed) back on blue.
    ShiftFinished { succeeded: bool, message: String },
    /// One original instance was retired: it left the group, and was
    /// terminated if `terminated` (the terminate command ran for it).
    OriginalRetired { instance: String, terminated: bool },
    /// The original instances were terminated (or one could not be).
    TerminationFinished { succeeded: bool, message: String },
    /// The revision's bytes are in the server's blob store: pin them; the
    /// deployment may start.
    BundleReady { bundle: crate::deployment::Bundle },
    /// The revision's bytes could not be copied in: the deployment fails
    /// before it starts.
    BundleFailed { code: ErrorCode, message: String },
}

/// The waits ContinueDeployment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Ready,
    Termination,
}

/// What the driver must do after persisting the new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The instance has new work (or must cancel): wake its long poll.
    Notify { instance: String },
    /// The server must carry out `event` for the instance (move its
    /// traffic), then report it with [`Input::ServerEventFinished`]. The
    /// event is already marked in progress; after a restart the driver finds
    /// it so and carries it out again (it must be idempotent).
    ServerEvent { instance: String, attempt: u32, event: Event },
    /// Put these (installed) replacement instances behind the test listener.
    TestTraffic { instances: Vec<String> },
    /// Shift production traffic to the green instances as the plan says,
    /// reporting [`Input::ShiftProgress`] and then [`Input::ShiftFinished`]
    /// (after a restart the driver finds the phase Shifting and resumes).
    Shift,
    /// Terminate these original instances, reporting [`Input::TerminationFinished`].
    Terminate { instances: Vec<String> },
    /// The deployment reached a terminal status: record the follow-ups
    /// (group's last successful revision, rollback, next queued deployment).
    Finished,
}

/// The work an agent should be doing for a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCommand {
    /// `<deployment>.<instance>.<attempt>.<first event index>`: stable for
    /// the life of the command.
    pub id: String,
    pub attempt: u32,
    /// The events to run in order, up to the next event the server runs.
    pub events: Vec<Event>,
    /// The deployment is stopping: finish the running event, start no more.
    pub cancel: bool,
    pub ignore_application_stop_failures: bool,
}

pub const HEALTH_CONSTRAINTS_MESSAGE: &str = "The overall deployment failed because too many individual instances failed deployment, too few healthy instances are available for deployment, or some instances in your deployment group are experiencing problems.";

/// Applies `input` at time `now`. Inputs that no longer apply (a report for
/// an old attempt, a second report of the same event, anything after the
/// end) change nothing, so redelivery is harmless.
pub fn step(d: &mut Deployment, input: Input, now: Millis) -> Vec<Effect> {
    let mut effects = Vec::new();
    if d.status.is_terminal() {
        return effects;
    }
    match input {
        Input::Start { instances } => start(d, instances, now, &mut effects),
        Input::EventStarted { instance, attempt, event } => {
            if let Some(target) = current_target(d, &instance, attempt)
                && let Some(e) = target.events.iter_mut().find(|e| e.name == event && e.status == EventStatus::Pending)
            {
                e.status = EventStatus::InProgress;
                e.start_time = Some(now);
                target.last_updated = now;
            }
        }
        Input::EventFinished { instance, attempt, event, succeeded, diagnostics } => {
            let server_only = d.ecs.is_some();
            let ignore_stop_failure = d.ignore_application_stop_failures;
            let stopping = d.stop.is_some();
            let Some(target) = current_target(d, &instance, attempt) else { return effects };
            let Some(index) = target
                .events
                .iter()
                .position(|e| e.name == event && matches!(e.status, EventStatus::Pending | EventStatus::InProgress))
            else {
                return effects;
            };
            let e = &mut target.events[index];
            e.start_time.get_or_insert(now);
            e.end_time = Some(now);
            e.diagnostics = diagnostics;
            e.status = if succeeded { EventStatus::Succeeded } else { EventStatus::Failed };
            target.last_updated = now;
            let tolerated = !succeeded && event == Event::ApplicationStop && ignore_stop_failure;
            if !succeeded && !tolerated {
                finish_target(target, TargetStatus::Failed, now);
            } else if target.cursor().is_none() {
                finish_target(target, TargetStatus::Succeeded, now);
            } else if stopping {
                finish_target(target, TargetStatus::Failed, now);
            } else if blue_green::at_barrier(target, index + 1) {
                // A replacement instance waits for the others here.
                blue_green::hold(target, index + 1, now);
            } else if runner(server_only, target.events[index + 1].name) == Runner::Server {
                // The agent's command ends here; the server takes over.
                begin_at(target, index + 1, server_only, now, &mut effects);
            }
            advance(d, now, &mut effects);
        }
        Input::ServerEventFinished { instance, attempt, event, succeeded, diagnostics } => {
            let stopping = d.stop.is_some();
            let server_only = d.ecs.is_some();
            let Some(target) = current_target(d, &instance, attempt) else { return effects };
            let Some(index) = target.events.iter().position(|e| {
                e.name == event && e.status == EventStatus::InProgress && runner(server_only, e.name) == Runner::Server
            }) else {
                return effects;
            };
            let e = &mut target.events[index];
            e.end_time = Some(now);
            e.diagnostics = diagnostics;
            e.status = if succeeded { EventStatus::Succeeded } else { EventStatus::Failed };
            target.last_updated = now;
            if !succeeded {
                finish_target(target, TargetStatus::Failed, now);
            } else if target.cursor().is_none() {
                finish_target(target, TargetStatus::Succeeded, now);
            } else if stopping {
                finish_target(target, TargetStatus::Failed, now);
            } else {
                begin_at(target, index + 1, server_only, now, &mut effects);
            }
            advance(d, now, &mut effects);
        }
        Input::InstanceLost { instance, message } => {
            let Some(target) = d.target_mut(&instance) else { return effects };
            if target.status != TargetStatus::InProgress {
                return effects;
            }
            if let Some(index) = target.cursor() {
                let e = &mut target.events[index];
                e.start_time.get_or_insert(now);
                e.end_time = Some(now);
                e.status = EventStatus::Failed;
                e.diagnostics = Some(EventDiagnostics {
                    error_code: "UnknownError".into(),
                    script_name: String::new(),
                    message,
                    log_tail: String::new(),
                });
            }
            finish_target(target, TargetStatus::Failed, now);
            effects.push(Effect::Notify { instance });
            advance(d, now, &mut effects);
        }
        Input::Stop { rollback, code, message } => {
            if d.stop.is_some() {
                return effects;
            }
            d.stop = Some(StopRequest { at: now, rollback, code, message });
            for target in &mut d.targets {
                match target.status {
                    TargetStatus::Pending | TargetStatus::Unknown => finish_target(target, TargetStatus::Skipped, now),
                    TargetStatus::InProgress => {
                        // Not yet started by the agent: nothing runs, nothing to wait for.
                        if target.current_event().is_none() {
                            finish_target(target, TargetStatus::Failed, now);
                        }
                        effects.push(Effect::Notify { instance: target.instance.clone() });
                    }
                    _ => {}
                }
            }
            if matches!(d.status, DeploymentStatus::Created | DeploymentStatus::Queued) {
                // It never started: nothing runs, nothing to wait for (a
                // revision copy still running is ignored when it ends).
                d.fetching = None;
                d.start_time.get_or_insert(now);
                let stop = d.stop.clone().expect("just set");
                finish(d, DeploymentStatus::Stopped, stop.code, stop.message, now, &mut effects);
                return effects;
            }
            advance(d, now, &mut effects);
        }
        Input::StartBlueGreen { green, blue } => blue_green::start(d, green, blue, now, &mut effects),
        Input::Continue { wait } => blue_green::continue_wait(d, wait, now, &mut effects),
        Input::Tick => advance(d, now, &mut effects),
        Input::ShiftProgress { step, share } => {
            if let Some(bg) = d.blue_green.as_mut()
                && bg.phase == Phase::Shifting
            {
                bg.step = step;
                bg.green_share = share;
                bg.step_started = Some(now);
            }
        }
        Input::ShiftFinished { succeeded, message } => {
            blue_green::shift_finished(d, succeeded, message, now, &mut effects)
        }
        Input::OriginalRetired { instance, terminated } => blue_green::original_retired(d, instance, terminated, now),
        Input::TerminationFinished { succeeded, message } => {
            blue_green::termination_finished(d, succeeded, message, now, &mut effects)
        }
        Input::BundleReady { bundle } => {
            if d.fetching.take().is_some() {
                d.revision.bundle = Some(bundle);
            }
        }
        Input::BundleFailed { code, message } => {
            if d.fetching.take().is_some() && matches!(d.status, DeploymentStatus::Created | DeploymentStatus::Queued) {
                d.start_time.get_or_insert(now);
                finish(d, DeploymentStatus::Failed, code, message, now, &mut effects);
            }
        }
    }
    effects
}

/// Whether a waiting deployment has what it needs to start (its bundle).
pub fn ready_to_start(d: &Deployment) -> bool {
    d.fetching.is_none()
}

fn start(d: &mut Deployment, instances: Vec<String>, now: Millis, effects: &mut Vec<Effect>) {
    if !matches!(d.status, DeploymentStatus::Created | DeploymentStatus::Queued) || !ready_to_start(d) {
        return;
    }
    d.status = DeploymentStatus::InProgress;
    d.start_time = Some(now);
    d.targets = instances.iter().map(|i| Target::new(i.clone(), &d.lifecycle_events, now)).collect();
    let n = d.targets.len() as u32;
    if n == 0 {
        let message = if d.only_instances.as_ref().is_some_and(|only| only.is_empty()) {
            "The deployment failed because no instance of the deployment group was outdated: every one already has this revision.".into()
        } else if d.only_instances.is_some() {
            "The deployment failed because none of the instances it was made for is in the deployment group now (they left it or were deregistered).".into()
        } else {
            "The deployment failed because no instances were found for your deployment group. Check your deployment group settings to make sure the tags for your instances correctly identify the instances you want to deploy to, and then try again.".into()
        };
        return finish(d, DeploymentStatus::Failed, ErrorCode::NoInstances, message, now, effects);
    }
    let m = d.minimum_healthy_hosts.resolve(n);
    let one_at_a_time = d.minimum_healthy_hosts == MinimumHealthyHosts::MostConcurrency;
    if minimum_is_invalid(n, m, one_at_a_time) {
        for target in &mut d.targets {
            finish_target(target, TargetStatus::Skipped, now);
        }
        return finish(
            d,
            DeploymentStatus::Failed,
            ErrorCode::HealthConstraintsInvalid,
            format!(
                "The deployment failed because the minimum number of healthy instances ({m}) is not less than the number of instances in the deployment group ({n}). Lower the minimum or add instances."
            ),
            now,
            effects,
        );
    }
    advance(d, now, effects);
}

/// Starts what may start, or ends the deployment.
fn advance(d: &mut Deployment, now: Millis, effects: &mut Vec<Effect>) {
    if d.blue_green.is_some() {
        return blue_green::advance(d, now, effects);
    }
    if !matches!(d.status, DeploymentStatus::InProgress | DeploymentStatus::Baking) {
        return;
    }
    if let Some(stop) = d.stop.clone() {
        if !d.targets.iter().any(|t| t.status == TargetStatus::InProgress) {
            finish(d, DeploymentStatus::Stopped, stop.code, stop.message, now, effects);
        }
        return;
    }
    let server_only = d.ecs.is_some();
    let statuses: Vec<TargetStatus> = d.targets.iter().map(|t| t.status).collect();
    let m = d.minimum_healthy_hosts.resolve(d.targets.len() as u32);
    match plan(&statuses, m) {
        Verdict::Continue { start } => {
            for index in start {
                let target = &mut d.targets[index];
                target.status = TargetStatus::InProgress;
                target.attempt += 1;
                target.last_updated = now;
                match target.cursor() {
                    Some(first) => begin_at(target, first, server_only, now, effects),
                    None => finish_target(target, TargetStatus::Succeeded, now),
                }
            }
        }
        Verdict::Succeeded if d.alarms.watches() && d.alarms.bake_time_ms > 0 => {
            // Bake: the alarms keep watching before it counts as a success.
            let until = *d.bake_until.get_or_insert(now + d.alarms.bake_time_ms);
            if now < until {
                d.status = DeploymentStatus::Baking;
            } else {
                d.status = DeploymentStatus::Succeeded;
                d.complete_time = Some(now);
                effects.push(Effect::Finished);
            }
        }
        Verdict::Succeeded => {
            d.status = DeploymentStatus::Succeeded;
            d.complete_time = Some(now);
            effects.push(Effect::Finished);
        }
        Verdict::HealthConstraints => {
            for target in &mut d.targets {
                if matches!(target.status, TargetStatus::Pending | TargetStatus::Unknown) {
                    finish_target(target, TargetStatus::Skipped, now);
                }
            }
            finish(
                d,
                DeploymentStatus::Failed,
                ErrorCode::HealthConstraints,
                HEALTH_CONSTRAINTS_MESSAGE.into(),
                now,
                effects,
            );
        }
    }
}

fn finish(
    d: &mut Deployment,
    status: DeploymentStatus,
    code: ErrorCode,
    message: String,
    now: Millis,
    effects: &mut Vec<Effect>,
) {
    d.status = status;
    d.error = Some(ErrorInfo { code, message });
    d.complete_time = Some(now);
    effects.push(Effect::Finished);
}

/// Hands the target's event at `index` to whoever runs it: the agent (a
/// command from there on; its long poll is woken) or the server.
fn begin_at(target: &mut Target, index: usize, server_only: bool, now: Millis, effects: &mut Vec<Effect>) {
    let name = target.events[index].name;
    if runner(server_only, name) == Runner::Server {
        let e = &mut target.events[index];
        e.status = EventStatus::InProgress;
        e.start_time = Some(now);
        target.segment_start = None;
        effects.push(Effect::ServerEvent { instance: target.instance.clone(), attempt: target.attempt, event: name });
    } else {
        target.segment_start = Some(index);
        effects.push(Effect::Notify { instance: target.instance.clone() });
    }
}

/// Who runs `event`: the server runs every event of an ECS deployment.
fn runner(server_only: bool, event: Event) -> Runner {
    if server_only { Runner::Server } else { event.runner() }
}

/// The server-run events in progress: (instance, attempt, event), for a
/// driver that restarted to carry out again.
pub fn server_events_in_progress(d: &Deployment) -> Vec<(String, u32, Event)> {
    if !d.status.is_active() {
        return Vec::new();
    }
    d.targets
        .iter()
        .filter(|t| t.status == TargetStatus::InProgress)
        .filter_map(|t| {
            let e = t.current_event()?;
            // A green's AllowTraffic is the traffic shift's, not a job of its own.
            let per_instance = d.runner(e.name) == Runner::Server
                && !(t.label == Some(crate::deployment::Label::Green) && e.name == Event::AllowTraffic);
            per_instance.then(|| (t.instance.clone(), t.attempt, e.name))
        })
        .collect()
}

/// Ends a target: unfinished events are skipped.
fn finish_target(target: &mut Target, status: TargetStatus, now: Millis) {
    target.status = status;
    target.last_updated = now;
    target.segment_start = None;
    for e in &mut target.events {
        if matches!(e.status, EventStatus::Pending | EventStatus::InProgress) {
            if e.status == EventStatus::InProgress {
                e.end_time = Some(now);
            }
            e.status = EventStatus::Skipped;
        }
    }
}

/// The target `instance` if it is running `attempt`.
fn current_target<'a>(d: &'a mut Deployment, instance: &str, attempt: u32) -> Option<&'a mut Target> {
    d.target_mut(instance).filter(|t| t.status == TargetStatus::InProgress && t.attempt == attempt)
}

/// The command `instance` should be carrying out for this deployment, if any.
pub fn agent_command(d: &Deployment, instance: &str) -> Option<AgentCommand> {
    if !d.status.is_active() {
        return None;
    }
    let target = d.target(instance)?;
    if target.status != TargetStatus::InProgress {
        return None;
    }
    let first = target.segment_start?;
    let events: Vec<Event> = target.events[first..]
        .iter()
        .enumerate()
        .take_while(|(i, e)| {
            d.runner(e.name) == Runner::Agent && (*i == 0 || !blue_green::at_barrier(target, first + i))
        })
        .map(|(_, e)| e.name)
        .collect();
    Some(AgentCommand {
        id: format!("{}.{}.{}.{}", d.id, target.instance, target.attempt, first),
        attempt: target.attempt,
        events,
        cancel: d.stop.is_some(),
        ignore_application_stop_failures: d.ignore_application_stop_failures,
    })
}

/// Whether the agent may begin `event` now: the answer to its start report.
/// False once the deployment stopped or the instance was failed meanwhile.
pub fn may_start(d: &Deployment, instance: &str, attempt: u32, event: Event) -> bool {
    d.status.is_active()
        && d.target(instance).is_some_and(|t| {
            t.status == TargetStatus::InProgress
                && t.attempt == attempt
                && t.events.iter().any(|e| e.name == event && e.status == EventStatus::InProgress)
        })
}

/// Whether a finished deployment should be rolled back automatically.
pub fn wants_rollback(d: &Deployment) -> bool {
    if d.creator == crate::deployment::Creator::Rollback {
        return false;
    }
    match d.status {
        DeploymentStatus::Failed => d.auto_rollback.on(RollbackEvent::DeploymentFailure),
        DeploymentStatus::Stopped => match &d.stop {
            Some(stop) if stop.code == ErrorCode::AlarmActive => {
                d.auto_rollback.on(RollbackEvent::DeploymentStopOnAlarm)
            }
            Some(stop) => stop.rollback.unwrap_or_else(|| d.auto_rollback.on(RollbackEvent::DeploymentStopOnRequest)),
            None => false,
        },
        _ => false,
    }
}

mod blue_green;
pub use blue_green::traffic_moved;

/// What a restarted driver must resume of a blue/green deployment: the
/// traffic shift, or the termination of these original instances.
pub fn blue_green_jobs(d: &Deployment) -> (bool, Option<Vec<String>>) {
    let Some(bg) = d.blue_green.as_ref().filter(|_| d.status.is_active()) else { return (false, None) };
    let terminating = (bg.phase == Phase::Terminating).then(|| {
        d.targets
            .iter()
            .filter(|t| t.label == Some(crate::deployment::Label::Blue))
            .map(|t| t.instance.clone())
            .collect()
    });
    (bg.phase == Phase::Shifting, terminating)
}

#[cfg(test)]
mod tests;
