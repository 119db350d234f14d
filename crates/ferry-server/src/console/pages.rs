//! The deployments list (`/console`) and the applications
//! (`/console/applications`, `/console/applications/{app}`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ferry_core::deployment::{DeploymentStatus, ReadyAction};
use ferry_core::resources::{Balancer, DeploymentGroup, TagFilter, TagFilterType, TargetGroup};
use ferry_store::{DeploymentFilter, StoreError};

use super::auth::Session;
use super::{Flash, Html, Problem, badge, duration, enc, page, respond, utc};
use crate::AppState;
use crate::clock::now_millis;

/// At most this many deployments are listed.
const LIST_LIMIT: u32 = 200;

const STATUSES: [DeploymentStatus; 8] = [
    DeploymentStatus::Created,
    DeploymentStatus::Queued,
    DeploymentStatus::InProgress,
    DeploymentStatus::Baking,
    DeploymentStatus::Ready,
    DeploymentStatus::Succeeded,
    DeploymentStatus::Failed,
    DeploymentStatus::Stopped,
];

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    application: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    status: String,
}

/// GET `/console`: deployments, newest first, filtered by the query string.
pub(crate) async fn deployments(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ListQuery>,
    Query(flash): Query<Flash>,
) -> Response {
    respond(&session, deployments_page(&state, &session, &query, &flash).await)
}

