//! CodeDeploy's JSON 1.1 API (`POST /`, `X-Amz-Target:
//! CodeDeploy_20141006.<Operation>`) of a real server in this process: the
//! answers and exception names the AWS CLI and SDKs see. No root, no
//! processes; an agent, where one is needed, is played by the test. (The
//! Python suite `crates/ferry/tests/aws` drives the real AWS CLI and boto3
//! end to end, on a fleet.)

mod support;

use serde_json::{Value, json};
use support::*;

const ROLE: &str = "arn:aws:iam::000000000000:role/CodeDeploy";

fn tag_filters() -> Value {
    json!([{ "Key": "app", "Value": "demo", "Type": "KEY_AND_VALUE" }])
}

/// An inline revision: the appspec alone.
fn inline_revision() -> Value {
    json!({ "revisionType": "String", "string": { "content": "version: 0.0\nos: linux\n" } })
}

async fn app_and_group(server: &TestServer) {
    server.admin.aws_ok("CreateApplication", json!({ "applicationName": "shop" })).await;
    let group = json!({
        "applicationName": "shop",
        "deploymentGroupName": "web",
        "serviceRoleArn": ROLE,
        "onPremisesInstanceTagFilters": tag_filters(),
    });
    server.admin.aws_ok("CreateDeploymentGroup", group).await;
}

async fn deployment_status(server: &TestServer, id: &str) -> Value {
    server.admin.aws_ok("GetDeployment", json!({ "deploymentId": id })).await["deploymentInfo"].clone()
}

#[tokio::test]
async fn applications_are_created_read_renamed_and_bad_names_get_codedeploys_exceptions() {
    let server = TestServer::start().await;
    let created = server.admin.aws_ok("CreateApplication", json!({ "applicationName": "shop" })).await;
    assert!(created["applicationId"].as_str().is_some_and(|id| !id.is_empty()), "{created}");
    let got = server.admin.aws_ok("GetApplication", json!({ "applicationName": "shop" })).await;
    assert_eq!(got["application"]["applicationName"], "shop");
    assert_eq!(got["application"]["applicationId"], created["applicationId"]);
    assert_eq!(got["application"]["computePlatform"], "Server");

    let list = server.admin.aws_ok("ListApplications", json!({})).await;
    assert_eq!(list["applications"], json!(["shop"]));

    let (status, name, message) = server.admin.aws_err("CreateApplication", json!({ "applicationName": "shop" })).await;
    assert_eq!((status, name.as_str()), (400, "ApplicationAlreadyExistsException"), "{message}");
    let (_, name, message) = server.admin.aws_err("GetApplication", json!({ "applicationName": "nope" })).await;
    assert_eq!(name, "ApplicationDoesNotExistException");
    assert_eq!(message, "No application found for name: nope");
    let (_, name, _) = server.admin.aws_err("GetApplication", json!({})).await;
    assert_eq!(name, "ApplicationNameRequiredException");
    let (_, name, _) = server.admin.aws_err("GetApplication", json!({ "applicationName": "x".repeat(101) })).await;
    assert_eq!(name, "InvalidApplicationNameException");

    let rename = json!({ "applicationName": "shop", "newApplicationName": "store" });
    server.admin.aws_ok("UpdateApplication", rename).await;
    let (_, name, _) = server.admin.aws_err("GetApplication", json!({ "applicationName": "shop" })).await;
    assert_eq!(name, "ApplicationDoesNotExistException");
    server.admin.aws_ok("GetApplication", json!({ "applicationName": "store" })).await;
}

