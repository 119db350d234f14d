//! Builds in the console (issue #13): the builds page (`/console/builds`:
//! the build projects and the recent builds of all, filtered by project),
//! a project (`/console/build-projects/{name}`, with Start build), and one
//! build (`/console/builds/{id}`): its phases, environment, source,
//! exported variables, artifacts (downloaded through the console's session,
//! `…/artifacts/{name}`), test reports and log.
//!
//! The log is the newest [`LOG_TAIL`] lines on the page; the whole log is
//! paged (`…/log?from=N`) or plain text (`…/log.txt`). While a build runs,
//! the page follows `…/live?from=N`, server-sent events as the deployment
//! page has them: `lines` events carry the new log lines (escaped HTML,
//! appended by `console.js`; the event id is the next line's number, so a
//! reconnecting `EventSource` resumes there through `Last-Event-ID`),
//! `fragment` events the re-rendered live part (status, phases, outputs,
//! actions) whenever the build record changed, and `done` ends the stream
//! once the build finished and its log was sent. Build hosts write phases
//! and log lines without an event, so the stream reads the store every
//! [`LIVE_POLL`] (and at once when the event log grows: status changes).
//!
//! Start, Stop and Retry go through `ops::builds` like the native API's,
//! for sessions whose key may change what belongs to no application
//! (admins and unscoped deployers), with the console's CSRF token.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Form;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use ferry_core::build::{Build, BuildProject, BuildReport, BuildSource, BuildStatus, Initiator, VariableKind};
use ferry_core::resources::Subject;

use super::auth::Session;
use super::{Flash, Html, Problem, badge, duration, enc, page as layout, respond, utc};
use crate::AppState;
use crate::clock::now_millis;
use crate::ops::OpError;
use crate::ops::builds as ops;

/// Builds listed on the builds page.
const LIST_LIMIT: u32 = 100;
/// Builds listed on a project's page.
const PROJECT_BUILDS: u32 = 50;
/// The newest log lines a build's page shows.
pub(crate) const LOG_TAIL: u64 = 1000;
/// Lines per page of the paged log.
const LOG_PAGE: u32 = 5000;
/// Lines read from the store at a time for the plain-text log.
const LOG_CHUNK: u32 = 10_000;
/// How often the live stream reads the build and its log again.
const LIVE_POLL: Duration = Duration::from_millis(300);
/// Most lines one `lines` event carries (more follow at once).
const LIVE_LINES: u32 = 1000;
/// Test cases listed per report (failing ones first).
const CASES_SHOWN: usize = 500;

/// The status as ferry's own UIs name it (a queued build is QUEUED, not
/// CodeBuild's IN_PROGRESS).
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

/// `primary`, or a secondary artifact's identifier (the native API's names).
fn artifact_name(identifier: Option<&str>) -> &str {
    identifier.unwrap_or("primary")
}

fn build_path(id: &str) -> String {
    format!("/console/builds/{}", enc(id))
}

fn project_path(name: &str) -> String {
    format!("/console/build-projects/{}", enc(name))
}

/// A build as `project #number`, linked to its page.
fn build_link(h: &mut Html, b: &Build) {
    h.raw("<a href=\"").text(build_path(&b.id)).raw("\">").text(&b.project).raw(" #").text(b.number).raw("</a>");
}

fn source(h: &mut Html, source: &BuildSource) {
    match source {
        BuildSource::NoSource => h.raw("none (inline buildspec)"),
        BuildSource::Git { url, version } => {
            h.raw("git <code>").text(url).raw("</code>");
            match version {
                Some(v) => h.raw(" at <code>").text(v).raw("</code>"),
                None => h.raw(" (default branch)"),
            }
        }
        BuildSource::S3 { bucket, key } => h.raw("<code>s3://").text(bucket).raw("/").text(key).raw("</code>"),
        BuildSource::Upload => h.raw("uploaded with each build"),
    };
}

fn image(h: &mut Html, p: &BuildProject) {
    match &p.image {
        Some(image) => h.raw("<code>").text(image).raw("</code>"),
        None => h.raw("workspace"),
    };
}

/// How long a build ran (or has been queued or running, ticking on).
fn build_duration(h: &mut Html, b: &Build, now: u64) {
    let since = b.start_time.unwrap_or(b.queued_time);
    match b.end_time {
        Some(end) => {
            h.text(duration(end.saturating_sub(since)));
        }
        None => {
            h.raw("<span data-since=\"").text(since).raw("\">").text(duration(now.saturating_sub(since)));
            h.raw("</span>");
            if b.status == BuildStatus::Queued {
                h.raw(" queued");
            }
        }
    }
}

fn problem(e: OpError) -> Problem {
    match e {
        OpError::ProjectNotFound(_) | OpError::BuildNotFound(_) => Problem::not_found(format!("There is {}.", no(&e))),
        OpError::Store(e) => e.into(),
        e => Problem::internal(e),
    }
}

/// "no build project X" for `OpError`'s "build project X does not exist".
fn no(e: &OpError) -> String {
    match e {
        OpError::ProjectNotFound(name) => format!("no build project {name}"),
        OpError::BuildNotFound(id) => format!("no build {id}"),
        e => e.to_string(),
    }
}

// ---------------------------------------------------------------------------
// The builds page

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    project: String,
}

/// GET `/console/builds`: the projects, and the newest builds (of one project with `?project=`).
pub(crate) async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ListQuery>,
    Query(flash): Query<Flash>,
) -> Response {
    respond(&session, list_page(&state, &session, &query, &flash).await)
}

