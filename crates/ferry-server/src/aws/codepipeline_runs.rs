//! CodePipeline's execution operations over `ops::pipeline_runs`:
//! StartPipelineExecution, StopPipelineExecution, GetPipelineState,
//! GetPipelineExecution, ListPipelineExecutions, ListActionExecutions,
//! RetryStageExecution, PutApprovalResult, Enable/DisableStageTransition,
//! ListActionTypes, and the job worker operations (PollForJobs,
//! AcknowledgeJob, GetJobDetails, PutJobSuccessResult,
//! PutJobFailureResult), answered in the model's output shapes.

use std::collections::BTreeMap;

use ferry_aws::codepipeline::validate;
use ferry_aws::codepipeline::wire::{self, *};
use ferry_aws::convert::ts;
use ferry_aws::{AwsError, AwsResult};
use ferry_pipeline::execution::{ActionRun, ActionStatus, Execution, Position, Runs, TransitionType};
use ferry_pipeline::{PipelineDeclaration, RetryMode};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::ops::pipeline_runs::{self, Decision, name};
use crate::ops::pipelines;
use crate::ops::{pipeline_actions, pipeline_jobs};

fn answer(v: impl serde::Serialize) -> AwsResult<Value> {
    serde_json::to_value(v).map_err(|e| AwsError::new("InternalFailure", e.to_string()))
}

fn text(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or_default()
}

fn transition_type(t: &Option<String>) -> AwsResult<TransitionType> {
    match text(t) {
        "Inbound" => Ok(TransitionType::Inbound),
        "Outbound" => Ok(TransitionType::Outbound),
        other => Err(validate::validation(format!("transitionType must be Inbound or Outbound, not {other:?}"))),
    }
}

pub(super) async fn start(state: &AppState, caller: &Caller, i: StartPipelineExecutionInput) -> AwsResult<Value> {
    let variables: BTreeMap<String, String> = i
        .variables
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.name.unwrap_or_default(), v.value.unwrap_or_default()))
        .collect();
    let revisions: BTreeMap<String, String> = i
        .source_revisions
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.action_name.unwrap_or_default(), r.revision_value.unwrap_or_default()))
        .collect();
    let trigger = pipeline_runs::started_by(&caller.key_id);
    let id = pipeline_runs::start(state, text(&i.name), variables, revisions, trigger).await?;
    Ok(json!({ "pipelineExecutionId": id }))
}

pub(super) async fn stop(state: &AppState, i: StopPipelineExecutionInput) -> AwsResult<Value> {
    let id = text(&i.pipeline_execution_id);
    pipeline_runs::stop(state, text(&i.pipeline_name), id, i.abandon.unwrap_or(false), i.reason.clone()).await?;
    Ok(json!({ "pipelineExecutionId": id }))
}

pub(super) async fn retry(state: &AppState, i: RetryStageExecutionInput) -> AwsResult<Value> {
    let mode = match text(&i.retry_mode) {
        "FAILED_ACTIONS" => RetryMode::FailedActions,
        "ALL_ACTIONS" => RetryMode::AllActions,
        other => {
            return Err(validate::validation(format!(
                "retryMode must be FAILED_ACTIONS or ALL_ACTIONS, not {other:?}"
            )));
        }
    };
    let id = text(&i.pipeline_execution_id);
    pipeline_runs::retry(state, text(&i.pipeline_name), id, text(&i.stage_name), mode).await?;
    Ok(json!({ "pipelineExecutionId": id }))
}

pub(super) async fn put_approval(state: &AppState, caller: &Caller, i: PutApprovalResultInput) -> AwsResult<Value> {
    let result = i.result.unwrap_or_default();
    let approved = match result.status.as_deref() {
        Some("Approved") => true,
        Some("Rejected") => false,
        other => {
            return Err(validate::validation(format!("result.status must be Approved or Rejected, not {other:?}")));
        }
    };
    let decision = Decision {
        stage: i.stage_name.unwrap_or_default(),
        action: i.action_name.unwrap_or_default(),
        token: i.token,
        approved,
        summary: result.summary.unwrap_or_default(),
        by: Some(caller.key_id.clone()),
    };
    let at = pipeline_runs::decide(state, text(&i.pipeline_name), decision).await?;
    Ok(json!({ "approvedAt": ts(at) }))
}

