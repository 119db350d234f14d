//! ferry-core's domain types to CodeDeploy's wire shapes, and requests'
//! shapes to domain values (checked, with CodeDeploy's exception names).

use ferry_core::Millis;
use ferry_core::config::{ComputePlatform, DeploymentConfig, MinimumHealthyHosts, TrafficRouting};
use ferry_core::deployment::{
    AutoRollback, BlueAction, Deployment, DeploymentStatus, DeploymentType, EventStatus, FileExistsBehavior,
    LifecycleEvent, Phase, ReadyAction, RollbackEvent, Target, TargetStatus,
};
use ferry_core::resources::{
    AlarmConfig, Application, BlueGreenConfig, ContentKind, DeploymentGroup, Instance, InstanceSelector,
    OutdatedInstancesStrategy, Revision, RevisionLocation, Tag, TagFilter, TagFilterType, Trigger,
};
use sha2::Digest;

use crate::arn::Arns;
use crate::validate::one_of;
use crate::{AwsError, AwsResult, wire};

/// The pseudo-bucket under which revisions uploaded with `ferry push` (and
/// kept in the server's own blob store) appear in the AWS API: key = the
/// revision id. Upper case cannot be an AWS S3 bucket name, so it never
/// collides with a real one.
pub const FERRY_BUCKET: &str = "FerryServer";

/// Keys of [`FERRY_BUCKET`] that name a build's primary artifact
/// (`builds/<build id>`): CreateDeployment deploys it.
pub const BUILDS_KEY_PREFIX: &str = "builds/";

pub fn ts(ms: Millis) -> wire::Timestamp {
    ms as f64 / 1000.0
}

pub fn millis(ts: wire::Timestamp) -> Millis {
    if ts <= 0.0 { 0 } else { (ts * 1000.0).round() as Millis }
}

// ---------------------------------------------------------------- to the wire

pub fn application_info(app: &Application) -> wire::ApplicationInfo {
    wire::ApplicationInfo {
        application_id: app.id.clone(),
        application_name: app.name.clone(),
        create_time: ts(app.create_time),
        linked_to_git_hub: false,
        compute_platform: app.compute_platform.as_str().to_string(),
    }
}

pub fn tag(t: &Tag) -> wire::Tag {
    wire::Tag { key: Some(t.key.clone()), value: Some(t.value.clone()) }
}

pub fn tag_filter(f: &TagFilter) -> wire::TagFilter {
    let kind = match f.kind {
        TagFilterType::KeyOnly => "KEY_ONLY",
        TagFilterType::ValueOnly => "VALUE_ONLY",
        TagFilterType::KeyAndValue => "KEY_AND_VALUE",
    };
    wire::TagFilter { key: Some(f.key.clone()), value: Some(f.value.clone()), kind: Some(kind.into()) }
}

fn tag_set(sets: &[Vec<TagFilter>]) -> Vec<Vec<wire::TagFilter>> {
    sets.iter().map(|set| set.iter().map(tag_filter).collect()).collect()
}

pub fn rollback_event_name(e: RollbackEvent) -> &'static str {
    match e {
        RollbackEvent::DeploymentFailure => "DEPLOYMENT_FAILURE",
        RollbackEvent::DeploymentStopOnAlarm => "DEPLOYMENT_STOP_ON_ALARM",
        RollbackEvent::DeploymentStopOnRequest => "DEPLOYMENT_STOP_ON_REQUEST",
    }
}

pub fn auto_rollback(a: &AutoRollback) -> wire::AutoRollbackConfiguration {
    wire::AutoRollbackConfiguration {
        enabled: Some(a.enabled),
        events: Some(a.events.iter().map(|e| rollback_event_name(*e).to_string()).collect()),
    }
}

pub fn alarm_configuration(a: &AlarmConfig) -> wire::AlarmConfiguration {
    wire::AlarmConfiguration {
        enabled: Some(a.enabled),
        ignore_poll_alarm_failure: Some(a.ignore_poll_alarm_failure),
        alarms: Some(a.alarms.iter().map(|name| wire::Alarm { name: Some(name.clone()) }).collect()),
    }
}

pub fn trigger(t: &Trigger) -> wire::TriggerConfig {
    wire::TriggerConfig {
        trigger_name: Some(t.name.clone()),
        trigger_target_arn: Some(t.target.clone()),
        trigger_events: Some(t.events.clone()),
    }
}

fn deployment_style(blue_green: bool, traffic_control: bool) -> wire::DeploymentStyle {
    let kind = if blue_green { "BLUE_GREEN" } else { "IN_PLACE" };
    let option = if traffic_control || blue_green { "WITH_TRAFFIC_CONTROL" } else { "WITHOUT_TRAFFIC_CONTROL" };
    wire::DeploymentStyle { deployment_type: Some(kind.into()), deployment_option: Some(option.into()) }
}

/// Whole minutes of a wait kept in milliseconds (rounded up, so a wait
/// set natively in seconds never shows as none).
fn wait_minutes(ms: u64) -> i64 {
    i64::try_from(ms.div_ceil(60_000)).unwrap_or(i64::MAX)
}

pub fn blue_green_configuration(ready: ReadyAction, blue: BlueAction) -> wire::BlueGreenDeploymentConfiguration {
    let (action_on_timeout, wait) = match ready {
        ReadyAction::Continue => ("CONTINUE_DEPLOYMENT", 0),
        ReadyAction::Stop { wait_ms } => ("STOP_DEPLOYMENT", wait_minutes(wait_ms)),
    };
    let (action, termination_wait) = match blue {
        BlueAction::Terminate { wait_ms } => ("TERMINATE", wait_minutes(wait_ms)),
        BlueAction::KeepAlive => ("KEEP_ALIVE", 0),
    };
    wire::BlueGreenDeploymentConfiguration {
        terminate_blue_instances_on_deployment_success: Some(wire::BlueInstanceTerminationOption {
            action: Some(action.into()),
            termination_wait_time_in_minutes: Some(termination_wait),
        }),
        deployment_ready_option: Some(wire::DeploymentReadyOption {
            action_on_timeout: Some(action_on_timeout.into()),
            wait_time_in_minutes: Some(wait),
        }),
        green_fleet_provisioning_option: Some(wire::GreenFleetProvisioningOption {
            action: Some("DISCOVER_EXISTING".into()),
        }),
    }
}

/// The longest Ready or termination wait CodeDeploy allows for EC2: 48 h.
const MAX_WAIT_MINUTES: i64 = 2880;

