//! Access keys and agents' credentials. Changes hold the driver's lock
//! (they are rare), so two admins disabling each other's keys at once
//! cannot leave the server without a usable admin key.

use ferry_core::resources::{AccessKey, Role};
use ferry_store::StoreError;

use super::OpError;
use crate::AppState;
use crate::clock::now_millis;

/// Why a key operation was refused (beyond a key that does not exist).
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyRefusal {
    #[error("a key's description is at most 256 characters")]
    Description,
    #[error("{0}")]
    Scope(String),
    #[error("access key {id} is the last admin key: create another admin key before you {doing} it")]
    LastAdmin { id: String, doing: &'static str },
    #[error("access key {0} signed this request: delete it with another key")]
    Own(String),
    #[error("access key {0} is an agent's credential: a revoked agent enrols again with the join token")]
    Agent(String),
    #[error("instance {0} has no enrolled agent")]
    NoAgent(String),
}

/// A key to create (an operator's: admin, deployer or read-only).
pub struct NewKey {
    pub role: Role,
    pub description: String,
    /// Applications or `app/group`s a deployer key is limited to.
    pub scopes: Vec<String>,
}

pub async fn create(state: &AppState, request: NewKey) -> Result<AccessKey, OpError> {
    if request.description.chars().count() > 256 {
        return Err(KeyRefusal::Description.into());
    }
    if !request.scopes.is_empty() && request.role != Role::Deployer {
        return Err(KeyRefusal::Scope(format!(
            "only deployer keys can be limited to applications and groups, not {} keys",
            request.role.as_str()
        ))
        .into());
    }
    for scope in &request.scopes {
        ferry_core::resources::validate_scope(scope).map_err(KeyRefusal::Scope)?;
    }
    let key = AccessKey {
        id: crate::random::access_key_id("FKIA"),
        secret: crate::random::secret_key(),
        role: request.role,
        instance: None,
        description: request.description,
        create_time: now_millis(),
        disabled: false,
        scopes: request.scopes,
    };
    state.store.put_access_key(&key).await?;
    Ok(key)
}

pub async fn get(state: &AppState, id: &str) -> Result<AccessKey, OpError> {
    crate::audit::note_target(id);
    match state.store.get_access_key(id).await {
        Ok(key) => Ok(key),
        Err(StoreError::NotFound) => Err(OpError::KeyNotFound(id.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Refuses to take away the last usable admin key.
async fn keep_an_admin(state: &AppState, key: &AccessKey, doing: &'static str) -> Result<(), OpError> {
    if key.role != Role::Admin || key.disabled {
        return Ok(());
    }
    let keys = state.store.list_access_keys().await?;
    if keys.iter().any(|k| k.role == Role::Admin && !k.disabled && k.id != key.id) {
        return Ok(());
    }
    Err(KeyRefusal::LastAdmin { id: key.id.clone(), doing }.into())
}

/// Disables a key: refused from its next request on.
pub async fn disable(state: &AppState, id: &str) -> Result<AccessKey, OpError> {
    let _held = state.driver.exclusive().await;
    let mut key = get(state, id).await?;
    keep_an_admin(state, &key, "disable").await?;
    key.disabled = true;
    state.store.put_access_key(&key).await?;
    Ok(key)
}

/// Enables an operator's key again (an agent enrols again instead).
pub async fn enable(state: &AppState, id: &str) -> Result<AccessKey, OpError> {
    let _held = state.driver.exclusive().await;
    let mut key = get(state, id).await?;
    if key.role == Role::Agent {
        return Err(KeyRefusal::Agent(id.to_string()).into());
    }
    key.disabled = false;
    state.store.put_access_key(&key).await?;
    Ok(key)
}

/// Deletes a key; not the one that signed the request (`by`).
pub async fn delete(state: &AppState, id: &str, by: &str) -> Result<(), OpError> {
    let _held = state.driver.exclusive().await;
    let key = get(state, id).await?;
    keep_an_admin(state, &key, "delete").await?;
    if key.id == by {
        return Err(KeyRefusal::Own(id.to_string()).into());
    }
    state.store.delete_access_key(id).await?;
    Ok(())
}

/// Revokes an instance's agent credential: its agent is refused from its
/// next request on (its held poll ends now), until it enrols again.
pub async fn revoke_instance(state: &AppState, name: &str) -> Result<AccessKey, OpError> {
    crate::audit::note_target(name);
    let _held = state.driver.exclusive().await;
    let instance = match state.store.get_instance(name).await {
        Ok(i) => i,
        Err(StoreError::NotFound) => return Err(OpError::InstanceNotFound(name.to_string())),
        Err(e) => return Err(e.into()),
    };
    let Some(key_id) = instance.agent_key_id.as_deref() else {
        return Err(KeyRefusal::NoAgent(name.to_string()).into());
    };
    let mut key = get(state, key_id).await?;
    key.disabled = true;
    state.store.put_access_key(&key).await?;
    state.driver.notify(name);
    Ok(key)
}