pub(super) async fn enable_transition(state: &AppState, i: EnableStageTransitionInput) -> AwsResult<Value> {
    let t = transition_type(&i.transition_type)?;
    pipeline_runs::transition(state, text(&i.pipeline_name), text(&i.stage_name), t, None).await?;
    Ok(json!({}))
}

pub(super) async fn disable_transition(state: &AppState, i: DisableStageTransitionInput) -> AwsResult<Value> {
    let t = transition_type(&i.transition_type)?;
    let reason = i.reason.unwrap_or_default();
    pipeline_runs::transition(state, text(&i.pipeline_name), text(&i.stage_name), t, Some(reason)).await?;
    Ok(json!({}))
}

/// GetPipelineState: each stage of the pipeline's current version, with
/// the newest execution that entered it, the one waiting in front of it,
/// its inbound transition and its actions' latest executions.
pub(super) async fn state_of(state: &AppState, i: GetPipelineStateInput) -> AwsResult<Value> {
    let p = pipelines::get(state, text(&i.name), None).await?;
    let runs = pipeline_runs::runs(state, &p.declaration.name).await?;
    let stages: Vec<StageState> = p
        .declaration
        .stages
        .iter()
        .enumerate()
        .map(|(index, s)| stage_state(&runs, &p.declaration, index, &s.name))
        .collect();
    Ok(json!({
        "pipelineName": p.declaration.name,
        "pipelineVersion": p.declaration.version.unwrap_or(1),
        "stageStates": answer(stages)?,
        "created": ts(p.create_time),
        "updated": ts(p.update_time),
    }))
}

fn stage_state(runs: &Runs, pipeline: &PipelineDeclaration, index: usize, stage: &str) -> StageState {
    let latest = runs.latest_in_stage(stage);
    let waiting: Vec<StageExecution> = runs
        .executions
        .iter()
        .filter(|e| e.position == Position::Before(index) && !e.status.is_finished())
        .map(|e| StageExecution { pipeline_execution_id: e.id.clone(), status: "InProgress".into(), kind: None })
        .collect();
    let gate = runs.gate(pipeline, index);
    let transition = (index > 0).then(|| TransitionState {
        enabled: Some(gate.is_none()),
        disabled_reason: gate.map(|g| g.reason.clone()),
        last_changed_at: gate.map(|g| ts(g.at)),
        last_changed_by: None,
    });
    let declared = &pipeline.stages[index];
    let action_states = declared
        .actions
        .iter()
        .map(|a| {
            let run = latest.and_then(|(_, s)| s.actions.iter().find(|r| r.name == a.name));
            ActionState {
                action_name: Some(a.name.clone()),
                current_revision: run.and_then(|r| r.revision.clone()).map(|revision| ActionRevision {
                    revision_id: revision,
                    revision_change_id: String::new(),
                    created: run.and_then(|r| r.updated_at).map(ts).unwrap_or_default(),
                }),
                latest_execution: run
                    .filter(|r| r.status.is_some())
                    .map(|r| action_execution(latest.unwrap().0, stage, r)),
                entity_url: None,
                revision_url: None,
            }
        })
        .collect();
    StageState {
        stage_name: Some(stage.to_string()),
        inbound_execution: waiting.last().cloned(),
        inbound_executions: Some(waiting),
        inbound_transition_state: transition,
        action_states: Some(action_states),
        latest_execution: latest.map(|(e, s)| StageExecution {
            pipeline_execution_id: e.id.clone(),
            status: s.status.map(name).unwrap_or_default(),
            kind: None,
        }),
        retry_stage_metadata: latest.filter(|(_, s)| s.attempts > 1).map(|(_, s)| RetryStageMetadata {
            auto_stage_retry_attempt: Some(i64::from(s.auto_retried)),
            manual_stage_retry_attempt: Some(i64::from(s.attempts.saturating_sub(1)) - i64::from(s.auto_retried)),
            latest_retry_trigger: None,
        }),
    }
}

fn action_execution_id(e: &Execution, stage: &str, run: &ActionRun) -> String {
    format!("{}-{stage}-{}-{}", e.id, run.name, run.attempt)
}

