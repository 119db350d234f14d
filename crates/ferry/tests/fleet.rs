//! Black-box tests of in-place deployments across a fleet: a real
//! `ferry server`, real `ferry agent`s in isolated hosts (network + mount
//! namespaces), driven with the `ferry` CLI.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

const LONG: Duration = Duration::from_secs(120);

/// Creates an application and a group selecting `filter_tag`, pushes
/// `revision_dir`; returns the revision id.
fn setup(
    c: &Cluster,
    app: &str,
    group: &str,
    filter_tag: &str,
    extra: &[&str],
    revision_dir: &std::path::Path,
) -> String {
    let _ = c.ferry(&["app", "create", app]);
    let mut args = vec!["group", "create", app, group, "--tag", filter_tag];
    args.extend_from_slice(extra);
    c.ferry_ok(&args);
    push(c, app, revision_dir)
}

fn push(c: &Cluster, app: &str, dir: &std::path::Path) -> String {
    c.ferry_ok(&["push", app, dir.to_str().unwrap()]).lines().last().unwrap().trim().to_string()
}

fn deploy(c: &Cluster, app: &str, group: &str, extra: &[&str]) -> String {
    let mut args = vec!["deploy", app, group];
    args.extend_from_slice(extra);
    c.ferry_ok(&args).lines().last().unwrap().trim().to_string()
}

fn instance<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["instances"].as_array().unwrap().iter().find(|i| i["instance"] == name).expect("instance in deployment")
}

fn event<'a>(instance: &'a Value, name: &str) -> &'a Value {
    instance["events"].as_array().unwrap().iter().find(|e| e["name"] == name).expect("event")
}

/// The most instances that were between their first event's start and
/// their last event's end at the same moment.
fn max_concurrent(view: &Value) -> usize {
    let mut points = Vec::new();
    for i in view["instances"].as_array().unwrap() {
        let events = i["events"].as_array().unwrap();
        let start = events.iter().filter_map(|e| e["start_time"].as_u64()).min();
        let end = events.iter().filter_map(|e| e["end_time"].as_u64()).max();
        if let (Some(s), Some(e)) = (start, end) {
            points.push((s, 1i32));
            points.push((e, -1i32));
        }
    }
    // Ends before starts at the same millisecond: touching is not overlapping.
    points.sort();
    let (mut now, mut max) = (0i32, 0i32);
    for (_, delta) in points {
        now += delta;
        max = max.max(now);
    }
    max as usize
}

#[test]
fn rolling_configs_never_take_down_more_hosts_than_allowed() {
    if !fleet_supported() {
        return;
    }
    // Host i carries `inN` for every N > i, so group `gN` targets N hosts.
    let sizes = [1usize, 2, 3, 4, 9];
    let c = Cluster::start(ClusterOptions {
        hosts: 9,
        tags: |i| [1usize, 2, 3, 4, 9].iter().filter(|n| i < **n).map(|n| (format!("in{n}"), "yes".into())).collect(),
        ..Default::default()
    });
    let rev = revision(&c.tmp.path().join("rev"), "v1", 300, None);
    let _ = c.ferry(&["app", "create", "roll"]);
    for n in sizes {
        c.ferry_ok(&["group", "create", "roll", &format!("g{n}"), "--tag", &format!("in{n}=yes")]);
    }
    c.ferry_ok(&["config", "create", "TwoHealthy", "--minimum-healthy-hosts", "HOST_COUNT:2"]);
    push(&c, "roll", &rev);
    // (config, minimum healthy for n, whether n hosts is a valid fleet)
    type Rule = fn(usize) -> (usize, bool);
    let configs: [(&str, Rule); 4] = [
        ("CodeDeployDefault.AllAtOnce", |_| (0, true)),
        ("CodeDeployDefault.HalfAtATime", |n| (n.div_ceil(2), n.div_ceil(2) < n)),
        ("CodeDeployDefault.OneAtATime", |n| (n - 1, true)),
        ("TwoHealthy", |n| (2, 2 < n)),
    ];
    for n in sizes {
        for (config, rule) in configs {
            let (m, valid) = rule(n);
            let id = deploy(&c, "roll", &format!("g{n}"), &["--config", config, "--file-exists-behavior", "OVERWRITE"]);
            let view = c.wait_done(&id, LONG);
            let what = format!("{config} on {n} hosts");
            if !valid {
                assert_eq!(view["status"], "Failed", "{what}");
                assert_eq!(view["error"]["code"], "HEALTH_CONSTRAINTS_INVALID", "{what}");
                continue;
            }
            assert_eq!(view["status"], "Succeeded", "{what}: {view:#}");
            let allowed = (n - m).max(1);
            let concurrent = max_concurrent(&view);
            assert!(concurrent <= allowed, "{what}: {concurrent} hosts down at once, at most {allowed} allowed");
            if config == "CodeDeployDefault.AllAtOnce" {
                assert_eq!(concurrent, n, "{what}: AllAtOnce must deploy to every host at once");
            }
        }
    }
}

