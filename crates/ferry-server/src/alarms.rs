//! Alarms (CodeDeploy's `alarmConfiguration`) evaluated against Prometheus.
//!
//! An alarm is a named PromQL expression; it is *firing* while the
//! expression returns any sample (a vector with elements, or a non-zero
//! scalar), the way a Prometheus alerting rule fires. Groups name alarms;
//! each deployment copies its group's alarm settings (or CreateDeployment's
//! override) when created. While a deployment is active, and while it
//! bakes after its last instance, the watcher evaluates its alarms every
//! `alarm_interval`: a firing alarm stops it with ALARM_ACTIVE (and
//! DEPLOYMENT_STOP_ON_ALARM in its auto-rollback settings rolls it back); an
//! alarm that cannot be evaluated (Prometheus unreachable, a bad
//! expression, an alarm that does not exist) stops it too, unless
//! `ignore_poll_alarm_failure` says to go on.
//!
//! Routes: `/api/v1/alarms` (create or replace, list), `/api/v1/alarms/{name}`
//! (show, delete), and `/api/v1/alarms/{name}/state` (evaluate now).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use ferry_core::deployment::ErrorCode;
use ferry_core::machine::Input;
use ferry_core::resources::Alarm;
use ferry_proto::api;
use ferry_store::StoreError;
use serde_json::Value;

use crate::AppState;
use crate::auth::Signed;
use crate::clock::now_millis;
use crate::driver::Driver;
use crate::error::{ApiError, ApiResult};

const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alarms", get(list).post(put))
        .route("/api/v1/alarms/{name}", get(show).delete(delete))
        .route("/api/v1/alarms/{name}/state", get(state_now))
}

fn view(a: &Alarm) -> api::Alarm {
    api::Alarm { name: a.name.clone(), expression: a.expression.clone(), prometheus_url: a.prometheus_url.clone() }
}

/// Whether `url` can be a Prometheus's address.
pub fn check_url(url: &str) -> Result<(), String> {
    reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|_| ())
        .ok_or_else(|| format!("{url:?} is not an http(s) URL"))
}

/// The alarm, or a 404 that says how to create it.
pub async fn find(state: &AppState, name: &str) -> ApiResult<Alarm> {
    state.store.get_alarm(name).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found(
            "AlarmNotFound",
            format!("alarm {name} does not exist (create it with `ferry alarm create {name} --expr PROMQL`)"),
        ),
        e => e.into(),
    })
}

async fn put(State(state): State<AppState>, request: Signed) -> ApiResult<Json<api::Alarm>> {
    request.caller.require_writer()?;
    let body: api::Alarm = request.json()?;
    if body.name.is_empty() || body.name.chars().count() > 255 {
        return Err(ApiError::bad_request("InvalidAlarm", "an alarm name has 1 to 255 characters"));
    }
    if body.expression.trim().is_empty() {
        return Err(ApiError::bad_request("InvalidAlarm", format!("alarm {}: the expression is empty", body.name)));
    }
    if let Some(url) = &body.prometheus_url {
        check_url(url).map_err(|m| ApiError::bad_request("InvalidAlarm", m))?;
    }
    let alarm = Alarm {
        name: body.name.clone(),
        expression: body.expression.clone(),
        prometheus_url: body.prometheus_url.clone(),
        create_time: now_millis(),
    };
    state.store.put_alarm(&alarm).await?;
    Ok(Json(view(&alarm)))
}

async fn list(State(state): State<AppState>, request: Signed) -> ApiResult<Json<Vec<api::Alarm>>> {
    request.caller.require_operator()?;
    Ok(Json(state.store.list_alarms().await?.iter().map(view).collect()))
}

async fn show(State(state): State<AppState>, Path(name): Path<String>, request: Signed) -> ApiResult<Json<api::Alarm>> {
    request.caller.require_operator()?;
    Ok(Json(view(&find(&state, &name).await?)))
}

async fn delete(State(state): State<AppState>, Path(name): Path<String>, request: Signed) -> ApiResult<Json<Value>> {
    request.caller.require_writer()?;
    find(&state, &name).await?;
    state.store.delete_alarm(&name).await?;
    Ok(Json(serde_json::json!({})))
}

/// `{"name", "state": "ALARM" | "OK" | "UNKNOWN", "reason"}`: evaluated now.
async fn state_now(State(state): State<AppState>, Path(name): Path<String>, request: Signed) -> ApiResult<Json<Value>> {
    request.caller.require_operator()?;
    let alarm = find(&state, &name).await?;
    let evaluator = Evaluator::new(state.config.prometheus_url.clone());
    let (word, reason) = match evaluator.firing(&alarm, None).await {
        Ok(true) => ("ALARM", None),
        Ok(false) => ("OK", None),
        Err(e) => ("UNKNOWN", Some(e)),
    };
    Ok(Json(serde_json::json!({"name": name, "state": word, "reason": reason})))
}

/// Queries Prometheus.
pub struct Evaluator {
    client: reqwest::Client,
    default_url: Option<String>,
}

