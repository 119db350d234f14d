//! Lifecycle events: which run in a deployment, and who runs each.

/// The events of an in-place deployment without a load balancer.
pub const IN_PLACE: [&str; 7] = [
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
];

/// The events of an in-place deployment with a load balancer.
pub const IN_PLACE_WITH_TRAFFIC: [&str; 13] = [
    "BeforeBlockTraffic",
    "BlockTraffic",
    "AfterBlockTraffic",
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
];

/// The events of a blue/green deployment's replacement (green) instances.
pub const BLUE_GREEN_GREEN: [&str; 10] = [
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
];

/// The events of a blue/green deployment's original (blue) instances.
pub const BLUE_GREEN_BLUE: [&str; 3] = ["BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic"];

/// The events of the instances a blue/green rollback moves traffic back to
/// (already installed).
pub const TRAFFIC_ONLY_GREEN: [&str; 3] = ["BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"];

/// Who carries an event out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The agent on the instance (hooks, DownloadBundle, Install).
    Agent,
    /// The server (moving traffic on the load balancer).
    Server,
}

/// BlockTraffic and AllowTraffic move traffic; everything else runs on the host.
pub fn runner(event: &str) -> Runner {
    match event {
        "BlockTraffic" | "AllowTraffic" => Runner::Server,
        _ => Runner::Agent,
    }
}
