//! ECS deployments end to end through the real AWS CLI (issue #15): a
//! service of podman containers behind the built-in proxy (production and
//! test listeners), an application of the ECS compute platform, a
//! deployment group naming the service, and deployments of new task
//! definitions by ECS appspecs. Hooks are this test's own HTTP endpoint.
//!
//! - v1 → v2 with a canary config, under load: no request fails; the test
//!   listener reaches only v2 while production is still on v1 (checked by
//!   the AfterAllowTestTraffic hook); both versions answer during the
//!   canary step; the BeforeAllowTraffic hook reports later through
//!   `put-lifecycle-event-hook-execution-status`; v2 takes all traffic and
//!   the original task set goes.
//! - v3 whose AfterAllowTestTraffic hook answers Failed: the deployment
//!   fails, production stays on v2 throughout, the replacement goes.
//! - A bad appspec (a port the task definition does not map) is refused
//!   at create-deployment.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_testkit::Load;
use support::{Cluster, ClusterOptions, fleet_supported, http_get, wait_for};

const LONG: Duration = Duration::from_secs(120);

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
            "stopTimeout": 2
        }]
    });
    std::fs::write(&path, text.to_string()).unwrap();
    path.display().to_string()
}

fn appspec(taskdef: &str, port: u16, hooks: &[(&str, String)]) -> String {
    let mut text = format!(
        "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        \
         TaskDefinition: \"arn:aws:ecs:us-east-1:000000000000:task-definition/{taskdef}\"\n        \
         LoadBalancerInfo:\n          ContainerName: \"web\"\n          ContainerPort: {port}\n"
    );
    if !hooks.is_empty() {
        text.push_str("Hooks:\n");
        for (event, url) in hooks {
            text.push_str(&format!("  - {event}: \"{url}\"\n"));
        }
    }
    text
}

/// What the hook endpoint saw and answers.
#[derive(Default)]
struct Hooks {
    /// (path, DeploymentId, LifecycleEventHookExecutionId) of each call.
    calls: Vec<(String, String, String)>,
    /// The test listener's and production's answers when the test-traffic hook ran.
    seen_at_test_hook: Option<(Vec<String>, Vec<String>)>,
    /// What `/test-traffic` answers.
    verdict: String,
}

/// A tiny HTTP server for hook calls: `/test-traffic` looks at both
/// listeners and answers the verdict; `/later` answers `{}` (the test
/// reports through the API).
fn hook_server(prod: SocketAddr, test: SocketAddr) -> (SocketAddr, Arc<Mutex<Hooks>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hooks = Arc::new(Mutex::new(Hooks { verdict: "Succeeded".into(), ..Hooks::default() }));
    let shared = hooks.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap_or_default();
            let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap_or_default();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let id = json["DeploymentId"].as_str().unwrap_or("").to_string();
            let execution = json["LifecycleEventHookExecutionId"].as_str().unwrap_or("").to_string();
            let answer = if path == "/test-traffic" {
                let get = |addr| -> Vec<String> {
                    (0..6)
                        .map(|_| {
                            http_get(addr, "/index.html", &[]).map(|(_, b)| b.trim().to_string()).unwrap_or_default()
                        })
                        .collect()
                };
                let seen = (get(test), get(prod));
                let mut h = shared.lock().unwrap();
                h.seen_at_test_hook = Some(seen);
                format!("{{\"status\": \"{}\"}}", h.verdict)
            } else {
                "{}".to_string()
            };
            shared.lock().unwrap().calls.push((path, id, execution));
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (addr, hooks)
}

fn deployment_status(c: &Cluster, id: &str) -> serde_json::Value {
    c.aws_ok(&["get-deployment", "--deployment-id", id])["deploymentInfo"].clone()
}

fn wait_status(c: &Cluster, id: &str) -> serde_json::Value {
    wait_for(&format!("deployment {id} to end"), LONG, || {
        let info = deployment_status(c, id);
        matches!(info["status"].as_str(), Some("Succeeded" | "Failed" | "Stopped")).then_some(info)
    })
}

fn create_deployment(c: &Cluster, content: &str) -> Result<String, String> {
    let revision = serde_json::json!({
        "revisionType": "AppSpecContent",
        "appSpecContent": { "content": content },
    })
    .to_string();
    c.aws(&[
        "create-deployment",
        "--application-name",
        "shop",
        "--deployment-group-name",
        "web",
        "--revision",
        &revision,
    ])
    .map(|v| v["deploymentId"].as_str().unwrap().to_string())
}

/// The service's live task definitions (of running tasks), sorted.
fn running_taskdefs(c: &Cluster) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&c.ferry_ok(&["service", "show", "web", "--json"])).unwrap();
    let mut defs: Vec<String> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["last_status"] != "STOPPED")
        .map(|t| t["task_definition"].as_str().unwrap().to_string())
        .collect();
    defs.sort();
    defs
}

