//! Pipeline executions (issue #14): `ferry_pipeline::execution` decides,
//! this module keeps its document and acts on what it says.
//!
//! The road is the driver's: lock (`Driver::pipeline_lock`) → read the
//! pipeline's `Runs` → `execution::step` → commit the new document, the
//! executions it changed and their notices in one transaction → release →
//! launch the actions it started (`pipeline_actions::launch`, in tasks).
//! What actions do outside (a build, a deployment) is not pushed back
//! here: [`watch_forever`] looks at the actions in progress whenever a
//! build or deployment ends (`Driver::pipeline_wake`) and every
//! [`POLL`], and feeds their ends to the machine. So a server that dies
//! anywhere loses nothing: at start the watcher launches again what was
//! started but never launched (idempotently: a build or deployment already
//! made for that attempt is found, not made twice), and reads the ends of
//! what ran while it was down.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use ferry_core::notices::{Notice, NoticeKind, PipelineSubject};
use ferry_pipeline::RetryMode;
use ferry_pipeline::execution::{
    self, ActionJob, ActionRef, ActionStatus, Effect, Execution, Input, Runs, StepError, TransitionType, Trigger,
};
use ferry_store::{Changes, NewEvent, PipelineRunsChange, StoreError, StoredPipelineExecution};
use serde::Serialize;

use super::OpError;
use super::pipeline_actions::{self, Launched};
use crate::AppState;

/// How often the watcher looks at actions in progress when nothing wakes it.
pub const POLL: Duration = Duration::from_secs(2);

/// Finished executions kept in a pipeline's document (so they can be
/// retried) beside those still running; older ones live on in history.
const KEEP_FINISHED: usize = 10;

/// A pipeline's execution document (empty when it never ran).
pub async fn runs(state: &AppState, pipeline: &str) -> Result<Runs, OpError> {
    match state.store.get_pipeline_runs(pipeline).await? {
        Some(doc) => serde_json::from_str(&doc)
            .map_err(|e| OpError::Internal(format!("the execution document of pipeline {pipeline}: {e}"))),
        None => Ok(Runs::default()),
    }
}

/// Applies `input` to `pipeline`'s executions: persisted with its notices
/// before anything it starts is launched. Returns the document as committed.
pub async fn apply(state: &AppState, pipeline: &str, input: Input) -> Result<Runs, OpError> {
    let (after, effects) = {
        let _guard = state.driver.pipeline_lock.lock().await;
        let before = runs(state, pipeline).await?;
        let mut after = before.clone();
        let now = state.driver.now();
        let effects = execution::step(&mut after, input, now).map_err(OpError::Pipeline)?;
        retire(&mut after);
        if after != before {
            commit(state, pipeline, &before, &after, now).await?;
        }
        (after, effects)
    };
    for effect in effects {
        match effect {
            Effect::StartAction(job) => launch(state, *job),
            Effect::Abandon(action) => abandon(state, &after, action),
        }
    }
    // Deadlines may have moved.
    state.driver.pipeline_wake.notify_one();
    Ok(after)
}

/// Drops the oldest finished executions beyond [`KEEP_FINISHED`] (never one
/// with an action still running).
fn retire(runs: &mut Runs) {
    let busy = |e: &Execution| {
        !e.status.is_finished()
            || e.stages.iter().any(|s| s.actions.iter().any(|a| a.status == Some(ActionStatus::InProgress)))
    };
    let finished = runs.executions.iter().filter(|e| !busy(e)).count();
    let mut drop = finished.saturating_sub(KEEP_FINISHED);
    runs.executions.retain(|e| {
        if drop > 0 && !busy(e) {
            drop -= 1;
            false
        } else {
            true
        }
    });
}

async fn commit(state: &AppState, pipeline: &str, before: &Runs, after: &Runs, now: u64) -> Result<(), OpError> {
    let mut executions = Vec::new();
    for e in &after.executions {
        if before.execution(&e.id) != Some(e) {
            executions.push(StoredPipelineExecution {
                id: e.id.clone(),
                start_time: e.started_at,
                status: name(e.status),
                doc: serde_json::to_string(e).map_err(|e| OpError::Internal(e.to_string()))?,
            });
        }
    }
    let doc = serde_json::to_string(after).map_err(|e| OpError::Internal(e.to_string()))?;
    let mut changes = Changes::new();
    changes.pipeline_runs.push(PipelineRunsChange { pipeline: pipeline.to_string(), doc, executions });
    let notices = notices(before, after, now);
    let urls = super::pipeline_events::urls(state, pipeline).await?;
    let mut deliveries = super::pipeline_events::deliveries(state, &urls, &notices, before, after, now);
    let has_deliveries = !deliveries.is_empty();
    changes.events = notices
        .into_iter()
        .enumerate()
        .map(|(i, notice)| NewEvent {
            notice,
            deliveries: deliveries.extract_if(.., |(of, _)| *of == i).map(|(_, d)| d).collect(),
        })
        .collect();
    if let Some(seq) = state.store.commit(changes).await? {
        state.driver.events.published(seq);
    }
    if has_deliveries {
        state.driver.events.deliveries_added();
    }
    Ok(())
}

