//! The event log served: `GET /api/v1/events` (server-sent events, or a
//! JSON array with `follow=false`) and `GET /api/v1/deliveries` (the
//! trigger outbox). Streams read the log from the store and wait on the
//! [`EventBus`](crate::events::EventBus) for more.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use axum::{Json, Router};
use ferry_core::resources::DeliveryState;
use ferry_proto::api;
use ferry_store::{DeliveryFilter, Store, StoredEvent};
use tokio::sync::watch;

use crate::AppState;
use crate::auth::Signed;
use crate::driver::Driver;
use crate::error::{ApiError, ApiResult};
use crate::events::event_view;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/events", get(stream)).route("/api/v1/deliveries", get(deliveries))
}

#[derive(serde::Deserialize, Default)]
struct EventQuery {
    /// Events numbered above this (default: from the start, or the
    /// `Last-Event-ID` a reconnecting client sends).
    after: Option<u64>,
    /// Only this deployment's events; the stream ends once it is over.
    deployment: Option<String>,
    /// `false`: answer the events there are as a JSON array, and stop.
    follow: Option<bool>,
}

/// `GET /api/v1/events`: every state change as server-sent events (`id` =
/// sequence number, `event` = kind, `data` = [`api::Event`] JSON).
async fn stream(
    State(state): State<AppState>,
    Query(query): Query<EventQuery>,
    headers: HeaderMap,
    request: Signed,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    request.caller.require_operator()?;
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let after = query.after.or(resume).unwrap_or(0);
    if let Some(id) = &query.deployment {
        state.store.get_deployment(id).await.map_err(|e| match e {
            ferry_store::StoreError::NotFound => {
                ApiError::not_found("DeploymentNotFound", format!("deployment {id} does not exist"))
            }
            e => e.into(),
        })?;
    }
    if query.follow == Some(false) {
        let events = state.store.events_after(after, query.deployment.as_deref(), 10_000).await?;
        return Ok(Json(events.iter().map(event_view).collect::<Vec<_>>()).into_response());
    }
    let follower = Follower {
        store: state.store.clone(),
        driver: state.driver.clone(),
        bus: state.driver.events.subscribe(),
        after,
        deployment: query.deployment,
        buffer: VecDeque::new(),
    };
    let events = futures_util::stream::unfold(follower, |mut f| async move {
        let event = f.next().await?;
        let data = serde_json::to_string(&event_view(&event)).unwrap_or_default();
        let sse = SseEvent::default().id(event.seq.to_string()).event(event.notice.kind.as_str()).data(data);
        Some((Ok::<_, Infallible>(sse), f))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}

/// Reads the log from `after` on, waiting on the bus when it has read all.
struct Follower {
    store: Store,
    driver: Arc<Driver>,
    bus: watch::Receiver<u64>,
    after: u64,
    deployment: Option<String>,
    buffer: VecDeque<StoredEvent>,
}

impl Follower {
    /// The next event; `None` ends the stream (the server stops, or the
    /// followed deployment is over and told).
    async fn next(&mut self) -> Option<StoredEvent> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                self.after = e.seq;
                return Some(e);
            }
            if self.driver.is_shutting_down() {
                return None;
            }
            // Marked seen before reading, so a commit in between wakes us.
            self.bus.borrow_and_update();
            match self.store.events_after(self.after, self.deployment.as_deref(), 500).await {
                Ok(events) if !events.is_empty() => {
                    self.buffer.extend(events);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "event stream: cannot read events");
                    return None;
                }
            }
            if let Some(id) = &self.deployment {
                match self.store.get_deployment(id).await {
                    Ok(d) if d.status.is_terminal() && d.finalized => {
                        // Its last events may have been committed (with its
                        // end) after the read above: read once more.
                        match self.store.events_after(self.after, Some(id), 500).await {
                            Ok(events) if !events.is_empty() => {
                                self.buffer.extend(events);
                                continue;
                            }
                            _ => return None,
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
            tokio::select! {
                changed = self.bus.changed() => if changed.is_err() { return None },
                _ = self.driver.wait_shutdown() => return None,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }
}

#[derive(serde::Deserialize, Default)]
struct DeliveryQuery {
    deployment: Option<String>,
    /// Pending, Delivered or Failed.
    state: Option<String>,
}

/// `GET /api/v1/deliveries`: trigger deliveries and how they went.
async fn deliveries(
    State(state): State<AppState>,
    Query(query): Query<DeliveryQuery>,
    request: Signed,
) -> ApiResult<Json<Vec<api::Delivery>>> {
    request.caller.require_operator()?;
    let wanted = match query.state.as_deref() {
        None => None,
        Some("Pending") => Some(DeliveryState::Pending),
        Some("Delivered") => Some(DeliveryState::Delivered),
        Some("Failed") => Some(DeliveryState::Failed),
        Some(other) => {
            return Err(ApiError::bad_request(
                "InvalidRequest",
                format!("state {other:?} is not Pending, Delivered or Failed"),
            ));
        }
    };
    let filter = DeliveryFilter { deployment_id: query.deployment, state: wanted, limit: None };
    let list = state.store.list_deliveries(&filter).await?;
    Ok(Json(
        list.iter()
            .map(|d| api::Delivery {
                id: d.id.clone(),
                deployment_id: d.deployment_id.clone(),
                trigger_name: d.trigger_name.clone(),
                event: d.event.clone(),
                url: d.url.clone(),
                state: d.state.as_str().to_string(),
                attempts: d.attempts,
                last_error: d.last_error.clone(),
                create_time: d.create_time,
                delivered_time: d.delivered_time,
                next_attempt: (d.state == DeliveryState::Pending).then_some(d.next_attempt),
            })
            .collect(),
    ))
}