#[test]
fn a_failing_hook_fails_the_deployment_and_rolls_back() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions::default());
    let good = revision(&c.tmp.path().join("good"), "good", 0, None);
    setup(&c, "shop", "web", "app=demo", &["--auto-rollback"], &good);
    c.ferry_ok(&["deploy", "shop", "web", "--wait"]);
    for h in 0..3 {
        assert_eq!(std::fs::read_to_string(c.host_file(h, "/srv/app/www/index.html")).unwrap(), "revision good\n");
    }

    let bad = revision(&c.tmp.path().join("bad"), "bad", 0, Some("AfterInstall"));
    let bad_rev = push(&c, "shop", &bad);
    let out = c.ferry(&["deploy", "shop", "web", "--revision", &bad_rev, "--wait"]);
    assert!(!out.status.success(), "a failing deployment must exit non-zero");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let id =
        stdout.split_whitespace().find(|w| w.starts_with("d-") && w.len() == 11).expect("deployment id").to_string();
    let view = c.get(&id);
    assert_eq!(view["status"], "Failed");
    assert_eq!(view["error"]["code"], "HEALTH_CONSTRAINTS");
    let first = instance(&view, "host1");
    assert_eq!(first["status"], "Failed");
    let failed = event(first, "AfterInstall");
    assert_eq!(failed["status"], "Failed");
    assert_eq!(failed["diagnostics"]["error_code"], "ScriptFailed");
    assert!(failed["diagnostics"]["log_tail"].as_str().unwrap().contains("failing on purpose"));
    assert_eq!(event(first, "ApplicationStart")["status"], "Skipped");
    assert_eq!(instance(&view, "host2")["status"], "Skipped");

    let rollback = view["rollback_deployment_id"].as_str().expect("a rollback was started").to_string();
    let rolled = c.wait_done(&rollback, LONG);
    assert_eq!(rolled["status"], "Succeeded", "{rolled:#}");
    assert_eq!(rolled["creator"], "codeDeployRollback");
    assert_eq!(rolled["rollback_triggering_deployment_id"], id.as_str());
    assert_eq!(std::fs::read_to_string(c.host_file(0, "/srv/app/www/index.html")).unwrap(), "revision good\n");
}

#[test]
fn stop_with_and_without_rollback() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions::default());
    let good = revision(&c.tmp.path().join("good"), "good", 0, None);
    setup(&c, "shop", "web", "app=demo", &[], &good);
    c.ferry_ok(&["deploy", "shop", "web", "--wait"]);
    let slow = revision(&c.tmp.path().join("slow"), "slow", 2000, None);
    let slow_rev = push(&c, "shop", &slow);

    for rollback in [false, true] {
        let id = deploy(&c, "shop", "web", &["--revision", &slow_rev]);
        wait_for("ApplicationStart on host1", LONG, || {
            let view = c.get(&id);
            (event(instance(&view, "host1"), "ApplicationStart")["status"] == "InProgress").then_some(())
        });
        let mut args = vec!["stop", id.as_str()];
        if rollback {
            args.push("--rollback");
        }
        let out = c.ferry_ok(&args);
        assert!(out.contains("Pending"), "the running event must finish first: {out}");
        let view = c.wait_done(&id, LONG);
        assert_eq!(view["status"], "Stopped");
        assert_eq!(view["error"]["code"], "MANUAL_STOP");
        let first = instance(&view, "host1");
        assert_eq!(event(first, "ApplicationStart")["status"], "Succeeded", "the running event finished");
        assert_eq!(event(first, "ValidateService")["status"], "Skipped");
        assert_eq!(instance(&view, "host2")["status"], "Skipped");
        assert_eq!(begins(&c, 1).get("slow ApplicationStop"), None, "host2 was never touched");
        match view["rollback_deployment_id"].as_str() {
            Some(rb) => {
                assert!(rollback, "no rollback was asked for");
                assert_eq!(c.wait_done(rb, LONG)["status"], "Succeeded");
            }
            None => assert!(!rollback, "a rollback was asked for"),
        }
    }
}

