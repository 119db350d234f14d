use super::*;
use crate::config::{ComputePlatform, builtin_config};
use crate::deployment::{ErrorCode, RollbackEvent, StopRequest, Target};
use crate::resources::BlueGreenConfig;

fn group() -> DeploymentGroup {
    let mut g = DeploymentGroup::new(
        "gid".into(),
        "app".into(),
        "web".into(),
        InstanceSelector::default(),
        crate::config::ONE_AT_A_TIME.into(),
        1,
    );
    g.auto_rollback = AutoRollback { enabled: true, events: vec![RollbackEvent::DeploymentFailure] };
    g
}

fn blue_green_group() -> DeploymentGroup {
    DeploymentGroup {
        traffic_control: true,
        target_groups: vec!["tg".into()],
        blue_green: Some(BlueGreenConfig { ready: ReadyAction::Continue, blue: BlueAction::KeepAlive }),
        ..group()
    }
}

fn revision(id: &str) -> RevisionRef {
    RevisionRef { id: id.into(), summary: String::new(), bundle: None }
}

fn request<'a>(group: &'a DeploymentGroup, config: &'a DeploymentConfig) -> DeploymentRequest<'a> {
    DeploymentRequest {
        group,
        config,
        revision: revision("r2"),
        previous: Some(revision("r1")),
        description: None,
        file_exists_behavior: None,
        ignore_application_stop_failures: false,
        auto_rollback: None,
        green_selector: None,
        alarms: None,
        ecs: None,
    }
}

fn canary() -> DeploymentConfig {
    DeploymentConfig {
        id: "c".into(),
        name: "Canary".into(),
        compute_platform: ComputePlatform::Server,
        minimum_healthy_hosts: None,
        traffic_routing: Some(TrafficRouting::TimeBasedCanary { percentage: 25, interval_seconds: 30 }),
        create_time: 0,
    }
}

#[test]
fn an_in_place_deployment_takes_the_groups_settings() {
    let group = group();
    let config = builtin_config(crate::config::HALF_AT_A_TIME).unwrap();
    let d = plan_deployment(request(&group, &config), "d-1".into(), 7).unwrap();
    assert_eq!(d.status, DeploymentStatus::Created);
    assert_eq!(d.minimum_healthy_hosts, MinimumHealthyHosts::FleetPercent(50));
    assert_eq!(d.auto_rollback, group.auto_rollback);
    assert_eq!(d.lifecycle_events.first().map(|e| e.as_str()), Some("ApplicationStop"));
    assert!(!d.lifecycle_events.iter().any(|e| e == "BlockTraffic"));
    assert!(d.blue_green.is_none());
    assert_eq!(d.deployment_type(), crate::deployment::DeploymentType::InPlace);
    // No pinned bytes yet: it waits for them.
    assert_eq!(d.fetching, Some(Fetching { since: 7 }));
}

#[test]
fn traffic_routing_is_for_blue_green_groups_only() {
    let config = canary();
    let refused = plan_deployment(request(&group(), &config), "d-1".into(), 0).unwrap_err();
    assert_eq!(refused.rule, Rule::TrafficRouting);
    let group = blue_green_group();
    let d = plan_deployment(request(&group, &config), "d-1".into(), 0).unwrap();
    let bg = d.blue_green.as_ref().unwrap();
    assert_eq!(bg.routing, config.traffic_routing.unwrap());
    // Replacements install all at once under a routing config.
    assert_eq!(d.minimum_healthy_hosts, MinimumHealthyHosts::HostCount(0));
    assert!(d.lifecycle_events.iter().any(|e| e == "AllowTraffic"));
}

#[test]
fn a_green_fleet_needs_a_blue_green_group() {
    let config = builtin_config(crate::config::ONE_AT_A_TIME).unwrap();
    let group = group();
    let mut r = request(&group, &config);
    r.green_selector = Some(InstanceSelector::default());
    assert_eq!(plan_deployment(r, "d".into(), 0).unwrap_err().rule, Rule::TargetInstances);
}

#[test]
fn a_config_of_another_platform_is_refused() {
    let config = builtin_config("CodeDeployDefault.LambdaAllAtOnce").unwrap();
    assert_eq!(plan_deployment(request(&group(), &config), "d".into(), 0).unwrap_err().rule, Rule::ComputePlatform);
}

