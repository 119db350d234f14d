//! The pure decisions around the machine: whether a group, a config or a
//! deployment request obeys ferry's rules, what a new deployment is, and
//! what follows a failed one (small pure functions, as in Nomad's
//! deployment watcher). The server's operations layer does the lookups and
//! persists the results; each rule lives here once, whichever API asked.

use crate::Millis;
use crate::config::{DeploymentConfig, MinimumHealthyHosts, TrafficRouting};
use crate::deployment::{
    AutoRollback, BlueAction, BlueGreen, Creator, Deployment, DeploymentStatus, EventStatus, Fetching,
    FileExistsBehavior, Label, Phase, ReadyAction, RevisionRef, RollbackInfo,
};
use crate::resources::{AlarmConfig, DeploymentGroup, InstanceSelector};

/// Which rule a request broke: the APIs name their errors by it (the AWS
/// API has an exception per rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A deployment config for another compute platform than Server.
    ComputePlatform,
    /// Traffic-routing steps out of range, or traffic routing for an
    /// in-place group.
    TrafficRouting,
    /// A minimum healthy hosts value out of range.
    MinimumHealthyHosts,
    /// Traffic control (or blue/green) without a target group, or a target
    /// group that does not exist.
    LoadBalancer,
    /// Blue/green settings for a group that deploys in place.
    BlueGreen,
    /// A replacement fleet for a deployment of an in-place group.
    TargetInstances,
    /// An alarm that does not exist.
    Alarm,
    /// A trigger that cannot be delivered.
    Trigger,
    /// Tag filters and a tag set together, or too many tag sets.
    Tags,
    /// The same, in the EC2 selector (kept for CodeDeploy's API only).
    Ec2Tags,
}

/// A request refused by a rule, with the message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    pub message: String,
}

