use super::*;
use crate::config::MinimumHealthyHosts;
use crate::config::{ALL_AT_ONCE, builtin_config};
use crate::deployment::{DeploymentStatus, Target};
use crate::events::IN_PLACE;
use crate::resources::{BlueGreenConfig, InstanceSelector, Tag, TagFilter, TagFilterType};

fn group() -> DeploymentGroup {
    let selector = InstanceSelector {
        tag_filters: vec![TagFilter { key: "role".into(), value: "web".into(), kind: TagFilterType::KeyAndValue }],
        tag_set: Vec::new(),
    };
    DeploymentGroup::new("gid".into(), "app".into(), "web".into(), selector, crate::config::HALF_AT_A_TIME.into(), 1)
}

fn host(name: &str, register_time: Millis) -> Instance {
    Instance {
        name: name.into(),
        tags: vec![Tag { key: "role".into(), value: "web".into() }],
        register_time,
        deregister_time: None,
        iam_user_arn: None,
        iam_session_arn: None,
        agent_key_id: None,
        agent_version: None,
        address: None,
    }
}

/// A deployment of `revision` whose targets ended as given.
fn finished(id: &str, revision: &str, targets: &[(&str, TargetStatus)]) -> Deployment {
    let mut d = Deployment::fixture(&IN_PLACE);
    d.id = id.into();
    d.revision.id = revision.into();
    d.status = DeploymentStatus::Succeeded;
    d.targets =
        targets.iter().map(|(name, status)| Target { status: *status, ..Target::new(*name, &IN_PLACE, 0) }).collect();
    d
}

/// The group after `d` succeeded (what the server's finalize does).
fn succeed(group: &mut DeploymentGroup, d: &Deployment) {
    group.last_successful_revision_id = Some(d.revision.id.clone());
    group.last_successful_deployment_id = Some(d.id.clone());
    record_finished(group, d);
}

#[test]
fn instances_that_join_after_a_success_get_the_last_good_revision_once() {
    let mut g = group();
    let fleet = [host("a", 1), host("b", 1)];
    assert!(observe(&mut g, &fleet, None, 10));
    assert!(launches(&g).is_empty(), "nothing deployed yet: nothing to bring new hosts to");
    succeed(&mut g, &finished("d-1", "r1", &[("a", TargetStatus::Succeeded), ("b", TargetStatus::Succeeded)]));
    assert!(!observe(&mut g, &fleet, None, 20));
    assert!(launches(&g).is_empty());

    let fleet = [host("a", 1), host("b", 1), host("c", 30), host("d", 30)];
    assert!(observe(&mut g, &fleet, None, 40));
    let wanted = launches(&g);
    assert_eq!(
        wanted,
        [Launch { revision_id: "r1".into(), creator: Creator::Autoscaling, instances: vec!["c".into(), "d".into()] }]
    );
    assert_eq!(standing(&g, &g.instances[2]), Standing::Joining);
    mark_launched(&mut g, &wanted[0], "d-2");
    assert!(launches(&g).is_empty(), "one launch per joining instance");

    // c succeeds, d fails: d is not tried again by itself (no launch loop).
    let launch = finished("d-2", "r1", &[("c", TargetStatus::Succeeded), ("d", TargetStatus::Failed)]);
    record_finished(&mut g, &launch);
    assert!(launches(&g).is_empty());
    let states: Vec<_> = g.instances.iter().map(|m| (m.instance.as_str(), standing(&g, m))).collect();
    assert_eq!(
        states,
        [("a", Standing::Current), ("b", Standing::Current), ("c", Standing::Current), ("d", Standing::Failed)]
    );
    assert_eq!(outdated(&g).iter().map(|m| m.instance.as_str()).collect::<Vec<_>>(), ["d"]);
    // The next deployment of the group includes d and fixes it.
    succeed(&mut g, &finished("d-3", "r2", &[("a", TargetStatus::Succeeded), ("d", TargetStatus::Succeeded)]));
    assert_eq!(standing(&g, &g.instances[3]), Standing::Current);
    assert_eq!(standing(&g, &g.instances[2]), Standing::Outdated, "c was not in d-3: it still has r1");
}