#[test]
fn an_alarm_override_keeps_the_groups_bake_time_and_prometheus() {
    let mut group = group();
    group.alarms.bake_time_ms = 60_000;
    group.alarms.prometheus_url = Some("http://prometheus:9090".into());
    let config = builtin_config(crate::config::ONE_AT_A_TIME).unwrap();
    let mut r = request(&group, &config);
    r.alarms = Some(AlarmConfig { enabled: true, alarms: vec!["errors".into()], ..Default::default() });
    let d = plan_deployment(r, "d".into(), 0).unwrap();
    assert_eq!(d.alarms.alarms, ["errors"]);
    assert_eq!((d.alarms.bake_time_ms, d.alarms.prometheus_url.as_deref()), (60_000, Some("http://prometheus:9090")));
}

#[test]
fn group_rules() {
    assert!(check_group(&group()).is_ok());
    assert!(check_group(&blue_green_group()).is_ok());
    let no_target_group = DeploymentGroup { target_groups: Vec::new(), ..blue_green_group() };
    assert_eq!(check_group(&no_target_group).unwrap_err().rule, Rule::LoadBalancer);
    let in_place_traffic = DeploymentGroup { traffic_control: true, ..group() };
    assert_eq!(check_group(&in_place_traffic).unwrap_err().rule, Rule::LoadBalancer);
    let without_traffic_control = DeploymentGroup { traffic_control: false, ..blue_green_group() };
    assert_eq!(check_group(&without_traffic_control).unwrap_err().rule, Rule::BlueGreen);
    let mut both = group();
    both.selector.tag_filters.push(crate::resources::TagFilter {
        key: "a".into(),
        value: String::new(),
        kind: crate::resources::TagFilterType::KeyOnly,
    });
    both.selector.tag_set.push(vec![crate::resources::TagFilter {
        key: "b".into(),
        value: String::new(),
        kind: crate::resources::TagFilterType::KeyOnly,
    }]);
    assert_eq!(check_group(&both).unwrap_err().rule, Rule::Tags);
}

#[test]
fn routing_limits() {
    let canary = |percentage, interval_seconds| TrafficRouting::TimeBasedCanary { percentage, interval_seconds };
    assert!(check_routing(canary(10, 60)).is_ok());
    assert!(check_routing(canary(99, MAX_ROUTING_INTERVAL_SECONDS)).is_ok());
    for bad in [canary(0, 60), canary(100, 60), canary(10, 0), canary(10, MAX_ROUTING_INTERVAL_SECONDS + 1)] {
        assert_eq!(check_routing(bad).unwrap_err().rule, Rule::TrafficRouting, "{bad:?}");
    }
    let linear = TrafficRouting::TimeBasedLinear { percentage: 0, interval_seconds: 60 };
    assert!(check_routing(linear).unwrap_err().message.starts_with("a linear shift"));
    assert!(check_routing(TrafficRouting::AllAtOnce).is_ok());
}

fn failed_in_place() -> Deployment {
    let group = group();
    let config = builtin_config(crate::config::ONE_AT_A_TIME).unwrap();
    let mut d = plan_deployment(request(&group, &config), "d-failed".into(), 0).unwrap();
    d.status = DeploymentStatus::Failed;
    d
}

#[test]
fn a_failed_in_place_deployment_rolls_back_to_the_last_good_revision() {
    let mut failed = failed_in_place();
    let rollback = plan_rollback(&mut failed, &group(), Some(revision("r1")), "d-back".into(), 9).unwrap();
    assert_eq!((rollback.creator, rollback.revision.id.as_str()), (Creator::Rollback, "r1"));
    assert_eq!(rollback.previous_revision.as_ref().map(|r| r.id.as_str()), Some("r2"));
    assert_eq!(rollback.rollback_info.rollback_triggering_deployment_id.as_deref(), Some("d-failed"));
    assert!(rollback.alarms.alarms.is_empty(), "a rollback watches no alarm");
    assert_eq!(failed.rollback_info.rollback_deployment_id.as_deref(), Some("d-back"));
    // A rollback that fails is not rolled back in turn.
    let mut rollback = rollback;
    rollback.status = DeploymentStatus::Failed;
    assert!(plan_rollback(&mut rollback, &group(), Some(revision("r0")), "d-x".into(), 10).is_none());
}

#[test]
fn without_a_good_revision_there_is_no_rollback_and_it_says_why() {
    let mut failed = failed_in_place();
    assert!(plan_rollback(&mut failed, &group(), None, "d-back".into(), 9).is_none());
    assert!(failed.rollback_info.rollback_message.unwrap().contains("no successful revision"));
    assert!(failed.rollback_info.rollback_deployment_id.is_none());
}