/// A `blueGreenDeploymentConfiguration` applied over `current` (members
/// left out keep their value). A new group starts from CONTINUE_DEPLOYMENT
/// and KEEP_ALIVE: nothing waits and nothing is terminated unless asked.
pub fn parse_blue_green_configuration(
    c: &wire::BlueGreenDeploymentConfiguration,
    current: Option<BlueGreenConfig>,
) -> AwsResult<BlueGreenConfig> {
    let invalid = |m: String| AwsError::new("InvalidBlueGreenDeploymentConfigurationException", m);
    let wait_ms = |minutes: Option<i64>, what: &str| -> AwsResult<Option<u64>> {
        match minutes {
            None => Ok(None),
            Some(m) if (0..=MAX_WAIT_MINUTES).contains(&m) => Ok(Some(m as u64 * 60_000)),
            Some(m) => Err(invalid(format!("{what} must be between 0 and {MAX_WAIT_MINUTES} minutes (got {m})."))),
        }
    };
    let mut config = current.unwrap_or(BlueGreenConfig { ready: ReadyAction::Continue, blue: BlueAction::KeepAlive });
    if let Some(fleet) = &c.green_fleet_provisioning_option {
        match fleet.action.as_deref() {
            None | Some("DISCOVER_EXISTING") => {}
            Some("COPY_AUTO_SCALING_GROUP") => {
                return Err(invalid(
                    "COPY_AUTO_SCALING_GROUP needs Auto Scaling groups, which ferry does not have: use \
                     DISCOVER_EXISTING and name the replacement instances with targetInstances."
                        .into(),
                ));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "The green fleet provisioning action {other:?} is not DISCOVER_EXISTING or COPY_AUTO_SCALING_GROUP."
                )));
            }
        }
    }
    if let Some(ready) = &c.deployment_ready_option {
        let wait = wait_ms(ready.wait_time_in_minutes, "waitTimeInMinutes")?;
        let current_wait = match config.ready {
            ReadyAction::Stop { wait_ms } => wait_ms,
            ReadyAction::Continue => 0,
        };
        config.ready = match ready.action_on_timeout.as_deref() {
            Some("CONTINUE_DEPLOYMENT") => ReadyAction::Continue,
            Some("STOP_DEPLOYMENT") => ReadyAction::Stop { wait_ms: wait.unwrap_or(current_wait) },
            None => match config.ready {
                ReadyAction::Stop { .. } => ReadyAction::Stop { wait_ms: wait.unwrap_or(current_wait) },
                ReadyAction::Continue => ReadyAction::Continue,
            },
            Some(other) => {
                return Err(invalid(format!(
                    "The actionOnTimeout {other:?} is not CONTINUE_DEPLOYMENT or STOP_DEPLOYMENT."
                )));
            }
        };
    }
    if let Some(blue) = &c.terminate_blue_instances_on_deployment_success {
        let wait = wait_ms(blue.termination_wait_time_in_minutes, "terminationWaitTimeInMinutes")?;
        let current_wait = match config.blue {
            BlueAction::Terminate { wait_ms } => wait_ms,
            BlueAction::KeepAlive => 0,
        };
        config.blue = match blue.action.as_deref() {
            Some("TERMINATE") => BlueAction::Terminate { wait_ms: wait.unwrap_or(current_wait) },
            Some("KEEP_ALIVE") => BlueAction::KeepAlive,
            None => match config.blue {
                BlueAction::Terminate { .. } => BlueAction::Terminate { wait_ms: wait.unwrap_or(current_wait) },
                BlueAction::KeepAlive => BlueAction::KeepAlive,
            },
            Some(other) => {
                return Err(invalid(format!("The blue instance action {other:?} is not TERMINATE or KEEP_ALIVE.")));
            }
        };
    }
    Ok(config)
}

/// `targetInstances`: the replacement fleet, by tags. ferry's instances
/// are all on-premises, so EC2 tag filters select among them.
pub fn parse_target_instances(t: &wire::TargetInstances) -> AwsResult<InstanceSelector> {
    if t.auto_scaling_groups.as_deref().is_some_and(|g| !g.is_empty()) {
        return Err(AwsError::new(
            "InvalidTargetInstancesException",
            "ferry has no Auto Scaling groups: select the replacement instances with tagFilters or ec2TagSet.",
        ));
    }
    let tag_filters = parse_tag_filters(t.tag_filters.as_deref().unwrap_or_default(), "InvalidEC2TagException")?;
    let tag_set = match &t.ec2_tag_set {
        Some(set) => parse_tag_set(set.ec2_tag_set_list.as_deref().unwrap_or_default(), "InvalidEC2TagException")?,
        None => Vec::new(),
    };
    if !tag_filters.is_empty() && !tag_set.is_empty() {
        return Err(AwsError::new(
            "InvalidEC2TagCombinationException",
            "targetInstances takes tagFilters or ec2TagSet, not both.",
        ));
    }
    if tag_filters.is_empty() && tag_set.is_empty() {
        return Err(AwsError::new(
            "InvalidTargetInstancesException",
            "targetInstances names no instances: give tagFilters or ec2TagSet.",
        ));
    }
    Ok(InstanceSelector { tag_filters, tag_set })
}

fn target_instances(s: &InstanceSelector) -> wire::TargetInstances {
    wire::TargetInstances {
        tag_filters: (!s.tag_filters.is_empty()).then(|| s.tag_filters.iter().map(tag_filter).collect()),
        auto_scaling_groups: None,
        ec2_tag_set: (!s.tag_set.is_empty()).then(|| wire::Ec2TagSet { ec2_tag_set_list: Some(tag_set(&s.tag_set)) }),
    }
}

/// An ECS group's target groups as CodeDeploy's one target group pair.
pub fn ecs_load_balancer_info(target_groups: &[String]) -> Option<wire::LoadBalancerInfo> {
    (!target_groups.is_empty()).then(|| {
        let groups: Vec<serde_json::Value> =
            target_groups.iter().map(|name| serde_json::json!({ "name": name })).collect();
        wire::LoadBalancerInfo {
            target_group_pair_info_list: Some(vec![serde_json::json!({
                "targetGroups": groups,
                "prodTrafficRoute": { "listenerArns": [] },
                "testTrafficRoute": { "listenerArns": [] },
            })]),
            ..Default::default()
        }
    })
}

/// `ecsServices`: `(cluster, service)` pairs (ferry deploys one per group).
pub fn parse_ecs_services(services: &[wire::Opaque]) -> AwsResult<Option<(String, String)>> {
    let invalid = |m: &str| AwsError::new("InvalidECSServiceException", m);
    match services {
        [] => Ok(None),
        [one] => {
            let service = one
                .get("serviceName")
                .and_then(|s| s.as_str())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| invalid("An ECS service needs a serviceName."))?;
            let cluster =
                one.get("clusterName").and_then(|s| s.as_str()).filter(|s| !s.is_empty()).unwrap_or("default");
            Ok(Some((cluster.to_string(), service.to_string())))
        }
        _ => Err(invalid("A deployment group deploys to one ECS service.")),
    }
}

