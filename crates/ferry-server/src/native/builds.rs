//! `/api/v1/build-projects` and `/api/v1/builds`: build projects and builds
//! on the native API (issue #13), adapted onto `ops::builds`.
//!
//! Roles: every key but an agent's reads. Build projects and builds belong
//! to no application, so creating, changing and deleting a project, and
//! starting, stopping and retrying a build, are changes outside every
//! application (`Subject::Global`): admins and deployers without scopes,
//! as for deployment configs and target groups; a deployer limited to
//! applications may not.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ferry_core::build::{
    Build, BuildProject, BuildReport, BuildSource, BuildStatus, BuildVariable, Initiator, SourceBundle, VariableKind,
};
use ferry_proto::api;
use futures_util::TryStreamExt;

use crate::AppState;
use crate::auth::{Signed, authenticate};
use crate::error::{ApiError, ApiResult};
use crate::ops;

/// The longest a log request is held waiting for lines.
const MAX_LOG_WAIT: Duration = Duration::from_secs(30);
/// How often a held log request reads the store again.
const LOG_POLL: Duration = Duration::from_millis(200);
/// Most log lines in one answer.
const LOG_LINES: u32 = 1000;
const DEFAULT_LIST: u32 = 100;
const MAX_LIST: u32 = 1000;
/// CodeBuild's defaults.
const DEFAULT_TIMEOUT_MINUTES: u32 = 60;
const DEFAULT_QUEUED_TIMEOUT_MINUTES: u32 = 480;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/build-projects", post(create_project).get(list_projects))
        .route("/api/v1/build-projects/{name}", get(get_project).put(update_project).delete(delete_project))
        .route("/api/v1/build-projects/{name}/sources", post(upload_source))
        .route("/api/v1/build-projects/{name}/builds", post(start_build).get(list_project_builds))
        .route("/api/v1/builds", get(list_builds))
        .route("/api/v1/builds/{id}", get(get_build))
        .route("/api/v1/builds/{id}/stop", post(stop_build))
        .route("/api/v1/builds/{id}/retry", post(retry_build))
        .route("/api/v1/builds/{id}/log", get(build_log))
        .route("/api/v1/builds/{id}/artifacts/{name}", get(artifact))
        .route("/api/v1/builds/{id}/reports", get(reports))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidRequest", message)
}

// ---------------------------------------------------------------------------
// Wire ↔ domain

fn source_spec(source: &BuildSource) -> api::BuildSourceSpec {
    match source {
        BuildSource::NoSource => api::BuildSourceSpec::None,
        BuildSource::Git { url, version } => api::BuildSourceSpec::Git { url: url.clone(), version: version.clone() },
        BuildSource::S3 { bucket, key } => api::BuildSourceSpec::S3 { bucket: bucket.clone(), key: key.clone() },
        BuildSource::Upload => api::BuildSourceSpec::Upload,
    }
}

fn parse_source(spec: &api::BuildSourceSpec) -> BuildSource {
    match spec {
        api::BuildSourceSpec::None => BuildSource::NoSource,
        api::BuildSourceSpec::Git { url, version } => BuildSource::Git { url: url.clone(), version: version.clone() },
        api::BuildSourceSpec::S3 { bucket, key } => BuildSource::S3 { bucket: bucket.clone(), key: key.clone() },
        api::BuildSourceSpec::Upload => BuildSource::Upload,
    }
}

fn variable_view(v: &BuildVariable) -> api::BuildVariable {
    let kind = match v.kind {
        VariableKind::Plaintext => "PLAINTEXT",
        VariableKind::Secret => "SECRET",
    };
    api::BuildVariable { name: v.name.clone(), value: v.value.clone(), kind: kind.into() }
}