/// CodePipeline's name of a status (its serde name).
pub fn name(status: impl Serialize) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The state changes between two documents: executions, then their stages
/// and actions, as CodePipeline's EventBridge events name them.
fn notices(before: &Runs, after: &Runs, now: u64) -> Vec<Notice> {
    let mut out = Vec::new();
    for e in &after.executions {
        let old = before.execution(&e.id);
        let subject = |stage: Option<&str>, action: Option<&str>| PipelineSubject {
            pipeline: e.pipeline.name.clone(),
            execution: e.id.clone(),
            version: e.pipeline.version.unwrap_or(1),
            stage: stage.map(str::to_owned),
            action: action.map(str::to_owned),
        };
        if old.map(|o| o.status) != Some(e.status) {
            out.push(Notice::pipeline_state(
                NoticeKind::PipelineExecutionStateChange,
                subject(None, None),
                &name(e.status),
                e.status_summary.clone(),
                now,
            ));
        }
        for s in &e.stages {
            let old_stage = old.and_then(|o| o.stage(&s.name));
            if let Some(status) = s.status
                && (old_stage.and_then(|o| o.status) != Some(status)
                    || old_stage.map(|o| o.attempts) != Some(s.attempts))
            {
                out.push(Notice::pipeline_state(
                    NoticeKind::StageExecutionStateChange,
                    subject(Some(&s.name), None),
                    &name(status),
                    None,
                    now,
                ));
            }
            for a in &s.actions {
                let old_action = old_stage.and_then(|o| o.actions.iter().find(|x| x.name == a.name));
                // An approval that got its token now waits for a decision: told too.
                let waits = a.token.is_some() && old_action.and_then(|o| o.token.as_ref()) != a.token.as_ref();
                if waits
                    && a.status == Some(ActionStatus::InProgress)
                    && old_action.map(|o| o.attempt) == Some(a.attempt)
                {
                    out.push(Notice::pipeline_state(
                        NoticeKind::ActionExecutionStateChange,
                        subject(Some(&s.name), Some(&a.name)),
                        "InProgress",
                        Some("waiting for approval".into()),
                        now,
                    ));
                }
                if let Some(status) = a.status
                    && old_action.map(|o| (o.status, o.attempt)) != Some((a.status, a.attempt))
                {
                    out.push(Notice::pipeline_state(
                        NoticeKind::ActionExecutionStateChange,
                        subject(Some(&s.name), Some(&a.name)),
                        &name(status),
                        a.error.clone().or_else(|| a.summary.clone()),
                        now,
                    ));
                }
            }
        }
    }
    out
}

fn action_key(a: &ActionRef) -> String {
    format!("{}/{}/{}/{}", a.execution, a.stage, a.action, a.attempt)
}

/// Launches an action attempt in a task (once per attempt in this
/// process) and feeds what came of it to the machine.
fn launch(state: &AppState, job: ActionJob) {
    let key = action_key(&job.action);
    if !state.driver.pipeline_launching.lock().unwrap().insert(key.clone()) {
        return;
    }
    tokio::spawn(launch_task(state.clone(), job, key));
}

// Boxed: the task applies inputs, which may launch more tasks.
fn launch_task(state: AppState, job: ActionJob, key: String) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let action = job.action.clone();
        let input = match pipeline_actions::launch(&state, &job, &key).await {
            Launched::Started { external_id, external_url, token } => {
                Input::ActionStarted { action: action.clone(), external_id, external_url, token }
            }
            Launched::Succeeded { outputs, variables, summary, revision } => {
                Input::ActionSucceeded { action: action.clone(), outputs, variables, summary, revision }
            }
            Launched::Failed(message) => Input::ActionFailed { action: action.clone(), message },
        };
        let input = published(&state, &job.pipeline, input).await;
        if let Err(e) = apply(&state, &job.pipeline, input).await {
            tracing::warn!(pipeline = %job.pipeline, action = %key, error = %e, "cannot record a pipeline action");
        }
        state.driver.pipeline_launching.lock().unwrap().remove(&key);
    })
}

/// An action's success with its outputs copied to the artifact bucket
/// first, or its failure when they cannot be.
pub(crate) async fn published(state: &AppState, pipeline: &str, input: Input) -> Input {
    let Input::ActionSucceeded { action, outputs, .. } = &input else { return input };
    match pipeline_actions::publish(state, pipeline, &action.execution, outputs).await {
        Ok(()) => input,
        Err(message) => Input::ActionFailed { action: action.clone(), message },
    }
}

