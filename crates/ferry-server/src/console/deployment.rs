//! One deployment: `/console/deployments/{id}` (the page), `…/live`
//! (server-sent events carrying its live fragment), and the actions
//! (`…/stop`, `…/continue`, `…/redeploy`, POST forms).
//!
//! The live fragment is everything that changes while a deployment runs:
//! status, error, overview, blue/green phase, the actions, the instance ×
//! lifecycle-event grid, the target groups (traffic and health now) and the
//! hook output. The page renders it once; the stream re-renders it whenever
//! the deployment (or its target groups) changed: woken by every new
//! event in the event log, and every second for target-group health and
//! traffic (which are not events), and ends once the deployment is
//! terminal. The fragment ends with the deployment's timeline: its
//! deployment and instance notices from the event log.

use std::convert::Infallible;
use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use ferry_core::resources::Subject;
use ferry_proto::api::{self, DeploymentView, InstanceTarget, LifecycleEvent};
use ferry_store::StoreError;

use super::auth::Session;
use super::{Flash, Html, Problem, badge, duration, enc, page as layout, respond, utc};
use crate::AppState;
use crate::clock::now_millis;
use crate::driver::OpError;

/// How often the live stream looks for changes that are not events.
const LIVE_TICK: Duration = Duration::from_secs(1);
/// The newest timeline entries shown.
const TIMELINE_ROWS: usize = 200;

fn is_final(status: &str) -> bool {
    matches!(status, "Succeeded" | "Failed" | "Stopped")
}

fn no_such(id: &str) -> Problem {
    Problem::not_found(format!("There is no deployment {id}."))
}

/// The deployment as `ferry get` sees it, target groups included; `None`
/// when there is no such deployment.
/// The deployment's timeline: its notices but lifecycle events (those are the grid).
async fn timeline_of(state: &AppState, id: &str) -> Result<Vec<api::Event>, Problem> {
    let mut events: Vec<api::Event> = state
        .store
        .events_after(0, Some(id), 100_000)
        .await?
        .iter()
        .filter(|e| e.notice.kind != ferry_core::notices::NoticeKind::LifecycleEvent)
        .map(crate::events::event_view)
        .collect();
    let skip = events.len().saturating_sub(TIMELINE_ROWS);
    events.drain(..skip);
    Ok(events)
}

fn timeline(h: &mut Html, events: &[api::Event]) {
    if events.is_empty() {
        return;
    }
    h.raw("<section class=\"card timeline\" id=\"timeline\"><h3>Timeline</h3><table class=\"events\">");
    h.raw("<tr><th>Time</th><th>Event</th><th>Instance</th><th>Status</th><th></th></tr>");
    for e in events {
        h.raw("<tr data-kind=\"").text(&e.kind).raw("\"><td>").text(utc(e.time)).raw("</td><td>").text(&e.kind);
        h.raw("</td><td>").text(e.instance.as_deref().unwrap_or("")).raw("</td><td>").text(&e.status);
        h.raw("</td><td class=\"msg\">").text(e.message.as_deref().unwrap_or("")).raw("</td></tr>");
    }
    h.raw("</table></section>");
}

async fn load(state: &AppState, id: &str) -> Result<Option<DeploymentView>, Problem> {
    let d = match state.store.get_deployment(id).await {
        Ok(d) => d,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(crate::views::deployment_now(state, &d).await))
}