#[test]
fn ecs_deployments_shift_traffic_to_a_replacement_task_set_with_hooks_and_roll_back_on_failure() {
    if !fleet_supported() || !ferry_testkit::podman_available() {
        return;
    }
    let image = ferry_testkit::busybox_image();
    let c = Cluster::start(ClusterOptions {
        hosts: 2,
        tags: |_| vec![("role".into(), "web".into())],
        ..ClusterOptions::default()
    });
    let hosts: Vec<String> = c.fleet.hosts().iter().map(|h| h.name.clone()).collect();
    let _cleanup = Cleanup(hosts);
    let prod = SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    let test = SocketAddr::from(([127, 0, 0, 1], ferry_testkit::free_port()));
    c.ferry_ok(&[
        "lb",
        "create",
        "web",
        "--port",
        "8080",
        "--listen",
        &prod.to_string(),
        "--test-listen",
        &test.to_string(),
        "--health-path",
        "/index.html",
        "--health-interval-ms",
        "200",
        "--healthy-threshold",
        "2",
        "--unhealthy-threshold",
        "2",
        "--deregistration-delay-ms",
        "1000",
    ]);
    wait_for("both hosts ready for containers", LONG, || {
        let list: serde_json::Value = serde_json::from_str(&c.ferry_ok(&["instances", "--json"])).ok()?;
        (list.as_array()?.iter().filter(|i| i["container_engine"].is_string()).count() == 2).then_some(())
    });
    let dir = c.tmp.path().to_path_buf();
    for v in ["v1", "v2", "v3"] {
        c.ferry_ok(&["task-definition", "register", "--file", &taskdef(&dir, &image, v)]);
    }
    c.ferry_ok(&["service", "create", "web", "--task-definition", "web:1", "--desired", "2", "--target-group", "web"]);
    wait_for("v1 served", LONG, || {
        (0..4)
            .all(|_| http_get(prod, "/index.html", &[]).is_some_and(|(s, b)| s == 200 && b.trim() == "v1"))
            .then_some(())
    });

    // The ECS application, a canary config in seconds, and the group.
    let app = c.aws_ok(&["create-application", "--application-name", "shop", "--compute-platform", "ECS"]);
    assert!(app["applicationId"].is_string());
    c.ferry_ok(&["config", "create", "canary-fast", "--compute-platform", "ECS", "--traffic", "canary:50:6s"]);
    let lb = r#"{"targetGroupPairInfoList":[{"targetGroups":[{"name":"web"}],"prodTrafficRoute":{"listenerArns":["arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/1/prod"]},"testTrafficRoute":{"listenerArns":["arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/1/test"]}}]}"#;
    let blue_green = r#"{"terminateBlueInstancesOnDeploymentSuccess":{"action":"TERMINATE","terminationWaitTimeInMinutes":0},"deploymentReadyOption":{"actionOnTimeout":"CONTINUE_DEPLOYMENT"}}"#;
    let group_args = [
        "create-deployment-group",
        "--application-name",
        "shop",
        "--deployment-group-name",
        "web",
        "--service-role-arn",
        "arn:aws:iam::000000000000:role/ecs-codedeploy",
        "--deployment-config-name",
        "canary-fast",
        "--ecs-services",
        "serviceName=web,clusterName=prod",
        "--load-balancer-info",
        lb,
        "--deployment-style",
        "deploymentType=BLUE_GREEN,deploymentOption=WITH_TRAFFIC_CONTROL",
        "--blue-green-deployment-configuration",
        blue_green,
    ];
    // A Server config is refused for an ECS group.
    let mut server_config = group_args.to_vec();
    server_config[8] = "CodeDeployDefault.AllAtOnce";
    let refused = c.aws(&server_config).unwrap_err();
    assert!(refused.contains("compute platform"), "{refused}");
    c.aws_ok(&group_args);
    let group = c.aws_ok(&["get-deployment-group", "--application-name", "shop", "--deployment-group-name", "web"]);
    let info = &group["deploymentGroupInfo"];
    assert_eq!(info["computePlatform"], "ECS", "{info:#}");
    assert_eq!(info["ecsServices"][0]["serviceName"], "web", "{info:#}");
    assert_eq!(info["loadBalancerInfo"]["targetGroupPairInfoList"][0]["targetGroups"][0]["name"], "web", "{info:#}");

    // Bad input: a port the task definition does not map.
    let bad = create_deployment(&c, &appspec("web:2", 9999, &[])).unwrap_err();
    assert!(bad.contains("InvalidRevisionException") && bad.contains("9999"), "{bad}");

    // v1 → v2 under load, with hooks.
    let (hook_addr, hooks) = hook_server(prod, test);
    let hook_list = [
        ("AfterAllowTestTraffic", format!("http://{hook_addr}/test-traffic")),
        ("BeforeAllowTraffic", format!("http://{hook_addr}/later")),
    ];
    let load = Load::start(prod, "/index.html", 100, 4);
    let id = create_deployment(&c, &appspec("web:2", 8080, &hook_list)).unwrap();
    // The BeforeAllowTraffic hook reports through the API.
    let execution = wait_for("the BeforeAllowTraffic hook called", LONG, || {
        let h = hooks.lock().unwrap();
        h.calls.iter().find(|(p, _, _)| p == "/later").map(|(_, d, e)| (d.clone(), e.clone()))
    });
    assert_eq!(execution.0, id);
    let answer = c.aws_ok(&[
        "put-lifecycle-event-hook-execution-status",
        "--deployment-id",
        &id,
        "--lifecycle-event-hook-execution-id",
        &execution.1,
        "--status",
        "Succeeded",
    ]);
    assert_eq!(answer["lifecycleEventHookExecutionId"], execution.1.as_str());
    let info = wait_status(&c, &id);
    let report = load.stop();
    assert_eq!(info["status"], "Succeeded", "{info:#}");
    assert_eq!(info["computePlatform"], "ECS", "{info:#}");
    assert_eq!(report.failed(), 0, "requests failed during the ECS deployment: {report:?}");
    assert!(report.bodies.contains_key("v1") && report.bodies.contains_key("v2"), "{report:?}");
    let (test_seen, prod_seen) = hooks.lock().unwrap().seen_at_test_hook.clone().expect("the test-traffic hook ran");
    assert!(test_seen.iter().all(|b| b == "v2"), "the test listener reached only the replacement: {test_seen:?}");
    assert!(prod_seen.iter().all(|b| b == "v1"), "production stayed on the original: {prod_seen:?}");
    wait_for("v2 alone serves", LONG, || {
        (running_taskdefs(&c) == ["web:2", "web:2"]
            && (0..6).all(|_| http_get(prod, "/index.html", &[]).is_some_and(|(_, b)| b.trim() == "v2")))
        .then_some(())
    });
    // The target as CodeDeploy shows it: the service, its events and task sets.
    let targets = c.aws_ok(&["list-deployment-targets", "--deployment-id", &id]);
    assert_eq!(targets["targetIds"], serde_json::json!(["prod:web"]), "{targets:#}");
    let target = c.aws_ok(&["get-deployment-target", "--deployment-id", &id, "--target-id", "prod:web"]);
    let target = &target["deploymentTarget"];
    assert_eq!(target["deploymentTargetType"], "ECSTarget", "{target:#}");
    let ecs = &target["ecsTarget"];
    assert_eq!(ecs["status"], "Succeeded", "{target:#}");
    let events: Vec<&str> =
        ecs["lifecycleEvents"].as_array().unwrap().iter().map(|e| e["lifecycleEventName"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "BeforeInstall",
            "Install",
            "AfterInstall",
            "AllowTestTraffic",
            "AfterAllowTestTraffic",
            "BeforeAllowTraffic",
            "AllowTraffic",
            "AfterAllowTraffic"
        ],
        "{target:#}"
    );
    let green: Vec<&serde_json::Value> =
        ecs["taskSetsInfo"].as_array().unwrap().iter().filter(|s| s["taskSetLabel"] == "GREEN").collect();
    assert_eq!(green.len(), 1, "{target:#}");
    assert_eq!(
        (green[0]["status"].as_str(), green[0]["trafficWeight"].as_f64()),
        (Some("PRIMARY"), Some(100.0)),
        "{target:#}"
    );
    let shown = c.ferry_ok(&["get", &id]);
    assert!(shown.contains("AfterAllowTestTraffic"), "{shown}");
    let events = c.ferry_ok(&["service", "show", "web"]);
    assert!(events.contains("50% of production traffic on the replacement"), "{events}");
    let page = c.console_page("/console/services/web");
    assert!(page.contains("50% of production traffic on the replacement"), "{page}");
    assert!(page.contains(&format!("/console/deployments/{id}")), "the task set links its deployment: {page}");

    // v3 whose test-traffic hook fails: production stays on v2 throughout.
    hooks.lock().unwrap().verdict = "Failed".into();
    let load = Load::start(prod, "/index.html", 100, 4);
    let id = create_deployment(&c, &appspec("web:3", 8080, &hook_list[..1])).unwrap();
    let info = wait_status(&c, &id);
    let report = load.stop();
    assert_eq!(info["status"], "Failed", "{info:#}");
    assert_eq!(info["errorInformation"]["code"], "HOOK_EXECUTION_FAILURE", "{info:#}");
    assert!(info["errorInformation"]["message"].as_str().unwrap().contains("AfterAllowTestTraffic"), "{info:#}");
    assert!(info["rollbackInfo"]["rollbackMessage"].as_str().unwrap_or("").contains("original task set"), "{info:#}");
    assert_eq!(report.failed(), 0, "{report:?}");
    assert_eq!(report.bodies.keys().collect::<Vec<_>>(), ["v2"], "production stayed on v2: {report:?}");
    wait_for("the failed replacement gone", LONG, || (running_taskdefs(&c) == ["web:2", "web:2"]).then_some(()));
}

/// Removes the task containers a failed run left.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for host in &self.0 {
            let out = std::process::Command::new("podman")
                .args(["ps", "-aq", "--filter", &format!("label=ferry.task-host={host}")])
                .output();
            let ids: Vec<String> = out
                .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect())
                .unwrap_or_default();
            if !ids.is_empty() {
                let _ = std::process::Command::new("podman").args(["rm", "-f", "-t", "0"]).args(&ids).output();
            }
        }
    }
}
