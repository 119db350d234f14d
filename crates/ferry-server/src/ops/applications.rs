//! Applications.

use ferry_core::config::ComputePlatform;
use ferry_core::resources::{Application, Tag};
use ferry_store::StoreError;

use super::OpError;
use crate::AppState;
use crate::clock::now_millis;

pub async fn get(state: &AppState, name: &str) -> Result<Application, OpError> {
    match state.store.get_application(name).await {
        Ok(app) => Ok(app),
        Err(StoreError::NotFound) => Err(OpError::ApplicationNotFound(name.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Creates a Server application (callers refuse other platforms in their
/// own words) with a checked name.
/// Creates an application for `platform`: Server, or ECS (its groups
/// deploy to container services); Lambda is not run by ferry.
pub async fn create(
    state: &AppState,
    name: &str,
    tags: Vec<Tag>,
    platform: ComputePlatform,
) -> Result<Application, OpError> {
    ferry_core::ids::validate_name(name).map_err(OpError::Invalid)?;
    if platform == ComputePlatform::Lambda {
        return Err(OpError::refused(
            ferry_core::plan::Rule::ComputePlatform,
            "ferry deploys to servers and container services: the Lambda compute platform is not supported",
        ));
    }
    let app = Application {
        id: crate::random::uuid(),
        name: name.to_string(),
        compute_platform: platform,
        create_time: now_millis(),
        tags,
    };
    state.store.create_application(&app).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => OpError::ApplicationExists(name.to_string()),
        e => e.into(),
    })?;
    Ok(app)
}

/// Renames an application, its groups and deployments with it; under the
/// driver's lock, since deployments and group records carry the name.
pub async fn rename(state: &AppState, name: &str, new: &str) -> Result<(), OpError> {
    if new == name {
        return Ok(());
    }
    let held = state.driver.exclusive().await;
    state.store.rename_application(name, new).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => OpError::ApplicationExists(new.to_string()),
        StoreError::NotFound => OpError::ApplicationNotFound(name.to_string()),
        e => e.into(),
    })?;
    state.driver.reload_holding(&held).await
}

/// Edits an application's tags.
pub async fn retag(state: &AppState, name: &str, edit: impl FnOnce(&mut Vec<Tag>)) -> Result<Application, OpError> {
    let _held = state.driver.exclusive().await;
    let mut app = get(state, name).await?;
    edit(&mut app.tags);
    state.store.update_application(&app).await?;
    Ok(app)
}

/// Deletes an application with everything in it (nothing if it does not exist).
pub async fn delete(state: &AppState, name: &str) -> Result<(), OpError> {
    state.driver.delete_application(name).await
}

/// Revision ids are derived from what they hold, so pushing the same bundle
/// twice (or deploying one build's artifact twice) gives the same revision.
pub fn revision_id(app: &str, bundle_type: &str, sha256: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{app}\n{bundle_type}\n{sha256}").as_bytes());
    format!("r-{}", &ferry_sigv4::hex(&digest)[..20])
}
