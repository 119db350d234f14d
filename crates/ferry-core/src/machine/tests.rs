use super::*;
use crate::deployment::{AutoRollback, Creator, Deployment};
use crate::events::IN_PLACE;

fn deployment(min: MinimumHealthyHosts) -> Deployment {
    Deployment { minimum_healthy_hosts: min, ..Deployment::fixture(&IN_PLACE) }
}

fn hosts(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("h{i}")).collect()
}

/// Runs every event of the instance's current command; `fail_at` fails that event.
fn run_command(d: &mut Deployment, instance: &str, fail_at: Option<&str>, now: Millis) -> Vec<Effect> {
    let command = agent_command(d, instance).expect("instance has a command");
    let mut effects = Vec::new();
    for event in &command.events {
        step(d, Input::EventStarted { instance: instance.into(), attempt: command.attempt, event: *event }, now);
        if !may_start(d, instance, command.attempt, *event) {
            break;
        }
        let failed = fail_at == Some(event.as_str());
        effects.extend(step(
            d,
            Input::EventFinished {
                instance: instance.into(),
                attempt: command.attempt,
                event: *event,
                succeeded: !failed,
                diagnostics: None,
            },
            now,
        ));
        if failed && !(*event == crate::events::Event::ApplicationStop && command.ignore_application_stop_failures) {
            break;
        }
    }
    effects
}

fn in_progress(d: &Deployment) -> Vec<String> {
    d.targets.iter().filter(|t| t.status == TargetStatus::InProgress).map(|t| t.instance.clone()).collect()
}

#[test]
fn all_at_once_succeeds_and_records_every_event() {
    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    let effects = step(&mut d, Input::Start { instances: hosts(3) }, 10);
    assert_eq!(effects.len(), 3);
    assert_eq!(in_progress(&d).len(), 3);
    for h in hosts(3) {
        run_command(&mut d, &h, None, 20);
    }
    assert_eq!(d.status, DeploymentStatus::Succeeded);
    assert!(d.targets.iter().all(|t| t.events.iter().all(|e| e.status == EventStatus::Succeeded)));
    assert_eq!(d.complete_time, Some(20));
}

#[test]
fn a_deployment_with_alarms_bakes_before_it_succeeds_and_can_be_stopped_meanwhile() {
    let baking = |d: &mut Deployment| {
        d.alarms = crate::resources::AlarmConfig {
            enabled: true,
            alarms: vec!["errors".into()],
            bake_time_ms: 1000,
            ..Default::default()
        };
        step(d, Input::Start { instances: hosts(2) }, 10);
        for h in hosts(2) {
            run_command(d, &h, None, 20);
        }
    };
    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    baking(&mut d);
    assert_eq!((d.status, d.bake_until), (DeploymentStatus::Baking, Some(1020)));
    assert!(step(&mut d, Input::Tick, 1019).is_empty());
    assert_eq!(d.status, DeploymentStatus::Baking);
    assert_eq!(step(&mut d, Input::Tick, 1020), [Effect::Finished]);
    assert_eq!((d.status, d.complete_time), (DeploymentStatus::Succeeded, Some(1020)));

    // An alarm during the bake stops it (and asks for its rollback).
    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    d.auto_rollback =
        AutoRollback { enabled: true, events: vec![crate::deployment::RollbackEvent::DeploymentStopOnAlarm] };
    baking(&mut d);
    let effects = step(
        &mut d,
        Input::Stop { rollback: None, code: ErrorCode::AlarmActive, message: "Activated alarms: errors".into() },
        500,
    );
    assert_eq!(effects, [Effect::Finished]);
    assert_eq!(d.status, DeploymentStatus::Stopped);
    assert!(wants_rollback(&d));
}