#[test]
fn a_stop_rolls_back_only_when_asked() {
    let mut stopped = failed_in_place();
    stopped.status = DeploymentStatus::Stopped;
    let stop = |rollback| StopRequest { at: 1, rollback, code: ErrorCode::ManualStop, message: String::new() };
    stopped.stop = Some(stop(Some(false)));
    assert!(plan_rollback(&mut stopped, &group(), Some(revision("r1")), "d".into(), 1).is_none());
    stopped.stop = Some(stop(Some(true)));
    assert!(plan_rollback(&mut stopped, &group(), Some(revision("r1")), "d".into(), 1).is_some());
}

#[test]
fn blue_green_rolls_back_traffic_only_once_it_moved() {
    let group = blue_green_group();
    let config = builtin_config(crate::config::ALL_AT_ONCE).unwrap();
    let mut d = plan_deployment(request(&group, &config), "d-bg".into(), 0).unwrap();
    d.status = DeploymentStatus::Failed;
    let events = d.lifecycle_events.clone();
    let mut blue = Target::new("blue1", &events, 0);
    blue.label = Some(Label::Blue);
    let mut green = Target::new("green1", &events, 0);
    green.label = Some(Label::Green);
    green.events.iter_mut().filter(|e| e.name == "AllowTraffic").for_each(|e| e.status = EventStatus::Succeeded);
    d.targets = vec![blue, green];
    // Traffic never left blue: nothing to roll back.
    assert!(plan_rollback(&mut d.clone(), &group, Some(revision("r1")), "d-back".into(), 1).is_none());
    let bg = d.blue_green.as_mut().unwrap();
    bg.green_share = 25;
    bg.phase = Phase::Shifting;
    let rollback = plan_rollback(&mut d, &group, Some(revision("r1")), "d-back".into(), 1).unwrap();
    let bg = rollback.blue_green.as_ref().unwrap();
    assert!(bg.traffic_only);
    assert_eq!(
        (bg.green_instances.as_slice(), bg.blue_instances.as_slice()),
        (&["blue1".to_string()][..], &["green1".to_string()][..])
    );
    // Back to what the failed deployment replaced.
    assert_eq!(rollback.revision.id, "r1");
    assert!(d.rollback_info.rollback_message.unwrap().contains("traffic moves back"));
}

fn ecs_facts() -> crate::deployment::EcsDeployment {
    crate::deployment::EcsDeployment {
        service: String::new(),
        cluster: String::new(),
        task_definition: "web:2".into(),
        container_name: "web".into(),
        container_port: 8080,
        hooks: vec![("AfterAllowTestTraffic".into(), "https://hooks.example/check".into())],
        routing: TrafficRouting::AllAtOnce,
        termination_wait_ms: 0,
    }
}

#[test]
fn an_ecs_deployment_takes_its_service_routing_and_wait_from_the_group_and_config() {
    let mut g = group();
    g.ecs_service = Some(("prod".into(), "web".into()));
    g.blue_green = Some(crate::resources::BlueGreenConfig {
        ready: ReadyAction::Continue,
        blue: BlueAction::Terminate { wait_ms: 60_000 },
    });
    let config = crate::config::builtin_config("CodeDeployDefault.ECSCanary10Percent5Minutes").unwrap();
    let mut r = request(&g, &config);
    r.ecs = Some(ecs_facts());
    let d = plan_deployment(r, "d-1".into(), 5).unwrap();
    let ecs = d.ecs.as_ref().unwrap();
    assert_eq!((ecs.cluster.as_str(), ecs.service.as_str(), ecs.target_id()), ("prod", "web", "prod:web".to_string()));
    assert_eq!(ecs.routing, TrafficRouting::TimeBasedCanary { percentage: 10, interval_seconds: 300 });
    assert_eq!(ecs.termination_wait_ms, 60_000);
    assert_eq!(d.lifecycle_events, crate::events::ECS);
    assert!(d.blue_green.is_none());
    assert_eq!(ecs.hook(crate::events::Event::AfterAllowTestTraffic), Some("https://hooks.example/check"));

    // A Server config, or no ECS appspec, is refused; so is an ECS appspec for a server group.
    let server = crate::config::builtin_config("CodeDeployDefault.AllAtOnce").unwrap();
    let mut r = request(&g, &server);
    r.ecs = Some(ecs_facts());
    assert_eq!(plan_deployment(r, "d-2".into(), 5).unwrap_err().rule, Rule::ComputePlatform);
    assert_eq!(plan_deployment(request(&g, &config), "d-3".into(), 5).unwrap_err().rule, Rule::ComputePlatform);
    let plain = group();
    let mut r = request(&plain, &server);
    r.ecs = Some(ecs_facts());
    assert!(plan_deployment(r, "d-4".into(), 5).unwrap_err().message.contains("ECS deployment group"));
}
