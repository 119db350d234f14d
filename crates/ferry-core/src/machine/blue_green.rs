//! Blue/green deployments on servers.
//!
//! The replacement (green) instances are installed first, by the minimum
//! healthy hosts of their own count, while the original (blue) ones keep all
//! the traffic. Then, after an optional Ready wait: every green runs
//! BeforeAllowTraffic; production traffic moves to them as the config's
//! traffic routing says (all at once, canary or linear: a server job,
//! [`Effect::Shift`], that reports each step and rolls the weights back to
//! blue if a green turns unhealthy); they run AfterAllowTraffic; the blues
//! run BeforeBlockTraffic, BlockTraffic (drained and removed) and
//! AfterBlockTraffic; and after the termination wait they are terminated
//! ([`Effect::Terminate`]) unless kept alive.
//!
//! A green waits for the others at two barriers: before BeforeAllowTraffic
//! (installed: status Ready) and before AllowTraffic (which the shift does
//! for all of them at once).

use super::{Effect, Wait, begin_at, finish, finish_target};
use crate::Millis;
use crate::config::MinimumHealthyHosts;
use crate::deployment::{Deployment, DeploymentStatus, ErrorCode, EventStatus, Label, Phase, Target, TargetStatus};
use crate::events::{BLUE_GREEN_BLUE, BLUE_GREEN_GREEN, Event, TRAFFIC_ONLY_GREEN};
use crate::planner::{Verdict, minimum_is_invalid, plan};

const BEFORE_ALLOW: Event = Event::BeforeAllowTraffic;
const ALLOW: Event = Event::AllowTraffic;

/// Whether a command must not run into the target's event `index`.
pub(super) fn at_barrier(target: &Target, index: usize) -> bool {
    target.label == Some(Label::Green)
        && target.events.get(index).is_some_and(|e| e.name == BEFORE_ALLOW || e.name == ALLOW)
}

/// Parks a green at the barrier `index`.
pub(super) fn hold(target: &mut Target, index: usize, now: Millis) {
    target.segment_start = None;
    target.last_updated = now;
    if target.events[index].name == BEFORE_ALLOW {
        target.status = TargetStatus::Ready;
    }
}

fn labelled(d: &Deployment, label: Label) -> Vec<usize> {
    (0..d.targets.len()).filter(|i| d.targets[*i].label == Some(label)).collect()
}

pub(super) fn start(d: &mut Deployment, green: Vec<String>, blue: Vec<String>, now: Millis, effects: &mut Vec<Effect>) {
    if !matches!(d.status, DeploymentStatus::Created | DeploymentStatus::Queued) || !super::ready_to_start(d) {
        return;
    }
    let Some(bg) = d.blue_green.as_mut() else { return };
    bg.phase = Phase::Install;
    let traffic_only = bg.traffic_only;
    let green_events: &[Event] = if traffic_only { &TRAFFIC_ONLY_GREEN } else { &BLUE_GREEN_GREEN };
    d.status = DeploymentStatus::InProgress;
    d.start_time = Some(now);
    d.targets = green
        .iter()
        .map(|g| Target { label: Some(Label::Green), ..Target::new(g.clone(), green_events, now) })
        .chain(
            blue.iter().map(|b| Target { label: Some(Label::Blue), ..Target::new(b.clone(), &BLUE_GREEN_BLUE, now) }),
        )
        .collect();
    if green.is_empty() {
        return finish(
            d,
            DeploymentStatus::Failed,
            ErrorCode::NoInstances,
            "The blue/green deployment found no replacement instances: tag the instances of the green fleet (or give the deployment's target instances), or free some of the group's instances from traffic.".into(),
            now,
            effects,
        );
    }
    let n = green.len() as u32;
    let m = d.minimum_healthy_hosts.resolve(n);
    if !traffic_only && minimum_is_invalid(n, m, d.minimum_healthy_hosts == MinimumHealthyHosts::MostConcurrency) {
        for t in &mut d.targets {
            finish_target(t, TargetStatus::Skipped, now);
        }
        return finish(
            d,
            DeploymentStatus::Failed,
            ErrorCode::HealthConstraintsInvalid,
            format!(
                "The deployment failed because the minimum number of healthy instances ({m}) is not less than the number of replacement instances ({n})."
            ),
            now,
            effects,
        );
    }
    advance(d, now, effects);
}

