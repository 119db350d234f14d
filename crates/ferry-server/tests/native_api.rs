//! The native API (`/api/v1`) of a real server in this process: what the
//! `ferry` CLI sees, checked by status, error code and JSON member. No root,
//! no processes; an agent, where one is needed, is played by the test over
//! the agent protocol.

mod support;

use serde_json::json;
use support::*;

/// An application with a group selecting `app=demo` hosts.
async fn app_and_group(server: &TestServer, app: &str) {
    let (status, body) = server.admin.post("/api/v1/applications", json!({ "name": app })).await;
    assert_eq!(status, 200, "{body}");
    let group = json!({ "name": "web", "tag_filters": [{ "key": "app", "value": "demo", "type": "KEY_AND_VALUE" }] });
    let (status, body) = server.admin.post(&format!("/api/v1/applications/{app}/groups"), group).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn applications_are_created_listed_and_refused_when_they_exist_or_are_misnamed() {
    let server = TestServer::start().await;
    let (status, app) = server.admin.post("/api/v1/applications", json!({ "name": "shop" })).await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(app["name"], "shop");
    assert_eq!(app["compute_platform"], "Server");
    assert!(app["id"].as_str().is_some_and(|id| !id.is_empty()), "{app}");

    let (status, list) = server.admin.get("/api/v1/applications").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().iter().filter(|a| a["name"] == "shop").count(), 1, "{list}");

    let (status, err) = server.admin.post("/api/v1/applications", json!({ "name": "shop" })).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("ApplicationAlreadyExists")), "{err}");
    assert_eq!(err["message"], "application shop already exists");

    let (status, err) = server.admin.post("/api/v1/applications", json!({ "name": "no spaces" })).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");

    let (status, err) = server.admin.post("/api/v1/applications", json!({ "nom": "shop" })).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");
    assert!(err["message"].as_str().unwrap().starts_with("bad request body"), "{err}");

    let (status, err) = server.admin.get("/api/v1/applications/nope/groups").await;
    assert_eq!((status, err["code"].as_str()), (404, Some("ApplicationDoesNotExist")), "{err}");
    assert_eq!(err["message"], "application nope does not exist");
}