#[test]
fn one_at_a_time_fails_fast_and_skips_the_rest() {
    let mut d = deployment(MinimumHealthyHosts::MostConcurrency);
    step(&mut d, Input::Start { instances: hosts(3) }, 0);
    assert_eq!(in_progress(&d), ["h1"]);
    let effects = run_command(&mut d, "h1", Some("AfterInstall"), 1);
    assert!(effects.contains(&Effect::Finished));
    assert_eq!(d.status, DeploymentStatus::Failed);
    assert_eq!(d.error.as_ref().unwrap().code, ErrorCode::HealthConstraints);
    let h1 = d.target("h1").unwrap();
    assert_eq!(h1.status, TargetStatus::Failed);
    let statuses: Vec<_> = h1.events.iter().map(|e| e.status).collect();
    assert_eq!(statuses[4], EventStatus::Failed);
    assert!(statuses[5..].iter().all(|s| *s == EventStatus::Skipped));
    assert_eq!(d.target("h2").unwrap().status, TargetStatus::Skipped);
}

#[test]
fn failure_on_the_last_instance_still_succeeds_one_at_a_time() {
    let mut d = deployment(MinimumHealthyHosts::MostConcurrency);
    step(&mut d, Input::Start { instances: hosts(3) }, 0);
    run_command(&mut d, "h1", None, 1);
    run_command(&mut d, "h2", None, 2);
    run_command(&mut d, "h3", Some("ValidateService"), 3);
    assert_eq!(d.status, DeploymentStatus::Succeeded);
}

#[test]
fn no_instances_and_invalid_minimum_fail_at_start() {
    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    step(&mut d, Input::Start { instances: vec![] }, 0);
    assert_eq!(d.error.unwrap().code, ErrorCode::NoInstances);
    let mut d = deployment(MinimumHealthyHosts::FleetPercent(50));
    step(&mut d, Input::Start { instances: hosts(1) }, 0);
    assert_eq!(d.error.unwrap().code, ErrorCode::HealthConstraintsInvalid);
    assert_eq!(d.targets[0].status, TargetStatus::Skipped);
}

#[test]
fn reports_for_old_attempts_and_repeats_are_ignored() {
    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    step(&mut d, Input::Start { instances: hosts(1) }, 0);
    let cmd = agent_command(&d, "h1").unwrap();
    let start = Input::EventStarted { instance: "h1".into(), attempt: cmd.attempt, event: "ApplicationStop".into() };
    step(&mut d, start.clone(), 1);
    step(&mut d, start, 2);
    assert_eq!(d.targets[0].events[0].start_time, Some(1));
    let before = d.clone();
    step(
        &mut d,
        Input::EventFinished {
            instance: "h1".into(),
            attempt: cmd.attempt + 1,
            event: "ApplicationStop".into(),
            succeeded: false,
            diagnostics: None,
        },
        3,
    );
    assert_eq!(d, before);
    // The command id stays the same while the agent works through it.
    run_command(&mut d, "h1", None, 4);
    assert_eq!(d.status, DeploymentStatus::Succeeded);
    assert_eq!(cmd.id, "d-AAAAAAAAA.h1.1.0");
}

#[test]
fn ignore_application_stop_failures() {
    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    d.ignore_application_stop_failures = true;
    step(&mut d, Input::Start { instances: hosts(1) }, 0);
    run_command(&mut d, "h1", Some("ApplicationStop"), 1);
    assert_eq!(d.status, DeploymentStatus::Succeeded);
    assert_eq!(d.targets[0].events[0].status, EventStatus::Failed);
    assert_eq!(d.targets[0].status, TargetStatus::Succeeded);
}