#[test]
fn an_instance_joining_during_a_deployment_waits_for_it_then_gets_the_new_revision() {
    let mut g = group();
    succeed(&mut g, &finished("d-1", "r1", &[("a", TargetStatus::Succeeded)]));
    observe(&mut g, &[host("a", 1)], None, 5);
    let mut running = finished("d-2", "r2", &[("a", TargetStatus::InProgress)]);
    running.status = DeploymentStatus::InProgress;
    // b enrols while d-2 runs; a, its target, is covered by it.
    observe(&mut g, &[host("a", 1), host("b", 7)], Some(&running), 10);
    let b = g.instances.iter().find(|m| m.instance == "b").unwrap();
    assert_eq!(b.joined_during.as_deref(), Some("d-2"));
    assert_eq!(b.revision_at_join.as_deref(), Some("r1"));

    let mut ignore = g.clone();
    ignore.outdated_instances_strategy = OutdatedInstancesStrategy::Ignore;
    let done = finished("d-2", "r2", &[("a", TargetStatus::Succeeded)]);
    succeed(&mut g, &done);
    succeed(&mut ignore, &done);
    assert_eq!(
        launches(&g),
        [Launch { revision_id: "r2".into(), creator: Creator::AutoUpdate, instances: vec!["b".into()] }]
    );
    assert_eq!(
        launches(&ignore),
        [Launch { revision_id: "r1".into(), creator: Creator::Autoscaling, instances: vec!["b".into()] }],
        "IGNORE: the revision the group had when it joined"
    );
}

#[test]
fn a_target_of_the_running_deployment_is_not_a_joiner() {
    let mut g = group();
    succeed(&mut g, &finished("d-1", "r1", &[("a", TargetStatus::Succeeded)]));
    let mut running = finished("d-2", "r2", &[("a", TargetStatus::InProgress), ("b", TargetStatus::InProgress)]);
    running.status = DeploymentStatus::InProgress;
    observe(&mut g, &[host("a", 1), host("b", 2)], Some(&running), 10);
    succeed(&mut g, &finished("d-2", "r2", &[("a", TargetStatus::Succeeded), ("b", TargetStatus::Succeeded)]));
    assert!(launches(&g).is_empty());
    assert!(g.instances.iter().all(|m| standing(&g, m) == Standing::Current));
}

#[test]
fn instances_that_leave_are_forgotten_and_a_host_registered_again_joins_again() {
    let mut g = group();
    succeed(&mut g, &finished("d-1", "r1", &[]));
    observe(&mut g, &[host("a", 1)], None, 5);
    let launch = launches(&g).remove(0);
    mark_launched(&mut g, &launch, "d-2");
    record_finished(&mut g, &finished("d-2", "r1", &[("a", TargetStatus::Succeeded)]));
    let mut retagged = host("a", 1);
    retagged.tags[0].value = "db".into();
    assert!(observe(&mut g, &[retagged], None, 6));
    assert!(g.instances.is_empty());
    // Registered again under its name (a replacement machine): a new instance.
    observe(&mut g, &[host("a", 1)], None, 7);
    record_finished(&mut g, &finished("d-3", "r1", &[("a", TargetStatus::Succeeded)]));
    assert!(observe(&mut g, &[host("a", 99)], None, 8));
    assert_eq!(launches(&g).len(), 1);
    let mut gone = host("a", 99);
    gone.deregister_time = Some(9);
    observe(&mut g, &[gone], None, 9);
    assert!(g.instances.is_empty() && launches(&g).is_empty());
}

#[test]
fn a_group_from_before_the_record_takes_its_instances_as_up_to_date() {
    let mut g = group();
    g.tracks_instances = false;
    g.last_successful_revision_id = Some("r1".into());
    g.last_successful_deployment_id = Some("d-1".into());
    assert!(observe(&mut g, &[host("a", 1), host("b", 1)], None, 5));
    assert!(launches(&g).is_empty(), "no surprise deployments on upgrade");
    assert!(g.instances.iter().all(|m| standing(&g, m) == Standing::Current));
    observe(&mut g, &[host("a", 1), host("b", 1), host("c", 6)], None, 6);
    assert_eq!(launches(&g)[0].instances, ["c"]);
}

#[test]
fn a_group_that_does_not_update_new_instances_leaves_them_waiting() {
    let mut g = group();
    g.update_new_instances = false;
    succeed(&mut g, &finished("d-1", "r1", &[]));
    observe(&mut g, &[host("a", 1)], None, 5);
    assert!(launches(&g).is_empty());
    assert_eq!(standing(&g, &g.instances[0]), Standing::Joining);
}