#[tokio::test]
async fn groups_are_created_and_read_and_refuse_what_they_cannot_use() {
    let server = TestServer::start().await;
    server.admin.post("/api/v1/applications", json!({ "name": "shop" })).await;
    let agent = server.enrol("host1", &[("app", "demo")]).await;
    server.enrol("host2", &[("app", "other")]).await;

    let group = json!({
        "name": "web",
        "tag_filters": [{ "key": "app", "value": "demo", "type": "KEY_AND_VALUE" }],
        "deployment_config_name": "CodeDeployDefault.AllAtOnce",
        "auto_rollback": { "enabled": true, "events": ["DEPLOYMENT_FAILURE"] },
    });
    let (status, created) = server.admin.post("/api/v1/applications/shop/groups", group.clone()).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["name"], "web");
    assert_eq!(created["application_name"], "shop");
    assert_eq!(created["deployment_config_name"], "CodeDeployDefault.AllAtOnce");
    assert_eq!(created["auto_rollback"]["enabled"], true);
    assert_eq!(created["instances"], json!([agent.name]), "only the host whose tags match");

    let (status, got) = server.admin.get("/api/v1/applications/shop/groups/web").await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, created);
    let (status, list) = server.admin.get("/api/v1/applications/shop/groups").await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)), "{list}");

    let (status, err) = server.admin.post("/api/v1/applications/shop/groups", group).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("DeploymentGroupAlreadyExists")), "{err}");

    let (status, err) = server.admin.get("/api/v1/applications/shop/groups/nope").await;
    assert_eq!((status, err["code"].as_str()), (404, Some("DeploymentGroupDoesNotExist")), "{err}");

    let (status, err) = server.admin.post("/api/v1/applications/nope/groups", json!({ "name": "web" })).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("ApplicationDoesNotExist")), "{err}");

    // Blue/green moves traffic, so it needs a target group.
    let blue_green = json!({ "name": "bg", "blue_green": {} });
    let (status, err) = server.admin.post("/api/v1/applications/shop/groups", blue_green).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("needs at least one target group"), "{err}");

    let unknown_alarm = json!({ "name": "alarmed", "alarms": { "alarms": ["no-such-alarm"] } });
    let (status, err) = server.admin.post("/api/v1/applications/shop/groups", unknown_alarm).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("AlarmNotFound")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("no-such-alarm"), "{err}");

    let unknown_tg = json!({ "name": "balanced", "target_groups": ["no-such-tg"] });
    let (status, err) = server.admin.post("/api/v1/applications/shop/groups", unknown_tg).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("TargetGroupDoesNotExist")), "{err}");

    let unknown_config = json!({ "name": "configured", "deployment_config_name": "NoSuchConfig" });
    let (status, err) = server.admin.post("/api/v1/applications/shop/groups", unknown_config).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("DeploymentConfigDoesNotExist")), "{err}");

    let bad_filter = json!({ "name": "filtered", "tag_filters": [{ "key": "app", "type": "SOMETIMES" }] });
    let (status, err) = server.admin.post("/api/v1/applications/shop/groups", bad_filter).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");

    // None of the refused groups was made.
    let (_, list) = server.admin.get("/api/v1/applications/shop/groups").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn configs_check_minimum_healthy_hosts_and_traffic_routing_limits() {
    let server = TestServer::start().await;
    let config = |name: &str, routing: serde_json::Value| {
        json!({
            "name": name,
            "minimum_healthy_hosts": { "type": "FLEET_PERCENT", "value": 50 },
            "traffic_routing": routing,
        })
    };
    let canary = json!({ "type": "TimeBasedCanary", "percentage": 10, "interval_seconds": 60 });
    let (status, created) = server.admin.post("/api/v1/configs", config("Canary10", canary)).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["minimum_healthy_hosts"], json!({ "type": "FLEET_PERCENT", "value": 50 }));
    assert_eq!(created["traffic_routing"]["type"], "TimeBasedCanary");
    assert_eq!(created["traffic_routing"]["percentage"], 10);
    assert_eq!(created["builtin"], false);

    let (status, list) = server.admin.get("/api/v1/configs").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Canary10") && names.contains(&"CodeDeployDefault.OneAtATime"), "{names:?}");

    // The limits of a traffic shift: 1 to 99 %, 1 s to 48 h.
    for (routing, says) in [
        (
            json!({ "type": "TimeBasedCanary", "percentage": 100, "interval_seconds": 60 }),
            "percentage must be between 1 and 99",
        ),
        (
            json!({ "type": "TimeBasedLinear", "percentage": 0, "interval_seconds": 60 }),
            "percentage must be between 1 and 99",
        ),
        (
            json!({ "type": "TimeBasedLinear", "percentage": 10, "interval_seconds": 0 }),
            "interval must be between 1 s and 48 h",
        ),
        (
            json!({ "type": "TimeBasedCanary", "percentage": 10, "interval_seconds": 172_801 }),
            "interval must be between 1 s and 48 h",
        ),
        (json!({ "type": "Sideways" }), "is not AllAtOnce, TimeBasedCanary or TimeBasedLinear"),
    ] {
        let (status, err) = server.admin.post("/api/v1/configs", config("Refused", routing.clone())).await;
        assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{routing}: {err}");
        assert!(err["message"].as_str().unwrap().contains(says), "{routing}: {err}");
    }
    let longest = json!({ "type": "TimeBasedLinear", "percentage": 99, "interval_seconds": 172_800 });
    let (status, body) = server.admin.post("/api/v1/configs", config("Longest", longest)).await;
    assert_eq!(status, 200, "the limits themselves are allowed: {body}");

    let bad_minimum = json!({ "name": "Bad", "minimum_healthy_hosts": { "type": "SOME", "value": 1 } });
    let (status, err) = server.admin.post("/api/v1/configs", bad_minimum).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");

    let reserved = config("CodeDeployDefault.Mine", serde_json::Value::Null);
    let (status, err) = server.admin.post("/api/v1/configs", reserved).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("reserved"), "{err}");

    let (status, err) = server.admin.post("/api/v1/configs", config("Canary10", serde_json::Value::Null)).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("DeploymentConfigAlreadyExists")), "{err}");
}