/// GET `/console/deployments/{id}`.
async fn deployment_page(state: &AppState, session: &Session, id: &str, flash: &Flash) -> Result<Response, Problem> {
    let view = load(state, id).await?.ok_or_else(|| no_such(id))?;
    let mut h = Html::new();
    h.raw("<p class=\"crumbs\"><a href=\"/console\">Deployments</a> /</p><h1>Deployment <code>");
    h.text(&view.id).raw("</code></h1>");
    h.raw("<table class=\"facts card\" id=\"facts\"><tr><th>Application</th><td><a href=\"/console/applications/");
    h.text(enc(&view.application_name)).raw("\">").text(&view.application_name).raw("</a></td></tr>");
    h.raw("<tr><th>Group</th><td><a href=\"/console/applications/").text(enc(&view.application_name));
    h.raw("#group-").text(&view.group_name).raw("\">").text(&view.group_name).raw("</a></td></tr>");
    h.raw("<tr><th>Config</th><td>").text(&view.deployment_config_name).raw("</td></tr>");
    h.raw("<tr><th>Revision</th><td><code>").text(&view.revision_id).raw("</code>");
    if let Some(previous) = &view.previous_revision_id {
        h.raw(" <span class=\"muted\">(previous <code>").text(previous).raw("</code>)</span>");
    }
    h.raw("</td></tr><tr><th>Type</th><td>");
    h.raw(if view.deployment_type == "BLUE_GREEN" { "blue/green" } else { "in place" });
    h.raw("</td></tr><tr><th>Creator</th><td>").text(&view.creator).raw("</td></tr>");
    if let Some(d) = view.description.as_deref().filter(|d| !d.is_empty()) {
        h.raw("<tr><th>Description</th><td id=\"description\">").text(d).raw("</td></tr>");
    }
    h.raw("<tr><th>Created</th><td>").text(utc(view.create_time)).raw("</td></tr></table>");
    h.raw("<div id=\"live\" aria-live=\"polite\"");
    if !is_final(&view.status) {
        h.raw(" data-src=\"/console/deployments/").text(enc(&view.id)).raw("/live\"");
    }
    let events = timeline_of(state, id).await?;
    h.raw(">").html(&fragment(&view, &events, session, now_millis())).raw("</div>");
    Ok(layout(StatusCode::OK, &format!("Deployment {}", view.id), Some(session), flash, &h))
}

pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    respond(&session, deployment_page(&state, &session, &id, &flash).await)
}

/// The part of the page that changes while the deployment runs. Times of
/// running things carry `data-since` (ms since the epoch), which
/// `console.js` ticks on from the server's `data-now`.
fn fragment(view: &DeploymentView, events: &[api::Event], session: &Session, now: u64) -> Html {
    let mut h = Html::new();
    h.raw("<div class=\"frag\" data-now=\"").text(now).raw("\" data-deployment-status=\"").text(&view.status);
    h.raw("\"><section class=\"card summary\"><div class=\"status-line\">");
    badge(&mut h, &view.status);
    h.raw("<span class=\"livebadge\">live</span><span class=\"when\">");
    match (view.start_time, view.complete_time) {
        (_, Some(end)) => {
            let took = end.saturating_sub(view.start_time.unwrap_or(view.create_time));
            h.raw("completed ").text(utc(end)).raw(", took ").text(duration(took));
        }
        (Some(start), None) => {
            h.raw("started ").text(utc(start)).raw(", running for <span data-since=\"").text(start).raw("\">");
            h.text(duration(now.saturating_sub(start))).raw("</span>");
        }
        (None, None) => {
            h.raw("not started yet");
        }
    }
    h.raw("</span></div>");
    if let Some(e) = &view.error {
        h.raw("<p class=\"error-box\" id=\"deployment-error\"><strong>").text(&e.code).raw("</strong> ");
        h.text(&e.message).raw("</p>");
    }
    if let Some(id) = &view.rollback_deployment_id {
        h.raw("<p>Rolled back by <a href=\"/console/deployments/").text(enc(id)).raw("\">").text(id).raw("</a></p>");
    }
    if let Some(id) = &view.rollback_triggering_deployment_id {
        h.raw("<p>A rollback of <a href=\"/console/deployments/").text(enc(id)).raw("\">").text(id);
        h.raw("</a></p>");
    }
    if let Some(m) = view.rollback_message.as_deref().filter(|m| !m.is_empty()) {
        h.raw("<p class=\"muted\">").text(m).raw("</p>");
    }
    let o = &view.overview;
    h.raw("<p class=\"overview\" id=\"overview\">");
    for (n, what, class) in [
        (o.succeeded, "succeeded", "succeeded"),
        (o.failed, "failed", "failed"),
        (o.in_progress, "in progress", "inprogress"),
        (o.pending, "pending", "pending"),
        (o.skipped, "skipped", "skipped"),
        (o.ready, "ready", "ready"),
    ] {
        if n > 0 || what != "ready" {
            h.raw("<span class=\"count st-").text(class).raw("\"><b>").text(n).raw("</b> ").text(what).raw("</span>");
        }
    }
    h.raw("</p>");
    if let Some(bg) = &view.blue_green {
        h.raw("<div class=\"bluegreen\" id=\"blue-green\"><strong>Blue/green</strong> phase <b id=\"bg-phase\">");
        h.text(&bg.phase).raw("</b> · green takes <meter min=\"0\" max=\"100\" value=\"").text(bg.green_share);
        h.raw("\"></meter> ").text(bg.green_share).raw(" % of traffic · ").text(&bg.routing);
        if let Some(deadline) = bg.deadline {
            h.raw(" · the wait ends ").text(utc(deadline));
        }
        if bg.traffic_only {
            h.raw(" · moves traffic back");
        }
        h.raw("</div>");
    }
    actions(&mut h, view, session);
    h.raw("</section>");
    grid(&mut h, view, now);
    for tg in &view.target_groups {
        target_group(&mut h, tg);
    }
    hook_output(&mut h, view, now);
    timeline(&mut h, events);
    h.raw("</div>");
    h
}

