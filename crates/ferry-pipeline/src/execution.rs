//! The execution state machine: `step(runs, input, now)` changes the
//! executions of one pipeline and returns what the server must do after
//! persisting them (start actions). Pure and deterministic: no clock (time
//! is `now`), no randomness (execution ids and approval tokens are given).
//!
//! The rules (CodePipeline UG "How pipeline executions work", "Stop a
//! pipeline execution", "Retry a failed stage", "Disable or enable
//! transitions", "Manage approval actions", "Quotas"):
//! - An execution runs one version of the pipeline: the declaration it
//!   started with ([`Execution::pipeline`]), whatever happens to the
//!   pipeline afterwards.
//! - Stages run in order. Inside a stage, the pending actions with the
//!   lowest `runOrder` start together once every action with a lower
//!   `runOrder` has succeeded; equal numbers run in parallel.
//! - A stage succeeds when all its actions have. A failed action fails its
//!   stage and the execution at once: no action or stage after it starts;
//!   actions already running beside it finish and are recorded (and a
//!   FAILED_ACTIONS retry lets them go on).
//! - V2 `onFailure.result: RETRY` retries a failed stage once, by itself
//!   (FAILED_ACTIONS unless `retryMode` says ALL_ACTIONS; an ALL_ACTIONS
//!   retry waits for running actions to finish).
//! - `Retry` (RetryStageExecution) applies to the stage a Failed or
//!   Stopped execution ended in: FAILED_ACTIONS runs the failed and
//!   abandoned actions (and those never started) again while running ones
//!   go on; ALL_ACTIONS needs no action in progress and runs every action
//!   again. Except in PARALLEL mode, a stage another execution holds, or
//!   that a newer execution has entered since, cannot be retried.
//! - `Stop` (StopPipelineExecution): STOP_AND_WAIT (`abandon: false`) starts
//!   nothing more and lets running actions finish (the execution and stage
//!   are Stopping, then Stopped); STOP_AND_ABANDON marks running actions
//!   Abandoned and stops at once (the external work is told with
//!   [`Effect::Abandon`]; CodePipeline lets it run on). A waiting execution
//!   stops at once. A Stopping execution can still be abandoned.
//! - Transitions (Enable/DisableStageTransition): an execution never enters
//!   a stage whose inbound transition, or whose predecessor's outbound
//!   transition, is disabled; it waits in front, with the reason. The first
//!   stage has no inbound transition, the last no outbound one.
//! - Stage locks and execution modes:
//!   - SUPERSEDED (default): a stage holds one execution at a time; later
//!     ones wait in front of it; of the executions waiting in front of the
//!     same stage only the newest stays, the older ones end Superseded (so
//!     on enabling a transition only the latest continues).
//!   - QUEUED: a stage holds one execution at a time; waiting executions
//!     enter in the order they started, none is superseded.
//!   - PARALLEL: no locks, no superseding; executions are independent.
//!
//!   The mode is the waiting execution's pipeline version's; locks are by
//!   stage name, so executions of different versions share them.
//! - Timeouts: an action still in progress at its deadline fails (Manual
//!   approval: `timeoutInMinutes`, default 7 days; CodeBuild 8 h,
//!   CodeDeploy 5 days, custom actions 24 h, others 1 h; see
//!   [`crate::check::timeout_minutes`]). `Input::Tick` checks them; the server
//!   sends it at [`Runs::next_deadline`].
//! - An approval is decided with the token given to the action when it
//!   started (`Input::ActionStarted::token`): Approved succeeds the action,
//!   Rejected fails it.
//! - Variables: an action's configuration is resolved when it starts, from
//!   `codepipeline.PipelineExecutionId`, the execution's pipeline variables
//!   (defaults, overridden at start) and the output variables of the
//!   actions with a namespace that succeeded before it. A reference that
//!   cannot be resolved fails the action with a message naming it.
//!
//! Reports about actions (started, succeeded, failed) are idempotent: one
//! for an action that is not in progress at that attempt changes nothing,
//! so a worker that reports twice, or about a superseded attempt, does no
//! harm.
//!
//! Statuses carry CodePipeline's names: executions InProgress, Stopping,
//! Stopped, Succeeded, Superseded, Failed, Cancelled; stages InProgress,
//! Stopping, Stopped, Succeeded, Failed, Cancelled; actions InProgress,
//! Abandoned, Succeeded, Failed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::check::{self, timeout_minutes};
use crate::model::{ActionTypeId, Category, ExecutionMode, PipelineDeclaration, RetryMode, StageFailureResult};
use crate::vars::{self, CODEPIPELINE, Known, PIPELINE_EXECUTION_ID, PIPELINE_VARIABLES};

/// The executions of one pipeline and its transitions: what the machine
/// works on. `executions` are in the order they started; the server keeps
/// here every execution that is not finished, and finished ones that may
/// still be retried or whose actions still run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runs {
    pub executions: Vec<Execution>,
    pub disabled: Vec<DisabledTransition>,
}

/// A disabled transition (`DisableStageTransition`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisabledTransition {
    pub stage: String,
    pub transition: TransitionType,
    pub reason: String,
    pub at: Millis,
}

/// `StageTransitionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransitionType {
    Inbound,
    Outbound,
}