async fn list_page(state: &AppState, session: &Session, query: &ListQuery, flash: &Flash) -> Result<Response, Problem> {
    let filter = Some(query.project.trim()).filter(|p| !p.is_empty());
    let projects = ops::list_projects(state).await.map_err(problem)?;
    let builds = ops::list(state, filter, LIST_LIMIT).await.map_err(problem)?;
    let now = now_millis();
    let mut h = Html::new();
    h.raw("<h1>Builds</h1><h2>Build projects</h2>");
    if projects.is_empty() {
        h.raw("<p class=\"empty\" id=\"no-projects\">No build projects yet: ")
            .raw("<code>ferry build project create NAME --source …</code> makes one.</p>");
    } else {
        h.raw("<div class=\"scroll\"><table class=\"list\" id=\"projects\"><thead><tr><th>Project</th>")
            .raw("<th>Source</th><th>Image</th><th>Last build</th><th>Finished</th></tr></thead><tbody>");
        for p in &projects {
            let last = ops::list(state, Some(&p.name), 1).await.map_err(problem)?;
            h.raw("<tr data-project=\"").text(&p.name).raw("\"><td><a href=\"").text(project_path(&p.name));
            h.raw("\">").text(&p.name).raw("</a></td><td>");
            source(&mut h, &p.source);
            h.raw("</td><td>");
            image(&mut h, p);
            h.raw("</td><td>");
            match last.first() {
                Some(b) => {
                    badge(&mut h, status_name(b.status));
                    h.raw(" ");
                    build_link(&mut h, b);
                    h.raw("</td><td>");
                    match b.end_time {
                        Some(end) => h.text(utc(end)),
                        None => h.raw("<span class=\"muted\">running</span>"),
                    };
                }
                None => {
                    h.raw("<span class=\"muted\">never built</span></td><td>");
                }
            }
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table></div>");
    }

    h.raw("<h2>Recent builds</h2><form class=\"filters card\" method=\"get\" action=\"/console/builds\">");
    h.raw("<label>Project <select name=\"project\" id=\"filter-project\"><option value=\"\">any</option>");
    for p in &projects {
        h.raw("<option value=\"").text(&p.name).raw("\"");
        if Some(p.name.as_str()) == filter {
            h.raw(" selected");
        }
        h.raw(">").text(&p.name).raw("</option>");
    }
    h.raw("</select></label><button class=\"btn\" type=\"submit\">Filter</button>");
    h.raw("<a class=\"btn plain\" href=\"/console/builds\">Clear</a></form>");
    if builds.is_empty() {
        h.raw("<p class=\"empty\" id=\"no-builds\">No builds yet.</p>");
    } else {
        builds_table(&mut h, &builds, now);
        if builds.len() == LIST_LIMIT as usize {
            h.raw("<p class=\"muted\">The newest ")
                .text(LIST_LIMIT)
                .raw(" are shown; filter by project to see more.</p>");
        }
    }
    Ok(layout(StatusCode::OK, "Builds", Some(session), flash, &h))
}

fn builds_table(h: &mut Html, builds: &[Build], now: u64) {
    h.raw("<div class=\"scroll\"><table class=\"list\" id=\"builds\"><thead><tr><th>Build</th><th>Status</th>")
        .raw("<th>Initiator</th><th>Source version</th><th>Queued</th><th class=\"num\">Duration</th>")
        .raw("<th>Host</th></tr></thead><tbody>");
    for b in builds {
        h.raw("<tr data-build=\"").text(&b.id).raw("\"><td>");
        build_link(h, b);
        h.raw("</td><td>");
        badge(h, status_name(b.status));
        h.raw("</td><td>").text(b.initiator.name()).raw("</td><td>");
        match (&b.source_version, &b.resolved_source_version) {
            (requested, Some(commit)) => {
                if let Some(v) = requested {
                    h.raw("<code>").text(v).raw("</code> ");
                }
                h.raw("<code class=\"commit\">").text(short(commit)).raw("</code>");
            }
            (Some(v), None) => {
                h.raw("<code>").text(v).raw("</code>");
            }
            (None, None) => {
                h.raw("<span class=\"muted\">the project's</span>");
            }
        }
        h.raw("</td><td>").text(utc(b.queued_time)).raw("</td><td class=\"num\">");
        build_duration(h, b, now);
        h.raw("</td><td>").text(b.host.as_deref().unwrap_or("–")).raw("</td></tr>");
    }
    h.raw("</tbody></table></div>");
}

/// A commit's first 12 characters.
fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

// ---------------------------------------------------------------------------
// A project

/// GET `/console/build-projects/{name}`: its settings, Start build, its builds.
pub(crate) async fn project(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    respond(&session, project_page(&state, &session, &name, &flash).await)
}

async fn project_page(state: &AppState, session: &Session, name: &str, flash: &Flash) -> Result<Response, Problem> {
    let p = ops::get_project(state, name).await.map_err(problem)?;
    let builds = ops::list(state, Some(name), PROJECT_BUILDS).await.map_err(problem)?;
    let mut h = Html::new();
    h.raw("<p class=\"crumbs\"><a href=\"/console/builds\">Builds</a> /</p><h1>Build project ");
    h.text(&p.name).raw("</h1>");
    h.raw("<table class=\"facts card\" id=\"project-facts\">");
    if !p.description.is_empty() {
        h.raw("<tr><th>Description</th><td>").text(&p.description).raw("</td></tr>");
    }
    h.raw("<tr><th>Source</th><td>");
    source(&mut h, &p.source);
    h.raw("</td></tr><tr><th>Buildspec</th><td>");
    buildspec(&mut h, p.buildspec.as_deref());
    h.raw("</td></tr><tr><th>Image</th><td>");
    image(&mut h, &p);
    if p.image.is_none() {
        h.raw(" <span class=\"muted\">(no image: a fresh workspace on the build host)</span>");
    }
    h.raw("</td></tr>");
    variables(&mut h, &p);
    h.raw("<tr><th>Timeouts</th><td>build ").text(p.timeout_minutes).raw(" min, queued ");
    h.text(p.queued_timeout_minutes).raw(" min</td></tr><tr><th>Concurrent builds</th><td>");
    match p.concurrent_build_limit {
        Some(n) => h.text(n),
        None => h.raw("no limit"),
    };
    h.raw("</td></tr><tr><th>Cache</th><td>").raw(if p.cache { "kept between builds" } else { "off" });
    h.raw("</td></tr><tr><th>Badge</th><td>");
    if p.badge {
        h.raw("<code>/badges/builds/").text(&p.name).raw(".svg</code>");
    } else {
        h.raw("off");
    }
    h.raw("</td></tr><tr><th>Created</th><td>").text(utc(p.create_time)).raw("</td></tr></table>");
    start_form(&mut h, &p, session);
    h.raw("<h2>Builds</h2>");
    if builds.is_empty() {
        h.raw("<p class=\"empty\" id=\"no-builds\">Never built.</p>");
    } else {
        builds_table(&mut h, &builds, now_millis());
    }
    Ok(layout(StatusCode::OK, &format!("Build project {}", p.name), Some(session), flash, &h))
}

fn buildspec(h: &mut Html, spec: Option<&str>) {
    match spec {
        None => {
            h.raw("<code>buildspec.yml</code> in the source");
        }
        Some(text) if ferry_core::build::is_inline_buildspec(text) => {
            h.raw("<details><summary>inline</summary><pre class=\"tail\">").text(text).raw("</pre></details>");
        }
        Some(path) => {
            h.raw("<code>").text(path).raw("</code> in the source");
        }
    }
}

/// The environment variables of a project or a build's settings (a secret's
/// value is the name of the ferry secret, not the secret).
fn variables(h: &mut Html, p: &BuildProject) {
    h.raw("<tr><th>Variables</th><td>");
    if p.variables.is_empty() {
        h.raw("<span class=\"muted\">none</span>");
    }
    for (i, v) in p.variables.iter().enumerate() {
        if i > 0 {
            h.raw("<br>");
        }
        h.raw("<code>").text(&v.name).raw("</code> = ");
        match v.kind {
            VariableKind::Plaintext => h.raw("<code>").text(&v.value).raw("</code>"),
            VariableKind::Secret => h.raw("secret <code>").text(&v.value).raw("</code>"),
        };
    }
    h.raw("</td></tr>");
}

fn start_form(h: &mut Html, p: &BuildProject, session: &Session) {
    h.raw("<section class=\"card\" id=\"start\"><h3>Start a build</h3>");
    if !session.can_change_builds() {
        h.raw("<p class=\"muted\" id=\"read-only\">Your access key may not start builds: that takes an admin key ")
            .raw("or a deployer key not limited to applications.</p></section>");
        return;
    }
    if p.source == BuildSource::Upload {
        h.raw("<p id=\"start-upload\">This project builds a source uploaded with each build, which the console ")
            .raw("cannot send: start it with <code>ferry build start ")
            .text(&p.name)
            .raw(" --source DIR</code>.</p></section>");
        return;
    }
    h.raw("<form class=\"filters\" method=\"post\" action=\"").text(project_path(&p.name)).raw("/start\">");
    h.raw("<input type=\"hidden\" name=\"csrf\" value=\"").text(session.csrf()).raw("\">");
    match &p.source {
        BuildSource::Git { version, .. } => {
            h.raw("<label>Source version (branch, tag, commit or pr/N) <input name=\"source_version\" ")
                .raw("id=\"source-version\" spellcheck=\"false\" placeholder=\"")
                .text(version.as_deref().unwrap_or("the default branch"))
                .raw("\"></label>");
        }
        BuildSource::S3 { .. } => {
            h.raw("<label>S3 object version <input name=\"source_version\" id=\"source-version\" ")
                .raw("spellcheck=\"false\" placeholder=\"the newest\"></label>");
        }
        BuildSource::NoSource | BuildSource::Upload => {}
    }
    h.raw("<button class=\"btn primary\" type=\"submit\" id=\"action-start\">Start build</button></form></section>");
}

// ---------------------------------------------------------------------------
// A build

fn is_final(b: &Build) -> bool {
    b.status.is_terminal()
}

/// GET `/console/builds/{id}`.
pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    respond(&session, build_page(&state, &session, &id, &flash).await)
}