/// The action forms (admins and deployers only).
fn actions(h: &mut Html, view: &DeploymentView, session: &Session) {
    if !session.can_act() {
        h.raw("<p class=\"muted\" id=\"read-only\">Your access key is read-only: you can look, not act.</p>");
        return;
    }
    if !session.can_act_on(&view.application_name, &view.group_name) {
        h.raw("<p class=\"muted\" id=\"out-of-scope\">Your access key may not act on this deployment group.</p>");
        return;
    }
    let csrf = session.csrf();
    let form = |h: &mut Html,
                action: &'static str,
                field: Option<(&'static str, &'static str)>,
                label: &'static str,
                id: &'static str,
                class: &'static str,
                confirm: Option<String>| {
        h.raw("<form method=\"post\" action=\"/console/deployments/").text(enc(&view.id)).raw("/").raw(action);
        h.raw("\"");
        if let Some(c) = confirm {
            h.raw(" data-confirm=\"").text(c).raw("\"");
        }
        h.raw("><input type=\"hidden\" name=\"csrf\" value=\"").text(&csrf).raw("\">");
        if let Some((name, value)) = field {
            h.raw("<input type=\"hidden\" name=\"").raw(name).raw("\" value=\"").raw(value).raw("\">");
        }
        h.raw("<button type=\"submit\" class=\"").raw(class).raw("\" id=\"").raw(id).raw("\">").raw(label);
        h.raw("</button></form>");
    };
    h.raw("<div class=\"actions\" id=\"actions\">");
    if !is_final(&view.status) {
        if let Some(bg) = &view.blue_green {
            match bg.phase.as_str() {
                "Ready" => form(
                    h,
                    "continue",
                    Some(("wait", "ready")),
                    "Continue: move traffic now",
                    "action-continue",
                    "btn primary",
                    None,
                ),
                "TerminationWait" => form(
                    h,
                    "continue",
                    Some(("wait", "termination")),
                    "Continue: terminate the originals now",
                    "action-continue",
                    "btn primary",
                    None,
                ),
                _ => {}
            }
        }
        form(
            h,
            "stop",
            Some(("rollback", "false")),
            "Stop",
            "action-stop",
            "btn danger",
            Some(format!("Stop deployment {}? Lifecycle events already running finish; no more start.", view.id)),
        );
        form(
            h,
            "stop",
            Some(("rollback", "true")),
            "Stop and roll back",
            "action-stop-rollback",
            "btn danger",
            Some(format!("Stop deployment {} and roll the group back to its last successful revision?", view.id)),
        );
    }
    form(
        h,
        "redeploy",
        None,
        "Redeploy this revision",
        "action-redeploy",
        "btn",
        Some(format!("Deploy revision {} to group {} again?", view.revision_id, view.group_name)),
    );
    h.raw("</div>");
}

fn elapsed(event: &LifecycleEvent, now: u64) -> Option<u64> {
    let start = event.start_time?;
    let end = event.end_time.unwrap_or(if event.status == "InProgress" { now } else { start });
    Some(end.saturating_sub(start))
}