/// Target groups as CodeDeploy's `loadBalancerInfo` (none: absent).
pub fn load_balancer_info(target_groups: &[String]) -> Option<wire::LoadBalancerInfo> {
    (!target_groups.is_empty()).then(|| wire::LoadBalancerInfo {
        target_group_info_list: Some(
            target_groups.iter().map(|name| wire::NamedInfo { name: Some(name.clone()) }).collect(),
        ),
        ..Default::default()
    })
}

/// The target group names a `loadBalancerInfo` names (ELB names count as
/// target groups: a ferry target group serves either). At most 10 of each.
/// ECS's `targetGroupPairInfoList` (one pair) names ferry target groups
/// too: a ferry target group carries both the production and the test
/// listener, so the pair's listener ARNs are accepted and not used.
pub fn parse_load_balancer_info(info: &wire::LoadBalancerInfo) -> AwsResult<Vec<String>> {
    let invalid = |m: String| AwsError::new("InvalidLoadBalancerInfoException", m);
    let mut names: Vec<String> = Vec::new();
    let pairs = info.target_group_pair_info_list.as_deref().unwrap_or_default();
    if pairs.len() > 1 {
        return Err(invalid(format!("targetGroupPairInfoList holds one pair (got {}).", pairs.len())));
    }
    for pair in pairs {
        let groups = pair.get("targetGroups").and_then(|g| g.as_array()).cloned().unwrap_or_default();
        if groups.is_empty() || groups.len() > 2 {
            return Err(invalid("A target group pair names one or two targetGroups.".into()));
        }
        for g in groups {
            let name = g
                .get("name")
                .and_then(|n| n.as_str())
                .filter(|n| !n.is_empty())
                .ok_or_else(|| invalid("An entry of targetGroupPairInfoList.targetGroups has no name.".into()))?;
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    for (list, what) in [(&info.elb_info_list, "elbInfoList"), (&info.target_group_info_list, "targetGroupInfoList")] {
        let list = list.as_deref().unwrap_or_default();
        if list.len() > 10 {
            return Err(invalid(format!("{what} holds at most 10 entries (got {}).", list.len())));
        }
        for item in list {
            let name = item
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| invalid(format!("An entry of {what} has no name.")))?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

pub fn minimum_healthy_hosts(m: MinimumHealthyHosts) -> wire::MinimumHealthyHosts {
    let (kind, value) = match m {
        MinimumHealthyHosts::HostCount(v) => ("HOST_COUNT", i64::from(v)),
        MinimumHealthyHosts::FleetPercent(v) => ("FLEET_PERCENT", i64::from(v)),
        // What CodeDeploy answers for OneAtATime (not in the SDK's enum).
        MinimumHealthyHosts::MostConcurrency => ("MOST_CONCURRENCY", 1),
    };
    wire::MinimumHealthyHosts { kind: Some(kind.into()), value: Some(value) }
}

pub fn traffic_routing(t: TrafficRouting) -> wire::TrafficRoutingConfig {
    match t {
        TrafficRouting::AllAtOnce => {
            wire::TrafficRoutingConfig { kind: Some("AllAtOnce".into()), ..Default::default() }
        }
        TrafficRouting::TimeBasedCanary { percentage, interval_seconds } => wire::TrafficRoutingConfig {
            kind: Some("TimeBasedCanary".into()),
            time_based_canary: Some(wire::TimeBasedCanary {
                canary_percentage: Some(i64::from(percentage)),
                canary_interval: Some(minutes(interval_seconds)),
            }),
            ..Default::default()
        },
        TrafficRouting::TimeBasedLinear { percentage, interval_seconds } => wire::TrafficRoutingConfig {
            kind: Some("TimeBasedLinear".into()),
            time_based_linear: Some(wire::TimeBasedLinear {
                linear_percentage: Some(i64::from(percentage)),
                linear_interval: Some(minutes(interval_seconds)),
            }),
            ..Default::default()
        },
    }
}

/// Whole minutes, as CodeDeploy counts intervals (rounded up: ferry's own
/// configs may shift every few seconds).
fn minutes(seconds: u32) -> i64 {
    i64::from(seconds.div_ceil(60))
}

pub fn config_info(c: &DeploymentConfig) -> wire::DeploymentConfigInfo {
    wire::DeploymentConfigInfo {
        deployment_config_id: c.id.clone(),
        deployment_config_name: c.name.clone(),
        minimum_healthy_hosts: c.minimum_healthy_hosts.map(minimum_healthy_hosts),
        create_time: ts(c.create_time),
        compute_platform: c.compute_platform.as_str().to_string(),
        traffic_routing_config: c.traffic_routing.map(traffic_routing),
    }
}

/// Where a revision is, as CodeDeploy names it.
pub fn revision_location(r: &Revision) -> wire::RevisionLocation {
    match &r.location {
        RevisionLocation::Blob { .. } => wire::RevisionLocation {
            revision_type: Some("S3".into()),
            s3_location: Some(wire::S3Location {
                bucket: Some(FERRY_BUCKET.into()),
                key: Some(r.id.clone()),
                bundle_type: Some(r.bundle_type.clone()),
                ..Default::default()
            }),
            ..Default::default()
        },
        RevisionLocation::S3 { bucket, key, version, etag } => wire::RevisionLocation {
            revision_type: Some("S3".into()),
            s3_location: Some(wire::S3Location {
                bucket: Some(bucket.clone()),
                key: Some(key.clone()),
                bundle_type: Some(r.bundle_type.clone()),
                version: version.clone(),
                e_tag: etag.clone(),
            }),
            ..Default::default()
        },
        RevisionLocation::GitHub { repository, commit } => wire::RevisionLocation {
            revision_type: Some("GitHub".into()),
            git_hub_location: Some(wire::GitHubLocation {
                repository: Some(repository.clone()),
                commit_id: Some(commit.clone()),
            }),
            ..Default::default()
        },
        RevisionLocation::Content { kind, content, sha256 } => {
            let raw = wire::RawString { content: Some(content.clone()), sha256: Some(sha256.clone()) };
            match kind {
                ContentKind::String => wire::RevisionLocation {
                    revision_type: Some("String".into()),
                    string: Some(raw),
                    ..Default::default()
                },
                ContentKind::AppSpecContent => wire::RevisionLocation {
                    revision_type: Some("AppSpecContent".into()),
                    app_spec_content: Some(raw),
                    ..Default::default()
                },
            }
        }
    }
}

pub fn generic_revision_info(r: &Revision) -> wire::GenericRevisionInfo {
    wire::GenericRevisionInfo {
        description: Some(r.description.clone()).filter(|d| !d.is_empty()),
        deployment_groups: r.deployment_groups.clone(),
        first_used_time: r.first_used_time.map(ts),
        last_used_time: r.last_used_time.map(ts),
        register_time: ts(r.register_time),
    }
}

pub fn last_deployment(d: &Deployment) -> wire::LastDeploymentInfo {
    wire::LastDeploymentInfo {
        deployment_id: d.id.clone(),
        status: d.status.as_str().to_string(),
        end_time: d.complete_time.map(ts),
        create_time: ts(d.create_time),
    }
}

/// What a group's view needs beyond the group itself.
#[derive(Debug, Default)]
pub struct GroupContext {
    pub target_revision: Option<wire::RevisionLocation>,
    pub last_successful: Option<wire::LastDeploymentInfo>,
    pub last_attempted: Option<wire::LastDeploymentInfo>,
}

pub fn group_info(g: &DeploymentGroup, context: GroupContext) -> wire::DeploymentGroupInfo {
    let on_prem_set = (!g.selector.tag_set.is_empty())
        .then(|| wire::OnPremisesTagSet { on_premises_tag_set_list: Some(tag_set(&g.selector.tag_set)) });
    let ec2_set = (!g.ec2_selector.tag_set.is_empty())
        .then(|| wire::Ec2TagSet { ec2_tag_set_list: Some(tag_set(&g.ec2_selector.tag_set)) });
    wire::DeploymentGroupInfo {
        application_name: g.application_name.clone(),
        deployment_group_id: g.id.clone(),
        deployment_group_name: g.name.clone(),
        deployment_config_name: g.deployment_config_name.clone(),
        ec2_tag_filters: g.ec2_selector.tag_filters.iter().map(tag_filter).collect(),
        on_premises_instance_tag_filters: g.selector.tag_filters.iter().map(tag_filter).collect(),
        auto_scaling_groups: g
            .scaling_groups
            .iter()
            .map(|name| wire::AutoScalingGroup {
                name: name.clone(),
                hook: format!("ferry-launch-{}", g.name),
                termination_hook: g.termination_hook_enabled.then(|| format!("ferry-termination-{}", g.name)),
            })
            .collect(),
        service_role_arn: g.service_role_arn.clone(),
        target_revision: context.target_revision,
        trigger_configurations: g.triggers.iter().map(trigger).collect(),
        alarm_configuration: alarm_configuration(&g.alarms),
        auto_rollback_configuration: auto_rollback(&g.auto_rollback),
        deployment_style: deployment_style(g.blue_green.is_some(), g.traffic_control),
        blue_green_deployment_configuration: g.blue_green.map(|c| blue_green_configuration(c.ready, c.blue)),
        load_balancer_info: if g.ecs_service.is_some() {
            ecs_load_balancer_info(&g.target_groups)
        } else {
            load_balancer_info(&g.target_groups)
        },
        ecs_services: g
            .ecs_service
            .iter()
            .map(|(cluster, service)| wire::EcsServiceInfo {
                service_name: service.clone(),
                cluster_name: cluster.clone(),
            })
            .collect(),
        outdated_instances_strategy: match g.outdated_instances_strategy {
            OutdatedInstancesStrategy::Update => "UPDATE".into(),
            OutdatedInstancesStrategy::Ignore => "IGNORE".into(),
        },
        last_successful_deployment: context.last_successful,
        last_attempted_deployment: context.last_attempted,
        ec2_tag_set: ec2_set,
        on_premises_tag_set: on_prem_set,
        compute_platform: if g.ecs_service.is_some() { ComputePlatform::Ecs } else { ComputePlatform::Server }
            .as_str()
            .to_string(),
        termination_hook_enabled: g.termination_hook_enabled,
    }
}

fn file_exists_name(b: FileExistsBehavior) -> &'static str {
    match b {
        FileExistsBehavior::Disallow => "DISALLOW",
        FileExistsBehavior::Overwrite => "OVERWRITE",
        FileExistsBehavior::Retain => "RETAIN",
    }
}

pub fn deployment_info(
    d: &Deployment,
    revision: wire::RevisionLocation,
    previous_revision: Option<wire::RevisionLocation>,
) -> wire::DeploymentInfo {
    let o = d.overview();
    let rollback = &d.rollback_info;
    let rollback_info = (rollback.rollback_deployment_id.is_some()
        || rollback.rollback_triggering_deployment_id.is_some()
        || rollback.rollback_message.is_some())
    .then(|| wire::RollbackInfo {
        rollback_deployment_id: rollback.rollback_deployment_id.clone(),
        rollback_triggering_deployment_id: rollback.rollback_triggering_deployment_id.clone(),
        rollback_message: rollback.rollback_message.clone(),
    });
    wire::DeploymentInfo {
        application_name: d.application_name.clone(),
        deployment_group_name: d.group_name.clone(),
        deployment_config_name: d.config_name.clone(),
        deployment_id: d.id.clone(),
        previous_revision,
        revision,
        status: d.status.as_str().to_string(),
        error_information: d
            .error
            .as_ref()
            .map(|e| wire::ErrorInformation { code: e.code.as_str().to_string(), message: e.message.clone() }),
        create_time: ts(d.create_time),
        start_time: d.start_time.map(ts),
        complete_time: d.complete_time.map(ts),
        deployment_overview: wire::DeploymentOverview {
            pending: o.pending.into(),
            in_progress: o.in_progress.into(),
            succeeded: o.succeeded.into(),
            failed: o.failed.into(),
            skipped: o.skipped.into(),
            ready: o.ready.into(),
        },
        description: d.description.clone(),
        creator: d.creator.as_str().to_string(),
        ignore_application_stop_failures: d.ignore_application_stop_failures,
        auto_rollback_configuration: auto_rollback(&d.auto_rollback),
        update_outdated_instances_only: false,
        rollback_info,
        deployment_style: deployment_style(
            d.deployment_type() == DeploymentType::BlueGreen || d.ecs.is_some(),
            d.ecs.is_some() || d.lifecycle_events.contains(&ferry_core::events::Event::BlockTraffic),
        ),
        blue_green_deployment_configuration: d
            .blue_green
            .as_ref()
            .map(|bg| blue_green_configuration(bg.ready, bg.blue)),
        target_instances: d.blue_green.as_ref().and_then(|bg| bg.green_selector.as_ref()).map(target_instances),
        load_balancer_info: None,
        instance_termination_wait_time_started: d.blue_green.as_ref().is_some_and(|bg| {
            matches!(bg.phase, Phase::TerminationWait | Phase::Terminating)
                || (bg.phase == Phase::Done
                    && d.status == DeploymentStatus::Succeeded
                    && matches!(bg.blue, BlueAction::Terminate { .. })
                    && !bg.traffic_only)
        }),
        file_exists_behavior: Some(
            file_exists_name(d.file_exists_behavior.unwrap_or(FileExistsBehavior::Disallow)).into(),
        ),
        deployment_status_messages: Vec::new(),
        compute_platform: if d.ecs.is_some() { ComputePlatform::Ecs } else { ComputePlatform::Server }
            .as_str()
            .to_string(),
        override_alarm_configuration: None,
    }
}

fn event_status(s: EventStatus) -> String {
    s.as_str().to_string()
}

pub fn target_status(s: TargetStatus) -> String {
    s.as_str().to_string()
}

/// ferry's agent reports two codes CodeDeploy's API enum lacks
/// (OutputsLeftOpen, FailedAfterRestart, which CodeDeploy's own agent also
/// has): they travel as UnknownError, the message saying which.
fn api_error_code(code: &str) -> String {
    match code {
        "Success" | "ScriptMissing" | "ScriptNotExecutable" | "ScriptTimedOut" | "ScriptFailed" | "UnknownError" => {
            code.to_string()
        }
        _ => "UnknownError".to_string(),
    }
}

pub fn lifecycle_event(e: &LifecycleEvent) -> wire::LifecycleEvent {
    wire::LifecycleEvent {
        lifecycle_event_name: e.name.to_string(),
        diagnostics: e.diagnostics.as_ref().map(|d| {
            let mut message = d.message.clone();
            if api_error_code(&d.error_code) != d.error_code {
                message = format!("{}: {message}", d.error_code);
            }
            wire::Diagnostics {
                error_code: api_error_code(&d.error_code),
                script_name: d.script_name.clone(),
                message,
                log_tail: d.log_tail.clone(),
            }
        }),
        start_time: e.start_time.map(ts),
        end_time: e.end_time.map(ts),
        status: event_status(e.status),
    }
}

/// An ECS deployment's target, with the service's task sets as they are now.
pub fn ecs_target(d: &Deployment, t: &Target, arns: &Arns, task_sets: Vec<wire::EcsTaskSet>) -> wire::DeploymentTarget {
    wire::DeploymentTarget {
        deployment_target_type: "ECSTarget".into(),
        instance_target: None,
        ecs_target: Some(wire::EcsTarget {
            deployment_id: d.id.clone(),
            target_id: t.instance.clone(),
            target_arn: arns.ecs_service(&t.instance),
            last_updated_at: ts(t.last_updated),
            lifecycle_events: t.events.iter().map(lifecycle_event).collect(),
            status: target_status(t.status),
            task_sets_info: task_sets,
        }),
    }
}

pub fn instance_target(d: &Deployment, t: &Target, arns: &Arns) -> wire::DeploymentTarget {
    wire::DeploymentTarget {
        deployment_target_type: "InstanceTarget".into(),
        ecs_target: None,
        instance_target: Some(wire::InstanceTarget {
            deployment_id: d.id.clone(),
            target_id: t.instance.clone(),
            target_arn: arns.instance(&t.instance),
            status: target_status(t.status),
            last_updated_at: ts(t.last_updated),
            lifecycle_events: t.events.iter().map(lifecycle_event).collect(),
            instance_label: t.label.map(|l| l.as_str().to_string()),
        }),
    }
}

pub fn instance_summary(d: &Deployment, t: &Target) -> wire::InstanceSummary {
    wire::InstanceSummary {
        deployment_id: d.id.clone(),
        instance_id: t.instance.clone(),
        status: target_status(t.status),
        last_updated_at: ts(t.last_updated),
        lifecycle_events: t.events.iter().map(lifecycle_event).collect(),
        instance_type: t.label.map(|l| l.as_str().to_string()),
    }
}

pub fn instance_info(i: &Instance, arns: &Arns) -> wire::InstanceInfo {
    wire::InstanceInfo {
        instance_name: i.name.clone(),
        iam_session_arn: i.iam_session_arn.clone(),
        // `aws deploy deregister` reads this member and fails without it.
        iam_user_arn: Some(i.iam_user_arn.clone().unwrap_or_default()).filter(|_| i.iam_session_arn.is_none()),
        instance_arn: arns.instance(&i.name),
        register_time: ts(i.register_time),
        deregister_time: i.deregister_time.map(ts),
        tags: i.tags.iter().map(tag).collect(),
    }
}

// ---------------------------------------------------------------- from the wire

/// Tags, each with a key of 1–128 and a value of at most 256 characters.
pub fn parse_tags(tags: &[wire::Tag], exception: &'static str) -> AwsResult<Vec<Tag>> {
    let mut out: Vec<Tag> = Vec::new();
    for t in tags {
        let key = t.key.clone().unwrap_or_default();
        let value = t.value.clone().unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 {
            return Err(AwsError::new(exception, format!("Tag key {key:?} is invalid: keys are 1 to 128 characters.")));
        }
        if value.chars().count() > 256 {
            return Err(AwsError::new(exception, format!("Tag value of {key:?} is longer than 256 characters.")));
        }
        out.retain(|existing| existing.key != key);
        out.push(Tag { key, value });
    }
    Ok(out)
}

/// Tag filters; a missing type means KEY_AND_VALUE.
pub fn parse_tag_filters(filters: &[wire::TagFilter], exception: &'static str) -> AwsResult<Vec<TagFilter>> {
    filters
        .iter()
        .map(|f| {
            let key = f.key.clone().unwrap_or_default();
            let value = f.value.clone().unwrap_or_default();
            let kind = match f.kind.as_deref().unwrap_or("KEY_AND_VALUE") {
                "KEY_ONLY" => TagFilterType::KeyOnly,
                "VALUE_ONLY" => TagFilterType::ValueOnly,
                "KEY_AND_VALUE" => TagFilterType::KeyAndValue,
                other => {
                    return Err(AwsError::new(
                        exception,
                        format!("Tag filter type {other:?} is not KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE."),
                    ));
                }
            };
            let needs_key = kind != TagFilterType::ValueOnly;
            if needs_key && key.is_empty() {
                return Err(AwsError::new(exception, "A tag filter of type KEY_ONLY or KEY_AND_VALUE needs a Key."));
            }
            if kind == TagFilterType::ValueOnly && value.is_empty() {
                return Err(AwsError::new(exception, "A tag filter of type VALUE_ONLY needs a Value."));
            }
            Ok(TagFilter { key, value, kind })
        })
        .collect()
}

/// A tag set: at most 3 groups of filters.
pub fn parse_tag_set(sets: &[Vec<wire::TagFilter>], exception: &'static str) -> AwsResult<Vec<Vec<TagFilter>>> {
    if sets.len() > 3 {
        return Err(AwsError::new(
            "TagSetListLimitExceededException",
            format!("A tag set holds at most 3 groups of tags (got {}).", sets.len()),
        ));
    }
    sets.iter().map(|set| parse_tag_filters(set, exception)).collect()
}

pub fn parse_auto_rollback(a: &wire::AutoRollbackConfiguration) -> AwsResult<AutoRollback> {
    let enabled = a.enabled.unwrap_or(false);
    let mut events = Vec::new();
    for name in a.events.iter().flatten() {
        let event = match name.as_str() {
            "DEPLOYMENT_FAILURE" => RollbackEvent::DeploymentFailure,
            "DEPLOYMENT_STOP_ON_ALARM" => RollbackEvent::DeploymentStopOnAlarm,
            "DEPLOYMENT_STOP_ON_REQUEST" => RollbackEvent::DeploymentStopOnRequest,
            other => {
                return Err(AwsError::new(
                    "InvalidAutoRollbackConfigException",
                    format!(
                        "Auto-rollback event {other:?} is not DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM or DEPLOYMENT_STOP_ON_REQUEST."
                    ),
                ));
            }
        };
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if enabled && events.is_empty() {
        return Err(AwsError::new(
            "InvalidAutoRollbackConfigException",
            "Auto-rollback is enabled but no events were specified: give at least one of DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM, DEPLOYMENT_STOP_ON_REQUEST.",
        ));
    }
    Ok(AutoRollback { enabled, events })
}

pub fn parse_alarm_configuration(a: &wire::AlarmConfiguration) -> AwsResult<AlarmConfig> {
    let invalid = |m: String| AwsError::new("InvalidAlarmConfigException", m);
    let mut names: Vec<String> = Vec::new();
    for alarm in a.alarms.iter().flatten() {
        let name = alarm.name.clone().unwrap_or_default();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(invalid(format!("Alarm name {name:?} is invalid: names are 1 to 255 characters.")));
        }
        if names.contains(&name) {
            return Err(invalid(format!("Alarm {name:?} is listed twice.")));
        }
        names.push(name);
    }
    if names.len() > 10 {
        return Err(AwsError::new(
            "AlarmsLimitExceededException",
            format!("At most 10 alarms can be configured (got {}).", names.len()),
        ));
    }
    let enabled = a.enabled.unwrap_or(false);
    if enabled && names.is_empty() {
        return Err(invalid("The alarm configuration is enabled but lists no alarms.".into()));
    }
    // The bake time and the Prometheus are ferry's own (native API only); callers keep the current ones.
    Ok(AlarmConfig {
        enabled,
        ignore_poll_alarm_failure: a.ignore_poll_alarm_failure.unwrap_or(false),
        alarms: names,
        bake_time_ms: 0,
        prometheus_url: None,
    })
}

pub const TRIGGER_EVENTS: [&str; 10] = ferry_core::notices::TRIGGER_EVENT_NAMES;

pub fn parse_triggers(triggers: &[wire::TriggerConfig]) -> AwsResult<Vec<Trigger>> {
    if triggers.len() > 10 {
        return Err(AwsError::new(
            "TriggerTargetsLimitExceededException",
            format!("At most 10 triggers can be configured for a deployment group (got {}).", triggers.len()),
        ));
    }
    let invalid = |m: String| AwsError::new("InvalidTriggerConfigException", m);
    let mut out: Vec<Trigger> = Vec::new();
    for t in triggers {
        let name = t.trigger_name.clone().unwrap_or_default();
        let target = t.trigger_target_arn.clone().unwrap_or_default();
        if name.is_empty() || target.is_empty() {
            return Err(invalid("Every trigger needs a triggerName and a triggerTargetArn.".into()));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(invalid(format!("Trigger name {name:?} is used twice.")));
        }
        let mut events = Vec::new();
        for e in t.trigger_events.iter().flatten() {
            one_of(e, &TRIGGER_EVENTS, "InvalidTriggerConfigException", "Trigger event")?;
            if !events.contains(e) {
                events.push(e.clone());
            }
        }
        if events.is_empty() {
            return Err(invalid(format!("Trigger {name:?} lists no triggerEvents.")));
        }
        out.push(Trigger { name, target, events });
    }
    Ok(out)
}

pub fn parse_outdated_instances_strategy(s: &str) -> AwsResult<OutdatedInstancesStrategy> {
    match one_of(s, &["UPDATE", "IGNORE"], "InvalidInputException", "outdatedInstancesStrategy")? {
        "IGNORE" => Ok(OutdatedInstancesStrategy::Ignore),
        _ => Ok(OutdatedInstancesStrategy::Update),
    }
}

pub fn parse_compute_platform(s: Option<&str>) -> AwsResult<ComputePlatform> {
    match s {
        None | Some("Server") => Ok(ComputePlatform::Server),
        Some("Lambda") => Ok(ComputePlatform::Lambda),
        Some("ECS") => Ok(ComputePlatform::Ecs),
        Some(other) => Err(AwsError::new(
            "InvalidComputePlatformException",
            format!("The computePlatform {other:?} is not Server, Lambda or ECS."),
        )),
    }
}

pub fn parse_minimum_healthy_hosts(m: &wire::MinimumHealthyHosts) -> AwsResult<MinimumHealthyHosts> {
    let invalid = |m: String| AwsError::new("InvalidMinimumHealthyHostValueException", m);
    let value = m.value.unwrap_or(0);
    let parsed = match m.kind.as_deref() {
        Some("HOST_COUNT") => {
            let v = u32::try_from(value).map_err(|_| {
                invalid(if value < 0 {
                    format!("HOST_COUNT must be 0 or more (got {value}).")
                } else {
                    format!("HOST_COUNT {value} is out of range: at most {} hosts.", u32::MAX)
                })
            })?;
            MinimumHealthyHosts::HostCount(v)
        }
        Some("FLEET_PERCENT") => {
            if !(0..=99).contains(&value) {
                return Err(invalid(format!("FLEET_PERCENT must be between 0 and 99 (got {value}).")));
            }
            MinimumHealthyHosts::FleetPercent(value as u32)
        }
        Some(other) => {
            return Err(invalid(format!(
                "The minimum healthy hosts type {other:?} is not HOST_COUNT or FLEET_PERCENT."
            )));
        }
        None => return Err(invalid("The minimum healthy hosts type is missing: HOST_COUNT or FLEET_PERCENT.".into())),
    };
    Ok(parsed)
}

pub fn parse_traffic_routing(t: &wire::TrafficRoutingConfig) -> AwsResult<TrafficRouting> {
    let invalid = |m: String| AwsError::new("InvalidTrafficRoutingConfigurationException", m);
    // Only the shape is read here: the limits (1–99 %, 1 s–48 h) are
    // `ferry_core::plan::check_routing`'s, applied by the server to every API.
    let pair = |p: Option<i64>, i: Option<i64>, what: &str| -> AwsResult<(u32, u32)> {
        let p = p.ok_or_else(|| invalid(format!("{what} needs a percentage.")))?;
        let i = i.ok_or_else(|| invalid(format!("{what} needs an interval in minutes.")))?;
        let minutes = i.clamp(0, i64::from(u32::MAX / 60)) as u32;
        Ok((p.clamp(0, i64::from(u32::MAX)) as u32, minutes))
    };
    match t.kind.as_deref() {
        Some("AllAtOnce") => Ok(TrafficRouting::AllAtOnce),
        Some("TimeBasedCanary") => {
            let c = t.time_based_canary.clone().unwrap_or_default();
            let (percentage, interval) = pair(c.canary_percentage, c.canary_interval, "TimeBasedCanary")?;
            Ok(TrafficRouting::TimeBasedCanary { percentage, interval_seconds: interval * 60 })
        }
        Some("TimeBasedLinear") => {
            let l = t.time_based_linear.clone().unwrap_or_default();
            let (percentage, interval) = pair(l.linear_percentage, l.linear_interval, "TimeBasedLinear")?;
            Ok(TrafficRouting::TimeBasedLinear { percentage, interval_seconds: interval * 60 })
        }
        other => Err(invalid(format!(
            "The traffic routing type {other:?} is not TimeBasedCanary, TimeBasedLinear or AllAtOnce."
        ))),
    }
}

pub fn parse_file_exists_behavior(s: &str) -> AwsResult<FileExistsBehavior> {
    match one_of(s, &["DISALLOW", "OVERWRITE", "RETAIN"], "InvalidFileExistsBehaviorException", "fileExistsBehavior")? {
        "OVERWRITE" => Ok(FileExistsBehavior::Overwrite),
        "RETAIN" => Ok(FileExistsBehavior::Retain),
        _ => Ok(FileExistsBehavior::Disallow),
    }
}

pub fn parse_deployment_statuses(list: &[String]) -> AwsResult<Vec<DeploymentStatus>> {
    list.iter()
        .map(|s| {
            DeploymentStatus::from_name(s).ok_or_else(|| {
                AwsError::new(
                    "InvalidDeploymentStatusException",
                    format!(
                        "The deployment status {s:?} is not one of Created, Queued, InProgress, Baking, Ready, Succeeded, Failed, Stopped."
                    ),
                )
            })
        })
        .collect()
}

/// What a request's `revision` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevisionRequest {
    /// A revision kept in the server's own store (see [`FERRY_BUCKET`]).
    Stored { revision_id: String },
    /// The primary artifact of a build (`FerryServer/builds/<build id>`).
    Build { build_id: String },
    /// A revision kept elsewhere, registered (or found) by its location.
    Located { location: RevisionLocation, bundle_type: String },
}

pub const BUNDLE_TYPES: [&str; 5] = ["tar", "tgz", "zip", "YAML", "JSON"];

fn invalid_revision(m: impl Into<String>) -> AwsError {
    AwsError::new("InvalidRevisionException", m)
}

/// Checks a `RevisionLocation`: the members its type needs, the bundle
/// type, the content's digest.
pub fn parse_revision(r: Option<&wire::RevisionLocation>) -> AwsResult<RevisionRequest> {
    let r = r.ok_or_else(|| AwsError::new("RevisionRequiredException", "The revision ID was not specified."))?;
    let kind = r.revision_type.as_deref().ok_or_else(|| invalid_revision("The revision's revisionType is missing."))?;
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    match kind {
        "S3" => {
            let s3 = r.s3_location.clone().ok_or_else(|| invalid_revision("An S3 revision needs an s3Location."))?;
            let bucket = nonempty(&s3.bucket).ok_or_else(|| invalid_revision("The s3Location has no bucket."))?;
            let key = nonempty(&s3.key).ok_or_else(|| invalid_revision("The s3Location has no key."))?;
            if bucket == FERRY_BUCKET
                && let Some(build_id) = key.strip_prefix(BUILDS_KEY_PREFIX)
            {
                return Ok(RevisionRequest::Build { build_id: build_id.to_string() });
            }
            if bucket == FERRY_BUCKET {
                return Ok(RevisionRequest::Stored { revision_id: key });
            }
            let bundle_type = s3.bundle_type.clone().ok_or_else(|| {
                invalid_revision(
                    "The s3Location has no bundleType: give tar, tgz or zip (YAML or JSON for an appspec alone).",
                )
            })?;
            one_of(&bundle_type, &BUNDLE_TYPES, "InvalidRevisionException", "The bundleType")?;
            let etag = nonempty(&s3.e_tag).map(|e| e.trim_matches('"').to_string());
            let location = RevisionLocation::S3 { bucket, key, version: nonempty(&s3.version), etag };
            Ok(RevisionRequest::Located { location, bundle_type })
        }
        "GitHub" => {
            let gh = r
                .git_hub_location
                .clone()
                .ok_or_else(|| invalid_revision("A GitHub revision needs a gitHubLocation."))?;
            let repository =
                nonempty(&gh.repository).ok_or_else(|| invalid_revision("The gitHubLocation has no repository."))?;
            let commit =
                nonempty(&gh.commit_id).ok_or_else(|| invalid_revision("The gitHubLocation has no commitId."))?;
            if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid_revision(format!(
                    "The commitId {commit:?} must be a full 40-character hexadecimal SHA-1."
                )));
            }
            let location = RevisionLocation::GitHub { repository, commit: commit.to_ascii_lowercase() };
            Ok(RevisionRequest::Located { location, bundle_type: "tar".into() })
        }
        "String" | "AppSpecContent" => {
            let (raw, content_kind) = if kind == "String" {
                (r.string.clone(), ContentKind::String)
            } else {
                (r.app_spec_content.clone(), ContentKind::AppSpecContent)
            };
            let member = if kind == "String" { "string" } else { "appSpecContent" };
            let raw = raw.ok_or_else(|| invalid_revision(format!("A {kind} revision needs its {member} member.")))?;
            let content = nonempty(&raw.content)
                .ok_or_else(|| invalid_revision(format!("The {member} revision has no content.")))?;
            let sha256 = crate_sha256(content.as_bytes());
            if let Some(given) = nonempty(&raw.sha256)
                && !given.eq_ignore_ascii_case(&sha256)
            {
                return Err(invalid_revision(format!("The sha256 of the {member} content is {sha256}, not {given}.")));
            }
            Ok(RevisionRequest::Located {
                location: RevisionLocation::Content { kind: content_kind, content, sha256 },
                bundle_type: "YAML".into(),
            })
        }
        other => {
            Err(invalid_revision(format!("The revisionType {other:?} is not S3, GitHub, String or AppSpecContent.")))
        }
    }
}