#[test]
fn an_agent_killed_mid_hook_fails_the_event_after_restart() {
    if !fleet_supported() {
        return;
    }
    let mut c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    let slow = revision(&c.tmp.path().join("slow"), "slow", 3000, None);
    setup(&c, "shop", "web", "app=demo", &[], &slow);
    let id = deploy(&c, "shop", "web", &[]);
    wait_for("ApplicationStart to run", LONG, || {
        (event(instance(&c.get(&id), "host1"), "ApplicationStart")["status"] == "InProgress").then_some(())
    });
    c.kill_agent(0);
    c.start_agent(0);
    let view = c.wait_done(&id, LONG);
    assert_eq!(view["status"], "Failed");
    let e = event(instance(&view, "host1"), "ApplicationStart");
    assert_eq!(e["diagnostics"]["error_code"], "FailedAfterRestart", "{view:#}");
    assert_eq!(begins(&c, 0).get("slow ApplicationStart"), Some(&1), "the hook must not run again");
}

#[test]
fn a_silent_host_is_given_up_on() {
    if !fleet_supported() {
        return;
    }
    let c =
        Cluster::start(ClusterOptions { hosts: 1, poll_hold_seconds: 1, lost_after_seconds: 3, ..Default::default() });
    let slow = revision(&c.tmp.path().join("slow"), "slow", 30_000, None);
    setup(&c, "shop", "web", "app=demo", &[], &slow);
    let id = deploy(&c, "shop", "web", &[]);
    wait_for("ApplicationStart to run", LONG, || {
        (event(instance(&c.get(&id), "host1"), "ApplicationStart")["status"] == "InProgress").then_some(())
    });
    c.signal_agent(0, ferry_fleet::Signal::SIGSTOP);
    let started = std::time::Instant::now();
    let view = c.wait_done(&id, Duration::from_secs(30));
    c.signal_agent(0, ferry_fleet::Signal::SIGCONT);
    assert!(started.elapsed() < Duration::from_secs(10), "lost host noticed in {:?}", started.elapsed());
    assert_eq!(view["status"], "Failed");
    let e = event(instance(&view, "host1"), "ApplicationStart");
    assert!(e["diagnostics"]["message"].as_str().unwrap().contains("has not been heard from"), "{e:#}");
}

#[test]
fn a_server_killed_at_any_moment_resumes_every_deployment() {
    if !fleet_supported() {
        return;
    }
    let mut c = Cluster::start(ClusterOptions::default());
    let first = revision(&c.tmp.path().join("r0"), "r0", 100, None);
    setup(&c, "shop", "web", "app=demo", &["--config", "CodeDeployDefault.HalfAtATime"], &first);
    // Crash points spread over the deployment: before dispatch, mid-batch, near the end.
    let crash_after_ms = [0u64, 150, 400, 700, 1100];
    for (round, delay) in crash_after_ms.iter().enumerate() {
        let tag = format!("r{round}");
        let rev = revision(&c.tmp.path().join(&tag), &tag, 100, None);
        let rev_id = push(&c, "shop", &rev);
        let id = deploy(&c, "shop", "web", &["--revision", &rev_id, "--file-exists-behavior", "OVERWRITE"]);
        std::thread::sleep(Duration::from_millis(*delay));
        c.kill_server();
        c.start_server();
        let view = c.wait_done(&id, LONG);
        assert_eq!(view["status"], "Succeeded", "round {round}: {view:#}");
        for h in 0..3 {
            let counts = begins(&c, h);
            for e in ["BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"] {
                assert_eq!(counts.get(&format!("{tag} {e}")), Some(&1), "round {round}, host {h}: {e} ran {counts:?}");
            }
        }
    }
}