fn instance_done(status: &str) -> bool {
    matches!(status, "Succeeded" | "Failed" | "Skipped" | "Unknown")
}

/// Instances × lifecycle events, one table per distinct list of events
/// (in place: one; blue/green: the replacements and the originals).
fn grid(h: &mut Html, view: &DeploymentView, now: u64) {
    if view.instances.is_empty() {
        h.raw("<p class=\"empty\" id=\"no-instances\">No instances yet.</p>");
        return;
    }
    let mut tables: Vec<(Vec<&str>, Vec<&InstanceTarget>)> = Vec::new();
    for t in &view.instances {
        let names: Vec<&str> = t.events.iter().map(|e| e.name.as_str()).collect();
        match tables.iter_mut().find(|(n, _)| *n == names) {
            Some((_, targets)) => targets.push(t),
            None => tables.push((names, vec![t])),
        }
    }
    for (names, targets) in tables {
        h.raw("<div class=\"scroll\"><table class=\"grid\">");
        let label = targets[0].label.as_deref();
        if targets.iter().all(|t| t.label.as_deref() == label) {
            match label {
                Some("Green") => h.raw("<caption>Replacement instances (green)</caption>"),
                Some("Blue") => h.raw("<caption>Original instances (blue)</caption>"),
                _ => h,
            };
        }
        h.raw("<thead><tr><th>Instance</th><th>Status</th><th class=\"num\">Time</th>");
        for name in &names {
            h.raw("<th>").text(name).raw("</th>");
        }
        h.raw("</tr></thead><tbody>");
        for t in targets {
            h.raw("<tr data-instance=\"").text(&t.instance).raw("\"><th scope=\"row\">").text(&t.instance);
            if let Some(label) = &t.label {
                h.raw(" <span class=\"label label-").text(label.to_ascii_lowercase()).raw("\">");
                h.text(label.to_ascii_lowercase()).raw("</span>");
            }
            h.raw("</th><td>");
            badge(h, &t.status);
            h.raw("</td><td class=\"num\">");
            if let Some(start) = t.events.iter().filter_map(|e| e.start_time).min() {
                if instance_done(&t.status) {
                    let end = t.events.iter().filter_map(|e| e.end_time.or(e.start_time)).max().unwrap_or(start);
                    h.text(duration(end.saturating_sub(start)));
                } else {
                    h.raw("<span data-since=\"").text(start).raw("\">").text(duration(now.saturating_sub(start)));
                    h.raw("</span>");
                }
            }
            h.raw("</td>");
            for e in &t.events {
                h.raw("<td class=\"ev st-").text(super::class_of(&e.status)).raw("\" data-instance=\"");
                h.text(&t.instance).raw("\" data-event=\"").text(&e.name).raw("\" data-status=\"").text(&e.status);
                h.raw("\" title=\"").text(&t.instance).raw(" ").text(&e.name).raw(": ").text(&e.status).raw("\">");
                h.raw("<span class=\"ev-status\">").text(&e.status).raw("</span>");
                match (e.status.as_str(), e.start_time, elapsed(e, now)) {
                    ("InProgress", Some(start), Some(ms)) => {
                        h.raw("<span class=\"ev-time\" data-since=\"").text(start).raw("\">").text(duration(ms));
                        h.raw("</span>");
                    }
                    (_, _, Some(ms)) => {
                        h.raw("<span class=\"ev-time\">").text(duration(ms)).raw("</span>");
                    }
                    _ => {}
                }
                if let Some(d) =
                    e.diagnostics.as_ref().filter(|d| !d.error_code.is_empty() && d.error_code != "Success")
                {
                    h.raw("<span class=\"ev-error\">").text(&d.error_code).raw("</span>");
                }
                h.raw("</td>");
            }
            h.raw("</tr>");
        }
        h.raw("</tbody></table></div>");
    }
}