#[tokio::test]
async fn groups_are_created_updated_and_read_and_refuse_what_they_cannot_use() {
    let server = TestServer::start().await;
    server.admin.aws_ok("CreateApplication", json!({ "applicationName": "shop" })).await;
    server.enrol("host1", &[("app", "demo")]).await;

    let group = json!({
        "applicationName": "shop",
        "deploymentGroupName": "web",
        "serviceRoleArn": ROLE,
        "onPremisesInstanceTagFilters": tag_filters(),
    });
    let created = server.admin.aws_ok("CreateDeploymentGroup", group.clone()).await;
    let got = server
        .admin
        .aws_ok("GetDeploymentGroup", json!({ "applicationName": "shop", "deploymentGroupName": "web" }))
        .await;
    let info = &got["deploymentGroupInfo"];
    assert_eq!(info["deploymentGroupId"], created["deploymentGroupId"]);
    assert_eq!(info["serviceRoleArn"], ROLE);
    assert_eq!(info["deploymentConfigName"], "CodeDeployDefault.OneAtATime");
    assert_eq!(info["onPremisesInstanceTagFilters"], tag_filters());
    assert_eq!(info["deploymentStyle"]["deploymentType"], "IN_PLACE");

    let (_, name, _) = server.admin.aws_err("CreateDeploymentGroup", group.clone()).await;
    assert_eq!(name, "DeploymentGroupAlreadyExistsException");

    // An update changes what it names and keeps the rest; a rename moves the group.
    let update = json!({
        "applicationName": "shop",
        "currentDeploymentGroupName": "web",
        "newDeploymentGroupName": "www",
        "deploymentConfigName": "CodeDeployDefault.AllAtOnce",
    });
    let updated = server.admin.aws_ok("UpdateDeploymentGroup", update).await;
    assert_eq!(updated["hooksNotCleanedUp"], json!([]));
    let got = server
        .admin
        .aws_ok("GetDeploymentGroup", json!({ "applicationName": "shop", "deploymentGroupName": "www" }))
        .await;
    let info = &got["deploymentGroupInfo"];
    assert_eq!(info["deploymentConfigName"], "CodeDeployDefault.AllAtOnce");
    assert_eq!(info["onPremisesInstanceTagFilters"], tag_filters(), "kept");
    assert_eq!(info["deploymentGroupId"], created["deploymentGroupId"]);
    let (_, name, _) = server
        .admin
        .aws_err("GetDeploymentGroup", json!({ "applicationName": "shop", "deploymentGroupName": "web" }))
        .await;
    assert_eq!(name, "DeploymentGroupDoesNotExistException");
    let list = server.admin.aws_ok("ListDeploymentGroups", json!({ "applicationName": "shop" })).await;
    assert_eq!(list["deploymentGroups"], json!(["www"]));

    let refused = |name: &str, extra: Value| {
        let mut g = json!({ "applicationName": "shop", "deploymentGroupName": name, "serviceRoleArn": ROLE });
        g.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        g
    };
    let cases = [
        (refused("norole", json!({ "serviceRoleArn": "" })), "RoleRequiredException"),
        (refused("badrole", json!({ "serviceRoleArn": "arn:aws:s3:::bucket" })), "InvalidRoleException"),
        (
            refused(
                "bg",
                json!({ "deploymentStyle": { "deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL" } }),
            ),
            "InvalidLoadBalancerInfoException",
        ),
        (
            refused("bgplain", json!({ "deploymentStyle": { "deploymentType": "BLUE_GREEN" } })),
            "InvalidDeploymentStyleException",
        ),
        (
            refused("notg", json!({ "loadBalancerInfo": { "targetGroupInfoList": [{ "name": "no-such-tg" }] } })),
            "InvalidLoadBalancerInfoException",
        ),
        (
            refused("noconfig", json!({ "deploymentConfigName": "NoSuchConfig" })),
            "DeploymentConfigDoesNotExistException",
        ),
        (
            refused(
                "both",
                json!({ "onPremisesInstanceTagFilters": tag_filters(), "onPremisesTagSet": { "onPremisesTagSetList": [tag_filters()] } }),
            ),
            "InvalidOnPremisesTagCombinationException",
        ),
        (refused("asg", json!({ "autoScalingGroups": ["asg-1"] })), "InvalidAutoScalingGroupException"),
        (
            refused("alarmless", json!({ "alarmConfiguration": { "enabled": true, "alarms": [] } })),
            "InvalidAlarmConfigException",
        ),
    ];
    for (input, want) in cases {
        let (status, name, message) = server.admin.aws_err("CreateDeploymentGroup", input.clone()).await;
        assert_eq!((status, name.as_str()), (400, want), "{input}: {message}");
    }
    let (_, name, _) =
        server.admin.aws_err("CreateDeploymentGroup", refused("orphan", json!({ "applicationName": "nope" }))).await;
    assert_eq!(name, "ApplicationDoesNotExistException");
    let list = server.admin.aws_ok("ListDeploymentGroups", json!({ "applicationName": "shop" })).await;
    assert_eq!(list["deploymentGroups"], json!(["www"]), "no refused group was made");
}