#[test]
fn stop_lets_the_running_event_finish_and_starts_nothing_more() {
    let mut d = deployment(MinimumHealthyHosts::MostConcurrency);
    step(&mut d, Input::Start { instances: hosts(3) }, 0);
    let cmd = agent_command(&d, "h1").unwrap();
    step(&mut d, Input::EventStarted { instance: "h1".into(), attempt: 1, event: "ApplicationStop".into() }, 1);
    let effects =
        step(&mut d, Input::Stop { rollback: Some(true), code: ErrorCode::ManualStop, message: "stop".into() }, 2);
    assert_eq!(effects, vec![Effect::Notify { instance: "h1".into() }]);
    assert_eq!(d.status, DeploymentStatus::InProgress, "h1 is still running an event");
    assert!(agent_command(&d, "h1").unwrap().cancel);
    let effects = step(
        &mut d,
        Input::EventFinished {
            instance: "h1".into(),
            attempt: cmd.attempt,
            event: "ApplicationStop".into(),
            succeeded: true,
            diagnostics: None,
        },
        3,
    );
    assert!(effects.contains(&Effect::Finished));
    assert_eq!(d.status, DeploymentStatus::Stopped);
    assert_eq!(d.error.as_ref().unwrap().code, ErrorCode::ManualStop);
    assert!(!may_start(&d, "h1", 1, crate::events::Event::DownloadBundle));
    assert_eq!(d.target("h1").unwrap().events[1].status, EventStatus::Skipped);
    assert_eq!(d.target("h2").unwrap().status, TargetStatus::Skipped);
    assert!(wants_rollback(&d));
}

#[test]
fn lost_instance_fails_its_event() {
    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    step(&mut d, Input::Start { instances: hosts(2) }, 0);
    step(&mut d, Input::EventStarted { instance: "h1".into(), attempt: 1, event: "ApplicationStop".into() }, 1);
    step(&mut d, Input::InstanceLost { instance: "h1".into(), message: "agent not responding".into() }, 5);
    let h1 = d.target("h1").unwrap();
    assert_eq!(h1.status, TargetStatus::Failed);
    assert_eq!(h1.events[0].diagnostics.as_ref().unwrap().message, "agent not responding");
    run_command(&mut d, "h2", None, 6);
    assert_eq!(d.status, DeploymentStatus::Succeeded, "AllAtOnce needs one success");
}

#[test]
fn rollback_policy() {
    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    d.auto_rollback = AutoRollback { enabled: true, events: vec![RollbackEvent::DeploymentFailure] };
    step(&mut d, Input::Start { instances: hosts(1) }, 0);
    run_command(&mut d, "h1", Some("BeforeInstall"), 1);
    assert!(wants_rollback(&d));
    d.creator = Creator::Rollback;
    assert!(!wants_rollback(&d), "a rollback is never rolled back");
}

/// A tiny deterministic generator, so the simulation needs no dependency.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound
    }
}

#[test]
fn simulated_deployments_never_take_down_more_hosts_than_allowed() {
    let configs = [
        MinimumHealthyHosts::HostCount(0),
        MinimumHealthyHosts::MostConcurrency,
        MinimumHealthyHosts::FleetPercent(50),
        MinimumHealthyHosts::FleetPercent(75),
        MinimumHealthyHosts::HostCount(2),
    ];
    let mut rng = Lcg(42);
    for seed in 0..400 {
        let min = configs[seed % configs.len()];
        let n = 1 + rng.next(12);
        let mut d = deployment(min);
        step(&mut d, Input::Start { instances: hosts(n) }, 0);
        let m = min.resolve(n as u32) as usize;
        let mut now = 1;
        while d.status == DeploymentStatus::InProgress {
            let running = in_progress(&d);
            assert!(!running.is_empty(), "in progress with nothing running: {d:?}");
            let host = running[rng.next(running.len())].clone();
            let fail_at = (rng.next(5) == 0).then(|| IN_PLACE[rng.next(IN_PLACE.len())].as_str());
            run_command(&mut d, &host, fail_at, now);
            now += 1;
            let failed = d.targets.iter().filter(|t| t.status == TargetStatus::Failed).count();
            let in_flight = in_progress(&d).len();
            assert!(in_flight + failed <= n - m || in_flight == 0, "too many down: n={n} m={m} {d:?}");
        }
        let succeeded = d.targets.iter().filter(|t| t.status == TargetStatus::Succeeded).count();
        let invalid = m >= n && min != MinimumHealthyHosts::MostConcurrency;
        match d.status {
            DeploymentStatus::Succeeded => assert!(succeeded >= m.max(1)),
            DeploymentStatus::Failed => assert!(invalid || succeeded < n),
            other => panic!("unexpected {other:?}"),
        }
        assert!(d.targets.iter().all(|t| t.status != TargetStatus::InProgress && t.status != TargetStatus::Pending));
    }
}