/// A target group's members as the load balancer has them now.
fn target_group(h: &mut Html, tg: &api::TargetGroupView) {
    h.raw("<section class=\"card tg\" id=\"tg-").text(&tg.name).raw("\"><h3>Target group ").text(&tg.name);
    h.raw(" <small class=\"muted\">traffic now · ");
    match (&tg.listen, &tg.haproxy_backend) {
        (Some(listen), _) => h.raw("ferry's proxy on ").text(listen),
        (None, Some(backend)) => h.raw("HAProxy backend ").text(backend),
        (None, None) => h.text(&tg.balancer),
    };
    h.raw("</small></h3>");
    if let Some(e) = &tg.balancer_error {
        h.raw("<p class=\"error-box\">The load balancer could not be read: ").text(e).raw("</p>");
    }
    if tg.members.is_empty() {
        h.raw("<p class=\"empty\">No members.</p></section>");
        return;
    }
    h.raw("<table class=\"list\"><thead><tr><th>Instance</th><th>Address</th><th>State</th><th>Health</th>")
        .raw("<th class=\"num\">Weight</th><th>Traffic</th><th class=\"num\">In flight</th></tr></thead><tbody>");
    for m in &tg.members {
        h.raw("<tr data-member=\"").text(&m.instance).raw("\"><td>").text(&m.instance);
        if m.test {
            h.raw(" <span class=\"label\">test</span>");
        }
        h.raw("</td><td><code>").text(&m.address).raw("</code></td><td>").text(&m.state).raw("</td><td>");
        h.raw("<span class=\"health health-").text(super::class_of(&m.health)).raw("\">").text(&m.health);
        h.raw("</span></td><td class=\"num\">").text(m.weight).raw("</td><td><meter min=\"0\" max=\"100\" value=\"");
        h.text(m.traffic_percent).raw("\"></meter> ").text(m.traffic_percent).raw(" %</td><td class=\"num\">");
        h.text(m.in_flight).raw("</td></tr>");
    }
    h.raw("</tbody></table></section>");
}

/// Failed events (open) and events with output (folded), as `ferry logs` shows them.
fn hook_output(h: &mut Html, view: &DeploymentView, now: u64) {
    let mut body = Html::new();
    for t in &view.instances {
        let failed_any = t.events.iter().any(|e| e.status == "Failed");
        if t.status == "Failed" && !failed_any {
            body.raw("<p class=\"error-box\">").text(&t.instance);
            body.raw(" failed (no lifecycle event reported a failure).</p>");
        }
        for e in &t.events {
            let failed = e.status == "Failed";
            let has_tail = e.diagnostics.as_ref().is_some_and(|d| !d.log_tail.trim().is_empty());
            if !failed && !has_tail {
                continue;
            }
            body.raw(if failed { "<details class=\"diag failed\" open>" } else { "<details class=\"diag\">" });
            body.raw("<summary><b>").text(&t.instance).raw("</b> ").text(&e.name).raw(" ");
            badge(&mut body, &e.status);
            if let Some(d) = e.diagnostics.as_ref().filter(|d| !d.error_code.is_empty() && d.error_code != "Success") {
                body.raw(" <code>").text(&d.error_code).raw("</code>");
            }
            if let Some(ms) = elapsed(e, now) {
                body.raw(" <span class=\"muted\">in ").text(duration(ms)).raw("</span>");
            }
            body.raw("</summary>");
            if let Some(d) = &e.diagnostics {
                if !d.script_name.is_empty() {
                    body.raw("<p>Script <code>").text(&d.script_name).raw("</code></p>");
                }
                if !d.message.trim().is_empty() {
                    body.raw("<p class=\"diag-message\">").text(d.message.trim_end()).raw("</p>");
                }
                if !d.log_tail.trim().is_empty() {
                    body.raw("<pre class=\"tail\">").text(d.log_tail.trim_end()).raw("</pre>");
                }
            }
            body.raw("</details>");
        }
    }
    if !body.as_str().is_empty() {
        h.raw("<section class=\"card hooks\" id=\"hook-output\"><h3>Hook output</h3>").html(&body).raw("</section>");
    }
}

/// GET `/console/deployments/{id}/live`: server-sent events. `fragment`
/// events carry the re-rendered live fragment (HTML) whenever it changed;
/// `done` ends the stream (the deployment is terminal, gone, the session
/// no longer valid — data `signed-out` — or the server is stopping).
pub(crate) async fn live(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    match load(&state, &id).await {
        Ok(Some(_)) => {}
        Ok(None) => return no_such(&id).render(Some(&session)),
        Err(problem) => return problem.render(Some(&session)),
    }
    let events = state.driver.events.subscribe();
    let live = Live { state, session, id, last: None, events, first: true, ended: false };
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok::<_, Infallible>(event), live))
    });
    let mut response = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    // Proxies must pass events on as they come.
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

