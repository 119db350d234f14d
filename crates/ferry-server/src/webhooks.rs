//! Build projects' git webhooks over HTTP (issue #13, triggers from git).
//!
//! - `POST /webhooks/build/{project}`: where GitHub, GitLab and Gitea post
//!   push and pull-request events. Public (no SigV4): the forge's signature
//!   (`X-Hub-Signature-256`, `X-Gitea-Signature`) or token
//!   (`X-Gitlab-Token`) is checked against the project's webhook secret.
//!   202 with the build id when a build was queued; 200 when no filter
//!   group matched or the delivery starts nothing (a ping); 401 when the
//!   signature does not match — the same answer whether or not the project
//!   or its webhook exists, so nothing beyond the URL is told; 400 for a
//!   request that is not a forge's webhook or an unreadable payload; 413
//!   beyond 1 MiB (`limits`).
//! - `PUT`/`DELETE /api/v1/build-projects/{name}/webhook`: turning a
//!   project's webhook on and off (admin only: it creates a secret).
//! - `POST /webhooks/pipeline/{name}` and `PUT`/`DELETE
//!   /api/v1/pipelines/{name}/webhook`: the same for pipelines (issue #14;
//!   `ops::pipeline_triggers` decides which events start an execution):
//!   202 with the execution id, 200 when the event starts nothing.
//!
//! Commit statuses: [`post_commit_status`] posts a webhook build's state to
//! its forge when the project's webhook names a token secret. This module
//! posts `pending` when the webhook queues a build; **whoever changes a
//! build's state must call it** (spawned: it does network I/O) when the
//! build starts running and when it ends (`ops::build_hosts` on the host's
//! final report and on a lost host's FAULT, `ops::builds::stop`,
//! `ops::builds::expire_queued`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use ferry_core::build::{Build, BuildSource, BuildStatus, WebhookFilter, WebhookFilterType};
use ferry_proto::secrets::{PutWebhook, WebhookFilter as WireFilter, WebhookView};
use ferry_webhook::{CommitState, Forge, Status, StatusRequest};

use crate::AppState;
use crate::auth::Signed;
use crate::error::{ApiError, ApiResult};
use crate::ops::webhooks::{NewWebhook, Received, Refused};
use crate::ops::{self, OpError};
use crate::tls::TlsMode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/build/{project}", post(receive))
        .route("/api/v1/build-projects/{name}/webhook", put(create).delete(delete))
        .route("/webhooks/pipeline/{name}", post(receive_pipeline))
        .route("/api/v1/pipelines/{name}/webhook", put(create_pipeline).delete(delete_pipeline))
}

/// The path the forge posts to.
pub fn path(project: &str) -> String {
    format!("/webhooks/build/{project}")
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

async fn receive(
    State(state): State<AppState>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    crate::audit::note_action("webhook");
    crate::audit::note_target(format!("build project {project}"));
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scheme = if state.config.tls == TlsMode::Off { "http" } else { "https" };
    let server_url = header(header::HOST.as_str()).map(|host| format!("{scheme}://{host}"));
    match ops::webhooks::receive(&state, &project, header, &body, server_url).await {
        Ok(Received::Started(build)) => {
            let id = build.id.clone();
            let spawned = state.clone();
            tokio::spawn(async move { report(&spawned, &build).await });
            answer(StatusCode::ACCEPTED, serde_json::json!({ "build_id": id }))
        }
        Ok(Received::NoMatch) => answer(StatusCode::OK, serde_json::json!({ "message": "no filter group matched" })),
        Ok(Received::Ignored(why)) => answer(StatusCode::OK, serde_json::json!({ "message": why })),
        Err(refused) => refusal(refused, &project),
    }
}

/// The answer to a refused delivery.
fn refusal(refused: Refused, target: &str) -> Response {
    match refused {
        Refused::UnknownForge => {
            crate::audit::note_error("NotAWebhook");
            ApiError::bad_request(
                "NotAWebhook",
                "not a GitHub, GitLab or Gitea webhook (no X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event header)",
            )
            .into_response()
        }
        Refused::Unauthorized(why) => {
            tracing::warn!(webhook = %crate::audit::bounded(target), why = %crate::audit::bounded(&why),
                "webhook delivery refused");
            crate::audit::note_error("InvalidSignature");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidSignature",
                "the webhook's signature or token does not match the webhook's secret",
            )
            .into_response()
        }
        Refused::BadPayload(why) => ApiError::bad_request("InvalidPayload", why).into_response(),
        Refused::Op(e) => ApiError::from(e).into_response(),
    }
}

fn to_filter(f: &WireFilter) -> Result<WebhookFilter, ApiError> {
    let filter_type = WebhookFilterType::from_name(&f.filter_type).ok_or_else(|| {
        ApiError::bad_request("InvalidRequest", format!("filter type {:?} is not known", f.filter_type))
    })?;
    Ok(WebhookFilter { filter_type, pattern: f.pattern.clone(), exclude_matched_pattern: f.exclude_matched_pattern })
}

fn from_filter(f: &WebhookFilter) -> WireFilter {
    WireFilter {
        filter_type: f.filter_type.name().into(),
        pattern: f.pattern.clone(),
        exclude_matched_pattern: f.exclude_matched_pattern,
    }
}