#[test]
fn a_waiting_deployment_stops_at_once() {
    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    d.status = DeploymentStatus::Queued;
    let effects = step(&mut d, Input::Stop { rollback: None, code: ErrorCode::ManualStop, message: "stop".into() }, 5);
    assert_eq!(d.status, DeploymentStatus::Stopped);
    assert_eq!(effects, vec![Effect::Finished]);
    assert!(d.targets.is_empty());
    assert_eq!((d.start_time, d.complete_time), (Some(5), Some(5)));
    // A later start changes nothing.
    assert!(step(&mut d, Input::Start { instances: vec!["h1".into()] }, 6).is_empty());
}

fn with_traffic(min: MinimumHealthyHosts) -> Deployment {
    let mut d = deployment(min);
    d.lifecycle_events = crate::events::IN_PLACE_WITH_TRAFFIC.to_vec();
    d
}

fn server_events(effects: &[Effect]) -> Vec<(String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ServerEvent { instance, event, .. } => Some((instance.clone(), event.to_string())),
            _ => None,
        })
        .collect()
}

fn finish_server(d: &mut Deployment, instance: &str, event: &str, succeeded: bool, now: Millis) -> Vec<Effect> {
    let attempt = d.target(instance).unwrap().attempt;
    step(
        d,
        Input::ServerEventFinished {
            instance: instance.into(),
            attempt,
            event: event.into(),
            succeeded,
            diagnostics: None,
        },
        now,
    )
}

#[test]
fn traffic_events_go_to_the_server_between_agent_commands() {
    let mut d = with_traffic(MinimumHealthyHosts::HostCount(0));
    step(&mut d, Input::Start { instances: hosts(1) }, 1);
    let first = agent_command(&d, "h1").unwrap();
    assert_eq!(first.events, ["BeforeBlockTraffic"]);
    let effects = run_command(&mut d, "h1", None, 2);
    assert_eq!(server_events(&effects), [("h1".to_string(), "BlockTraffic".to_string())]);
    assert!(agent_command(&d, "h1").is_none(), "no agent work while the server moves traffic");
    assert_eq!(server_events_in_progress(&d), [("h1".to_string(), 1, crate::events::Event::BlockTraffic)]);

    let effects = finish_server(&mut d, "h1", "BlockTraffic", true, 3);
    assert!(effects.contains(&Effect::Notify { instance: "h1".into() }));
    let second = agent_command(&d, "h1").unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(second.events.first().map(|e| e.as_str()), Some("AfterBlockTraffic"));
    assert_eq!(second.events.last().map(|e| e.as_str()), Some("BeforeAllowTraffic"));
    let effects = run_command(&mut d, "h1", None, 4);
    assert_eq!(server_events(&effects), [("h1".to_string(), "AllowTraffic".to_string())]);
    finish_server(&mut d, "h1", "AllowTraffic", true, 5);
    assert_eq!(agent_command(&d, "h1").unwrap().events, ["AfterAllowTraffic"]);
    run_command(&mut d, "h1", None, 6);
    assert_eq!(d.status, DeploymentStatus::Succeeded);
    let allow = d.targets[0].events.iter().find(|e| e.name == "AllowTraffic").unwrap();
    assert_eq!((allow.status, allow.start_time, allow.end_time), (EventStatus::Succeeded, Some(4), Some(5)));
}

#[test]
fn an_instance_that_never_becomes_healthy_fails_by_the_health_rules() {
    let mut d = with_traffic(MinimumHealthyHosts::MostConcurrency);
    step(&mut d, Input::Start { instances: hosts(3) }, 1);
    run_command(&mut d, "h1", None, 2);
    finish_server(&mut d, "h1", "BlockTraffic", true, 3);
    run_command(&mut d, "h1", None, 4);
    finish_server(&mut d, "h1", "AllowTraffic", false, 5);
    let t = d.target("h1").unwrap();
    assert_eq!(t.status, TargetStatus::Failed);
    assert_eq!(t.events.iter().find(|e| e.name == "AfterAllowTraffic").unwrap().status, EventStatus::Skipped);
    assert_eq!(d.status, DeploymentStatus::Failed);
    assert_eq!(d.error.as_ref().unwrap().code, ErrorCode::HealthConstraints);
    // A late report for an event no longer running changes nothing.
    assert!(finish_server(&mut d, "h1", "AllowTraffic", true, 6).is_empty());
}

