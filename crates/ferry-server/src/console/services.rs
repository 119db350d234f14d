//! Container services in the console (issue #15): the list
//! (`/console/services`: desired, running and pending tasks, task
//! definition, target group) and one service (`/console/services/{name}`):
//! its task sets with their production traffic share and test flag (an
//! ECS deployment's replacement shows here while its traffic moves), its
//! tasks (host, status, health, ports, why they stopped) and its events.
//! Read-only: services change through the CLI, the native API and ECS
//! deployments. The page reloads itself every few seconds while tasks are
//! pending or task sets share the traffic.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ferry_ecs::service::{DesiredStatus, LastStatus, ServiceStatus, TaskSetStatus};

use super::auth::Session;
use super::{Flash, Html, Problem, badge, enc, page as layout, respond, utc};
use crate::AppState;
use crate::ops::OpError;
use crate::ops::services::{self, Described};

fn service_path(name: &str) -> String {
    format!("/console/services/{}", enc(name))
}

fn problem(e: OpError) -> Problem {
    match e {
        OpError::ServiceNotFound(name) => Problem::not_found(format!("There is no service {name}.")),
        OpError::Store(e) => e.into(),
        e => Problem::internal(e),
    }
}

fn counts(d: &Described) -> (usize, usize) {
    let running = d.tasks.iter().filter(|t| t.is_ready()).count();
    let pending = d.tasks.iter().filter(|t| t.is_live() && t.last_status == LastStatus::Pending).count();
    (running, pending)
}

/// GET `/console/services`.
pub(crate) async fn list(State(state): State<AppState>, session: Session, Query(flash): Query<Flash>) -> Response {
    let result = async {
        let all = services::list(&state).await.map_err(problem)?;
        let mut h = Html::new();
        h.raw("<h1>Services</h1>");
        if all.is_empty() {
            h.raw("<p class=\"empty\" id=\"no-services\">No services yet: ")
                .raw("<code>ferry service create NAME --task-definition FAMILY --desired N</code> makes one.</p>");
            return Ok(layout(StatusCode::OK, "Services", Some(&session), &flash, &h));
        }
        h.raw("<div class=\"scroll\"><table class=\"list\" id=\"services\"><thead><tr><th>Service</th>")
            .raw("<th>Status</th><th>Task definition</th><th>Running</th><th>Pending</th><th>Desired</th>")
            .raw("<th>Target group</th></tr></thead><tbody>");
        for d in &all {
            let s = &d.service;
            let (running, pending) = counts(d);
            h.raw("<tr data-service=\"").text(&s.name).raw("\"><td><a href=\"").text(service_path(&s.name));
            h.raw("\">").text(&s.name).raw("</a></td><td>");
            badge(&mut h, status(s.status));
            h.raw("</td><td>").text(&s.task_definition).raw("</td><td>").text(running);
            h.raw("</td><td>").text(pending).raw("</td><td>").text(s.desired_count).raw("</td><td>");
            h.text(s.load_balancer.as_ref().map(|l| l.target_group.as_str()).unwrap_or("—")).raw("</td></tr>");
        }
        h.raw("</tbody></table></div>");
        Ok(layout(StatusCode::OK, "Services", Some(&session), &flash, &h))
    }
    .await;
    respond(&session, result)
}

fn status(s: ServiceStatus) -> &'static str {
    match s {
        ServiceStatus::Active => "ACTIVE",
        ServiceStatus::Draining => "DRAINING",
    }
}