/// One pipeline execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub id: String,
    /// The declaration this execution runs (its pipeline version).
    pub pipeline: PipelineDeclaration,
    pub status: ExecutionStatus,
    pub status_summary: Option<String>,
    pub started_at: Millis,
    pub updated_at: Millis,
    /// Pipeline-level variables: defaults with the start's overrides.
    pub variables: BTreeMap<String, String>,
    /// Source action name → the revision to fetch (a pushed commit, an S3
    /// object version), as StartPipelineExecution's `sourceRevisions` or a
    /// webhook give it; passed on in the action's [`ActionJob`].
    pub source_revisions: BTreeMap<String, String>,
    /// One per stage of `pipeline`, in order.
    pub stages: Vec<StageRun>,
    pub position: Position,
    /// Why it waits in front of its next stage, while it does.
    pub waiting: Option<Wait>,
    /// What started it.
    #[serde(default)]
    pub trigger: Option<Trigger>,
}

/// What started an execution (`ExecutionTrigger`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// CodePipeline's `triggerType`: StartPipelineExecution, Webhook,
    /// WebhookV2, PollForSourceChanges, …
    pub trigger_type: String,
    /// Who or what: an access key, a commit.
    pub trigger_detail: String,
}

/// Where an execution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    /// In front of stage `n`, not yet in it.
    Before(usize),
    /// In stage `n`.
    In(usize),
    /// Finished (its status says how).
    Done,
}

/// Why an execution waits in front of a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Wait {
    /// A transition is disabled, with the reason given.
    TransitionDisabled { stage: String, transition: TransitionType, reason: String },
    /// Another execution holds the stage.
    StageLocked { stage: String, by: String },
}

/// `PipelineExecutionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionStatus {
    Cancelled,
    InProgress,
    Stopped,
    Stopping,
    Succeeded,
    Superseded,
    Failed,
}

impl ExecutionStatus {
    pub fn is_finished(self) -> bool {
        !matches!(self, Self::InProgress | Self::Stopping)
    }
}

/// `StageExecutionStatus` (Skipped belongs to stage conditions, which ferry
/// does not run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageStatus {
    Cancelled,
    InProgress,
    Failed,
    Stopped,
    Stopping,
    Succeeded,
}

/// `ActionExecutionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionStatus {
    InProgress,
    Abandoned,
    Succeeded,
    Failed,
}

/// One stage of one execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageRun {
    pub name: String,
    /// `None` until the execution enters the stage.
    pub status: Option<StageStatus>,
    /// Times the execution entered or retried the stage.
    pub attempts: u32,
    /// The automatic retry of `onFailure: RETRY` was used.
    pub auto_retried: bool,
    pub actions: Vec<ActionRun>,
}

/// One action of one execution: its latest attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRun {
    pub name: String,
    pub run_order: u32,
    /// `None` while pending (not started in the stage's current attempt).
    pub status: Option<ActionStatus>,
    /// 1 for the first start, one more at each retry.
    pub attempt: u32,
    pub started_at: Option<Millis>,
    pub updated_at: Option<Millis>,
    /// When it fails if still in progress.
    pub deadline: Option<Millis>,
    /// The server said it launched it (`ActionStarted`).
    pub launched: bool,
    pub external_id: Option<String>,
    pub external_url: Option<String>,
    /// Manual approval: the token PutApprovalResult must carry.
    pub token: Option<String>,
    pub summary: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Who decided an approval.
    pub updated_by: Option<String>,
    /// The configuration it ran with, variables resolved.
    pub configuration: BTreeMap<String, String>,
    pub input_artifacts: Vec<ArtifactLocation>,
    pub output_artifacts: Vec<ArtifactLocation>,
    pub output_variables: BTreeMap<String, String>,
    /// A source action's revision (commit id, object version).
    pub revision: Option<String>,
}

/// An artifact as produced: its name and where the server keeps it (a
/// blob key; opaque here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactLocation {
    pub name: String,
    pub location: String,
}

/// Something that happened to a pipeline's executions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// StartPipelineExecution (or a trigger): a new execution `id` of
    /// `pipeline`, with pipeline variable overrides and source revisions.
    Start {
        id: String,
        pipeline: PipelineDeclaration,
        variables: BTreeMap<String, String>,
        source_revisions: BTreeMap<String, String>,
        trigger: Option<Trigger>,
    },
    /// The server launched an action (a build, a deployment, an approval
    /// request, a job for a worker).
    ActionStarted {
        action: ActionRef,
        external_id: Option<String>,
        external_url: Option<String>,
        /// Manual approval: the token PutApprovalResult must carry.
        token: Option<String>,
    },
    ActionSucceeded {
        action: ActionRef,
        outputs: Vec<ArtifactLocation>,
        variables: BTreeMap<String, String>,
        summary: Option<String>,
        revision: Option<String>,
    },
    ActionFailed {
        action: ActionRef,
        message: String,
    },
    /// PutApprovalResult.
    Approval {
        execution: String,
        stage: String,
        action: String,
        token: String,
        approved: bool,
        summary: String,
        by: Option<String>,
    },
    /// StopPipelineExecution: `abandon` is STOP_AND_ABANDON.
    Stop {
        execution: String,
        abandon: bool,
        reason: Option<String>,
    },
    /// RetryStageExecution.
    Retry {
        execution: String,
        stage: String,
        mode: RetryMode,
    },
    /// DisableStageTransition, on the pipeline as it is now.
    DisableTransition {
        pipeline: PipelineDeclaration,
        stage: String,
        transition: TransitionType,
        reason: String,
    },
    /// EnableStageTransition, on the pipeline as it is now.
    EnableTransition {
        pipeline: PipelineDeclaration,
        stage: String,
        transition: TransitionType,
    },
    /// End an execution that waits in front of a stage as Cancelled (for
    /// the server: its pipeline was deleted).
    Cancel {
        execution: String,
        reason: String,
    },
    /// Time passed: actions may have timed out.
    Tick,
}