async fn create(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<WebhookView>> {
    request.caller.require_admin()?;
    crate::audit::note_target(&name);
    let body: PutWebhook = request.json()?;
    let filter_groups = body
        .filter_groups
        .iter()
        .map(|group| group.iter().map(to_filter).collect::<Result<Vec<_>, _>>())
        .collect::<Result<Vec<_>, _>>()?;
    let new =
        NewWebhook { secret_name: body.secret_name, filter_groups, status_token_secret: body.status_token_secret };
    let (webhook, generated) = ops::webhooks::create(&state, &name, new).await?;
    Ok(Json(WebhookView {
        path: path(&name),
        project: name,
        secret_name: webhook.secret_name,
        filter_groups: webhook.filter_groups.iter().map(|g| g.iter().map(from_filter).collect()).collect(),
        status_token_secret: webhook.status_token_secret,
        generated_secret: generated,
    }))
}

async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<serde_json::Value>> {
    request.caller.require_admin()?;
    crate::audit::note_target(&name);
    ops::webhooks::delete(&state, &name).await?;
    Ok(Json(serde_json::json!({})))
}

/// Posts the commit status and logs a failure (a forge that is down must
/// not fail the build).
async fn report(state: &AppState, build: &Build) {
    if let Err(e) = post_commit_status(state, build).await {
        tracing::warn!(build = %build.id, error = %e, "cannot post the commit status");
    }
}

/// Posts `build`'s state as the commit status of the commit it builds, if
/// a webhook started it and its project's webhook names a token secret
/// (`Ok(false)` otherwise). Queued and running are `pending`; succeeded
/// `success`; failed `failure`; fault, timed out and stopped `error`. The
/// status is named `ferry/<project>` and links to the build on the server
/// the forge reached. Call it (spawned) whenever a webhook build changes
/// state: see the module's docs for where.
pub async fn post_commit_status(state: &AppState, build: &Build) -> Result<bool, String> {
    let (Some(hook), Some(settings)) = (&build.webhook, &build.settings.webhook) else {
        return Ok(false);
    };
    let Some(token_secret) = &settings.status_token_secret else {
        return Ok(false);
    };
    let forge = Forge::from_name(&hook.forge).ok_or_else(|| format!("unknown forge {:?}", hook.forge))?;
    let repository = match &build.settings.source {
        BuildSource::Git { url, .. } => Some(url.as_str()),
        _ => hook.repository_url.as_deref(),
    }
    .ok_or("the project's source names no repository")?;
    let token = ops::secrets::resolve(state, token_secret).await.map_err(|e: OpError| e.to_string())?;
    let (state_now, said) = match build.status {
        BuildStatus::Queued => (CommitState::Pending, "queued"),
        BuildStatus::InProgress => (CommitState::Pending, "running"),
        BuildStatus::Succeeded => (CommitState::Success, "succeeded"),
        BuildStatus::Failed => (CommitState::Failure, "failed"),
        BuildStatus::Fault => (CommitState::Error, "faulted (the build host failed)"),
        BuildStatus::TimedOut => (CommitState::Error, "timed out"),
        BuildStatus::Stopped => (CommitState::Error, "stopped"),
    };
    let link = hook
        .server_url
        .as_deref()
        // Build ids (`<project>:<uuid>`) need no encoding in a path.
        .map(|base| format!("{base}/console/builds/{}", build.id))
        .unwrap_or_default();
    let description = format!("ferry build #{} {said}", build.number);
    let context = format!("ferry/{}", build.project);
    let status = Status { state: state_now, target_url: &link, description: &description, context: &context };
    let request = ferry_webhook::status_request(forge, repository, &hook.commit, &status, &token)
        .ok_or_else(|| format!("no forge repository in {repository:?}"))?;
    send_commit_status(&request).await?;
    Ok(true)
}

/// Sends one commit status request; a non-2xx answer is an error naming the status.
pub async fn send_commit_status(request: &StatusRequest) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let response = client
        .post(&request.url)
        .header(request.auth_header.0, &request.auth_header.1)
        .header(header::USER_AGENT, "ferry")
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/json")
        .body(request.body.to_string())
        .send()
        .await
        .map_err(|e| format!("POST {}: {}", request.url, ferry_proto::errors::error_chain(&e)))?;
    let status = response.status();
    if status.is_success() { Ok(()) } else { Err(format!("POST {}: the forge answered {status}", request.url)) }
}

#[cfg(test)]
mod tests;

async fn receive_pipeline(
    State(state): State<AppState>,
    Path(pipeline): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    crate::audit::note_action("webhook");
    crate::audit::note_target(format!("pipeline {pipeline}"));
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match ops::pipeline_triggers::receive(&state, &pipeline, header, &body).await {
        Ok(ops::pipeline_triggers::Received::Started(id)) => {
            answer(StatusCode::ACCEPTED, serde_json::json!({ "pipeline_execution_id": id }))
        }
        Ok(ops::pipeline_triggers::Received::NoMatch(why)) => {
            answer(StatusCode::OK, serde_json::json!({ "message": why }))
        }
        Err(refused) => refusal(refused, &pipeline),
    }
}

/// `PUT /api/v1/pipelines/{name}/webhook`: a new shared secret, shown once.
async fn create_pipeline(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<serde_json::Value>> {
    request.caller.require_admin()?;
    crate::audit::note_target(&name);
    let secret = ops::pipeline_triggers::create_webhook(&state, &name).await?;
    Ok(Json(serde_json::json!({
        "path": format!("/webhooks/pipeline/{name}"),
        "secret_name": ops::pipeline_triggers::secret_name(&name),
        "generated_secret": secret,
    })))
}

async fn delete_pipeline(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<serde_json::Value>> {
    request.caller.require_admin()?;
    crate::audit::note_target(&name);
    ops::pipeline_triggers::delete_webhook(&state, &name).await?;
    Ok(Json(serde_json::json!({})))
}