fn crate_sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The id of the revision at `location`: the same location (and bundle
/// type) always names the same revision, as in CodeDeploy.
pub fn located_revision_id(application: &str, location: &RevisionLocation, bundle_type: &str) -> String {
    let canonical = match location {
        RevisionLocation::S3 { bucket, key, version, etag } => format!(
            "s3\n{bucket}\n{key}\n{}\n{}\n{bundle_type}",
            version.as_deref().unwrap_or(""),
            etag.as_deref().unwrap_or("").to_ascii_lowercase()
        ),
        RevisionLocation::GitHub { repository, commit } => format!("git\n{repository}\n{commit}"),
        RevisionLocation::Content { sha256, .. } => format!("content\n{sha256}"),
        RevisionLocation::Blob { key } => format!("blob\n{key}\n{bundle_type}"),
    };
    let digest = crate_sha256(format!("{application}\n{canonical}").as_bytes());
    format!("r-{}", &digest[..20])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str, key: &str, bundle: Option<&str>) -> wire::RevisionLocation {
        wire::RevisionLocation {
            revision_type: Some("S3".into()),
            s3_location: Some(wire::S3Location {
                bucket: Some(bucket.into()),
                key: Some(key.into()),
                bundle_type: bundle.map(Into::into),
                e_tag: Some("\"abc\"".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn revisions_parse_with_codedeploys_exceptions() {
        let parsed = parse_revision(Some(&s3("b", "k.zip", Some("zip")))).unwrap();
        let RevisionRequest::Located { location, bundle_type } = parsed else { panic!() };
        assert_eq!(bundle_type, "zip");
        assert_eq!(
            location,
            RevisionLocation::S3 { bucket: "b".into(), key: "k.zip".into(), version: None, etag: Some("abc".into()) }
        );
        assert_eq!(
            parse_revision(Some(&s3(FERRY_BUCKET, "r-1", None))).unwrap(),
            RevisionRequest::Stored { revision_id: "r-1".into() }
        );
        assert_eq!(parse_revision(None).unwrap_err().code, "RevisionRequiredException");
        assert_eq!(parse_revision(Some(&s3("b", "k", None))).unwrap_err().code, "InvalidRevisionException");
        assert_eq!(parse_revision(Some(&s3("b", "k", Some("rar")))).unwrap_err().code, "InvalidRevisionException");
        let git = wire::RevisionLocation {
            revision_type: Some("GitHub".into()),
            git_hub_location: Some(wire::GitHubLocation {
                repository: Some("o/r".into()),
                commit_id: Some("main".into()),
            }),
            ..Default::default()
        };
        assert_eq!(parse_revision(Some(&git)).unwrap_err().code, "InvalidRevisionException");
        let content = wire::RevisionLocation {
            revision_type: Some("AppSpecContent".into()),
            app_spec_content: Some(wire::RawString { content: Some("version: 0.0".into()), sha256: Some("00".into()) }),
            ..Default::default()
        };
        assert_eq!(parse_revision(Some(&content)).unwrap_err().code, "InvalidRevisionException");
    }

    #[test]
    fn located_ids_are_stable_and_distinct() {
        let a = RevisionLocation::S3 { bucket: "b".into(), key: "k".into(), version: None, etag: Some("E".into()) };
        let b = RevisionLocation::S3 { bucket: "b".into(), key: "k".into(), version: None, etag: Some("e".into()) };
        assert_eq!(located_revision_id("app", &a, "zip"), located_revision_id("app", &b, "zip"));
        assert_ne!(located_revision_id("app", &a, "zip"), located_revision_id("app", &a, "tgz"));
        assert_ne!(located_revision_id("app", &a, "zip"), located_revision_id("other", &a, "zip"));
    }

    #[test]
    fn configs_rollbacks_and_alarms_are_checked() {
        let bad = wire::MinimumHealthyHosts { kind: Some("FLEET_PERCENT".into()), value: Some(100) };
        assert_eq!(parse_minimum_healthy_hosts(&bad).unwrap_err().code, "InvalidMinimumHealthyHostValueException");
        let huge = wire::MinimumHealthyHosts { kind: Some("HOST_COUNT".into()), value: Some(99_999_999_999) };
        let e = parse_minimum_healthy_hosts(&huge).unwrap_err();
        assert_eq!(e.message, "HOST_COUNT 99999999999 is out of range: at most 4294967295 hosts.");
        let negative = wire::MinimumHealthyHosts { kind: Some("HOST_COUNT".into()), value: Some(-1) };
        assert_eq!(
            parse_minimum_healthy_hosts(&negative).unwrap_err().message,
            "HOST_COUNT must be 0 or more (got -1)."
        );
        let on_without_events = wire::AutoRollbackConfiguration { enabled: Some(true), events: Some(vec![]) };
        assert_eq!(parse_auto_rollback(&on_without_events).unwrap_err().code, "InvalidAutoRollbackConfigException");
        let dup = wire::AlarmConfiguration {
            enabled: Some(true),
            alarms: Some(vec![wire::Alarm { name: Some("a".into()) }, wire::Alarm { name: Some("a".into()) }]),
            ..Default::default()
        };
        assert_eq!(parse_alarm_configuration(&dup).unwrap_err().code, "InvalidAlarmConfigException");
        assert_eq!(parse_file_exists_behavior("MERGE").unwrap_err().code, "InvalidFileExistsBehaviorException");
        assert_eq!(parse_deployment_statuses(&["Done".into()]).unwrap_err().code, "InvalidDeploymentStatusException");
    }

    #[test]
    fn agent_only_codes_travel_as_unknown_error() {
        let e = LifecycleEvent {
            name: ferry_core::events::Event::ApplicationStart,
            status: EventStatus::Failed,
            start_time: Some(1000),
            end_time: Some(2500),
            diagnostics: Some(ferry_core::deployment::EventDiagnostics {
                error_code: "FailedAfterRestart".into(),
                script_name: String::new(),
                message: "the agent restarted".into(),
                log_tail: String::new(),
            }),
        };
        let w = lifecycle_event(&e);
        let d = w.diagnostics.unwrap();
        assert_eq!(d.error_code, "UnknownError");
        assert_eq!(d.message, "FailedAfterRestart: the agent restarted");
        assert_eq!((w.start_time, w.end_time), (Some(1.0), Some(2.5)));
    }
}