fn parse_variables(variables: &[api::BuildVariable]) -> ApiResult<Vec<BuildVariable>> {
    variables
        .iter()
        .map(|v| {
            let kind = match v.kind.as_str() {
                "PLAINTEXT" => VariableKind::Plaintext,
                "SECRET" => VariableKind::Secret,
                other => {
                    return Err(invalid(format!("variable {}: type {other:?} is not PLAINTEXT or SECRET", v.name)));
                }
            };
            Ok(BuildVariable { name: v.name.clone(), value: v.value.clone(), kind })
        })
        .collect()
}

/// `""` means "none" in updates; in a create it is simply absent.
fn non_empty(value: Option<&String>) -> Option<String> {
    value.filter(|v| !v.is_empty()).cloned()
}

fn project_view(p: &BuildProject) -> api::BuildProjectView {
    api::BuildProjectView {
        id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        source: source_spec(&p.source),
        buildspec: p.buildspec.clone(),
        image: p.image.clone(),
        variables: p.variables.iter().map(variable_view).collect(),
        timeout_minutes: p.timeout_minutes,
        queued_timeout_minutes: p.queued_timeout_minutes,
        concurrent_build_limit: p.concurrent_build_limit,
        cache: p.cache,
        badge: p.badge,
        poll_seconds: p.poll_seconds,
        notify: p.notify.clone(),
        create_time: p.create_time,
        last_modified: p.last_modified,
    }
}

pub(crate) fn status_name(status: BuildStatus) -> &'static str {
    match status {
        BuildStatus::Queued => "QUEUED",
        BuildStatus::InProgress => "IN_PROGRESS",
        BuildStatus::Succeeded => "SUCCEEDED",
        BuildStatus::Failed => "FAILED",
        BuildStatus::Fault => "FAULT",
        BuildStatus::TimedOut => "TIMED_OUT",
        BuildStatus::Stopped => "STOPPED",
    }
}

/// `primary` for the primary artifact, else the secondary's identifier.
fn artifact_name(identifier: Option<&str>) -> &str {
    identifier.unwrap_or("primary")
}

fn build_view(b: &Build) -> api::BuildView {
    api::BuildView {
        id: b.id.clone(),
        number: b.number,
        project: b.project.clone(),
        status: status_name(b.status).into(),
        phases: b
            .phases
            .iter()
            .map(|p| api::BuildPhaseView {
                name: p.name.clone(),
                status: p.status.clone(),
                start_time: p.start_time,
                end_time: p.end_time,
                message: p.message.clone(),
            })
            .collect(),
        initiator: b.initiator.name(),
        source_version: b.source_version.clone(),
        resolved_source_version: b.resolved_source_version.clone(),
        source: source_spec(&b.settings.source),
        source_bundle: b.source_bundle.as_ref().map(|s| api::UploadedSource {
            sha256: s.sha256.clone(),
            bundle_type: s.bundle_type.clone(),
            size: s.size,
        }),
        buildspec: b.settings.buildspec.clone(),
        image: b.settings.image.clone(),
        variables: b.settings.variables.iter().map(variable_view).collect(),
        timeout_minutes: b.settings.timeout_minutes,
        queued_timeout_minutes: b.settings.queued_timeout_minutes,
        queued_time: b.queued_time,
        start_time: b.start_time,
        end_time: b.end_time,
        host: b.host.clone(),
        environment: b.environment.clone(),
        artifacts: b
            .artifacts
            .iter()
            .map(|a| api::BuildArtifactView {
                name: artifact_name(a.identifier.as_deref()).to_string(),
                sha256: a.sha256.clone(),
                size: a.size,
            })
            .collect(),
        exported_variables: b
            .exported_variables
            .iter()
            .map(|(name, value)| api::NameValue { name: name.clone(), value: value.clone() })
            .collect(),
        stop_requested: b.stop_requested,
    }
}

