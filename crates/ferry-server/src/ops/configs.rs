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

/// Creates a Server config after checking it (`ferry_core::plan::check_config`).
pub async fn create(
    state: &AppState,
    name: &str,
    minimum: MinimumHealthyHosts,
    traffic_routing: Option<TrafficRouting>,
) -> Result<DeploymentConfig, OpError> {
    ferry_core::ids::validate_name(name).map_err(OpError::Invalid)?;
    if name.starts_with(BUILTIN_PREFIX) {
        return Err(OpError::Invalid(format!("the prefix {BUILTIN_PREFIX} is reserved for built-in configs")));
    }
    let config = DeploymentConfig {
        id: crate::random::uuid(),
        name: name.to_string(),
        compute_platform: ComputePlatform::Server,
        minimum_healthy_hosts: Some(minimum),
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