#[test]
fn a_launch_deploys_in_place_all_at_once_to_its_instances_only_without_rollback() {
    let mut g = group();
    g.traffic_control = true;
    g.target_groups = vec!["tg".into()];
    g.blue_green = Some(BlueGreenConfig {
        ready: crate::deployment::ReadyAction::Continue,
        blue: crate::deployment::BlueAction::KeepAlive,
    });
    g.auto_rollback = AutoRollback { enabled: true, events: vec![crate::deployment::RollbackEvent::DeploymentFailure] };
    let launch = Launch { revision_id: "r1".into(), creator: Creator::AutoUpdate, instances: vec!["c".into()] };
    let revision = RevisionRef { id: "r1".into(), summary: String::new(), bundle: None };
    let config = builtin_config(ALL_AT_ONCE).unwrap();
    let d = plan_launch(&g, &launch, revision, &config, "d-9".into(), 50).unwrap();
    assert_eq!(d.creator, Creator::AutoUpdate);
    assert_eq!(d.only_instances, Some(vec!["c".to_string()]));
    assert!(d.blue_green.is_none());
    assert_eq!(d.lifecycle_events, crate::events::IN_PLACE_WITH_TRAFFIC, "AllowTraffic puts it in the target group");
    assert_eq!(d.minimum_healthy_hosts, MinimumHealthyHosts::HostCount(0));
    assert!(!d.auto_rollback.enabled);
    assert!(d.description.unwrap().contains("joined the group while a deployment of it ran"));
}

#[test]
fn a_blue_green_group_keeps_no_record_its_standby_hosts_are_the_next_green_fleet() {
    let mut g = group();
    g.blue_green = Some(BlueGreenConfig {
        ready: crate::deployment::ReadyAction::Continue,
        blue: crate::deployment::BlueAction::KeepAlive,
    });
    g.last_successful_revision_id = Some("r1".into());
    assert!(observe(&mut g, &[host("a", 1), host("b", 1)], None, 5), "the record is dropped once");
    assert!(!observe(&mut g, &[host("a", 1), host("b", 1), host("c", 9)], None, 6));
    assert!(g.instances.is_empty() && launches(&g).is_empty());
    // Deploying in place later: what is there is taken as up to date.
    g.blue_green = None;
    observe(&mut g, &[host("a", 1), host("b", 1)], None, 7);
    assert!(launches(&g).is_empty());
}

#[test]
fn a_deployment_that_finishes_before_the_group_was_looked_at_covers_its_targets() {
    // What the server's finalize does: observe with the finishing
    // deployment, then record it.
    let mut g = group();
    let d = finished("d-1", "r1", &[("a", TargetStatus::Succeeded), ("b", TargetStatus::Succeeded)]);
    observe(&mut g, &[host("a", 1), host("b", 1), host("c", 2)], Some(&d), 10);
    succeed(&mut g, &d);
    assert_eq!(
        launches(&g),
        [Launch { revision_id: "r1".into(), creator: Creator::AutoUpdate, instances: vec!["c".into()] }],
        "only c, which the deployment did not include"
    );
}

#[test]
fn a_termination_runs_the_block_traffic_hooks_and_application_stop_only() {
    let mut g = group();
    let revision = RevisionRef { id: "r1".into(), summary: String::new(), bundle: None };
    let config = builtin_config(ALL_AT_ONCE).unwrap();
    let d = plan_termination(&g, "web-3", revision.clone(), &config, "d-T".into(), 5).unwrap();
    assert_eq!(d.creator, Creator::AutoscalingTermination);
    assert_eq!(d.lifecycle_events, [crate::events::Event::ApplicationStop]);
    assert_eq!(d.only_instances, Some(vec!["web-3".to_string()]));
    assert!(!d.auto_rollback.enabled);
    g.traffic_control = true;
    g.target_groups = vec!["tg".into()];
    let d = plan_termination(&g, "web-3", revision, &config, "d-T".into(), 5).unwrap();
    let names: Vec<&str> = d.lifecycle_events.iter().map(|e| e.as_str()).collect();
    assert_eq!(names, ["BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic", "ApplicationStop"]);
}
