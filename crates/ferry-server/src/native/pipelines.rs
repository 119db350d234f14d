//! Pipelines on the native API (issue #14): `/api/v1/pipelines` over
//! `ops::pipelines`. Declarations arrive as text (JSON or YAML) and are
//! parsed by the server, so every client gets the same errors. Reading
//! takes any key but an agent's; changing pipelines takes an admin key or a
//! deployer key without scopes (pipelines belong to no one application).

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use ferry_proto::api;

use crate::AppState;
use crate::auth::Signed;
use crate::error::{ApiError, ApiResult};
use crate::ops;
use crate::ops::pipeline_runs;
use crate::ops::pipelines::Pipeline;
use ferry_pipeline::RetryMode;
use ferry_pipeline::execution::{Execution, Runs, TransitionType};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/pipelines", post(create).get(list))
        .route("/api/v1/pipelines/{name}", get(show).put(update).delete(delete))
        .route("/api/v1/pipelines/{name}/executions", post(start).get(executions))
        .route("/api/v1/pipelines/{name}/executions/{id}", get(execution))
        .route("/api/v1/pipelines/{name}/executions/{id}/stop", post(stop))
        .route("/api/v1/pipelines/{name}/executions/{id}/retry", post(retry))
        .route("/api/v1/pipelines/{name}/approvals", post(decide))
        .route("/api/v1/pipelines/{name}/transitions", post(transition))
        .route("/api/v1/pipelines/{name}/runs", get(runs))
        .route("/api/v1/pipelines/{name}/notify", get(notify).put(set_notify))
        .route("/api/v1/pipelines/{name}/executions/{id}/artifacts/{artifact}", get(artifact))
}

fn view(p: Pipeline) -> api::PipelineView {
    let metadata = api::PipelineMetadata {
        name: p.declaration.name.clone(),
        version: p.declaration.version.unwrap_or(1),
        created: p.create_time,
        updated: p.update_time,
    };
    api::PipelineView { pipeline: p.declaration, metadata }
}

async fn create(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::PipelineView>> {
    request.caller.require_writer()?;
    let body: api::PipelineText = request.json()?;
    let declaration = ops::pipelines::parse(&body.file, &body.text)?;
    crate::audit::note_target(&declaration.name);
    Ok(Json(view(ops::pipelines::create(&state, declaration).await?)))
}

async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::PipelineView>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let body: api::PipelineText = request.json()?;
    let declaration = ops::pipelines::parse(&body.file, &body.text)?;
    if declaration.name != name {
        return Err(ApiError::bad_request(
            "InvalidRequest",
            format!("{} declares pipeline {}, not {name}", body.file, declaration.name),
        ));
    }
    Ok(Json(view(ops::pipelines::update(&state, declaration).await?)))
}

#[derive(serde::Deserialize)]
struct ShowQuery {
    version: Option<u32>,
}

async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ShowQuery>,
    request: Signed,
) -> ApiResult<Json<api::PipelineView>> {
    request.caller.require_operator()?;
    Ok(Json(view(ops::pipelines::get(&state, &name, query.version).await?)))
}

async fn list(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<api::PipelineView>>> {
    request.caller.require_operator()?;
    Ok(Json(ops::pipelines::list(&state).await?.into_iter().map(view).collect()))
}

async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<serde_json::Value>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    ops::pipelines::delete(&state, &name).await?;
    Ok(Json(serde_json::json!({})))
}

// Executions: the API's shapes are `ferry_pipeline::execution`'s own.

async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::PipelineExecutionStarted>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let body: api::StartPipelineExecution = request.json()?;
    let trigger = pipeline_runs::started_by(&request.caller.key_id);
    let execution_id = pipeline_runs::start(&state, &name, body.variables, body.source_revisions, trigger).await?;
    Ok(Json(api::PipelineExecutionStarted { execution_id }))
}

#[derive(serde::Deserialize)]
struct ListQuery {
    limit: Option<u32>,
}

async fn executions(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ListQuery>,
    request: Signed,
) -> ApiResult<Json<Vec<Execution>>> {
    request.caller.require_operator()?;
    let limit = query.limit.unwrap_or(20).clamp(1, 1000);
    Ok(Json(pipeline_runs::list(&state, &name, None, limit).await?))
}

