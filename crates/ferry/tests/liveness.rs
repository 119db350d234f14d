//! Agent liveness, black-box: a frozen host (SIGSTOP, its connection left
//! open) is lost `--agent-lost-after-seconds` after its last request, not
//! after the poll hold on top; a dead host is failed even when the server
//! restarts more often than that; and a live agent whose server was down
//! for longer than that is not failed when it reconnects.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const LONG: Duration = Duration::from_secs(120);

fn start_deployment(c: &Cluster, hook_ms: u64) -> String {
    c.ferry_ok(&["app", "create", "shop"]);
    c.ferry_ok(&["group", "create", "shop", "web", "--tag", "app=demo"]);
    let dir = revision(&c.tmp.path().join("slow"), "slow", hook_ms, None);
    let rev = c.ferry_ok(&["push", "shop", dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string();
    let id = c.ferry_ok(&["deploy", "shop", "web", "--revision", &rev]).lines().last().unwrap().trim().to_string();
    wait_for("ApplicationStart to run", LONG, || {
        (event(&c.get(&id), "ApplicationStart")["status"] == "InProgress").then_some(())
    });
    id
}

fn event(view: &Value, name: &str) -> Value {
    let events = view["instances"][0]["events"].as_array().cloned().unwrap_or_default();
    events.into_iter().find(|e| e["name"] == name).unwrap_or(Value::Null)
}

/// The seconds of silence a lost-host message reports.
fn reported_silence(message: &str) -> u64 {
    let after = message.split("has not been heard from for ").nth(1).unwrap_or_else(|| panic!("{message}"));
    after.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_frozen_agent_is_lost_after_lost_after_not_poll_hold_plus_lost_after() {
    if !fleet_supported() {
        return;
    }
    let (hold, lost_after) = (10, 11);
    let c = Cluster::start(ClusterOptions {
        hosts: 1,
        poll_hold_seconds: hold,
        lost_after_seconds: lost_after,
        ..Default::default()
    });
    let id = start_deployment(&c, 60_000);
    // Its last request was the report that ApplicationStart started; its
    // poll stays held by the server, over a connection the frozen process
    // keeps open.
    c.signal_agent(0, ferry_fleet::Signal::SIGSTOP);
    let frozen = Instant::now();
    let view = c.wait_done(&id, Duration::from_secs(60));
    let noticed = frozen.elapsed();
    c.signal_agent(0, ferry_fleet::Signal::SIGCONT);
    eprintln!("frozen host declared lost after {noticed:?} (limit {lost_after} s, poll hold {hold} s)");
    assert_eq!(view["status"], "Failed", "{view:#}");
    let message = event(&view, "ApplicationStart")["diagnostics"]["message"].as_str().unwrap().to_string();
    assert!(
        noticed < Duration::from_secs(lost_after + 3),
        "a host frozen mid-hook was declared lost after {noticed:?}, limit {lost_after} s (poll hold {hold} s): {message}"
    );
    assert!(reported_silence(&message) <= lost_after + 1, "{message}");
}

#[test]
fn a_dead_host_is_failed_across_server_restarts_more_frequent_than_lost_after() {
    if !fleet_supported() {
        return;
    }
    let lost_after = 6;
    let mut c = Cluster::start(ClusterOptions {
        hosts: 1,
        poll_hold_seconds: 2,
        lost_after_seconds: lost_after,
        ..Default::default()
    });
    let id = start_deployment(&c, 120_000);
    c.kill_agent(0);
    let died = Instant::now();
    // The server crashes and comes back every half `lost_after`: each of
    // its lives alone is too short to notice the dead host.
    let up_for = Duration::from_secs(lost_after / 2);
    let mut restarts = 0;
    let view = loop {
        let up_since = Instant::now();
        let mut done = None;
        while up_since.elapsed() < up_for {
            let view = c.get(&id);
            if view["status"] != "InProgress" {
                done = Some(view);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(view) = done {
            break view;
        }
        assert!(
            restarts < 10,
            "the dead host was not failed across {restarts} server restarts ({:?} since it died)",
            died.elapsed()
        );
        c.kill_server();
        c.start_server();
        restarts += 1;
    };
    eprintln!("dead host failed {:?} after it died, across {restarts} server crashes", died.elapsed());
    assert_eq!(view["status"], "Failed", "{view:#}");
    let message = event(&view, "ApplicationStart")["diagnostics"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("has not been heard from"), "{message}");
    assert!(restarts >= 2, "the server restarted {restarts} times: the test did not test restarts");
}

#[test]
fn a_live_agent_is_not_failed_after_a_server_outage_longer_than_lost_after() {
    if !fleet_supported() {
        return;
    }
    // Longer than the agent's longest retry delay (10 s), as in production.
    let lost_after = 12;
    let mut c = Cluster::start(ClusterOptions {
        hosts: 1,
        poll_hold_seconds: 2,
        lost_after_seconds: lost_after,
        ..Default::default()
    });
    let id = start_deployment(&c, 8_000);
    c.kill_server();
    // The outage itself is what is tested (not a wait for a condition).
    std::thread::sleep(Duration::from_secs(lost_after + 2));
    c.start_server();
    let view = c.wait_done(&id, LONG);
    assert_eq!(view["status"], "Succeeded", "the agent reconnected and finished its work: {view:#}");
}
