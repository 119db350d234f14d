//! Builds on real build hosts, black-box: a server and fleet hosts whose
//! agents run with `--builds 1`, driven by the CLI as a user drives them.
//! The build runs in a workspace as `nobody` on a host; its log, phases,
//! artifacts and test report come back through the server. A build keeps
//! running while the server is down, and its whole log and result arrive
//! when the server is back.

mod support;

use std::path::Path;
use std::time::Duration;

use support::*;

const LONG: Duration = Duration::from_secs(120);

fn build_hosts(hosts: usize) -> Cluster {
    Cluster::start(ClusterOptions { hosts, agent_args: |_| vec!["--builds".into(), "1".into()], ..Default::default() })
}

/// A source tree with a buildspec that builds, tests and packs.
fn source(dir: &Path, buildspec: &str) -> String {
    std::fs::create_dir_all(dir.join("test")).unwrap();
    std::fs::write(dir.join("buildspec.yml"), buildspec).unwrap();
    std::fs::write(dir.join("hello.sh"), "#!/bin/sh\necho hello from the build\n").unwrap();
    dir.display().to_string()
}

fn status(c: &Cluster, id: &str) -> String {
    let show: serde_json::Value = serde_json::from_str(&c.ferry_ok(&["build", "show", id, "--json"])).unwrap();
    show["status"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_build_runs_on_a_build_host_and_its_log_artifacts_and_report_come_back() {
    if !fleet_supported() {
        return;
    }
    let c = build_hosts(1);
    let dir = c.tmp.path().join("src");
    let src = source(
        &dir,
        r#"version: 0.2
phases:
  build:
    commands:
      - sh hello.sh
      - mkdir -p dist reports && cp hello.sh dist/ && echo "$CODEBUILD_BUILD_NUMBER" > dist/BUILD
      - printf '<testsuite name="t"><testcase classname="c" name="a" time="0.1"/><testcase classname="c" name="b" time="0.2"/></testsuite>' > reports/junit.xml
artifacts:
  files: ['**/*']
  base-directory: dist
reports:
  unit:
    files: ['reports/junit.xml']
"#,
    );
    c.ferry_ok(&["build", "project", "create", "hello", "--source", "upload"]);
    let out = c.ferry(&["build", "start", "hello", "--source", &src, "--follow"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}\n{}", c.logs());
    assert!(text.contains("hello from the build"), "the log streamed: {text}");
    let listed: serde_json::Value =
        serde_json::from_str(&c.ferry_ok(&["build", "list", "--project", "hello", "--json"])).unwrap();
    let id = listed[0]["id"].as_str().unwrap().to_string();
    assert_eq!(status(&c, &id), "SUCCEEDED");

    let show = c.ferry_ok(&["build", "show", &id]);
    assert!(show.contains(&c.fleet.hosts()[0].name), "ran on the build host: {show}");
    let artifacts = c.tmp.path().join("artifacts");
    c.ferry_ok(&["build", "artifacts", &id, "--out", artifacts.to_str().unwrap()]);
    let zip = artifacts.join("primary.zip");
    let unpacked = c.tmp.path().join("unpacked");
    ferry_bundle::unpack(&zip, ferry_bundle::BundleType::Zip, &unpacked, &ferry_bundle::Limits::default()).unwrap();
    assert_eq!(std::fs::read_to_string(unpacked.join("BUILD")).unwrap().trim(), "1");
    let report = c.ferry_ok(&["build", "report", &id]);
    assert!(report.contains("unit") && report.contains("100"), "{report}");
}

#[test]
fn a_build_keeps_running_while_the_server_is_down_and_reports_when_it_is_back() {
    if !fleet_supported() {
        return;
    }
    let mut c = build_hosts(1);
    // The build waits for a file the test creates while the server is down.
    let gate_dir = c.tmp.path().join("gate");
    std::fs::create_dir_all(&gate_dir).unwrap();
    std::fs::set_permissions(c.tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&gate_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let gate = gate_dir.join("open");
    let buildspec = format!(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo waiting for the gate\n      - while [ ! -f {gate} ]; do sleep 0.1; done\n      - echo through the gate\n",
        gate = gate.display()
    );
    let dir = c.tmp.path().join("src");
    let src = source(&dir, &buildspec);
    c.ferry_ok(&["build", "project", "create", "gated", "--source", "upload"]);
    let id = c.ferry_ok(&["build", "start", "gated", "--source", &src]).lines().next().unwrap().trim().to_string();
    wait_for("the build to wait at the gate", LONG, || {
        c.ferry_ok(&["build", "logs", &id]).contains("waiting for the gate").then_some(())
    });

    c.kill_server();
    std::fs::write(&gate, "").unwrap();
    // The build host finishes the build with no server and keeps its end
    // (and the log's last lines) until it can report them.
    let agent_log = c.tmp.path().join("agent0.log");
    wait_for("the build to end on its host", LONG, || {
        let log = std::fs::read_to_string(&agent_log).unwrap_or_default();
        log.contains("the build ended here").then_some(())
    });
    c.start_server();
    wait_for("the build's end to reach the server", LONG, || (status(&c, &id) == "SUCCEEDED").then_some(()));
    let log = c.ferry_ok(&["build", "logs", &id]);
    let waiting = log.find("waiting for the gate").expect("the first line");
    let through =
        log.find("through the gate").unwrap_or_else(|| panic!("the lines written while the server was down: {log}"));
    assert!(waiting < through, "{log}");
}
