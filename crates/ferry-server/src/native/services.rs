//! Container services on the native API (issue #15): `/api/v1/services`
//! over `ops::services`. Reading takes any key but an agent's; changing
//! takes an admin key or a deployer key without scopes (services belong
//! to no application, like build projects).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use ferry_ecs::service::{HostTag, LastStatus};
use ferry_proto::api;

use crate::AppState;
use crate::auth::Signed;
use crate::error::ApiResult;
use crate::ops::services::{self as ops, Described};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/services", get(list).post(create))
        .route("/api/v1/services/{name}", get(describe).patch(update).delete(delete))
}

pub(crate) fn view(d: Described) -> api::ServiceView {
    let running_count = d.tasks.iter().filter(|t| t.is_ready()).count() as u32;
    let pending_count = d.tasks.iter().filter(|t| t.is_live() && t.last_status == LastStatus::Pending).count() as u32;
    api::ServiceView { service: d.service, tasks: d.tasks, running_count, pending_count }
}

async fn create(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::ServiceView>> {
    request.caller.require_writer()?;
    let body: api::CreateService = request.json()?;
    crate::audit::note_target(&body.name);
    let service = ops::create(
        &state,
        ops::NewService {
            name: body.name,
            task_definition: body.task_definition,
            desired_count: body.desired_count,
            hosts: body.hosts.into_iter().map(|t| HostTag { key: t.key, value: t.value }).collect(),
            target_group: body.target_group,
            container_name: body.container_name,
            container_port: body.container_port,
        },
    )
    .await?;
    Ok(Json(view(Described { service, tasks: Vec::new() })))
}

async fn list(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<api::ServiceView>>> {
    request.caller.require_operator()?;
    Ok(Json(ops::list(&state).await?.into_iter().map(view).collect()))
}

async fn describe(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::ServiceView>> {
    request.caller.require_operator()?;
    Ok(Json(view(ops::get(&state, &name).await?)))
}

async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::ServiceView>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let body: api::UpdateService = request.json()?;
    ops::update(
        &state,
        &name,
        ops::UpdateService { desired_count: body.desired_count, task_definition: body.task_definition },
    )
    .await?;
    Ok(Json(view(ops::get(&state, &name).await?)))
}

async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::ServiceView>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    let service = ops::delete(&state, &name).await?;
    let tasks = ops::get(&state, &name).await.map(|d| d.tasks).unwrap_or_default();
    Ok(Json(view(Described { service, tasks })))
}
