//! The audit log: every mutating call — who (key id and role), what, when,
//! from where, and the result — allowed or refused.
//!
//! A middleware wraps each request that can change something (every
//! non-GET request of the native API and the console, the AWS API's
//! mutating operations, agent enrolment) in a task-local [`Note`]; the code
//! that verifies the caller, names the operation or its target, or turns an
//! error into an answer fills it in as the request goes. After the handler
//! answered, the entry is written to the store *before* the answer leaves,
//! so an acknowledged call is always on record. Agents' polls and reports
//! are not audited (they are the deployment itself, in the event log).
//!
//! Routes: `GET /api/v1/audit` (admins).

use std::cell::RefCell;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use ferry_core::resources::{AuditEntry, Role};
use ferry_proto::api;
use ferry_store::AuditFilter;

use crate::AppState;
use crate::auth::Signed;
use crate::driver::now_millis;
use crate::error::ApiResult;

/// What is learnt about a call while it is handled.
#[derive(Debug, Default, Clone)]
struct Note {
    key_id: Option<String>,
    role: Option<Role>,
    action: Option<String>,
    target: Option<String>,
    error: Option<String>,
}

tokio::task_local! {
    static NOTE: RefCell<Note>;
}

fn with_note(f: impl FnOnce(&mut Note)) {
    let _ = NOTE.try_with(|note| f(&mut note.borrow_mut()));
}

/// The key a request claims (before its signature is checked).
pub fn note_claimed_key(key_id: &str) {
    with_note(|n| n.key_id = Some(key_id.to_string()));
}

/// The verified caller.
pub fn note_caller(key_id: &str, role: Role) {
    with_note(|n| {
        n.key_id = Some(key_id.to_string());
        n.role = Some(role);
    });
}

/// The operation (for the AWS API, whose path says nothing).
pub fn note_action(action: &str) {
    with_note(|n| n.action = Some(action.to_string()));
}

/// What the call is about: `app`, `app/group`, a deployment id, a key id.
pub fn note_target(target: impl Into<String>) {
    with_note(|n| {
        n.target.get_or_insert_with(|| target.into());
    });
}

/// The error code the call was answered with.
pub fn note_error(code: &str) {
    with_note(|n| n.error = Some(code.to_string()));
}

/// Which API a path belongs to, and whether a request there is audited.
fn audited(method: &axum::http::Method, path: &str, aws_target: Option<&str>) -> Option<&'static str> {
    use axum::http::Method;
    if path == "/" && method == Method::POST {
        let op = ferry_aws::Operation::from_target(aws_target).ok()?;
        return op.mutates().then_some("aws");
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if path == "/agent/v1/enrol" {
        Some("agent")
    } else if path.starts_with("/agent/") {
        None
    } else if path.starts_with("/console") {
        Some("console")
    } else {
        Some("native")
    }
}

/// The middleware: handles the request inside a [`Note`] and records it.
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let aws_target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).map(str::to_string);
    let Some(api) = audited(request.method(), request.uri().path(), aws_target.as_deref()) else {
        return next.run(request).await;
    };
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_string())
        .unwrap_or_default();
    let action = format!("{} {}", request.method(), request.uri().path());
    let (response, note) = NOTE
        .scope(RefCell::new(Note::default()), async move {
            let response = next.run(request).await;
            (response, NOTE.with(|n| n.borrow().clone()))
        })
        .await;
    let entry = AuditEntry {
        time: now_millis(),
        key_id: note.key_id,
        role: note.role.map(|r| r.as_str().to_string()),
        source,
        api: api.to_string(),
        action: note.action.unwrap_or(action),
        target: note.target,
        status: response.status().as_u16(),
        error: note.error.or_else(|| (response.status().as_u16() >= 400).then(|| "Error".to_string())),
    };
    if let Err(e) = state.store.append_audit(&entry).await {
        // The change (if any) is made; losing its record is logged loudly.
        tracing::error!(error = %e, action = %entry.action, key = ?entry.key_id, "cannot write the audit log");
    }
    response
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/audit", get(list))
}

#[derive(serde::Deserialize, Default)]
struct AuditQuery {
    key: Option<String>,
    /// Milliseconds since the epoch.
    since: Option<u64>,
    until: Option<u64>,
    #[serde(default)]
    refused: bool,
    limit: Option<u32>,
}

pub fn view(seq: u64, e: &AuditEntry) -> api::AuditEntry {
    api::AuditEntry {
        seq,
        time: e.time,
        key_id: e.key_id.clone(),
        role: e.role.clone(),
        source: e.source.clone(),
        api: e.api.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        status: e.status,
        error: e.error.clone(),
    }
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
    request: Signed,
) -> ApiResult<Json<Vec<api::AuditEntry>>> {
    request.caller.require_admin()?;
    let filter = AuditFilter {
        key_id: query.key,
        since: query.since,
        until: query.until,
        refused_only: query.refused,
        limit: query.limit,
    };
    let entries = state.store.list_audit(&filter).await?;
    Ok(Json(entries.iter().map(|a| view(a.seq, &a.entry)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn what_is_audited() {
        assert_eq!(audited(&Method::POST, "/api/v1/deployments", None), Some("native"));
        assert_eq!(audited(&Method::GET, "/api/v1/deployments", None), None);
        assert_eq!(audited(&Method::DELETE, "/api/v1/alarms/x", None), Some("native"));
        assert_eq!(audited(&Method::POST, "/agent/v1/enrol", None), Some("agent"));
        assert_eq!(audited(&Method::POST, "/agent/v1/report", None), None);
        assert_eq!(audited(&Method::POST, "/console/deployments/d-1/stop", None), Some("console"));
        assert_eq!(audited(&Method::POST, "/", Some("CodeDeploy_20141006.CreateDeployment")), Some("aws"));
        assert_eq!(audited(&Method::POST, "/", Some("CodeDeploy_20141006.GetDeployment")), None);
    }

    #[tokio::test]
    async fn notes_are_per_request_and_ignored_outside_one() {
        note_caller("OUTSIDE", Role::Admin);
        let note = NOTE
            .scope(RefCell::new(Note::default()), async {
                note_claimed_key("K1");
                note_caller("K1", Role::Deployer);
                note_target("shop/web");
                note_target("ignored: the first target wins");
                note_error("AccessDenied");
                NOTE.with(|n| n.borrow().clone())
            })
            .await;
        assert_eq!(note.key_id.as_deref(), Some("K1"));
        assert_eq!(note.role, Some(Role::Deployer));
        assert_eq!(note.target.as_deref(), Some("shop/web"));
        assert_eq!(note.error.as_deref(), Some("AccessDenied"));
    }
}
