//! Graceful shutdown, black-box: SIGTERM to an agent mid-hook lets the hook
//! finish and reports it before the agent exits; SIGTERM to the server
//! mid-deployment drains its polls and exits; after each restart the
//! deployment goes on and ends correctly, no event run twice.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const LONG: Duration = Duration::from_secs(120);

fn event_status(view: &Value, event: &str) -> String {
    let events = view["instances"][0]["events"].as_array().cloned().unwrap_or_default();
    events
        .iter()
        .find(|e| e["name"] == event)
        .map(|e| e["status"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn deploy(c: &Cluster, revision: &str) -> String {
    c.ferry_ok(&["deploy", "shop", "web", "--revision", revision]).lines().last().unwrap().trim().to_string()
}

#[test]
fn sigterm_lets_the_running_hook_finish_and_the_deployment_ends_correctly() {
    if !fleet_supported() {
        return;
    }
    let mut c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    c.wait_enrolled(1);
    c.ferry_ok(&["app", "create", "shop"]);
    c.ferry_ok(&["group", "create", "shop", "web", "--tag", "app=demo"]);
    let dir = revision(&c.tmp.path().join("r1"), "r1", 3000, None);
    let r1 = c.ferry_ok(&["push", "shop", dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string();

    // The agent, mid-hook.
    let d1 = deploy(&c, &r1);
    wait_for("ApplicationStart to run", LONG, || {
        (event_status(&c.get(&d1), "ApplicationStart") == "InProgress").then_some(())
    });
    let pid = c.agent_pids()[0];
    let asked = Instant::now();
    c.signal_agent(0, ferry_fleet::Signal::SIGTERM);
    wait_for("the agent to exit", Duration::from_secs(30), || {
        matches!(c.fleet.try_wait(pid), Ok(Some(_))).then_some(())
    });
    assert!(asked.elapsed() >= Duration::from_millis(500), "the agent waited for its hook");
    let view = c.get(&d1);
    assert_eq!(event_status(&view, "ApplicationStart"), "Succeeded", "finished and reported before exiting: {view:#}");
    assert_eq!(event_status(&view, "ValidateService"), "Pending", "nothing new started: {view:#}");
    assert_eq!(view["status"], "InProgress");
    c.start_agent(0);
    let view = c.wait_done(&d1, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(begins(&c, 0).get("r1 ApplicationStart"), Some(&1), "no event ran twice");

    // The server, mid-deployment.
    let dir = revision(&c.tmp.path().join("r2"), "r2", 3000, None);
    let r2 = c.ferry_ok(&["push", "shop", dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string();
    let d2 = deploy(&c, &r2);
    wait_for("ApplicationStart to run", LONG, || {
        (event_status(&c.get(&d2), "ApplicationStart") == "InProgress").then_some(())
    });
    let asked = Instant::now();
    c.stop_server();
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "held polls were drained, not waited out: {:?}",
        asked.elapsed()
    );
    assert!(c.logs().contains("shutting down"), "{}", c.logs());
    c.start_server();
    let view = c.wait_done(&d2, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(begins(&c, 0).get("r2 ApplicationStart"), Some(&1), "no event ran twice");
}