#[test]
fn a_stop_waits_for_the_server_event_then_ends() {
    let mut d = with_traffic(MinimumHealthyHosts::HostCount(0));
    step(&mut d, Input::Start { instances: hosts(1) }, 1);
    run_command(&mut d, "h1", None, 2);
    step(&mut d, Input::Stop { rollback: None, code: ErrorCode::ManualStop, message: "stop".into() }, 3);
    assert_eq!(d.status, DeploymentStatus::InProgress, "the drain in progress finishes first");
    let effects = finish_server(&mut d, "h1", "BlockTraffic", true, 4);
    assert!(server_events(&effects).is_empty());
    assert_eq!(d.status, DeploymentStatus::Stopped);
}

mod blue_green {
    use super::*;
    use crate::config::TrafficRouting;
    use crate::deployment::{BlueAction, BlueGreen, Label, Phase, ReadyAction};

    fn bg(ready: ReadyAction, blue: BlueAction, routing: TrafficRouting) -> Deployment {
        let mut d = deployment(MinimumHealthyHosts::HostCount(0));
        d.blue_green = Some(BlueGreen {
            ready,
            blue,
            routing,
            phase: Phase::Install,
            green_share: 0,
            step_started: None,
            deadline: None,
            step: 0,
            traffic_only: false,
            green_instances: vec![],
            blue_instances: vec![],
            green_selector: None,
            retired: vec![],
        });
        d
    }

    fn phase(d: &Deployment) -> Phase {
        d.blue_green.as_ref().unwrap().phase
    }

    fn start(d: &mut Deployment) -> Vec<Effect> {
        step(
            d,
            Input::StartBlueGreen { green: vec!["g1".into(), "g2".into()], blue: vec!["b1".into(), "b2".into()] },
            1,
        )
    }

    fn status(d: &Deployment, instance: &str) -> TargetStatus {
        d.target(instance).unwrap().status
    }