async fn build_page(state: &AppState, session: &Session, id: &str, flash: &Flash) -> Result<Response, Problem> {
    let b = ops::get(state, id).await.map_err(problem)?;
    let reports = ops::reports(state, id).await.map_err(problem)?;
    let end = state.store.build_log_end(id).await?;
    let from = end.saturating_sub(LOG_TAIL);
    let lines = state.store.build_log(id, from, LOG_TAIL as u32).await?;
    let next = lines.last().map_or(from, |(n, _)| n + 1);

    let mut h = Html::new();
    h.raw("<p class=\"crumbs\"><a href=\"/console/builds\">Builds</a> / <a href=\"").text(project_path(&b.project));
    h.raw("\">").text(&b.project).raw("</a> /</p><h1>Build ").text(&b.project).raw(" #").text(b.number);
    h.raw("</h1><table class=\"facts card\" id=\"facts\"><tr><th>Build id</th><td><code>").text(&b.id);
    h.raw("</code></td></tr><tr><th>Project</th><td><a href=\"").text(project_path(&b.project)).raw("\">");
    h.text(&b.project).raw("</a></td></tr><tr><th>Initiator</th><td>").text(b.initiator.name());
    h.raw("</td></tr><tr><th>Source</th><td>");
    source(&mut h, &b.settings.source);
    if let Some(bundle) = &b.source_bundle {
        h.raw(" <span class=\"muted\">(").text(&bundle.bundle_type).raw(", sha256 <code>").text(short(&bundle.sha256));
        h.raw("</code>, ").text(bundle.size).raw(" bytes)</span>");
    }
    h.raw("</td></tr><tr><th>Source version</th><td>");
    match &b.source_version {
        Some(v) => h.raw("<code>").text(v).raw("</code>"),
        None => h.raw("<span class=\"muted\">the project's</span>"),
    };
    h.raw("</td></tr><tr><th>Buildspec</th><td>");
    buildspec(&mut h, b.settings.buildspec.as_deref());
    h.raw("</td></tr><tr><th>Image</th><td>");
    image(&mut h, &b.settings);
    h.raw("</td></tr>");
    variables(&mut h, &b.settings);
    h.raw("<tr><th>Timeouts</th><td>build ").text(b.settings.timeout_minutes).raw(" min, queued ");
    h.text(b.settings.queued_timeout_minutes).raw(" min</td></tr><tr><th>Queued</th><td>").text(utc(b.queued_time));
    h.raw("</td></tr></table>");

    h.raw("<div id=\"live\" aria-live=\"polite\"");
    if !is_final(&b) {
        h.raw(" data-src=\"").text(build_path(&b.id)).raw("/live?from=").text(next).raw("\"");
    }
    h.raw(">").html(&fragment(&b, &reports, session, now_millis())).raw("</div>");

    h.raw("<section class=\"card log\" id=\"log\"><h3>Log</h3><p class=\"muted\" id=\"log-note\">");
    if from > 0 {
        h.raw("The newest ").text(LOG_TAIL).raw(" lines are shown (").text(from).raw(" earlier lines are not): ");
    }
    h.raw("<a href=\"").text(build_path(&b.id)).raw("/log?from=0\" id=\"log-pages\">the whole log, page by page</a>");
    h.raw(" · <a href=\"").text(build_path(&b.id)).raw("/log.txt\" id=\"log-text\">as plain text</a></p>");
    if lines.is_empty() {
        h.raw("<p class=\"empty\" id=\"log-empty\">No log lines yet.</p>");
    }
    h.raw("<div class=\"log-lines\" id=\"log-lines\">").html(&log_lines(&lines)).raw("</div></section>");
    Ok(layout(StatusCode::OK, &format!("Build {} #{}", b.project, b.number), Some(session), flash, &h))
}