struct Live {
    state: AppState,
    session: Session,
    id: String,
    /// What was last sent (the view as JSON and the timeline's length), to send only changes.
    last: Option<String>,
    /// Wakes the stream when the event log grows.
    events: tokio::sync::watch::Receiver<u64>,
    first: bool,
    ended: bool,
}

impl Live {
    async fn next(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        loop {
            if !self.first {
                tokio::select! {
                    _ = self.events.changed() => {}
                    _ = tokio::time::sleep(LIVE_TICK) => {}
                    _ = self.state.driver.wait_shutdown() => {}
                }
            }
            self.first = false;
            self.events.borrow_and_update();
            let done = |why: &str| Some(Event::default().event("done").data(why));
            if self.state.driver.is_shutting_down() {
                self.ended = true;
                return done("stopping");
            }
            if !self.session.still_valid(&self.state).await {
                self.ended = true;
                return done("signed-out");
            }
            let view = match load(&self.state, &self.id).await {
                Ok(Some(view)) => view,
                Ok(None) => {
                    self.ended = true;
                    return done("gone");
                }
                // Try again at the next tick.
                Err(_) => continue,
            };
            let Ok(events) = timeline_of(&self.state, &self.id).await else { continue };
            let seen =
                format!("{}|{}", events.last().map_or(0, |e| e.seq), serde_json::to_string(&view).unwrap_or_default());
            if self.last.as_deref() != Some(seen.as_str()) {
                self.last = Some(seen);
                let html = fragment(&view, &events, &self.session, now_millis()).into_string();
                return Some(Event::default().event("fragment").data(html));
            }
            if is_final(&view.status) {
                self.ended = true;
                return done(&view.status);
            }
        }
    }
}

/// The application and group of a deployment, for checking who may act on it.
async fn owner_of(state: &AppState, id: &str) -> Result<(String, String), Problem> {
    crate::audit::note_target(id);
    match state.store.get_deployment(id).await {
        Ok(d) => Ok((d.application_name, d.group_name)),
        Err(StoreError::NotFound) => Err(no_such(id)),
        Err(e) => Err(e.into()),
    }
}

/// The fields of the action forms.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rollback: String,
    #[serde(default)]
    wait: String,
}

/// Back to the deployment's page with a message.
fn back(id: &str, outcome: Result<String, String>) -> Response {
    let (kind, message) = match outcome {
        Ok(m) => ("ok", m),
        Err(m) => ("error", m),
    };
    Redirect::to(&format!("/console/deployments/{}?{kind}={}", enc(id), enc(&message))).into_response()
}

/// An operation's refusal: back to the page with the message, or the
/// console's error page when there is no page or the server failed.
fn op_problem(id: &str, e: OpError) -> Result<Response, Problem> {
    match e {
        OpError::DeploymentNotFound(_) => Err(no_such(id)),
        OpError::Store(e) => Err(e.into()),
        e => Ok(back(id, Err(e.to_string()))),
    }
}

/// POST `/console/deployments/{id}/stop` (`rollback=true|false`).
pub(crate) async fn stop(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let result = async {
        let (app, group) = owner_of(&state, &id).await?;
        session.authorize_action(&headers, &form.csrf, Subject::Group(&app, &group))?;
        let rollback = match form.rollback.as_str() {
            "true" => true,
            "false" | "" => false,
            other => return Err(Problem::bad_request(format!("rollback must be true or false, not {other:?}"))),
        };
        match crate::ops::deployments::stop(&state, &id, Some(rollback)).await {
            Ok(d) => {
                tracing::info!(deployment = %id, rollback, key_id = %session.key_id, "console: stop");
                let mut message = if d.status.is_terminal() {
                    "The deployment is stopped.".to_string()
                } else {
                    "Stopping: lifecycle events already running finish; no more start.".to_string()
                };
                if rollback {
                    message.push_str(" The group rolls back to its last successful revision, if it has one.");
                }
                Ok(back(&id, Ok(message)))
            }
            Err(e) => op_problem(&id, e),
        }
    }
    .await;
    respond(&session, result)
}