    #[test]
    fn greens_install_then_traffic_moves_then_blues_leave_and_are_terminated() {
        let mut d = bg(ReadyAction::Continue, BlueAction::Terminate { wait_ms: 1000 }, TrafficRouting::AllAtOnce);
        start(&mut d);
        assert_eq!(d.target("g1").unwrap().label, Some(Label::Green));
        assert_eq!(status(&d, "b1"), TargetStatus::Pending, "blues wait while greens install");
        let install = agent_command(&d, "g1").unwrap();
        assert_eq!(
            install.events.last().map(|e| e.as_str()),
            Some("ValidateService"),
            "stops before BeforeAllowTraffic"
        );
        run_command(&mut d, "g1", None, 2);
        assert_eq!(status(&d, "g1"), TargetStatus::Ready);
        assert_eq!(phase(&d), Phase::Install);
        let effects = run_command(&mut d, "g2", None, 3);
        assert!(effects.iter().any(|e| matches!(e, Effect::TestTraffic { instances } if instances.len() == 2)));
        assert_eq!(phase(&d), Phase::BeforeAllow);
        assert_eq!(agent_command(&d, "g1").unwrap().events, ["BeforeAllowTraffic"]);
        run_command(&mut d, "g1", None, 4);
        assert_eq!(phase(&d), Phase::BeforeAllow, "waits for every green");
        let effects = run_command(&mut d, "g2", None, 5);
        assert!(effects.contains(&Effect::Shift));
        assert_eq!(phase(&d), Phase::Shifting);
        assert!(server_events_in_progress(&d).is_empty(), "the shift is one job, not one per green");
        assert_eq!(blue_green_jobs(&d), (true, None));

        step(&mut d, Input::ShiftProgress { step: 0, share: 100 }, 6);
        step(&mut d, Input::ShiftFinished { succeeded: true, message: "all on green".into() }, 7);
        assert_eq!(phase(&d), Phase::AfterAllow);
        run_command(&mut d, "g1", None, 8);
        run_command(&mut d, "g2", None, 8);
        assert_eq!(phase(&d), Phase::Block);
        assert_eq!(agent_command(&d, "b1").unwrap().events, ["BeforeBlockTraffic"]);
        for b in ["b1", "b2"] {
            let effects = run_command(&mut d, b, None, 9);
            assert!(effects.iter().any(|e| matches!(e, Effect::ServerEvent { event, .. } if event == "BlockTraffic")));
            finish_server(&mut d, b, "BlockTraffic", true, 10);
            run_command(&mut d, b, None, 11);
        }
        assert_eq!(phase(&d), Phase::TerminationWait);
        assert_eq!(d.status, DeploymentStatus::InProgress);
        assert!(step(&mut d, Input::Tick, 500).is_empty(), "the wait has not run out");
        let effects = step(&mut d, Input::Tick, 1011);
        assert!(effects.iter().any(|e| matches!(e, Effect::Terminate { instances } if instances.len() == 2)));
        assert_eq!(blue_green_jobs(&d).1.map(|v| v.len()), Some(2));
        // Each original is recorded once as it is retired (a green never is),
        // and each retirement is a notice.
        let before = d.clone();
        step(&mut d, Input::OriginalRetired { instance: "b1".into(), terminated: false }, 1012);
        step(&mut d, Input::OriginalRetired { instance: "b1".into(), terminated: false }, 1013);
        step(&mut d, Input::OriginalRetired { instance: "g1".into(), terminated: false }, 1013);
        step(&mut d, Input::OriginalRetired { instance: "b2".into(), terminated: true }, 1014);
        let retired: Vec<(&str, bool)> =
            d.blue_green.as_ref().unwrap().retired.iter().map(|r| (r.instance.as_str(), r.terminated)).collect();
        assert_eq!(retired, [("b1", false), ("b2", true)]);
        let notices = crate::notices::changes(Some(&before), &d, 1014);
        let told: Vec<(&str, Option<&str>)> =
            notices.iter().map(|n| (n.kind.as_str(), n.instance.as_deref())).collect();
        assert_eq!(told, [("InstanceRemoved", Some("b1")), ("InstanceTerminated", Some("b2"))]);
        step(&mut d, Input::TerminationFinished { succeeded: true, message: String::new() }, 1020);
        assert_eq!(d.status, DeploymentStatus::Succeeded);
        assert!(!traffic_moved(&d), "blues are gone: nothing to roll back to");
    }

    #[test]
    fn stop_deployment_waits_for_continue_and_times_out() {
        let mut d = bg(ReadyAction::Stop { wait_ms: 100 }, BlueAction::KeepAlive, TrafficRouting::AllAtOnce);
        start(&mut d);
        run_command(&mut d, "g1", None, 2);
        run_command(&mut d, "g2", None, 3);
        assert_eq!(d.status, DeploymentStatus::Ready);
        assert_eq!(phase(&d), Phase::Ready);
        step(&mut d, Input::Tick, 50);
        assert_eq!(d.status, DeploymentStatus::Ready);
        let mut timed_out = d.clone();
        step(&mut timed_out, Input::Tick, 104);
        assert_eq!(timed_out.status, DeploymentStatus::Stopped);
        assert_eq!(timed_out.error.unwrap().code, ErrorCode::Timeout);

        step(&mut d, Input::Continue { wait: Wait::Ready }, 60);
        assert_eq!(d.status, DeploymentStatus::InProgress);
        assert_eq!(phase(&d), Phase::BeforeAllow);
        assert_eq!(status(&d, "g1"), TargetStatus::InProgress);
        // A second Continue, or one for the other wait, changes nothing.
        assert!(step(&mut d, Input::Continue { wait: Wait::Ready }, 61).is_empty());
    }