fn action_execution(e: &Execution, stage: &str, run: &ActionRun) -> wire::ActionExecution {
    let waiting_approval = run.status == Some(ActionStatus::InProgress);
    wire::ActionExecution {
        action_execution_id: Some(action_execution_id(e, stage, run)),
        status: run.status.map(name),
        summary: run.summary.clone(),
        last_status_change: run.updated_at.map(ts),
        token: run.token.clone().filter(|_| waiting_approval),
        last_updated_by: run.updated_by.clone(),
        external_execution_id: run.external_id.clone(),
        external_execution_url: run.external_url.clone(),
        percent_complete: None,
        error_details: run
            .error
            .clone()
            .map(|message| ErrorDetails { code: Some("JobFailed".into()), message: Some(message) }),
        log_stream_arn: None,
    }
}

pub(super) async fn get_execution(state: &AppState, i: GetPipelineExecutionInput) -> AwsResult<Value> {
    let e = pipeline_runs::execution(state, text(&i.pipeline_name), text(&i.pipeline_execution_id)).await?;
    let artifact_revisions: Vec<ArtifactRevision> = sources(&e)
        .map(|(output, run)| ArtifactRevision {
            name: Some(output),
            revision_id: run.revision.clone(),
            revision_change_identifier: None,
            revision_summary: run.summary.clone(),
            created: run.updated_at.map(ts),
            revision_url: None,
        })
        .collect();
    let execution = PipelineExecution {
        pipeline_name: Some(e.pipeline.name.clone()),
        pipeline_version: Some(i64::from(e.pipeline.version.unwrap_or(1))),
        pipeline_execution_id: Some(e.id.clone()),
        status: Some(name(e.status)),
        status_summary: e.status_summary.clone(),
        artifact_revisions: Some(artifact_revisions),
        variables: Some(
            e.variables
                .iter()
                .map(|(n, v)| ResolvedPipelineVariable { name: Some(n.clone()), resolved_value: Some(v.clone()) })
                .collect(),
        ),
        trigger: Some(trigger(&e)),
        execution_mode: Some(e.pipeline.execution_mode.as_str().to_string()),
        execution_type: Some("STANDARD".into()),
        rollback_metadata: None,
    };
    Ok(json!({ "pipelineExecution": answer(execution)? }))
}

fn trigger(e: &Execution) -> ExecutionTrigger {
    match &e.trigger {
        Some(t) => ExecutionTrigger {
            trigger_type: Some(t.trigger_type.clone()),
            trigger_detail: Some(t.trigger_detail.clone()),
        },
        None => ExecutionTrigger { trigger_type: Some("StartPipelineExecution".into()), trigger_detail: None },
    }
}

/// Source actions that succeeded, with their first output artifact's name.
fn sources(e: &Execution) -> impl Iterator<Item = (String, &ActionRun)> {
    e.pipeline.stages.iter().zip(&e.stages).take(1).flat_map(|(declared, run)| {
        declared
            .actions
            .iter()
            .zip(&run.actions)
            .filter(|(_, r)| r.status == Some(ActionStatus::Succeeded))
            .map(|(d, r)| (d.output_artifacts.first().map(|o| o.name.clone()).unwrap_or_else(|| d.name.clone()), r))
    })
}

/// At most this many executions (or action executions) per page.
const MAX_RESULTS: i64 = 100;

