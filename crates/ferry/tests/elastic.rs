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

/// A server and a `ferry fleet run --spare N` (the local provider's
/// hosts), started as an operator would, and the CLI against them.
struct Elastic {
    tmp: tempfile::TempDir,
    server: std::process::Child,
    fleet: std::process::Child,
    url: String,
}

impl Drop for Elastic {
    fn drop(&mut self) {
        // The fleet first: it stops its agents and removes its namespaces.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.fleet.id() as i32), nix::sys::signal::SIGTERM);
        let _ = self.fleet.wait();
        let _ = self.server.kill();
        let _ = self.server.wait();
        if std::thread::panicking() {
            for log in ["server.log", "fleet.log"] {
                eprintln!("==== {log}\n{}", std::fs::read_to_string(self.tmp.path().join(log)).unwrap_or_default());
            }
        }
    }
}

impl Elastic {
    fn start(spare: usize) -> Elastic {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let fleet_dir = tmp.path().join("fleet");
        let port = ferry_testkit::free_port();
        let log = |name: &str| std::fs::File::create(tmp.path().join(name)).unwrap();
        let fleet = std::process::Command::new(FERRY)
            .args(["fleet", "run", "--hosts", "0", "--spare", &spare.to_string(), "--server-port", &port.to_string()])
            .arg("--dir")
            .arg(&fleet_dir)
            .arg("--join-token-file")
            .arg(data.join("join-token"))
            .stdout(log("fleet.log"))
            .stderr(log("fleet.log"))
            .spawn()
            .unwrap();
        let gateway = wait_for("the fleet's gateway", Duration::from_secs(30), || {
            std::fs::read_to_string(fleet_dir.join("gateway"))
                .ok()
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
        });
        let server = std::process::Command::new(FERRY)
            .args(["server", "--listen", &format!("127.0.0.1:{port},{gateway}:{port}")])
            .args(["--poll-hold-seconds", "2", "--agent-lost-after-seconds", "3"])
            .arg("--data-dir")
            .arg(&data)
            .env("RUST_LOG", "info")
            .stdout(log("server.log"))
            .stderr(log("server.log"))
            .spawn()
            .unwrap();
        let e = Elastic { tmp, server, fleet, url: format!("https://127.0.0.1:{port}") };
        wait_for("the server", Duration::from_secs(30), || {
            let log = std::fs::read_to_string(e.tmp.path().join("server.log")).unwrap_or_default();
            (log.contains("listening") && data.join("credentials").exists()).then_some(())
        });
        wait_for("the fleet's control directory", Duration::from_secs(30), || {
            fleet_dir.join("control/pid").exists().then_some(())
        });
        e
    }

    fn fleet_dir(&self) -> String {
        self.tmp.path().join("fleet").display().to_string()
    }

    fn ferry(&self, args: &[&str]) -> std::process::Output {
        let data = self.tmp.path().join("data");
        std::process::Command::new(FERRY)
            .args(args)
            .env("FERRY_SERVER", &self.url)
            .env("FERRY_CA_FILE", data.join("tls/ca.pem"))
            .env("AWS_ACCESS_KEY_ID", "")
            .env("AWS_SECRET_ACCESS_KEY", "")
            .arg("--credentials")
            .arg(data.join("credentials"))
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.ferry(args);
        assert!(out.status.success(), "ferry {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn scaling(&self, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["scaling-group", "show", name, "--json"])).unwrap()
    }

    /// The hosts of a scaling group in service, by name.
    fn in_service(&self, name: &str) -> Vec<String> {
        let g = self.scaling(name);
        let mut hosts: Vec<String> = g["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["state"] == "in service")
            .map(|h| h["name"].as_str().unwrap().to_string())
            .collect();
        hosts.sort();
        hosts
    }

    fn standing(&self) -> Vec<(String, String)> {
        let g: Value = serde_json::from_str(&self.ok(&["group", "show", "shop", "web", "--json"])).unwrap();
        g["instance_states"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["instance"].as_str().unwrap().to_string(), s["standing"].as_str().unwrap().to_string()))
            .collect()
    }

    /// The ScalingActivity events: (host, status).
    fn activity(&self) -> Vec<(String, String)> {
        self.ok(&["events", "--json"])
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["kind"] == "ScalingActivity")
            .map(|e| (e["instance"].as_str().unwrap_or("").to_string(), e["status"].as_str().unwrap().to_string()))
            .collect()
    }
}

