//! `/api/v1/keys`: access keys for the native and AWS APIs, and the agents'
//! credentials. Admins create keys (the secret is shown once; deployer
//! keys may be limited to applications and groups), list them (never with
//! secrets), disable and enable them (at once: the next request signed
//! with a disabled key is refused) and delete them. An instance's agent
//! credential is revoked with `POST /api/v1/instances/{name}/revoke`.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_core::resources::{AccessKey, Role};
use ferry_proto::api;

use crate::auth::Signed;
use crate::error::{ApiError, ApiResult};
use crate::{AppState, ops};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/keys", get(list).post(create))
        .route("/api/v1/keys/{id}", axum::routing::delete(delete))
        .route("/api/v1/keys/{id}/disable", post(disable))
        // The name of `disable` before keys could be enabled again.
        .route("/api/v1/keys/{id}/revoke", post(disable))
        .route("/api/v1/keys/{id}/enable", post(enable))
        .route("/api/v1/instances/{name}/revoke", post(revoke_instance))
}

fn view(k: &AccessKey) -> api::KeyView {
    api::KeyView {
        access_key_id: k.id.clone(),
        role: k.role.as_str().to_string(),
        description: k.description.clone(),
        instance: k.instance.clone(),
        create_time: k.create_time,
        disabled: k.disabled,
        scopes: k.scopes.clone(),
    }
}

async fn create(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::CreatedKey>> {
    request.caller.require_admin()?;
    let body: api::CreateKey = request.json()?;
    let role = Role::from_operator_name(&body.role).ok_or_else(|| {
        ApiError::bad_request("InvalidRole", format!("role {:?} is not admin, deployer or read-only", body.role))
    })?;
    let new = ops::keys::NewKey { role, description: body.description, scopes: body.scopes };
    let key = ops::keys::create(&state, new).await?;
    crate::audit::note_target(&key.id);
    tracing::info!(key = %key.id, role = role.as_str(), by = %request.caller.key_id, "access key created");
    Ok(Json(api::CreatedKey {
        access_key_id: key.id,
        secret_access_key: key.secret,
        role: role.as_str().to_string(),
        description: key.description,
        create_time: key.create_time,
    }))
}

async fn list(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<api::KeyView>>> {
    request.caller.require_admin()?;
    Ok(Json(state.store.list_access_keys().await?.iter().map(view).collect()))
}

async fn disable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::KeyView>> {
    request.caller.require_admin()?;
    let key = ops::keys::disable(&state, &id).await?;
    tracing::info!(key = %key.id, by = %request.caller.key_id, "access key disabled");
    Ok(Json(view(&key)))
}

async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::KeyView>> {
    request.caller.require_admin()?;
    let key = ops::keys::enable(&state, &id).await?;
    tracing::info!(key = %key.id, by = %request.caller.key_id, "access key enabled");
    Ok(Json(view(&key)))
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<serde_json::Value>> {
    request.caller.require_admin()?;
    ops::keys::delete(&state, &id, &request.caller.key_id).await?;
    tracing::info!(key = %id, by = %request.caller.key_id, "access key deleted");
    Ok(Json(serde_json::json!({})))
}

/// Revokes an instance's agent credential: its agent is refused from its
/// next request on, until it enrols again with the join token.
async fn revoke_instance(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::KeyView>> {
    request.caller.require_admin()?;
    let key = ops::keys::revoke_instance(&state, &name).await?;
    tracing::warn!(instance = %name, key = %key.id, by = %request.caller.key_id, "agent credential revoked");
    Ok(Json(view(&key)))
}