/// Names one attempt of one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRef {
    pub execution: String,
    pub stage: String,
    pub action: String,
    pub attempt: u32,
}

/// What the server must do after persisting the new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Launch this action, then report `ActionStarted` and its outcome.
    StartAction(Box<ActionJob>),
    /// This action was abandoned (STOP_AND_ABANDON): its outcome is no
    /// longer wanted.
    Abandon(ActionRef),
}

/// Everything needed to launch one attempt of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionJob {
    pub action: ActionRef,
    pub pipeline: String,
    pub action_type_id: ActionTypeId,
    /// Variables resolved.
    pub configuration: BTreeMap<String, String>,
    pub input_artifacts: Vec<ArtifactLocation>,
    /// Names of the artifacts it must produce.
    pub output_artifacts: Vec<String>,
    pub namespace: Option<String>,
    /// For a source action, the revision to fetch, when pinned.
    pub revision: Option<String>,
    pub deadline: Millis,
}

/// A refused input, with CodePipeline's exception for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// PipelineExecutionNotFoundException.
    ExecutionNotFound(String),
    /// StageNotFoundException.
    StageNotFound(String),
    /// ActionNotFoundException.
    ActionNotFound(String),
    /// InvalidStructureException: the pipeline breaks a structure rule.
    InvalidStructure(String),
    /// ValidationException (bad variables, duplicate execution id, …).
    Validation(String),
    /// StageNotRetryableException.
    StageNotRetryable(String),
    /// PipelineExecutionNotStoppableException.
    NotStoppable(String),
    /// DuplicatedStopRequestException.
    DuplicatedStopRequest(String),
    /// InvalidApprovalTokenException.
    InvalidApprovalToken(String),
    /// ApprovalAlreadyCompletedException.
    ApprovalAlreadyCompleted(String),
}

impl StepError {
    /// CodePipeline's exception name.
    pub fn exception(&self) -> &'static str {
        match self {
            Self::ExecutionNotFound(_) => "PipelineExecutionNotFoundException",
            Self::StageNotFound(_) => "StageNotFoundException",
            Self::ActionNotFound(_) => "ActionNotFoundException",
            Self::InvalidStructure(_) => "InvalidStructureException",
            Self::Validation(_) => "ValidationException",
            Self::StageNotRetryable(_) => "StageNotRetryableException",
            Self::NotStoppable(_) => "PipelineExecutionNotStoppableException",
            Self::DuplicatedStopRequest(_) => "DuplicatedStopRequestException",
            Self::InvalidApprovalToken(_) => "InvalidApprovalTokenException",
            Self::ApprovalAlreadyCompleted(_) => "ApprovalAlreadyCompletedException",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::ExecutionNotFound(m)
            | Self::StageNotFound(m)
            | Self::ActionNotFound(m)
            | Self::InvalidStructure(m)
            | Self::Validation(m)
            | Self::StageNotRetryable(m)
            | Self::NotStoppable(m)
            | Self::DuplicatedStopRequest(m)
            | Self::InvalidApprovalToken(m)
            | Self::ApprovalAlreadyCompleted(m) => m,
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for StepError {}

impl Runs {
    pub fn execution(&self, id: &str) -> Option<&Execution> {
        self.executions.iter().find(|e| e.id == id)
    }

    /// The newest execution that entered the stage called `stage`, with its
    /// run of it (GetPipelineState's `stageStates[].latestExecution`).
    pub fn latest_in_stage(&self, stage: &str) -> Option<(&Execution, &StageRun)> {
        self.executions.iter().rev().find_map(|e| e.stage(stage).filter(|s| s.status.is_some()).map(|s| (e, s)))
    }

    /// The earliest action deadline: when to send the next `Tick`.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.executions
            .iter()
            .flat_map(|e| e.stages.iter().flat_map(|s| s.actions.iter()))
            .filter(|a| a.status == Some(ActionStatus::InProgress))
            .filter_map(|a| a.deadline)
            .min()
    }

    /// Actions in progress that the server has not said it launched (after
    /// a restart: launch them again; the attempt makes it idempotent).
    pub fn unlaunched(&self) -> Vec<ActionRef> {
        let mut out = Vec::new();
        for e in &self.executions {
            for s in &e.stages {
                for a in &s.actions {
                    if a.status == Some(ActionStatus::InProgress) && !a.launched {
                        out.push(ActionRef {
                            execution: e.id.clone(),
                            stage: s.name.clone(),
                            action: a.name.clone(),
                            attempt: a.attempt,
                        });
                    }
                }
            }
        }
        out
    }

    /// The job of an action in progress, as [`Effect::StartAction`] gave it
    /// when it started: to launch it again after a restart.
    pub fn job(&self, action: &ActionRef) -> Option<ActionJob> {
        let x = self.execution(&action.execution)?;
        let s = x.stages.iter().position(|s| s.name == action.stage)?;
        let a = x.stages[s].actions.iter().position(|a| a.name == action.action)?;
        let run = &x.stages[s].actions[a];
        let declared = &x.pipeline.stages[s].actions[a];
        if run.status != Some(ActionStatus::InProgress) || run.attempt != action.attempt {
            return None;
        }
        Some(ActionJob {
            action: action.clone(),
            pipeline: x.pipeline.name.clone(),
            action_type_id: declared.action_type_id.clone(),
            configuration: run.configuration.clone(),
            input_artifacts: run.input_artifacts.clone(),
            output_artifacts: declared.output_artifacts.iter().map(|o| o.name.clone()).collect(),
            namespace: declared.namespace.clone(),
            revision: x.source_revisions.get(&declared.name).cloned(),
            deadline: run.deadline.unwrap_or(0),
        })
    }

    /// The transition that keeps executions out of stage `index` of
    /// `pipeline`, if one is disabled.
    pub fn gate(&self, pipeline: &PipelineDeclaration, index: usize) -> Option<&DisabledTransition> {
        let inbound = &pipeline.stages.get(index)?.name;
        let outbound = index.checked_sub(1).map(|i| &pipeline.stages[i].name);
        self.disabled.iter().find(|d| {
            (d.transition == TransitionType::Inbound && &d.stage == inbound)
                || (d.transition == TransitionType::Outbound && Some(&d.stage) == outbound)
        })
    }

    fn position(&self, id: &str) -> Result<usize, StepError> {
        self.executions
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| StepError::ExecutionNotFound(format!("no pipeline execution {id:?}")))
    }