pub(super) async fn list_executions(state: &AppState, i: ListPipelineExecutionsInput) -> AwsResult<Value> {
    let pipeline = text(&i.pipeline_name);
    let size = i.max_results.unwrap_or(MAX_RESULTS).clamp(1, MAX_RESULTS) as usize;
    let mut all = pipeline_runs::list(state, pipeline, None, 1000).await?;
    if let Some(stage) =
        i.filter.as_ref().and_then(|f| f.succeeded_in_stage.as_ref()).and_then(|s| s.stage_name.as_deref())
    {
        all.retain(|e| {
            e.stage(stage).is_some_and(|s| s.status == Some(ferry_pipeline::execution::StageStatus::Succeeded))
        });
    }
    let summaries: Vec<PipelineExecutionSummary> = all
        .iter()
        .map(|e| PipelineExecutionSummary {
            pipeline_execution_id: Some(e.id.clone()),
            status: Some(name(e.status)),
            status_summary: e.status_summary.clone(),
            start_time: Some(ts(e.started_at)),
            last_update_time: Some(ts(e.updated_at)),
            source_revisions: Some(
                e.pipeline
                    .stages
                    .first()
                    .zip(e.stages.first())
                    .into_iter()
                    .flat_map(|(d, r)| {
                        d.actions.iter().zip(&r.actions).filter_map(|(d, r)| {
                            Some(SourceRevision {
                                action_name: d.name.clone(),
                                revision_id: Some(r.revision.clone()?),
                                revision_summary: r.summary.clone(),
                                revision_url: None,
                            })
                        })
                    })
                    .collect(),
            ),
            trigger: Some(trigger(e)),
            stop_trigger: None,
            execution_mode: Some(e.pipeline.execution_mode.as_str().to_string()),
            execution_type: Some("STANDARD".into()),
            rollback_metadata: None,
        })
        .collect();
    let op = ferry_aws::codepipeline::Operation::ListPipelineExecutions;
    let (page, next) = ferry_aws::token::page_of(op, summaries, i.next_token.as_deref(), size)?;
    Ok(json!({ "pipelineExecutionSummaries": answer(page)?, "nextToken": next }))
}

pub(super) async fn list_action_executions(state: &AppState, i: ListActionExecutionsInput) -> AwsResult<Value> {
    let pipeline = text(&i.pipeline_name);
    let size = i.max_results.unwrap_or(MAX_RESULTS).clamp(1, MAX_RESULTS) as usize;
    let executions = match i.filter.as_ref().and_then(|f| f.pipeline_execution_id.as_deref()) {
        Some(id) => vec![pipeline_runs::execution(state, pipeline, id).await?],
        None => pipeline_runs::list(state, pipeline, None, 100).await?,
    };
    let mut details = Vec::new();
    for e in &executions {
        for (declared, stage) in e.pipeline.stages.iter().zip(&e.stages) {
            for (d, run) in declared.actions.iter().zip(&stage.actions) {
                if run.status.is_none() {
                    continue;
                }
                let artifacts = |list: &[ferry_pipeline::execution::ArtifactLocation]| -> Vec<ArtifactDetail> {
                    list.iter()
                        .map(|a| {
                            let at = s3_location(state, pipeline, &e.id, a);
                            ArtifactDetail {
                                name: Some(a.name.clone()),
                                s3location: Some(S3Location {
                                    bucket: at.bucket_name.into(),
                                    key: at.object_key.into(),
                                }),
                            }
                        })
                        .collect()
                };
                details.push(ActionExecutionDetail {
                    pipeline_execution_id: Some(e.id.clone()),
                    action_execution_id: Some(action_execution_id(e, &stage.name, run)),
                    pipeline_version: Some(i64::from(e.pipeline.version.unwrap_or(1))),
                    stage_name: Some(stage.name.clone()),
                    action_name: Some(run.name.clone()),
                    start_time: run.started_at.map(ts),
                    last_update_time: run.updated_at.map(ts),
                    updated_by: run.updated_by.clone(),
                    status: run.status.map(name),
                    input: Some(ActionExecutionInput {
                        action_type_id: Some(wire_type(&d.action_type_id)),
                        configuration: Some(d.configuration.clone()),
                        resolved_configuration: Some(run.configuration.clone()),
                        role_arn: None,
                        region: None,
                        input_artifacts: Some(artifacts(&run.input_artifacts)),
                        namespace: d.namespace.clone(),
                    }),
                    output: Some(ActionExecutionOutput {
                        output_artifacts: Some(artifacts(&run.output_artifacts)),
                        execution_result: Some(ActionExecutionResult {
                            external_execution_id: run.external_id.clone(),
                            external_execution_summary: run.summary.clone(),
                            external_execution_url: run.external_url.clone(),
                            error_details: run
                                .error
                                .clone()
                                .map(|m| ErrorDetails { code: Some("JobFailed".into()), message: Some(m) }),
                            log_stream_arn: None,
                        }),
                        output_variables: Some(run.output_variables.clone()),
                    }),
                });
            }
        }
    }
    let op = ferry_aws::codepipeline::Operation::ListActionExecutions;
    let (page, next) = ferry_aws::token::page_of(op, details, i.next_token.as_deref(), size)?;
    Ok(json!({ "actionExecutionDetails": answer(page)?, "nextToken": next }))
}