#[test]
fn a_scaling_group_keeps_its_capacity_with_hosts_that_get_the_groups_revision() {
    if !fleet_supported() {
        return;
    }
    let e = Elastic::start(4);
    // Bad capacities are refused before anything is made.
    let fleet_dir = e.fleet_dir();
    let create = |desired: &str, min: &str, max: &str| {
        e.ferry(&[
            "scaling-group",
            "create",
            "web",
            "--provider",
            "local",
            "--fleet-dir",
            &fleet_dir,
            "--min",
            min,
            "--desired",
            desired,
            "--max",
            max,
            "--tag",
            "app=shop",
            "--launch-timeout",
            "60s",
            "--replace-after",
            "6s",
        ])
    };
    let refused = create("5", "1", "3");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("between the minimum (1) and the maximum (3)"));
    assert!(create("2", "1", "3").status.success());
    wait_for("two hosts in service", LONG, || (e.in_service("web") == ["web-1", "web-2"]).then_some(()));
    // They enrolled with the group's tags and its own (what autoScalingGroups selects by).
    let instances: Value = serde_json::from_str(&e.ok(&["instances", "--json"])).unwrap();
    let web1 = instances.as_array().unwrap().iter().find(|i| i["name"] == "web-1").expect("web-1 registered");
    let tags = web1["tags"].to_string();
    assert!(tags.contains("\"app\"") && tags.contains("ferry-scaling-group"), "{web1:#}");

    // The app is deployed to them.
    e.ok(&["app", "create", "shop"]);
    e.ok(&[
        "group",
        "create",
        "shop",
        "web",
        "--tag",
        "app=shop",
        "--config",
        "CodeDeployDefault.AllAtOnce",
        "--termination-hooks",
    ]);
    let dir = revision(&e.tmp.path().join("v1"), "v1", 0, None);
    let v1 = e.ok(&["push", "shop", dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string();
    let d1 = e.ok(&["deploy", "shop", "web", "--revision", &v1, "--wait"]);
    assert!(d1.contains("Succeeded"), "{d1}");

    // Scale out: web-3 is launched, enrols, and gets v1 by itself.
    e.ok(&["scaling-group", "set-capacity", "web", "3"]);
    wait_for("web-3 up to date", LONG, || {
        e.standing().contains(&("web-3".to_string(), "current".to_string())).then_some(())
    });
    wait_for("web-3 in service", LONG, || (e.in_service("web") == ["web-1", "web-2", "web-3"]).then_some(()));
    let over = e.ferry(&["scaling-group", "set-capacity", "web", "4"]);
    assert!(String::from_utf8_lossy(&over.stderr).contains("between the minimum (1) and the maximum (3)"));

    // Scale in: the newest go, deregistered (they leave the deployment group).
    e.ok(&["scaling-group", "set-capacity", "web", "1"]);
    wait_for("one host left", LONG, || (e.scaling("web")["hosts"].as_array().unwrap().len() == 1).then_some(()));
    assert_eq!(e.in_service("web"), ["web-1"]);
    wait_for("the group forgets them", LONG, || (e.standing().len() == 1).then_some(()));
    let activity = e.activity();
    for host in ["web-2", "web-3"] {
        assert!(activity.contains(&(host.to_string(), "Terminated".to_string())), "{activity:?}");
    }
    assert!(!activity.contains(&("web-1".to_string(), "Terminating".to_string())));
    // Each ran its termination hook first: ApplicationStop of v1, by a
    // termination deployment that ended before the host was terminated.
    let list: Vec<Value> = serde_json::from_str(&e.ok(&["list", "--json"])).unwrap();
    let terminations: Vec<&Value> = list.iter().filter(|d| d["creator"] == "autoscalingTermination").collect();
    assert_eq!(terminations.len(), 2, "{list:#?}");
    let events: Vec<Value> =
        e.ok(&["events", "--json"]).lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect();
    for t in terminations {
        let view: Value = serde_json::from_str(&e.ok(&["get", t["id"].as_str().unwrap(), "--json"])).unwrap();
        assert_eq!(view["status"], "Succeeded", "{view:#}");
        assert_eq!(view["revision_id"], v1.as_str());
        let host = &view["instances"][0];
        let names: Vec<&str> = host["events"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["ApplicationStop"], "{view:#}");
        assert_eq!(host["events"][0]["status"], "Succeeded", "{view:#}");
        let terminated = events
            .iter()
            .find(|ev| {
                ev["kind"] == "ScalingActivity" && ev["instance"] == host["instance"] && ev["status"] == "Terminated"
            })
            .expect("terminated");
        assert!(terminated["time"].as_u64() >= view["complete_time"].as_u64(), "hooks first: {terminated:#} {view:#}");
        assert!(terminated["message"].as_str().unwrap().contains("termination hooks ran"), "{terminated:#}");
    }

    // A lost host (its agent stopped: silent) is replaced, and its
    // replacement gets v1 before anything else happens to it.
    let pgrep = std::process::Command::new("pgrep").args(["-f", "agent .*--name web-1"]).output().unwrap();
    let pid: i32 =
        String::from_utf8_lossy(&pgrep.stdout).lines().next().expect("web-1's agent").trim().parse().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGSTOP).unwrap();
    wait_for("web-1 replaced", LONG, || (e.in_service("web") == ["web-4"]).then_some(()));
    wait_for("web-4 up to date", LONG, || {
        (e.standing() == [("web-4".to_string(), "current".to_string())]).then_some(())
    });
    let terminated = e.activity().into_iter().any(|(h, s)| h == "web-1" && s == "Terminated");
    assert!(terminated, "{:?}", e.activity());

    // A launch command that fails: the host is cleaned up, launches back off.
    e.ok(&[
        "scaling-group",
        "create",
        "bad",
        "--provider",
        "command",
        "--launch-command",
        "echo no capacity; exit 3",
        "--terminate-command",
        "true",
        "--desired",
        "1",
        "--max",
        "1",
        "--tag",
        "app=bad",
    ]);
    let bad = wait_for("a failed launch", LONG, || {
        let g = e.scaling("bad");
        (g["launch_failures"].as_u64() >= Some(1) && g["hosts"].as_array().unwrap().is_empty()).then_some(g)
    });
    assert!(bad["launch_after"].is_u64(), "{bad:#}");
    let failed = e.ok(&["events", "--json"]);
    assert!(failed.contains("LaunchFailed") && failed.contains("no capacity"), "{failed}");

    // Deleting a group terminates its hosts, then it goes.
    e.ok(&["scaling-group", "delete", "web"]);
    wait_for("the group gone", LONG, || (!e.ferry(&["scaling-group", "show", "web"]).status.success()).then_some(()));
}
