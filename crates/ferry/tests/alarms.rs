//! Alarm-driven stops and rollbacks with a real Prometheus scraping the
//! deployed app: a revision that raises the error rate is stopped by the
//! alarm (ALARM_ACTIVE) and rolled back; an alarm that cannot be evaluated
//! stops a deployment unless the group says to ignore that.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::*;

const LONG: Duration = Duration::from_secs(120);

struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    support::http_get(addr, path, &[])
}

/// A real Prometheus scraping `targets` every second.
fn start_prometheus(dir: &std::path::Path, targets: &[String]) -> Prometheus {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    \
         scrape_timeout: 900ms\n    static_configs:\n      - targets: [{}]\n",
        list.join(", ")
    );
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus (Debian package prometheus) must be installed");
    let p = Prometheus { child, port };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for("Prometheus to be ready", Duration::from_secs(30), || {
        http_get(addr, "/-/ready").filter(|(status, _)| *status == 200).map(|_| ())
    });
    p
}

fn push(c: &Cluster, name: &str, error_ratio: f64) -> String {
    let dir = web_revision_with_errors(&c.tmp.path().join(name), name, Health::Healthy, error_ratio);
    c.ferry_ok(&["push", "shop", dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string()
}

fn deploy(c: &Cluster, group: &str, revision: &str) -> String {
    // Several groups deploy the same app to the same hosts here.
    c.ferry_ok(&[
        "deploy",
        "shop",
        group,
        "--revision",
        revision,
        "--config",
        "CodeDeployDefault.AllAtOnce",
        "--file-exists-behavior",
        "OVERWRITE",
    ])
    .lines()
    .last()
    .unwrap()
    .trim()
    .to_string()
}

/// What every host's app answers on `/`.
fn serving(c: &Cluster) -> Vec<String> {
    c.fleet
        .hosts()
        .iter()
        .map(|h| {
            http_get(SocketAddr::from((h.address, 8080)), "/").map(|(_, b)| b.trim().to_string()).unwrap_or_default()
        })
        .collect()
}

#[test]
fn a_rising_error_rate_stops_the_deployment_and_rolls_it_back() {
    if !fleet_supported() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Prometheus must know the hosts' addresses before the server starts:
    // start the cluster with a placeholder, then Prometheus, then point
    // the server at it.
    let mut c = Cluster::start(ClusterOptions { hosts: 2, ..Default::default() });
    let targets: Vec<String> = c.fleet.hosts().iter().map(|h| format!("{}:8080", h.address)).collect();
    let prometheus = start_prometheus(&tmp.path().join("prometheus"), &targets);
    c.stop_server();
    c.server_args.extend([
        "--prometheus-url".to_string(),
        format!("http://127.0.0.1:{}", prometheus.port),
        "--alarm-interval".into(),
        "300ms".into(),
    ]);
    c.start_server();
    c.wait_enrolled(2);

    c.ferry_ok(&["app", "create", "shop"]);
    c.ferry_ok(&["alarm", "create", "errors", "--expr", "max(app_error_ratio) > 0.1"]);
    let missing = c.ferry(&["group", "create", "shop", "x", "--tag", "app=demo", "--alarm", "nope"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("alarm nope does not exist"));
    let made = c.ferry_ok(&[
        "group",
        "create",
        "shop",
        "web",
        "--tag",
        "app=demo",
        "--alarm",
        "errors",
        "--rollback-on-alarm",
        "--bake-time",
        "8s",
    ]);
    assert!(made.contains("alarms         errors, bake 8.0 s"), "{made}");

    // A good revision bakes under the alarm, then succeeds.
    let good = push(&c, "v1", 0.0);
    let d1 = deploy(&c, "web", &good);
    wait_for("the bake", LONG, || (c.get(&d1)["status"] == "Baking").then_some(()));
    let view = c.wait_done(&d1, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(serving(&c), ["v1", "v1"]);
    wait_for("Prometheus to scrape v1", LONG, || {
        let state = c.ferry_ok(&["alarm", "state", "errors"]);
        state.contains("OK").then_some(())
    });

    // A revision whose error rate is high: the alarm stops it, and the
    // rollback puts v1 back.
    let bad = push(&c, "v2", 0.5);
    let d2 = deploy(&c, "web", &bad);
    let view = c.wait_done(&d2, LONG);
    assert_eq!(view["status"], "Stopped", "{view:#}");
    assert_eq!(view["error"]["code"], "ALARM_ACTIVE", "{view:#}");
    let message = view["error"]["message"].as_str().unwrap();
    assert!(message.ends_with("Activated alarms: errors"), "{message}");
    let rollback = view["rollback_deployment_id"].as_str().expect("rolled back on the alarm").to_string();
    let rolled = c.wait_done(&rollback, LONG);
    assert_eq!(rolled["status"], "Succeeded", "{rolled:#}");
    assert_eq!(serving(&c), ["v1", "v1"]);

    // The timeline in the event stream: started, stopped by the alarm, rolled back.
    let text = c.ferry_ok(&["events", "--deployment", &d2, "--json"]);
    let events: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> =
        events.iter().map(|e| e["kind"].as_str().unwrap()).filter(|k| k.starts_with("Deployment")).collect();
    assert_eq!(kinds.first(), Some(&"DeploymentCreated"));
    assert_eq!(kinds[kinds.len() - 2..], ["DeploymentStop", "DeploymentRollback"], "{kinds:?}");
    let stop = events.iter().find(|e| e["kind"] == "DeploymentStop").unwrap();
    assert!(stop["message"].as_str().unwrap().contains("Activated alarms: errors"), "{stop}");

    // ...and in the console, on the deployment's page.
    let page = c.console_page(&format!("/console/deployments/{d2}"));
    let timeline = &page[page.find("id=\"timeline\"").expect("a timeline on the page")..];
    assert!(timeline.contains("data-kind=\"DeploymentStop\""), "{timeline}");
    assert!(timeline.contains("Activated alarms: errors"), "{timeline}");
    assert!(timeline.contains("data-kind=\"DeploymentRollback\""), "{timeline}");

    // An alarm that cannot be evaluated stops a deployment: here the
    // group's own Prometheus (which wins over the server's) is not there...
    c.ferry_ok(&["alarm", "create", "quiet", "--expr", "max(app_error_ratio) > 100"]);
    let nowhere = "http://127.0.0.1:9";
    let strict = ["--alarm", "quiet", "--prometheus", nowhere, "--bake-time", "3s"];
    let mut args = vec!["group", "create", "shop", "strict", "--tag", "app=demo"];
    args.extend(strict);
    c.ferry_ok(&args);
    let d3 = deploy(&c, "strict", &good);
    let view = c.wait_done(&d3, LONG);
    assert_eq!(view["status"], "Stopped", "{view:#}");
    let message = view["error"]["message"].as_str().unwrap();
    assert!(message.contains("could not be evaluated") && message.contains(nowhere), "{view:#}");
    // ...unless the group ignores poll failures.
    let mut args = vec!["group", "create", "shop", "lenient", "--tag", "app=demo", "--ignore-poll-alarm-failure"];
    args.extend(strict);
    c.ferry_ok(&args);
    let d4 = deploy(&c, "lenient", &good);
    let view = c.wait_done(&d4, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
}
