//! The event log's writing side and its bus (no HTTP here: the driver's
//! commit uses this; `event_stream` serves the log).
//!
//! The driver's commit (`Driver::commit`) turns every deployment change into
//! notices ([`ferry_core::notices::changes`]) and, for each notice a trigger
//! of the deployment asks for, a pending [`Delivery`]; both are stored in
//! the same transaction as the change. After the commit the [`EventBus`]
//! announces the newest event number, which wakes the event streams and
//! the trigger deliverer. The bus carries only a number: readers always
//! read the events from the store, so a slow or late reader misses nothing.

use ferry_core::Millis;
use ferry_core::deployment::Deployment;
use ferry_core::notices::{self, Notice};
use ferry_core::resources::{Delivery, DeliveryState};
use ferry_proto::api;
use ferry_store::{NewEvent, StoredEvent};
use tokio::sync::watch;

use crate::triggers;

/// The newest stored event's number, for whoever waits for more.
#[derive(Debug, Clone)]
pub struct EventBus {
    last: watch::Sender<u64>,
    /// Bumped when a commit queued trigger deliveries: only that wakes the
    /// deliverer, so commits without triggers cost it nothing.
    deliveries: watch::Sender<u64>,
}

impl EventBus {
    pub fn new(last: u64) -> Self {
        Self { last: watch::Sender::new(last), deliveries: watch::Sender::new(0) }
    }

    pub fn deliveries_added(&self) {
        self.deliveries.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe_deliveries(&self) -> watch::Receiver<u64> {
        self.deliveries.subscribe()
    }

    pub fn published(&self, seq: u64) {
        self.last.send_if_modified(|last| {
            let newer = seq > *last;
            if newer {
                *last = seq;
            }
            newer
        });
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.last.subscribe()
    }
}

pub use crate::triggers::MessageContext;

/// The events (with their deliveries) of `before` becoming `after`.
pub fn events_of(
    before: Option<&Deployment>,
    after: &Deployment,
    now: Millis,
    context: &MessageContext,
) -> Vec<NewEvent> {
    notices::changes(before, after, now)
        .into_iter()
        .map(|notice| {
            let deliveries = deliveries_for(&notice, after, now, context);
            NewEvent { notice, deliveries }
        })
        .collect()
}

fn deliveries_for(notice: &Notice, d: &Deployment, now: Millis, context: &MessageContext) -> Vec<Delivery> {
    if !notice.kind.is_trigger_event() {
        return Vec::new();
    }
    d.triggers
        .iter()
        .filter(|t| t.events.iter().any(|e| e == notice.kind.as_str()))
        .map(|trigger| {
            let id = crate::random::uuid();
            let body = triggers::message(&id, trigger, notice, d, context);
            Delivery {
                id,
                event_seq: 0,
                deployment_id: d.id.clone(),
                trigger_name: trigger.name.clone(),
                event: notice.kind.as_str().to_string(),
                url: trigger.target.clone(),
                body,
                state: DeliveryState::Pending,
                attempts: 0,
                next_attempt: now,
                last_error: None,
                delivered_time: None,
                create_time: now,
            }
        })
        .collect()
}

/// A stored event as the native API shows it (the event stream, the console).
pub fn event_view(e: &StoredEvent) -> api::Event {
    let n = &e.notice;
    api::Event {
        seq: e.seq,
        time: n.time,
        kind: n.kind.as_str().to_string(),
        deployment_id: n.deployment_id.clone(),
        application_name: n.application_name.clone(),
        group_name: n.group_name.clone(),
        instance: n.instance.clone(),
        lifecycle_event: n.lifecycle_event.clone(),
        status: n.status.clone(),
        message: n.message.clone(),
        build_id: n.build.as_ref().map(|b| b.id.clone()),
        project: n.build.as_ref().map(|b| b.project.clone()),
        build_number: n.build.as_ref().map(|b| b.number),
    }
}
