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
use ferry_store::StoreError;

use crate::AppState;
use crate::auth::Signed;
use crate::clock::now_millis;
use crate::error::{ApiError, ApiResult};

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
    if body.description.chars().count() > 256 {
        return Err(ApiError::bad_request("InvalidDescription", "a key's description is at most 256 characters"));
    }
    if !body.scopes.is_empty() && role != Role::Deployer {
        return Err(ApiError::bad_request(
            "InvalidScope",
            format!("only deployer keys can be limited to applications and groups, not {} keys", role.as_str()),
        ));
    }
    for scope in &body.scopes {
        ferry_core::resources::validate_scope(scope).map_err(|m| ApiError::bad_request("InvalidScope", m))?;
    }
    let key = AccessKey {
        id: crate::random::access_key_id("FKIA"),
        secret: crate::random::secret_key(),
        role,
        instance: None,
        description: body.description,
        create_time: now_millis(),
        disabled: false,
        scopes: body.scopes,
    };
    state.store.put_access_key(&key).await?;
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

async fn existing(state: &AppState, id: &str) -> ApiResult<AccessKey> {
    crate::audit::note_target(id);
    state.store.get_access_key(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("NoSuchKey", format!("access key {id} does not exist")),
        e => e.into(),
    })
}

/// Refuses to take away the last usable admin key.
async fn keep_an_admin(state: &AppState, key: &AccessKey, doing: &str) -> ApiResult<()> {
    if key.role != Role::Admin || key.disabled {
        return Ok(());
    }
    let keys = state.store.list_access_keys().await?;
    if keys.iter().any(|k| k.role == Role::Admin && !k.disabled && k.id != key.id) {
        return Ok(());
    }
    Err(ApiError::conflict(
        "LastAdminKey",
        format!("access key {} is the last admin key: create another admin key before you {doing} it", key.id),
    ))
}

async fn disable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::KeyView>> {
    request.caller.require_admin()?;
    let mut key = existing(&state, &id).await?;
    keep_an_admin(&state, &key, "disable").await?;
    key.disabled = true;
    state.store.put_access_key(&key).await?;
    tracing::info!(key = %key.id, by = %request.caller.key_id, "access key disabled");
    Ok(Json(view(&key)))
}

async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::KeyView>> {
    request.caller.require_admin()?;
    let mut key = existing(&state, &id).await?;
    if key.role == Role::Agent {
        return Err(ApiError::bad_request(
            "AgentKey",
            format!("access key {id} is an agent's credential: a revoked agent enrols again with the join token"),
        ));
    }
    key.disabled = false;
    state.store.put_access_key(&key).await?;
    tracing::info!(key = %key.id, by = %request.caller.key_id, "access key enabled");
    Ok(Json(view(&key)))
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<serde_json::Value>> {
    request.caller.require_admin()?;
    let key = existing(&state, &id).await?;
    keep_an_admin(&state, &key, "delete").await?;
    if key.id == request.caller.key_id {
        return Err(ApiError::conflict(
            "OwnKey",
            format!("access key {id} signed this request: delete it with another key"),
        ));
    }
    state.store.delete_access_key(&id).await?;
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
    crate::audit::note_target(&name);
    let instance = state.store.get_instance(&name).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("NoSuchInstance", format!("instance {name} does not exist")),
        e => e.into(),
    })?;
    let Some(key_id) = instance.agent_key_id.as_deref() else {
        return Err(ApiError::conflict("NoAgent", format!("instance {name} has no enrolled agent")));
    };
    let mut key = existing(&state, key_id).await?;
    key.disabled = true;
    state.store.put_access_key(&key).await?;
    // Its held poll ends now rather than at the hold time.
    state.driver.notify(&name);
    tracing::warn!(instance = %name, key = %key.id, by = %request.caller.key_id, "agent credential revoked");
    Ok(Json(view(&key)))
}