/// POST `/console/deployments/{id}/continue` (`wait=ready|termination`).
pub(crate) async fn continue_(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let result = async {
        let (app, group) = owner_of(&state, &id).await?;
        session.authorize_action(&headers, &form.csrf, Subject::Group(&app, &group))?;
        let (wait, message) = match form.wait.as_str() {
            "ready" | "" => (ferry_core::machine::Wait::Ready, "Traffic moves to the replacement instances now."),
            "termination" => (ferry_core::machine::Wait::Termination, "The original instances are terminated now."),
            other => return Err(Problem::bad_request(format!("wait must be ready or termination, not {other:?}"))),
        };
        match crate::ops::deployments::continue_(&state, &id, wait).await {
            Ok(_) => {
                tracing::info!(deployment = %id, wait = %form.wait, key_id = %session.key_id, "console: continue");
                Ok(back(&id, Ok(message.to_string())))
            }
            Err(e) => op_problem(&id, e),
        }
    }
    .await;
    respond(&session, result)
}

/// POST `/console/deployments/{id}/redeploy`: a new deployment of the same
/// revision to the same group, with the same config and file options,
/// created exactly as `POST /api/v1/deployments` creates one.
pub(crate) async fn redeploy(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let result = async {
        let (app, group) = owner_of(&state, &id).await?;
        session.authorize_action(&headers, &form.csrf, Subject::Group(&app, &group))?;
        let description = format!("Redeploy of {id} (console, key {})", session.key_id);
        match crate::ops::deployments::redeploy(&state, &id, description).await {
            Ok(new) => {
                tracing::info!(deployment = %new, of = %id, key_id = %session.key_id, "console: redeploy");
                let d = crate::ops::deployments::get(&state, &new).await?;
                let message =
                    format!("Deployment {new} of revision {} to {} (a redeploy of {id}).", d.revision.id, d.group_name);
                Ok(back(&new, Ok(message)))
            }
            Err(e) => op_problem(&id, e),
        }
    }
    .await;
    respond(&session, result)
}

#[cfg(test)]
mod tests {
    use ferry_core::resources::Role;
    use serde_json::json;

    use super::*;

    fn event(name: &str, status: &str, start: Option<u64>, end: Option<u64>) -> serde_json::Value {
        json!({ "name": name, "status": status, "start_time": start, "end_time": end, "diagnostics": null })
    }

    /// A blue/green deployment waiting in Ready: one green instance failed
    /// (with hostile output), one blue instance, a target group.
    fn view() -> DeploymentView {
        let mut failed = event("AfterInstall", "Failed", Some(1_000), Some(3_500));
        failed["diagnostics"] = json!({
            "error_code": "ScriptFailed",
            "script_name": "scripts/<b>.sh",
            "message": "Script failed with exit code 7",
            "log_tail": "[stderr]</pre><script>alert(1)</script>\n",
        });
        let instances = json!([
            { "instance": "green-1", "status": "Failed", "last_updated": 3_500, "label": "Green",
              "events": [event("Install", "Succeeded", Some(900), Some(1_000)), failed] },
            { "instance": "blue-1", "status": "Pending", "last_updated": 1_000, "label": "Blue",
              "events": [event("BlockTraffic", "InProgress", Some(4_000), None)] },
        ]);
        let members = json!([{ "instance": "blue-1", "address": "10.0.0.2:8000", "weight": 100, "state": "ready",
                               "health": "healthy", "in_flight": 3, "traffic_percent": 100, "test": false }]);
        let target_group = json!({
            "name": "tg", "port": 8000, "balancer": "builtin", "listen": "0.0.0.0:8080", "test_listen": null,
            "haproxy_socket": null, "haproxy_backend": null, "health_path": "/health",
            "health_interval_ms": 1000, "health_timeout_ms": 500, "healthy_threshold": 2,
            "unhealthy_threshold": 2, "deregistration_delay_ms": 0, "healthy_timeout_ms": 1000,
            "members": members, "balancer_error": null,
        });
        let overview = json!({ "pending": 0, "in_progress": 0, "succeeded": 0, "failed": 1, "skipped": 0, "ready": 1 });
        let blue_green = json!({ "phase": "Ready", "green_share": 0, "deadline": 9_000, "routing": "AllAtOnce", "traffic_only": false });
        serde_json::from_value(json!({
            "id": "d-ABCDEFGHI", "application_name": "shop", "group_name": "web",
            "deployment_config_name": "CodeDeployDefault.AllAtOnce", "revision_id": "r-1",
            "previous_revision_id": null, "creator": "user", "description": "x\"><script>",
            "status": "Ready", "error": null, "create_time": 1_000, "start_time": 1_000, "complete_time": null,
            "overview": overview,
            "rollback_deployment_id": null, "rollback_triggering_deployment_id": null, "rollback_message": null,
            "instances": instances, "target_groups": [target_group],
            "deployment_type": "BLUE_GREEN", "blue_green": blue_green,
        }))
        .unwrap()
    }

