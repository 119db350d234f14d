//! Container services on the native API and the container-host protocol
//! of a real server in this process (issue #15): what `ferry service`
//! sees, and what an agent with a container engine is told to run. The
//! agent is played by the test over `/agent/v1/tasks/sync`; no podman.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

fn taskdef(version: &str) -> Value {
    json!({
        "family": "web",
        "containerDefinitions": [{
            "name": "web",
            "image": "localhost/web:1",
            "environment": [{"name": "VERSION", "value": version}],
            "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/web-token"}],
            "portMappings": [{"containerPort": 8080}]
        }]
    })
}

async fn register(server: &TestServer, version: &str) {
    let body = json!({ "file": "taskdef.json", "text": taskdef(version).to_string() });
    let (status, answer) = server.admin.post("/api/v1/task-definitions", body).await;
    assert_eq!(status, 200, "{answer}");
}

async fn service(server: &TestServer) -> Value {
    let (status, body) = server.admin.get("/api/v1/services/web").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// One sync of `host` reporting `tasks`; returns the ids it should run.
async fn sync(host: &Agent, tasks: Value, wait: bool) -> Vec<String> {
    let body = json!({ "engine": "podman 4.3.1", "tasks": tasks, "wait": wait });
    let (status, answer) = host.post("/agent/v1/tasks/sync", body).await;
    assert_eq!(status, 200, "{answer}");
    answer["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

fn running(ids: &[String]) -> Value {
    ids.iter()
        .map(|id| {
            json!({ "id": id, "state": "running", "health": "unknown",
                         "ports": [{"container": "web", "container_port": 8080, "host_port": 40000}] })
        })
        .collect()
}

#[tokio::test]
async fn a_service_is_checked_then_placed_on_container_hosts_and_its_tasks_replaced_and_stopped() {
    let server = TestServer::start().await;
    let (status, _) = server.admin.native("PUT", "/api/v1/secrets/web-token", json!({ "value": "s3cret" })).await;
    assert_eq!(status, 200);
    register(&server, "v1").await;

    // Refused before anything starts, each with its reason.
    let admin = &server.admin;
    let create = |body: Value| async move { admin.post("/api/v1/services", body).await };
    let (status, err) = create(json!({ "name": "web", "task_definition": "nope", "desired_count": 1 })).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("TaskDefinitionDoesNotExist")), "{err}");
    let (status, err) = create(json!({ "name": "no spaces", "task_definition": "web", "desired_count": 1 })).await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = create(json!({ "name": "web", "task_definition": "web", "desired_count": 5000 })).await;
    assert!(status == 400 && err["message"].as_str().unwrap().contains("at most 1000"), "{err}");
    let (status, err) =
        create(json!({ "name": "web", "task_definition": "web", "desired_count": 1, "target_group": "tg" })).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("TargetGroupDoesNotExist")), "{err}");
    let tg = json!({ "name": "tg", "port": 8080, "listen": "127.0.0.1:0" });
    let (status, body) = server.admin.post("/api/v1/target-groups", tg).await;
    assert_eq!(status, 200, "{body}");
    let (status, err) = create(json!({ "name": "web", "task_definition": "web", "desired_count": 1,
                                       "target_group": "tg", "container_port": 9999 }))
    .await;
    assert!(status == 400 && err["message"].as_str().unwrap().contains("does not map port 9999"), "{err}");

    let hosts = [("role", "web")];
    let h1 = server.enrol("h1", &hosts).await;
    let h2 = server.enrol("h2", &hosts).await;
    let other = server.enrol("db", &[("role", "db")]).await;
    for host in [&h1, &h2, &other] {
        assert!(sync(host, json!([]), false).await.is_empty());
    }
    let (status, body) = create(json!({ "name": "web", "task_definition": "web", "desired_count": 3,
                                        "hosts": [{"key": "role", "value": "web"}] }))
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, err) = create(json!({ "name": "web", "task_definition": "web", "desired_count": 1 })).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("ServiceAlreadyExists")), "{err}");

    // Spread over the matching hosts: 2 + 1, none on the db host.
    let (a, b) = eventually("3 tasks placed", Duration::from_secs(10), || async {
        let (a, b) = (sync(&h1, json!([]), false).await, sync(&h2, json!([]), false).await);
        (a.len() + b.len() == 3).then_some((a, b))
    })
    .await;
    assert!(a.len().abs_diff(b.len()) == 1, "{a:?} {b:?}");
    assert!(sync(&other, json!([]), false).await.is_empty());

    // Secrets go to the host that runs the task, and only to it.
    let (status, secrets) = h1.post(&format!("/agent/v1/tasks/{}/secrets", a[0]), json!({})).await;
    assert_eq!(status, 200, "{secrets}");
    assert_eq!(secrets["containers"]["web"]["TOKEN"], "s3cret");
    let (status, _) = h2.post(&format!("/agent/v1/tasks/{}/secrets", a[0]), json!({})).await;
    assert_eq!(status, 400);
    // The sync itself carries no secret value.
    let (_, answer) = h1.post("/agent/v1/tasks/sync", json!({ "engine": "podman", "tasks": [], "wait": false })).await;
    assert!(!answer.to_string().contains("s3cret"), "{answer}");

    // Running: the service says so.
    assert_eq!(sync(&h1, running(&a), false).await.len(), a.len());
    assert_eq!(sync(&h2, running(&b), false).await.len(), b.len());
    let view = service(&server).await;
    assert_eq!((view["running_count"].as_u64(), view["pending_count"].as_u64()), (Some(3), Some(0)), "{view}");

    // A task whose essential container exited is stopped with the reason and replaced.
    let mut reports = running(&a);
    reports[0]["state"] = json!("exited");
    reports[0]["reason"] = json!("Essential container web exited with code 3");
    sync(&h1, reports, false).await;
    eventually("the exited task replaced", Duration::from_secs(10), || async {
        let view = service(&server).await;
        let tasks = view["tasks"].as_array().unwrap();
        let dead = tasks.iter().find(|t| t["id"] == a[0].as_str())?;
        let live = tasks.iter().filter(|t| t["last_status"] != "STOPPED").count();
        (dead["last_status"] == "STOPPED" && live == 3).then(|| {
            assert_eq!(dead["stopped_reason"], "Essential container web exited with code 3");
            assert_eq!(dead["stop_code"], "EssentialContainerExited");
        })
    })
    .await;

    // Scaling in: the host is told to run fewer.
    let (status, body) = server.admin.native("PATCH", "/api/v1/services/web", json!({ "desired_count": 1 })).await;
    assert_eq!(status, 200, "{body}");
    eventually("scaled in to 1", Duration::from_secs(10), || async {
        let (x, y) = (sync(&h1, json!([]), false).await, sync(&h2, json!([]), false).await);
        (x.len() + y.len() == 1).then_some(())
    })
    .await;

    // Deleting: nothing left to run, and once the hosts report nothing, no service.
    let (status, body) = server.admin.native("DELETE", "/api/v1/services/web", json!({})).await;
    assert_eq!(status, 200, "{body}");
    eventually("the service gone", Duration::from_secs(10), || async {
        let (x, y) = (sync(&h1, json!([]), false).await, sync(&h2, json!([]), false).await);
        let (status, _) = server.admin.get("/api/v1/services/web").await;
        (x.is_empty() && y.is_empty() && status == 404).then_some(())
    })
    .await;
    let (status, err) = server.admin.native("PATCH", "/api/v1/services/web", json!({ "desired_count": 2 })).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("ServiceDoesNotExist")), "{err}");
}

