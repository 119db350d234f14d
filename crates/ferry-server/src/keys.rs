//! `/api/v1/keys`: access keys for the native and AWS APIs. Admins create
//! them (the secret is shown once), list them (never with secrets) and
//! revoke them (at once: the next request signed with one is refused).

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_core::resources::{AccessKey, Role};
use ferry_proto::api;
use ferry_store::StoreError;

use crate::AppState;
use crate::auth::Signed;
use crate::driver::now_millis;
use crate::error::{ApiError, ApiResult};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/keys", get(list).post(create)).route("/api/v1/keys/{id}/revoke", post(revoke))
}

fn view(k: &AccessKey) -> api::KeyView {
    api::KeyView {
        access_key_id: k.id.clone(),
        role: k.role.as_str().to_string(),
        description: k.description.clone(),
        instance: k.instance.clone(),
        create_time: k.create_time,
        disabled: k.disabled,
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
    let key = AccessKey {
        id: crate::random::access_key_id("FKIA"),
        secret: crate::random::secret_key(),
        role,
        instance: None,
        description: body.description,
        create_time: now_millis(),
        disabled: false,
    };
    state.store.put_access_key(&key).await?;
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

async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::KeyView>> {
    request.caller.require_admin()?;
    let mut key = state.store.get_access_key(&id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("NoSuchKey", format!("access key {id} does not exist")),
        e => e.into(),
    })?;
    if key.role == Role::Admin && !key.disabled {
        let admins = state.store.list_access_keys().await?;
        if !admins.iter().any(|k| k.role == Role::Admin && !k.disabled && k.id != key.id) {
            return Err(ApiError::conflict(
                "LastAdminKey",
                format!("access key {id} is the last admin key: create another admin key before revoking it"),
            ));
        }
    }
    key.disabled = true;
    state.store.put_access_key(&key).await?;
    tracing::info!(key = %key.id, by = %request.caller.key_id, "access key revoked");
    Ok(Json(view(&key)))
}
