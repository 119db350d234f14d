use super::*;

fn service(desired: u32) -> Service {
    Service {
        name: "web".into(),
        task_definition: "web:1".into(),
        desired_count: desired,
        hosts: vec![HostTag { key: "role".into(), value: "web".into() }],
        load_balancer: None,
        task_sets: vec![TaskSet {
            id: "ts1".into(),
            task_definition: "web:1".into(),
            scale_percent: 100,
            status: TaskSetStatus::Primary,
            create_time: 0,
            weight: 100,
            test: false,
            deployment: None,
            terminate_at: None,
        }],
        status: ServiceStatus::Active,
        create_time: 0,
        update_time: 0,
        backoff_until: None,
        events: vec![],
    }
}

fn host(name: &str) -> Host {
    Host {
        name: name.into(),
        tags: vec![HostTag { key: "role".into(), value: "web".into() }],
        online: true,
        engine: true,
        used_ports: vec![],
    }
}

fn task(id: &str, set: &str, host: &str, status: LastStatus) -> Task {
    Task {
        id: id.into(),
        service: "web".into(),
        task_set: set.into(),
        task_definition: "web:1".into(),
        host: host.into(),
        desired_status: DesiredStatus::Running,
        last_status: status,
        health: TaskHealth::Unknown,
        health_checked: false,
        target_health: None,
        ports: vec![],
        fixed_host_ports: vec![],
        created_at: 1,
        started_at: None,
        stopping_at: None,
        drain_until: None,
        stopped_at: None,
        stop_code: None,
        stopped_reason: None,
        containers: vec![],
    }
}

fn hosts_of(plan: &Plan) -> Vec<&str> {
    plan.start.iter().map(|p| p.host.as_str()).collect()
}

#[test]
fn spreads_new_tasks_across_matching_hosts() {
    let mut other = host("db1");
    other.tags = vec![HostTag { key: "role".into(), value: "db".into() }];
    let hosts = [host("a"), host("b"), other];
    let p = plan(&service(3), &[], &hosts, &BTreeMap::new(), 0);
    assert_eq!(hosts_of(&p), ["a", "b", "a"]);
    // One already on a: the next two go to b, then a.
    let p = plan(&service(3), &[task("t1", "ts1", "a", LastStatus::Running)], &hosts, &BTreeMap::new(), 0);
    assert_eq!(hosts_of(&p), ["b", "a"]);
}

#[test]
fn hosts_without_engine_or_offline_take_nothing_and_say_why() {
    let mut a = host("a");
    a.engine = false;
    let mut b = host("b");
    b.online = false;
    let p = plan(&service(2), &[], &[a, b], &BTreeMap::new(), 0);
    assert!(p.start.is_empty());
    assert!(p.unplaced.unwrap().contains("2 host(s) match its tags, none online"));
}

#[test]
fn lost_hosts_and_unhealthy_tasks_are_replaced() {
    let mut b = host("b");
    b.online = false;
    let mut sick = task("t2", "ts1", "a", LastStatus::Running);
    sick.health = TaskHealth::Unhealthy;
    let tasks = [task("t1", "ts1", "b", LastStatus::Running), sick, task("t3", "ts1", "a", LastStatus::Running)];
    let p = plan(&service(3), &tasks, &[host("a"), b], &BTreeMap::new(), 0);
    let stopped: Vec<_> = p.stop.iter().map(|s| (s.task.as_str(), s.reason.as_str())).collect();
    assert_eq!(stopped, [("t1", "Host b was lost (its agent went silent)"), ("t2", UNHEALTHY)]);
    assert_eq!(hosts_of(&p), ["a", "a"]);
}

#[test]
fn scale_in_stops_pending_then_busiest_newest() {
    let mut t3 = task("t3", "ts1", "a", LastStatus::Running);
    t3.created_at = 5;
    let tasks = [
        task("t1", "ts1", "a", LastStatus::Running),
        task("t2", "ts1", "b", LastStatus::Pending),
        t3,
        task("t4", "ts1", "b", LastStatus::Running),
    ];
    let p = plan(&service(2), &tasks, &[host("a"), host("b")], &BTreeMap::new(), 0);
    let stopped: Vec<_> = p.stop.iter().map(|s| s.task.as_str()).collect();
    assert_eq!(stopped, ["t2", "t3"]);
    assert!(p.start.is_empty());
}

#[test]
fn a_fixed_host_port_is_used_once_per_host() {
    let ports = BTreeMap::from([("web:1".to_string(), vec![8080])]);
    let mut b = host("b");
    b.used_ports = vec![8080];
    let p = plan(&service(3), &[], &[host("a"), b, host("c")], &ports, 0);
    assert_eq!(hosts_of(&p), ["a", "c"]);
    assert!(p.unplaced.unwrap().contains("host port(s) [8080] are taken"));
}