    /// The execution (other than `except`) inside the stage called `stage`.
    fn holder(&self, stage: &str, except: usize) -> Option<&Execution> {
        self.executions.iter().enumerate().find_map(|(i, e)| match e.position {
            Position::In(s) if i != except && e.stages[s].name == stage && !e.status.is_finished() => Some(e),
            _ => None,
        })
    }
}

impl Execution {
    pub fn mode(&self) -> ExecutionMode {
        self.pipeline.execution_mode
    }

    pub fn stage(&self, name: &str) -> Option<&StageRun> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// Variables known to an action at (`stage`, `run_order`).
    fn known_before(&self, stage: usize, run_order: u32) -> Known {
        let mut known = Known::new();
        known.entry(CODEPIPELINE.to_owned()).or_default().insert(PIPELINE_EXECUTION_ID.to_owned(), self.id.clone());
        known.insert(PIPELINE_VARIABLES.to_owned(), self.variables.clone());
        for (si, s) in self.pipeline.stages.iter().enumerate().take(stage + 1) {
            for (ai, a) in s.actions.iter().enumerate() {
                let before = si < stage || a.run_order < run_order;
                let run = &self.stages[si].actions[ai];
                if let (true, Some(ns), Some(ActionStatus::Succeeded)) = (before, &a.namespace, run.status) {
                    known.insert(ns.clone(), run.output_variables.clone());
                }
            }
        }
        known
    }

    /// The artifact called `name` as produced in this execution.
    fn artifact(&self, name: &str) -> Option<&ArtifactLocation> {
        self.stages
            .iter()
            .flat_map(|s| s.actions.iter())
            .filter(|a| a.status == Some(ActionStatus::Succeeded))
            .flat_map(|a| a.output_artifacts.iter())
            .find(|o| o.name == name)
    }
}