#[tokio::test]
async fn a_sync_is_held_until_the_hosts_tasks_change() {
    let server = TestServer::start_with(|c| c.poll_hold = Duration::from_secs(20)).await;
    let (status, _) = server.admin.native("PUT", "/api/v1/secrets/web-token", json!({ "value": "x" })).await;
    assert_eq!(status, 200);
    register(&server, "v1").await;
    let h1 = server.enrol("h1", &[]).await;
    assert!(sync(&h1, json!([]), false).await.is_empty());
    let started = std::time::Instant::now();
    let held = tokio::spawn(async move { sync(&h1, json!([]), true).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = server
        .admin
        .post("/api/v1/services", json!({ "name": "web", "task_definition": "web", "desired_count": 1 }))
        .await;
    assert_eq!(status, 200, "{body}");
    let ids = held.await.unwrap();
    assert_eq!(ids.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(10), "answered when the task was placed, not at the hold's end");
}

/// A hook endpoint that answers `{}` (the verdict comes through the API)
/// and hands over each call's body.
async fn hook_endpoint() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers, then the body by its length.
                loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            let _ = tx.send(serde_json::from_str(body).unwrap_or(Value::Null));
                            break;
                        }
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}").await;
            });
        }
    });
    (url, rx)
}

/// A service `web` (web:1, one task, target group `tg`) and an ECS
/// application `shop` whose group `web` deploys it, with `extra` merged
/// into the group.
async fn ecs_service_and_group(server: &TestServer, extra: Value) {
    let (status, _) = server.admin.native("PUT", "/api/v1/secrets/web-token", json!({ "value": "x" })).await;
    assert_eq!(status, 200);
    register(server, "v1").await;
    register(server, "v2").await;
    let tg = json!({ "name": "tg", "port": 8080, "listen": "127.0.0.1:0" });
    assert_eq!(server.admin.post("/api/v1/target-groups", tg).await.0, 200);
    let body = json!({ "name": "web", "task_definition": "web:1", "desired_count": 1, "target_group": "tg" });
    let (status, answer) = server.admin.post("/api/v1/services", body).await;
    assert_eq!(status, 200, "{answer}");

    let a = &server.admin;
    let app = a.aws_ok("CreateApplication", json!({ "applicationName": "shop", "computePlatform": "ECS" })).await;
    assert!(app["applicationId"].is_string());
    let mut group = json!({
        "applicationName": "shop",
        "deploymentGroupName": "web",
        "serviceRoleArn": "arn:aws:iam::000000000000:role/x",
        "ecsServices": [{ "serviceName": "web", "clusterName": "prod" }],
        "loadBalancerInfo": { "targetGroupPairInfoList": [{ "targetGroups": [{ "name": "tg" }] }] },
        "deploymentStyle": { "deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL" },
        "blueGreenDeploymentConfiguration": {
            "terminateBlueInstancesOnDeploymentSuccess": { "action": "TERMINATE", "terminationWaitTimeInMinutes": 0 }
        }
    });
    // An ECS group names its service, and a service that exists.
    let mut missing = group.clone();
    missing["ecsServices"][0]["serviceName"] = json!("nope");
    let (_, name, _) = a.aws_err("CreateDeploymentGroup", missing).await;
    assert_eq!(name, "InvalidECSServiceException");
    for (key, value) in extra.as_object().unwrap() {
        group[key] = value.clone();
    }
    a.aws_ok("CreateDeploymentGroup", group).await;
}

