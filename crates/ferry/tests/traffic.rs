//! Zero-downtime in-place deployments behind a load balancer: a real ferry
//! server and agents in a local fleet, an HTTP app deployed to them, and a
//! constant request rate through the load balancer (ferry's built-in proxy,
//! or a real HAProxy driven through its runtime API) while deployments run
//! back to back, a broken one among them.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry_testkit::Load;
use serde_json::Value;
use support::*;

const LONG: Duration = Duration::from_secs(180);

fn push(c: &Cluster, dir: &Path) -> String {
    c.ferry_ok(&["push", "shop", dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string()
}

fn deploy(c: &Cluster, revision: &str, config: &str) -> String {
    c.ferry_ok(&["deploy", "shop", "web", "--revision", revision, "--config", config])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

fn target_group(c: &Cluster) -> Value {
    serde_json::from_str(&c.ferry_ok(&["lb", "show", "tg", "--json"])).unwrap()
}

fn all_serving(c: &Cluster, n: usize) {
    wait_for("every host ready and healthy in the target group", LONG, || {
        let tg = target_group(c);
        let members = tg["members"].as_array()?;
        (members.iter().filter(|m| m["state"] == "ready" && m["health"] == "healthy").count() == n).then_some(())
    });
}

fn event<'a>(instance: &'a Value, name: &str) -> &'a Value {
    instance["events"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap()
}

/// For every instance that ran: it left traffic before its app was
/// stopped and came back only after it was started.
fn assert_traffic_order(view: &Value) {
    for i in view["instances"].as_array().unwrap() {
        let block = event(i, "BlockTraffic");
        let stop = event(i, "ApplicationStop");
        let start = event(i, "ApplicationStart");
        let allow = event(i, "AllowTraffic");
        if allow["status"] != "Succeeded" {
            continue;
        }
        assert!(block["end_time"].as_u64() <= stop["start_time"].as_u64(), "blocked before stopping: {i:#}");
        assert!(allow["start_time"].as_u64() >= start["end_time"].as_u64(), "allowed after starting: {i:#}");
    }
}

fn scenario(c: &Cluster, lb: SocketAddr) {
    let _ = c.ferry(&["app", "create", "shop"]);
    c.ferry_ok(&["group", "create", "shop", "web", "--tag", "app=demo", "--target-group", "tg", "--auto-rollback"]);
    let v1 = push(c, &web_revision(&c.tmp.path().join("v1"), "v1", Health::Healthy));
    let first = deploy(c, &v1, "CodeDeployDefault.OneAtATime");
    let view = c.wait_done(&first, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    all_serving(c, 3);

    let load = Load::start(lb, "/", 200, 4);
    let v2 = push(c, &web_revision(&c.tmp.path().join("v2"), "v2", Health::Healthy));
    let d2 = deploy(c, &v2, "CodeDeployDefault.OneAtATime");
    let view = c.wait_done(&d2, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_traffic_order(&view);

    // A request in flight when its instance drains finishes; the drain waits for it.
    let slow = std::thread::spawn(move || {
        let mut slow = Load::start(lb, "/slow", 3, 3);
        std::thread::sleep(Duration::from_millis(2500));
        std::mem::replace(&mut slow, Load::start(lb, "/", 1, 1)).stop()
    });
    let v3 = push(c, &web_revision(&c.tmp.path().join("v3"), "v3", Health::Healthy));
    let d3 = deploy(c, &v3, "CodeDeployDefault.HalfAtATime");
    let view = c.wait_done(&d3, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_traffic_order(&view);
    let slow_report = slow.join().unwrap();
    assert_eq!(slow_report.failed(), 0, "slow requests across a drain: {slow_report:?}");

    // A revision whose app never turns healthy: AllowTraffic fails it, the
    // deployment fails and rolls back, and no request sees it.
    let bad = push(c, &web_revision(&c.tmp.path().join("v4"), "v4-broken", Health::Sick));
    let d4 = deploy(c, &bad, "CodeDeployDefault.OneAtATime");
    let view = c.wait_done(&d4, LONG);
    assert_eq!(view["status"], "Failed", "{view:#}");
    let failed =
        view["instances"].as_array().unwrap().iter().find(|i| i["status"] == "Failed").expect("a failed instance");
    let allow = event(failed, "AllowTraffic");
    assert_eq!(allow["status"], "Failed");
    assert!(allow["diagnostics"]["message"].as_str().unwrap().contains("did not become healthy"), "{allow:#}");
    let rollback = view["rollback_deployment_id"].as_str().expect("rolled back").to_string();
    let rolled = c.wait_done(&rollback, LONG);
    assert_eq!(rolled["status"], "Succeeded", "{rolled:#}");
    all_serving(c, 3);

    let report = load.stop();
    assert_eq!(report.failed(), 0, "requests failed during deployments: {report:?}");
    assert!(report.ok > 500, "{report:?}");
    assert!(!report.bodies.contains_key("v4-broken"), "the broken revision got traffic: {report:?}");
    assert!(report.bodies.contains_key("v3"), "{report:?}");
    let tg = target_group(c);
    assert!(
        tg["members"].as_array().unwrap().iter().all(|m| m["weight"] == 1 && m["traffic_percent"].as_u64() >= Some(33))
    );

    // The metrics show the load balancer's members and what they served.
    let text = c.metrics();
    for host in ["host1", "host2", "host3"] {
        let labels = format!("{{target_group=\"tg\",member=\"{host}\"}}");
        assert_eq!(metric(&text, &format!("ferry_lb_member_healthy{labels}")), Some(1.0), "{text}");
        assert!(metric(&text, &format!("ferry_lb_requests_total{labels}")) > Some(0.0), "{text}");
    }

    // `ferry get` shows the traffic.
    let text = c.ferry_ok(&["get", &rollback]);
    assert!(text.contains("target group tg (traffic now)"), "{text}");
}

fn lb_args<'a>(listen: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
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
        "4000",
        "--healthy-timeout-ms",
        "6000",
    ];
    if !listen.is_empty() {
        args.extend(["--listen", listen]);
    }
    args.extend_from_slice(extra);
    args
}

#[test]
fn in_place_deployments_behind_the_builtin_proxy_drop_no_request() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions::default());
    let lb = SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    let listen = lb.to_string();
    c.ferry_ok(&lb_args(&listen, &[]));
    scenario(&c, lb);
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

/// A real HAProxy with one frontend on `port` and the backend `app`,
/// driven through the runtime API at `socket`.
fn start_haproxy() -> (HaProxy, String, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = ferry_testkit::free_port();
    let socket = dir.path().join("admin.sock");
    let backend = c_backend_config();
    let config = format!(
        "global\n    stats socket {} mode 600 level admin\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    retries 3\n    option redispatch\n\nfrontend web\n    bind 127.0.0.1:{port}\n    default_backend app\n\n{backend}",
        socket.display()
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
    let haproxy = HaProxy { child, _dir: dir };
    wait_for("haproxy's runtime socket", Duration::from_secs(10), || socket.exists().then_some(()));
    (haproxy, socket.display().to_string(), port)
}

#[test]
fn in_place_deployments_behind_haproxy_drop_no_request() {
    if !fleet_supported() {
        return;
    }
    let (_haproxy, socket, port) = start_haproxy();
    let c = Cluster::start(ClusterOptions::default());
    c.ferry_ok(&lb_args("", &["--haproxy-socket", &socket, "--haproxy-backend", "app"]));
    scenario(&c, SocketAddr::from(([127, 0, 0, 1], port)));
}

/// The backend section `ferry lb haproxy-config` prints, with short checks.
fn c_backend_config() -> String {
    let out = Command::new(FERRY)
        .args(["lb", "haproxy-config", "app", "--health-path", "/health", "--health-timeout-ms", "500"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Seconds since each HAProxy server of backend `app` last changed state
/// (`show servers state`), by name.
fn haproxy_unchanged_for(socket: &str) -> Vec<(String, u64)> {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream.write_all(b"show servers state app\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(3)?.to_string(), f.get(9)?.parse().ok()?))
        })
        .collect()
}

/// Production traffic through the load balancer at `lb` across a server
/// restart (SIGTERM) and a server crash (SIGKILL): not one request fails,
/// and the server that returns drives the load balancer again (a deployment
/// after the restarts moves the traffic to its revision). `unchanged_for`
/// says how long each member has been in its state, by the load balancer
/// (empty if it cannot say): a restart must not have touched any.
fn restart_scenario(c: &mut Cluster, lb: SocketAddr, unchanged_for: &dyn Fn() -> Vec<(String, u64)>) {
    let _ = c.ferry(&["app", "create", "shop"]);
    c.ferry_ok(&["group", "create", "shop", "web", "--tag", "app=demo", "--target-group", "tg"]);
    let v1 = push(c, &web_revision(&c.tmp.path().join("v1"), "v1", Health::Healthy));
    let first = deploy(c, &v1, "CodeDeployDefault.AllAtOnce");
    let view = c.wait_done(&first, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    all_serving(c, 3);

    let load = Load::start(lb, "/", 400, 8);
    for crash in [false, true] {
        let before = unchanged_for();
        let since = std::time::Instant::now();
        if crash {
            c.kill_server();
        } else {
            c.stop_server();
        }
        // The load runs on its keep-alive connections meanwhile; new
        // connections are answered too.
        for _ in 0..50 {
            let (status, body) = http_get(lb, "/", &[]).expect("an answer while the server is down");
            assert_eq!((status, body.trim()), (200, "v1"), "while the server is down (crash: {crash})");
        }
        c.start_server();
        all_serving(c, 3);
        let elapsed = since.elapsed().as_secs();
        for (name, after) in unchanged_for() {
            let was = before.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).expect("the member was there");
            assert!(
                after + 1 >= was + elapsed,
                "{name} changed state across the server's restart (crash: {crash}): unchanged for {was} s, {elapsed} s later for {after} s"
            );
        }
    }

    // The server that returned drives the load balancer.
    let v2 = push(c, &web_revision(&c.tmp.path().join("v2"), "v2", Health::Healthy));
    let d2 = deploy(c, &v2, "CodeDeployDefault.OneAtATime");
    let view = c.wait_done(&d2, LONG);
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_traffic_order(&view);
    wait_for("the load balancer to send every request to v2", LONG, || {
        (0..10).all(|_| http_get(lb, "/", &[]).is_some_and(|(_, body)| body.trim() == "v2")).then_some(())
    });

    let report = load.stop();
    eprintln!("across the restarts: {} answered, {} failed", report.ok, report.failed());
    assert_eq!(report.failed(), 0, "requests failed across server restarts: {report:?}");
    assert!(report.ok > 1000, "{report:?}");
    assert!(report.bodies.contains_key("v2"), "{report:?}");
}

/// A `ferry proxy` process with its control socket and state file in a directory of its own.
struct FerryProxy {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl FerryProxy {
    fn start() -> FerryProxy {
        let mut proxy = FerryProxy { child: None, dir: tempfile::tempdir().unwrap() };
        proxy.restart();
        proxy
    }

    fn socket(&self) -> String {
        self.dir.path().join("control.sock").display().to_string()
    }

    /// Starts the process (again) and waits until its control socket answers.
    fn restart(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("proxy.log")).unwrap();
        let child = Command::new(FERRY)
            .args(["proxy", "--socket", &self.socket(), "--state-file"])
            .arg(self.dir.path().join("state/state.json"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for("ferry proxy's control socket", Duration::from_secs(10), || {
            std::os::unix::net::UnixStream::connect(self.socket()).ok().map(|_| ())
        });
    }

    /// SIGKILLs the process.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for FerryProxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "==== ferry proxy\n{}",
                std::fs::read_to_string(self.dir.path().join("proxy.log")).unwrap_or_default()
            );
        }
        self.kill();
    }
}

#[test]
fn traffic_through_ferry_proxy_survives_server_restarts_and_crashes() {
    if !fleet_supported() {
        return;
    }
    let mut proxy = FerryProxy::start();
    let socket = proxy.socket();
    let mut c = Cluster::start(ClusterOptions {
        server_args: vec!["--proxy-socket".into(), socket.clone()],
        ..ClusterOptions::default()
    });
    let lb = SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    let listen = lb.to_string();
    c.ferry_ok(&lb_args(&listen, &[]));
    restart_scenario(&mut c, lb, &Vec::new);

    // The proxy keeps the last routing table through its own crash: with
    // the server down, it serves again from its state file alone.
    c.stop_server();
    proxy.kill();
    proxy.restart();
    let (status, body) = http_get(lb, "/", &[]).expect("the restarted proxy answers");
    assert_eq!((status, body.trim()), (200, "v2"));
    c.start_server();
    all_serving(&c, 3);

    // Deleting a target group stops its listener in the proxy.
    let other = SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    let other_listen = other.to_string();
    let mut args = lb_args(&other_listen, &[]);
    args[2] = "unused";
    c.ferry_ok(&args);
    assert_eq!(http_get(other, "/", &[]).map(|(status, _)| status), Some(503), "served, with no member yet");
    c.ferry_ok(&["lb", "delete", "unused"]);
    assert!(http_get(other, "/", &[]).is_none(), "the deleted group's listener is closed");
}

#[test]
fn traffic_through_haproxy_survives_server_restarts_and_crashes() {
    if !fleet_supported() {
        return;
    }
    let (_haproxy, socket, port) = start_haproxy();
    let mut c = Cluster::start(ClusterOptions::default());
    c.ferry_ok(&lb_args("", &["--haproxy-socket", &socket, "--haproxy-backend", "app"]));
    restart_scenario(&mut c, SocketAddr::from(([127, 0, 0, 1], port)), &|| {
        let servers = haproxy_unchanged_for(&socket);
        assert_eq!(servers.len(), 3, "{servers:?}");
        servers
    });
}