fn set_phase(d: &mut Deployment, phase: Phase) {
    if let Some(bg) = d.blue_green.as_mut() {
        bg.phase = phase;
    }
}

/// Starts the green or blue targets `indices` at their next event. During
/// the install, a green already at BeforeAllowTraffic (a rollback's, with
/// nothing to install) is ready at once.
fn begin(d: &mut Deployment, indices: &[usize], installing: bool, now: Millis, effects: &mut Vec<Effect>) {
    for &i in indices {
        let t = &mut d.targets[i];
        if matches!(t.status, TargetStatus::Failed | TargetStatus::Skipped | TargetStatus::Succeeded) {
            continue;
        }
        t.status = TargetStatus::InProgress;
        t.attempt += 1;
        t.last_updated = now;
        match t.cursor() {
            Some(first) if installing && at_barrier(t, first) => hold(t, first, now),
            Some(first) => begin_at(t, first, false, now, effects),
            None => finish_target(t, TargetStatus::Succeeded, now),
        }
    }
}

pub(super) fn advance(d: &mut Deployment, now: Millis, effects: &mut Vec<Effect>) {
    if !d.status.is_active() {
        return;
    }
    // In place is `machine::advance`'s: a deployment without a plan never gets here.
    let Some(bg) = d.blue_green.clone() else { return };
    if d.stop.is_some() {
        let busy = d.targets.iter().any(|t| t.status == TargetStatus::InProgress)
            || matches!(bg.phase, Phase::Shifting | Phase::Terminating);
        if !busy {
            let stop = d.stop.clone().expect("checked");
            finish(d, DeploymentStatus::Stopped, stop.code, stop.message, now, effects);
        }
        return;
    }
    let greens = labelled(d, Label::Green);
    let blues = labelled(d, Label::Blue);
    match bg.phase {
        Phase::Install => {
            // Installed greens count as done; the planner runs over greens only.
            let statuses: Vec<TargetStatus> = greens
                .iter()
                .map(|&i| match d.targets[i].status {
                    TargetStatus::Ready => TargetStatus::Succeeded,
                    other => other,
                })
                .collect();
            let m = d.minimum_healthy_hosts.resolve(greens.len() as u32);
            match plan(&statuses, m) {
                Verdict::Continue { start } => {
                    let chosen: Vec<usize> = start.iter().map(|k| greens[*k]).collect();
                    begin(d, &chosen, true, now, effects);
                    // Greens with nothing to install (a rollback's) are ready at once.
                    if chosen.iter().any(|&i| d.targets[i].status == TargetStatus::Ready) {
                        advance(d, now, effects);
                    }
                }
                Verdict::HealthConstraints => {
                    for &i in &greens {
                        if matches!(d.targets[i].status, TargetStatus::Pending | TargetStatus::Unknown) {
                            finish_target(&mut d.targets[i], TargetStatus::Skipped, now);
                        }
                    }
                    skip_blues(d, now);
                    finish(
                        d,
                        DeploymentStatus::Failed,
                        ErrorCode::HealthConstraints,
                        super::HEALTH_CONSTRAINTS_MESSAGE.into(),
                        now,
                        effects,
                    );
                }
                Verdict::Succeeded => {
                    let ready: Vec<String> = greens
                        .iter()
                        .filter(|&&i| d.targets[i].status == TargetStatus::Ready)
                        .map(|&i| d.targets[i].instance.clone())
                        .collect();
                    effects.push(Effect::TestTraffic { instances: ready });
                    match bg.ready {
                        crate::deployment::ReadyAction::Stop { wait_ms } => {
                            d.status = DeploymentStatus::Ready;
                            set_phase(d, Phase::Ready);
                            if let Some(bg) = d.blue_green.as_mut() {
                                bg.deadline = Some(now + wait_ms);
                            }
                        }
                        crate::deployment::ReadyAction::Continue => to_before_allow(d, now, effects),
                    }
                }
            }
        }
        Phase::Ready => {
            if bg.deadline.is_some_and(|deadline| now >= deadline) {
                finish(
                    d,
                    DeploymentStatus::Stopped,
                    ErrorCode::Timeout,
                    "The deployment was not continued (ContinueDeployment) before its Ready wait ran out; traffic stayed on the original instances.".into(),
                    now,
                    effects,
                );
            }
        }
        Phase::BeforeAllow => {
            let live: Vec<usize> =
                greens.iter().copied().filter(|&i| d.targets[i].status != TargetStatus::Failed).collect();
            if live.is_empty() {
                skip_blues(d, now);
                return finish(
                    d,
                    DeploymentStatus::Failed,
                    ErrorCode::HealthConstraints,
                    "Every replacement instance failed before traffic moved to it; traffic stayed on the original instances.".into(),
                    now,
                    effects,
                );
            }
            let all_waiting = live.iter().all(|&i| {
                let t = &d.targets[i];
                t.segment_start.is_none() && t.cursor().is_some_and(|c| t.events[c].name == ALLOW)
            });
            if all_waiting {
                for &i in &live {
                    let t = &mut d.targets[i];
                    if let Some(c) = t.cursor() {
                        t.events[c].status = EventStatus::InProgress;
                        t.events[c].start_time = Some(now);
                    }
                    t.last_updated = now;
                }
                set_phase(d, Phase::Shifting);
                effects.push(Effect::Shift);
            }
        }
        Phase::Shifting | Phase::Terminating | Phase::Done => {}
        Phase::AfterAllow => {
            let running = greens.iter().any(|&i| d.targets[i].status == TargetStatus::InProgress);
            if !running {
                set_phase(d, Phase::Block);
                begin(d, &blues, false, now, effects);
                advance(d, now, effects);
            }
        }
        Phase::Block => {
            if blues.iter().any(|&i| d.targets[i].status == TargetStatus::InProgress) {
                return;
            }
            if let Some(&failed) = blues.iter().find(|&&i| d.targets[i].status == TargetStatus::Failed) {
                let name = d.targets[failed].instance.clone();
                return finish(
                    d,
                    DeploymentStatus::Failed,
                    ErrorCode::HealthConstraints,
                    format!("The original instance {name} could not be taken out of traffic."),
                    now,
                    effects,
                );
            }
            match bg.blue {
                crate::deployment::BlueAction::Terminate { wait_ms } => {
                    set_phase(d, Phase::TerminationWait);
                    if let Some(bg) = d.blue_green.as_mut() {
                        bg.deadline = Some(now + wait_ms);
                    }
                    advance(d, now, effects);
                }
                crate::deployment::BlueAction::KeepAlive => succeed(d, now, effects),
            }
        }
        Phase::TerminationWait => {
            if bg.deadline.is_some_and(|deadline| now >= deadline) {
                set_phase(d, Phase::Terminating);
                let instances = blues.iter().map(|&i| d.targets[i].instance.clone()).collect();
                effects.push(Effect::Terminate { instances });
            }
        }
    }
}

