//! `GET /api/v1/audit`: the audit log, for admins (the recorder is `audit`).

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use ferry_core::resources::AuditEntry;
use ferry_proto::api;
use ferry_store::AuditFilter;

use crate::AppState;
use crate::auth::Signed;
use crate::error::ApiResult;

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
