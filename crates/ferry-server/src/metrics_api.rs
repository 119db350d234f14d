//! `/metrics` in Prometheus's text format, and the middleware that times
//! every request.
//!
//! Counted as they happen (`metrics`): API request durations (by API and
//! status class) and lifecycle-event durations (from the driver's commits).
//! Read at scrape time: deployments by status (the store), connected
//! agents (the driver), load-balancer members' health, weight, in-flight
//! and total requests (each target group's load balancer), pending trigger
//! deliveries and the event log's length.
//!
//! Scrapes are authenticated like everything else: with a bearer token
//! (`<data_dir>/metrics-token`, created on first start; Prometheus's
//! `authorization: {credentials_file: …}`) or a SigV4-signed request of an
//! operator key.

use std::fmt::Write as _;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ferry_core::resources::DeliveryState;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::metrics::label;

fn api_of(path: &str) -> &'static str {
    if path.starts_with("/agent/") {
        "agent"
    } else if path.starts_with("/api/") {
        "native"
    } else if path.starts_with("/console") {
        "console"
    } else if path == "/" {
        "aws"
    } else {
        "other"
    }
}

/// Times every request (the middleware of the whole router). Streams
/// (event streams, bundle downloads) count until their headers.
pub async fn time_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let api = api_of(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let class = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    state.driver.metrics.observe_request(api, class, started.elapsed().as_secs_f64());
    response
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<AppState>, headers: HeaderMap, request: Request) -> ApiResult<Response> {
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(crate::auth::bearer_token);
    match bearer {
        Some(token) if bool::from(token.as_bytes().ct_eq(state.metrics_token.as_bytes())) => {}
        Some(_) => return Err(ApiError::forbidden("the metrics token is not right")),
        None => {
            let (parts, _) = request.into_parts();
            crate::auth::authenticate(&state, &parts, b"").await?.require_operator()?;
        }
    }
    let text = render(&state).await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

async fn render(state: &AppState) -> ApiResult<String> {
    let mut out = String::new();
    out.push_str("# HELP ferry_deployments Deployments by status.\n# TYPE ferry_deployments gauge\n");
    let mut counts = state.store.count_deployments_by_status().await?;
    counts.sort_by_key(|(s, _)| s.as_str());
    for (status, n) in counts {
        let _ = writeln!(out, "ferry_deployments{{status=\"{}\"}} {n}", status.as_str());
    }
    let instances = state.store.list_instances(false).await?;
    let connected = instances.iter().filter(|i| state.driver.is_online(&i.name)).count();
    out.push_str("# HELP ferry_instances Registered instances.\n# TYPE ferry_instances gauge\n");
    let _ = writeln!(out, "ferry_instances {}", instances.len());
    out.push_str(
        "# HELP ferry_agents_connected Instances whose agent was heard from recently.\n# TYPE ferry_agents_connected gauge\n",
    );
    let _ = writeln!(out, "ferry_agents_connected {connected}");

    state.driver.metrics.render(&mut out);

    let groups = state.store.list_target_groups().await?;
    let mut lb = String::new();
    let (mut healthy, mut weight, mut in_flight, mut requests) =
        (String::new(), String::new(), String::new(), String::new());
    for group in &groups {
        let Ok(members) = state.driver.traffic.status(&group.name).await else {
            let _ = writeln!(lb, "ferry_lb_up{{target_group=\"{}\"}} 0", label(&group.name));
            continue;
        };
        let _ = writeln!(lb, "ferry_lb_up{{target_group=\"{}\"}} 1", label(&group.name));
        for m in members {
            let labels = format!("target_group=\"{}\",member=\"{}\"", label(&group.name), label(&m.name));
            let up = u8::from(m.health == ferry_lb::Health::Healthy);
            let _ = writeln!(healthy, "ferry_lb_member_healthy{{{labels}}} {up}");
            let _ = writeln!(weight, "ferry_lb_member_weight{{{labels}}} {}", m.weight);
            let _ = writeln!(in_flight, "ferry_lb_member_in_flight{{{labels}}} {}", m.in_flight);
            let _ = writeln!(requests, "ferry_lb_requests_total{{{labels}}} {}", m.requests);
        }
    }
    out.push_str("# HELP ferry_lb_up Whether the target group's load balancer answers.\n# TYPE ferry_lb_up gauge\n");
    out.push_str(&lb);
    out.push_str("# HELP ferry_lb_member_healthy 1 if the load balancer's health check passes.\n");
    out.push_str("# TYPE ferry_lb_member_healthy gauge\n");
    out.push_str(&healthy);
    out.push_str("# HELP ferry_lb_member_weight The member's weight.\n# TYPE ferry_lb_member_weight gauge\n");
    out.push_str(&weight);
    out.push_str("# HELP ferry_lb_member_in_flight Requests in progress.\n# TYPE ferry_lb_member_in_flight gauge\n");
    out.push_str(&in_flight);
    out.push_str(
        "# HELP ferry_lb_requests_total Requests sent to the member.\n# TYPE ferry_lb_requests_total counter\n",
    );
    out.push_str(&requests);

    let pending = state
        .store
        .list_deliveries(&ferry_store::DeliveryFilter {
            state: Some(DeliveryState::Pending),
            limit: Some(100_000),
            ..Default::default()
        })
        .await?
        .len();
    out.push_str(
        "# HELP ferry_trigger_deliveries_pending Trigger notifications not yet taken by their receiver.\n\
         # TYPE ferry_trigger_deliveries_pending gauge\n",
    );
    let _ = writeln!(out, "ferry_trigger_deliveries_pending {pending}");
    out.push_str("# HELP ferry_events_total State changes recorded.\n# TYPE ferry_events_total counter\n");
    let _ = writeln!(out, "ferry_events_total {}", state.store.last_event_seq().await?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apis_are_named() {
        assert_eq!(api_of("/agent/v1/poll"), "agent");
        assert_eq!(api_of("/"), "aws");
        assert_eq!(api_of("/api/v1/deployments"), "native");
    }
}
