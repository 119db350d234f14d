use super::*;

fn group(desired: u32) -> ScalingGroup {
    ScalingGroup {
        name: "web".into(),
        provider: Provider::Command { launch: "true".into(), terminate: "true".into() },
        min: 0,
        desired,
        max: 10,
        tags: vec![Tag { key: "role".into(), value: "web".into() }],
        hosts: Vec::new(),
        next_host: 1,
        launch_failures: 0,
        launch_after: None,
        launch_timeout_ms: 60_000,
        replace_after_ms: 30_000,
        deleting: false,
        create_time: 0,
    }
}

fn enrolled(_: &str) -> HostFacts {
    HostFacts { enrolled: true, silent_ms: Some(0) }
}

fn nothing(_: &str) -> HostFacts {
    HostFacts::default()
}

fn idle(_: &str) -> bool {
    false
}

/// Plans and applies until nothing is left to do; the actions taken.
fn settle(g: &mut ScalingGroup, facts: impl Fn(&str) -> HostFacts, now: Millis) -> Vec<Action> {
    let mut all = Vec::new();
    loop {
        let actions = plan(g, &facts, idle, now);
        let actions: Vec<Action> =
            actions.into_iter().filter(|a| !matches!(a, Action::RetryTerminate { .. })).collect();
        if actions.is_empty() {
            return all;
        }
        for a in &actions {
            apply(g, a, now);
            if let Action::Terminate { name, .. } = a {
                terminated(g, name);
            }
        }
        all.extend(actions);
    }
}

fn names(g: &ScalingGroup) -> Vec<(&str, HostState)> {
    g.hosts.iter().map(|h| (h.name.as_str(), h.state)).collect()
}

#[test]
fn capacities_are_checked() {
    assert!(check_capacity(2, 3, 10).is_ok());
    assert!(check_capacity(2, 1, 10).unwrap_err().contains("between the minimum (2) and the maximum (10)"));
    assert!(check_capacity(5, 5, 4).unwrap_err().contains("above the maximum"));
    assert!(check_capacity(0, 0, 1001).unwrap_err().contains("at most 1000"));
}

#[test]
fn a_group_launches_up_to_its_desired_capacity_and_hosts_go_in_service_when_they_enrol() {
    let mut g = group(2);
    let actions = plan(&g, nothing, idle, 0);
    assert_eq!(actions, [Action::Launch { name: "web-1".into() }, Action::Launch { name: "web-2".into() }]);
    for a in &actions {
        apply(&mut g, a, 0);
    }
    assert!(plan(&g, nothing, idle, 1_000).is_empty(), "launching hosts count towards the capacity");
    let actions = plan(&g, enrolled, idle, 2_000);
    assert_eq!(actions, [Action::InService { name: "web-1".into() }, Action::InService { name: "web-2".into() }]);
    for a in &actions {
        apply(&mut g, a, 2_000);
    }
    assert_eq!(names(&g), [("web-1", HostState::InService), ("web-2", HostState::InService)]);
}

#[test]
fn scale_out_then_in_terminates_the_newest_hosts() {
    let mut g = group(2);
    settle(&mut g, enrolled, 0);
    g.desired = 5;
    settle(&mut g, enrolled, 10);
    assert_eq!(g.hosts.len(), 5);
    g.desired = 2;
    let actions = settle(&mut g, enrolled, 20);
    let gone: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Terminate { name, reason, drain } => {
                assert_eq!(reason, "scale in to 2");
                assert!(drain, "hosts in service run their termination hooks");
                Some(name.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(gone, ["web-5", "web-4", "web-3"]);
    assert_eq!(names(&g), [("web-1", HostState::InService), ("web-2", HostState::InService)]);
    // Names are never reused.
    g.desired = 3;
    settle(&mut g, enrolled, 30);
    assert_eq!(g.hosts.last().unwrap().name, "web-6");
}

#[test]
fn a_host_that_never_enrols_is_terminated_and_replaced() {
    let mut g = group(1);
    let first = plan(&g, nothing, idle, 0).remove(0);
    apply(&mut g, &first, 0);
    assert!(plan(&g, nothing, idle, 59_999).is_empty());
    let actions = plan(&g, nothing, idle, 60_000);
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(
        matches!(&actions[0], Action::Terminate { name, reason, drain: false } if name == "web-1" && reason.contains("did not enrol within 60 s"))
    );
    assert_eq!(actions[1], Action::Launch { name: "web-2".into() });
}

#[test]
fn a_lost_host_is_replaced_after_the_grace() {
    let mut g = group(1);
    settle(&mut g, enrolled, 0);
    let silent = |ms| move |_: &str| HostFacts { enrolled: true, silent_ms: Some(ms) };
    assert!(plan(&g, silent(29_000), idle, 100).is_empty());
    let actions = plan(&g, silent(31_000), idle, 100);
    assert!(
        matches!(&actions[0], Action::Terminate { reason, .. } if reason.starts_with("lost: its agent has been silent for 31 s"))
    );
    assert_eq!(actions[1], Action::Launch { name: "web-2".into() });
}

#[test]
fn failed_launches_back_off_and_a_success_resets_it() {
    let mut g = group(1);
    let first = plan(&g, nothing, idle, 0).remove(0);
    apply(&mut g, &first, 0);
    launch_failed(&mut g, "web-1", "exit status 1", 0);
    assert_eq!(g.launch_after, Some(5_000));
    assert_eq!(g.hosts[0].state, HostState::Terminating, "its terminate command still runs to clean up");
    // Only the cleanup, no launch before the backoff ends.
    assert_eq!(plan(&g, nothing, idle, 1_000), [Action::RetryTerminate { name: "web-1".into() }]);
    terminated(&mut g, "web-1");
    assert!(plan(&g, nothing, idle, 4_999).is_empty());
    let first = plan(&g, nothing, idle, 5_000).remove(0);
    apply(&mut g, &first, 5_000);
    launch_failed(&mut g, "web-2", "exit status 1", 5_000);
    terminated(&mut g, "web-2");
    assert_eq!(g.launch_after, Some(15_000), "doubled");
    let first = plan(&g, nothing, idle, 15_000).remove(0);
    apply(&mut g, &first, 15_000);
    apply(&mut g, &Action::InService { name: "web-3".into() }, 16_000);
    assert_eq!((g.launch_failures, g.launch_after), (0, None));
}

#[test]
fn a_failed_terminate_is_tried_again_later_and_hosts_with_running_commands_wait() {
    let mut g = group(2);
    settle(&mut g, enrolled, 0);
    g.desired = 1;
    let actions = plan(&g, enrolled, idle, 10);
    assert_eq!(actions, [Action::Terminate { name: "web-2".into(), reason: "scale in to 1".into(), drain: true }]);
    apply(&mut g, &actions[0], 10);
    // While its command runs, nothing else is decided for it.
    assert!(plan(&g, enrolled, |n| n == "web-2", 20).is_empty());
    terminate_failed(&mut g, "web-2", "exit status 3", 20);
    assert!(plan(&g, enrolled, idle, 20 + TERMINATE_RETRY_MS - 1).is_empty());
    assert_eq!(plan(&g, enrolled, idle, 20 + TERMINATE_RETRY_MS), [Action::RetryTerminate { name: "web-2".into() }]);
}

#[test]
fn a_deleted_group_terminates_every_host() {
    let mut g = group(2);
    settle(&mut g, enrolled, 0);
    g.deleting = true;
    let actions = settle(&mut g, enrolled, 10);
    assert_eq!(actions.len(), 2);
    assert!(g.hosts.is_empty());
}