#[tokio::test]
async fn a_pushed_bundle_is_deployed_by_an_agent_and_listed() {
    let server = TestServer::start().await;
    app_and_group(&server, "shop").await;
    let agent = server.enrol("host1", &[("app", "demo")]).await;
    let revision = server.admin.push_tar("shop", tar_bundle(APPSPEC)).await;
    assert_eq!(revision["bundle_type"], "tar");
    let (status, revisions) = server.admin.get("/api/v1/applications/shop/revisions").await;
    assert_eq!((status, revisions.as_array().map(Vec::len)), (200, Some(1)), "{revisions}");

    let request = json!({
        "application_name": "shop",
        "group_name": "web",
        "revision_id": revision["id"],
        "description": "first",
    });
    let (status, created) = server.admin.post("/api/v1/deployments", request).await;
    assert_eq!(status, 200, "{created}");
    let id = created["deployment_id"].as_str().unwrap().to_string();

    let command = agent.next_command(Some(&id)).await;
    assert_eq!(command["spec"]["application_name"], "shop");
    assert_eq!(command["spec"]["revision"]["sha256"], revision["sha256"]);
    agent.run_deployment(&id).await;

    let view = wait_status(&server.admin, &id, "Succeeded").await;
    assert_eq!(view["revision_id"], revision["id"]);
    assert_eq!(view["description"], "first");
    assert_eq!(view["overview"]["succeeded"], 1, "{view}");
    let host = &view["instances"][0];
    assert_eq!((host["instance"].as_str(), host["status"].as_str()), (Some("host1"), Some("Succeeded")), "{view}");
    assert!(host["events"].as_array().unwrap().iter().all(|e| e["status"] == "Succeeded"), "{view}");

    let (status, list) = server.admin.get("/api/v1/deployments?application=shop&status=Succeeded").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().iter().map(|d| d["id"].clone()).collect::<Vec<_>>(), vec![json!(id)]);
    let (status, err) = server.admin.get("/api/v1/deployments?status=Sideways").await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");

    let (_, group) = server.admin.get("/api/v1/applications/shop/groups/web").await;
    assert_eq!(group["last_successful_deployment_id"], json!(id));
    assert_eq!(group["last_successful_revision_id"], revision["id"]);

    // A deployment of a revision that was never pushed, or to nothing, is refused.
    let missing = json!({ "application_name": "shop", "group_name": "web", "revision_id": "r-nope" });
    let (status, err) = server.admin.post("/api/v1/deployments", missing).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("RevisionDoesNotExist")), "{err}");
    let no_group = json!({ "application_name": "shop", "group_name": "nope", "revision_id": revision["id"] });
    let (status, err) = server.admin.post("/api/v1/deployments", no_group).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("DeploymentGroupDoesNotExist")), "{err}");
    let (status, err) = server.admin.get("/api/v1/deployments/d-NOPE").await;
    assert_eq!((status, err["code"].as_str()), (404, Some("DeploymentDoesNotExist")), "{err}");
}