/// Log lines as HTML: one element a line, its number (1-based, as shown)
/// in an attribute the style sheet displays, the text escaped.
fn log_lines(lines: &[(u64, String)]) -> Html {
    let mut h = Html::new();
    for (n, text) in lines {
        h.raw("<div class=\"line\" data-n=\"").text(n + 1).raw("\">").text(terminal_line(text)).raw("</div>");
    }
    h
}

/// What a terminal shows of a line: the text after its last carriage
/// return (progress bars redraw a line with `\r`).
fn terminal_line(text: &str) -> &str {
    let text = text.strip_suffix('\r').unwrap_or(text);
    text.rsplit('\r').next().unwrap_or(text)
}

/// The part of a build's page that changes while it runs.
fn fragment(b: &Build, reports: &[BuildReport], session: &Session, now: u64) -> Html {
    let mut h = Html::new();
    let status = status_name(b.status);
    h.raw("<div class=\"frag\" data-now=\"").text(now).raw("\" data-build-status=\"").text(status);
    h.raw("\"><section class=\"card summary\"><div class=\"status-line\">");
    badge(&mut h, status);
    h.raw("<span class=\"livebadge\">live</span><span class=\"when\">");
    match (b.start_time, b.end_time) {
        (_, Some(end)) => {
            h.raw("finished ").text(utc(end)).raw(", took ");
            build_duration(&mut h, b, now);
        }
        (Some(start), None) => {
            h.raw("started ").text(utc(start)).raw(", running for ");
            build_duration(&mut h, b, now);
        }
        (None, None) => {
            h.raw("waiting for a build host");
            if !is_final(b) {
                h.raw(" for <span data-since=\"").text(b.queued_time).raw("\">");
                h.text(duration(now.saturating_sub(b.queued_time))).raw("</span>");
            }
        }
    }
    h.raw("</span></div>");
    if b.stop_requested && !is_final(b) {
        h.raw("<p class=\"muted\" id=\"stop-requested\">Stop requested: the build host stops it.</p>");
    }
    h.raw("<table class=\"facts\" id=\"where\"><tr><th>Host</th><td>").text(b.host.as_deref().unwrap_or("–"));
    h.raw("</td></tr><tr><th>Environment</th><td>");
    match &b.environment {
        Some(e) => h.text(e),
        None => h.raw("<span class=\"muted\">not started</span>"),
    };
    h.raw("</td></tr><tr><th>Resolved commit</th><td>");
    match &b.resolved_source_version {
        Some(c) => h.raw("<code id=\"resolved\">").text(c).raw("</code>"),
        None => h.raw("<span class=\"muted\">–</span>"),
    };
    h.raw("</td></tr></table>");
    actions(&mut h, b, session);
    h.raw("</section>");
    phases(&mut h, b, now);
    exported(&mut h, b);
    artifacts(&mut h, b);
    for r in reports {
        report(&mut h, r);
    }
    h.raw("</div>");
    h
}

/// Stop (queued or running) or Retry (finished), for sessions that may change builds.
fn actions(h: &mut Html, b: &Build, session: &Session) {
    if !session.can_act() {
        h.raw("<p class=\"muted\" id=\"read-only\">Your access key is read-only: you can look, not act.</p>");
        return;
    }
    if !session.can_change_builds() {
        h.raw("<p class=\"muted\" id=\"out-of-scope\">Your access key is limited to applications: builds belong ")
            .raw("to none, so it may not stop or retry them.</p>");
        return;
    }
    let (action, label, id, class, confirm) = if is_final(b) {
        (
            "retry",
            "Retry",
            "action-retry",
            "btn",
            format!("Start {} again with the settings of #{}?", b.project, b.number),
        )
    } else {
        ("stop", "Stop", "action-stop", "btn danger", format!("Stop build {} #{}?", b.project, b.number))
    };
    h.raw("<div class=\"actions\" id=\"actions\"><form method=\"post\" action=\"").text(build_path(&b.id));
    h.raw("/")
        .raw(action)
        .raw("\" data-confirm=\"")
        .text(confirm)
        .raw("\"><input type=\"hidden\" name=\"csrf\" value=\"");
    h.text(session.csrf()).raw("\"><button type=\"submit\" class=\"").raw(class).raw("\" id=\"").raw(id).raw("\">");
    h.raw(label).raw("</button></form></div>");
}

