//! Custom deployment configs.

use ferry_core::config::{BUILTIN_PREFIX, ComputePlatform, DeploymentConfig, MinimumHealthyHosts, TrafficRouting};
use ferry_store::StoreError;

use super::OpError;
use crate::AppState;
use crate::clock::now_millis;

/// How many custom configs may exist (CodeDeploy's limit).
pub const MAX_CUSTOM_CONFIGS: usize = 200;

/// A config by name: built-ins first, then custom ones.
pub async fn get(state: &AppState, name: &str) -> Result<DeploymentConfig, OpError> {
    state.driver.resolve_config(name).await
}

/// Creates a config after checking it (`ferry_core::plan::check_config`):
/// a Server config has a minimum of healthy hosts (and may shift traffic,
/// for blue/green); an ECS config shifts traffic and has no minimum.
pub async fn create(
    state: &AppState,
    name: &str,
    platform: ComputePlatform,
    minimum: Option<MinimumHealthyHosts>,
    traffic_routing: Option<TrafficRouting>,
) -> Result<DeploymentConfig, OpError> {
    ferry_core::ids::validate_name(name).map_err(OpError::Invalid)?;
    if name.starts_with(BUILTIN_PREFIX) {
        return Err(OpError::Invalid(format!("the prefix {BUILTIN_PREFIX} is reserved for built-in configs")));
    }
    let minimum = match platform {
        ComputePlatform::Server => Some(minimum.ok_or_else(|| {
            OpError::refused(
                ferry_core::plan::Rule::MinimumHealthyHosts,
                "a Server deployment config needs a minimum of healthy hosts",
            )
        })?),
        ComputePlatform::Ecs if traffic_routing.is_none() => {
            return Err(OpError::refused(
                ferry_core::plan::Rule::TrafficRouting,
                "an ECS deployment config says how traffic moves (AllAtOnce, TimeBasedCanary or TimeBasedLinear)",
            ));
        }
        ComputePlatform::Ecs => None,
        ComputePlatform::Lambda => {
            return Err(OpError::refused(
                ferry_core::plan::Rule::ComputePlatform,
                "the Lambda compute platform is not supported",
            ));
        }
    };
    let config = DeploymentConfig {
        id: crate::random::uuid(),
        name: name.to_string(),
        compute_platform: platform,
        minimum_healthy_hosts: minimum,
        traffic_routing,
        create_time: now_millis(),
    };
    ferry_core::plan::check_config(&config)?;
    if state.store.list_configs().await?.len() >= MAX_CUSTOM_CONFIGS {
        return Err(OpError::ConfigLimitExceeded(MAX_CUSTOM_CONFIGS));
    }
    state.store.create_config(&config).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => OpError::ConfigExists(name.to_string()),
        e => e.into(),
    })?;
    Ok(config)
}

/// Deletes a custom config no group uses (nothing if it does not exist, as
/// in CodeDeploy); built-in configs cannot be deleted. The check and the
/// deletion hold the driver's lock, as group edits do.
pub async fn delete(state: &AppState, name: &str) -> Result<(), OpError> {
    if name.starts_with(BUILTIN_PREFIX) {
        return Err(OpError::BuiltinConfig(name.to_string()));
    }
    let _held = state.driver.exclusive().await;
    if let Some(g) = super::groups::using(state, |g| g.deployment_config_name == name).await? {
        return Err(OpError::ConfigInUse { name: name.to_string(), application: g.application_name, group: g.name });
    }
    match state.store.delete_config(name).await {
        Ok(()) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
