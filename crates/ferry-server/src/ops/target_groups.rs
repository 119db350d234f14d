//! Target groups (ferry's own: CodeDeploy's API only names them).

use ferry_core::resources::TargetGroup;
use ferry_store::StoreError;

use super::OpError;
use crate::AppState;

pub async fn get(state: &AppState, name: &str) -> Result<TargetGroup, OpError> {
    match state.store.get_target_group(name).await {
        Ok(tg) => Ok(tg),
        Err(StoreError::NotFound) => Err(OpError::TargetGroupNotFound(name.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Creates a target group: its load balancer is opened first, so a listen
/// address that cannot be bound is refused, not stored.
pub async fn create(state: &AppState, tg: TargetGroup) -> Result<TargetGroup, OpError> {
    state.driver.traffic.open(&tg).await.map_err(|e| OpError::Invalid(e.to_string()))?;
    if let Err(e) = state.store.create_target_group(&tg).await {
        if let Err(close) = state.driver.traffic.close(&tg.name).await {
            tracing::warn!(target_group = %tg.name, error = %close, "cannot close the load balancer of a target group not created");
        }
        return Err(match e {
            StoreError::AlreadyExists { .. } => OpError::TargetGroupExists(tg.name.clone()),
            e => e.into(),
        });
    }
    tracing::info!(target_group = %tg.name, "target group created");
    Ok(tg)
}

/// Deletes a target group no deployment group uses. The check and the
/// deletion hold the driver's lock, as group edits do, so a group cannot
/// start using it in between.
pub async fn delete(state: &AppState, name: &str) -> Result<(), OpError> {
    let _held = state.driver.exclusive().await;
    get(state, name).await?;
    if let Some(g) = super::groups::using(state, |g| g.target_groups.iter().any(|t| t == name)).await? {
        return Err(OpError::TargetGroupInUse {
            name: name.to_string(),
            application: g.application_name,
            group: g.name,
        });
    }
    // The load balancer first: a `ferry proxy` that cannot be told would
    // keep serving the group's listener.
    state
        .driver
        .traffic
        .close(name)
        .await
        .map_err(|e| OpError::Unavailable(format!("cannot stop serving target group {name}: {e}")))?;
    state.store.delete_target_group(name).await?;
    Ok(())
}