    #[test]
    fn the_fragment_shows_grid_failures_traffic_and_continue() {
        let html = fragment(&view(), &[], &Session::for_test(Role::Deployer), 5_000).into_string();
        for expected in [
            "data-deployment-status=\"Ready\"",
            "<caption>Replacement instances (green)</caption>",
            "<caption>Original instances (blue)</caption>",
            "data-instance=\"green-1\" data-event=\"AfterInstall\" data-status=\"Failed\"",
            "<span class=\"ev-error\">ScriptFailed</span>",
            "<span class=\"ev-time\">2.5 s</span>",
            // Running: ticks on from its start.
            "<span class=\"ev-time\" data-since=\"4000\">1.0 s</span>",
            "<details class=\"diag failed\" open>",
            "Script <code>scripts/&lt;b&gt;.sh</code>",
            "<pre class=\"tail\">[stderr]&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;</pre>",
            "Target group tg",
            "<tr data-member=\"blue-1\">",
            "value=\"100\"></meter> 100 %",
            "id=\"action-continue\">Continue: move traffic now</button>",
            "name=\"wait\" value=\"ready\"",
            "id=\"action-stop\"",
            "id=\"action-redeploy\"",
        ] {
            assert!(html.contains(expected), "missing {expected:?} in\n{html}");
        }
        assert!(!html.contains("<script>"), "{html}");
    }

    #[test]
    fn the_timeline_lists_notices_escaped() {
        let event = |kind: &str, message: Option<&str>| api::Event {
            seq: 1,
            time: 1_000,
            kind: kind.into(),
            deployment_id: "d-1".into(),
            application_name: "a".into(),
            group_name: "g".into(),
            instance: None,
            lifecycle_event: None,
            status: "Stopped".into(),
            message: message.map(str::to_string),
            build_id: None,
            project: None,
            build_number: None,
        };
        let events = [event("DeploymentStart", None), event("DeploymentStop", Some("<b>Activated alarms: x</b>"))];
        let html = fragment(&view(), &events, &Session::for_test(Role::ReadOnly), 5_000).into_string();
        assert!(html.contains("id=\"timeline\""), "{html}");
        assert!(html.contains("data-kind=\"DeploymentStop\""));
        assert!(html.contains("&lt;b&gt;Activated alarms: x&lt;/b&gt;"), "escaped: {html}");
        let none = fragment(&view(), &[], &Session::for_test(Role::ReadOnly), 5_000).into_string();
        assert!(!none.contains("id=\"timeline\""));
    }

    #[test]
    fn read_only_sessions_get_no_forms() {
        let html = fragment(&view(), &[], &Session::for_test(Role::ReadOnly), 5_000).into_string();
        assert!(html.contains("id=\"read-only\""), "{html}");
        assert!(!html.contains("<form"), "{html}");
        assert!(!html.contains("csrf"), "{html}");
    }

    #[test]
    fn terminal_deployments_offer_only_redeploy() {
        let mut v = view();
        v.status = "Stopped".into();
        let html = fragment(&v, &[], &Session::for_test(Role::Admin), 5_000).into_string();
        assert!(html.contains("id=\"action-redeploy\""), "{html}");
        assert!(!html.contains("action-stop") && !html.contains("action-continue"), "{html}");
    }
}
