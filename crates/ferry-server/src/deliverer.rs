//! The trigger deliverer: POSTs the outbox's due deliveries as signed webhooks.
//!
//! A delivery (its body fixed when its event was committed, see `triggers`)
//! stays Pending until its receiver answers 2xx (at least once: a crash
//! after the POST and before the record sends it again, with the same
//! `X-Ferry-Delivery` id), is retried with exponential backoff (0.5 s
//! doubling to 60 s), and is given up (Failed) only after [`GIVE_UP_AFTER`].
//!
//! Every request carries `X-Ferry-Signature: t=<unix seconds>,v1=<hex>`,
//! the HMAC-SHA256 under the server's webhook secret of `<t>.<body>`, so a
//! receiver can check origin, integrity and age.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_core::Millis;
use ferry_core::resources::{Delivery, DeliveryState};
use ferry_proto::errors::error_chain;
use ferry_store::Store;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::clock::now_millis;
use crate::events::EventBus;

/// A delivery still refused after this long is given up.
pub const GIVE_UP_AFTER: Millis = 24 * 3600 * 1000;
const FIRST_RETRY: Millis = 500;
const LONGEST_RETRY: Millis = 60_000;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries taken per round.
const BATCH: u32 = 200;

/// `t=<seconds>,v1=<hex HMAC-SHA256 of "<seconds>.<body>">`.
pub fn signature(secret: &[u8], unix_seconds: u64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!("t={unix_seconds},v1={}", ferry_sigv4::hex(&digest))
}

/// How long after attempt `attempts` (1-based) the next one comes.
pub fn backoff(attempts: u32) -> Millis {
    FIRST_RETRY.saturating_mul(1 << attempts.saturating_sub(1).min(20)).min(LONGEST_RETRY)
}

/// POSTs due deliveries until `stop`, waking for new events and due retries.
pub async fn deliver_forever(
    store: Store,
    secret: Arc<Vec<u8>>,
    bus: EventBus,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; triggers are not delivered");
            return;
        }
    };
    let mut events = bus.subscribe_deliveries();
    loop {
        let wait = match deliver_due(&store, &client, &secret).await {
            Ok(()) => match store.next_delivery_time().await {
                Ok(Some(next)) => Duration::from_millis(next.saturating_sub(now_millis()).clamp(20, 5_000)),
                Ok(None) => Duration::from_secs(5),
                Err(_) => Duration::from_secs(1),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the trigger outbox");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = events.changed() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One round: every due delivery, receivers in parallel, each receiver's
/// deliveries in order. A receiver that refuses one gets the rest of the
/// round later, at the same time as that one, so its order holds.
async fn deliver_due(store: &Store, client: &reqwest::Client, secret: &[u8]) -> Result<(), ferry_store::StoreError> {
    let due = store.due_deliveries(now_millis(), BATCH).await?;
    let mut by_url: HashMap<String, Vec<Delivery>> = HashMap::new();
    for d in due {
        by_url.entry(d.url.clone()).or_default().push(d);
    }
    let rounds = by_url.into_values().map(|deliveries| async move {
        let mut postponed_until = None;
        for mut delivery in deliveries {
            if let Some(until) = postponed_until {
                delivery.next_attempt = until;
            } else {
                let outcome = post(client, secret, &delivery).await;
                record(&mut delivery, outcome, now_millis());
                if delivery.state == DeliveryState::Pending {
                    postponed_until = Some(delivery.next_attempt);
                }
            }
            if let Err(e) = store.update_delivery(&delivery).await {
                tracing::warn!(delivery = %delivery.id, error = %e, "cannot record a delivery attempt");
            }
        }
    });
    futures_util::future::join_all(rounds).await;
    Ok(())
}

async fn post(client: &reqwest::Client, secret: &[u8], delivery: &Delivery) -> Result<(), String> {
    let unix = now_millis() / 1000;
    let answer = client
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("ferry/", env!("CARGO_PKG_VERSION")))
        .header("x-ferry-delivery", &delivery.id)
        .header("x-ferry-event", &delivery.event)
        .header("x-ferry-signature", signature(secret, unix, &delivery.body))
        .body(delivery.body.clone())
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    let status = answer.status();
    if status.is_success() { Ok(()) } else { Err(format!("the receiver answered {status}")) }
}

/// Applies an attempt's outcome to the delivery.
pub fn record(delivery: &mut Delivery, outcome: Result<(), String>, now: Millis) {
    delivery.attempts += 1;
    match outcome {
        Ok(()) => {
            delivery.state = DeliveryState::Delivered;
            delivery.delivered_time = Some(now);
            delivery.last_error = None;
        }
        Err(e) => {
            tracing::debug!(delivery = %delivery.id, url = %delivery.url, error = %e, "delivery refused");
            delivery.last_error = Some(e);
            delivery.next_attempt = now + backoff(delivery.attempts);
            if now.saturating_sub(delivery.create_time) >= GIVE_UP_AFTER {
                delivery.state = DeliveryState::Failed;
                tracing::warn!(delivery = %delivery.id, url = %delivery.url, "delivery given up");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_time_and_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(signature(b"Jefe", 1_700_000_000, "{\"a\":1}"), format!("t=1700000000,v1={hex}"));
        assert_ne!(signature(b"k", 1, "a"), signature(b"k", 2, "a"), "the time is signed");
        assert_ne!(signature(b"k", 1, "a"), signature(b"k", 1, "b"), "the body is signed");
    }

    #[test]
    fn retries_back_off_and_give_up_after_a_day() {
        assert_eq!([1, 2, 3, 8, 9, 40].map(backoff), [500, 1000, 2000, 60_000, 60_000, 60_000]);
        let mut d = Delivery {
            id: "x".into(),
            event_seq: 1,
            deployment_id: "d".into(),
            trigger_name: "t".into(),
            event: "DeploymentStart".into(),
            url: "http://x".into(),
            body: "{}".into(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt: 0,
            last_error: None,
            delivered_time: None,
            create_time: 0,
        };
        record(&mut d, Err("refused".into()), 10);
        assert_eq!((d.state, d.attempts, d.next_attempt), (DeliveryState::Pending, 1, 510));
        record(&mut d, Err("refused".into()), GIVE_UP_AFTER);
        assert_eq!(d.state, DeliveryState::Failed);
        let mut ok = d.clone();
        ok.state = DeliveryState::Pending;
        record(&mut ok, Ok(()), 99);
        assert_eq!((ok.state, ok.delivered_time, ok.last_error), (DeliveryState::Delivered, Some(99), None));
    }
}
