//! Pipelines in the console (issue #14): the list (`/console/pipelines`:
//! each pipeline with its newest execution) and one pipeline
//! (`/console/pipelines/{name}`): its stages as columns with the newest
//! execution that entered each (actions with their status, attempt, the
//! build or deployment they launched, why they failed), transitions,
//! Approve/Reject on a waiting approval, Retry on the stage a failed
//! execution ended in, Stop on a running execution, Start, and the history.
//! The page reloads itself every few seconds while an execution runs.
//!
//! Every button goes through `ops::pipeline_runs` like the native API's,
//! for sessions whose key may change what belongs to no application, with
//! the console's CSRF token.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ferry_core::resources::Subject;
use ferry_pipeline::RetryMode;
use ferry_pipeline::execution::{ActionStatus, Execution, ExecutionStatus, Position, Runs};

use super::auth::Session;
use super::builds::back;
use super::{Flash, Html, Problem, badge, enc, page as layout, respond, utc};
use crate::AppState;
use crate::ops::OpError;
use crate::ops::pipeline_runs::{self, Decision, name};
use crate::ops::pipelines;

/// Executions in a pipeline's history.
const HISTORY: u32 = 25;

fn pipeline_path(name: &str) -> String {
    format!("/console/pipelines/{}", enc(name))
}

fn problem(e: OpError) -> Problem {
    match e {
        OpError::PipelineNotFound(name) => Problem::not_found(format!("There is no pipeline {name}.")),
        OpError::Store(e) => e.into(),
        e => Problem::internal(e),
    }
}

/// A refusal: back to the pipeline with the message (or the error page).
fn refused(pipeline: &str, e: OpError) -> Result<Response, Problem> {
    match e {
        OpError::PipelineNotFound(_) | OpError::Store(_) | OpError::Internal(_) => Err(problem(e)),
        e => Ok(back(&pipeline_path(pipeline), Err(e.to_string()))),
    }
}

