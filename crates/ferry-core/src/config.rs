//! Deployment configurations: how many instances may be down at once.

use serde::{Deserialize, Serialize};

/// The minimum number of healthy instances during a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value")]
pub enum MinimumHealthyHosts {
    /// An absolute number of instances.
    #[serde(rename = "HOST_COUNT")]
    HostCount(u32),
    /// A percentage of the fleet, rounded up (0–99).
    #[serde(rename = "FLEET_PERCENT")]
    FleetPercent(u32),
    /// All but one (CodeDeploy's OneAtATime; not in the SDK enum).
    #[serde(rename = "MOST_CONCURRENCY")]
    MostConcurrency,
}

impl MinimumHealthyHosts {
    /// The minimum as a host count for a fleet of `n` instances.
    pub fn resolve(self, n: u32) -> u32 {
        match self {
            Self::HostCount(count) => count,
            Self::FleetPercent(pct) => (u64::from(n) * u64::from(pct)).div_ceil(100) as u32,
            Self::MostConcurrency => n.saturating_sub(1),
        }
    }

    /// Checks CodeDeploy's limits: HOST_COUNT ≥ 0, FLEET_PERCENT 0–99.
    pub fn validate(self) -> Result<(), String> {
        match self {
            Self::FleetPercent(pct) if pct > 99 => Err(format!("FLEET_PERCENT must be between 0 and 99 (got {pct})")),
            _ => Ok(()),
        }
    }
}

/// The compute platforms CodeDeploy knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ComputePlatform {
    #[default]
    Server,
    Lambda,
    #[serde(rename = "ECS")]
    Ecs,
}

impl ComputePlatform {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "Server",
            Self::Lambda => "Lambda",
            Self::Ecs => "ECS",
        }
    }
}

/// How traffic moves to the new revision (blue/green, Lambda, ECS).
/// CodeDeploy counts intervals in minutes; ferry in seconds, so that its
/// own configs (and tests) can shift faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrafficRouting {
    AllAtOnce,
    /// `percentage` first, the rest after `interval_seconds`.
    TimeBasedCanary {
        percentage: u32,
        interval_seconds: u32,
    },
    /// `percentage` more every `interval_seconds`.
    TimeBasedLinear {
        percentage: u32,
        interval_seconds: u32,
    },
}

impl TrafficRouting {
    /// The green share (percent) at step `k` (0 = the first shift), and
    /// whether that is the last step.
    pub fn share_at(self, k: u32) -> (u32, bool) {
        match self {
            Self::AllAtOnce => (100, true),
            Self::TimeBasedCanary { percentage, .. } => {
                if k == 0 && percentage < 100 {
                    (percentage, false)
                } else {
                    (100, true)
                }
            }
            Self::TimeBasedLinear { percentage, .. } => {
                let share = (u64::from(percentage.max(1)) * u64::from(k + 1)).min(100) as u32;
                (share, share >= 100)
            }
        }
    }

    /// Time between two shifts.
    pub fn interval_seconds(self) -> u32 {
        match self {
            Self::AllAtOnce => 0,
            Self::TimeBasedCanary { interval_seconds, .. } | Self::TimeBasedLinear { interval_seconds, .. } => {
                interval_seconds
            }
        }
    }
}

/// A deployment configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentConfig {
    pub id: String,
    pub name: String,
    pub compute_platform: ComputePlatform,
    pub minimum_healthy_hosts: Option<MinimumHealthyHosts>,
    pub traffic_routing: Option<TrafficRouting>,
    /// Milliseconds since the epoch; 0 for the built-in configs.
    pub create_time: u64,
}

/// The prefix reserved for built-in configs.
pub const BUILTIN_PREFIX: &str = "CodeDeployDefault.";
pub const ONE_AT_A_TIME: &str = "CodeDeployDefault.OneAtATime";
pub const HALF_AT_A_TIME: &str = "CodeDeployDefault.HalfAtATime";
pub const ALL_AT_ONCE: &str = "CodeDeployDefault.AllAtOnce";