/// Applies `input` at time `now`. On an error nothing has changed.
pub fn step(runs: &mut Runs, input: Input, now: Millis) -> Result<Vec<Effect>, StepError> {
    let mut effects = Vec::new();
    match input {
        Input::Start { id, pipeline, variables, source_revisions, trigger } => {
            start(runs, id, pipeline, variables, source_revisions, trigger, now)?;
        }
        Input::ActionStarted { action, external_id, external_url, token } => {
            if let Some(run) = live_action(runs, &action)? {
                run.launched = true;
                run.external_id = external_id.or(run.external_id.take());
                run.external_url = external_url.or(run.external_url.take());
                if token.is_some() {
                    run.token = token;
                }
                run.updated_at = Some(now);
            }
        }
        Input::ActionSucceeded { action, outputs, variables, summary, revision } => {
            let e = runs.position(&action.execution)?;
            let declared = declared_outputs(&runs.executions[e], &action);
            if let Some(run) = live_action(runs, &action)? {
                let missing: Vec<&String> =
                    declared.iter().filter(|name| !outputs.iter().any(|o| &o.name == *name)).collect();
                if missing.is_empty() {
                    run.status = Some(ActionStatus::Succeeded);
                    run.output_artifacts = outputs.into_iter().filter(|o| declared.contains(&o.name)).collect();
                    run.output_variables = variables;
                    run.summary = summary;
                    run.revision = revision;
                } else {
                    let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                    run.status = Some(ActionStatus::Failed);
                    run.error = Some(format!("the action produced no output artifact {}", names.join(", ")));
                }
                run.updated_at = Some(now);
            }
        }
        Input::ActionFailed { action, message } => {
            if let Some(run) = live_action(runs, &action)? {
                run.status = Some(ActionStatus::Failed);
                run.error = Some(message);
                run.updated_at = Some(now);
            }
        }
        Input::Approval { execution, stage, action, token, approved, summary, by } => {
            approval(runs, &execution, &stage, &action, &token, approved, summary, by, now)?;
        }
        Input::Stop { execution, abandon, reason } => stop(runs, &execution, abandon, reason, now, &mut effects)?,
        Input::Retry { execution, stage, mode } => retry(runs, &execution, &stage, mode, now)?,
        Input::DisableTransition { pipeline, stage, transition, reason } => {
            check_transition(&pipeline, &stage, transition)?;
            let len = reason.chars().count();
            if len == 0 || len > 300 {
                return Err(StepError::Validation(format!("a reason is 1 to 300 characters, got {len}")));
            }
            runs.disabled.retain(|d| !(d.stage == stage && d.transition == transition));
            runs.disabled.push(DisabledTransition { stage, transition, reason, at: now });
        }
        Input::EnableTransition { pipeline, stage, transition } => {
            check_transition(&pipeline, &stage, transition)?;
            runs.disabled.retain(|d| !(d.stage == stage && d.transition == transition));
        }
        Input::Cancel { execution, reason } => {
            let e = runs.position(&execution)?;
            let x = &mut runs.executions[e];
            if !matches!(x.position, Position::Before(_)) || x.status != ExecutionStatus::InProgress {
                return Err(StepError::NotStoppable(format!(
                    "execution {execution:?} is not waiting in front of a stage; only a waiting execution can be cancelled"
                )));
            }
            finish(x, ExecutionStatus::Cancelled, Some(reason), now);
        }
        Input::Tick => {
            for x in &mut runs.executions {
                for (si, s) in x.stages.iter_mut().enumerate() {
                    for (ai, a) in s.actions.iter_mut().enumerate() {
                        if a.status == Some(ActionStatus::InProgress) && a.deadline.is_some_and(|d| d <= now) {
                            let declared = &x.pipeline.stages[si].actions[ai];
                            let minutes = timeout_minutes(declared);
                            a.status = Some(ActionStatus::Failed);
                            a.updated_at = Some(now);
                            a.error = Some(if declared.action_type_id.category == Category::Approval {
                                format!("the approval timed out after {minutes} minutes without a decision")
                            } else {
                                format!("the action timed out after {minutes} minutes")
                            });
                        }
                    }
                }
            }
        }
    }
    advance(runs, now, &mut effects);
    Ok(effects)
}

fn start(
    runs: &mut Runs,
    id: String,
    pipeline: PipelineDeclaration,
    overrides: BTreeMap<String, String>,
    source_revisions: BTreeMap<String, String>,
    trigger: Option<Trigger>,
    now: Millis,
) -> Result<(), StepError> {
    if runs.execution(&id).is_some() {
        return Err(StepError::Validation(format!("pipeline execution {id:?} already exists")));
    }
    if let Err(problems) = check::check(&pipeline) {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(StepError::InvalidStructure(text.join("; ")));
    }
    let mut variables = BTreeMap::new();
    for (name, value) in &overrides {
        if !pipeline.variables.iter().any(|v| &v.name == name) {
            return Err(StepError::Validation(format!("the pipeline declares no variable {name:?}")));
        }
        let len = value.chars().count();
        if len == 0 || len > 1000 {
            return Err(StepError::Validation(format!(
                "variable {name:?}: a value is 1 to 1000 characters, got {len}"
            )));
        }
    }
    for v in &pipeline.variables {
        match overrides.get(&v.name).or(v.default_value.as_ref()) {
            Some(value) => variables.insert(v.name.clone(), value.clone()),
            None => {
                return Err(StepError::Validation(format!("variable {:?} has no default; give it a value", v.name)));
            }
        };
    }
    for name in source_revisions.keys() {
        let is_source = pipeline.stages[0].actions.iter().any(|a| &a.name == name);
        if !is_source {
            return Err(StepError::Validation(format!(
                "a source revision names {name:?}, which is not a source action"
            )));
        }
    }
    let stages = pipeline
        .stages
        .iter()
        .map(|s| StageRun {
            name: s.name.clone(),
            status: None,
            attempts: 0,
            auto_retried: false,
            actions: s
                .actions
                .iter()
                .map(|a| ActionRun {
                    name: a.name.clone(),
                    run_order: a.run_order,
                    status: None,
                    attempt: 0,
                    started_at: None,
                    updated_at: None,
                    deadline: None,
                    launched: false,
                    external_id: None,
                    external_url: None,
                    token: None,
                    summary: None,
                    error: None,
                    updated_by: None,
                    configuration: BTreeMap::new(),
                    input_artifacts: Vec::new(),
                    output_artifacts: Vec::new(),
                    output_variables: BTreeMap::new(),
                    revision: None,
                })
                .collect(),
        })
        .collect();
    runs.executions.push(Execution {
        id,
        pipeline,
        status: ExecutionStatus::InProgress,
        status_summary: None,
        started_at: now,
        updated_at: now,
        variables,
        source_revisions,
        stages,
        position: Position::Before(0),
        waiting: None,
        trigger,
    });
    Ok(())
}