/// A group's alarms must exist, on the AWS API as on the native one (one
/// rule, in `ops::groups`).
#[tokio::test]
async fn a_group_naming_an_unknown_alarm_is_refused() {
    let server = TestServer::start().await;
    server.admin.aws_ok("CreateApplication", json!({ "applicationName": "shop" })).await;
    let group = json!({
        "applicationName": "shop",
        "deploymentGroupName": "web",
        "serviceRoleArn": ROLE,
        "alarmConfiguration": { "enabled": true, "alarms": [{ "name": "no-such-alarm" }] },
    });
    let (status, name, message) = server.admin.aws_err("CreateDeploymentGroup", group).await;
    assert_eq!((status, name.as_str()), (400, "InvalidAlarmConfigException"));
    assert!(message.contains("no-such-alarm"), "{message}");
}

/// autoScalingGroups name ferry scaling groups: the group targets their
/// hosts (which enrol with the scaling group's tag) besides its tags.
#[tokio::test]
async fn a_group_naming_a_scaling_group_targets_its_hosts() {
    let server = TestServer::start().await;
    let a = &server.admin;
    // Desired 0: nothing is launched here.
    let scaling = json!({ "name": "web", "provider": "command", "launch_command": "false", "terminate_command": "true",
                          "min": 0, "desired": 0, "max": 3, "tags": [{ "key": "role", "value": "web" }] });
    let (status, body) = a.post("/api/v1/scaling-groups", scaling).await;
    assert_eq!(status, 200, "{body}");
    a.aws_ok("CreateApplication", json!({ "applicationName": "shop" })).await;
    let group = json!({
        "applicationName": "shop",
        "deploymentGroupName": "asg",
        "serviceRoleArn": ROLE,
        "autoScalingGroups": ["web"],
        "terminationHookEnabled": true,
    });
    a.aws_ok("CreateDeploymentGroup", group).await;
    let info = a.aws_ok("GetDeploymentGroup", json!({ "applicationName": "shop", "deploymentGroupName": "asg" })).await;
    assert_eq!(
        info["deploymentGroupInfo"]["autoScalingGroups"],
        json!([{ "name": "web", "hook": "ferry-launch-asg", "terminationHook": "ferry-termination-asg" }])
    );
    // A host of the scaling group, and one that only shares its other tag.
    for (name, key, value) in [("web-1", "ferry-scaling-group", "web"), ("other", "role", "web")] {
        let register = json!({ "instanceName": name, "iamUserArn": format!("arn:aws:iam::000000000000:user/{name}") });
        a.aws_ok("RegisterOnPremisesInstance", register).await;
        let tags = json!({ "instanceNames": [name], "tags": [{ "Key": key, "Value": value }] });
        a.aws_ok("AddTagsToOnPremisesInstances", tags).await;
    }
    let (status, view) = a.get("/api/v1/applications/shop/groups/asg").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["instances"], json!(["web-1"]), "{view}");
    // `[]` removes them; omitting them keeps them.
    let update = json!({ "applicationName": "shop", "currentDeploymentGroupName": "asg", "autoScalingGroups": [] });
    a.aws_ok("UpdateDeploymentGroup", update).await;
    let info = a.aws_ok("GetDeploymentGroup", json!({ "applicationName": "shop", "deploymentGroupName": "asg" })).await;
    assert_eq!(info["deploymentGroupInfo"]["autoScalingGroups"], json!([]));
}