fn phases(h: &mut Html, b: &Build, now: u64) {
    h.raw("<section class=\"card\" id=\"phases\"><h3>Phases</h3><table class=\"list phases\"><thead><tr>")
        .raw("<th>Phase</th><th>Status</th><th>Started</th><th class=\"num\">Duration</th><th>Message</th>")
        .raw("</tr></thead><tbody>");
    for p in &b.phases {
        // A phase without an end runs, unless the build is over (COMPLETED has neither).
        let running = p.end_time.is_none() && !is_final(b);
        let status = p.status.as_deref().unwrap_or(if running { "IN_PROGRESS" } else { "" });
        h.raw("<tr data-phase=\"").text(&p.name).raw("\" data-status=\"").text(status).raw("\"><td>").text(&p.name);
        h.raw("</td><td>");
        if !status.is_empty() {
            badge(h, status);
        }
        h.raw("</td><td>").text(utc(p.start_time)).raw("</td><td class=\"num\">");
        match p.end_time {
            Some(end) => {
                h.text(duration(end.saturating_sub(p.start_time)));
            }
            None if running => {
                h.raw("<span data-since=\"").text(p.start_time).raw("\">");
                h.text(duration(now.saturating_sub(p.start_time))).raw("</span>");
            }
            None => {}
        }
        h.raw("</td><td class=\"msg");
        if matches!(status, "FAILED" | "FAULT" | "TIMED_OUT") {
            h.raw(" error-text");
        }
        h.raw("\">").text(p.message.as_deref().unwrap_or("")).raw("</td></tr>");
    }
    h.raw("</tbody></table></section>");
}

fn exported(h: &mut Html, b: &Build) {
    if b.exported_variables.is_empty() {
        return;
    }
    h.raw("<section class=\"card\" id=\"exported\"><h3>Exported variables</h3><table class=\"list\"><thead><tr>")
        .raw("<th>Name</th><th>Value</th></tr></thead><tbody>");
    for (name, value) in &b.exported_variables {
        h.raw("<tr><td><code>").text(name).raw("</code></td><td><code>").text(value).raw("</code></td></tr>");
    }
    h.raw("</tbody></table></section>");
}

fn artifacts(h: &mut Html, b: &Build) {
    if b.artifacts.is_empty() {
        return;
    }
    h.raw("<section class=\"card\" id=\"artifacts\"><h3>Artifacts</h3><table class=\"list\"><thead><tr>")
        .raw("<th>Artifact</th><th class=\"num\">Size</th><th>SHA-256</th></tr></thead><tbody>");
    for a in &b.artifacts {
        let name = artifact_name(a.identifier.as_deref());
        h.raw("<tr data-artifact=\"").text(name).raw("\"><td><a href=\"").text(build_path(&b.id));
        h.raw("/artifacts/").text(enc(name)).raw("\" download>").text(name).raw(".zip</a></td><td class=\"num\">");
        h.text(size(a.size)).raw("</td><td><code>").text(&a.sha256).raw("</code></td></tr>");
    }
    h.raw("</tbody></table></section>");
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b if b < 1024 * 1024 * 1024 => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        b => format!("{:.1} GiB", b as f64 / (1024.0 * 1024.0 * 1024.0)),
    }
}

/// Where a case's status puts it: failures first.
fn case_rank(status: &str) -> u8 {
    match status {
        "FAILED" | "ERROR" => 0,
        "UNKNOWN" => 1,
        "SKIPPED" => 2,
        _ => 3,
    }
}