fn wire_type(id: &ferry_pipeline::ActionTypeId) -> wire::ActionTypeId {
    wire::ActionTypeId {
        category: Some(id.category.as_str().to_string()),
        owner: Some(id.owner.as_str().to_string()),
        provider: Some(id.provider.clone()),
        version: Some(id.version.clone()),
    }
}

/// ListActionTypes: the action types ferry runs (custom ones are any
/// provider a job worker polls for, so they are not listed).
pub(super) fn action_types(i: ListActionTypesInput) -> AwsResult<Value> {
    let types: Vec<ActionType> = ferry_pipeline::check::PROVIDERS
        .iter()
        .filter(|p| i.action_owner_filter.as_deref().is_none_or(|o| o == p.owner.as_str()))
        .map(|p| ActionType {
            id: wire::ActionTypeId {
                category: Some(p.category.as_str().to_string()),
                owner: Some(p.owner.as_str().to_string()),
                provider: p.provider.map(str::to_owned),
                version: Some("1".into()),
            },
            input_artifact_details: ArtifactDetails {
                minimum_count: p.inputs.0 as i64,
                maximum_count: p.inputs.1 as i64,
            },
            output_artifact_details: ArtifactDetails {
                minimum_count: p.outputs.0 as i64,
                maximum_count: p.outputs.1 as i64,
            },
            settings: None,
            action_configuration_properties: None,
        })
        .collect();
    Ok(json!({ "actionTypes": answer(types)? }))
}

// ---------------------------------------------------------------- job workers

fn job_refusal(id: &str, e: pipeline_jobs::JobRefusal) -> AwsError {
    match e {
        pipeline_jobs::JobRefusal::NotFound => validate::job_not_found(id),
        pipeline_jobs::JobRefusal::Nonce(m) => validate::invalid_nonce(m),
        pipeline_jobs::JobRefusal::Op(e) => e.into(),
    }
}

fn job_data(state: &AppState, job: &pipeline_jobs::Job) -> JobData {
    let arns =
        ferry_aws::arn::Arns { region: state.config.aws_region.clone(), account: state.config.aws_account_id.clone() };
    let artifact = |a: &ferry_pipeline::execution::ArtifactLocation| wire::Artifact {
        name: Some(a.name.clone()),
        revision: None,
        location: Some(wire::ArtifactLocation {
            kind: Some("S3".into()),
            s3_location: Some(s3_location(state, &job.pipeline, &job.execution, a)),
        }),
    };
    JobData {
        action_type_id: Some(wire_type(&job.action.action_type_id)),
        action_configuration: Some(ActionConfiguration { configuration: Some(job.run.configuration.clone()) }),
        pipeline_context: Some(PipelineContext {
            pipeline_name: Some(job.pipeline.clone()),
            stage: Some(StageContext { name: Some(job.stage.clone()) }),
            action: Some(ActionContext {
                name: Some(job.run.name.clone()),
                action_execution_id: Some(format!(
                    "{}-{}-{}-{}",
                    job.execution, job.stage, job.run.name, job.run.attempt
                )),
            }),
            pipeline_arn: Some(arns.pipeline(&job.pipeline)),
            pipeline_execution_id: Some(job.execution.clone()),
        }),
        input_artifacts: Some(job.run.input_artifacts.iter().map(artifact).collect()),
        output_artifacts: Some(
            job.action
                .output_artifacts
                .iter()
                .map(|o| wire::Artifact {
                    name: Some(o.name.clone()),
                    revision: None,
                    location: state.config.artifact_bucket.as_ref().map(|bucket| wire::ArtifactLocation {
                        kind: Some("S3".into()),
                        s3_location: Some(S3ArtifactLocation {
                            bucket_name: bucket.clone(),
                            object_key: pipeline_actions::s3_key(&job.pipeline, &job.execution, &o.name, "zip"),
                        }),
                    }),
                })
                .collect(),
        ),
        artifact_credentials: None,
        continuation_token: None,
        encryption_key: None,
    }
}

