//! Container services end to end (issue #15): a fleet of two hosts whose
//! agents run podman, a service of 3 tasks behind the built-in proxy; a
//! task whose container dies is replaced, an agent restart adopts the
//! running containers (none restarted), a rolling update to a new task
//! definition under load drops no request, scaling in drains, and a
//! deleted service leaves no container behind. Real podman, real
//! containers from a locally imported busybox image.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use ferry_testkit::Load;
use support::{Cluster, ClusterOptions, fleet_supported, http_get, wait_for};

const LONG: Duration = Duration::from_secs(90);

fn taskdef(dir: &std::path::Path, image: &str, version: &str) -> String {
    let path = dir.join(format!("taskdef-{version}.json"));
    let text = serde_json::json!({
        "family": "web",
        "containerDefinitions": [{
            "name": "web",
            "image": image,
            "command": ["sh", "-c", "mkdir -p /www && echo $VERSION > /www/index.html && exec httpd -f -p 8080 -h /www"],
            "environment": [{"name": "VERSION", "value": version}],
            "portMappings": [{"containerPort": 8080}],
            "healthCheck": {
                "command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/index.html"],
                "interval": 5, "timeout": 2, "retries": 2
            },
            "stopTimeout": 2,
            "memory": 64
        }]
    });
    std::fs::write(&path, text.to_string()).unwrap();
    path.display().to_string()
}

fn show(c: &Cluster) -> serde_json::Value {
    serde_json::from_str(&c.ferry_ok(&["service", "show", "web", "--json"])).unwrap()
}

/// The live tasks (id, host, task definition) once `n` run, healthy, of `taskdef`, and nothing else lives.
fn running(c: &Cluster, n: usize, taskdef: &str) -> Vec<(String, String)> {
    wait_for(&format!("{n} healthy tasks of {taskdef}"), LONG, || {
        let v = show(c);
        let tasks = v["tasks"].as_array()?;
        let live: Vec<&serde_json::Value> = tasks.iter().filter(|t| t["last_status"] != "STOPPED").collect();
        let ok = live.len() == n
            && live.iter().all(|t| {
                t["last_status"] == "RUNNING"
                    && t["health"] == "HEALTHY"
                    && t["target_health"] == "healthy"
                    && t["task_definition"] == taskdef
            });
        ok.then(|| {
            live.iter()
                .map(|t| (t["id"].as_str().unwrap().to_string(), t["host"].as_str().unwrap().to_string()))
                .collect()
        })
    })
}