/// GET `/console/services/{name}`.
pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
    Query(flash): Query<Flash>,
) -> Response {
    let result = async {
        let d = services::get(&state, &name).await.map_err(problem)?;
        let s = &d.service;
        let (running, pending) = counts(&d);
        let mut h = Html::new();
        if pending > 0 || s.task_sets.len() > 1 {
            // Follows a change without scripts: the page reloads itself.
            h.raw("<meta http-equiv=\"refresh\" content=\"3\">");
        }
        h.raw("<p class=\"crumbs\"><a href=\"/console/services\">Services</a> /</p><h1>Service ");
        h.text(&s.name).raw(" ");
        badge(&mut h, status(s.status));
        h.raw("</h1><p id=\"summary\">").text(running).raw(" running, ").text(pending);
        h.raw(" pending of ").text(s.desired_count).raw(" desired · task definition <code>");
        h.text(&s.task_definition).raw("</code>");
        if let Some(lb) = &s.load_balancer {
            h.raw(" · target group <code>").text(&lb.target_group).raw("</code> (container ");
            h.text(&lb.container_name).raw(" port ").text(lb.container_port).raw(")");
        }
        if !s.hosts.is_empty() {
            let tags: Vec<String> = s.hosts.iter().map(|t| format!("{}={}", t.key, t.value)).collect();
            h.raw(" · hosts tagged ").text(tags.join(", "));
        }
        h.raw("</p><h2>Task sets</h2><table class=\"list\" id=\"task-sets\"><thead><tr><th>Task set</th>")
            .raw("<th>Task definition</th><th>Status</th><th>Production traffic</th><th>Test traffic</th>")
            .raw("<th>Deployment</th></tr></thead><tbody>");
        for set in &s.task_sets {
            h.raw("<tr data-task-set=\"").text(&set.id).raw("\"><td><code>").text(&set.id).raw("</code></td><td>");
            h.text(&set.task_definition).raw("</td><td>");
            badge(
                &mut h,
                match set.status {
                    TaskSetStatus::Primary => "PRIMARY",
                    TaskSetStatus::Active => "ACTIVE",
                    TaskSetStatus::Draining => "DRAINING",
                },
            );
            h.raw("</td><td class=\"weight\">").text(set.weight).raw("%</td><td>");
            h.raw(if set.test { "yes" } else { "no" }).raw("</td><td>");
            match &set.deployment {
                Some(id) => {
                    h.raw("<a href=\"/console/deployments/").text(enc(id)).raw("\">").text(id).raw("</a>");
                }
                None => {
                    h.raw("—");
                }
            }
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table><h2>Tasks</h2><div class=\"scroll\"><table class=\"list\" id=\"tasks\"><thead><tr>")
            .raw("<th>Task</th><th>Host</th><th>Task definition</th><th>Status</th><th>Health</th><th>Ports</th>")
            .raw("<th>Started</th><th>Stopped reason</th></tr></thead><tbody>");
        for t in &d.tasks {
            let state_name = match (t.desired_status, t.last_status) {
                (DesiredStatus::Stopped, LastStatus::Running) => "STOPPING",
                (_, LastStatus::Pending) => "PENDING",
                (_, LastStatus::Running) => "RUNNING",
                (_, LastStatus::Stopped) => "STOPPED",
            };
            let ports: Vec<String> = t
                .ports
                .iter()
                .map(|p| format!("{}:{} → {}", p.container_name, p.container_port, p.host_port))
                .collect();
            h.raw("<tr data-task=\"").text(&t.id).raw("\"><td><code>").text(services::short(&t.id));
            h.raw("</code></td><td>").text(&t.host).raw("</td><td>").text(&t.task_definition).raw("</td><td>");
            badge(&mut h, state_name);
            h.raw("</td><td>").text(format!("{:?}", t.health).to_uppercase()).raw("</td><td>");
            h.text(ports.join(", ")).raw("</td><td>");
            h.text(t.started_at.map(utc).unwrap_or_default()).raw("</td><td>");
            h.text(t.stopped_reason.as_deref().unwrap_or("")).raw("</td></tr>");
        }
        h.raw("</tbody></table></div><h2>Events</h2><ul id=\"events\">");
        for e in s.events.iter().rev().take(20) {
            h.raw("<li>").text(utc(e.at)).raw(" — ").text(&e.message).raw("</li>");
        }
        h.raw("</ul>");
        Ok(layout(StatusCode::OK, &format!("Service {}", s.name), Some(&session), &flash, &h))
    }
    .await;
    respond(&session, result)
}