/// Every built-in config, with stable ids.
pub fn builtin_configs() -> Vec<DeploymentConfig> {
    use ComputePlatform::*;
    use TrafficRouting::*;
    let server = |n: u32, name: &str, min| DeploymentConfig {
        id: format!("00000000-0000-0000-0000-{n:012}"),
        name: format!("{BUILTIN_PREFIX}{name}"),
        compute_platform: Server,
        minimum_healthy_hosts: Some(min),
        traffic_routing: None,
        create_time: 0,
    };
    let shifted = |n: u32, platform, name: &str, routing| DeploymentConfig {
        id: format!("00000000-0000-0000-0000-{n:012}"),
        name: format!("{BUILTIN_PREFIX}{name}"),
        compute_platform: platform,
        minimum_healthy_hosts: None,
        traffic_routing: Some(routing),
        create_time: 0,
    };
    let canary = |p, minutes: u32| TimeBasedCanary { percentage: p, interval_seconds: minutes * 60 };
    let linear = |p, minutes: u32| TimeBasedLinear { percentage: p, interval_seconds: minutes * 60 };
    vec![
        server(1, "OneAtATime", MinimumHealthyHosts::MostConcurrency),
        server(2, "HalfAtATime", MinimumHealthyHosts::FleetPercent(50)),
        server(3, "AllAtOnce", MinimumHealthyHosts::HostCount(0)),
        shifted(10, Lambda, "LambdaCanary10Percent5Minutes", canary(10, 5)),
        shifted(11, Lambda, "LambdaCanary10Percent10Minutes", canary(10, 10)),
        shifted(12, Lambda, "LambdaCanary10Percent15Minutes", canary(10, 15)),
        shifted(13, Lambda, "LambdaCanary10Percent30Minutes", canary(10, 30)),
        shifted(14, Lambda, "LambdaLinear10PercentEvery1Minute", linear(10, 1)),
        shifted(15, Lambda, "LambdaLinear10PercentEvery2Minutes", linear(10, 2)),
        shifted(16, Lambda, "LambdaLinear10PercentEvery3Minutes", linear(10, 3)),
        shifted(17, Lambda, "LambdaLinear10PercentEvery10Minutes", linear(10, 10)),
        shifted(18, Lambda, "LambdaAllAtOnce", AllAtOnce),
        shifted(20, Ecs, "ECSLinear10PercentEvery1Minutes", linear(10, 1)),
        shifted(21, Ecs, "ECSLinear10PercentEvery3Minutes", linear(10, 3)),
        shifted(22, Ecs, "ECSCanary10Percent5Minutes", canary(10, 5)),
        shifted(23, Ecs, "ECSCanary10Percent15Minutes", canary(10, 15)),
        shifted(24, Ecs, "ECSAllAtOnce", AllAtOnce),
    ]
}

/// The built-in config called `name`, if any.
pub fn builtin_config(name: &str) -> Option<DeploymentConfig> {
    builtin_configs().into_iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_percent_rounds_up() {
        assert_eq!(MinimumHealthyHosts::FleetPercent(50).resolve(9), 5);
        assert_eq!(MinimumHealthyHosts::FleetPercent(40).resolve(9), 4);
        assert_eq!(MinimumHealthyHosts::FleetPercent(95).resolve(10), 10);
        assert_eq!(MinimumHealthyHosts::FleetPercent(0).resolve(10), 0);
        assert_eq!(MinimumHealthyHosts::MostConcurrency.resolve(10), 9);
        assert_eq!(MinimumHealthyHosts::MostConcurrency.resolve(0), 0);
    }

    #[test]
    fn builtins_have_unique_names_and_ids() {
        let all = builtin_configs();
        let mut names: Vec<_> = all.iter().map(|c| &c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(builtin_config(ONE_AT_A_TIME).unwrap().id, "00000000-0000-0000-0000-000000000001");
        assert!(MinimumHealthyHosts::FleetPercent(100).validate().is_err());
    }

    #[test]
    fn traffic_shifts_step_by_step() {
        let canary = TrafficRouting::TimeBasedCanary { percentage: 10, interval_seconds: 60 };
        assert_eq!((canary.share_at(0), canary.share_at(1)), ((10, false), (100, true)));
        let linear = TrafficRouting::TimeBasedLinear { percentage: 30, interval_seconds: 5 };
        let shares: Vec<(u32, bool)> = (0..4).map(|k| linear.share_at(k)).collect();
        assert_eq!(shares, [(30, false), (60, false), (90, false), (100, true)]);
        assert_eq!(TrafficRouting::AllAtOnce.share_at(0), (100, true));
        assert_eq!(
            builtin_config("CodeDeployDefault.LambdaCanary10Percent5Minutes")
                .unwrap()
                .traffic_routing
                .unwrap()
                .interval_seconds(),
            300
        );
    }
}