fn report_view(r: &BuildReport) -> api::BuildReportView {
    let pass_rate = if r.total == 0 { 0.0 } else { r.succeeded as f64 * 100.0 / r.total as f64 };
    api::BuildReportView {
        name: r.name.clone(),
        format: r.format.clone(),
        total: r.total,
        succeeded: r.succeeded,
        failed: r.failed,
        error: r.error,
        skipped: r.skipped,
        unknown: r.unknown,
        duration_ms: r.duration_ms,
        pass_rate,
        cases: r
            .cases
            .iter()
            .map(|c| api::TestCaseView {
                suite: c.suite.clone(),
                prefix: c.prefix.clone(),
                name: c.name.clone(),
                status: c.status.clone(),
                duration_ms: c.duration_ms,
                message: c.message.clone(),
            })
            .collect(),
        errors: r.errors.clone(),
    }
}

// ---------------------------------------------------------------------------
// Projects

async fn create_project(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::BuildProjectView>> {
    request.caller.require_writer()?;
    let body: api::CreateBuildProject = request.json()?;
    crate::audit::note_target(&body.name);
    let now = state.driver.now();
    let project = BuildProject {
        id: crate::random::uuid(),
        name: body.name.clone(),
        description: body.description.clone().unwrap_or_default(),
        source: parse_source(&body.source),
        buildspec: non_empty(body.buildspec.as_ref()),
        image: non_empty(body.image.as_ref()),
        variables: parse_variables(&body.variables)?,
        timeout_minutes: body.timeout_minutes.unwrap_or(DEFAULT_TIMEOUT_MINUTES),
        queued_timeout_minutes: body.queued_timeout_minutes.unwrap_or(DEFAULT_QUEUED_TIMEOUT_MINUTES),
        concurrent_build_limit: body.concurrent_build_limit,
        cache: body.cache,
        badge: body.badge,
        tags: Vec::new(),
        create_time: now,
        last_modified: now,
        poll_seconds: body.poll_seconds,
        notify: body.notify.clone(),
        webhook: None,
    };
    let project = ops::builds::create_project(&state, project).await?;
    Ok(Json(project_view(&project)))
}

async fn list_projects(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<api::BuildProjectView>>> {
    request.caller.require_operator()?;
    Ok(Json(ops::builds::list_projects(&state).await?.iter().map(project_view).collect()))
}

async fn get_project(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::BuildProjectView>> {
    request.caller.require_operator()?;
    Ok(Json(project_view(&ops::builds::get_project(&state, &name).await?)))
}

async fn update_project(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::BuildProjectView>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let body: api::UpdateBuildProject = request.json()?;
    let variables = body.variables.as_deref().map(parse_variables).transpose()?;
    let limit = match body.concurrent_build_limit {
        None => None,
        Some(-1) => Some(None),
        Some(n) => Some(Some(
            u32::try_from(n)
                .map_err(|_| invalid(format!("concurrent_build_limit {n}: at least 1, or -1 to remove the limit")))?,
        )),
    };
    let project = ops::builds::update_project(&state, &name, |p| {
        if let Some(description) = &body.description {
            p.description = description.clone();
        }
        if let Some(source) = &body.source {
            p.source = parse_source(source);
        }
        if let Some(buildspec) = &body.buildspec {
            p.buildspec = non_empty(Some(buildspec));
        }
        if let Some(image) = &body.image {
            p.image = non_empty(Some(image));
        }
        if let Some(variables) = variables {
            p.variables = variables;
        }
        if let Some(minutes) = body.timeout_minutes {
            p.timeout_minutes = minutes;
        }
        if let Some(minutes) = body.queued_timeout_minutes {
            p.queued_timeout_minutes = minutes;
        }
        if let Some(limit) = limit {
            p.concurrent_build_limit = limit;
        }
        if let Some(cache) = body.cache {
            p.cache = cache;
        }
        if let Some(badge) = body.badge {
            p.badge = badge;
        }
        if let Some(every) = body.poll_seconds {
            p.poll_seconds = (every > 0).then_some(every);
        }
        if let Some(notify) = &body.notify {
            p.notify = notify.clone();
        }
        Ok::<(), ApiError>(())
    })
    .await?;
    Ok(Json(project_view(&project)))
}

async fn delete_project(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<serde_json::Value>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    ops::builds::delete_project(&state, &name).await?;
    Ok(Json(serde_json::json!({})))
}

#[derive(serde::Deserialize)]
struct SourceQuery {
    bundle_type: String,
}

fn check_bundle_type(bundle_type: &str) -> ApiResult<()> {
    match bundle_type {
        "zip" | "tar" | "tgz" => Ok(()),
        other => Err(invalid(format!("bundle_type {other:?} is not zip, tar or tgz"))),
    }
}

/// Streams a build's source bundle into the blob store, as a revision
/// upload does: signed over the `x-amz-content-sha256` the client declares,
/// which the stored bytes must hash to. Only projects that build an
/// uploaded source take one (checked before any byte is read).
async fn upload_source(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<SourceQuery>,
    request: Request,
) -> ApiResult<Json<api::UploadedSource>> {
    let (parts, body) = request.into_parts();
    let caller = authenticate(&state, &parts, &[]).await?;
    caller.require_writer()?;
    crate::audit::note_target(&name);
    let declared = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sha256(v))
        .ok_or_else(|| invalid("a source upload must declare its SHA-256 in x-amz-content-sha256"))?
        .to_ascii_lowercase();
    check_bundle_type(&query.bundle_type)?;
    let project = ops::builds::get_project(&state, &name).await?;
    ops::builds::check_source_bundle(&project, true)?;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(stream);
    let info = state.blobs.put(reader, Some(&declared), state.config.max_bundle_bytes).await.map_err(|e| match e {
        ferry_blob::BlobError::DigestMismatch { .. } => ApiError::bad_request("BundleDigestMismatch", e.to_string()),
        ferry_blob::BlobError::TooLarge(_) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "BundleTooLarge", e.to_string())
        }
        e => ApiError::internal(e),
    })?;
    Ok(Json(api::UploadedSource { sha256: info.sha256, bundle_type: query.bundle_type, size: info.size }))
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------
// Builds

async fn start_build(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::BuildView>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let body: api::StartBuild = request.json()?;
    let overrides = parse_variables(&body.variables)?;
    let source_bundle = match &body.source {
        None => None,
        Some(source) => {
            if !is_sha256(&source.sha256) {
                return Err(invalid(format!("source sha256 {:?} is not 64 hex digits", source.sha256)));
            }
            check_bundle_type(&source.bundle_type)?;
            let sha256 = source.sha256.to_ascii_lowercase();
            let blob_key = format!("sha256/{sha256}");
            // The size is what the blob store holds, not what the caller says.
            let (_, size) = state.blobs.open_blob(&blob_key).await.map_err(|e| match e {
                ferry_blob::BlobError::NotFound(_) => invalid(format!(
                    "no source with sha256 {sha256} was uploaded: upload it first \
                     (POST /api/v1/build-projects/{name}/sources)"
                )),
                e => ApiError::internal(e),
            })?;
            Some(SourceBundle { blob_key, sha256, size, bundle_type: source.bundle_type.clone() })
        }
    };
    let start = ops::builds::StartBuild {
        source_version: body.source_version.clone().filter(|v| !v.is_empty()),
        source_bundle,
        ..ops::builds::StartBuild::by(Initiator::Key(request.caller.key_id.clone()))
    };
    let build = ops::builds::start(&state, &name, start, |settings| {
        for v in overrides {
            match settings.variables.iter_mut().find(|old| old.name == v.name) {
                Some(old) => *old = v,
                None => settings.variables.push(v),
            }
        }
    })
    .await?;
    Ok(Json(build_view(&build)))
}

#[derive(serde::Deserialize, Default)]
struct ListQuery {
    project: Option<String>,
    limit: Option<u32>,
}

fn limit(query: &ListQuery) -> u32 {
    query.limit.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST)
}