/// The run of `action` when that attempt is in progress; `None` (ignore the
/// report) when it is not; an error when nothing by those names exists.
fn live_action<'r>(runs: &'r mut Runs, r: &ActionRef) -> Result<Option<&'r mut ActionRun>, StepError> {
    let e = runs.position(&r.execution)?;
    let x = &mut runs.executions[e];
    let stage =
        x.stages.iter_mut().find(|s| s.name == r.stage).ok_or_else(|| {
            StepError::StageNotFound(format!("execution {:?} has no stage {:?}", r.execution, r.stage))
        })?;
    let action = stage
        .actions
        .iter_mut()
        .find(|a| a.name == r.action)
        .ok_or_else(|| StepError::ActionNotFound(format!("stage {:?} has no action {:?}", r.stage, r.action)))?;
    Ok((action.status == Some(ActionStatus::InProgress) && action.attempt == r.attempt).then_some(action))
}

fn declared_outputs(x: &Execution, r: &ActionRef) -> Vec<String> {
    x.pipeline
        .stage(&r.stage)
        .and_then(|(_, s)| s.action(&r.action))
        .map(|(_, a)| a.output_artifacts.iter().map(|o| o.name.clone()).collect())
        .unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
fn approval(
    runs: &mut Runs,
    execution: &str,
    stage: &str,
    action: &str,
    token: &str,
    approved: bool,
    summary: String,
    by: Option<String>,
    now: Millis,
) -> Result<(), StepError> {
    let e = runs.position(execution)?;
    let x = &mut runs.executions[e];
    let (si, s) = x
        .pipeline
        .stage(stage)
        .ok_or_else(|| StepError::StageNotFound(format!("pipeline {:?} has no stage {stage:?}", x.pipeline.name)))?;
    let (ai, a) = s
        .action(action)
        .ok_or_else(|| StepError::ActionNotFound(format!("stage {stage:?} has no action {action:?}")))?;
    if a.action_type_id.category != Category::Approval {
        return Err(StepError::ActionNotFound(format!("action {action:?} of stage {stage:?} is not an approval")));
    }
    let len = summary.chars().count();
    if len > 512 {
        return Err(StepError::Validation(format!("an approval summary is at most 512 characters, got {len}")));
    }
    let run = &mut x.stages[si].actions[ai];
    if run.status != Some(ActionStatus::InProgress) {
        return Err(StepError::ApprovalAlreadyCompleted(format!(
            "approval {action:?} of stage {stage:?} is not waiting for a decision"
        )));
    }
    if run.token.as_deref() != Some(token) {
        return Err(StepError::InvalidApprovalToken(format!(
            "the approval token does not match the current request of {action:?} in stage {stage:?}"
        )));
    }
    run.status = Some(if approved { ActionStatus::Succeeded } else { ActionStatus::Failed });
    if !approved {
        run.error = Some(if summary.is_empty() { "rejected".to_owned() } else { format!("rejected: {summary}") });
    }
    run.summary = Some(summary);
    run.updated_by = by;
    run.updated_at = Some(now);
    Ok(())
}

fn stop(
    runs: &mut Runs,
    execution: &str,
    abandon: bool,
    reason: Option<String>,
    now: Millis,
    effects: &mut Vec<Effect>,
) -> Result<(), StepError> {
    let e = runs.position(execution)?;
    let x = &mut runs.executions[e];
    match x.status {
        ExecutionStatus::InProgress => {}
        ExecutionStatus::Stopping if abandon => {}
        ExecutionStatus::Stopping => {
            return Err(StepError::DuplicatedStopRequest(format!(
                "execution {execution:?} is already stopping; stop and abandon to end it at once"
            )));
        }
        status => {
            return Err(StepError::NotStoppable(format!(
                "execution {execution:?} is {status:?}; only one in progress can be stopped"
            )));
        }
    }
    let summary = reason.or(Some("stopped".to_owned()));
    match x.position {
        Position::In(s) if abandon => {
            let stage_name = x.stages[s].name.clone();
            for a in &mut x.stages[s].actions {
                if a.status == Some(ActionStatus::InProgress) {
                    a.status = Some(ActionStatus::Abandoned);
                    a.updated_at = Some(now);
                    effects.push(Effect::Abandon(ActionRef {
                        execution: execution.to_owned(),
                        stage: stage_name.clone(),
                        action: a.name.clone(),
                        attempt: a.attempt,
                    }));
                }
            }
            x.stages[s].status = Some(StageStatus::Stopped);
            finish(x, ExecutionStatus::Stopped, summary, now);
        }
        Position::In(s) => {
            x.stages[s].status = Some(StageStatus::Stopping);
            x.status = ExecutionStatus::Stopping;
            x.status_summary = summary;
            x.updated_at = now;
        }
        Position::Before(_) | Position::Done => finish(x, ExecutionStatus::Stopped, summary, now),
    }
    Ok(())
}

fn retry(runs: &mut Runs, execution: &str, stage: &str, mode: RetryMode, now: Millis) -> Result<(), StepError> {
    let e = runs.position(execution)?;
    let x = &runs.executions[e];
    let Some(si) = x.stages.iter().position(|s| s.name == stage) else {
        return Err(StepError::StageNotFound(format!("execution {execution:?} has no stage {stage:?}")));
    };
    let not_retryable = |why: String| Err(StepError::StageNotRetryable(why));
    if !matches!(x.status, ExecutionStatus::Failed | ExecutionStatus::Stopped) {
        return not_retryable(format!(
            "execution {execution:?} is {:?}; only a failed or stopped one can be retried",
            x.status
        ));
    }
    if !matches!(x.stages[si].status, Some(StageStatus::Failed | StageStatus::Stopped)) {
        return not_retryable(format!("stage {stage:?} of execution {execution:?} did not fail or stop"));
    }
    let running = x.stages[si].actions.iter().any(|a| a.status == Some(ActionStatus::InProgress));
    if mode == RetryMode::AllActions && running {
        return not_retryable(format!(
            "actions of stage {stage:?} are still in progress; retry ALL_ACTIONS when they have finished, or FAILED_ACTIONS now"
        ));
    }
    if x.mode() != ExecutionMode::Parallel {
        if let Some(holder) = runs.holder(stage, e) {
            return not_retryable(format!("execution {:?} is in stage {stage:?}", holder.id));
        }
        if let Some(newer) =
            runs.executions[e + 1..].iter().find(|n| n.stage(stage).is_some_and(|s| s.status.is_some()))
        {
            return not_retryable(format!("a newer execution {:?} has run in stage {stage:?} since", newer.id));
        }
    }
    let x = &mut runs.executions[e];
    reset_stage(&mut x.stages[si], mode);
    x.stages[si].attempts += 1;
    x.status = ExecutionStatus::InProgress;
    x.status_summary = None;
    x.position = Position::In(si);
    x.waiting = None;
    x.updated_at = now;
    Ok(())
}

/// Makes actions pending again for a retry.
fn reset_stage(stage: &mut StageRun, mode: RetryMode) {
    stage.status = Some(StageStatus::InProgress);
    for a in &mut stage.actions {
        let again = match mode {
            RetryMode::AllActions => true,
            RetryMode::FailedActions => matches!(a.status, Some(ActionStatus::Failed | ActionStatus::Abandoned)),
        };
        if again {
            a.status = None;
        }
    }
}

fn check_transition(pipeline: &PipelineDeclaration, stage: &str, transition: TransitionType) -> Result<(), StepError> {
    let Some((i, _)) = pipeline.stage(stage) else {
        return Err(StepError::StageNotFound(format!("pipeline {:?} has no stage {stage:?}", pipeline.name)));
    };
    match transition {
        TransitionType::Inbound if i == 0 => {
            Err(StepError::Validation(format!("{stage:?} is the first stage; it has no inbound transition")))
        }
        TransitionType::Outbound if i + 1 == pipeline.stages.len() => {
            Err(StepError::Validation(format!("{stage:?} is the last stage; it has no outbound transition")))
        }
        _ => Ok(()),
    }
}

fn finish(x: &mut Execution, status: ExecutionStatus, summary: Option<String>, now: Millis) {
    x.status = status;
    x.status_summary = summary;
    x.position = Position::Done;
    x.waiting = None;
    x.updated_at = now;
}

/// Moves every execution as far as the rules allow, oldest first, until
/// nothing changes.
fn advance(runs: &mut Runs, now: Millis, effects: &mut Vec<Effect>) {
    loop {
        let mut changed = supersede(runs, now);
        for e in 0..runs.executions.len() {
            if runs.executions[e].status.is_finished() {
                continue;
            }
            changed |= match runs.executions[e].position {
                Position::In(s) => progress_stage(runs, e, s, now, effects),
                Position::Before(s) => enter(runs, e, s, now),
                Position::Done => false,
            };
        }
        if !changed {
            return;
        }
    }
}

/// SUPERSEDED: of the executions waiting in front of one stage, only the
/// newest stays.
fn supersede(runs: &mut Runs, now: Millis) -> bool {
    let waiting: Vec<(usize, String)> = runs
        .executions
        .iter()
        .enumerate()
        .filter_map(|(i, x)| match x.position {
            Position::Before(s) if x.status == ExecutionStatus::InProgress => Some((i, x.stages[s].name.clone())),
            _ => None,
        })
        .collect();
    let mut changed = false;
    for (i, stage) in &waiting {
        if runs.executions[*i].mode() != ExecutionMode::Superseded {
            continue;
        }
        if let Some((newer, _)) = waiting.iter().find(|(j, name)| j > i && name == stage) {
            let by = runs.executions[*newer].id.clone();
            finish(
                &mut runs.executions[*i],
                ExecutionStatus::Superseded,
                Some(format!("superseded by execution {by}")),
                now,
            );
            changed = true;
        }
    }
    changed
}

/// Enters stage `s` when its transition is open and (except in PARALLEL
/// mode) no other execution holds it.
fn enter(runs: &mut Runs, e: usize, s: usize, now: Millis) -> bool {
    let x = &runs.executions[e];
    let name = x.stages[s].name.clone();
    let wait = if let Some(d) = runs.gate(&x.pipeline, s) {
        Some(Wait::TransitionDisabled { stage: d.stage.clone(), transition: d.transition, reason: d.reason.clone() })
    } else if x.mode() != ExecutionMode::Parallel
        && let Some(holder) = runs.holder(&name, e)
    {
        Some(Wait::StageLocked { stage: name, by: holder.id.clone() })
    } else {
        None
    };
    let x = &mut runs.executions[e];
    if wait.is_some() {
        let changed = x.waiting != wait;
        x.waiting = wait;
        return changed;
    }
    x.waiting = None;
    x.position = Position::In(s);
    x.stages[s].status = Some(StageStatus::InProgress);
    x.stages[s].attempts += 1;
    x.updated_at = now;
    true
}

/// Within stage `s`: finish it, fail it, retry it, or start its next actions.
fn progress_stage(runs: &mut Runs, e: usize, s: usize, now: Millis, effects: &mut Vec<Effect>) -> bool {
    let x = &mut runs.executions[e];
    let stage = &x.stages[s];
    let running = stage.actions.iter().any(|a| a.status == Some(ActionStatus::InProgress));
    let failed = stage
        .actions
        .iter()
        .find(|a| a.status == Some(ActionStatus::Failed))
        .map(|a| (a.name.clone(), a.error.clone().unwrap_or_else(|| "no reason given".to_owned())));
    let auto_retried = stage.auto_retried;
    if x.status == ExecutionStatus::Stopping {
        if running {
            return false;
        }
        x.stages[s].status = Some(StageStatus::Stopped);
        let summary = x.status_summary.take();
        finish(x, ExecutionStatus::Stopped, summary, now);
        return true;
    }
    if let Some((failed_name, failed_error)) = failed {
        let auto_retry = x.pipeline.stages[s]
            .on_failure
            .as_ref()
            .filter(|f| f.result == Some(StageFailureResult::Retry))
            .map(|f| f.retry_configuration.as_ref().and_then(|r| r.retry_mode).unwrap_or(RetryMode::FailedActions));
        if let (Some(mode), false) = (auto_retry, auto_retried) {
            if mode == RetryMode::AllActions && running {
                return false;
            }
            let stage = &mut x.stages[s];
            stage.auto_retried = true;
            stage.attempts += 1;
            reset_stage(stage, mode);
            x.updated_at = now;
            return true;
        }
        let summary = format!("action {failed_name:?} in stage {:?} failed: {failed_error}", x.stages[s].name);
        x.stages[s].status = Some(StageStatus::Failed);
        finish(x, ExecutionStatus::Failed, Some(summary), now);
        return true;
    }
    if stage.actions.iter().all(|a| a.status == Some(ActionStatus::Succeeded)) {
        x.stages[s].status = Some(StageStatus::Succeeded);
        x.updated_at = now;
        if s + 1 == x.stages.len() {
            finish(x, ExecutionStatus::Succeeded, None, now);
        } else {
            x.position = Position::Before(s + 1);
        }
        return true;
    }
    // The lowest pending runOrder starts once everything before it succeeded.
    let Some(next) = stage.actions.iter().filter(|a| a.status.is_none()).map(|a| a.run_order).min() else {
        return false;
    };
    if stage.actions.iter().any(|a| a.run_order < next && a.status != Some(ActionStatus::Succeeded)) {
        return false;
    }
    let pending: Vec<usize> = (0..stage.actions.len())
        .filter(|&i| stage.actions[i].status.is_none() && stage.actions[i].run_order == next)
        .collect();
    for a in pending {
        start_action(x, s, a, now, effects);
    }
    true
}

/// Starts one action: resolves its configuration and inputs, or fails it
/// with the reason when they cannot be.
fn start_action(x: &mut Execution, s: usize, a: usize, now: Millis, effects: &mut Vec<Effect>) {
    let declared = x.pipeline.stages[s].actions[a].clone();
    let known = x.known_before(s, declared.run_order);
    let configuration = vars::resolve_configuration(&declared.configuration, &known);
    let mut inputs = Vec::new();
    let mut missing = None;
    for input in &declared.input_artifacts {
        match x.artifact(&input.name) {
            Some(found) => inputs.push(found.clone()),
            None => missing = Some(input.name.clone()),
        }
    }
    let deadline = now + u64::from(timeout_minutes(&declared)) * 60_000;
    let revision = x.source_revisions.get(&declared.name).cloned();
    let execution_id = x.id.clone();
    let pipeline = x.pipeline.name.clone();
    let stage_name = x.stages[s].name.clone();
    let run = &mut x.stages[s].actions[a];
    run.attempt += 1;
    run.started_at = Some(now);
    run.updated_at = Some(now);
    run.launched = false;
    run.external_id = None;
    run.external_url = None;
    run.token = None;
    run.summary = None;
    run.updated_by = None;
    run.output_artifacts.clear();
    run.output_variables.clear();
    run.revision = None;
    run.input_artifacts = inputs.clone();
    let failure = match (&configuration, &missing) {
        (Err(unresolved), _) => Some(unresolved.message.clone()),
        (_, Some(name)) => Some(format!("input artifact {name:?} was not produced in this execution")),
        _ => None,
    };
    if let Some(message) = failure {
        run.status = Some(ActionStatus::Failed);
        run.error = Some(message);
        run.deadline = None;
        return;
    }
    let configuration = configuration.unwrap_or_default();
    run.status = Some(ActionStatus::InProgress);
    run.error = None;
    run.deadline = Some(deadline);
    run.configuration = configuration.clone();
    effects.push(Effect::StartAction(Box::new(ActionJob {
        action: ActionRef {
            execution: execution_id,
            stage: stage_name,
            action: declared.name.clone(),
            attempt: run.attempt,
        },
        pipeline,
        action_type_id: declared.action_type_id.clone(),
        configuration,
        input_artifacts: inputs,
        output_artifacts: declared.output_artifacts.iter().map(|o| o.name.clone()).collect(),
        namespace: declared.namespace.clone(),
        revision,
        deadline,
    })));
}

#[cfg(test)]
mod tests;
