//! ECS deployments' lifecycle events (issue #15), carried out by the
//! server: no agent runs an ECS deployment's events.
//!
//! The machine (`ferry_core::machine`, with the deployment's `ecs` plan)
//! marks each event in progress and persists that; [`watch_forever`] finds
//! the events in progress (woken by the driver, and every second) and
//! carries each out once per process. After a restart it finds them again
//! and carries them out again, so each is idempotent:
//!
//! - **Hooks** (BeforeInstall, AfterInstall, AfterAllowTestTraffic,
//!   BeforeAllowTraffic, AfterAllowTraffic): the appspec's function is an
//!   http(s) URL. It is POSTed `{"DeploymentId", "LifecycleEventHookExecutionId"}`
//!   (the Lambda hook's input). An answer `{"status": "Succeeded"|"Failed"}`
//!   decides at once; any other 2xx answer means the function reports later
//!   through PutLifecycleEventHookExecutionStatus (the AWS API or the native
//!   one), within [`HOOK_TIMEOUT`] (CodeDeploy's hour). The execution id is
//!   derived from the deployment, event and attempt, so a function called
//!   again after a restart reports for the same execution.
//! - **Install**: the replacement task set starts at the service's size,
//!   taking no traffic (`ops::services::begin_replacement`); the event
//!   succeeds once all its tasks are ready (running, their health checks
//!   and the load balancer's passing) and fails if they keep failing.
//! - **AllowTestTraffic**: the test listener reaches the replacement.
//! - **AllowTraffic**: production traffic moves by the deployment config
//!   (all at once, canary, linear), step by step, the replacement's health
//!   checked throughout; a replacement task that fails fails the event.
//!
//! When the deployment ends, the services scheduler promotes the
//! replacement (success: the original is kept for the termination wait,
//! then stopped) or discards it (failure or stop: all traffic back on the
//! original, replacement stopped) — `ops::services::conclude_deployments`.

use std::time::Duration;

use ferry_core::deployment::{Deployment, EventDiagnostics, EventStatus, TargetStatus};
use ferry_core::events::Event;
use ferry_core::machine::Input;
use sha2::Digest;

use super::OpError;
use crate::AppState;

/// How long a hook function has to report (CodeDeploy's limit).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long the replacement task set has to become ready.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(900);
const POLL: Duration = Duration::from_millis(250);