async fn list_project_builds(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ListQuery>,
    request: Signed,
) -> ApiResult<Json<Vec<api::BuildView>>> {
    request.caller.require_operator()?;
    let builds = ops::builds::list(&state, Some(&name), limit(&query)).await?;
    Ok(Json(builds.iter().map(build_view).collect()))
}

async fn list_builds(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
    request: Signed,
) -> ApiResult<Json<Vec<api::BuildView>>> {
    request.caller.require_operator()?;
    let builds = ops::builds::list(&state, query.project.as_deref(), limit(&query)).await?;
    Ok(Json(builds.iter().map(build_view).collect()))
}

async fn get_build(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::BuildView>> {
    request.caller.require_operator()?;
    Ok(Json(build_view(&ops::builds::get(&state, &id).await?)))
}

async fn stop_build(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::BuildView>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&id);
    Ok(Json(build_view(&ops::builds::stop(&state, &id).await?)))
}

async fn retry_build(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::BuildView>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&id);
    let build = ops::builds::retry(&state, &id, Initiator::Key(request.caller.key_id.clone())).await?;
    Ok(Json(build_view(&build)))
}

#[derive(serde::Deserialize)]
struct LogQuery {
    #[serde(default)]
    from: u64,
    /// Seconds to hold the request while there is nothing new.
    #[serde(default)]
    wait: u64,
}