impl Evaluator {
    pub fn new(default_url: Option<String>) -> Self {
        let client = reqwest::Client::builder().timeout(QUERY_TIMEOUT).build().unwrap_or_default();
        Self { client, default_url }
    }

    /// Whether the alarm fires now, asking the alarm's own Prometheus, else
    /// `group_url`, else the server's; an error says why it could not be told.
    pub async fn firing(&self, alarm: &Alarm, group_url: Option<&str>) -> Result<bool, String> {
        let base = alarm.prometheus_url.as_deref().or(group_url).or(self.default_url.as_deref()).ok_or_else(|| {
            format!(
                "alarm {} names no Prometheus, nor does its group, and the server has no --prometheus-url",
                alarm.name
            )
        })?;
        let url = format!("{}/api/v1/query", base.trim_end_matches('/'));
        let url = reqwest::Url::parse_with_params(&url, [("query", alarm.expression.as_str())])
            .map_err(|e| format!("alarm {}: bad Prometheus URL {base:?}: {e}", alarm.name))?;
        let answer =
            self.client.get(url).send().await.map_err(|e| format!("cannot reach Prometheus at {base}: {e}"))?;
        let status = answer.status();
        let bytes = answer.bytes().await.map_err(|e| format!("reading Prometheus's answer: {e}"))?;
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("Prometheus at {base} answered {status} without JSON: {e}"))?;
        parse_query_answer(&body).map_err(|e| format!("alarm {}: {e}", alarm.name))
    }
}

/// Whether a Prometheus instant-query answer holds any sample.
pub fn parse_query_answer(body: &Value) -> Result<bool, String> {
    if body["status"] != "success" {
        let error = body["error"].as_str().unwrap_or("no error given");
        return Err(format!("Prometheus refused the query: {error}"));
    }
    let data = &body["data"];
    match data["resultType"].as_str() {
        Some("vector") | Some("matrix") => Ok(data["result"].as_array().is_some_and(|samples| !samples.is_empty())),
        Some("scalar") => {
            let value = data["result"][1].as_str().unwrap_or("0");
            Ok(value.parse::<f64>().is_ok_and(|v| v != 0.0 && !v.is_nan()))
        }
        other => Err(format!("unexpected result type {other:?}")),
    }
}

/// CodeDeploy's message, with Prometheus for CloudWatch.
fn activated_message(names: &[String]) -> String {
    format!(
        "One or more alarms have been activated according to the Prometheus metrics you selected, and the affected deployments have been stopped. Activated alarms: {}",
        names.join(" ")
    )
}

/// Evaluates the alarms of every running deployment every `interval`, until `stop`.
pub async fn watch_forever(
    driver: Arc<Driver>,
    store: ferry_store::Store,
    evaluator: Evaluator,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        for d in driver.watching_alarms() {
            let mut activated = Vec::new();
            let mut failures = Vec::new();
            for name in &d.alarms.alarms {
                let outcome = match store.get_alarm(name).await {
                    Ok(alarm) => evaluator.firing(&alarm, d.alarms.prometheus_url.as_deref()).await,
                    Err(StoreError::NotFound) => Err(format!("alarm {name} does not exist")),
                    Err(e) => Err(format!("cannot read alarm {name}: {e}")),
                };
                match outcome {
                    Ok(true) => activated.push(name.clone()),
                    Ok(false) => {}
                    Err(e) => failures.push(e),
                }
            }
            let message = if !activated.is_empty() {
                activated_message(&activated)
            } else if !failures.is_empty() && !d.alarms.ignore_poll_alarm_failure {
                format!(
                    "The deployment was stopped because its alarms could not be evaluated ({}); set ignorePollAlarmFailure to go on when they cannot be.",
                    failures.join("; ")
                )
            } else {
                for f in &failures {
                    tracing::warn!(deployment = %d.id, error = %f, "alarm not evaluated (ignored)");
                }
                continue;
            };
            tracing::warn!(deployment = %d.id, %message, "stopping a deployment on its alarms");
            let stopped =
                driver.apply(&d.id, Input::Stop { rollback: None, code: ErrorCode::AlarmActive, message }).await;
            if let Err(e) = stopped {
                tracing::warn!(deployment = %d.id, error = %e, "cannot stop a deployment on its alarms");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn any_sample_fires() {
        let vector = |result: Value| json!({"status": "success", "data": {"resultType": "vector", "result": result}});
        assert_eq!(parse_query_answer(&vector(json!([]))), Ok(false));
        assert_eq!(parse_query_answer(&vector(json!([{"metric": {}, "value": [1, "0.7"]}]))), Ok(true));
        let scalar = |v: &str| json!({"status": "success", "data": {"resultType": "scalar", "result": [1, v]}});
        assert_eq!(parse_query_answer(&scalar("0")), Ok(false));
        assert_eq!(parse_query_answer(&scalar("2")), Ok(true));
        let refused = json!({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"});
        assert!(parse_query_answer(&refused).unwrap_err().contains("parse error at char 3"));
    }

    #[test]
    fn the_message_names_the_alarms() {
        let m = activated_message(&["errors".into(), "latency".into()]);
        assert!(m.ends_with("Activated alarms: errors latency"), "{m}");
    }
}
