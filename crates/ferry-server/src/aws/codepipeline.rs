//! CodePipeline's JSON 1.1 API (`X-Amz-Target: CodePipeline_20150709.<Op>`,
//! signed for `codepipeline`) on the AWS endpoint: the pipeline operations
//! (Create/Get/Update/Delete/ListPipelines) and tags over `ops::pipelines`,
//! and the execution, approval, transition and job worker operations over
//! `ops::pipeline_runs` and `ops::pipeline_jobs` (`codepipeline_runs.rs`).
//!
//! The wire declaration (`ferry_aws::codepipeline::wire`) and ferry's
//! (`ferry_pipeline`) are both CodePipeline's JSON: a declaration crosses
//! by that JSON, and `ferry_pipeline`'s parser and rules decide it, so the
//! API refuses exactly what `ferry pipeline create` refuses.

use axum::http::request::Parts;
use ferry_aws::arn::Arns;
use ferry_aws::codepipeline::{Operation, Request};
use ferry_aws::convert::ts;
use ferry_aws::{AwsError, AwsResult};
use ferry_core::resources::{Role, Subject};
use serde_json::{Value, json};

use super::{log_outcome, read_body, verify};
use crate::AppState;
use crate::auth::{Caller, Service};
use crate::ops::OpError;
use crate::ops::pipelines::{self, Pipeline};

#[path = "codepipeline_runs.rs"]
mod runs;

pub(super) async fn handle(state: &AppState, parts: &Parts, body: axum::body::Body) -> AwsResult<Value> {
    let op = Operation::from_target(parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()));
    if let Ok(op) = op {
        crate::audit::note_action(op.name());
    }
    let body = read_body(body).await?;
    let caller = verify(state, Service::CodePipeline, parts, &body).await?;
    let op = op?;
    let request = Request::decode(op, &body)?;
    authorize(&caller, op)?;
    let arns = Arns { region: state.config.aws_region.clone(), account: state.config.aws_account_id.clone() };
    let outcome = async {
        request.validate()?;
        dispatch(state, &caller, &arns, request).await
    }
    .await;
    log_outcome(op.name(), &caller, &outcome);
    outcome
}

/// Agents may not use the API; read-only keys only read; pipelines are a
/// global resource (admins, deployers without scopes).
fn authorize(caller: &Caller, op: Operation) -> AwsResult<()> {
    if caller.role == Role::Agent {
        return Err(AwsError::access_denied(format!(
            "Access key {} belongs to an agent and cannot call {}.",
            caller.key_id,
            op.name()
        )));
    }
    if op.mutates()
        && let Err(why) = caller.may_change(Subject::Global)
    {
        return Err(AwsError::access_denied(format!("{why}, so it cannot call {}.", op.name())));
    }
    Ok(())
}

/// A wire declaration as ferry's, by CodePipeline's JSON; refusals are
/// CodePipeline's `InvalidStructureException`.
fn declaration(wire: &impl serde::Serialize) -> AwsResult<ferry_pipeline::PipelineDeclaration> {
    let text = serde_json::to_string(wire).map_err(|e| AwsError::new("InternalFailure", e.to_string()))?;
    pipelines::parse("pipeline", &text).map_err(|e| match e {
        OpError::Invalid(message) => AwsError::new("InvalidStructureException", message),
        e => e.into(),
    })
}

/// A declaration as CodePipeline's answers show it. A pipeline declared to
/// ferry without `roleArn` or an artifact store (ferry needs neither) shows
/// placeholders, which CodePipeline's clients require in what they send
/// back: `arn:aws:iam::<account>:role/ferry` and the S3 store `FerryServer`
/// (ferry's own blob store).
fn shown(p: &Pipeline, arns: &Arns) -> Value {
    let mut v = p.declaration.to_json();
    if let Some(o) = v.as_object_mut() {
        o.entry("roleArn").or_insert_with(|| format!("arn:aws:iam::{}:role/ferry", arns.account).into());
        if !o.contains_key("artifactStores") {
            o.entry("artifactStore")
                .or_insert_with(|| json!({ "type": "S3", "location": ferry_aws::convert::FERRY_BUCKET }));
        }
    }
    v
}

fn metadata(p: &Pipeline, arns: &Arns) -> Value {
    json!({
        "pipelineArn": format!("arn:aws:codepipeline:{}:{}:{}", arns.region, arns.account, p.declaration.name),
        "created": ts(p.create_time),
        "updated": ts(p.update_time),
    })
}

