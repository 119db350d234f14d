//! Scaling groups on the native API (issue #16): `/api/v1/scaling-groups`
//! over `ops::scaling_groups`. Reading takes any key but an agent's;
//! changing takes an admin key or a deployer key without scopes (they
//! belong to no application).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use ferry_core::resources::Tag;
use ferry_core::scaling::{Provider, ScalingGroup};
use ferry_proto::api;

use crate::AppState;
use crate::auth::Signed;
use crate::error::{ApiError, ApiResult};
use crate::ops::scaling_groups::{self as ops, NewScalingGroup};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/scaling-groups", get(list).post(create))
        .route("/api/v1/scaling-groups/{name}", get(show).delete(delete))
        .route("/api/v1/scaling-groups/{name}/capacity", put(set_capacity))
}

pub(crate) fn view(g: &ScalingGroup) -> api::ScalingGroupView {
    let (launch_command, terminate_command, fleet_dir) = match &g.provider {
        Provider::Command { launch, terminate } => (Some(launch.clone()), Some(terminate.clone()), None),
        Provider::Local { fleet_dir } => (None, None, Some(fleet_dir.clone())),
    };
    api::ScalingGroupView {
        name: g.name.clone(),
        provider: g.provider.kind().into(),
        launch_command,
        terminate_command,
        fleet_dir,
        min: g.min,
        desired: g.desired,
        max: g.max,
        tags: g.tags.iter().map(|t| ferry_proto::Tag { key: t.key.clone(), value: t.value.clone() }).collect(),
        hosts: g
            .hosts
            .iter()
            .map(|h| api::ScalingHostView {
                name: h.name.clone(),
                state: h.state.as_str().into(),
                launched: h.launched,
                since: h.since,
                reason: h.reason.clone(),
            })
            .collect(),
        launch_failures: g.launch_failures,
        launch_after: g.launch_after,
        launch_timeout_ms: g.launch_timeout_ms,
        replace_after_ms: g.replace_after_ms,
        deleting: g.deleting,
        create_time: g.create_time,
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidScalingGroup", message)
}

async fn create(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::ScalingGroupView>> {
    request.caller.require_writer()?;
    let body: api::CreateScalingGroup = request.json()?;
    crate::audit::note_target(&body.name);
    let provider = match body.provider.as_str() {
        "command" => match (body.launch_command, body.terminate_command) {
            (Some(launch), Some(terminate)) => Provider::Command { launch, terminate },
            _ => return Err(invalid("the command provider needs a launch command and a terminate command")),
        },
        "local" => match body.fleet_dir {
            Some(fleet_dir) => Provider::Local { fleet_dir },
            None => {
                return Err(invalid("the local provider needs the fleet directory of a `ferry fleet run --spare N`"));
            }
        },
        other => return Err(invalid(format!("the provider {other:?} is not command or local"))),
    };
    let group = ops::create(
        &state,
        NewScalingGroup {
            name: body.name,
            provider,
            min: body.min,
            desired: body.desired,
            max: body.max,
            tags: body.tags.into_iter().map(|t| Tag { key: t.key, value: t.value }).collect(),
            launch_timeout_ms: body.launch_timeout_ms,
            replace_after_ms: body.replace_after_ms,
        },
    )
    .await?;
    Ok(Json(view(&group)))
}

async fn list(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<api::ScalingGroupView>>> {
    request.caller.require_operator()?;
    Ok(Json(ops::list(&state).await?.iter().map(view).collect()))
}

async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::ScalingGroupView>> {
    request.caller.require_operator()?;
    Ok(Json(view(&ops::get(&state, &name).await?)))
}

async fn set_capacity(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::ScalingGroupView>> {
    request.caller.require_writer()?;
    let body: api::SetCapacity = request.json()?;
    crate::audit::note_target(&name);
    Ok(Json(view(&ops::set_capacity(&state, &name, body.desired, body.min, body.max).await?)))
}

async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::ScalingGroupView>> {
    request.caller.require_writer()?;
    crate::audit::note_target(&name);
    Ok(Json(view(&ops::delete(&state, &name).await?)))
}
