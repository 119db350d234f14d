//! Pipelines on the native API (issue #14): `/api/v1/pipelines` over
//! `ops::pipelines`. Declarations arrive as text (JSON or YAML) and are
//! parsed by the server, so every client gets the same errors. Reading
//! takes any key but an agent's; changing pipelines takes an admin key or a
//! deployer key without scopes (pipelines belong to no one application).

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use ferry_proto::api;

use crate::AppState;
use crate::auth::Signed;
use crate::error::{ApiError, ApiResult};
use crate::ops;
use crate::ops::pipelines::Pipeline;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/pipelines", post(create).get(list))
        .route("/api/v1/pipelines/{name}", get(show).put(update).delete(delete))
}

fn view(p: Pipeline) -> api::PipelineView {
    let metadata = api::PipelineMetadata {
        name: p.declaration.name.clone(),
        version: p.declaration.version.unwrap_or(1),
        created: p.create_time,
        updated: p.update_time,
    };
    api::PipelineView { pipeline: p.declaration, metadata }
}

async fn create(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::PipelineView>> {
    request.caller.require_writer()?;
    let body: api::PipelineText = request.json()?;
    let declaration = ops::pipelines::parse(&body.file, &body.text)?;
    crate::audit::note_target(&declaration.name);
    Ok(Json(view(ops::pipelines::create(&state, declaration).await?)))
}

async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::PipelineView>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let body: api::PipelineText = request.json()?;
    let declaration = ops::pipelines::parse(&body.file, &body.text)?;
    if declaration.name != name {
        return Err(ApiError::bad_request(
            "InvalidRequest",
            format!("{} declares pipeline {}, not {name}", body.file, declaration.name),
        ));
    }
    Ok(Json(view(ops::pipelines::update(&state, declaration).await?)))
}

#[derive(serde::Deserialize)]
struct ShowQuery {
    version: Option<u32>,
}

async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ShowQuery>,
    request: Signed,
) -> ApiResult<Json<api::PipelineView>> {
    request.caller.require_operator()?;
    Ok(Json(view(ops::pipelines::get(&state, &name, query.version).await?)))
}

async fn list(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<api::PipelineView>>> {
    request.caller.require_operator()?;
    Ok(Json(ops::pipelines::list(&state).await?.into_iter().map(view).collect()))
}

async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<serde_json::Value>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    ops::pipelines::delete(&state, &name).await?;
    Ok(Json(serde_json::json!({})))
}
