//! `/api/v1/target-groups`: load balancers' target groups, and their views
//! (members as ferry wants them, health as the load balancer sees it).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use ferry_core::resources::{Balancer, HealthCheck, MemberState, TargetGroup};
use ferry_proto::api;

use crate::AppState;
use crate::auth::Signed;
use crate::clock::now_millis;
use crate::error::{ApiError, ApiResult};
use crate::traffic::Traffic;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/target-groups", get(list).post(create))
        .route("/api/v1/target-groups/{name}", get(show).delete(delete))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("InvalidTargetGroup", message)
}

/// Checks a request and makes the target group (no members yet).
pub fn from_request(body: &api::CreateTargetGroup) -> ApiResult<TargetGroup> {
    ferry_core::ids::validate_name(&body.name).map_err(invalid)?;
    if body.port == 0 {
        return Err(invalid("the port must be between 1 and 65535"));
    }
    let balancer = match (&body.listen, &body.haproxy_socket, &body.haproxy_backend) {
        (Some(listen), None, None) => {
            let check = |addr: &str, what: &str| {
                addr.parse::<std::net::SocketAddr>()
                    .map(|_| ())
                    .map_err(|_| invalid(format!("the {what} address {addr:?} is not ip:port")))
            };
            check(listen, "listen")?;
            if let Some(test) = &body.test_listen {
                check(test, "test listen")?;
            }
            Balancer::Builtin { listen: listen.clone(), test_listen: body.test_listen.clone() }
        }
        (None, Some(socket), Some(backend)) => {
            ferry_lb::haproxy::Socket::parse(socket).map_err(|e| invalid(e.to_string()))?;
            if body.test_listen.is_some() {
                return Err(invalid("a test listener is the built-in proxy's; HAProxy's are configured in HAProxy"));
            }
            Balancer::HaProxy { socket: socket.clone(), backend: backend.clone() }
        }
        _ => {
            return Err(invalid(
                "give either a listen address (the built-in proxy) or an HAProxy runtime socket and backend",
            ));
        }
    };
    if !body.health_path.starts_with('/') {
        return Err(invalid(format!("the health check path {:?} must start with /", body.health_path)));
    }
    if body.health_interval_ms < 10 || body.health_timeout_ms == 0 {
        return Err(invalid("the health check interval must be at least 10 ms and its timeout above 0"));
    }
    // A timeout far above the interval would let checks pile up.
    if body.health_timeout_ms > body.health_interval_ms * 10 {
        return Err(invalid(format!(
            "the health check timeout ({} ms) must be at most 10 times the interval ({} ms)",
            body.health_timeout_ms, body.health_interval_ms
        )));
    }
    if body.healthy_threshold == 0 || body.unhealthy_threshold == 0 {
        return Err(invalid("health thresholds must be at least 1"));
    }
    Ok(TargetGroup {
        id: crate::random::uuid(),
        name: body.name.clone(),
        port: body.port,
        health_check: HealthCheck {
            path: body.health_path.clone(),
            interval_ms: body.health_interval_ms,
            timeout_ms: body.health_timeout_ms,
            healthy_threshold: body.healthy_threshold,
            unhealthy_threshold: body.unhealthy_threshold,
        },
        deregistration_delay_ms: body.deregistration_delay_ms,
        healthy_timeout_ms: body.healthy_timeout_ms,
        balancer,
        members: Vec::new(),
        create_time: now_millis(),
    })
}

/// The target group with its members' live health and traffic shares.
pub async fn view(traffic: &Traffic, tg: &TargetGroup) -> api::TargetGroupView {
    let (live, balancer_error) = match traffic.status(&tg.name).await {
        Ok(live) => (live, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let routable = |m: &&ferry_core::resources::TargetMember| m.state == MemberState::Ready;
    let total: u64 = tg.members.iter().filter(routable).map(|m| u64::from(m.weight)).sum();
    let members = tg
        .members
        .iter()
        .map(|m| {
            let status = live.iter().find(|s| s.name == m.instance);
            let share = if m.state == MemberState::Ready && total > 0 {
                ((u64::from(m.weight) * 100 + total / 2) / total) as u32
            } else {
                0
            };
            api::MemberView {
                instance: m.instance.clone(),
                address: m.address.clone(),
                weight: m.weight,
                state: match m.state {
                    MemberState::Ready => "ready",
                    MemberState::Draining => "draining",
                    MemberState::Removed => "removed",
                }
                .into(),
                health: status.map(|s| s.health.as_str()).unwrap_or("unknown").into(),
                in_flight: status.map(|s| s.in_flight).unwrap_or(0),
                traffic_percent: share,
                test: m.test,
            }
        })
        .collect();
    let (listen, test_listen, haproxy_socket, haproxy_backend) = match &tg.balancer {
        Balancer::Builtin { listen, test_listen } => (Some(listen.clone()), test_listen.clone(), None, None),
        Balancer::HaProxy { socket, backend } => (None, None, Some(socket.clone()), Some(backend.clone())),
    };
    api::TargetGroupView {
        name: tg.name.clone(),
        port: tg.port,
        balancer: match tg.balancer {
            Balancer::Builtin { .. } => "builtin",
            Balancer::HaProxy { .. } => "haproxy",
        }
        .into(),
        listen,
        test_listen,
        haproxy_socket,
        haproxy_backend,
        health_path: tg.health_check.path.clone(),
        health_interval_ms: tg.health_check.interval_ms,
        health_timeout_ms: tg.health_check.timeout_ms,
        healthy_threshold: tg.health_check.healthy_threshold,
        unhealthy_threshold: tg.health_check.unhealthy_threshold,
        deregistration_delay_ms: tg.deregistration_delay_ms,
        healthy_timeout_ms: tg.healthy_timeout_ms,
        members,
        balancer_error,
    }
}

async fn create(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::TargetGroupView>> {
    request.caller.require_writer()?;
    let body: api::CreateTargetGroup = request.json()?;
    let tg = crate::ops::target_groups::create(&state, from_request(&body)?).await?;
    Ok(Json(view(&state.driver.traffic, &tg).await))
}

async fn list(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<api::TargetGroupView>>> {
    request.caller.require_operator()?;
    let mut out = Vec::new();
    for tg in state.store.list_target_groups().await? {
        out.push(view(&state.driver.traffic, &tg).await);
    }
    Ok(Json(out))
}

pub async fn get_target_group(state: &AppState, name: &str) -> ApiResult<TargetGroup> {
    Ok(crate::ops::target_groups::get(state, name).await?)
}

async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<api::TargetGroupView>> {
    request.caller.require_operator()?;
    let tg = get_target_group(&state, &name).await?;
    Ok(Json(view(&state.driver.traffic, &tg).await))
}

async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Signed,
) -> ApiResult<Json<serde_json::Value>> {
    request.caller.require_writer()?;
    crate::ops::target_groups::delete(&state, &name).await?;
    Ok(Json(serde_json::json!({})))
}