#[tokio::test]
async fn configs_check_traffic_routing_limits_in_minutes() {
    let server = TestServer::start().await;
    let config = |name: &str, routing: Value| {
        json!({
            "deploymentConfigName": name,
            "minimumHealthyHosts": { "type": "HOST_COUNT", "value": 1 },
            "trafficRoutingConfig": routing,
        })
    };
    let canary =
        json!({ "type": "TimeBasedCanary", "timeBasedCanary": { "canaryPercentage": 10, "canaryInterval": 5 } });
    let created = server.admin.aws_ok("CreateDeploymentConfig", config("Canary10", canary)).await;
    assert!(created["deploymentConfigId"].is_string(), "{created}");
    let got = server.admin.aws_ok("GetDeploymentConfig", json!({ "deploymentConfigName": "Canary10" })).await;
    let info = &got["deploymentConfigInfo"];
    assert_eq!(info["minimumHealthyHosts"], json!({ "type": "HOST_COUNT", "value": 1 }));
    assert_eq!(info["trafficRoutingConfig"]["timeBasedCanary"], json!({ "canaryPercentage": 10, "canaryInterval": 5 }));
    assert_eq!(info["computePlatform"], "Server");

    // 1 to 99 %, 1 to 2880 minutes: the native API's 1 s to 48 h.
    for routing in [
        json!({ "type": "TimeBasedCanary", "timeBasedCanary": { "canaryPercentage": 100, "canaryInterval": 5 } }),
        json!({ "type": "TimeBasedLinear", "timeBasedLinear": { "linearPercentage": 0, "linearInterval": 5 } }),
        json!({ "type": "TimeBasedLinear", "timeBasedLinear": { "linearPercentage": 10, "linearInterval": 0 } }),
        json!({ "type": "TimeBasedCanary", "timeBasedCanary": { "canaryPercentage": 10, "canaryInterval": 2881 } }),
        json!({ "type": "TimeBasedCanary" }),
        json!({ "type": "Sideways" }),
    ] {
        let (status, name, message) =
            server.admin.aws_err("CreateDeploymentConfig", config("Refused", routing.clone())).await;
        assert_eq!(
            (status, name.as_str()),
            (400, "InvalidTrafficRoutingConfigurationException"),
            "{routing}: {message}"
        );
    }
    let longest =
        json!({ "type": "TimeBasedLinear", "timeBasedLinear": { "linearPercentage": 99, "linearInterval": 2880 } });
    server.admin.aws_ok("CreateDeploymentConfig", config("Longest", longest)).await;

    let (_, name, _) =
        server.admin.aws_err("CreateDeploymentConfig", json!({ "deploymentConfigName": "NoMinimum" })).await;
    assert_eq!(name, "InvalidMinimumHealthyHostValueException");
    let (_, name, _) = server.admin.aws_err("CreateDeploymentConfig", config("Canary10", Value::Null)).await;
    assert_eq!(name, "DeploymentConfigAlreadyExistsException");
    let (_, name, _) = server.admin.aws_err("GetDeploymentConfig", json!({ "deploymentConfigName": "Nope" })).await;
    assert_eq!(name, "DeploymentConfigDoesNotExistException");
    let list = server.admin.aws_ok("ListDeploymentConfigs", json!({})).await;
    let names = list["deploymentConfigsList"].as_array().unwrap();
    assert!(names.contains(&json!("Canary10")) && names.contains(&json!("CodeDeployDefault.AllAtOnce")), "{list}");
}

#[tokio::test]
async fn an_inline_revision_is_deployed_by_an_agent_listed_and_cannot_be_stopped_when_done() {
    let server = TestServer::start().await;
    app_and_group(&server).await;
    let agent = server.enrol("host1", &[("app", "demo")]).await;
    let input = json!({
        "applicationName": "shop",
        "deploymentGroupName": "web",
        "revision": inline_revision(),
        "description": "inline",
    });
    let created = server.admin.aws_ok("CreateDeployment", input).await;
    let id = created["deploymentId"].as_str().unwrap().to_string();

    agent.next_command(Some(&id)).await;
    agent.run_deployment(&id).await;
    let info = eventually("the deployment to succeed", std::time::Duration::from_secs(10), || async {
        let info = deployment_status(&server, &id).await;
        (info["status"] == "Succeeded").then_some(info)
    })
    .await;
    assert_eq!(info["applicationName"], "shop");
    assert_eq!(info["deploymentGroupName"], "web");
    assert_eq!(info["description"], "inline");
    assert_eq!(info["revision"]["revisionType"], "String");
    assert_eq!(info["deploymentOverview"]["Succeeded"], 1, "{info}");
    assert_eq!(info["creator"], "user");

    let list = server
        .admin
        .aws_ok("ListDeployments", json!({ "applicationName": "shop", "deploymentGroupName": "web" }))
        .await;
    assert_eq!(list["deployments"], json!([id]));
    let targets = server.admin.aws_ok("ListDeploymentTargets", json!({ "deploymentId": id })).await;
    assert_eq!(targets["targetIds"], json!(["host1"]));
    let group = server
        .admin
        .aws_ok("GetDeploymentGroup", json!({ "applicationName": "shop", "deploymentGroupName": "web" }))
        .await;
    assert_eq!(group["deploymentGroupInfo"]["lastSuccessfulDeployment"]["deploymentId"], json!(id));

    let (_, name, _) = server.admin.aws_err("StopDeployment", json!({ "deploymentId": id })).await;
    assert_eq!(name, "DeploymentAlreadyCompletedException");
}