#[tokio::test]
async fn a_stopped_deployment_tells_the_agent_not_to_go_on_and_stays_stopped() {
    let server = TestServer::start().await;
    app_and_group(&server, "shop").await;
    let agent = server.enrol("host1", &[("app", "demo")]).await;
    let revision = server.admin.push_tar("shop", tar_bundle(APPSPEC)).await;
    let request = json!({ "application_name": "shop", "group_name": "web", "revision_id": revision["id"] });
    let (status, created) = server.admin.post("/api/v1/deployments", request).await;
    assert_eq!(status, 200, "{created}");
    let id = created["deployment_id"].as_str().unwrap().to_string();

    let command = agent.next_command(Some(&id)).await;
    let events: Vec<String> =
        command["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
    assert!(events.len() >= 2, "{command}");
    assert!(agent.report(&command, &events[0], "Started", false).await);
    assert_eq!(native_status(&server.admin, &id).await, "InProgress");

    let (status, stopped) = server.admin.post(&format!("/api/v1/deployments/{id}/stop"), json!({})).await;
    assert_eq!(status, 200, "{stopped}");
    assert!(["Pending", "Succeeded"].contains(&stopped["status"].as_str().unwrap()), "{stopped}");
    // The running event may finish; the next one may not start.
    agent.report(&command, &events[0], "Finished", true).await;
    assert!(!agent.report(&command, &events[1], "Started", false).await, "an event started after the stop");
    let view = wait_status(&server.admin, &id, "Stopped").await;
    assert_eq!(view["error"]["code"], "MANUAL_STOP", "{view}");

    let (status, err) = server.admin.post(&format!("/api/v1/deployments/{id}/stop"), json!({})).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("DeploymentAlreadyCompleted")), "{err}");
    let (status, err) = server.admin.post("/api/v1/deployments/d-NOPE/stop", json!({})).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("DeploymentDoesNotExist")), "{err}");
    let (status, err) = server.admin.post(&format!("/api/v1/deployments/{id}/continue"), json!({})).await;
    assert_eq!(status / 100, 4, "continue on a finished in-place deployment: {err}");
}

#[tokio::test]
async fn target_groups_are_created_shown_kept_while_used_and_deleted() {
    let server = TestServer::start().await;
    let port = ferry_testkit::free_port();
    let tg = json!({
        "name": "front",
        "port": 8080,
        "listen": format!("127.0.0.1:{port}"),
        "health_path": "/health",
        "health_interval_ms": 1000,
        "health_timeout_ms": 500,
        "healthy_threshold": 2,
        "unhealthy_threshold": 2,
        "deregistration_delay_ms": 0,
        "healthy_timeout_ms": 5000,
    });
    let (status, created) = server.admin.post("/api/v1/target-groups", tg.clone()).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["balancer"], "builtin");
    assert_eq!(created["listen"], format!("127.0.0.1:{port}"));
    assert_eq!(created["members"], json!([]));
    let (status, shown) = server.admin.get("/api/v1/target-groups/front").await;
    assert_eq!((status, &shown["name"]), (200, &json!("front")), "{shown}");

    let (status, err) = server.admin.post("/api/v1/target-groups", tg.clone()).await;
    assert_eq!(status / 100, 4, "a second group of the same name: {err}");
    let mut bad = tg.clone();
    bad["name"] = json!("bad");
    bad["listen"] = json!("nowhere");
    let (status, err) = server.admin.post("/api/v1/target-groups", bad).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidTargetGroup")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("is not ip:port"), "{err}");

    // Used by a blue/green group, it cannot go.
    server.admin.post("/api/v1/applications", json!({ "name": "shop" })).await;
    let group = json!({ "name": "bg", "target_groups": ["front"], "blue_green": {} });
    let (status, body) = server.admin.post("/api/v1/applications/shop/groups", group).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["target_groups"], json!(["front"]));
    assert!(body["blue_green"].is_object(), "{body}");
    let (status, err) = server.admin.native("DELETE", "/api/v1/target-groups/front", serde_json::Value::Null).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("TargetGroupInUse")), "{err}");

    let mut unused = tg;
    unused["name"] = json!("spare");
    unused["listen"] = json!(format!("127.0.0.1:{}", ferry_testkit::free_port()));
    let (status, body) = server.admin.post("/api/v1/target-groups", unused).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.admin.native("DELETE", "/api/v1/target-groups/spare", serde_json::Value::Null).await;
    assert_eq!(status, 200, "{body}");
    let (status, err) = server.admin.get("/api/v1/target-groups/spare").await;
    assert_eq!((status, err["code"].as_str()), (404, Some("TargetGroupDoesNotExist")), "{err}");
}

