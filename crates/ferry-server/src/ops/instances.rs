//! Instances: what every API (and scaling groups) does to them the same way.

use ferry_store::StoreError;

use super::OpError;
use crate::AppState;
use crate::clock::now_millis;

/// Deregisters an instance: it leaves every deployment group and its
/// agent's credential is revoked. `registered_since`: only a registration
/// at or after this time is deregistered (a scaling group leaves alone an
/// instance of the name that is not the host it launched). Returns whether
/// an instance was deregistered; an unknown one is no error.
pub async fn deregister(state: &AppState, name: &str, registered_since: Option<u64>) -> Result<bool, OpError> {
    let mut instance = match state.store.get_instance(name).await {
        Ok(i) if i.deregister_time.is_none() && registered_since.is_none_or(|t| i.register_time >= t) => i,
        Ok(_) | Err(StoreError::NotFound) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if let Some(key_id) = instance.agent_key_id.take()
        && let Ok(mut key) = state.store.get_access_key(&key_id).await
    {
        key.disabled = true;
        state.store.put_access_key(&key).await?;
    }
    instance.deregister_time = Some(now_millis());
    state.store.upsert_instance(&instance).await?;
    state.driver.joins_wake.notify_one();
    tracing::info!(instance = %name, "instance deregistered; its agent credential is revoked");
    Ok(true)
}