    #[test]
    fn a_failed_shift_fails_the_deployment_with_traffic_back_on_blue() {
        let mut d = bg(
            ReadyAction::Continue,
            BlueAction::KeepAlive,
            TrafficRouting::TimeBasedCanary { percentage: 10, interval_seconds: 5 },
        );
        start(&mut d);
        for g in ["g1", "g2"] {
            run_command(&mut d, g, None, 2);
        }
        for g in ["g1", "g2"] {
            run_command(&mut d, g, None, 3);
        }
        step(&mut d, Input::ShiftProgress { step: 0, share: 10 }, 4);
        assert_eq!(d.blue_green.as_ref().unwrap().green_share, 10);
        assert!(traffic_moved(&d));
        step(&mut d, Input::ShiftFinished { succeeded: false, message: "g2 became unhealthy".into() }, 5);
        assert_eq!(d.status, DeploymentStatus::Failed);
        assert_eq!(d.error.as_ref().unwrap().code, ErrorCode::CustomerApplicationUnhealthy);
        assert_eq!(status(&d, "b1"), TargetStatus::Skipped);
        let allow = d.target("g1").unwrap().events.iter().find(|e| e.name == "AllowTraffic").unwrap();
        assert_eq!(allow.status, EventStatus::Failed);
    }

    #[test]
    fn too_many_failed_greens_fail_before_traffic_moves() {
        let mut d = bg(ReadyAction::Continue, BlueAction::KeepAlive, TrafficRouting::AllAtOnce);
        d.minimum_healthy_hosts = MinimumHealthyHosts::HostCount(1);
        start(&mut d);
        assert_eq!(in_progress(&d), ["g1"], "one at a time keeps one healthy");
        run_command(&mut d, "g1", Some("AfterInstall"), 2);
        assert_eq!(d.status, DeploymentStatus::Failed);
        assert_eq!(d.error.as_ref().unwrap().code, ErrorCode::HealthConstraints);
        assert!(!traffic_moved(&d));
    }

    #[test]
    fn a_rollback_only_moves_traffic() {
        let mut d = bg(ReadyAction::Continue, BlueAction::KeepAlive, TrafficRouting::AllAtOnce);
        d.blue_green.as_mut().unwrap().traffic_only = true;
        start(&mut d);
        assert_eq!(phase(&d), Phase::BeforeAllow, "nothing to install");
        assert_eq!(agent_command(&d, "g1").unwrap().events, ["BeforeAllowTraffic"]);
        for g in ["g1", "g2"] {
            run_command(&mut d, g, None, 2);
        }
        assert_eq!(phase(&d), Phase::Shifting);
    }

    #[test]
    fn a_stop_while_shifting_waits_for_the_shift_to_undo() {
        let mut d = bg(ReadyAction::Continue, BlueAction::KeepAlive, TrafficRouting::AllAtOnce);
        start(&mut d);
        for g in ["g1", "g2"] {
            run_command(&mut d, g, None, 2);
        }
        for g in ["g1", "g2"] {
            run_command(&mut d, g, None, 3);
        }
        step(&mut d, Input::Stop { rollback: Some(false), code: ErrorCode::ManualStop, message: "stop".into() }, 4);
        assert_eq!(d.status, DeploymentStatus::InProgress, "the shift job puts traffic back first");
        step(&mut d, Input::ShiftFinished { succeeded: false, message: "stopped".into() }, 5);
        assert_eq!(d.status, DeploymentStatus::Stopped);
    }
}