/// Carries out ECS deployments' events until `stop`.
pub async fn watch_forever(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let woken = state.driver.services.ecs_wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        for (d, target, attempt, event) in state.driver.ecs_events_in_progress() {
            let key = format!("{}/{target}/{attempt}/{event}", d.id);
            if !state.driver.services.ecs_running.lock().unwrap().insert(key.clone()) {
                continue;
            }
            let state = state.clone();
            tokio::spawn(async move {
                carry_out(&state, &d, &target, attempt, event).await;
                state.driver.services.ecs_running.lock().unwrap().remove(&key);
            });
        }
        tokio::select! {
            _ = &mut woken => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// How an event ended.
enum Outcome {
    Done {
        succeeded: bool,
        message: String,
    },
    /// Decided elsewhere (a hook's report, a stop): nothing to report.
    Elsewhere,
}

fn done(succeeded: bool, message: impl Into<String>) -> Outcome {
    Outcome::Done { succeeded, message: message.into() }
}

async fn carry_out(state: &AppState, d: &Deployment, target: &str, attempt: u32, event: Event) {
    tracing::info!(deployment = %d.id, event = %event, "ECS deployment event started");
    let outcome = match event {
        Event::Install => install(state, d, attempt).await,
        Event::AllowTestTraffic => test_traffic(state, d).await,
        Event::AllowTraffic => shift(state, d, attempt).await,
        e => hook(state, d, attempt, e).await,
    };
    let Outcome::Done { succeeded, message } = outcome else { return };
    tracing::info!(deployment = %d.id, event = %event, succeeded, %message, "ECS deployment event finished");
    let diagnostics = EventDiagnostics {
        error_code: if succeeded { "Success" } else { "UnknownError" }.into(),
        script_name: String::new(),
        message,
        log_tail: String::new(),
    };
    let input = Input::ServerEventFinished {
        instance: target.to_string(),
        attempt,
        event,
        succeeded,
        diagnostics: Some(diagnostics),
    };
    if let Err(e) = state.driver.apply(&d.id, input).await {
        tracing::warn!(deployment = %d.id, error = %e, "cannot record an ECS deployment event's outcome");
    }
}

/// Where an event being carried out stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    Running,
    /// The deployment is being stopped: the event ends now, failed, so the
    /// deployment can end (and the service is put back).
    Stopping,
    /// It ended elsewhere (a hook's report) or the deployment is gone.
    Over,
}

fn progress(state: &AppState, id: &str, attempt: u32, event: Event) -> Progress {
    let Some(d) = state.driver.live_deployment(id) else { return Progress::Over };
    let running = d.targets.iter().any(|t| {
        t.status == TargetStatus::InProgress
            && t.attempt == attempt
            && t.events.iter().any(|e| e.name == event && e.status == EventStatus::InProgress)
    });
    match (running, d.stop.is_some()) {
        (false, _) => Progress::Over,
        (true, true) => Progress::Stopping,
        (true, false) => Progress::Running,
    }
}

/// What to do when an event's wait finds it no longer simply running.
fn interrupted(p: Progress) -> Option<Outcome> {
    match p {
        Progress::Running => None,
        Progress::Stopping => Some(done(false, "the deployment was stopped")),
        Progress::Over => Some(Outcome::Elsewhere),
    }
}

/// The hook execution id of `event` in this attempt of the deployment (a
/// UUID's shape, derived, so a restart calls the function with the same one).
pub fn execution_id(deployment: &str, attempt: u32, event: Event) -> String {
    let digest = sha2::Sha256::digest(format!("{deployment}/{attempt}/{event}").as_bytes());
    let hex = ferry_sigv4::hex(&digest[..16]);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

async fn hook(state: &AppState, d: &Deployment, attempt: u32, event: Event) -> Outcome {
    let Some(url) = d.ecs.as_ref().and_then(|e| e.hook(event)).map(str::to_string) else {
        return done(true, "no hook function for this event");
    };
    let execution = execution_id(&d.id, attempt, event);
    let body = serde_json::json!({ "DeploymentId": d.id, "LifecycleEventHookExecutionId": execution });
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(30)).build() {
        Ok(c) => c,
        Err(e) => return done(false, format!("cannot call the hook function: {e}")),
    };
    let request = client.post(&url).header("content-type", "application/json").body(body.to_string());
    let answer = match request.send().await {
        Ok(a) => a,
        Err(e) => {
            return done(
                false,
                format!("the hook function {url} could not be called: {}", ferry_proto::errors::error_chain(&e)),
            );
        }
    };
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    if !status.is_success() {
        let text: String = text.chars().take(300).collect();
        return done(false, format!("the hook function {url} answered HTTP {status}: {text}"));
    }
    let verdict = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| {
        let s = v.get("status")?.as_str()?.to_string();
        Some(s)
    });
    match verdict.as_deref() {
        Some("Succeeded") => return done(true, format!("the hook function {url} answered Succeeded")),
        Some("Failed") => return done(false, format!("the hook function {url} answered Failed")),
        _ => {}
    }
    // It reports through PutLifecycleEventHookExecutionStatus.
    let deadline = tokio::time::Instant::now() + HOOK_TIMEOUT;
    loop {
        if let Some(outcome) = interrupted(progress(state, &d.id, attempt, event)) {
            return outcome;
        }
        if tokio::time::Instant::now() >= deadline {
            return done(
                false,
                format!(
                    "the hook function {url} did not report execution {execution} within {} minutes",
                    HOOK_TIMEOUT.as_secs() / 60
                ),
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn install(state: &AppState, d: &Deployment, attempt: u32) -> Outcome {
    let Some(ecs) = &d.ecs else { return done(false, "not an ECS deployment") };
    let set = match super::services::begin_replacement(state, &ecs.service, &ecs.task_definition, &d.id).await {
        Ok(set) => set,
        Err(e) => return done(false, format!("cannot start the replacement task set: {e}")),
    };
    let deadline = tokio::time::Instant::now() + INSTALL_TIMEOUT;
    loop {
        if let Some(outcome) = interrupted(progress(state, &d.id, attempt, Event::Install)) {
            return outcome;
        }
        match super::services::replacement(state, &ecs.service, &d.id).await {
            Ok(r) if r.ready >= r.wanted => {
                return done(
                    true,
                    format!("replacement task set {set}: {} task(s) of {} ready", r.ready, ecs.task_definition),
                );
            }
            Ok(r) if r.failing.is_some() => {
                return done(
                    false,
                    format!(
                        "the replacement task set's tasks keep failing ({} of {} ready): {}",
                        r.ready,
                        r.wanted,
                        r.failing.unwrap_or_default()
                    ),
                );
            }
            Ok(r) if tokio::time::Instant::now() >= deadline => {
                return done(
                    false,
                    format!(
                        "the replacement task set was not ready within {} minutes ({} of {} tasks ready)",
                        INSTALL_TIMEOUT.as_secs() / 60,
                        r.ready,
                        r.wanted
                    ),
                );
            }
            Ok(_) => {}
            Err(e) => return done(false, e.to_string()),
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn test_traffic(state: &AppState, d: &Deployment) -> Outcome {
    let Some(ecs) = &d.ecs else { return done(false, "not an ECS deployment") };
    match super::services::route(state, &ecs.service, &d.id, true, 0).await {
        Ok(()) => done(true, "the test listener reaches the replacement task set"),
        Err(e) => done(false, e.to_string()),
    }
}

async fn shift(state: &AppState, d: &Deployment, attempt: u32) -> Outcome {
    let Some(ecs) = &d.ecs else { return done(false, "not an ECS deployment") };
    let current = match super::services::get(state, &ecs.service).await {
        Ok(described) => described.service.replacement(&d.id).map_or(0, |s| s.weight),
        Err(e) => return done(false, e.to_string()),
    };
    let interval = Duration::from_secs(ecs.routing.interval_seconds().into());
    let mut step = 0;
    loop {
        let (share, last) = ecs.routing.share_at(step);
        step += 1;
        if share <= current && !last {
            continue;
        }
        if let Err(e) = super::services::route(state, &ecs.service, &d.id, true, share).await {
            return done(false, format!("cannot move traffic: {e}"));
        }
        tracing::info!(deployment = %d.id, share, "production traffic on the replacement task set");
        if last {
            return done(true, format!("all production traffic on the replacement task set after {step} step(s)"));
        }
        let until = tokio::time::Instant::now() + interval;
        while tokio::time::Instant::now() < until {
            if let Some(outcome) = interrupted(progress(state, &d.id, attempt, Event::AllowTraffic)) {
                return outcome;
            }
            match super::services::replacement(state, &ecs.service, &d.id).await {
                Ok(r) if r.ready < r.wanted => {
                    return done(
                        false,
                        format!(
                            "the replacement task set became unhealthy at {share}% of the traffic ({} of {} tasks ready)",
                            r.ready, r.wanted
                        ),
                    );
                }
                Ok(_) => {}
                Err(e) => return done(false, e.to_string()),
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// PutLifecycleEventHookExecutionStatus: a hook function's verdict on the
/// event it validates.
pub async fn report_hook(state: &AppState, deployment: &str, execution: &str, succeeded: bool) -> Result<(), OpError> {
    let d = state
        .driver
        .live_deployment(deployment)
        .ok_or_else(|| OpError::Invalid(format!("deployment {deployment} is not running")))?;
    if d.ecs.is_none() {
        return Err(OpError::Invalid(format!(
            "hook execution statuses are reported for ECS deployments; {deployment} deploys to servers"
        )));
    }
    for t in &d.targets {
        for e in t.events.iter().filter(|e| e.status == EventStatus::InProgress) {
            if execution_id(&d.id, t.attempt, e.name) == execution {
                let input = Input::ServerEventFinished {
                    instance: t.instance.clone(),
                    attempt: t.attempt,
                    event: e.name,
                    succeeded,
                    diagnostics: Some(EventDiagnostics {
                        error_code: if succeeded { "Success" } else { "ScriptFailed" }.into(),
                        script_name: String::new(),
                        message: format!(
                            "the hook function reported {}",
                            if succeeded { "Succeeded" } else { "Failed" }
                        ),
                        log_tail: String::new(),
                    }),
                };
                state.driver.apply(&d.id, input).await?;
                return Ok(());
            }
        }
    }
    Err(OpError::Invalid(format!(
        "lifecycle event hook execution {execution} is not in progress in deployment {deployment}"
    )))
}