/// Deploys web:2 with `url` as its BeforeInstall hook; the deployment's id.
async fn deploy_web2(server: &TestServer, url: &str) -> String {
    let content = format!(
        "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        \
         TaskDefinition: web:2\n        LoadBalancerInfo:\n          ContainerName: web\n          ContainerPort: 8080\n\
         Hooks:\n  - BeforeInstall: \"{url}\"\n"
    );
    let created = server
        .admin
        .aws_ok(
            "CreateDeployment",
            json!({ "applicationName": "shop", "deploymentGroupName": "web",
                    "revision": { "revisionType": "AppSpecContent", "appSpecContent": { "content": content } } }),
        )
        .await;
    created["deploymentId"].as_str().unwrap().to_string()
}

/// Waits until the service has one task set again: web:1 with all traffic.
async fn service_put_back(server: &TestServer) {
    eventually("the replacement gone", Duration::from_secs(10), || async {
        let view = service(server).await;
        let sets = view["service"]["task_sets"].as_array().unwrap().clone();
        (sets.len() == 1 && sets[0]["task_definition"] == "web:1" && sets[0]["weight"] == 100).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_ecs_deployment_waits_for_its_hook_past_the_lost_host_limit_and_a_stop_puts_the_service_back() {
    let server = TestServer::start_with(|c| c.agent_lost_after = Duration::from_secs(1)).await;
    ecs_service_and_group(&server, json!({})).await;
    let a = &server.admin;
    // A hook names an http(s) URL; a Lambda function's name is refused.
    let content = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        \
                   TaskDefinition: web:2\n        LoadBalancerInfo:\n          ContainerName: web\n          ContainerPort: 8080\n\
                   Hooks:\n  - BeforeInstall: CheckWeb\n";
    let request = json!({ "applicationName": "shop", "deploymentGroupName": "web",
                          "revision": { "revisionType": "AppSpecContent", "appSpecContent": { "content": content } } });
    let (_, name, message) = a.aws_err("CreateDeployment", request).await;
    assert_eq!(name, "InvalidRevisionException");
    assert!(message.contains("\"CheckWeb\"") && message.contains("http(s) URL"), "{message}");
    let (url, mut calls) = hook_endpoint().await;
    let id = deploy_web2(&server, &url).await;
    let call = tokio::time::timeout(Duration::from_secs(10), calls.recv()).await.expect("the hook is called").unwrap();
    assert_eq!(call["DeploymentId"], id.as_str());
    let execution = call["LifecycleEventHookExecutionId"].as_str().unwrap().to_string();
    // Longer than the lost-host limit: no agent runs an ECS deployment's events.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let info = a.aws_ok("GetDeployment", json!({ "deploymentId": id })).await;
    assert_eq!(info["deploymentInfo"]["status"], "InProgress", "{info}");
    // A wrong execution id is refused; the right one decides.
    let wrong = json!({ "deploymentId": id, "lifecycleEventHookExecutionId": "00000000-0000-0000-0000-000000000000", "status": "Succeeded" });
    let (_, name, _) = a.aws_err("PutLifecycleEventHookExecutionStatus", wrong).await;
    assert_eq!(name, "LifecycleEventAlreadyCompletedException");
    let report = json!({ "deploymentId": id, "lifecycleEventHookExecutionId": execution, "status": "Succeeded" });
    let answer = a.aws_ok("PutLifecycleEventHookExecutionStatus", report).await;
    assert_eq!(answer["lifecycleEventHookExecutionId"], execution.as_str());

    // Install starts the replacement task set beside the original.
    eventually("the replacement task set", Duration::from_secs(10), || async {
        let view = service(&server).await;
        (view["service"]["task_sets"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    let target = a.aws_ok("GetDeploymentTarget", json!({ "deploymentId": id, "targetId": "prod:web" })).await;
    let ecs = &target["deploymentTarget"]["ecsTarget"];
    assert_eq!(target["deploymentTarget"]["deploymentTargetType"], "ECSTarget", "{target}");
    let labels: Vec<&str> =
        ecs["taskSetsInfo"].as_array().unwrap().iter().map(|s| s["taskSetLabel"].as_str().unwrap()).collect();
    assert_eq!(labels, ["BLUE", "GREEN"], "{target}");

    // A stop ends the waiting Install and puts the service back.
    a.aws_ok("StopDeployment", json!({ "deploymentId": id })).await;
    eventually("the deployment stopped", Duration::from_secs(10), || async {
        let info = a.aws_ok("GetDeployment", json!({ "deploymentId": id })).await;
        (info["deploymentInfo"]["status"] == "Stopped").then_some(())
    })
    .await;
    service_put_back(&server).await;
}

/// Alarms watch ECS deployments as they watch servers': one that cannot be
/// evaluated (no Prometheus here) stops the deployment with ALARM_ACTIVE,
/// and the service is put back.
#[tokio::test]
async fn an_alarm_stops_an_ecs_deployment_and_the_service_is_put_back() {
    let server = TestServer::start().await;
    let alarm = json!({ "name": "errors", "expression": "vector(1) > 2" });
    assert_eq!(server.admin.post("/api/v1/alarms", alarm).await.0, 200);
    let extra = json!({
        "alarmConfiguration": { "enabled": true, "alarms": [{ "name": "errors" }] },
        "autoRollbackConfiguration": { "enabled": true, "events": ["DEPLOYMENT_STOP_ON_ALARM"] }
    });
    ecs_service_and_group(&server, extra).await;
    let (url, mut calls) = hook_endpoint().await;
    let id = deploy_web2(&server, &url).await;
    tokio::time::timeout(Duration::from_secs(10), calls.recv()).await.expect("the hook is called").unwrap();
    let a = &server.admin;
    let info = eventually("the deployment stopped by its alarm", Duration::from_secs(15), || async {
        let info = a.aws_ok("GetDeployment", json!({ "deploymentId": id })).await;
        (info["deploymentInfo"]["status"] == "Stopped").then_some(info)
    })
    .await;
    let d = &info["deploymentInfo"];
    assert_eq!(d["errorInformation"]["code"], "ALARM_ACTIVE", "{info}");
    assert!(d["rollbackInfo"]["rollbackMessage"].as_str().unwrap().contains("original task set"), "{info}");
    service_put_back(&server).await;
}