#[test]
fn rolling_update_stops_old_tasks_as_new_ones_become_ready() {
    let mut s = service(2);
    s.task_sets[0].status = TaskSetStatus::Draining;
    s.task_sets.push(TaskSet {
        id: "ts2".into(),
        task_definition: "web:2".into(),
        scale_percent: 100,
        status: TaskSetStatus::Primary,
        create_time: 1,
        weight: 100,
        test: false,
        deployment: None,
        terminate_at: None,
    });
    let old = [task("o1", "ts1", "a", LastStatus::Running), task("o2", "ts1", "b", LastStatus::Running)];
    let hosts = [host("a"), host("b")];
    // Nothing new yet: two new tasks start, no old one stops.
    let p = plan(&s, &old, &hosts, &BTreeMap::new(), 0);
    assert_eq!(p.start.len(), 2);
    assert!(p.stop.is_empty());
    // One new task ready, one pending: one old task stops.
    let mut tasks = old.to_vec();
    let mut n1 = task("n1", "ts2", "a", LastStatus::Running);
    n1.health_checked = true;
    n1.health = TaskHealth::Healthy;
    tasks.push(n1);
    tasks.push(task("n2", "ts2", "b", LastStatus::Pending));
    let p = plan(&s, &tasks, &hosts, &BTreeMap::new(), 0);
    assert_eq!(p.stop.len(), 1);
    assert_eq!(p.stop[0].reason, "Replaced by a newer task definition");
    // A new task running but not yet healthy does not count.
    tasks[3].last_status = LastStatus::Running;
    tasks[3].health_checked = true;
    let p = plan(&s, &tasks, &hosts, &BTreeMap::new(), 0);
    assert_eq!(p.stop.len(), 1);
    // Both ready: both old ones stop; once gone, the old task set goes.
    tasks[3].health = TaskHealth::Healthy;
    let p = plan(&s, &tasks, &hosts, &BTreeMap::new(), 0);
    assert_eq!(p.stop.len(), 2);
    for t in &mut tasks[..2] {
        t.last_status = LastStatus::Stopped;
        t.desired_status = DesiredStatus::Stopped;
    }
    let p = plan(&s, &tasks, &hosts, &BTreeMap::new(), 0);
    assert_eq!(p.remove_task_sets, ["ts1"]);
}

#[test]
fn tasks_failing_in_a_row_throttle_starts() {
    let failed = |id: &str, at: Millis| {
        let mut t = task(id, "ts1", "a", LastStatus::Stopped);
        t.desired_status = DesiredStatus::Stopped;
        t.stop_code = Some(StopCode::TaskFailedToStart);
        t.stopped_at = Some(at);
        t
    };
    let two = [failed("f1", 1000), failed("f2", 2000)];
    assert_eq!(plan(&service(1), &two, &[host("a")], &BTreeMap::new(), 2500).start.len(), 1);
    let three = [failed("f1", 1000), failed("f2", 2000), failed("f3", 3000)];
    let p = plan(&service(1), &three, &[host("a")], &BTreeMap::new(), 3500);
    assert!(p.start.is_empty());
    assert_eq!(p.backoff_until, Some(8000));
    assert_eq!(plan(&service(1), &three, &[host("a")], &BTreeMap::new(), 8000).start.len(), 1);
    // A fourth failure doubles the wait.
    let four = [failed("f1", 1000), failed("f2", 2000), failed("f3", 3000), failed("f4", 9000)];
    assert_eq!(plan(&service(1), &four, &[host("a")], &BTreeMap::new(), 9000).backoff_until, Some(19000));
}

#[test]
fn a_deleted_service_stops_everything_then_drops_its_task_sets() {
    let mut s = service(2);
    s.status = ServiceStatus::Draining;
    let tasks = [task("t1", "ts1", "a", LastStatus::Running)];
    let p = plan(&s, &tasks, &[host("a")], &BTreeMap::new(), 0);
    assert_eq!(p.stop.len(), 1);
    assert!(p.start.is_empty());
    let p = plan(&s, &[], &[host("a")], &BTreeMap::new(), 0);
    assert_eq!(p.remove_task_sets, ["ts1"]);
}

#[test]
fn names() {
    assert!(check_name("web_1-a").is_ok());
    assert!(check_name("").is_err());
    assert!(check_name("a b").is_err());
    assert!(check_name("..").is_err());
}

#[test]
fn member_weights_hold_each_task_sets_share() {
    let mut s = service(3);
    s.task_sets[0].weight = 90;
    s.task_sets.push(TaskSet {
        id: "ts2".into(),
        task_definition: "web:2".into(),
        scale_percent: 100,
        status: TaskSetStatus::Active,
        create_time: 1,
        weight: 10,
        test: true,
        deployment: Some("d-1".into()),
        terminate_at: None,
    });
    let mut tasks: Vec<Task> = (0..3).map(|i| task(&format!("o{i}"), "ts1", "a", LastStatus::Running)).collect();
    tasks.extend((0..2).map(|i| task(&format!("n{i}"), "ts2", "a", LastStatus::Running)));
    let w = s.member_weights(&tasks);
    // 3 tasks share 90 %, 2 share 10 %: 30 : 5 per task, i.e. 6 : 1.
    assert_eq!((w["ts1"], w["ts2"]), (6, 1));
    let share = f64::from(2 * w["ts2"]) / f64::from(2 * w["ts2"] + 3 * w["ts1"]);
    assert!((share - 0.10).abs() < 1e-9);
    s.task_sets[1].weight = 0;
    s.task_sets[0].weight = 100;
    let w = s.member_weights(&tasks);
    assert_eq!((w["ts1"], w["ts2"]), (1, 0));
    // The replacement is kept while its deployment runs; the original's termination wait keeps it too.
    assert_eq!(s.replacement("d-1").unwrap().id, "ts2");
    s.task_sets[0].status = TaskSetStatus::Draining;
    s.task_sets[0].terminate_at = Some(100);
    s.task_sets[1].status = TaskSetStatus::Primary;
    assert!(plan(&s, &tasks, &[host("a")], &BTreeMap::new(), 50).stop.is_empty());
    // After it, old tasks go as far as the new primary has ready ones (2 of 3).
    assert_eq!(plan(&s, &tasks, &[host("a")], &BTreeMap::new(), 100).stop.len(), 2);
}