async fn deployments_page(
    state: &AppState,
    session: &Session,
    query: &ListQuery,
    flash: &Flash,
) -> Result<Response, Problem> {
    let non_empty = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let status = match non_empty(&query.status) {
        Some(name) => Some(
            DeploymentStatus::from_name(&name)
                .ok_or_else(|| Problem::bad_request(format!("There is no deployment status {name:?}.")))?,
        ),
        None => None,
    };
    let filter = DeploymentFilter {
        application: non_empty(&query.application),
        group: non_empty(&query.group),
        statuses: status.into_iter().collect(),
        limit: Some(LIST_LIMIT),
        ..Default::default()
    };
    let mut list = state.store.list_deployments(filter).await?;
    list.sort_by_key(|d| std::cmp::Reverse(d.create_time));
    let apps = state.store.list_applications().await?;
    let mut groups = Vec::new();
    for app in &apps {
        for g in state.store.list_groups(&app.name).await? {
            if !groups.contains(&g.name) {
                groups.push(g.name);
            }
        }
    }

    let mut h = Html::new();
    h.raw("<h1>Deployments</h1>");
    h.raw("<form class=\"filters card\" method=\"get\" action=\"/console\">");
    h.raw("<label>Application <select name=\"application\" id=\"filter-application\"><option value=\"\">any</option>");
    for app in &apps {
        h.raw("<option value=\"").text(&app.name).raw("\"");
        if app.name == query.application.trim() {
            h.raw(" selected");
        }
        h.raw(">").text(&app.name).raw("</option>");
    }
    h.raw("</select></label>");
    h.raw("<label>Group <input name=\"group\" id=\"filter-group\" list=\"groups\" value=\"")
        .text(query.group.trim())
        .raw("\"></label><datalist id=\"groups\">");
    for g in &groups {
        h.raw("<option value=\"").text(g).raw("\">");
    }
    h.raw("</datalist>");
    h.raw("<label>Status <select name=\"status\" id=\"filter-status\"><option value=\"\">any</option>");
    for s in STATUSES {
        h.raw("<option");
        if Some(s) == status {
            h.raw(" selected");
        }
        h.raw(">").text(s.as_str()).raw("</option>");
    }
    h.raw("</select></label><button class=\"btn\" type=\"submit\">Filter</button>");
    h.raw("<a class=\"btn plain\" href=\"/console\">Clear</a></form>");

    if list.is_empty() {
        h.raw("<p class=\"empty\">No deployments match.</p>");
        return Ok(page(StatusCode::OK, "Deployments", Some(session), flash, &h));
    }
    let now = now_millis();
    h.raw("<div class=\"scroll\"><table class=\"list\" id=\"deployments\"><thead><tr><th>Deployment</th>")
        .raw("<th>Application</th><th>Group</th><th>Status</th><th>Revision</th><th>Creator</th><th>Created</th>")
        .raw("<th class=\"num\">Duration</th></tr></thead><tbody>");
    for d in &list {
        h.raw("<tr data-deployment=\"").text(&d.id).raw("\"><td><a href=\"/console/deployments/");
        h.text(enc(&d.id)).raw("\">").text(&d.id).raw("</a></td>");
        h.raw("<td><a href=\"/console/applications/").text(enc(&d.application_name)).raw("\">");
        h.text(&d.application_name).raw("</a></td><td>").text(&d.group_name).raw("</td><td>");
        badge(&mut h, d.status.as_str());
        h.raw("</td><td><code>").text(&d.revision.id).raw("</code></td><td>").text(d.creator.as_str());
        h.raw("</td><td>").text(utc(d.create_time)).raw("</td><td class=\"num\">");
        match d.complete_time {
            Some(end) => {
                h.text(duration(end.saturating_sub(d.start_time.unwrap_or(d.create_time))));
            }
            None if d.status.is_terminal() => {
                h.raw("–");
            }
            None => {
                let since = d.start_time.unwrap_or(d.create_time);
                h.raw("<span data-since=\"").text(since).raw("\">").text(duration(now.saturating_sub(since)));
                h.raw("</span> so far");
            }
        }
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table></div>");
    if list.len() == LIST_LIMIT as usize {
        h.raw("<p class=\"muted\">The newest ").text(LIST_LIMIT).raw(" are shown; filter to see older ones.</p>");
    }
    Ok(page(StatusCode::OK, "Deployments", Some(session), flash, &h))
}

/// GET `/console/applications`.
pub(crate) async fn applications(State(state): State<AppState>, session: Session) -> Response {
    respond(&session, applications_page(&state, &session).await)
}

async fn applications_page(state: &AppState, session: &Session) -> Result<Response, Problem> {
    let apps = state.store.list_applications().await?;
    let mut h = Html::new();
    h.raw("<h1>Applications</h1>");
    if apps.is_empty() {
        h.raw("<p class=\"empty\">No applications yet: <code>ferry app create NAME</code> makes one.</p>");
        return Ok(page(StatusCode::OK, "Applications", Some(session), &Flash::default(), &h));
    }
    h.raw("<table class=\"list\" id=\"applications\"><thead><tr><th>Application</th><th>Platform</th>")
        .raw("<th>Deployment groups</th><th>Created</th></tr></thead><tbody>");
    for app in &apps {
        let groups = state.store.list_groups(&app.name).await?;
        h.raw("<tr><td><a href=\"/console/applications/").text(enc(&app.name)).raw("\">").text(&app.name);
        h.raw("</a></td><td>").text(app.compute_platform.as_str()).raw("</td><td>");
        if groups.is_empty() {
            h.raw("<span class=\"muted\">none</span>");
        }
        for (i, g) in groups.iter().enumerate() {
            if i > 0 {
                h.raw(", ");
            }
            h.text(&g.name);
        }
        h.raw("</td><td>").text(utc(app.create_time)).raw("</td></tr>");
    }
    h.raw("</tbody></table>");
    Ok(page(StatusCode::OK, "Applications", Some(session), &Flash::default(), &h))
}

/// GET `/console/applications/{app}`: its groups in full, and its recent deployments.
pub(crate) async fn application(State(state): State<AppState>, session: Session, Path(app): Path<String>) -> Response {
    respond(&session, application_page(&state, &session, &app).await)
}

async fn application_page(state: &AppState, session: &Session, name: &str) -> Result<Response, Problem> {
    let app = match state.store.get_application(name).await {
        Ok(app) => app,
        Err(StoreError::NotFound) => return Err(Problem::not_found(format!("There is no application {name}."))),
        Err(e) => return Err(e.into()),
    };
    let groups = state.store.list_groups(&app.name).await?;
    let mut h = Html::new();
    h.raw("<p class=\"crumbs\"><a href=\"/console/applications\">Applications</a> /</p><h1>");
    h.text(&app.name).raw("</h1>");
    h.raw("<table class=\"facts card\"><tr><th>Platform</th><td>").text(app.compute_platform.as_str());
    h.raw("</td></tr><tr><th>Created</th><td>").text(utc(app.create_time)).raw("</td></tr>");
    h.raw("<tr><th>Id</th><td><code>").text(&app.id).raw("</code></td></tr></table>");

    h.raw("<h2>Deployment groups</h2>");
    if groups.is_empty() {
        h.raw("<p class=\"empty\">No deployment groups yet: <code>ferry group create</code> makes one.</p>");
    }
    for g in &groups {
        let instances = state.driver.group_instances(g).await?;
        let mut target_groups = Vec::new();
        for tg in &g.target_groups {
            match state.store.get_target_group(tg).await {
                Ok(tg) => target_groups.push(tg),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        group_card(&mut h, g, &instances, &target_groups);
    }

    let filter = DeploymentFilter { application: Some(app.name.clone()), limit: Some(20), ..Default::default() };
    let mut recent = state.store.list_deployments(filter).await?;
    recent.sort_by_key(|d| std::cmp::Reverse(d.create_time));
    h.raw("<h2>Recent deployments</h2>");
    if recent.is_empty() {
        h.raw("<p class=\"empty\">None yet.</p>");
    } else {
        h.raw("<table class=\"list\"><thead><tr><th>Deployment</th><th>Group</th><th>Status</th>")
            .raw("<th>Revision</th><th>Created</th></tr></thead><tbody>");
        for d in &recent {
            h.raw("<tr><td><a href=\"/console/deployments/").text(enc(&d.id)).raw("\">").text(&d.id);
            h.raw("</a></td><td>").text(&d.group_name).raw("</td><td>");
            badge(&mut h, d.status.as_str());
            h.raw("</td><td><code>").text(&d.revision.id).raw("</code></td><td>").text(utc(d.create_time));
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table><p><a href=\"/console?application=").text(enc(&app.name));
        h.raw("\">All deployments of ").text(&app.name).raw("</a></p>");
    }
    Ok(page(StatusCode::OK, &app.name, Some(session), &Flash::default(), &h))
}

fn tag_filter(h: &mut Html, f: &TagFilter) {
    h.raw("<code>");
    match f.kind {
        TagFilterType::KeyOnly => h.text(&f.key).raw(" (any value)"),
        TagFilterType::ValueOnly => h.raw("(any key)=").text(&f.value),
        TagFilterType::KeyAndValue => h.text(&f.key).raw("=").text(&f.value),
    };
    h.raw("</code>");
}

fn tag_filters(h: &mut Html, filters: &[TagFilter]) {
    for (i, f) in filters.iter().enumerate() {
        if i > 0 {
            h.raw(" or ");
        }
        tag_filter(h, f);
    }
}

fn group_card(h: &mut Html, g: &DeploymentGroup, instances: &[String], target_groups: &[TargetGroup]) {
    use ferry_core::deployment::BlueAction;
    h.raw("<section class=\"card group\" id=\"group-").text(&g.name).raw("\"><h3>").text(&g.name).raw("</h3>");
    h.raw("<table class=\"facts\"><tr><th>Deployment config</th><td>").text(&g.deployment_config_name);
    h.raw("</td></tr><tr><th>Instances selected by</th><td>");
    if g.selector.tag_filters.is_empty() && g.selector.tag_set.is_empty() {
        h.raw("<span class=\"muted\">no tags (selects nothing)</span>");
    }
    tag_filters(h, &g.selector.tag_filters);
    for (i, set) in g.selector.tag_set.iter().enumerate() {
        if i > 0 || !g.selector.tag_filters.is_empty() {
            h.raw("<br>");
        }
        h.raw("tag set ").text(i + 1).raw(": ");
        tag_filters(h, set);
    }
    h.raw("</td></tr><tr><th>Instances now</th><td>");
    if instances.is_empty() {
        h.raw("<span class=\"muted\">none</span>");
    }
    for (i, name) in instances.iter().enumerate() {
        if i > 0 {
            h.raw(", ");
        }
        h.text(name);
    }
    h.raw("</td></tr><tr><th>Automatic rollback</th><td>");
    if g.auto_rollback.enabled {
        h.raw("on ");
        for (i, e) in g.auto_rollback.events.iter().enumerate() {
            h.raw(if i == 0 { "(" } else { ", " }).text(crate::views::rollback_event_name(*e));
        }
        if !g.auto_rollback.events.is_empty() {
            h.raw(")");
        }
    } else {
        h.raw("off");
    }
    h.raw("</td></tr><tr><th>Deployment type</th><td>");
    match &g.blue_green {
        None => {
            h.raw(if g.traffic_control { "in place, with traffic control" } else { "in place" });
        }
        Some(bg) => {
            h.raw("blue/green: ");
            match bg.ready {
                ReadyAction::Continue => h.raw("traffic moves as soon as the replacements are installed"),
                ReadyAction::Stop { wait_ms } => {
                    h.raw("waits up to ").text(duration(wait_ms)).raw(" in Ready for Continue, then stops")
                }
            };
            h.raw("; the originals are ");
            match bg.blue {
                BlueAction::KeepAlive => h.raw("kept (out of the load balancer)"),
                BlueAction::Terminate { wait_ms } => h.raw("terminated after ").text(duration(wait_ms)),
            };
        }
    }
    h.raw("</td></tr><tr><th>Last successful</th><td>");
    match (&g.last_successful_deployment_id, &g.last_successful_revision_id) {
        (Some(d), revision) => {
            h.raw("<a href=\"/console/deployments/").text(enc(d)).raw("\">").text(d).raw("</a>");
            if let Some(r) = revision {
                h.raw(" (revision <code>").text(r).raw("</code>)");
            }
        }
        (None, _) => {
            h.raw("<span class=\"muted\">never</span>");
        }
    }
    h.raw("</td></tr></table>");
    for tg in target_groups {
        h.raw("<h4>Target group ").text(&tg.name).raw("</h4><table class=\"facts\"><tr><th>Load balancer</th><td>");
        match &tg.balancer {
            Balancer::Builtin { listen, test_listen } => {
                h.raw("ferry's proxy on <code>").text(listen).raw("</code>");
                if let Some(test) = test_listen {
                    h.raw(", test listener <code>").text(test).raw("</code>");
                }
            }
            Balancer::HaProxy { socket, backend } => {
                h.raw("HAProxy backend <code>").text(backend).raw("</code> via <code>").text(socket).raw("</code>");
            }
        }
        h.raw("</td></tr><tr><th>Instance port</th><td>").text(tg.port).raw("</td></tr>");
        let c = &tg.health_check;
        h.raw("<tr><th>Health check</th><td><code>").text(&c.path).raw("</code> every ").text(duration(c.interval_ms));
        h.raw(", timeout ").text(duration(c.timeout_ms)).raw(", healthy after ").text(c.healthy_threshold);
        h.raw(", unhealthy after ").text(c.unhealthy_threshold).raw("</td></tr>");
        h.raw("<tr><th>Deregistration delay</th><td>").text(duration(tg.deregistration_delay_ms));
        h.raw("</td></tr><tr><th>Healthy timeout</th><td>").text(duration(tg.healthy_timeout_ms));
        h.raw("</td></tr><tr><th>Members</th><td>").text(tg.members.len()).raw("</td></tr></table>");
    }
    h.raw("<p><a href=\"/console?application=").text(enc(&g.application_name)).raw("&amp;group=");
    h.text(enc(&g.name)).raw("\">Deployments to ").text(&g.name).raw("</a></p></section>");
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    key: String,
    #[serde(default)]
    refused: String,
}

/// GET `/console/audit`: the newest audited calls (admins only), filtered
/// by key and by refusals.
pub(crate) async fn audit(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Query(query): axum::extract::Query<AuditQuery>,
) -> Response {
    respond(&session, audit_page(&state, &session, &query).await)
}

async fn audit_page(state: &AppState, session: &Session, query: &AuditQuery) -> Result<Response, Problem> {
    if session.role != ferry_core::resources::Role::Admin {
        return Err(Problem::forbidden(format!(
            "Access key {} is not an admin key: the audit log is for admins.",
            session.key_id
        )));
    }
    let filter = ferry_store::AuditFilter {
        key_id: Some(query.key.trim().to_string()).filter(|k| !k.is_empty()),
        refused_only: query.refused == "on" || query.refused == "true",
        limit: Some(500),
        ..Default::default()
    };
    let entries = state.store.list_audit(&filter).await?;
    let mut h = Html::new();
    h.raw("<h1>Audit log</h1><form class=\"filters\" method=\"get\" action=\"/console/audit\">");
    h.raw("<label>Access key <input name=\"key\" value=\"").text(query.key.trim()).raw("\"></label>");
    h.raw("<label><input type=\"checkbox\" name=\"refused\"");
    if filter.refused_only {
        h.raw(" checked");
    }
    h.raw("> refused only</label><button class=\"btn small\" type=\"submit\">Filter</button></form>");
    h.raw("<table class=\"list\" id=\"audit\"><thead><tr><th>Time</th><th>Key</th><th>Role</th><th>From</th>");
    h.raw("<th>API</th><th>Action</th><th>Target</th><th>Result</th></tr></thead><tbody>");
    for a in entries.iter().rev() {
        let e = &a.entry;
        h.raw("<tr data-status=\"").text(e.status).raw("\"><td>").text(utc(e.time)).raw("</td><td>");
        h.text(e.key_id.as_deref().unwrap_or("-")).raw("</td><td>").text(e.role.as_deref().unwrap_or("-"));
        h.raw("</td><td>").text(&e.source).raw("</td><td>").text(&e.api).raw("</td><td>").text(&e.action);
        h.raw("</td><td>").text(e.target.as_deref().unwrap_or("")).raw("</td><td>").text(e.status);
        if let Some(code) = &e.error {
            h.raw(" ").text(code);
        }
        h.raw("</td></tr>");
    }
    h.raw("</tbody></table>");
    Ok(page(StatusCode::OK, "Audit log", Some(session), &Flash::default(), &h))
}