#[test]
fn a_deployment_whose_bundle_is_still_copied_waits_then_starts_or_fails() {
    use crate::deployment::{Bundle, Fetching};
    let bundle = Bundle {
        blob_key: "sha256/ab".into(),
        sha256: "ab".into(),
        size: 3,
        bundle_type: "zip".into(),
        etag: None,
        version: None,
    };
    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    d.revision.bundle = None;
    d.fetching = Some(Fetching { since: 0 });
    assert!(!ready_to_start(&d));
    step(&mut d, Input::Start { instances: hosts(1) }, 1);
    assert_eq!(d.status, DeploymentStatus::Created, "no start without the bytes");
    step(&mut d, Input::BundleReady { bundle: bundle.clone() }, 2);
    assert!(ready_to_start(&d));
    assert_eq!(d.revision.bundle.as_ref(), Some(&bundle));
    step(&mut d, Input::Start { instances: hosts(1) }, 3);
    assert_eq!(d.status, DeploymentStatus::InProgress);
    // A late second report changes nothing.
    step(&mut d, Input::BundleFailed { code: ErrorCode::RevisionMissing, message: "gone".into() }, 4);
    assert_eq!(d.status, DeploymentStatus::InProgress);

    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    d.fetching = Some(Fetching { since: 0 });
    d.status = DeploymentStatus::Queued;
    step(&mut d, Input::BundleFailed { code: ErrorCode::RevisionMissing, message: "no such key".into() }, 5);
    assert_eq!(d.status, DeploymentStatus::Failed);
    assert_eq!(
        d.error.as_ref().map(|e| (e.code, e.message.as_str())),
        Some((ErrorCode::RevisionMissing, "no such key"))
    );
    assert_eq!(d.complete_time, Some(5));
    assert!(d.fetching.is_none());

    // Stopped while copying: it ends Stopped, and the copy's result is ignored.
    let mut d = deployment(MinimumHealthyHosts::HostCount(0));
    d.fetching = Some(Fetching { since: 0 });
    step(&mut d, Input::Stop { rollback: None, code: ErrorCode::ManualStop, message: "stop".into() }, 6);
    assert_eq!(d.status, DeploymentStatus::Stopped);
    step(&mut d, Input::BundleReady { bundle }, 7);
    assert_eq!(d.status, DeploymentStatus::Stopped);
}

mod ecs {
    use super::*;
    use crate::deployment::EcsDeployment;
    use crate::events::{ECS, Event};

    fn ecs_deployment() -> Deployment {
        Deployment {
            minimum_healthy_hosts: MinimumHealthyHosts::HostCount(0),
            ecs: Some(EcsDeployment {
                service: "web".into(),
                cluster: "prod".into(),
                task_definition: "web:2".into(),
                container_name: "web".into(),
                container_port: 8080,
                hooks: vec![],
                routing: crate::config::TrafficRouting::AllAtOnce,
                termination_wait_ms: 0,
            }),
            ..Deployment::fixture(&ECS)
        }
    }

    fn finish(d: &mut Deployment, event: Event, succeeded: bool) -> Vec<Effect> {
        step(
            d,
            Input::ServerEventFinished { instance: "prod:web".into(), attempt: 1, event, succeeded, diagnostics: None },
            10,
        )
    }

    #[test]
    fn every_event_of_an_ecs_deployment_is_the_servers_in_order() {
        let mut d = ecs_deployment();
        let effects = step(&mut d, Input::Start { instances: vec!["prod:web".into()] }, 1);
        let mut expected = Effect::ServerEvent { instance: "prod:web".into(), attempt: 1, event: Event::BeforeInstall };
        assert!(effects.contains(&expected), "{effects:?}");
        assert!(agent_command(&d, "prod:web").is_none());
        for pair in ECS.windows(2) {
            assert_eq!(server_events_in_progress(&d), [("prod:web".to_string(), 1, pair[0])]);
            let effects = finish(&mut d, pair[0], true);
            expected = Effect::ServerEvent { instance: "prod:web".into(), attempt: 1, event: pair[1] };
            assert!(effects.contains(&expected), "{effects:?}");
        }
        let effects = finish(&mut d, Event::AfterAllowTraffic, true);
        assert_eq!(d.status, DeploymentStatus::Succeeded);
        assert!(effects.contains(&Effect::Finished));
    }

    #[test]
    fn a_failed_hook_fails_the_deployment() {
        let mut d = ecs_deployment();
        step(&mut d, Input::Start { instances: vec!["prod:web".into()] }, 1);
        finish(&mut d, Event::BeforeInstall, true);
        finish(&mut d, Event::Install, true);
        finish(&mut d, Event::AfterInstall, false);
        assert_eq!(d.status, DeploymentStatus::Failed);
        assert_eq!(d.targets[0].events[3].status, EventStatus::Skipped);
    }
}
