//! Triggers and the event stream, black-box: a real server and agents,
//! and a webhook receiver that is down for part of the run (and the server
//! restarted meanwhile). Every notice must arrive once the receiver is
//! back, signed, each delivery with its own id.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use support::*;

const LONG: Duration = Duration::from_secs(120);

/// One POST the receiver took.
#[derive(Debug, Clone)]
struct Received {
    delivery: String,
    event: String,
    signature: String,
    body: String,
}

/// A webhook receiver on a fixed loopback port that can be taken down and
/// brought back (connections are refused while it is down).
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    running: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl Receiver {
    fn start() -> Receiver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut r = Receiver { port, got: Arc::default(), running: None };
        r.up();
        r
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/ferry", self.port)
    }

    fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (got, flag) = (self.got.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream
                    && let Some(r) = read_post(stream)
                {
                    got.lock().unwrap().push(r);
                }
            }
        });
        self.running = Some((stop, thread));
    }

    fn down(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            thread.join().unwrap();
        }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

fn read_post(stream: TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut headers = BTreeMap::new();
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").ok()?;
    Some(Received {
        delivery: headers.get("x-ferry-delivery")?.clone(),
        event: headers.get("x-ferry-event")?.clone(),
        signature: headers.get("x-ferry-signature")?.clone(),
        body: String::from_utf8(body).ok()?,
    })
}

/// Checks `t=…,v1=…` against the secret.
fn signature_ok(secret: &[u8], signature: &str, body: &str) -> bool {
    let Some((t, v1)) = signature.split_once(",v1=") else { return false };
    let Some(t) = t.strip_prefix("t=") else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    hex == v1
}