fn skip_blues(d: &mut Deployment, now: Millis) {
    for t in d.targets.iter_mut().filter(|t| t.label == Some(Label::Blue)) {
        if matches!(t.status, TargetStatus::Pending | TargetStatus::Unknown) {
            finish_target(t, TargetStatus::Skipped, now);
        }
    }
}

fn succeed(d: &mut Deployment, now: Millis, effects: &mut Vec<Effect>) {
    set_phase(d, Phase::Done);
    d.status = DeploymentStatus::Succeeded;
    d.complete_time = Some(now);
    effects.push(Effect::Finished);
}

fn to_before_allow(d: &mut Deployment, now: Millis, effects: &mut Vec<Effect>) {
    d.status = DeploymentStatus::InProgress;
    set_phase(d, Phase::BeforeAllow);
    if let Some(bg) = d.blue_green.as_mut() {
        bg.deadline = None;
    }
    let ready: Vec<usize> =
        labelled(d, Label::Green).into_iter().filter(|&i| d.targets[i].status == TargetStatus::Ready).collect();
    for &i in &ready {
        // Back in flight, from BeforeAllowTraffic.
        d.targets[i].status = TargetStatus::Pending;
    }
    begin(d, &ready, false, now, effects);
    advance(d, now, effects);
}

pub(super) fn continue_wait(d: &mut Deployment, wait: Wait, now: Millis, effects: &mut Vec<Effect>) {
    let Some(bg) = d.blue_green.clone() else { return };
    match (wait, bg.phase) {
        (Wait::Ready, Phase::Ready) => to_before_allow(d, now, effects),
        (Wait::Termination, Phase::TerminationWait) => {
            if let Some(bg) = d.blue_green.as_mut() {
                bg.deadline = Some(now);
            }
            advance(d, now, effects);
        }
        _ => {}
    }
}

