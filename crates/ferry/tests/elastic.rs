//! Elastic fleets (issue #16): hosts that join a deployment group get its
//! last successful revision before they take traffic. A real server and
//! agents in a local fleet of five hosts, two of them enrolled at first,
//! the others joining later; a web app behind ferry's proxy under a
//! constant request rate throughout.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ferry_testkit::Load;
use serde_json::Value;
use support::*;

const LONG: Duration = Duration::from_secs(120);

fn push(c: &Cluster, dir: &Path) -> String {
    c.ferry_ok(&["push", "shop", dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string()
}

fn deploy(c: &Cluster, revision: &str) -> String {
    c.ferry_ok(&["deploy", "shop", "web", "--revision", revision]).lines().last().unwrap().trim().to_string()
}

fn group(c: &Cluster) -> Value {
    serde_json::from_str(&c.ferry_ok(&["group", "show", "shop", "web", "--json"])).unwrap()
}

/// The group's record of `host`, once it has one.
fn state_of(c: &Cluster, host: &str) -> Option<Value> {
    group(c)["instance_states"].as_array()?.iter().find(|s| s["instance"] == host).cloned()
}

/// The members of the target group that are ready and healthy.
fn serving(c: &Cluster) -> Vec<String> {
    let tg: Value = serde_json::from_str(&c.ferry_ok(&["lb", "show", "tg", "--json"])).unwrap();
    let mut names: Vec<String> = tg["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] == "ready" && m["health"] == "healthy")
        .map(|m| m["instance"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn event<'a>(instance: &'a Value, name: &str) -> &'a Value {
    instance["events"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap()
}

/// Waits until `host` has a launch deployment and it ended; returns its view.
fn launch_of(c: &Cluster, host: &str) -> Value {
    let id = wait_for(&format!("a launch deployment for {host}"), LONG, || {
        let state = state_of(c, host)?;
        state["deployment_id"].as_str().map(str::to_string)
    });
    c.wait_done(&id, LONG)
}

#[test]
fn hosts_that_join_a_group_get_its_revision_before_they_take_traffic() {
    if !fleet_supported() {
        return;
    }
    let mut c = Cluster::start(ClusterOptions { hosts: 4, start_agents: Some(2), ..Default::default() });
    let lb = SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    let listen = lb.to_string();
    c.ferry_ok(&[
        "lb",
        "create",
        "tg",
        "--port",
        "8080",
        "--listen",
        &listen,
        "--health-path",
        "/health",
        "--health-interval-ms",
        "100",
        "--health-timeout-ms",
        "500",
        "--healthy-threshold",
        "2",
        "--healthy-timeout-ms",
        "10000",
    ]);
    c.ferry_ok(&["app", "create", "shop"]);
    let created = c.ferry_ok(&[
        "group",
        "create",
        "shop",
        "web",
        "--tag",
        "app=demo",
        "--target-group",
        "tg",
        "--config",
        "CodeDeployDefault.HalfAtATime",
    ]);
    assert!(created.contains("instances      2 now"), "{created}");

    // A host that joins before anything was deployed gets nothing: there
    // is nothing to bring it to; the first deployment includes it.
    let v1 = push(&c, &web_revision(&c.tmp.path().join("v1"), "v1", Health::Healthy));
    let d1 = deploy(&c, &v1);
    let view = c.wait_done(&d1, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    wait_for("both hosts serving", LONG, || (serving(&c) == ["host1", "host2"]).then_some(()));
    let load = Load::start(lb, "/", 100, 2);

    // host3 enrols: a launch deployment of v1, to it alone, all at once,
    // and it joins the target group only once healthy on v1.
    c.start_agent(2);
    let launch = launch_of(&c, "host3");
    assert_eq!(launch["status"], "Succeeded", "{launch:#}");
    assert_eq!(launch["creator"], "autoscaling", "{launch:#}");
    assert_eq!(launch["revision_id"], v1.as_str(), "{launch:#}");
    let instances = launch["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{launch:#}");
    let host3 = &instances[0];
    assert_eq!(host3["instance"], "host3");
    assert!(
        event(host3, "AllowTraffic")["start_time"].as_u64() >= event(host3, "ValidateService")["end_time"].as_u64(),
        "traffic only after the app is up: {host3:#}"
    );
    wait_for("host3 serving", LONG, || (serving(&c) == ["host1", "host2", "host3"]).then_some(()));
    assert_eq!(state_of(&c, "host3").unwrap()["standing"], "current");
    let info = c.aws_ok(&["get-deployment", "--deployment-id", launch["id"].as_str().unwrap()]);
    assert_eq!(info["deploymentInfo"]["creator"], "autoscaling", "{info:#}");
    // The group's own record is unchanged: the launch installed what it runs.
    assert_eq!(group(&c)["last_successful_deployment_id"], d1.as_str());

    // host4 enrols while v2 is being deployed (its BeforeInstall waits for a
    // gate file): it waits out of the load balancer until v2's deployment
    // ends, then gets v2 (outdatedInstancesStrategy UPDATE).
    let gate = c.tmp.path().join("gate");
    let v2_dir = web_revision(&c.tmp.path().join("v2"), "v2", Health::Healthy);
    let wait =
        format!("#!/bin/sh\nfor i in $(seq 1 600); do [ -f {} ] && exit 0; sleep 0.1; done\nexit 1\n", gate.display());
    std::fs::write(v2_dir.join("scripts/wait.sh"), wait).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(v2_dir.join("scripts/wait.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let appspec = std::fs::read_to_string(v2_dir.join("appspec.yml")).unwrap();
    std::fs::write(
        v2_dir.join("appspec.yml"),
        format!("{appspec}  BeforeInstall:\n    - location: scripts/wait.sh\n      timeout: 90\n"),
    )
    .unwrap();
    let v2 = push(&c, &v2_dir);
    let d2 = deploy(&c, &v2);
    wait_for("v2 waiting at its gate", LONG, || {
        let view = c.get(&d2);
        view["instances"].as_array()?.iter().any(|i| event(i, "BeforeInstall")["status"] == "InProgress").then_some(())
    });
    c.start_agent(3);
    c.wait_enrolled(4);
    let joined =
        wait_for("host4 recorded as joining", LONG, || state_of(&c, "host4").filter(|s| s["standing"] == "joining"));
    assert!(joined["deployment_id"].is_null(), "nothing runs on it beside v2's deployment: {joined:#}");
    let shown = c.ferry_ok(&["group", "show", "shop", "web"]);
    assert!(shown.contains("joining   host4  no revision"), "{shown}");
    std::fs::write(&gate, "go").unwrap();
    let view = c.wait_done(&d2, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(view["instances"].as_array().unwrap().len(), 3, "v2's deployment keeps its own hosts: {view:#}");
    let update = launch_of(&c, "host4");
    assert_eq!(update["status"], "Succeeded", "{update:#}");
    assert_eq!(update["creator"], "CodeDeployAutoUpdate", "{update:#}");
    assert_eq!(update["revision_id"], v2.as_str(), "{update:#}");
    assert!(update["create_time"].as_u64() >= view["complete_time"].as_u64(), "after v2's deployment ended");
    wait_for("four hosts serving", LONG, || (serving(&c).len() == 4).then_some(()));
    let states = group(&c)["instance_states"].clone();
    assert!(states.as_array().unwrap().iter().all(|s| s["standing"] == "current"), "{states:#}");

    let report = load.stop();
    assert_eq!(report.failed(), 0, "requests failed while hosts joined: {report:?}");
    assert!(report.ok > 100, "{report:?}");
}