fn push(c: &Cluster, dir: &std::path::Path) -> String {
    c.ferry_ok(&["push", "shop", dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string()
}

fn deploy(c: &Cluster, revision: &str) -> String {
    c.ferry_ok(&["deploy", "shop", "web", "--revision", revision, "--config", "CodeDeployDefault.AllAtOnce"])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

fn deliveries(c: &Cluster) -> Vec<Value> {
    let text = c.ferry_ok(&["deliveries", "--json"]);
    serde_json::from_str::<Value>(&text).unwrap().as_array().unwrap().clone()
}

fn events(c: &Cluster, deployment: &str) -> Vec<Value> {
    let text = c.ferry_ok(&["events", "--deployment", deployment, "--json"]);
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["kind"] != "LifecycleEvent")
        .map(|e| match e["instance"].as_str() {
            Some(i) => format!("{} {i}", e["kind"].as_str().unwrap()),
            None => e["kind"].as_str().unwrap().to_string(),
        })
        .collect()
}

#[test]
fn triggers_reach_a_receiver_that_was_down_and_the_stream_tells_everything() {
    if !fleet_supported() {
        return;
    }
    let mut receiver = Receiver::start();
    let mut c = Cluster::start(ClusterOptions { hosts: 2, ..Default::default() });
    c.wait_enrolled(2);
    c.ferry_ok(&["app", "create", "shop"]);
    let trigger = format!("ops={}", receiver.url());
    let made = c.ferry_ok(&["group", "create", "shop", "web", "--tag", "app=demo", "--trigger", &trigger]);
    assert!(made.contains("trigger        ops"), "{made}");
    // A trigger that cannot be delivered to is refused up front.
    let refused = c.ferry(&["group", "create", "shop", "sns", "--tag", "app=demo", "--trigger", "x=arn:aws:sns:r:1:t"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("http:// or https:// URL"));

    // With the receiver up: everything arrives as it happens.
    let good = push(&c, &revision(&c.tmp.path().join("good"), "good", 0, None));
    let d1 = deploy(&c, &good);
    assert_eq!(c.wait_done(&d1, LONG)["status"], "Succeeded");
    wait_for("the first deployment's notices", LONG, || {
        let got = receiver.received();
        got.iter().any(|r| r.event == "DeploymentSuccess").then_some(())
    });

    // The receiver goes down; a failing deployment runs, and the server
    // restarts while notices wait.
    receiver.down();
    let bad = push(&c, &revision(&c.tmp.path().join("bad"), "bad", 0, Some("AfterInstall")));
    let d2 = deploy(&c, &bad);
    // Follow d2's events live; the stream ends by itself once d2 is over.
    let credentials = c.data_dir().join("credentials");
    let follower = std::process::Command::new(FERRY)
        .args(["events", "--follow", "--json", "--deployment", &d2, "--server", &c.url(), "--credentials"])
        .arg(&credentials)
        .env("AWS_ACCESS_KEY_ID", "")
        .env("AWS_SECRET_ACCESS_KEY", "")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let view = c.wait_done(&d2, LONG);
    assert_eq!(view["status"], "Failed", "{view:#}");
    let streamed = follower.wait_with_output().unwrap();
    assert!(streamed.status.success(), "ferry events --follow failed");
    let streamed: Vec<Value> =
        String::from_utf8_lossy(&streamed.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(kinds(&streamed), kinds(&events(&c, &d2)), "the live stream and the log agree");
    let told = kinds(&streamed);
    assert_eq!(told.first().map(String::as_str), Some("DeploymentCreated"));
    assert_eq!(told.last().map(String::as_str), Some("DeploymentFailure"), "{told:?}");
    assert!(told.contains(&"InstanceFailure host1".to_string()), "{told:?}");
    let failed_event = streamed
        .iter()
        .find(|e| e["kind"] == "LifecycleEvent" && e["lifecycle_event"] == "AfterInstall" && e["status"] == "Failed")
        .expect("the failed lifecycle event is in the stream");
    assert_eq!(failed_event["instance"].as_str().map(|i| i.starts_with("host")), Some(true));

    let pending = deliveries(&c).into_iter().filter(|d| d["state"] == "Pending").count();
    assert!(pending >= 4, "notices wait while the receiver is down: {pending} pending");
    assert!(deliveries(&c).iter().any(|d| d["attempts"].as_u64() >= Some(1) && d["last_error"].is_string()));
    // Durations are counted by the running server (a restart starts them afresh).
    let text = c.metrics();
    let failed = "ferry_lifecycle_event_duration_seconds_count{event=\"AfterInstall\",status=\"Failed\"}";
    assert_eq!(metric(&text, failed), Some(2.0), "{text}");
    let installed = "ferry_lifecycle_event_duration_seconds_count{event=\"Install\",status=\"Succeeded\"}";
    assert_eq!(metric(&text, installed), Some(4.0), "{text}");
    assert!(metric(&text, "ferry_api_request_duration_seconds_count{api=\"agent\",code=\"2xx\"}") > Some(0.0));
    c.kill_server();
    c.start_server();
    receiver.up();

    wait_for("every delivery to be made", LONG, || {
        deliveries(&c).iter().all(|d| d["state"] == "Delivered").then_some(())
    });
    let secret = std::fs::read_to_string(c.data_dir().join("webhook-secret")).unwrap();
    let got = receiver.received();
    for r in &got {
        assert!(signature_ok(secret.trim().as_bytes(), &r.signature, &r.body), "bad signature: {r:?}");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["deliveryId"].as_str(), Some(r.delivery.as_str()));
        assert_eq!(body["eventType"].as_str(), Some(r.event.as_str()));
        assert_eq!(body["eventTriggerName"], "ops");
    }
    // Every delivery arrived at least once; ids tell duplicates apart.
    let ids: BTreeSet<&str> = got.iter().map(|r| r.delivery.as_str()).collect();
    let all = deliveries(&c);
    let expected: BTreeSet<&str> = all.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, expected);
    let of = |d: &str| -> Vec<String> {
        let mut names: Vec<String> = got
            .iter()
            .filter_map(|r| {
                let body: Value = serde_json::from_str(&r.body).unwrap();
                (body["deploymentId"] == d).then(|| r.event.clone())
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        names.sort();
        names
    };
    let expect = |names: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(of(&d1), expect(&["DeploymentStart", "InstanceStart", "InstanceSuccess", "DeploymentSuccess"]));
    assert_eq!(of(&d2), expect(&["DeploymentStart", "InstanceStart", "InstanceFailure", "DeploymentFailure"]));
    let failure: Value = got
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap())
        .find(|b| b["eventType"] == "DeploymentFailure")
        .unwrap();
    assert_eq!(failure["status"], "FAILED");
    assert_eq!(failure["applicationName"], "shop");
    let overview: Value = serde_json::from_str(failure["deploymentOverview"].as_str().unwrap()).unwrap();
    assert_eq!(overview["Failed"], "2", "{failure:#}");
    let error: Value = serde_json::from_str(failure["errorInformation"].as_str().unwrap()).unwrap();
    assert_eq!(error["ErrorCode"], "HEALTH_CONSTRAINTS");
    let instance_failure: Value = got
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap())
        .find(|b| b["eventType"] == "InstanceFailure")
        .unwrap();
    assert_eq!(instance_failure["instanceStatus"], "FAILED");
    // The metrics count what happened (and need the token).
    let text = c.metrics();
    assert_eq!(metric(&text, "ferry_deployments{status=\"Succeeded\"}"), Some(1.0), "{text}");
    assert_eq!(metric(&text, "ferry_deployments{status=\"Failed\"}"), Some(1.0), "{text}");
    assert_eq!(metric(&text, "ferry_agents_connected"), Some(2.0), "{text}");
    assert_eq!(metric(&text, "ferry_trigger_deliveries_pending"), Some(0.0), "{text}");
    assert!(metric(&text, "ferry_api_request_duration_seconds_count{api=\"native\",code=\"2xx\"}") > Some(0.0));
    assert_eq!(c.server_get("/metrics", &[]).map(|r| r.0), Some(403), "no token, no metrics");
    assert_eq!(c.server_get("/metrics", &[("authorization", "Bearer wrong")]).map(|r| r.0), Some(403));

    let lifecycle: Value = serde_json::from_str(instance_failure["lifecycleEvents"].as_str().unwrap()).unwrap();
    assert!(
        lifecycle
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["LifecycleEvent"] == "AfterInstall" && e["LifecycleEventStatus"] == "Failed")
    );
}