fn report(h: &mut Html, r: &BuildReport) {
    h.raw("<section class=\"card report\" data-report=\"").text(&r.name).raw("\"><h3>Test report ").text(&r.name);
    h.raw(" <small class=\"muted\">").text(&r.format).raw("</small></h3><p class=\"overview\">");
    if r.total == 0 {
        h.raw("<span class=\"pass-rate\">no test cases</span>");
    } else {
        let rate = r.succeeded as f64 * 100.0 / r.total as f64;
        h.raw("<span class=\"pass-rate\"><b>").text(format!("{rate:.1} %")).raw("</b> passed (");
        h.text(r.succeeded).raw(" of ").text(r.total).raw(")</span>");
    }
    for (n, what, class) in [
        (r.failed, "failed", "failed"),
        (r.error, "errors", "failed"),
        (r.skipped, "skipped", "skipped"),
        (r.unknown, "unknown", "unknown"),
    ] {
        if n > 0 {
            h.raw("<span class=\"count st-").raw(class).raw("\"><b>").text(n).raw("</b> ").raw(what).raw("</span>");
        }
    }
    h.raw("<span class=\"muted\">in ").text(duration(r.duration_ms)).raw("</span></p>");
    for e in &r.errors {
        h.raw("<p class=\"error-box\">").text(e).raw("</p>");
    }
    if !r.cases.is_empty() {
        let mut cases: Vec<_> = r.cases.iter().collect();
        cases.sort_by_key(|c| case_rank(&c.status));
        h.raw("<div class=\"scroll\"><table class=\"list cases\"><thead><tr><th>Status</th><th>Suite</th>")
            .raw("<th>Test</th><th class=\"num\">Duration</th><th>Message</th></tr></thead><tbody>");
        for c in cases.iter().take(CASES_SHOWN) {
            h.raw("<tr data-case-status=\"").text(&c.status).raw("\"><td>");
            badge(h, &c.status);
            h.raw("</td><td>").text(&c.suite).raw("</td><td>");
            if !c.prefix.is_empty() {
                h.raw("<span class=\"muted\">").text(&c.prefix).raw(".</span>");
            }
            h.text(&c.name).raw("</td><td class=\"num\">");
            if let Some(ms) = c.duration_ms {
                h.text(duration(ms));
            }
            h.raw("</td><td class=\"msg\">");
            if let Some(m) = c.message.as_deref().filter(|m| !m.trim().is_empty()) {
                h.raw("<pre class=\"case-message\">").text(m.trim_end()).raw("</pre>");
            }
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table></div>");
        if cases.len() > CASES_SHOWN {
            h.raw("<p class=\"muted\">").text(cases.len() - CASES_SHOWN).raw(" more cases (passing or skipped) ");
            h.raw("are not shown: <code>ferry build report</code> lists them all.</p>");
        }
    }
    h.raw("</section>");
}

// ---------------------------------------------------------------------------
// The log, whole

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct LogQuery {
    #[serde(default)]
    from: u64,
}

/// GET `/console/builds/{id}/log?from=N`: [`LOG_PAGE`] lines from line N on.
pub(crate) async fn log_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Response {
    let result = async {
        let b = ops::get(&state, &id).await.map_err(problem)?;
        let end = state.store.build_log_end(&id).await?;
        let lines = ops::log(&state, &id, query.from, LOG_PAGE).await.map_err(problem)?;
        let mut h = Html::new();
        h.raw("<p class=\"crumbs\"><a href=\"/console/builds\">Builds</a> / <a href=\"").text(build_path(&b.id));
        h.raw("\">").text(&b.project).raw(" #").text(b.number).raw("</a> /</p><h1>Log of build ").text(&b.project);
        h.raw(" #").text(b.number).raw("</h1><p class=\"muted\" id=\"log-range\">");
        match (lines.first(), lines.last()) {
            (Some((first, _)), Some((last, _))) => {
                h.raw("Lines ").text(first + 1).raw("–").text(last + 1).raw(" of ").text(end).raw(".");
            }
            _ => {
                h.raw("No lines from line ").text(query.from + 1).raw(" on (the log has ").text(end).raw(").");
            }
        }
        h.raw("</p><p class=\"pager\">");
        if query.from > 0 {
            let earlier = query.from.saturating_sub(u64::from(LOG_PAGE));
            h.raw("<a href=\"").text(build_path(&b.id)).raw("/log?from=").text(earlier).raw("\" id=\"log-earlier\">");
            h.raw("← earlier</a> ");
        }
        if query.from + u64::from(LOG_PAGE) < end {
            let later = query.from + u64::from(LOG_PAGE);
            h.raw("<a href=\"").text(build_path(&b.id)).raw("/log?from=").text(later).raw("\" id=\"log-later\">");
            h.raw("later →</a> ");
        }
        h.raw("<a href=\"").text(build_path(&b.id)).raw("/log.txt\">plain text</a></p>");
        h.raw("<section class=\"card log\"><div class=\"log-lines\" id=\"log-lines\">").html(&log_lines(&lines));
        h.raw("</div></section>");
        Ok(layout(
            StatusCode::OK,
            &format!("Log of {} #{}", b.project, b.number),
            Some(&session),
            &Flash::default(),
            &h,
        ))
    }
    .await;
    respond(&session, result)
}

/// GET `/console/builds/{id}/log.txt`: the whole log as plain text, read
/// from the store a chunk at a time while it is sent.
pub(crate) async fn log_text(State(state): State<AppState>, session: Session, Path(id): Path<String>) -> Response {
    if let Err(e) = ops::get(&state, &id).await {
        return problem(e).render(Some(&session));
    }
    let chunks = futures_util::stream::unfold(Some(0u64), move |from| {
        let state = state.clone();
        let id = id.clone();
        async move {
            let from = from?;
            match state.store.build_log(&id, from, LOG_CHUNK).await {
                Ok(lines) if lines.is_empty() => None,
                Ok(lines) => {
                    let next = lines.last().map(|(n, _)| n + 1);
                    let next = if lines.len() < LOG_CHUNK as usize { None } else { next };
                    let mut text = String::new();
                    for (_, line) in &lines {
                        text.push_str(line);
                        text.push('\n');
                    }
                    Some((Ok::<_, std::io::Error>(text), next))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    response
}

/// GET `/console/builds/{id}/artifacts/{name}`: the artifact's zip, from
/// the blob store, for a signed-in session (what
/// `GET /api/v1/builds/{id}/artifacts/{name}` serves to a signed request).
pub(crate) async fn artifact(
    State(state): State<AppState>,
    session: Session,
    Path((id, name)): Path<(String, String)>,
) -> Response {
    let result = async {
        let b = ops::get(&state, &id).await.map_err(problem)?;
        let Some(found) = b.artifacts.iter().find(|a| artifact_name(a.identifier.as_deref()) == name) else {
            return Err(Problem::not_found(format!("Build {id} has no artifact {name}.")));
        };
        let (file, size) = state.blobs.open_blob(&found.blob_key).await.map_err(|e| match e {
            ferry_blob::BlobError::NotFound(_) => Problem::not_found(format!(
                "Artifact {name} of build {id} (sha256 {}) is missing from the blob store.",
                found.sha256
            )),
            e => Problem::internal(e),
        })?;
        let file_name: String = format!("{}-{}-{name}.zip", b.project, b.number)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
            .collect();
        let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
        let mut response = body.into_response();
        let headers = response.headers_mut();
        let value = |s: String| HeaderValue::from_str(&s).map_err(Problem::internal);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
        headers.insert(header::CONTENT_LENGTH, value(size.to_string())?);
        headers.insert(header::CONTENT_DISPOSITION, value(format!("attachment; filename=\"{file_name}\""))?);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert("x-ferry-sha256", value(found.sha256.clone())?);
        Ok(response)
    }
    .await;
    respond(&session, result)
}

// ---------------------------------------------------------------------------
// Live

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct LiveQuery {
    #[serde(default)]
    from: u64,
}

/// GET `/console/builds/{id}/live?from=N`: server-sent events (see the
/// module doc). A reconnecting `EventSource` sends the last `lines` event's
/// id as `Last-Event-ID`, which wins over `from`.
pub(crate) async fn live(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<LiveQuery>,
) -> Response {
    if let Err(e) = ops::get(&state, &id).await {
        return problem(e).render(Some(&session));
    }
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let events = state.driver.events.subscribe();
    let live = Live {
        state,
        session,
        id,
        next_line: resume.unwrap_or(query.from),
        last: None,
        events,
        wait: false,
        pending: VecDeque::new(),
        ended: false,
    };
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
    /// The number of the next log line to send.
    next_line: u64,
    /// The build as last sent (JSON), to send the fragment only on changes.
    last: Option<String>,
    /// Wakes the stream when the event log grows (a build's status changed).
    events: tokio::sync::watch::Receiver<u64>,
    /// Whether to wait before reading again (not after a full chunk of lines).
    wait: bool,
    pending: VecDeque<Event>,
    ended: bool,
}

impl Live {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            if self.wait {
                tokio::select! {
                    _ = self.events.changed() => {}
                    _ = tokio::time::sleep(LIVE_POLL) => {}
                    _ = self.state.driver.wait_shutdown() => {}
                }
            }
            self.wait = true;
            self.events.borrow_and_update();
            self.read().await;
        }
    }

    fn end(&mut self, why: &str) {
        self.pending.push_back(Event::default().event("done").data(why));
        self.ended = true;
    }

    /// Reads the build, then its new lines (in this order: a finished build
    /// with no new line has sent its whole log), and queues what changed.
    async fn read(&mut self) {
        if self.state.driver.is_shutting_down() {
            return self.end("stopping");
        }
        if !self.session.still_valid(&self.state).await {
            return self.end("signed-out");
        }
        let b = match ops::get(&self.state, &self.id).await {
            Ok(b) => b,
            Err(OpError::BuildNotFound(_)) => return self.end("gone"),
            // Try again at the next tick.
            Err(_) => return,
        };
        let Ok(lines) = self.state.store.build_log(&self.id, self.next_line, LIVE_LINES).await else { return };
        let complete = lines.len() < LIVE_LINES as usize;
        if let Some((last, _)) = lines.last() {
            self.next_line = last + 1;
            let html = log_lines(&lines).into_string();
            self.pending.push_back(Event::default().event("lines").id(self.next_line.to_string()).data(html));
        }
        if !complete {
            self.wait = false;
        }
        let seen = serde_json::to_string(&b).unwrap_or_default();
        if self.last.as_deref() != Some(seen.as_str()) {
            // Reports are written before the build is marked finished.
            let Ok(reports) = ops::reports(&self.state, &self.id).await else { return };
            self.last = Some(seen);
            let html = fragment(&b, &reports, &self.session, now_millis()).into_string();
            self.pending.push_back(Event::default().event("fragment").data(html));
        }
        if is_final(&b) && complete {
            self.end(status_name(b.status));
        }
    }
}

// ---------------------------------------------------------------------------
// Actions

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    source_version: String,
}

/// Back to a console page (`path`, already encoded) with a message.
pub(crate) fn back(path: &str, outcome: Result<String, String>) -> Response {
    let (kind, message) = match outcome {
        Ok(m) => ("ok", m),
        Err(m) => ("error", m),
    };
    Redirect::to(&format!("{path}?{kind}={}", enc(&message))).into_response()
}

/// An operation's refusal: back to `path` with the message, or the
/// console's error page when there is no such thing or the server failed.
fn op_problem(path: &str, e: OpError) -> Result<Response, Problem> {
    match e {
        OpError::ProjectNotFound(_) | OpError::BuildNotFound(_) | OpError::Store(_) => Err(problem(e)),
        OpError::Internal(_) => Err(Problem::internal(e)),
        e => Ok(back(path, Err(e.to_string()))),
    }
}

/// POST `/console/build-projects/{name}/start` (`source_version`, optional).
pub(crate) async fn start(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let result = async {
        crate::audit::note_target(&name);
        session.authorize_action(&headers, &form.csrf, Subject::Global)?;
        let request = ops::StartBuild {
            source_version: Some(form.source_version.trim().to_string()).filter(|v| !v.is_empty()),
            ..ops::StartBuild::by(Initiator::Key(session.key_id.clone()))
        };
        match ops::start(&state, &name, request, |_| {}).await {
            Ok(b) => {
                tracing::info!(build = %b.id, key_id = %session.key_id, "console: start build");
                Ok(back(&build_path(&b.id), Ok(format!("Build {} #{} is queued.", b.project, b.number))))
            }
            Err(e) => op_problem(&project_path(&name), e),
        }
    }
    .await;
    respond(&session, result)
}

/// POST `/console/builds/{id}/stop`.
pub(crate) async fn stop(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let result = async {
        crate::audit::note_target(&id);
        session.authorize_action(&headers, &form.csrf, Subject::Global)?;
        match ops::stop(&state, &id).await {
            Ok(b) => {
                tracing::info!(build = %id, key_id = %session.key_id, "console: stop build");
                let message = match b.status {
                    BuildStatus::InProgress => "Stopping: the build host stops the build.".to_string(),
                    BuildStatus::Stopped => "The build is stopped.".to_string(),
                    other => format!("The build had already finished ({}).", status_name(other)),
                };
                Ok(back(&build_path(&id), Ok(message)))
            }
            Err(e) => op_problem(&build_path(&id), e),
        }
    }
    .await;
    respond(&session, result)
}

/// POST `/console/builds/{id}/retry`: a new build with the settings and
/// source this one ran with.
pub(crate) async fn retry(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let result = async {
        crate::audit::note_target(&id);
        session.authorize_action(&headers, &form.csrf, Subject::Global)?;
        match ops::retry(&state, &id, Initiator::Key(session.key_id.clone())).await {
            Ok(b) => {
                tracing::info!(build = %b.id, retry_of = %id, key_id = %session.key_id, "console: retry build");
                let old = ops::get(&state, &id).await.map(|o| o.number).unwrap_or_default();
                let message = format!("Build {} #{} is queued (a retry of #{old}).", b.project, b.number);
                Ok(back(&build_path(&b.id), Ok(message)))
            }
            Err(e) => op_problem(&build_path(&id), e),
        }
    }
    .await;
    respond(&session, result)
}

#[cfg(test)]
mod tests {
    use ferry_core::build::{BuildArtifact, BuildPhase, TestCaseRecord};
    use ferry_core::resources::Role;

    use super::*;

    fn project() -> BuildProject {
        BuildProject {
            id: "p".into(),
            name: "shop-build".into(),
            description: String::new(),
            source: BuildSource::Git { url: "https://git.example/shop.git".into(), version: Some("main".into()) },
            buildspec: None,
            image: None,
            variables: Vec::new(),
            timeout_minutes: 60,
            queued_timeout_minutes: 480,
            concurrent_build_limit: None,
            cache: false,
            badge: false,
            webhook: None,
            tags: Vec::new(),
            create_time: 0,
            last_modified: 0,
            poll_seconds: None,
            notify: Vec::new(),
        }
    }

    fn failed_build() -> Build {
        let mut b = ferry_core::build::queue_build(&project(), 3, "u1", Initiator::Key("FKIA".into()), None, 1_000);
        ferry_core::build::assign(&mut b, "host1", 2_000);
        b.phases.push(BuildPhase {
            name: "BUILD".into(),
            status: Some("FAILED".into()),
            start_time: 2_000,
            end_time: Some(4_500),
            message: Some("Error while executing command: make <all>. Reason: exit status 2".into()),
        });
        b.artifacts.push(BuildArtifact {
            identifier: Some("docs".into()),
            blob_key: "sha256/00".into(),
            sha256: "00".repeat(32),
            size: 2048,
        });
        b.exported_variables.push(("VERSION".into(), "1.2.<3>".into()));
        ferry_core::build::complete(&mut b, BuildStatus::Failed, 5_000);
        b
    }

    fn report() -> BuildReport {
        let case = |name: &str, status: &str, message: Option<&str>| TestCaseRecord {
            suite: "unit".into(),
            prefix: "shop".into(),
            name: name.into(),
            status: status.into(),
            duration_ms: Some(12),
            message: message.map(Into::into),
        };
        BuildReport {
            name: "unit".into(),
            format: "JUNITXML".into(),
            total: 4,
            succeeded: 3,
            failed: 1,
            error: 0,
            skipped: 0,
            unknown: 0,
            duration_ms: 48,
            cases: vec![
                case("passes_a", "SUCCEEDED", None),
                case("passes_b", "SUCCEEDED", None),
                case("breaks", "FAILED", Some("expected <1> got 2")),
                case("passes_c", "SUCCEEDED", None),
            ],
            errors: Vec::new(),
        }
    }

    #[test]
    fn a_failed_build_shows_its_failed_phase_outputs_and_failing_cases_first() {
        let html = fragment(&failed_build(), &[report()], &Session::for_test(Role::Admin), 9_000).into_string();
        for expected in [
            "data-build-status=\"FAILED\"",
            "<tr data-phase=\"BUILD\" data-status=\"FAILED\">",
            "make &lt;all&gt;. Reason: exit status 2",
            "<td class=\"num\">2.5 s</td>",
            "data-artifact=\"docs\"",
            "/console/builds/shop-build%3Au1/artifacts/docs\" download>docs.zip</a>",
            "2.0 KiB",
            "<code>1.2.&lt;3&gt;</code>",
            "<b>75.0 %</b> passed (3 of 4)",
            "expected &lt;1&gt; got 2",
            "id=\"action-retry\"",
        ] {
            assert!(html.contains(expected), "missing {expected:?} in\n{html}");
        }
        assert!(!html.contains("action-stop"), "{html}");
        let failing = html.find("data-case-status=\"FAILED\"").unwrap();
        let passing = html.find("data-case-status=\"SUCCEEDED\"").unwrap();
        assert!(failing < passing, "failing cases first");
        // The closing COMPLETED phase of a finished build is not running.
        assert!(html.contains("<tr data-phase=\"COMPLETED\" data-status=\"\">"), "{html}");
    }

    #[test]
    fn running_builds_offer_stop_and_read_only_sessions_nothing() {
        let mut b = ferry_core::build::queue_build(&project(), 1, "u2", Initiator::Webhook, None, 1_000);
        let html = fragment(&b, &[], &Session::for_test(Role::Deployer), 3_000).into_string();
        assert!(html.contains("data-build-status=\"QUEUED\"") && html.contains("id=\"action-stop\""), "{html}");
        assert!(html.contains("<tr data-phase=\"QUEUED\" data-status=\"IN_PROGRESS\">"), "{html}");
        assert!(html.contains("waiting for a build host for <span data-since=\"1000\">2.0 s</span>"), "{html}");
        ferry_core::build::assign(&mut b, "host1", 2_000);
        let html = fragment(&b, &[], &Session::for_test(Role::ReadOnly), 3_000).into_string();
        assert!(html.contains("id=\"read-only\"") && !html.contains("<form"), "{html}");
        assert!(!html.contains("csrf"), "{html}");
    }

    #[test]
    fn log_lines_are_escaped_numbered_and_shown_as_a_terminal_would() {
        let lines = [(0, "<script>alert(1)</script>".to_string()), (1, "10%\r55%\r100%\r".to_string())];
        let html = log_lines(&lines).into_string();
        assert_eq!(
            html,
            "<div class=\"line\" data-n=\"1\">&lt;script&gt;alert(1)&lt;/script&gt;</div>\
             <div class=\"line\" data-n=\"2\">100%</div>"
        );
    }
}