pub(super) async fn poll_for_jobs(state: &AppState, i: PollForJobsInput) -> AwsResult<Value> {
    let t = i.action_type_id.unwrap_or_default();
    let category = ferry_pipeline::Category::ALL
        .into_iter()
        .find(|c| Some(c.as_str()) == t.category.as_deref())
        .ok_or_else(|| validate::validation(format!("actionTypeId.category {:?} is not a category", t.category)))?;
    if t.owner.as_deref() != Some("Custom") {
        return Err(validate::validation("job workers poll for action types of the Custom owner"));
    }
    let type_id = ferry_pipeline::ActionTypeId {
        category,
        owner: ferry_pipeline::Owner::Custom,
        provider: t.provider.unwrap_or_default(),
        version: t.version.unwrap_or_default(),
    };
    let max = i.max_batch_size.unwrap_or(1).clamp(1, 100) as usize;
    let jobs = pipeline_jobs::poll(state, &type_id, max, &i.query_param.unwrap_or_default()).await?;
    let account = state.config.aws_account_id.clone();
    let jobs: Vec<wire::Job> = jobs
        .iter()
        .map(|j| wire::Job {
            id: Some(j.id.clone()),
            data: Some(job_data(state, j)),
            nonce: j.nonce.clone(),
            account_id: Some(account.clone()),
        })
        .collect();
    Ok(json!({ "jobs": answer(jobs)? }))
}

pub(super) async fn acknowledge_job(state: &AppState, i: AcknowledgeJobInput) -> AwsResult<Value> {
    let id = text(&i.job_id);
    let status = pipeline_jobs::acknowledge(state, id, text(&i.nonce)).await.map_err(|e| job_refusal(id, e))?;
    Ok(json!({ "status": status }))
}

pub(super) async fn get_job_details(state: &AppState, i: GetJobDetailsInput) -> AwsResult<Value> {
    let id = text(&i.job_id);
    let job = pipeline_jobs::get(state, id).await?.ok_or_else(|| validate::job_not_found(id))?;
    let details = JobDetails {
        id: Some(job.id.clone()),
        data: Some(job_data(state, &job)),
        account_id: Some(state.config.aws_account_id.clone()),
    };
    Ok(json!({ "jobDetails": answer(details)? }))
}

pub(super) async fn put_job_success(state: &AppState, i: PutJobSuccessResultInput) -> AwsResult<Value> {
    let id = text(&i.job_id).to_string();
    if i.continuation_token.is_some() {
        return Err(validate::validation("ferry's jobs take no continuation token: report success or failure once"));
    }
    let summary = i.execution_details.and_then(|d| d.summary);
    let revision = i.current_revision.and_then(|r| r.revision);
    pipeline_jobs::succeed(state, &id, summary, revision, i.output_variables.unwrap_or_default())
        .await
        .map_err(|e| job_refusal(&id, e))?;
    Ok(json!({}))
}

pub(super) async fn put_job_failure(state: &AppState, i: PutJobFailureResultInput) -> AwsResult<Value> {
    let id = text(&i.job_id).to_string();
    let details = i.failure_details.unwrap_or_default();
    let message = format!(
        "{}: {}",
        details.kind.as_deref().unwrap_or("JobFailed"),
        details.message.as_deref().unwrap_or("the job worker reported a failure")
    );
    pipeline_jobs::fail(state, &id, message).await.map_err(|e| job_refusal(&id, e))?;
    Ok(json!({}))
}

/// Where an artifact is as S3 names it: in the artifact bucket when the
/// server has one, else the blob store's key under `FerryServer`.
fn s3_location(
    state: &AppState,
    pipeline: &str,
    execution: &str,
    a: &ferry_pipeline::execution::ArtifactLocation,
) -> S3ArtifactLocation {
    let (bundle_type, key) = a.location.split_once(':').unwrap_or(("zip", &a.location));
    match &state.config.artifact_bucket {
        Some(bucket) => S3ArtifactLocation {
            bucket_name: bucket.clone(),
            object_key: pipeline_actions::s3_key(pipeline, execution, &a.name, bundle_type),
        },
        None => S3ArtifactLocation {
            bucket_name: ferry_aws::convert::FERRY_BUCKET.to_string(),
            object_key: key.to_string(),
        },
    }
}