pub(super) fn shift_finished(
    d: &mut Deployment,
    succeeded: bool,
    message: String,
    now: Millis,
    effects: &mut Vec<Effect>,
) {
    if d.blue_green.as_ref().is_none_or(|bg| bg.phase != Phase::Shifting) {
        return;
    }
    let greens = labelled(d, Label::Green);
    for &i in &greens {
        let t = &mut d.targets[i];
        let Some(c) =
            t.cursor().filter(|&c| t.events[c].name == ALLOW && t.events[c].status == EventStatus::InProgress)
        else {
            continue;
        };
        t.events[c].end_time = Some(now);
        t.events[c].status = if succeeded { EventStatus::Succeeded } else { EventStatus::Failed };
        t.events[c].diagnostics = Some(crate::deployment::EventDiagnostics {
            error_code: if succeeded { "Success" } else { "UnknownError" }.into(),
            script_name: String::new(),
            message: message.clone(),
            log_tail: String::new(),
        });
        t.last_updated = now;
        if !succeeded {
            finish_target(t, TargetStatus::Failed, now);
        }
    }
    if !succeeded {
        skip_blues(d, now);
        set_phase(d, Phase::Done);
        if let Some(stop) = d.stop.clone() {
            return finish(d, DeploymentStatus::Stopped, stop.code, stop.message, now, effects);
        }
        return finish(
            d,
            DeploymentStatus::Failed,
            ErrorCode::CustomerApplicationUnhealthy,
            format!("Traffic moved back to the original instances: {message}"),
            now,
            effects,
        );
    }
    set_phase(d, Phase::AfterAllow);
    if d.stop.is_some() {
        return advance(d, now, effects);
    }
    for &i in &greens {
        let t = &mut d.targets[i];
        if t.status != TargetStatus::InProgress {
            continue;
        }
        match t.cursor() {
            Some(next) => begin_at(t, next, false, now, effects),
            None => finish_target(t, TargetStatus::Succeeded, now),
        }
    }
    advance(d, now, effects);
}

pub(super) fn original_retired(d: &mut Deployment, instance: String, terminated: bool, now: Millis) {
    let is_blue = d.targets.iter().any(|t| t.instance == instance && t.label == Some(Label::Blue));
    let Some(bg) = d.blue_green.as_mut() else { return };
    if bg.phase != Phase::Terminating || !is_blue || bg.retired.iter().any(|r| r.instance == instance) {
        return;
    }
    bg.retired.push(crate::deployment::Retired { instance, terminated, time: now });
}

pub(super) fn termination_finished(
    d: &mut Deployment,
    succeeded: bool,
    message: String,
    now: Millis,
    effects: &mut Vec<Effect>,
) {
    if d.blue_green.as_ref().is_none_or(|bg| bg.phase != Phase::Terminating) {
        return;
    }
    if succeeded {
        succeed(d, now, effects);
    } else {
        set_phase(d, Phase::Done);
        finish(d, DeploymentStatus::Failed, ErrorCode::InternalError, message, now, effects);
    }
}

/// Whether traffic reached the replacement instances (so a rollback must
/// move it back), and the original instances still exist to take it.
pub fn traffic_moved(d: &Deployment) -> bool {
    d.blue_green.as_ref().is_some_and(|bg| {
        let moved = bg.green_share > 0 || matches!(bg.phase, Phase::AfterAllow | Phase::Block | Phase::TerminationWait);
        let blue_gone =
            bg.phase == Phase::Terminating || (bg.phase == Phase::Done && d.status == DeploymentStatus::Succeeded);
        moved && !blue_gone
    })
}