async fn execution(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    request: Signed,
) -> ApiResult<Json<Execution>> {
    request.caller.require_operator()?;
    Ok(Json(pipeline_runs::execution(&state, &name, &id).await?))
}

/// The pipeline's execution document: the executions still running or
/// retryable, and its disabled transitions.
async fn runs(State(state): State<AppState>, Path(name): Path<String>, request: Signed) -> ApiResult<Json<Runs>> {
    request.caller.require_operator()?;
    ops::pipelines::get(&state, &name, None).await?;
    Ok(Json(pipeline_runs::runs(&state, &name).await?))
}

async fn stop(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    request: Signed,
) -> ApiResult<Json<Execution>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let body: api::StopPipelineExecution = request.json()?;
    pipeline_runs::stop(&state, &name, &id, body.abandon, body.reason).await?;
    Ok(Json(pipeline_runs::execution(&state, &name, &id).await?))
}

async fn retry(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    request: Signed,
) -> ApiResult<Json<Execution>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let body: api::RetryPipelineStage = request.json()?;
    let mode = if body.all_actions { RetryMode::AllActions } else { RetryMode::FailedActions };
    pipeline_runs::retry(&state, &name, &id, &body.stage, mode).await?;
    Ok(Json(pipeline_runs::execution(&state, &name, &id).await?))
}

async fn decide(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<serde_json::Value>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let body: api::ApprovalDecision = request.json()?;
    let decision = pipeline_runs::Decision {
        stage: body.stage,
        action: body.action,
        token: body.token,
        approved: body.approved,
        summary: body.summary,
        by: Some(request.caller.key_id.clone()),
    };
    let at = pipeline_runs::decide(&state, &name, decision).await?;
    Ok(Json(serde_json::json!({ "decidedAt": at })))
}

async fn transition(State(state): State<AppState>, Path(name): Path<String>, request: Signed) -> ApiResult<Json<Runs>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let body: api::TransitionChange = request.json()?;
    let t = if body.outbound { TransitionType::Outbound } else { TransitionType::Inbound };
    pipeline_runs::transition(&state, &name, &body.stage, t, body.disable_reason).await?;
    Ok(Json(pipeline_runs::runs(&state, &name).await?))
}

/// The addresses a pipeline notifies (`ops::pipeline_events`).
async fn notify(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<Vec<String>>> {
    request.caller.require_operator()?;
    ops::pipelines::get(&state, &name, None).await?;
    Ok(Json(ops::pipeline_events::urls(&state, &name).await?))
}

async fn set_notify(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<Vec<String>>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let urls: Vec<String> = request.json()?;
    Ok(Json(ops::pipeline_events::set_urls(&state, &name, urls).await?))
}

/// An artifact an execution produced, as its bytes (`x-ferry-sha256`, and
/// `x-ferry-bundle-type`: zip, tar or tgz).
async fn artifact(
    State(state): State<AppState>,
    Path((name, id, artifact)): Path<(String, String, String)>,
    request: Signed,
) -> ApiResult<axum::response::Response> {
    use axum::http::header;
    use axum::response::IntoResponse;
    request.caller.require_operator()?;
    let e = pipeline_runs::execution(&state, &name, &id).await?;
    let produced: Vec<&ferry_pipeline::execution::ArtifactLocation> =
        e.stages.iter().flat_map(|s| &s.actions).flat_map(|a| &a.output_artifacts).collect();
    let Some(found) = produced.iter().find(|a| a.name == artifact) else {
        let names: Vec<&str> = produced.iter().map(|a| a.name.as_str()).collect();
        let has = if names.is_empty() { "none yet".to_string() } else { names.join(", ") };
        return Err(ApiError::not_found(
            "ArtifactDoesNotExist",
            format!("execution {id} of pipeline {name} produced no artifact {artifact:?} (it produced: {has})"),
        ));
    };
    let bundle =
        ops::pipeline_actions::artifact(&state, found).await.map_err(|m| ApiError::not_found("ArtifactMissing", m))?;
    let (file, size) = state.blobs.open_blob(&bundle.blob_key).await.map_err(ApiError::internal)?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
    Ok((
        [
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::HeaderName::from_static("x-ferry-sha256"), bundle.sha256.clone()),
            (header::HeaderName::from_static("x-ferry-bundle-type"), bundle.bundle_type.clone()),
        ],
        body,
    )
        .into_response())
}