#[test]
fn a_tampered_bundle_is_refused_by_the_agent() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    let rev = revision(&c.tmp.path().join("rev"), "v1", 0, None);
    setup(&c, "shop", "web", "app=demo", &[], &rev);
    // The server reads a bundle's appspec when it is first deployed (and
    // would refuse a corrupt one there): deploy it once, then corrupt the
    // stored bundle behind the server's back.
    let first = deploy(&c, "shop", "web", &[]);
    assert_eq!(c.wait_done(&first, LONG)["status"], "Succeeded");
    let blobs = c.data_dir().join("blobs/sha256");
    for entry in std::fs::read_dir(&blobs).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not the bundle that was pushed").unwrap();
    }
    let id = deploy(&c, "shop", "web", &[]);
    let view = c.wait_done(&id, LONG);
    assert_eq!(view["status"], "Failed");
    let e = event(instance(&view, "host1"), "DownloadBundle");
    assert!(e["diagnostics"]["message"].as_str().unwrap().contains("digest mismatch"), "{e:#}");
    assert_eq!(begins(&c, 0).get("v1 BeforeInstall"), Some(&1), "only the first deployment ran hooks");
}

#[test]
fn unknown_agents_are_refused() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    // A wrong join token (with the right CA fingerprint, so that the agent talks to the server).
    let wrong = format!("ferry-join-WRONGWRONGWRONGWRONG.sha256-{}", c.ca_fingerprint());
    let out = std::process::Command::new(FERRY)
        .args(["agent", "--server", &c.url(), "--join-token", &wrong, "--name", "intruder"])
        .args(["--root", c.tmp.path().join("intruder").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("join token"), "{}", String::from_utf8_lossy(&out.stderr));
    let instances = c.ferry_ok(&["instances", "--json"]);
    assert!(!instances.contains("intruder"));
    // An unsigned poll.
    let (status, _) = raw_http(&c, "POST", "/agent/v1/poll", &[], b"{}");
    assert_eq!(status, 403);
}

/// A minimal HTTP/1.1 request to the server (over TLS); returns the status and body.
fn raw_http(c: &Cluster, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> (u16, String) {
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\nconnection: close\r\n", c.port);
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    request.push_str(std::str::from_utf8(body).unwrap());
    let (status, _, body) = c.server_request(&request).expect("the server answers");
    (status, body)
}

/// Signs a request with the credential stored by the agent of `host`.
fn signed_as_agent(c: &Cluster, host: usize, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(c.host_file(host, "/opt/ferry/state/credentials")).unwrap())
            .unwrap();
    let creds = ferry_sigv4::Credentials {
        access_key_id: stored["access_key_id"].as_str().unwrap().into(),
        secret_access_key: stored["secret_access_key"].as_str().unwrap().into(),
        session_token: None,
    };
    let mut headers =
        vec![("host".to_string(), format!("127.0.0.1:{}", c.port)), ("content-type".into(), "application/json".into())];
    let parts = ferry_sigv4::RequestParts { method, path, query: "", headers: &headers, body };
    let signed = ferry_sigv4::sign(&parts, &creds, "ferry", "local", std::time::SystemTime::now());
    headers.extend(signed);
    headers.retain(|(k, _)| k != "host");
    raw_http(c, method, path, &headers, body)
}