/// STOP_AND_ABANDON: the build or deployment of an abandoned action is
/// stopped too (CodePipeline lets it run on; ferry does not spend hosts on
/// work nobody waits for).
fn abandon(state: &AppState, runs: &Runs, action: ActionRef) {
    let Some(e) = runs.execution(&action.execution) else { return };
    let Some((declared, run)) = e
        .pipeline
        .stages
        .iter()
        .zip(&e.stages)
        .filter(|(d, _)| d.name == action.stage)
        .flat_map(|(d, s)| d.actions.iter().zip(&s.actions))
        .find(|(d, _)| d.name == action.action)
    else {
        return;
    };
    let (Some(external), state) = (run.external_id.clone(), state.clone()) else { return };
    let declared = declared.clone();
    tokio::spawn(async move { pipeline_actions::abandon(&state, &declared, &external).await });
}

/// Looks after every pipeline's actions: launches those started but not
/// launched (after a restart), feeds the ends of builds and deployments,
/// and times actions out at their deadlines.
pub async fn watch_forever(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let wake = state.driver.pipeline_wake.notified();
        let next = match watch_once(&state).await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look after pipeline executions");
                None
            }
        };
        let now = state.driver.now();
        let wait = next.map_or(POLL, |t| Duration::from_millis(t.saturating_sub(now)).min(POLL));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One look at every pipeline; returns the earliest action deadline.
pub(crate) async fn watch_once(state: &AppState) -> Result<Option<u64>, OpError> {
    let mut next = None;
    for pipeline in state.store.list_pipeline_runs().await? {
        let mut runs = runs(state, &pipeline).await?;
        if runs.next_deadline().is_some_and(|d| d <= state.driver.now()) {
            runs = apply(state, &pipeline, Input::Tick).await?;
        }
        for action in runs.unlaunched() {
            if let Some(job) = runs.job(&action) {
                launch(state, job);
            }
        }
        for (declared, action, run) in in_progress(&runs) {
            match pipeline_actions::observe(state, declared, &action, run).await {
                Ok(Some(input)) => {
                    let input = published(state, &pipeline, input).await;
                    if let Err(err) = apply(state, &pipeline, input).await {
                        tracing::warn!(%pipeline, action = %action_key(&action), error = %err, "cannot record an action's end");
                    }
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(%pipeline, action = %action_key(&action), error = %err, "cannot look at an action")
                }
            }
        }
        next = [next, runs.next_deadline()].into_iter().flatten().min();
    }
    Ok(next)
}

type Running<'a> = (&'a ferry_pipeline::ActionDeclaration, ActionRef, &'a execution::ActionRun);

