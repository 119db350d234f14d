//! Task definitions on the native API (issue #15): `/api/v1/task-definitions`
//! over `ops::task_definitions`. Definitions arrive as text (ECS's JSON)
//! and are parsed by the server, so every client gets the same errors.
//! Reading takes any key but an agent's; registering and deregistering
//! take an admin key or a deployer key without scopes.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use ferry_proto::api;

use crate::AppState;
use crate::auth::Signed;
use crate::error::ApiResult;
use crate::ops::task_definitions::{self as ops, Registered};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/task-definitions", post(register).get(list))
        .route("/api/v1/task-definitions/{name}", get(describe).delete(deregister))
}

fn view(r: Registered) -> api::TaskDefinitionView {
    api::TaskDefinitionView {
        task_definition: r.definition,
        revision: r.revision,
        status: r.status,
        registered_at: r.register_time,
    }
}

/// The body is [`api::PipelineText`]'s shape: a file name and its text.
async fn register(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::TaskDefinitionView>> {
    request.caller.require_writer()?;
    let body: api::PipelineText = request.json()?;
    let registered = ops::register(&state, &body.file, &body.text).await?;
    crate::audit::note_target(registered.name());
    Ok(Json(view(registered)))
}

#[derive(serde::Deserialize)]
struct ListQuery {
    family: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
    request: Signed,
) -> ApiResult<Json<Vec<api::TaskDefinitionView>>> {
    request.caller.require_operator()?;
    let family = query.family.filter(|f| !f.is_empty());
    Ok(Json(ops::list(&state, family.as_deref()).await?.into_iter().map(view).collect()))
}

async fn describe(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::TaskDefinitionView>> {
    request.caller.require_operator()?;
    Ok(Json(view(ops::get(&state, &name).await?)))
}

async fn deregister(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::TaskDefinitionView>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    Ok(Json(view(ops::deregister(&state, &name).await?)))
}