#[test]
fn one_agent_cannot_read_or_touch_another_hosts_work() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions {
        hosts: 2,
        tags: |i| vec![("role".into(), if i == 0 { "a".into() } else { "b".into() })],
        ..Default::default()
    });
    let slow = revision(&c.tmp.path().join("slow"), "slow", 3000, None);
    setup(&c, "shop", "only-b", "role=b", &[], &slow);
    // Bundles are served by digest: the only one stored is host2's.
    let blobs = c.data_dir().join("blobs/sha256");
    let digest = std::fs::read_dir(&blobs).unwrap().next().unwrap().unwrap().file_name().into_string().unwrap();
    let id = deploy(&c, "shop", "only-b", &[]);
    wait_for("ApplicationStart on host2", LONG, || {
        (event(instance(&c.get(&id), "host2"), "ApplicationStart")["status"] == "InProgress").then_some(())
    });
    // host1's agent may not download host2's bundle...
    let (status, body) = signed_as_agent(&c, 0, "GET", &format!("/agent/v1/bundles/{digest}"), b"");
    assert_eq!(status, 403, "{body}");
    // ...nor report on host2's deployment...
    let report = serde_json::json!({
        "command_id": format!("{id}.host2.1.0"), "deployment_id": id, "attempt": 1,
        "event": "ApplicationStart", "phase": "Finished", "succeeded": false
    });
    let (status, body) = signed_as_agent(&c, 0, "POST", "/agent/v1/report", report.to_string().as_bytes());
    assert!((400..500).contains(&status) && status != 403, "{status} {body}");
    // ...nor see its commands.
    let (status, body) = signed_as_agent(&c, 0, "POST", "/agent/v1/poll", br#"{"no_wait":true}"#);
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(&id), "{body}");
    let view = c.wait_done(&id, LONG);
    assert_eq!(view["status"], "Succeeded", "host2's deployment was not disturbed: {view:#}");
    assert_eq!(view["instances"].as_array().unwrap().len(), 1);
}

#[test]
fn deployments_to_a_busy_group_queue_and_run_in_order() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    let slow = revision(&c.tmp.path().join("slow"), "slow", 1500, None);
    let slow_rev = setup(&c, "shop", "web", "app=demo", &[], &slow);
    let quick = revision(&c.tmp.path().join("quick"), "quick", 0, None);
    let quick_rev = push(&c, "shop", &quick);
    let first = deploy(&c, "shop", "web", &["--revision", &slow_rev]);
    let second = deploy(&c, "shop", "web", &["--revision", &quick_rev]);
    assert_eq!(c.get(&second)["status"], "Queued", "the group is busy");
    assert_eq!(c.wait_done(&first, LONG)["status"], "Succeeded");
    let view = c.wait_done(&second, LONG);
    assert_eq!(view["status"], "Succeeded");
    assert!(view["start_time"].as_u64() >= c.get(&first)["complete_time"].as_u64(), "ran after the first ended");
    // The first deployment of the group ran no ApplicationStop; the queued
    // one ran the first revision's script, once.
    assert_eq!(begins(&c, 0).get("slow ApplicationStop"), Some(&1));
    assert_eq!(begins(&c, 0).get("quick ApplicationStop"), None);
    // Redeploying the earlier revision is just another deployment of it.
    let again = deploy(&c, "shop", "web", &["--revision", &slow_rev]);
    assert_eq!(c.wait_done(&again, LONG)["status"], "Succeeded");
    assert_eq!(std::fs::read_to_string(c.host_file(0, "/srv/app/www/index.html")).unwrap(), "revision slow\n");
}