/// The containers ferry runs on `host`, by podman name.
fn containers_of(host: &str) -> Vec<String> {
    let out = std::process::Command::new("podman")
        .args(["ps", "-a", "--filter", &format!("label=ferry.task-host={host}"), "--format", "{{.Names}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

fn containers(c: &Cluster, host: usize) -> Vec<String> {
    containers_of(&c.fleet.hosts()[host].name)
}

/// Removes the task containers a failed run left (the fleet's network
/// namespaces, where their networks live, go with the fleet).
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for host in &self.0 {
            let names = containers_of(host);
            if !names.is_empty() {
                let _ = std::process::Command::new("podman").args(["rm", "-f", "-t", "0"]).args(&names).output();
            }
        }
    }
}

fn serves(lb: SocketAddr, body: &str) -> bool {
    (0..6).all(|_| http_get(lb, "/index.html", &[]).is_some_and(|(status, text)| status == 200 && text.trim() == body))
}

#[test]
fn a_service_keeps_its_tasks_running_and_rolls_to_a_new_task_definition_without_dropping_requests() {
    if !fleet_supported() || !ferry_testkit::podman_available() {
        return;
    }
    let image = ferry_testkit::busybox_image();
    let mut c = Cluster::start(ClusterOptions {
        hosts: 2,
        tags: |_| vec![("role".into(), "web".into())],
        ..ClusterOptions::default()
    });
    let cleanup = Cleanup(c.fleet.hosts().iter().map(|h| h.name.clone()).collect());
    let lb = SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    c.ferry_ok(&[
        "lb",
        "create",
        "web",
        "--port",
        "8080",
        "--listen",
        &lb.to_string(),
        "--health-path",
        "/index.html",
        "--health-interval-ms",
        "200",
        "--healthy-threshold",
        "2",
        "--unhealthy-threshold",
        "2",
        "--deregistration-delay-ms",
        "2000",
    ]);
    let dir = c.tmp.path().to_path_buf();
    wait_for("both hosts ready for containers", LONG, || {
        let list: serde_json::Value = serde_json::from_str(&c.ferry_ok(&["instances", "--json"])).ok()?;
        let ready = list.as_array()?.iter().filter(|i| i["container_engine"].is_string()).count();
        (ready == 2).then_some(())
    });

    // Bad input is refused before anything starts.
    let out = c.ferry(&["service", "create", "web", "--task-definition", "nope", "--target-group", "web"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("task definition nope (or it has no ACTIVE revision) does not exist"),
        "{out:?}"
    );
    c.ferry_ok(&["task-definition", "register", "--file", &taskdef(&dir, &image, "v1")]);
    let out = c.ferry(&[
        "service",
        "create",
        "web",
        "--task-definition",
        "web",
        "--target-group",
        "web",
        "--container-port",
        "9999",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not map port 9999"), "{out:?}");

    c.ferry_ok(&[
        "service",
        "create",
        "web",
        "--task-definition",
        "web:1",
        "--desired",
        "3",
        "--target-group",
        "web",
        "--hosts-tag",
        "role=web",
    ]);
    let first = running(&c, 3, "web:1");
    // Spread: both hosts run tasks.
    let hosts: std::collections::BTreeSet<&str> = first.iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(hosts.len(), 2, "{first:?}");
    assert!(serves(lb, "v1"));
    let text = c.ferry_ok(&["service", "show", "web"]);
    assert!(text.contains("3 running, 0 pending of 3 desired"), "{text}");
    // The console shows it too.
    let list = c.console_page("/console/services");
    assert!(list.contains("data-service=\"web\""), "{list}");
    let page = c.console_page("/console/services/web");
    assert!(page.contains("3 running, 0 pending of 3 desired"), "{page}");
    assert!(page.contains(&format!("data-task=\"{}\"", first[0].0)), "{page}");

    // A task whose container dies is replaced.
    let victim = &first[0];
    let host = c.fleet.hosts().iter().position(|h| h.name == victim.1).unwrap();
    let name = format!("ferry-task-{}-web", victim.0);
    let out = c.fleet.command(host, "podman", &["kill", &name]).unwrap().output().unwrap();
    assert!(out.status.success(), "{out:?}");
    wait_for("the dead task replaced", LONG, || {
        let v = show(&c);
        let tasks = v["tasks"].as_array()?.clone();
        let dead = tasks.iter().find(|t| t["id"] == victim.0.as_str())?;
        let replaced = tasks.iter().filter(|t| t["last_status"] == "RUNNING" && t["health"] == "HEALTHY").count() == 3;
        (dead["last_status"] == "STOPPED" && replaced).then_some(dead["stopped_reason"].clone())
    });
    let v = show(&c);
    let dead = v["tasks"].as_array().unwrap().iter().find(|t| t["id"] == victim.0.as_str()).unwrap().clone();
    assert!(dead["stopped_reason"].as_str().unwrap().contains("Essential container web exited"), "{dead:#}");
    let second = running(&c, 3, "web:1");

    // An agent restart adopts its host's containers: none is restarted.
    c.kill_agent(0);
    c.start_agent(0);
    wait_for("the restarted agent synced", LONG, || {
        c.logs().contains("found the task containers of a previous agent").then_some(())
    });
    assert_eq!(running(&c, 3, "web:1"), second, "the tasks survived the agent restart unchanged");

    // So does a server crash: the containers keep running and nothing is replaced.
    c.kill_server();
    c.start_server();
    assert_eq!(running(&c, 3, "web:1"), second, "the tasks survived the server crash unchanged");
    assert!(serves(lb, "v1"));

    // A rolling update under load drops no request.
    let load = Load::start(lb, "/index.html", 100, 4);
    c.ferry_ok(&["task-definition", "register", "--file", &taskdef(&dir, &image, "v2")]);
    c.ferry_ok(&["service", "update", "web", "--task-definition", "web:2"]);
    running(&c, 3, "web:2");
    wait_for("v2 served", LONG, || serves(lb, "v2").then_some(()));
    let report = load.stop();
    assert!(report.ok > 100, "{report:?}");
    assert_eq!(report.failed(), 0, "requests failed during the rolling update: {report:?}");
    let events = c.ferry_ok(&["service", "show", "web"]);
    assert!(events.contains("task definition web:1 → web:2"), "{events}");
    assert!(events.contains("Replaced by a newer task definition"), "{events}");

    // Scaling in drains the tasks it stops.
    let load = Load::start(lb, "/index.html", 100, 4);
    c.ferry_ok(&["service", "update", "web", "--desired", "1"]);
    running(&c, 1, "web:2");
    let report = load.stop();
    assert_eq!(report.failed(), 0, "requests failed while scaling in: {report:?}");

    // Deleting the service stops and removes everything.
    c.ferry_ok(&["service", "delete", "web"]);
    wait_for("the service gone", LONG, || {
        let out = c.ferry(&["service", "show", "web"]);
        (!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("does not exist")).then_some(())
    });
    wait_for("no task container left", LONG, || {
        (containers(&c, 0).is_empty() && containers(&c, 1).is_empty()).then_some(())
    });
    drop(cleanup);
    c.stop_server();
}
