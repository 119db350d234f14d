//! Blue/green deployments on a real fleet behind a load balancer: canary
//! and linear traffic shifting under a constant request rate, a revision
//! that never becomes healthy, one that turns unhealthy mid-shift (traffic
//! rolled back), the Ready wait with ContinueDeployment, the test listener,
//! and the termination of the original instances (through ferry's CLI and
//! the real AWS CLI).

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry_testkit::Load;
use serde_json::Value;
use support::*;

const LONG: Duration = Duration::from_secs(180);

fn push(c: &Cluster, version: &str, health: Health) -> String {
    let dir = web_revision(&c.tmp.path().join(version), version, health);
    c.ferry_ok(&["push", "shop", dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string()
}

fn deploy(c: &Cluster, revision: &str, extra: &[&str]) -> String {
    let mut args = vec!["deploy", "shop", "web", "--revision", revision];
    args.extend_from_slice(extra);
    c.ferry_ok(&args).lines().last().unwrap().trim().to_string()
}

fn serving(c: &Cluster) -> Vec<String> {
    let tg: Value = serde_json::from_str(&c.ferry_ok(&["lb", "show", "tg", "--json"])).unwrap();
    let mut names: Vec<String> = tg["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] == "ready" && m["weight"].as_u64() > Some(0))
        .map(|m| m["instance"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn label(view: &Value, instance: &str) -> String {
    let i = view["instances"].as_array().unwrap().iter().find(|i| i["instance"] == instance).unwrap();
    i["label"].as_str().unwrap_or("").to_string()
}

fn create_lb(c: &Cluster, lb: &[&str]) {
    let mut args = vec![
        "lb",
        "create",
        "tg",
        "--port",
        "8080",
        "--health-path",
        "/health",
        "--health-interval-ms",
        "100",
        "--health-timeout-ms",
        "500",
        "--healthy-threshold",
        "2",
        "--unhealthy-threshold",
        "2",
        "--deregistration-delay-ms",
        "3000",
        "--healthy-timeout-ms",
        "5000",
    ];
    args.extend_from_slice(lb);
    c.ferry_ok(&args);
}

/// Two fleets: host1 and host2 (`fleet=a`), host3 and host4 (`fleet=b`).
fn four_hosts() -> Cluster {
    Cluster::start(ClusterOptions {
        hosts: 4,
        tags: |i| vec![("app".into(), "demo".into()), ("fleet".into(), if i < 2 { "a".into() } else { "b".into() })],
        ..Default::default()
    })
}

fn shifts_without_dropping_requests(c: &Cluster, lb: SocketAddr) {
    c.ferry_ok(&[
        "config",
        "create",
        "Canary50",
        "--minimum-healthy-hosts",
        "HOST_COUNT:0",
        "--traffic",
        "canary:50:2s",
    ]);
    c.ferry_ok(&[
        "config",
        "create",
        "Linear50",
        "--minimum-healthy-hosts",
        "HOST_COUNT:0",
        "--traffic",
        "linear:50:8s",
    ]);
    let _ = c.ferry(&["app", "create", "shop"]);
    c.ferry_ok(&[
        "group",
        "create",
        "shop",
        "web",
        "--tag",
        "app=demo",
        "--target-group",
        "tg",
        "--blue-green",
        "--auto-rollback",
    ]);

    // The first deployment: fleet a takes the traffic.
    let v1 = push(c, "v1", Health::Healthy);
    let d1 = deploy(c, &v1, &["--green-tag", "fleet=a", "--config", "CodeDeployDefault.AllAtOnce"]);
    let view = c.wait_done(&d1, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(serving(c), ["host1", "host2"]);

    let load = Load::start(lb, "/", 150, 4);

    // Canary to the other fleet (the group's instances not taking traffic).
    let v2 = push(c, "v2", Health::Healthy);
    let d2 = deploy(c, &v2, &["--config", "Canary50"]);
    wait_for("the canary step", LONG, || {
        let view = c.get(&d2);
        (view["blue_green"]["green_share"] == 50).then_some(())
    });
    assert_eq!(serving(c), ["host1", "host2", "host3", "host4"], "both fleets serve during the canary");
    let view = c.wait_done(&d2, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(view["blue_green"]["green_share"], 100);
    assert_eq!((label(&view, "host3"), label(&view, "host1")), ("Green".into(), "Blue".into()));
    assert_eq!(serving(c), ["host3", "host4"]);

    // A revision that never turns healthy: traffic never leaves fleet b.
    let broken = push(c, "v3-broken", Health::Sick);
    let d3 = deploy(c, &broken, &["--config", "Canary50"]);
    let view = c.wait_done(&d3, LONG);
    assert_eq!(view["status"], "Failed", "{view:#}");
    assert_eq!(view["error"]["code"], "CUSTOMER_APPLICATION_UNHEALTHY");
    assert!(view["rollback_deployment_id"].is_null(), "nothing to roll back: {view:#}");
    assert_eq!(serving(c), ["host3", "host4"]);

    // A revision that turns unhealthy after half the traffic moved: the
    // weights go back, and the rollback formally returns traffic to fleet b.
    // (Sick 4 s after it starts: the first shift comes well before on a
    // loaded machine, the second 8 s after the first, well after.)
    let flaky = push(c, "v4-flaky", Health::SickAfter(4));
    let d4 = deploy(c, &flaky, &["--config", "Linear50"]);
    let view = c.wait_done(&d4, LONG);
    assert_eq!(view["status"], "Failed", "{view:#}");
    let rollback = view["rollback_deployment_id"].as_str().expect("traffic had moved: a rollback").to_string();
    let rolled = c.wait_done(&rollback, LONG);
    assert_eq!(rolled["status"], "Succeeded", "{rolled:#}");
    assert_eq!(rolled["blue_green"]["traffic_only"], true);
    assert_eq!(serving(c), ["host3", "host4"]);

    let report = load.stop();
    assert_eq!(report.failed(), 0, "requests failed during blue/green deployments: {report:?}");
    assert!(report.bodies.contains_key("v1") && report.bodies.contains_key("v2"), "{report:?}");
    assert!(!report.bodies.contains_key("v3-broken"), "the broken revision got traffic: {report:?}");
}

#[test]
fn blue_green_shifts_behind_the_builtin_proxy_drop_no_request() {
    if !fleet_supported() {
        return;
    }
    let c = four_hosts();
    let lb = SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    create_lb(&c, &["--listen", &lb.to_string()]);
    shifts_without_dropping_requests(&c, lb);
}

struct HaProxy {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn blue_green_shifts_behind_haproxy_drop_no_request() {
    if !fleet_supported() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = ferry_testkit::free_port();
    let socket = dir.path().join("admin.sock");
    let backend = Command::new(FERRY)
        .args(["lb", "haproxy-config", "app", "--health-path", "/health", "--health-timeout-ms", "500"])
        .output()
        .unwrap();
    let config = format!(
        "global\n    stats socket {} mode 600 level admin\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    retries 3\n    option redispatch\n\nfrontend web\n    bind 127.0.0.1:{port}\n    default_backend app\n\n{}",
        socket.display(),
        String::from_utf8(backend.stdout).unwrap()
    );
    std::fs::write(dir.path().join("haproxy.cfg"), config).unwrap();
    let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(dir.path().join("haproxy.cfg"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("haproxy (apt-get install haproxy)");
    let _haproxy = HaProxy { child, _dir: dir };
    wait_for("haproxy's runtime socket", Duration::from_secs(10), || socket.exists().then_some(()));
    let c = four_hosts();
    let socket_arg = socket.display().to_string();
    create_lb(&c, &["--haproxy-socket", &socket_arg, "--haproxy-backend", "app"]);
    shifts_without_dropping_requests(&c, SocketAddr::from(([127, 0, 0, 1], port)));
}

#[test]
fn ready_wait_test_listener_continue_and_termination() {
    if !fleet_supported() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let terminated = tmp.path().join("terminated");
    let command = format!("echo \"$FERRY_INSTANCE $FERRY_DEPLOYMENT_ID\" >> {}", terminated.display());
    let c = Cluster::start(ClusterOptions {
        hosts: 2,
        tags: |i| vec![("app".into(), "demo".into()), ("fleet".into(), if i == 0 { "a".into() } else { "b".into() })],
        server_args: vec!["--terminate-command".into(), command],
        ..Default::default()
    });
    let prod = SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    let test = SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    create_lb(&c, &["--listen", &prod.to_string(), "--test-listen", &test.to_string()]);
    let _ = c.ferry(&["app", "create", "shop"]);
    c.ferry_ok(&[
        "group",
        "create",
        "shop",
        "web",
        "--tag",
        "app=demo",
        "--target-group",
        "tg",
        "--blue-green",
        "--ready-wait",
        "10m",
        "--terminate-after",
        "10m",
    ]);
    let get_body = |addr: SocketAddr| -> Option<String> {
        let load = Load::start(addr, "/", 20, 1);
        std::thread::sleep(Duration::from_millis(300));
        let report = load.stop();
        report.bodies.keys().next().cloned().filter(|_| report.failed() == 0)
    };

    let v1 = push(&c, "v1", Health::Healthy);
    let d1 = deploy(&c, &v1, &["--green-tag", "fleet=a", "--config", "CodeDeployDefault.AllAtOnce"]);
    wait_for("the Ready state", LONG, || (c.get(&d1)["status"] == "Ready").then_some(()));
    wait_for("host1 behind the test listener", LONG, || (get_body(test).as_deref() == Some("v1")).then_some(()));
    c.ferry_ok(&["continue", &d1]);
    wait_for("the termination wait", LONG, || (c.get(&d1)["blue_green"]["phase"] == "TerminationWait").then_some(()));
    c.ferry_ok(&["continue", &d1, "--termination"]);
    assert_eq!(c.wait_done(&d1, LONG)["status"], "Succeeded");
    assert_eq!(serving(&c), ["host1"]);

    // The second deployment through the AWS CLI: the Ready wait, the
    // labels, ContinueDeployment and the deprecated SkipWait… operation.
    let v2 = push(&c, "v2", Health::Healthy);
    let revision = format!("revisionType=S3,s3Location={{bucket=FerryServer,key={v2},bundleType=zip}}");
    let created = c.aws_ok(&[
        "create-deployment",
        "--application-name",
        "shop",
        "--deployment-group-name",
        "web",
        "--revision",
        &revision,
    ]);
    let d2 = created["deploymentId"].as_str().unwrap().to_string();
    let info = |c: &Cluster| c.aws_ok(&["get-deployment", "--deployment-id", &d2])["deploymentInfo"].clone();
    wait_for("the Ready state", LONG, || (info(&c)["status"] == "Ready").then_some(()));
    let shown = info(&c);
    assert_eq!(shown["deploymentStyle"]["deploymentType"], "BLUE_GREEN", "{shown:#}");
    assert_eq!(
        shown["blueGreenDeploymentConfiguration"]["deploymentReadyOption"]["actionOnTimeout"],
        "STOP_DEPLOYMENT"
    );
    assert_eq!(shown["instanceTerminationWaitTimeStarted"], false);
    let labelled = |label: &str| {
        let filter = format!("ServerInstanceLabel={label}");
        c.aws_ok(&["list-deployment-targets", "--deployment-id", &d2, "--target-filters", &filter])["targetIds"].clone()
    };
    assert_eq!(labelled("Green"), serde_json::json!(["host2"]));
    assert_eq!(labelled("Blue"), serde_json::json!(["host1"]));
    // Before production traffic moves: the test listener reaches the green only.
    wait_for("host2 behind the test listener", LONG, || (get_body(test).as_deref() == Some("v2")).then_some(()));
    assert_eq!(get_body(prod).as_deref(), Some("v1"));
    let refused = c.aws(&["continue-deployment", "--deployment-id", &d2, "--deployment-wait-type", "TERMINATION_WAIT"]);
    let refused = refused.unwrap_err();
    assert!(refused.contains("DeploymentIsNotInReadyStateException"), "not waiting for termination yet: {refused}");
    c.aws_ok(&["continue-deployment", "--deployment-id", &d2, "--deployment-wait-type", "READY_WAIT"]);
    wait_for("the termination wait", LONG, || (info(&c)["instanceTerminationWaitTimeStarted"] == true).then_some(()));
    assert_eq!(info(&c)["status"], "InProgress", "the termination wait is part of the deployment");
    assert_eq!(get_body(prod).as_deref(), Some("v2"));
    assert!(!terminated.exists(), "nothing terminated before the wait ends");
    c.aws_ok(&["skip-wait-time-for-instance-termination", "--deployment-id", &d2]);
    let view = c.wait_done(&d2, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let log = std::fs::read_to_string(&terminated).unwrap();
    assert_eq!(log.trim(), format!("host1 {d2}"));
    let instances: Value = serde_json::from_str(&c.ferry_ok(&["instances", "--json"])).unwrap();
    let names: Vec<&str> = instances.as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["host2"], "the terminated original is deregistered");
    assert_eq!(serving(&c), ["host2"]);
    let refused = c.aws(&["continue-deployment", "--deployment-id", &d2]);
    assert!(refused.unwrap_err().contains("DeploymentAlreadyCompletedException"));
}

/// Issue 22.1: without `--terminate-command`, "terminating" the originals
/// (the README's group: `--ready-wait 1h --terminate-after 30m`, then
/// `ferry continue --termination`) only takes them out of that deployment
/// group. They stay registered, in other applications' groups, with their
/// agent keys; each removal is an event; later deployments of the group do
/// not target them.
#[test]
fn termination_without_a_terminate_command_only_leaves_the_group() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions {
        hosts: 2,
        tags: |i| vec![("app".into(), "demo".into()), ("fleet".into(), if i == 0 { "a".into() } else { "b".into() })],
        ..Default::default()
    });
    let prod = SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    create_lb(&c, &["--listen", &prod.to_string()]);
    let _ = c.ferry(&["app", "create", "shop"]);
    c.ferry_ok(&[
        "group",
        "create",
        "shop",
        "web",
        "--tag",
        "app=demo",
        "--target-group",
        "tg",
        "--blue-green",
        "--ready-wait",
        "1h",
        "--terminate-after",
        "30m",
    ]);
    // Another application whose group selects both hosts by the same tag.
    let _ = c.ferry(&["app", "create", "other"]);
    c.ferry_ok(&["group", "create", "other", "all", "--tag", "app=demo"]);

    let release = |version: &str, extra: &[&str]| {
        let d = deploy(&c, &push(&c, version, Health::Healthy), extra);
        wait_for("the Ready state", LONG, || (c.get(&d)["status"] == "Ready").then_some(()));
        c.ferry_ok(&["continue", &d]);
        wait_for("the termination wait", LONG, || {
            let view = c.get(&d);
            (view["blue_green"]["phase"] == "TerminationWait" || view["status"] != "InProgress").then_some(())
        });
        if c.get(&d)["status"] == "InProgress" {
            c.ferry_ok(&["continue", &d, "--termination"]);
        }
        let view = c.wait_done(&d, LONG);
        assert_eq!(view["status"], "Succeeded", "{view:#}");
        (d, view)
    };
    release("v1", &["--green-tag", "fleet=a", "--config", "CodeDeployDefault.AllAtOnce"]);
    assert_eq!(serving(&c), ["host1"]);
    let (d2, view) = release("v2", &["--config", "CodeDeployDefault.AllAtOnce"]);
    assert_eq!(serving(&c), ["host2"]);
    assert_eq!(label(&view, "host1"), "Blue");

    // host1 is still registered and online: nothing was terminated or revoked.
    let instances: Value = serde_json::from_str(&c.ferry_ok(&["instances", "--json"])).unwrap();
    let names: Vec<&str> = instances.as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["host1", "host2"], "{instances:#}");
    // It left shop/web only.
    let groups = |app: &str| -> Value { serde_json::from_str(&c.ferry_ok(&["group", "list", app, "--json"])).unwrap() };
    assert_eq!(groups("shop")[0]["instances"], serde_json::json!(["host2"]));
    assert_eq!(groups("other")[0]["instances"], serde_json::json!(["host1", "host2"]));
    // The removal is in the event stream (and so the console's timeline).
    let events = c.ferry_ok(&["events", "--deployment", &d2, "--json"]);
    let removed: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == "InstanceRemoved")
        .collect();
    assert_eq!(removed.len(), 1, "{events}");
    assert_eq!(removed[0]["instance"], "host1");
    assert!(!events.contains("InstanceTerminated"), "{events}");
    let retired = &view["blue_green"]["retired"];
    assert_eq!(retired.as_array().map(Vec::len), Some(1), "{view:#}");
    assert_eq!((&retired[0]["instance"], &retired[0]["terminated"]), (&"host1".into(), &false.into()), "{view:#}");
    let shown = c.ferry_ok(&["get", &d2]);
    assert!(shown.contains("host1") && shown.contains("left the group"), "{shown}");

    // Its agent (and key) still work: the other application deploys to both.
    let dir = revision(&c.tmp.path().join("other-v1"), "other-v1", 0, None);
    let other_revision =
        c.ferry_ok(&["push", "other", dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string();
    let d = c
        .ferry_ok(&["deploy", "other", "all", "--revision", &other_revision])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let view = c.wait_done(&d, LONG);
    assert_eq!(view["status"], "Succeeded", "host1's agent must still deploy: {view:#}");
    assert_eq!(view["instances"].as_array().unwrap().len(), 2, "{view:#}");

    // Later deployments of shop/web do not target host1: host2 serves, and
    // no replacement is left.
    let d3 = deploy(&c, &push(&c, "v3", Health::Healthy), &["--config", "CodeDeployDefault.AllAtOnce"]);
    let view = c.wait_done(&d3, LONG);
    let targets: Vec<&str> =
        view["instances"].as_array().unwrap().iter().map(|i| i["instance"].as_str().unwrap()).collect();
    assert!(!targets.contains(&"host1"), "host1 left shop/web: {view:#}");
    assert_eq!(serving(&c), ["host2"]);
}