#[tokio::test]
async fn a_running_deployment_is_stopped_and_its_agent_told_not_to_go_on() {
    let server = TestServer::start().await;
    app_and_group(&server).await;
    let agent = server.enrol("host1", &[("app", "demo")]).await;
    let input = json!({ "applicationName": "shop", "deploymentGroupName": "web", "revision": inline_revision() });
    let id = server.admin.aws_ok("CreateDeployment", input).await["deploymentId"].as_str().unwrap().to_string();
    let command = agent.next_command(Some(&id)).await;
    let first = command["events"][0].as_str().unwrap();
    let second = command["events"][1].as_str().unwrap();
    assert!(agent.report(&command, first, "Started", false).await);

    let stopped = server.admin.aws_ok("StopDeployment", json!({ "deploymentId": id })).await;
    assert!(["Pending", "Succeeded"].contains(&stopped["status"].as_str().unwrap()), "{stopped}");
    assert!(stopped["statusMessage"].is_string(), "{stopped}");
    agent.report(&command, first, "Finished", true).await;
    assert!(!agent.report(&command, second, "Started", false).await, "an event started after the stop");
    let info = eventually("the deployment to stop", std::time::Duration::from_secs(10), || async {
        let info = deployment_status(&server, &id).await;
        (info["status"] == "Stopped").then_some(info)
    })
    .await;
    assert_eq!(info["errorInformation"]["code"], "MANUAL_STOP", "{info}");
}