/// Issue 22.9: `ferry fleet run` reports each agent's exit with its reason,
/// restarts an agent that died (after a delay), gives up after the restart
/// limit, and exits non-zero once no agent is left (it used to keep running
/// with its agents left as zombies, printing nothing).
#[test]
fn fleet_run_restarts_dead_agents_and_exits_when_none_is_left() {
    if !fleet_supported() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out_path = tmp.path().join("fleet.out");
    let out = std::fs::File::create(&out_path).unwrap();
    // No server listens: the agents keep retrying their enrolment, alive.
    let port = ferry_testkit::free_port().to_string();
    let token = format!("secret.sha256-{}", "0".repeat(64));
    let fleet = std::process::Command::new(FERRY)
        .args(["fleet", "run", "--hosts", "2", "--restart-limit", "1", "--server-port", &port, "--join-token", &token])
        .arg("--dir")
        .arg(tmp.path().join("fleet"))
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    // Whatever happens, the fleet (which removes its namespaces) is stopped.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            if let Ok(None) = self.0.try_wait() {
                let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
                let _ = nix::sys::signal::kill(pid, ferry_fleet::Signal::SIGTERM);
                let _ = self.0.wait();
            }
        }
    }
    let mut fleet = Stop(fleet);
    let output = || std::fs::read_to_string(&out_path).unwrap_or_default();
    // The pid printed last for `host` as started ("agent pid N") or restarted ("agent restarted (pid N)").
    let pid_of = |host: &str| -> Option<i32> {
        output().lines().rev().filter(|l| l.starts_with(host)).find_map(|l| {
            let rest =
                l.split_once("agent pid ").map(|(_, r)| r).or(l.split_once("agent restarted (pid ").map(|(_, r)| r))?;
            rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        })
    };
    let kill =
        |pid: i32| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), ferry_fleet::Signal::SIGKILL).unwrap();
    // A line holding `needle`, or both halves of `start … end` (an exit
    // report may carry the agent's last log line between them).
    let has = |needle: &str| match needle.split_once(" … ") {
        Some((start, end)) => output().lines().any(|l| l.starts_with(start) && l.contains(end)),
        None => output().contains(needle),
    };
    let wait_line = |what: &str, needle: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !has(needle) {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what} ({needle:?}):\n{}", output());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("both agents started", Duration::from_secs(30), || Some((pid_of("host1")?, pid_of("host2")?)));
    let first = pid_of("host1").unwrap();
    kill(first);
    wait_line(
        "host1's death reported",
        &format!("host1: agent (pid {first}) was killed by SIGKILL … ; restarting it in 1 s"),
    );
    wait_line("host1's agent restarted", "host1: agent restarted (pid ");
    let second = pid_of("host1").unwrap();
    assert_ne!(first, second);
    assert!(std::path::Path::new(&format!("/proc/{second}")).exists(), "the restarted agent runs:\n{}", output());
    // The limit (one restart) is reached: host1 is given up on, host2 runs on.
    kill(second);
    wait_line("host1 given up on", &format!("host1: agent (pid {second}) was killed by SIGKILL … ; restarted 1 times"));
    assert!(fleet.0.try_wait().unwrap().is_none(), "one agent is still running:\n{}", output());
    let host2 = pid_of("host2").unwrap();
    kill(host2);
    wait_line("host2 restarted", "host2: agent restarted (pid ");
    kill(pid_of("host2").unwrap());
    let status = wait_for("the fleet to exit", Duration::from_secs(30), || fleet.0.try_wait().unwrap());
    assert!(!status.success(), "no agent left is a failure:\n{}", output());
    assert!(output().contains("no agent is left running"), "{}", output());
}

/// Issue 22.6: one rule for a hook on a misspelt event, on every path:
/// `ferry push` refuses the revision, and so does CreateDeployment on the
/// AWS API (it used to create the deployment and never run the hook), with
/// the same message.
#[test]
fn a_hook_typo_is_refused_the_same_way_by_push_and_create_deployment() {
    if !fleet_supported() {
        return;
    }
    let c = Cluster::start(ClusterOptions { hosts: 1, ..Default::default() });
    c.ferry_ok(&["app", "create", "shop"]);
    c.ferry_ok(&["group", "create", "shop", "web", "--tag", "app=demo"]);
    let appspec = "version: 0.0\nos: linux\nhooks:\n  AfterInstal:\n    - location: a.sh\n";
    let expected = "hooks.AfterInstal: `AfterInstal` is not a lifecycle event of a Server deployment, so its scripts would never run (did you mean `AfterInstall`?)";

    let dir = c.tmp.path().join("typo");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("appspec.yml"), appspec).unwrap();
    std::fs::write(dir.join("a.sh"), "#!/bin/sh\n").unwrap();
    let pushed = c.ferry(&["push", "shop", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&pushed.stderr);
    assert!(!pushed.status.success() && stderr.contains(expected), "ferry push: {stderr}");

    let revision = serde_json::json!({"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec}});
    let refused = c
        .aws(&[
            "create-deployment",
            "--application-name",
            "shop",
            "--deployment-group-name",
            "web",
            "--revision",
            &revision.to_string(),
        ])
        .unwrap_err();
    assert!(refused.contains("InvalidRevisionException") && refused.contains(expected), "CreateDeployment: {refused}");
    let listed = c.aws_ok(&["list-deployments", "--application-name", "shop", "--deployment-group-name", "web"]);
    assert_eq!(listed["deployments"], serde_json::json!([]), "no deployment was created");
}