/// Actions in progress that were launched, with their declarations.
fn in_progress(runs: &Runs) -> Vec<Running<'_>> {
    let mut out = Vec::new();
    for e in &runs.executions {
        for (declared, stage) in e.pipeline.stages.iter().zip(&e.stages) {
            for (d, run) in declared.actions.iter().zip(&stage.actions) {
                if run.status == Some(ActionStatus::InProgress) && run.launched {
                    let action = ActionRef {
                        execution: e.id.clone(),
                        stage: stage.name.clone(),
                        action: run.name.clone(),
                        attempt: run.attempt,
                    };
                    out.push((d, action, run));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------- operations

/// StartPipelineExecution: a new execution of the pipeline's current
/// version, with pipeline variables overridden and source revisions pinned.
/// `trigger` says what started it (CodePipeline's `ExecutionTrigger`).
pub async fn start(
    state: &AppState,
    pipeline: &str,
    variables: BTreeMap<String, String>,
    source_revisions: BTreeMap<String, String>,
    trigger: Trigger,
) -> Result<String, OpError> {
    let p = super::pipelines::get(state, pipeline, None).await?;
    let id = crate::random::uuid();
    let input =
        Input::Start { id: id.clone(), pipeline: p.declaration, variables, source_revisions, trigger: Some(trigger) };
    apply(state, pipeline, input).await?;
    tracing::info!(%pipeline, execution = %id, "pipeline execution started");
    Ok(id)
}

/// StopPipelineExecution.
pub async fn stop(
    state: &AppState,
    pipeline: &str,
    execution: &str,
    abandon: bool,
    reason: Option<String>,
) -> Result<(), OpError> {
    super::pipelines::get(state, pipeline, None).await?;
    apply(state, pipeline, Input::Stop { execution: execution.to_string(), abandon, reason }).await?;
    Ok(())
}

/// RetryStageExecution.
pub async fn retry(
    state: &AppState,
    pipeline: &str,
    execution: &str,
    stage: &str,
    mode: RetryMode,
) -> Result<(), OpError> {
    super::pipelines::get(state, pipeline, None).await?;
    let input = Input::Retry { execution: execution.to_string(), stage: stage.to_string(), mode };
    match apply(state, pipeline, input).await {
        // Gone from the document: too old to retry, if it ever existed.
        Err(OpError::Pipeline(StepError::ExecutionNotFound(m))) => {
            match state.store.get_pipeline_execution(execution).await {
                Ok((p, _)) if p == pipeline => Err(OpError::Pipeline(StepError::StageNotRetryable(format!(
                    "execution {execution} is older than the last {KEEP_FINISHED} finished executions of pipeline {pipeline}: start a new one"
                )))),
                _ => Err(OpError::Pipeline(StepError::ExecutionNotFound(m))),
            }
        }
        other => other.map(drop),
    }
}

/// Enable/DisableStageTransition.
pub async fn transition(
    state: &AppState,
    pipeline: &str,
    stage: &str,
    transition: TransitionType,
    disable_reason: Option<String>,
) -> Result<(), OpError> {
    let p = super::pipelines::get(state, pipeline, None).await?.declaration;
    let stage = stage.to_string();
    let input = match disable_reason {
        Some(reason) => Input::DisableTransition { pipeline: p, stage, transition, reason },
        None => Input::EnableTransition { pipeline: p, stage, transition },
    };
    apply(state, pipeline, input).await?;
    Ok(())
}

/// A decision on a manual approval.
#[derive(Debug, Clone)]
pub struct Decision {
    pub stage: String,
    pub action: String,
    /// PutApprovalResult's token; `None`: the approval waiting in that
    /// action now (the CLI's and the console's way).
    pub token: Option<String>,
    pub approved: bool,
    pub summary: String,
    pub by: Option<String>,
}

/// PutApprovalResult; returns when it was decided.
pub async fn decide(state: &AppState, pipeline: &str, d: Decision) -> Result<u64, OpError> {
    super::pipelines::get(state, pipeline, None).await?;
    let current = runs(state, pipeline).await?;
    // The execution whose approval this is: the token's, else the newest
    // waiting in that action.
    let waiting = current.executions.iter().rev().find_map(|e| {
        let run = e.stage(&d.stage)?.actions.iter().find(|a| a.name == d.action)?;
        let waits = run.status == Some(ActionStatus::InProgress) && run.token.is_some();
        let matches = match &d.token {
            Some(t) => run.token.as_ref() == Some(t),
            None => waits,
        };
        matches.then(|| (e.id.clone(), run.token.clone().unwrap_or_default()))
    });
    let Some((execution, token)) = waiting else {
        return Err(match d.token {
            Some(_) => OpError::Pipeline(StepError::InvalidApprovalToken(format!(
                "the approval token is not that of action {} in stage {} of pipeline {pipeline}",
                d.action, d.stage
            ))),
            None => OpError::Pipeline(StepError::ActionNotFound(format!(
                "no approval is waiting in action {} of stage {} of pipeline {pipeline}",
                d.action, d.stage
            ))),
        });
    };
    let input = Input::Approval {
        execution,
        stage: d.stage,
        action: d.action,
        token,
        approved: d.approved,
        summary: d.summary,
        by: d.by,
    };
    apply(state, pipeline, input).await?;
    Ok(state.driver.now())
}

/// An execution by id: from the document while it is there, else from history.
pub async fn execution(state: &AppState, pipeline: &str, id: &str) -> Result<Execution, OpError> {
    super::pipelines::get(state, pipeline, None).await?;
    if let Some(e) = runs(state, pipeline).await?.execution(id) {
        return Ok(e.clone());
    }
    let not_found =
        || OpError::Pipeline(StepError::ExecutionNotFound(format!("pipeline {pipeline} has no execution {id:?}")));
    match state.store.get_pipeline_execution(id).await {
        Ok((p, stored)) if p == pipeline => decode(&stored),
        Ok(_) | Err(StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

/// A pipeline's executions, newest first: at most `limit`, after the page
/// that ended with `(start_time, id)` when given.
pub async fn list(
    state: &AppState,
    pipeline: &str,
    after: Option<(u64, &str)>,
    limit: u32,
) -> Result<Vec<Execution>, OpError> {
    super::pipelines::get(state, pipeline, None).await?;
    let stored = state.store.list_pipeline_executions(pipeline, after, limit).await?;
    stored.iter().map(decode).collect()
}

fn decode(stored: &StoredPipelineExecution) -> Result<Execution, OpError> {
    serde_json::from_str(&stored.doc)
        .map_err(|e| OpError::Internal(format!("the stored pipeline execution {}: {e}", stored.id)))
}

#[cfg(test)]
#[path = "pipeline_runs_tests.rs"]
mod tests;

/// A start by a person or script with an access key.
pub fn started_by(key_id: &str) -> Trigger {
    Trigger { trigger_type: "StartPipelineExecution".into(), trigger_detail: key_id.to_string() }
}