/// The log from line `from` on. With `wait`, a request that finds no new
/// line of an unfinished build is held (the store read again every
/// [`LOG_POLL`]) until one comes, the build finishes, or the wait ends.
/// The build's status is read before its lines, so `finished` with no
/// lines means the log is complete.
async fn build_log(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
    request: Signed,
) -> ApiResult<Json<api::BuildLog>> {
    request.caller.require_operator()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(query.wait).min(MAX_LOG_WAIT);
    loop {
        let build = ops::builds::get(&state, &id).await?;
        let finished = build.status.is_terminal();
        let lines = ops::builds::log(&state, &id, query.from, LOG_LINES).await?;
        let now = tokio::time::Instant::now();
        if !lines.is_empty() || finished || now >= deadline {
            let next = lines.last().map_or(query.from, |(number, _)| number + 1);
            return Ok(Json(api::BuildLog {
                lines: lines.into_iter().map(|(number, text)| api::BuildLogLine { number, text }).collect(),
                next,
                finished,
                status: status_name(build.status).into(),
            }));
        }
        tokio::time::sleep(LOG_POLL.min(deadline - now)).await;
    }
}

/// Streams an artifact's zip from the blob store.
async fn artifact(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    request: Signed,
) -> ApiResult<Response> {
    request.caller.require_operator()?;
    let build = ops::builds::get(&state, &id).await?;
    let Some(found) = build.artifacts.iter().find(|a| artifact_name(a.identifier.as_deref()) == name) else {
        let names: Vec<&str> = build.artifacts.iter().map(|a| artifact_name(a.identifier.as_deref())).collect();
        let has = if names.is_empty() { "none".to_string() } else { names.join(", ") };
        return Err(ApiError::not_found(
            "ArtifactDoesNotExist",
            format!("build {id} has no artifact {name:?} (its artifacts: {has})"),
        ));
    };
    let (file, size) = state.blobs.open_blob(&found.blob_key).await.map_err(|e| match e {
        ferry_blob::BlobError::NotFound(_) => ApiError::not_found(
            "ArtifactMissing",
            format!("artifact {name} of build {id} (sha256 {}) is missing from the blob store", found.sha256),
        ),
        e => ApiError::internal(e),
    })?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
    Ok((
        [
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::HeaderName::from_static("x-ferry-sha256"), found.sha256.clone()),
        ],
        body,
    )
        .into_response())
}

async fn reports(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<Vec<api::BuildReportView>>> {
    request.caller.require_operator()?;
    Ok(Json(ops::builds::reports(&state, &id).await?.iter().map(report_view).collect()))
}
