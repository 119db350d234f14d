//! `/api/v1/secrets`: ferry secrets (admin only). A name travels
//! percent-encoded as one path segment (`/prod/db/password` is
//! `/api/v1/secrets/%2Fprod%2Fdb%2Fpassword`): the router matches the raw
//! path, so an encoded `/` stays inside the segment and no dot segment can
//! be normalised away by a client. Values are taken, never returned: every
//! answer holds names and times. The audit entry records the method and
//! path (the name), never the body.

use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use ferry_proto::secrets::{PutSecret, SecretView};
use ferry_store::SecretInfo;

use crate::AppState;
use crate::auth::Signed;
use crate::error::{ApiError, ApiResult};
use crate::ops;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/secrets", get(list)).route("/api/v1/secrets/{name}", put(put_secret).delete(delete))
}

fn view(s: SecretInfo) -> SecretView {
    SecretView { name: s.name, description: s.description, create_time: s.create_time, update_time: s.update_time }
}

async fn list(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<SecretView>>> {
    request.caller.require_admin()?;
    Ok(Json(ops::secrets::list(&state).await?.into_iter().map(view).collect()))
}

async fn put_secret(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<SecretView>> {
    request.caller.require_admin()?;
    crate::audit::note_target(&name);
    let body: PutSecret = request.json()?;
    let stored = ops::secrets::put(&state, &name, &body.value, &body.description).await?;
    tracing::info!(secret = %crate::audit::bounded(&name), by = %request.caller.key_id, "secret put");
    Ok(Json(view(stored)))
}

async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<serde_json::Value>> {
    request.caller.require_admin()?;
    crate::audit::note_target(&name);
    if !ops::secrets::delete(&state, &name).await? {
        return Err(ApiError::not_found(
            "NoSuchSecret",
            format!("secret {} does not exist", crate::audit::bounded(&name)),
        ));
    }
    tracing::info!(secret = %crate::audit::bounded(&name), by = %request.caller.key_id, "secret deleted");
    Ok(Json(serde_json::json!({})))
}