impl Refusal {
    pub fn new(rule: Rule, message: impl Into<String>) -> Self {
        Self { rule, message: message.into() }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// The longest traffic-routing interval: CodeDeploy's 2,880 minutes.
pub const MAX_ROUTING_INTERVAL_SECONDS: u32 = 172_800;

/// A traffic-routing config's steps: a percentage of 1 to 99 and an
/// interval of 1 s to 48 h.
pub fn check_routing(routing: TrafficRouting) -> Result<(), Refusal> {
    let (what, percentage, interval) = match routing {
        TrafficRouting::AllAtOnce => return Ok(()),
        TrafficRouting::TimeBasedCanary { percentage, interval_seconds } => ("a canary", percentage, interval_seconds),
        TrafficRouting::TimeBasedLinear { percentage, interval_seconds } => {
            ("a linear shift", percentage, interval_seconds)
        }
    };
    if !(1..=99).contains(&percentage) {
        return Err(Refusal::new(
            Rule::TrafficRouting,
            format!("{what}: the percentage must be between 1 and 99 (got {percentage})"),
        ));
    }
    if !(1..=MAX_ROUTING_INTERVAL_SECONDS).contains(&interval) {
        return Err(Refusal::new(
            Rule::TrafficRouting,
            format!("{what}: the interval must be between 1 s and 48 h (got {interval} s)"),
        ));
    }
    Ok(())
}

/// A custom Server deployment config.
pub fn check_config(config: &DeploymentConfig) -> Result<(), Refusal> {
    if let Some(minimum) = config.minimum_healthy_hosts {
        minimum.validate().map_err(|m| Refusal::new(Rule::MinimumHealthyHosts, m))?;
    }
    if let Some(routing) = config.traffic_routing {
        check_routing(routing)?;
    }
    Ok(())
}

/// A group's settings, together (whichever API wrote them): the selectors,
/// and traffic control and blue/green with the target groups they need.
/// Whether the named target groups, alarms and config exist is the
/// caller's lookup.
pub fn check_group(group: &DeploymentGroup) -> Result<(), Refusal> {
    group.selector.validate().map_err(|m| Refusal::new(Rule::Tags, m))?;
    group.ec2_selector.validate().map_err(|m| Refusal::new(Rule::Ec2Tags, format!("EC2 tags: {m}")))?;
    if group.blue_green.is_some() && !group.traffic_control {
        return Err(Refusal::new(
            Rule::BlueGreen,
            "a blue/green group moves traffic between fleets: it needs traffic control",
        ));
    }
    if group.traffic_control && group.target_groups.is_empty() {
        let what = if group.blue_green.is_some() { "a blue/green group" } else { "a group with traffic control" };
        return Err(Refusal::new(
            Rule::LoadBalancer,
            format!("{what} needs at least one target group to move traffic in"),
        ));
    }
    Ok(())
}

/// What a caller asks for when creating a deployment, with what the
/// server looked up for it.
#[derive(Debug, Clone)]
pub struct DeploymentRequest<'a> {
    pub group: &'a DeploymentGroup,
    /// The config it names, else the group's.
    pub config: &'a DeploymentConfig,
    /// The revision, its bytes pinned when they are here already.
    pub revision: RevisionRef,
    /// The group's last successful revision.
    pub previous: Option<RevisionRef>,
    pub description: Option<String>,
    pub file_exists_behavior: Option<FileExistsBehavior>,
    pub ignore_application_stop_failures: bool,
    /// `None`: the group's.
    pub auto_rollback: Option<AutoRollback>,
    /// An ECS deployment's appspec facts (service, routing and wait are
    /// filled in from the group and config).
    pub ecs: Option<crate::deployment::EcsDeployment>,
    /// Blue/green: the replacement fleet by tags (`None`: the group's
    /// instances that take no traffic now).
    pub green_selector: Option<InstanceSelector>,
    /// `None`: the group's (CodeDeploy's `overrideAlarmConfiguration`, which
    /// keeps the group's bake time and Prometheus).
    pub alarms: Option<AlarmConfig>,
}

/// The deployment a request creates (Created; with `Fetching` when its
/// bytes are still to be copied in), or the rule it breaks.
pub fn plan_deployment(request: DeploymentRequest<'_>, id: String, now: Millis) -> Result<Deployment, Refusal> {
    let DeploymentRequest { group, config, .. } = request;
    if group.ecs_service.is_some() || request.ecs.is_some() {
        return plan_ecs_deployment(request, id, now);
    }
    if config.compute_platform != crate::config::ComputePlatform::Server {
        return Err(Refusal::new(
            Rule::ComputePlatform,
            format!(
                "deployment config {} is for the {} compute platform, not Server",
                config.name,
                config.compute_platform.as_str()
            ),
        ));
    }
    if config.traffic_routing.is_some() && group.blue_green.is_none() {
        return Err(Refusal::new(
            Rule::TrafficRouting,
            format!("deployment config {} shifts traffic, which only blue/green deployment groups do", config.name),
        ));
    }
    // Blue/green may use a traffic-routing config (canary, linear): its
    // replacement instances then install all at once.
    let minimum = match (config.minimum_healthy_hosts, &group.blue_green) {
        (Some(m), _) => m,
        (None, Some(_)) if config.traffic_routing.is_some() => MinimumHealthyHosts::HostCount(0),
        (None, _) => {
            return Err(Refusal::new(
                Rule::ComputePlatform,
                format!("deployment config {} is not for the Server compute platform", config.name),
            ));
        }
    };
    if request.green_selector.is_some() && group.blue_green.is_none() {
        return Err(Refusal::new(
            Rule::TargetInstances,
            format!(
                "target instances name the replacement fleet of a blue/green deployment; group {} deploys in place",
                group.name
            ),
        ));
    }
    check_group(group)?;
    let blue_green = group.blue_green.map(|settings| BlueGreen {
        ready: settings.ready,
        blue: settings.blue,
        routing: config.traffic_routing.unwrap_or(TrafficRouting::AllAtOnce),
        phase: Phase::Install,
        green_share: 0,
        step_started: None,
        deadline: None,
        step: 0,
        traffic_only: false,
        green_instances: Vec::new(),
        blue_instances: Vec::new(),
        green_selector: request.green_selector.clone(),
        retired: Vec::new(),
    });
    let alarms = match request.alarms {
        Some(alarms) => AlarmConfig {
            bake_time_ms: group.alarms.bake_time_ms,
            prometheus_url: group.alarms.prometheus_url.clone(),
            ..alarms
        },
        None => group.alarms.clone(),
    };
    let lifecycle_events: &[crate::events::Event] =
        if group.controls_traffic() { &crate::events::IN_PLACE_WITH_TRAFFIC } else { &crate::events::IN_PLACE };
    Ok(Deployment {
        id,
        application_name: group.application_name.clone(),
        group_name: group.name.clone(),
        group_id: group.id.clone(),
        config_name: config.name.clone(),
        minimum_healthy_hosts: minimum,
        fetching: request.revision.bundle.is_none().then_some(Fetching { since: now }),
        revision: request.revision,
        previous_revision: request.previous,
        creator: Creator::User,
        description: request.description,
        status: DeploymentStatus::Created,
        error: None,
        create_time: now,
        start_time: None,
        complete_time: None,
        ignore_application_stop_failures: request.ignore_application_stop_failures,
        file_exists_behavior: request.file_exists_behavior,
        auto_rollback: request.auto_rollback.unwrap_or_else(|| group.auto_rollback.clone()),
        rollback_info: RollbackInfo::default(),
        stop: None,
        lifecycle_events: lifecycle_events.to_vec(),
        targets: Vec::new(),
        finalized: false,
        blue_green,
        alarms,
        bake_until: None,
        triggers: group.triggers.clone(),
        ecs: None,
        only_instances: None,
    })
}

/// A failed ECS deployment's error says which event failed and why (the
/// machine's message is about instances, of which it has none).
pub fn explain_ecs_failure(d: &mut Deployment) {
    if d.ecs.is_none() || d.status != DeploymentStatus::Failed {
        return;
    }
    let failed = d.targets.iter().flat_map(|t| &t.events).find(|e| e.status == EventStatus::Failed);
    if let (Some(e), Some(error)) = (failed, d.error.as_mut()) {
        let why = e.diagnostics.as_ref().map(|x| x.message.as_str()).unwrap_or("no reason given");
        error.code = if e.name.is_ecs_hook() {
            crate::deployment::ErrorCode::HookExecutionFailure
        } else {
            crate::deployment::ErrorCode::InternalError
        };
        error.message = format!("The {} lifecycle event failed: {why}", e.name);
    }
}

/// An ECS deployment: the group names the service, the config is an ECS
/// one, and the appspec (`request.ecs`, read by the server) names the task
/// definition and the container the load balancer reaches.
fn plan_ecs_deployment(request: DeploymentRequest<'_>, id: String, now: Millis) -> Result<Deployment, Refusal> {
    let DeploymentRequest { group, config, .. } = request;
    let Some((cluster, service)) = &group.ecs_service else {
        return Err(Refusal::new(
            Rule::ComputePlatform,
            format!("an ECS appspec deploys to an ECS deployment group; {} deploys to servers", group.name),
        ));
    };
    if config.compute_platform != crate::config::ComputePlatform::Ecs {
        return Err(Refusal::new(
            Rule::ComputePlatform,
            format!(
                "deployment config {} is for the {} compute platform; group {} deploys to the ECS service {service}",
                config.name,
                config.compute_platform.as_str(),
                group.name
            ),
        ));
    }
    let Some(mut ecs) = request.ecs.clone() else {
        return Err(Refusal::new(
            Rule::ComputePlatform,
            format!("group {} deploys to the ECS service {service}: the revision must be an ECS appspec", group.name),
        ));
    };
    ecs.cluster = cluster.clone();
    ecs.service = service.clone();
    ecs.routing = config.traffic_routing.unwrap_or(TrafficRouting::AllAtOnce);
    ecs.termination_wait_ms = match group.blue_green.map(|b| b.blue) {
        Some(BlueAction::Terminate { wait_ms }) => wait_ms,
        _ => 0,
    };
    let mut d = plan_deployment(
        DeploymentRequest { group: &ecs_as_server(group), config: &server_config(config), ecs: None, ..request },
        id,
        now,
    )?;
    d.config_name = config.name.clone();
    d.minimum_healthy_hosts = MinimumHealthyHosts::HostCount(0);
    d.lifecycle_events = crate::events::ECS.to_vec();
    d.blue_green = None;
    // The appspec is all it needs: nothing to copy in.
    d.fetching = None;
    d.ecs = Some(ecs);
    Ok(d)
}

/// The group as an in-place one, to build the rest of an ECS deployment
/// with the Server rules.
fn ecs_as_server(group: &DeploymentGroup) -> DeploymentGroup {
    DeploymentGroup { ecs_service: None, blue_green: None, traffic_control: false, ..group.clone() }
}

fn server_config(config: &DeploymentConfig) -> DeploymentConfig {
    DeploymentConfig {
        compute_platform: crate::config::ComputePlatform::Server,
        minimum_healthy_hosts: Some(MinimumHealthyHosts::HostCount(0)),
        traffic_routing: None,
        ..config.clone()
    }
}

/// What follows a deployment that ended: for a failed or stopped one that
/// asks for a rollback (see [`crate::machine::wants_rollback`]), the
/// rollback deployment to create, with `failed.rollback_info` saying why
/// there is one or none.
///
/// - Blue/green whose production traffic reached the replacement
///   instances: a deployment that only moves traffic back to the originals.
/// - Blue/green whose traffic never moved: nothing to roll back.
/// - In place: the group's last good revision (`last_good`, with the bytes
///   the last good deployment installed) deployed again; none without one.
pub fn plan_rollback(
    failed: &mut Deployment,
    group: &DeploymentGroup,
    last_good: Option<RevisionRef>,
    id: String,
    now: Millis,
) -> Option<Deployment> {
    if failed.status == DeploymentStatus::Succeeded {
        return None;
    }
    if failed.ecs.is_some() {
        // The server puts the service back as it was whether or not a
        // rollback was asked for: nothing is left half-shifted.
        failed.rollback_info.rollback_message = Some(
            "Production traffic was moved back to the original task set and the replacement task set is removed."
                .into(),
        );
        return None;
    }
    if !crate::machine::wants_rollback(failed) {
        return None;
    }
    let rollback = if failed.blue_green.is_some() {
        if !crate::machine::traffic_moved(failed) {
            failed.rollback_info.rollback_message =
                Some("Nothing to roll back: production traffic never left the original instances.".into());
            return None;
        }
        let rollback = traffic_rollback(failed, group, id, now);
        failed.rollback_info.rollback_message = Some(format!(
            "Deployment {} is triggered to roll back deployment {}: traffic moves back to the original instances.",
            rollback.id, failed.id
        ));
        rollback
    } else {
        let Some(target) = last_good else {
            failed.rollback_info.rollback_message = Some(
                "Automatic rollback was not started: the deployment group has no successful revision to roll back to."
                    .into(),
            );
            return None;
        };
        let rollback = rollback_of(failed, group, target, id, now);
        failed.rollback_info.rollback_message =
            Some(format!("Deployment {} is triggered to roll back deployment {}.", rollback.id, failed.id));
        rollback
    };
    failed.rollback_info.rollback_deployment_id = Some(rollback.id.clone());
    Some(rollback)
}

/// The rollback of a blue/green deployment whose traffic reached the
/// replacement instances: a blue/green deployment that only moves traffic,
/// back to the original instances (its greens) from the replacements that
/// took some (its blues, kept alive).
fn traffic_rollback(failed: &Deployment, group: &DeploymentGroup, id: String, now: Millis) -> Deployment {
    let revision = failed.previous_revision.clone().unwrap_or_else(|| failed.revision.clone());
    let mut rollback = rollback_of(failed, group, revision, id, now);
    let originals: Vec<String> =
        failed.targets.iter().filter(|t| t.label == Some(Label::Blue)).map(|t| t.instance.clone()).collect();
    let replacements: Vec<String> = failed
        .targets
        .iter()
        .filter(|t| {
            t.label == Some(Label::Green)
                && t.events
                    .iter()
                    .any(|e| e.name == crate::events::Event::AllowTraffic && e.status != EventStatus::Pending)
        })
        .map(|t| t.instance.clone())
        .collect();
    rollback.minimum_healthy_hosts = MinimumHealthyHosts::HostCount(0);
    rollback.blue_green = Some(BlueGreen {
        ready: ReadyAction::Continue,
        blue: BlueAction::KeepAlive,
        routing: TrafficRouting::AllAtOnce,
        phase: Phase::Install,
        green_share: 0,
        step_started: None,
        deadline: None,
        step: 0,
        traffic_only: true,
        green_instances: originals,
        blue_instances: replacements,
        green_selector: None,
        retired: Vec::new(),
    });
    rollback
}

/// An in-place deployment of `revision` that rolls `failed` back.
fn rollback_of(
    failed: &Deployment,
    group: &DeploymentGroup,
    revision: RevisionRef,
    id: String,
    now: Millis,
) -> Deployment {
    Deployment {
        application_name: failed.application_name.clone(),
        group_name: failed.group_name.clone(),
        group_id: failed.group_id.clone(),
        config_name: failed.config_name.clone(),
        minimum_healthy_hosts: failed.minimum_healthy_hosts,
        revision,
        previous_revision: Some(failed.revision.clone()),
        creator: Creator::Rollback,
        description: Some(format!("Rollback of {}", failed.id)),
        status: DeploymentStatus::Created,
        error: None,
        create_time: now,
        start_time: None,
        complete_time: None,
        ignore_application_stop_failures: failed.ignore_application_stop_failures,
        file_exists_behavior: failed.file_exists_behavior,
        auto_rollback: group.auto_rollback.clone(),
        rollback_info: RollbackInfo {
            rollback_triggering_deployment_id: Some(failed.id.clone()),
            rollback_message: Some(format!("Deployment {id} is triggered to roll back deployment {}.", failed.id)),
            ..Default::default()
        },
        stop: None,
        lifecycle_events: failed.lifecycle_events.clone(),
        targets: Vec::new(),
        finalized: false,
        blue_green: None,
        // A rollback is not stopped by the alarm that may have caused it.
        alarms: Default::default(),
        bake_until: None,
        fetching: None,
        triggers: group.triggers.clone(),
        ecs: None,
        only_instances: None,
        id,
    }
}

#[cfg(test)]
mod tests;
