//! Deployment groups: created and edited here only, whichever API asks.
//!
//! An edit reads the group, changes it and writes it back holding the
//! driver's lock, so it is serialised with the transitions that write the
//! same record (a finishing deployment's `last_successful_*`, a new one's
//! `target_revision_id`): neither change is lost.

use ferry_core::config::ComputePlatform;
use ferry_core::plan::{self, Rule};
use ferry_core::resources::DeploymentGroup;
use ferry_store::StoreError;

use super::OpError;
use crate::AppState;

/// A group by application and name.
pub async fn get(state: &AppState, application: &str, name: &str) -> Result<DeploymentGroup, OpError> {
    state.driver.group(application, name).await
}

/// Creates `group` (its application must exist) after checking it against
/// every rule and looking up what it names.
pub async fn create(state: &AppState, group: DeploymentGroup) -> Result<DeploymentGroup, OpError> {
    super::applications::get(state, &group.application_name).await?;
    check(state, &group, None).await?;
    state.store.create_group(&group).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => {
            OpError::GroupExists { application: group.application_name.clone(), group: group.name.clone() }
        }
        // The application was deleted meanwhile.
        StoreError::Conflict => OpError::ApplicationNotFound(group.application_name.clone()),
        e => e.into(),
    })?;
    tracing::info!(application = %group.application_name, group = %group.name, "deployment group created");
    Ok(group)
}

/// An ECS group's rules (CodeDeploy's): one service, which exists and
/// takes traffic through one of the group's target groups; blue/green
/// with traffic control; no instance tags.
async fn check_ecs(state: &AppState, group: &DeploymentGroup) -> Result<(), OpError> {
    let Some((_, service)) = &group.ecs_service else {
        return Err(OpError::refused(
            Rule::ComputePlatform,
            format!(
                "application {} is for the ECS compute platform: its groups name an ECS service (ecsServices)",
                group.application_name
            ),
        ));
    };
    if group.blue_green.is_none() || !group.traffic_control {
        return Err(OpError::refused(
            Rule::BlueGreen,
            "an ECS deployment group is blue/green with traffic control \
             (deploymentStyle BLUE_GREEN, WITH_TRAFFIC_CONTROL)",
        ));
    }
    if !group.selector.tag_filters.is_empty() || !group.selector.tag_set.is_empty() {
        return Err(OpError::refused(
            Rule::Tags,
            "an ECS deployment group deploys to its service's tasks: it selects no instances by tags",
        ));
    }
    let described = super::services::get(state, service).await?;
    let Some(lb) = &described.service.load_balancer else {
        return Err(OpError::refused(
            Rule::LoadBalancer,
            format!("service {service} has no target group: an ECS deployment moves traffic in one"),
        ));
    };
    if !group.target_groups.contains(&lb.target_group) {
        return Err(OpError::refused(
            Rule::LoadBalancer,
            format!(
                "service {service} takes traffic through target group {}: name it in the group's target group pair",
                lb.target_group
            ),
        ));
    }
    Ok(())
}

/// Edits a group: `edit` changes the group as it is now (read under the
/// driver's lock); the result is checked as [`create`] checks a new one and
/// written back before the lock is released. Renaming a group renames it in
/// its running deployments too.
pub async fn update<E: From<OpError>>(
    state: &AppState,
    application: &str,
    name: &str,
    edit: impl FnOnce(&mut DeploymentGroup) -> Result<(), E>,
) -> Result<DeploymentGroup, E> {
    let held = state.driver.exclusive().await;
    let before = get(state, application, name).await?;
    let mut group = before.clone();
    edit(&mut group)?;
    if group == before {
        return Ok(group);
    }
    check(state, &group, Some(&before)).await?;
    state.store.update_group(&group).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => {
            OpError::GroupExists { application: application.to_string(), group: group.name.clone() }
        }
        e => e.into(),
    })?;
    if group.name != before.name {
        // Running deployments carry the group's name.
        state.driver.reload_holding(&held).await?;
    }
    Ok(group)
}

/// Every rule a group obeys, and what it names exists (only what changed
/// since `before`, so a later deletion elsewhere does not block an
/// unrelated edit).
async fn check(state: &AppState, group: &DeploymentGroup, before: Option<&DeploymentGroup>) -> Result<(), OpError> {
    plan::check_group(group)?;
    let platform = super::applications::get(state, &group.application_name).await?.compute_platform;
    if platform == ComputePlatform::Ecs {
        check_ecs(state, group).await?;
    } else if let Some((_, service)) = &group.ecs_service {
        return Err(OpError::refused(
            Rule::ComputePlatform,
            format!(
                "application {} deploys to servers: an ECS service ({service}) belongs to an application of the ECS \
                 compute platform",
                group.application_name
            ),
        ));
    }
    if before.is_none_or(|b| b.scaling_groups != group.scaling_groups) {
        for name in &group.scaling_groups {
            super::scaling_groups::get(state, name).await?;
        }
    }
    if before.is_none_or(|b| b.deployment_config_name != group.deployment_config_name) {
        let config = state.driver.resolve_config(&group.deployment_config_name).await?;
        if config.compute_platform != platform {
            return Err(OpError::refused(
                Rule::ComputePlatform,
                format!(
                    "deployment config {} is for the {} compute platform; application {} is for {}",
                    config.name,
                    config.compute_platform.as_str(),
                    group.application_name,
                    platform.as_str()
                ),
            ));
        }
    }
    for name in &group.target_groups {
        if before.is_some_and(|b| b.target_groups.contains(name)) {
            continue;
        }
        match state.store.get_target_group(name).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Err(OpError::TargetGroupNotFound(name.clone())),
            Err(e) => return Err(e.into()),
        }
    }
    for name in &group.alarms.alarms {
        if before.is_some_and(|b| b.alarms.alarms.contains(name)) {
            continue;
        }
        match state.store.get_alarm(name).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Err(OpError::AlarmNotFound(name.clone())),
            Err(e) => return Err(e.into()),
        }
    }
    for trigger in &group.triggers {
        crate::triggers::check_target(&trigger.target)
            .map_err(|m| OpError::refused(Rule::Trigger, format!("trigger {}: {m}", trigger.name)))?;
    }
    Ok(())
}

/// Deletes a group (nothing if it does not exist) and stops its running and
/// waiting deployments, without rolling back; they stay as history.
pub async fn delete(state: &AppState, application: &str, name: &str) -> Result<(), OpError> {
    state.driver.delete_group(application, name).await
}

/// The first deployment group `uses` holds for (for refusing to delete
/// what a group names). Callers hold the driver's lock.
pub(super) async fn using(
    state: &AppState,
    uses: impl Fn(&DeploymentGroup) -> bool,
) -> Result<Option<DeploymentGroup>, OpError> {
    for app in state.store.list_applications().await? {
        if let Some(g) = state.store.list_groups(&app.name).await?.into_iter().find(&uses) {
            return Ok(Some(g));
        }
    }
    Ok(None)
}