#[tokio::test]
async fn each_role_may_do_what_it_should_and_no_more() {
    let server = TestServer::start().await;
    server.admin.post("/api/v1/applications", json!({ "name": "shop" })).await;
    server.admin.post("/api/v1/applications", json!({ "name": "blog" })).await;

    let reader = server.key("read-only", &[]).await;
    let (status, _) = reader.get("/api/v1/applications").await;
    assert_eq!(status, 200, "a read-only key reads");
    let (status, err) = reader.post("/api/v1/applications", json!({ "name": "mine" })).await;
    assert_eq!((status, err["code"].as_str()), (403, Some("AccessDenied")), "{err}");
    assert!(err["message"].as_str().unwrap().ends_with("is read-only"), "{err}");
    let (status, err) = reader.get("/api/v1/keys").await;
    assert_eq!((status, err["code"].as_str()), (403, Some("AccessDenied")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("is not an admin key"), "{err}");

    let deployer = server.key("deployer", &["shop"]).await;
    let (status, body) = deployer.post("/api/v1/applications/shop/groups", json!({ "name": "web" })).await;
    assert_eq!(status, 200, "a deployer changes its own application: {body}");
    let (status, err) = deployer.post("/api/v1/applications/blog/groups", json!({ "name": "web" })).await;
    assert_eq!((status, err["code"].as_str()), (403, Some("AccessDenied")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("may not change deployment group blog/web"), "{err}");

    let (status, err) = server.admin.post("/api/v1/keys", json!({ "role": "emperor", "description": "" })).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRole")), "{err}");
    let scoped_reader = json!({ "role": "read-only", "description": "", "scopes": ["shop"] });
    let (status, err) = server.admin.post("/api/v1/keys", scoped_reader).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidScope")), "{err}");

    // An agent's credential is for the agent protocol only.
    let agent = server.enrol("host1", &[]).await;
    let (status, err) = agent.client.get("/api/v1/applications").await;
    assert_eq!((status, err["code"].as_str()), (403, Some("AccessDenied")), "{err}");

    // A disabled key is refused at once; enabled again, it works again.
    let reader_id = reader.credentials.access_key_id.clone();
    let (status, body) = server.admin.post(&format!("/api/v1/keys/{reader_id}/disable"), json!({})).await;
    assert_eq!((status, &body["disabled"]), (200, &json!(true)), "{body}");
    let (status, err) = reader.get("/api/v1/applications").await;
    assert_eq!((status, err["code"].as_str()), (403, Some("UnrecognizedClientException")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("is disabled"), "{err}");
    server.admin.post(&format!("/api/v1/keys/{reader_id}/enable"), json!({})).await;
    assert_eq!(reader.get("/api/v1/applications").await.0, 200);

    // The last admin key cannot be disabled.
    let (status, err) = server.admin.post(&format!("/api/v1/keys/{ADMIN_KEY_ID}/disable"), json!({})).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("LastAdminKey")), "{err}");

    // A wrong secret and an unsigned request get nothing.
    let forged = server.client(ADMIN_KEY_ID, "not-the-secret");
    let (status, err) = forged.get("/api/v1/applications").await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(err["code"], "InvalidSignatureException", "{err}");
    let (status, err) = server.admin.unsigned("GET", "/api/v1/applications", Vec::new()).await;
    assert_eq!(status / 100, 4, "{err}");
}