async fn dispatch(state: &AppState, caller: &Caller, arns: &Arns, request: Request) -> AwsResult<Value> {
    match request {
        Request::CreatePipeline(i) => {
            let p = pipelines::create(state, declaration(&i.pipeline)?).await?;
            let tags =
                pipelines::change_tags(state, &p.declaration.name, pairs(i.tags.unwrap_or_default()), &[]).await?;
            Ok(json!({ "pipeline": shown(&p, arns), "tags": wire_tags(&tags) }))
        }
        Request::TagResource(i) => {
            let (name, arn) = tagged(i.resource_arn.as_deref())?;
            let given = i.tags.unwrap_or_default();
            let existing = pipelines::tags(state, &name).await.map_err(|e| not_found(e, &arn))?;
            let new_keys = given.iter().filter(|t| !existing.iter().any(|(k, _)| Some(k) == t.key.as_ref())).count();
            // The limit counts the tags the pipeline will have: those kept plus the new keys.
            ferry_aws::codepipeline::validate::tags(&given, (existing.len() + new_keys).saturating_sub(given.len()))?;
            pipelines::change_tags(state, &name, pairs(given), &[]).await?;
            Ok(json!({}))
        }
        Request::UntagResource(i) => {
            let (name, arn) = tagged(i.resource_arn.as_deref())?;
            pipelines::change_tags(state, &name, Vec::new(), &i.tag_keys.unwrap_or_default())
                .await
                .map_err(|e| not_found(e, &arn))?;
            Ok(json!({}))
        }
        Request::ListTagsForResource(i) => {
            let (name, arn) = tagged(i.resource_arn.as_deref())?;
            let tags = pipelines::tags(state, &name).await.map_err(|e| not_found(e, &arn))?;
            Ok(json!({ "tags": wire_tags(&tags) }))
        }
        Request::UpdatePipeline(i) => {
            let p = pipelines::update(state, declaration(&i.pipeline)?).await?;
            Ok(json!({ "pipeline": shown(&p, arns) }))
        }
        Request::GetPipeline(i) => {
            let version = i.version.map(|v| u32::try_from(v).unwrap_or(u32::MAX));
            let p = pipelines::get(state, i.name.as_deref().unwrap_or_default(), version).await?;
            Ok(json!({ "pipeline": shown(&p, arns), "metadata": metadata(&p, arns) }))
        }
        Request::DeletePipeline(i) => {
            pipelines::delete(state, i.name.as_deref().unwrap_or_default()).await?;
            Ok(json!({}))
        }
        Request::ListPipelines(_) => {
            let summaries: Vec<Value> = pipelines::list(state)
                .await?
                .iter()
                .map(|p| {
                    let d = &p.declaration;
                    json!({
                        "name": d.name,
                        "version": d.version.unwrap_or(1),
                        "pipelineType": format!("{:?}", d.pipeline_type),
                        "executionMode": d.execution_mode.as_str(),
                        "created": ts(p.create_time),
                        "updated": ts(p.update_time),
                    })
                })
                .collect();
            Ok(json!({ "pipelines": summaries }))
        }
        Request::StartPipelineExecution(i) => runs::start(state, caller, i).await,
        Request::StopPipelineExecution(i) => runs::stop(state, i).await,
        Request::RetryStageExecution(i) => runs::retry(state, i).await,
        Request::PutApprovalResult(i) => runs::put_approval(state, caller, i).await,
        Request::EnableStageTransition(i) => runs::enable_transition(state, i).await,
        Request::DisableStageTransition(i) => runs::disable_transition(state, i).await,
        Request::GetPipelineState(i) => runs::state_of(state, i).await,
        Request::GetPipelineExecution(i) => runs::get_execution(state, i).await,
        Request::ListPipelineExecutions(i) => runs::list_executions(state, i).await,
        Request::ListActionExecutions(i) => runs::list_action_executions(state, i).await,
        Request::ListActionTypes(i) => runs::action_types(i),
        Request::PollForJobs(i) => runs::poll_for_jobs(state, i).await,
        Request::AcknowledgeJob(i) => runs::acknowledge_job(state, i).await,
        Request::GetJobDetails(i) => runs::get_job_details(state, i).await,
        Request::PutJobSuccessResult(i) => runs::put_job_success(state, i).await,
        Request::PutJobFailureResult(i) => runs::put_job_failure(state, i).await,
    }
}

fn pairs(tags: Vec<ferry_aws::codepipeline::wire::Tag>) -> Vec<(String, String)> {
    tags.into_iter().map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default())).collect()
}

fn wire_tags(tags: &[(String, String)]) -> Value {
    tags.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect()
}

/// The pipeline a tagging call names (ferry tags pipelines only).
fn tagged(arn: Option<&str>) -> AwsResult<(String, String)> {
    let arn = arn.unwrap_or_default();
    match ferry_aws::codepipeline::arn::parse_resource(arn)? {
        ferry_aws::codepipeline::arn::Resource::Pipeline(name) => Ok((name, arn.to_string())),
        _ => Err(ferry_aws::codepipeline::validate::resource_not_found(arn)),
    }
}

fn not_found(e: OpError, arn: &str) -> AwsError {
    match e {
        OpError::PipelineNotFound(_) => ferry_aws::codepipeline::validate::resource_not_found(arn),
        e => e.into(),
    }
}