/// GET `/console/pipelines`.
pub(crate) async fn list(State(state): State<AppState>, session: Session, Query(flash): Query<Flash>) -> Response {
    let result = async {
        let all = pipelines::list(&state).await.map_err(problem)?;
        let mut h = Html::new();
        h.raw("<h1>Pipelines</h1>");
        if all.is_empty() {
            h.raw("<p class=\"empty\" id=\"no-pipelines\">No pipelines yet: ")
                .raw("<code>ferry pipeline create --file pipeline.yml</code> makes one.</p>");
            return Ok(layout(StatusCode::OK, "Pipelines", Some(&session), &flash, &h));
        }
        h.raw("<div class=\"scroll\"><table class=\"list\" id=\"pipelines\"><thead><tr><th>Pipeline</th>")
            .raw("<th>Stages</th><th>Latest execution</th><th>Started</th></tr></thead><tbody>");
        for p in &all {
            let name_ = &p.declaration.name;
            let newest = pipeline_runs::list(&state, name_, None, 1).await.map_err(problem)?;
            h.raw("<tr data-pipeline=\"").text(name_).raw("\"><td><a href=\"").text(pipeline_path(name_));
            h.raw("\">").text(name_).raw("</a></td><td>");
            let stages: Vec<&str> = p.declaration.stages.iter().map(|s| s.name.as_str()).collect();
            h.text(stages.join(" → ")).raw("</td><td>");
            match newest.first() {
                Some(e) => {
                    badge(&mut h, &name(e.status));
                    h.raw(" <code>").text(short(&e.id)).raw("</code></td><td>").text(utc(e.started_at));
                }
                None => {
                    h.raw("<span class=\"muted\">never ran</span></td><td>");
                }
            }
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table></div>");
        Ok(layout(StatusCode::OK, "Pipelines", Some(&session), &flash, &h))
    }
    .await;
    respond(&session, result)
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// GET `/console/pipelines/{name}`.
pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(pipeline): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    respond(&session, render(&state, &session, &pipeline, &flash).await)
}

async fn render(state: &AppState, session: &Session, pipeline: &str, flash: &Flash) -> Result<Response, Problem> {
    let p = pipelines::get(state, pipeline, None).await.map_err(problem)?;
    let runs = pipeline_runs::runs(state, pipeline).await.map_err(problem)?;
    let history = pipeline_runs::list(state, pipeline, None, HISTORY).await.map_err(problem)?;
    let can_act = session.can_change_builds();
    let running = runs.executions.iter().any(|e| !e.status.is_finished());
    let mut h = Html::new();
    if running {
        // Follows a running execution without scripts: the page reloads itself.
        h.raw("<meta http-equiv=\"refresh\" content=\"3\">");
    }
    h.raw("<p class=\"crumbs\"><a href=\"/console/pipelines\">Pipelines</a> /</p><h1>Pipeline ");
    h.text(pipeline).raw(" <span class=\"muted\">version ").text(p.declaration.version.unwrap_or(1));
    h.raw(", ").text(p.declaration.execution_mode.as_str()).raw("</span></h1>");
    if can_act {
        form(&mut h, session, &format!("{}/start", pipeline_path(pipeline)), "start");
        h.raw("<button class=\"btn\" type=\"submit\">Start an execution</button></form>");
    }
    h.raw("<div class=\"stages\" id=\"stages\">");
    for (index, declared) in p.declaration.stages.iter().enumerate() {
        stage_column(&mut h, session, can_act, pipeline, &runs, &p.declaration, index, &declared.name);
    }
    h.raw("</div>");

    h.raw("<h2>Executions</h2>");
    if history.is_empty() {
        h.raw("<p class=\"empty\" id=\"no-executions\">Never ran.</p>");
    } else {
        h.raw("<div class=\"scroll\"><table class=\"list\" id=\"executions\"><thead><tr><th>Execution</th>")
            .raw("<th>Status</th><th>Version</th><th>Started</th><th>Summary</th><th></th></tr></thead><tbody>");
        for e in &history {
            h.raw("<tr data-execution=\"").text(&e.id).raw("\"><td><code>").text(&e.id).raw("</code></td><td>");
            badge(&mut h, &name(e.status));
            h.raw("</td><td>").text(e.pipeline.version.unwrap_or(1)).raw("</td><td>").text(utc(e.started_at));
            h.raw("</td><td>").text(e.status_summary.as_deref().unwrap_or("")).raw("</td><td>");
            if can_act && !e.status.is_finished() {
                let action = format!("{}/executions/{}/stop", pipeline_path(pipeline), enc(&e.id));
                form(&mut h, session, &action, "stop");
                h.raw("<button class=\"btn plain\" type=\"submit\">Stop</button></form>");
            }
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table></div>");
    }
    Ok(layout(StatusCode::OK, &format!("Pipeline {pipeline}"), Some(session), flash, &h))
}

/// Opens a POST form with the session's CSRF token.
fn form(h: &mut Html, session: &Session, action: &str, class: &'static str) {
    h.raw("<form class=\"inline ").raw(class).raw("\" method=\"post\" action=\"").text(action).raw("\">");
    h.raw("<input type=\"hidden\" name=\"csrf\" value=\"").text(session.csrf()).raw("\">");
}

#[allow(clippy::too_many_arguments)]
fn stage_column(
    h: &mut Html,
    session: &Session,
    can_act: bool,
    pipeline: &str,
    runs: &Runs,
    declaration: &ferry_pipeline::PipelineDeclaration,
    index: usize,
    stage: &str,
) {
    let latest = runs.latest_in_stage(stage);
    h.raw("<section class=\"stage card\" data-stage=\"").text(stage).raw("\"><h3>").text(stage).raw(" ");
    match latest.and_then(|(_, s)| s.status) {
        Some(status) => badge(h, &name(status)),
        None => {
            h.raw("<span class=\"muted\">not run</span>");
        }
    }
    h.raw("</h3>");
    if let Some(gate) = runs.gate(declaration, index) {
        h.raw("<p class=\"transition\">Transition disabled: ").text(&gate.reason).raw("</p>");
    }
    let waiting: Vec<&Execution> =
        runs.executions.iter().filter(|e| e.position == Position::Before(index) && !e.status.is_finished()).collect();
    for e in waiting {
        h.raw("<p class=\"muted waiting\">Waiting: <code>").text(short(&e.id)).raw("</code></p>");
    }
    if let Some((e, _)) = latest {
        h.raw("<p class=\"muted\">Execution <code>").text(short(&e.id)).raw("</code></p>");
    }
    h.raw("<ul class=\"actions\">");
    for action in &declaration.stages[index].actions {
        let run = latest.and_then(|(_, s)| s.actions.iter().find(|a| a.name == action.name));
        h.raw("<li data-action=\"").text(&action.name).raw("\"><strong>").text(&action.name).raw("</strong> ");
        h.raw("<span class=\"muted\">").text(&action.action_type_id.provider).raw("</span> ");
        match run.and_then(|r| r.status.map(|s| (r, s))) {
            Some((r, status)) => {
                badge(h, &name(status));
                if r.attempt > 1 {
                    h.raw(" <span class=\"muted\">attempt ").text(r.attempt).raw("</span>");
                }
                match (&r.external_id, &r.external_url) {
                    (Some(id), Some(url)) => {
                        h.raw(" <a href=\"").text(url).raw("\">").text(id).raw("</a>");
                    }
                    _ => {
                        if let Some(rev) = &r.revision {
                            h.raw(" <code>").text(rev.get(..12).unwrap_or(rev)).raw("</code>");
                        }
                    }
                }
                if let Some(m) = r.error.as_ref().or(r.summary.as_ref()) {
                    h.raw("<br><span class=\"detail\">").text(m).raw("</span>");
                }
                let approval = r.token.is_some() && status == ActionStatus::InProgress;
                if approval && can_act {
                    if let Some(data) = r.configuration.get("CustomData") {
                        h.raw("<br><span class=\"detail\">").text(data).raw("</span>");
                    }
                    let path = format!("{}/approvals", pipeline_path(pipeline));
                    form(h, session, &path, "approval");
                    h.raw("<input type=\"hidden\" name=\"stage\" value=\"").text(stage).raw("\">");
                    h.raw("<input type=\"hidden\" name=\"action\" value=\"").text(&action.name).raw("\">");
                    h.raw("<input name=\"summary\" placeholder=\"Comment\">");
                    h.raw("<button class=\"btn\" name=\"decision\" value=\"approve\">Approve</button>");
                    h.raw("<button class=\"btn danger\" name=\"decision\" value=\"reject\">Reject</button></form>");
                }
            }
            None => {
                h.raw("<span class=\"muted\">–</span>");
            }
        }
        h.raw("</li>");
    }
    h.raw("</ul>");
    if let Some((e, _)) = latest
        && can_act
        && matches!(e.status, ExecutionStatus::Failed | ExecutionStatus::Stopped)
        && e.position == Position::In(index)
    {
        let path = format!("{}/executions/{}/retry", pipeline_path(pipeline), enc(&e.id));
        form(h, session, &path, "retry");
        h.raw("<input type=\"hidden\" name=\"stage\" value=\"").text(stage).raw("\">");
        h.raw("<button class=\"btn\" type=\"submit\">Retry failed actions</button></form>");
    }
    h.raw("</section>");
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct PipelineForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    decision: String,
}

/// Runs a button's operation for a session allowed to change pipelines
/// (with its CSRF token), then goes back to the pipeline with its message.
async fn act<F>(session: &Session, headers: &HeaderMap, csrf: &str, pipeline: &str, op: F) -> Response
where
    F: std::future::Future<Output = Result<String, OpError>>,
{
    let result = async {
        crate::audit::note_target(pipeline);
        session.authorize_action(headers, csrf, Subject::Global)?;
        match op.await {
            Ok(message) => Ok(back(&pipeline_path(pipeline), Ok(message))),
            Err(e) => refused(pipeline, e),
        }
    }
    .await;
    respond(session, result)
}

/// POST `/console/pipelines/{name}/start`.
pub(crate) async fn start(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(pipeline): Path<String>,
    Form(form): Form<PipelineForm>,
) -> Response {
    let trigger = pipeline_runs::started_by(&session.key_id);
    let op = async {
        let id = pipeline_runs::start(&state, &pipeline, Default::default(), Default::default(), trigger).await?;
        Ok(format!("Execution {id} started."))
    };
    act(&session, &headers, &form.csrf, &pipeline, op).await
}

/// POST `/console/pipelines/{name}/approvals` (`stage`, `action`, `decision`, `summary`).
pub(crate) async fn decide(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(pipeline): Path<String>,
    Form(form): Form<PipelineForm>,
) -> Response {
    let approved = form.decision == "approve";
    let decision = Decision {
        stage: form.stage.clone(),
        action: form.action.clone(),
        token: None,
        approved,
        summary: form.summary.clone(),
        by: Some(session.key_id.clone()),
    };
    let op = async {
        pipeline_runs::decide(&state, &pipeline, decision).await?;
        let verb = if approved { "Approved" } else { "Rejected" };
        Ok(format!("{verb} {}/{}.", form.stage, form.action))
    };
    act(&session, &headers, &form.csrf, &pipeline, op).await
}

/// POST `/console/pipelines/{name}/executions/{id}/retry` (`stage`).
pub(crate) async fn retry(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path((pipeline, id)): Path<(String, String)>,
    Form(form): Form<PipelineForm>,
) -> Response {
    let op = async {
        pipeline_runs::retry(&state, &pipeline, &id, &form.stage, RetryMode::FailedActions).await?;
        Ok(format!("Retrying stage {}.", form.stage))
    };
    act(&session, &headers, &form.csrf, &pipeline, op).await
}

/// POST `/console/pipelines/{name}/executions/{id}/stop`: running actions finish.
pub(crate) async fn stop(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path((pipeline, id)): Path<(String, String)>,
    Form(form): Form<PipelineForm>,
) -> Response {
    let reason = Some(format!("stopped by {}", session.key_id));
    let op = async {
        pipeline_runs::stop(&state, &pipeline, &id, false, reason).await?;
        Ok(format!("Stopping execution {id}."))
    };
    act(&session, &headers, &form.csrf, &pipeline, op).await
}
