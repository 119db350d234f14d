//! Ferry secrets: named values sealed at rest (the store's secrets key),
//! which builds read when they start: project variables of kind Secret,
//! a buildspec's `env.parameter-store` and `env.secrets-manager` entries,
//! and the shared secrets and API tokens of build webhooks.
//!
//! Values go in (`put`) and out only through [`resolve`], for the build
//! hand-off and the webhook check: no API answer and no log line carries one.

use ferry_store::{SecretInfo, StoreError};

use super::OpError;
use crate::AppState;

/// The longest name: Parameter Store's limit for a full path.
pub const MAX_NAME: usize = 512;
/// The largest value (Secrets Manager's limit).
pub const MAX_VALUE: usize = 64 << 10;

/// Names are letters, digits and `/_+=.@-`, 1 to 512 characters, so that
/// Parameter Store paths (`/prod/db/password`) and Secrets Manager names
/// (`prod/db-creds`) work as they are; `.` and `..` as a path part are
/// refused (no URL could reach them).
pub fn check_name(name: &str) -> Result<(), OpError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(allowed) {
        return Err(OpError::Invalid(format!(
            "secret name {:?}: 1 to {MAX_NAME} letters, digits and /_+=.@- characters",
            crate::audit::bounded(name)
        )));
    }
    if name.split('/').any(|part| part == "." || part == "..") {
        return Err(OpError::Invalid(format!("secret name {name:?}: \".\" and \"..\" cannot be parts of a name")));
    }
    Ok(())
}

fn not_found(name: &str) -> OpError {
    OpError::Invalid(format!("secret {name} does not exist (create it with `ferry secret put {name}`)"))
}

/// Creates or replaces a secret (a replaced one keeps its creation time).
pub async fn put(state: &AppState, name: &str, value: &str, description: &str) -> Result<SecretInfo, OpError> {
    check_name(name)?;
    if value.len() > MAX_VALUE {
        return Err(OpError::Invalid(format!(
            "the value of secret {name} has {} bytes; at most {MAX_VALUE} are kept",
            value.len()
        )));
    }
    if description.chars().count() > 1024 {
        return Err(OpError::Invalid("a secret's description has at most 1024 characters".into()));
    }
    let now = state.driver.now();
    let info = SecretInfo { name: name.into(), description: description.into(), create_time: now, update_time: now };
    let stored = state.store.put_secret(&info, value).await?;
    tracing::info!(secret = %name, "secret stored");
    Ok(stored)
}

/// Every secret's name, description and times (never a value).
pub async fn list(state: &AppState) -> Result<Vec<SecretInfo>, OpError> {
    Ok(state.store.list_secrets().await?)
}

/// Deletes a secret; `false` if there was none of that name.
pub async fn delete(state: &AppState, name: &str) -> Result<bool, OpError> {
    check_name(name)?;
    match state.store.delete_secret(name).await {
        Ok(()) => {
            tracing::info!(secret = %name, "secret deleted");
            Ok(true)
        }
        Err(StoreError::NotFound) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The value of a secret, for the server's own use: the build hand-off
/// (the value goes to the build host, which masks it in the build's log)
/// and webhook signature checks. A missing secret is the request's error.
pub async fn resolve(state: &AppState, name: &str) -> Result<String, OpError> {
    check_name(name)?;
    match state.store.get_secret(name).await {
        Ok(value) => Ok(value),
        Err(StoreError::NotFound) => Err(not_found(name)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use ferry_store::SecretsKey;

    use super::*;

    pub(crate) async fn state_with_secrets(dir: &std::path::Path) -> AppState {
        let mut state = AppState::for_tests(dir).await;
        state.store = state.store.clone().with_secrets_key(SecretsKey::generate().unwrap().0);
        state
    }

    #[tokio::test]
    async fn secrets_through_the_operations() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_with_secrets(dir.path()).await;
        let created = put(&state, "/prod/db/password", "hunter2", "the shop's database").await.unwrap();
        assert_eq!(created.name, "/prod/db/password");
        put(&state, "prod/api-key+v2=x@y.z", "k", "").await.unwrap();
        assert_eq!(resolve(&state, "/prod/db/password").await.unwrap(), "hunter2");
        put(&state, "/prod/db/password", "rotated", "the shop's database").await.unwrap();
        assert_eq!(resolve(&state, "/prod/db/password").await.unwrap(), "rotated");
        let names: Vec<String> = list(&state).await.unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["/prod/db/password", "prod/api-key+v2=x@y.z"]);

        for bad in ["", "a b", "x\n", "../x", "a/./b", "..", "ü", &"a".repeat(513)] {
            let err = put(&state, bad, "v", "").await.unwrap_err();
            assert!(matches!(err, OpError::Invalid(_)), "{bad:?}: {err}");
        }
        assert!(put(&state, &"a".repeat(512), "v", "").await.is_ok());
        let err = put(&state, "big", &"x".repeat(MAX_VALUE + 1), "").await.unwrap_err();
        assert!(err.to_string().contains("at most 65536"), "{err}");
        assert!(put(&state, "big", &"x".repeat(MAX_VALUE), "").await.is_ok());

        assert!(delete(&state, "/prod/db/password").await.unwrap());
        assert!(!delete(&state, "/prod/db/password").await.unwrap());
        let err = resolve(&state, "/prod/db/password").await.unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[tokio::test]
    async fn a_server_without_a_secrets_key_keeps_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::for_tests(dir.path()).await;
        let err = put(&state, "token", "v", "").await.unwrap_err();
        assert!(err.to_string().contains("only ever stored sealed"), "{err}");
    }
}