#[tokio::test]
async fn bad_requests_get_codedeploys_exception_names() {
    let server = TestServer::start().await;
    app_and_group(&server).await;
    let admin = &server.admin;

    let (_, name, _) = admin.aws_err("GetDeployment", json!({ "deploymentId": "d-nope" })).await;
    assert_eq!(name, "InvalidDeploymentIdException");
    let (_, name, message) = admin.aws_err("GetDeployment", json!({ "deploymentId": "d-AAAAAAAAA" })).await;
    assert_eq!(name, "DeploymentDoesNotExistException", "{message}");
    let (_, name, _) = admin.aws_err("GetDeployment", json!({})).await;
    assert_eq!(name, "DeploymentIdRequiredException");
    let (_, name, _) =
        admin.aws_err("CreateDeployment", json!({ "applicationName": "shop", "deploymentGroupName": "web" })).await;
    assert_eq!(name, "RevisionRequiredException");
    let bad_type =
        json!({ "applicationName": "shop", "deploymentGroupName": "web", "revision": { "revisionType": "Floppy" } });
    let (_, name, _) = admin.aws_err("CreateDeployment", bad_type).await;
    assert_eq!(name, "InvalidRevisionException");
    let bad_appspec = json!({
        "applicationName": "shop",
        "deploymentGroupName": "web",
        "revision": { "revisionType": "String", "string": { "content": "version: 0.0\nos: linux\nhooks:\n  AfterInstal: []\n" } },
    });
    let (_, name, message) = admin.aws_err("CreateDeployment", bad_appspec).await;
    assert_eq!(name, "InvalidRevisionException");
    assert!(message.contains("AfterInstal"), "{message}");
    let no_group = json!({ "applicationName": "shop", "deploymentGroupName": "nope", "revision": inline_revision() });
    let (_, name, _) = admin.aws_err("CreateDeployment", no_group).await;
    assert_eq!(name, "DeploymentGroupDoesNotExistException");
    let (_, name, _) = admin
        .aws_err(
            "ListDeployments",
            json!({ "applicationName": "shop", "deploymentGroupName": "web", "includeOnlyStatuses": ["Sideways"] }),
        )
        .await;
    assert_eq!(name, "InvalidDeploymentStatusException");

    // Members the operation does not have, operations CodeDeploy does not have, no operation.
    let (_, name, _) = admin.aws_err("GetApplication", json!({ "applicationName": "shop", "colour": "red" })).await;
    assert_eq!(name, "SerializationException");
    let (_, name, _) = admin.aws_err("LaunchRocket", json!({})).await;
    assert_eq!(name, "UnknownOperationException");
    let answer = admin
        .send(
            ferry_aws::SIGNING_SERVICE,
            "POST",
            "/",
            &[("content-type", "application/x-amz-json-1.1")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(answer.body["__type"], "UnknownOperationException", "{}", answer.body);
    let answer = admin
        .send(
            ferry_aws::SIGNING_SERVICE,
            "POST",
            "/",
            &[("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "CodeDeploy_20141006.ListApplications")],
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(answer.body["__type"], "SerializationException", "{}", answer.body);

    // Signatures: a wrong secret, an unknown key, the native API's service name.
    let (status, name, _) = server.client(ADMIN_KEY_ID, "wrong").aws_err("ListApplications", json!({})).await;
    assert_eq!((status, name.as_str()), (403, "InvalidSignatureException"));
    let (status, name, _) = server.client("FKIANOSUCHKEY0000000", "x").aws_err("ListApplications", json!({})).await;
    assert_eq!((status, name.as_str()), (403, "UnrecognizedClientException"));
    let answer = admin
        .send(
            ferry_proto::SIGNING_SERVICE,
            "POST",
            "/",
            &[("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "CodeDeploy_20141006.ListApplications")],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(answer.status, 400, "signed for the native API's service: {}", answer.body);
    assert_eq!(answer.body["__type"], "IncompleteSignatureException");
    assert!(answer.body["message"].as_str().unwrap().contains("'codedeploy'"), "{}", answer.body);
    assert!(answer.headers.get("x-amzn-requestid").is_some(), "every answer has a request id");
}

#[tokio::test]
async fn a_read_only_key_reads_but_is_denied_every_change_and_agents_are_denied_the_api() {
    let server = TestServer::start().await;
    app_and_group(&server).await;
    let reader = server.key("read-only", &[]).await;
    let list = reader.aws_ok("ListApplications", json!({})).await;
    assert_eq!(list["applications"], json!(["shop"]));
    for (operation, input) in [
        ("CreateApplication", json!({ "applicationName": "mine" })),
        ("DeleteApplication", json!({ "applicationName": "shop" })),
        (
            "CreateDeployment",
            json!({ "applicationName": "shop", "deploymentGroupName": "web", "revision": inline_revision() }),
        ),
        ("UpdateDeploymentGroup", json!({ "applicationName": "shop", "currentDeploymentGroupName": "web" })),
        ("CreateDeploymentConfig", json!({ "deploymentConfigName": "Mine" })),
    ] {
        let (status, name, message) = reader.aws_err(operation, input).await;
        assert_eq!((status, name.as_str()), (400, "AccessDeniedException"), "{operation}: {message}");
        assert!(message.contains("is read-only") && message.contains(operation), "{operation}: {message}");
    }
    server.admin.aws_ok("GetApplication", json!({ "applicationName": "shop" })).await;

    let deployer = server.key("deployer", &["shop/web"]).await;
    let other = json!({ "applicationName": "shop", "deploymentGroupName": "api", "serviceRoleArn": ROLE });
    let (_, name, message) = deployer.aws_err("CreateDeploymentGroup", other).await;
    assert_eq!(name, "AccessDeniedException");
    assert!(message.contains("may not change deployment group shop/api"), "{message}");

    let agent = server.enrol("host1", &[]).await;
    let (_, name, message) = agent.client.aws_err("ListApplications", json!({})).await;
    assert_eq!(name, "AccessDeniedException");
    assert!(message.contains("belongs to an agent"), "{message}");
}
