//! CodeBuild's JSON 1.1 API (`POST /`, `X-Amz-Target:
//! CodeBuild_20161006.<Operation>`, signed for `codebuild`) of a real server
//! in this process: the answers and exception names the AWS CLI and SDKs
//! see. No build host runs here, so builds stay queued (IN_PROGRESS in the
//! QUEUED phase) until stopped. Every answer each test got is checked
//! against botocore's output shapes and declared exceptions at its end
//! (`crates/ferry/tests/aws/codebuild_model.py`). The real AWS CLI drives
//! the same operations in `crates/ferry/tests/codebuild_cli.rs`.

mod support;

use std::sync::Mutex;

use serde_json::{Value, json};
use support::*;

const CHECKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ferry/tests/aws/codebuild_model.py");
const ROLE: &str = "arn:aws:iam::000000000000:role/build";
const BUILDSPEC: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hello\n";

/// A CodeBuild client of one key that keeps every answer for the model check.
struct CodeBuild {
    client: Client,
    answers: Mutex<Vec<(String, Value)>>,
}

impl CodeBuild {
    fn new(client: Client) -> Self {
        CodeBuild { client, answers: Mutex::new(Vec::new()) }
    }

    async fn call(&self, operation: &str, input: Value) -> Answer {
        let answer = self.client.codebuild(operation, input).await;
        self.answers.lock().unwrap().push((operation.to_string(), answer.body.clone()));
        answer
    }

    async fn ok(&self, operation: &str, input: Value) -> Value {
        let answer = self.call(operation, input).await;
        assert_eq!(answer.status, 200, "{operation}: {}", answer.body);
        answer.body
    }

    /// A refused call: its status, exception name (the same in `__type`
    /// and `x-amzn-ErrorType`) and message.
    async fn err(&self, operation: &str, input: Value) -> (u16, String, String) {
        let answer = self.call(operation, input).await;
        assert_ne!(answer.status, 200, "{operation} succeeded: {}", answer.body);
        let name = answer.body["__type"].as_str().unwrap_or_else(|| panic!("no __type in {}", answer.body));
        let header = answer.headers.get("x-amzn-errortype").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(header, name, "x-amzn-ErrorType and __type disagree");
        let message = answer.body["message"].as_str().unwrap_or_default().to_string();
        (answer.status, name.to_string(), message)
    }

    /// Checks every answer so far against botocore's model.
    fn check_answers_against_the_model(&self) {
        let mut samples = serde_json::Map::new();
        for (operation, body) in self.answers.lock().unwrap().iter() {
            samples.entry(operation.clone()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(body.clone());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("answers.json");
        std::fs::write(&path, serde_json::to_vec(&Value::Object(samples)).unwrap()).unwrap();
        let out = std::process::Command::new("python3")
            .arg(CHECKER)
            .arg(&path)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("python3 with botocore checks the answers");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "answers disagree with botocore's model:\n{text}");
    }
}

fn no_source_project(name: &str) -> Value {
    json!({
        "name": name,
        "source": { "type": "NO_SOURCE", "buildspec": BUILDSPEC },
        "artifacts": { "type": "NO_ARTIFACTS" },
        "environment": { "type": "LINUX_CONTAINER", "image": "busybox:latest", "computeType": "BUILD_GENERAL1_SMALL" },
        "serviceRole": ROLE,
    })
}

fn with(mut value: Value, extra: Value) -> Value {
    value.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    value
}

#[tokio::test]
async fn projects_are_created_read_listed_updated_and_deleted() {
    let server = TestServer::start().await;
    let cb = CodeBuild::new(server.admin.clone());

    let git = json!({
        "name": "shop",
        "description": "the shop",
        "source": { "type": "GITHUB", "location": "https://github.com/acme/shop.git", "buildspec": "ci/buildspec.yml", "gitCloneDepth": 1 },
        "sourceVersion": "main",
        "artifacts": { "type": "S3", "location": "shop-artifacts" },
        "cache": { "type": "LOCAL", "modes": ["LOCAL_CUSTOM_CACHE"] },
        "environment": {
            "type": "LINUX_CONTAINER", "image": "localhost/builder:1", "computeType": "BUILD_GENERAL1_MEDIUM",
            "environmentVariables": [
                { "name": "STAGE", "value": "test" },
                { "name": "TOKEN", "value": "shop-deploy-token", "type": "SECRETS_MANAGER" },
            ],
        },
        "serviceRole": ROLE,
        "timeoutInMinutes": 30,
        "tags": [{ "key": "team", "value": "shop" }],
        "concurrentBuildLimit": 2,
        "logsConfig": { "cloudWatchLogs": { "status": "ENABLED" } },
    });
    let created = cb.ok("CreateProject", git.clone()).await["project"].clone();
    assert_eq!(created["arn"], "arn:aws:codebuild:us-east-1:000000000000:project/shop");
    assert_eq!(created["source"]["type"], "GITHUB");
    assert_eq!(created["source"]["location"], "https://github.com/acme/shop.git");
    assert_eq!(created["source"]["buildspec"], "ci/buildspec.yml");
    assert_eq!(created["sourceVersion"], "main");
    assert_eq!(created["environment"]["image"], "localhost/builder:1");
    assert_eq!(created["environment"]["environmentVariables"][1]["type"], "SECRETS_MANAGER");
    assert_eq!(created["environment"]["environmentVariables"][1]["value"], "shop-deploy-token");
    assert_eq!(created["cache"]["type"], "LOCAL");
    assert_eq!(
        (created["timeoutInMinutes"].as_i64(), created["queuedTimeoutInMinutes"].as_i64()),
        (Some(30), Some(480))
    );
    assert_eq!(created["tags"], json!([{ "key": "team", "value": "shop" }]));
    assert_eq!(created["concurrentBuildLimit"], 2);
    assert_eq!(created["artifacts"]["location"], "FerryServer", "artifacts stay in ferry's blob store");
    cb.ok("CreateProject", no_source_project("api")).await;
    cb.ok("CreateProject", no_source_project("batch-jobs")).await;

    // Errors: a duplicate, a bad name, what ferry does not do (named).
    let (status, name, message) = cb.err("CreateProject", git.clone()).await;
    assert_eq!((status, name.as_str()), (400, "ResourceAlreadyExistsException"), "{message}");
    assert!(message.contains("shop"), "{message}");
    let (_, name, message) = cb.err("CreateProject", no_source_project("-bad")).await;
    assert_eq!(name, "InvalidInputException");
    assert!(message.contains("at 'name'"), "{message}");
    let vpc = with(no_source_project("vpc"), json!({ "vpcConfig": { "vpcId": "vpc-1" } }));
    let (_, name, message) = cb.err("CreateProject", vpc).await;
    assert_eq!(name, "InvalidInputException");
    assert!(message.contains("vpcConfig"), "{message}");
    let mut privileged = no_source_project("priv");
    privileged["environment"]["privilegedMode"] = json!(true);
    let (_, name, message) = cb.err("CreateProject", privileged).await;
    assert_eq!(name, "InvalidInputException");
    assert!(message.contains("environment.privilegedMode"), "{message}");
    let (_, name, message) =
        cb.err("CreateProject", with(no_source_project("sv"), json!({ "sourceVersion": "main" }))).await;
    assert_eq!(name, "InvalidInputException");
    assert!(message.contains("sourceVersion"), "{message}");
    let (_, name, _) = cb.err("CreateProject", with(no_source_project("x"), json!({ "secret": 1 }))).await;
    assert_eq!(name, "SerializationException");

    // BatchGetProjects: names and ARNs; unknown ones listed apart.
    let got = cb
        .ok(
            "BatchGetProjects",
            json!({ "names": ["arn:aws:codebuild:eu-west-1:123456789012:project/api", "shop", "nope"] }),
        )
        .await;
    let names: Vec<&str> = got["projects"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["api", "shop"]);
    assert_eq!(got["projectsNotFound"], json!(["nope"]));
    assert_eq!(got["projects"][0]["source"]["type"], "NO_SOURCE");
    assert_eq!(got["projects"][0]["source"]["buildspec"], BUILDSPEC);

    // ListProjects: by name ascending by default; descending; by creation.
    let list = cb.ok("ListProjects", json!({})).await;
    assert_eq!(list["projects"], json!(["api", "batch-jobs", "shop"]));
    assert!(list.get("nextToken").is_none());
    let list = cb.ok("ListProjects", json!({ "sortBy": "NAME", "sortOrder": "DESCENDING" })).await;
    assert_eq!(list["projects"], json!(["shop", "batch-jobs", "api"]));
    let list = cb.ok("ListProjects", json!({ "sortBy": "CREATED_TIME" })).await;
    assert_eq!(list["projects"][0], "shop");
    let (_, name, _) = cb.err("ListProjects", json!({ "nextToken": "00zz" })).await;
    assert_eq!(name, "InvalidInputException", "a bad token is bad input for CodeBuild");

    // UpdateProject changes what it names and keeps the rest.
    let updated = cb
        .ok(
            "UpdateProject",
            json!({ "name": "shop", "timeoutInMinutes": 90, "sourceVersion": "release", "concurrentBuildLimit": -1 }),
        )
        .await["project"]
        .clone();
    assert_eq!(updated["timeoutInMinutes"], 90);
    assert_eq!(updated["sourceVersion"], "release");
    assert!(updated.get("concurrentBuildLimit").is_none(), "-1 removes the limit: {updated}");
    assert_eq!(updated["environment"]["image"], "localhost/builder:1", "kept");
    assert_eq!(updated["source"]["location"], "https://github.com/acme/shop.git", "kept");
    assert_eq!(updated["created"], created["created"]);
    let (_, name, message) = cb.err("UpdateProject", json!({ "name": "nope", "timeoutInMinutes": 90 })).await;
    assert_eq!(name, "ResourceNotFoundException");
    assert!(message.contains("nope"), "{message}");
    let (_, name, message) = cb.err("UpdateProject", json!({ "name": "shop", "timeoutInMinutes": 2 })).await;
    assert_eq!(name, "InvalidInputException");
    assert!(message.contains("timeoutInMinutes"), "{message}");
    let (_, name, message) =
        cb.err("UpdateProject", json!({ "name": "shop", "source": { "type": "CODEPIPELINE" } })).await;
    assert_eq!(name, "InvalidInputException");
    assert!(message.contains("source.type"), "{message}");

    // DeleteProject: gone from every answer; deleting again succeeds as on AWS.
    cb.ok("DeleteProject", json!({ "name": "batch-jobs" })).await;
    cb.ok("DeleteProject", json!({ "name": "batch-jobs" })).await;
    let got = cb.ok("BatchGetProjects", json!({ "names": ["batch-jobs"] })).await;
    assert_eq!((got["projects"].clone(), got["projectsNotFound"].clone()), (json!([]), json!(["batch-jobs"])));
    assert_eq!(cb.ok("ListProjects", json!({})).await["projects"], json!(["api", "shop"]));

    cb.check_answers_against_the_model();
}

#[tokio::test]
async fn builds_are_queued_listed_stopped_and_retried() {
    let server = TestServer::start().await;
    let cb = CodeBuild::new(server.admin.clone());
    let mut project = no_source_project("web");
    project["environment"]["environmentVariables"] = json!([{ "name": "MODE", "value": "dev" }]);
    cb.ok("CreateProject", project).await;

    let started = cb
        .ok(
            "StartBuild",
            json!({
                "projectName": "web",
                "environmentVariablesOverride": [{ "name": "MODE", "value": "release" }, { "name": "EXTRA", "value": "1" }],
                "imageOverride": "ferry:workspace",
                "timeoutInMinutesOverride": 10,
                "idempotencyToken": "ignored",
            }),
        )
        .await["build"]
        .clone();
    let id = started["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("web:"), "{id}");
    assert_eq!(started["arn"], format!("arn:aws:codebuild:us-east-1:000000000000:build/{id}"));
    assert_eq!(started["buildNumber"], 1);
    assert_eq!(
        (started["buildStatus"].as_str(), started["currentPhase"].as_str()),
        (Some("IN_PROGRESS"), Some("QUEUED"))
    );
    assert_eq!(started["buildComplete"], false);
    assert_eq!(started["initiator"], ADMIN_KEY_ID);
    assert_eq!(started["timeoutInMinutes"], 10);
    assert_eq!(started["environment"]["image"], "ferry:workspace");
    let vars = &started["environment"]["environmentVariables"];
    assert_eq!(
        vars,
        &json!([{ "name": "MODE", "value": "release", "type": "PLAINTEXT" }, { "name": "EXTRA", "value": "1", "type": "PLAINTEXT" }])
    );
    let phases: Vec<(&str, Option<&str>)> = started["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["phaseType"].as_str().unwrap(), p["phaseStatus"].as_str()))
        .collect();
    assert_eq!(phases, [("SUBMITTED", Some("SUCCEEDED")), ("QUEUED", None)]);
    let log = started["logs"]["deepLink"].as_str().unwrap();
    assert!(log.starts_with(&format!("http://{}/", server.addr)) && log.ends_with("/log"), "{log}");

    // The project itself is unchanged by the overrides.
    let shown = cb.ok("BatchGetProjects", json!({ "names": ["web"] })).await;
    assert_eq!(shown["projects"][0]["environment"]["environmentVariables"][0]["value"], "dev");

    let second = cb.ok("StartBuild", json!({ "projectName": "web" })).await["build"].clone();
    assert_eq!(second["buildNumber"], 2);
    let second_id = second["id"].as_str().unwrap().to_string();

    let (_, name, message) = cb.err("StartBuild", json!({ "projectName": "nope" })).await;
    assert_eq!(name, "ResourceNotFoundException");
    assert!(message.contains("nope"), "{message}");
    let (_, name, message) = cb.err("StartBuild", json!({ "projectName": "web", "sourceVersion": "main" })).await;
    assert_eq!(name, "InvalidInputException");
    assert!(message.contains("sourceVersion"), "{message}");
    let (_, name, message) =
        cb.err("StartBuild", json!({ "projectName": "web", "privilegedModeOverride": true })).await;
    assert_eq!(name, "InvalidInputException");
    assert!(message.contains("privilegedModeOverride"), "{message}");
    let (_, name, message) = cb.err("StartBuild", json!({ "projectName": "web", "debugSessionEnabled": true })).await;
    assert_eq!(name, "InvalidInputException");
    assert!(message.contains("debugSessionEnabled"), "{message}");

    // BatchGetBuilds in the order asked; unknown ids apart.
    let unknown = "web:00000000-0000-0000-0000-000000000000";
    let got = cb.ok("BatchGetBuilds", json!({ "ids": [second_id, id, unknown] })).await;
    let numbers: Vec<i64> =
        got["builds"].as_array().unwrap().iter().map(|b| b["buildNumber"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [2, 1]);
    assert_eq!(got["buildsNotFound"], json!([unknown]));
    let (_, name, _) = cb.err("BatchGetBuilds", json!({ "ids": ["no-colon"] })).await;
    assert_eq!(name, "InvalidInputException");

    // Listings: newest first unless ascending.
    let listed = cb.ok("ListBuildsForProject", json!({ "projectName": "web" })).await;
    assert_eq!(listed["ids"], json!([second_id, id]));
    let listed = cb.ok("ListBuildsForProject", json!({ "projectName": "web", "sortOrder": "ASCENDING" })).await;
    assert_eq!(listed["ids"], json!([id, second_id]));
    assert_eq!(cb.ok("ListBuilds", json!({})).await["ids"], json!([second_id, id]));
    let (_, name, _) = cb.err("ListBuildsForProject", json!({ "projectName": "nope" })).await;
    assert_eq!(name, "ResourceNotFoundException");

    // StopBuild of a queued build: stopped at once, with its phases closed.
    let stopped = cb.ok("StopBuild", json!({ "id": id })).await["build"].clone();
    assert_eq!(
        (stopped["buildStatus"].as_str(), stopped["currentPhase"].as_str()),
        (Some("STOPPED"), Some("COMPLETED"))
    );
    assert_eq!(stopped["buildComplete"], true);
    assert!(stopped["endTime"].as_f64().is_some(), "{stopped}");
    let last = stopped["phases"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["phaseType"], "COMPLETED");
    assert_eq!(stopped["phases"][1]["phaseStatus"], "STOPPED");
    assert!(stopped["phases"][1]["durationInSeconds"].is_i64());
    let again = cb.ok("StopBuild", json!({ "id": id })).await["build"].clone();
    assert_eq!(again["buildStatus"], "STOPPED", "a finished build is answered as it is");
    let (_, name, _) = cb.err("StopBuild", json!({ "id": unknown })).await;
    assert_eq!(name, "ResourceNotFoundException");

    // RetryBuild: a new build with the retried build's settings.
    let retried = cb.ok("RetryBuild", json!({ "id": id })).await["build"].clone();
    assert_eq!(retried["buildNumber"], 3);
    assert_eq!(retried["environment"]["environmentVariables"], *vars);
    assert_eq!(retried["buildStatus"], "IN_PROGRESS");
    let (_, name, _) = cb.err("RetryBuild", json!({ "id": unknown })).await;
    assert_eq!(name, "ResourceNotFoundException");

    cb.check_answers_against_the_model();
}

#[tokio::test]
async fn build_ids_come_100_a_page() {
    let server = TestServer::start().await;
    let cb = CodeBuild::new(server.admin.clone());
    cb.ok("CreateProject", no_source_project("many")).await;
    for _ in 0..101 {
        cb.client.codebuild("StartBuild", json!({ "projectName": "many" })).await;
    }
    let first = cb.ok("ListBuildsForProject", json!({ "projectName": "many", "sortOrder": "ASCENDING" })).await;
    assert_eq!(first["ids"].as_array().unwrap().len(), 100);
    let token = first["nextToken"].as_str().unwrap();
    let (_, name, _) = cb.err("ListBuilds", json!({ "nextToken": token })).await;
    assert_eq!(name, "InvalidInputException", "a token of another listing");
    let second = cb
        .ok("ListBuildsForProject", json!({ "projectName": "many", "sortOrder": "ASCENDING", "nextToken": token }))
        .await;
    assert_eq!(second["ids"].as_array().unwrap().len(), 1);
    assert!(second.get("nextToken").is_none());
    let got = cb.ok("BatchGetBuilds", json!({ "ids": [second["ids"][0]] })).await;
    assert_eq!(got["builds"][0]["buildNumber"], 101);
    cb.check_answers_against_the_model();
}

#[tokio::test]
async fn the_signing_service_must_match_the_target_and_roles_hold() {
    let server = TestServer::start().await;
    let admin = &server.admin;
    // CodeBuild's target signed for codedeploy, and CodeDeploy's for codebuild.
    let answer = admin.aws_target("codedeploy", "CodeBuild_20161006.ListProjects", json!({})).await;
    assert_eq!(answer.body["__type"], "IncompleteSignatureException", "{}", answer.body);
    assert!(answer.body["message"].as_str().unwrap().contains("'codebuild'"), "{}", answer.body);
    let answer = admin.aws_target("codebuild", "CodeDeploy_20141006.ListApplications", json!({})).await;
    assert_eq!(answer.body["__type"], "IncompleteSignatureException", "{}", answer.body);
    assert!(answer.body["message"].as_str().unwrap().contains("'codedeploy'"), "{}", answer.body);
    let answer = admin.aws_target("codebuild", "CodeBuild_20161006.CreateWebhook", json!({})).await;
    assert_eq!(answer.body["__type"], "UnknownOperationException", "{}", answer.body);
    // Both still work when signed right.
    assert_eq!(admin.codebuild("ListProjects", json!({})).await.status, 200);
    admin.aws_ok("ListApplications", json!({})).await;

    // Roles: read-only reads; a scoped deployer does not change build
    // projects (they are outside applications); an unscoped one does.
    let reader = CodeBuild::new(server.key("read-only", &[]).await);
    reader.ok("ListProjects", json!({})).await;
    let (status, name, message) = reader.err("CreateProject", no_source_project("ro")).await;
    assert_eq!((status, name.as_str()), (400, "AccessDeniedException"), "{message}");
    assert!(message.contains("read-only"), "{message}");
    let scoped = CodeBuild::new(server.key("deployer", &["shop"]).await);
    let (_, name, message) = scoped.err("CreateProject", no_source_project("scoped")).await;
    assert_eq!(name, "AccessDeniedException");
    assert!(message.contains("build projects"), "{message}");
    let deployer = CodeBuild::new(server.key("deployer", &[]).await);
    deployer.ok("CreateProject", no_source_project("deployed")).await;
    let build = deployer.ok("StartBuild", json!({ "projectName": "deployed" })).await;
    assert_eq!(build["build"]["initiator"], deployer.client.credentials.access_key_id);
    let (_, name, _) = reader.err("StopBuild", json!({ "id": build["build"]["id"] })).await;
    assert_eq!(name, "AccessDeniedException");
    let agent = server.enrol("host1", &[]).await;
    let answer = agent.client.codebuild("ListProjects", json!({})).await;
    assert_eq!(answer.body["__type"], "AccessDeniedException", "{}", answer.body);

    // The audit log records CodeBuild's changes with the project.
    let (status, audit) = admin.get("/api/v1/audit").await;
    assert_eq!(status, 200, "{audit}");
    let text = audit.to_string();
    assert!(text.contains("CreateProject") && text.contains("build project deployed"), "{text}");
}

/// Test reports as a build host leaves them in the store when a build
/// finishes (written here straight into the server's database, the way
/// the build host protocol stores them).
async fn finish_with_reports(server: &TestServer, build_id: &str, reports: &[ferry_core::build::BuildReport]) {
    let store = ferry_store::Store::open_sqlite(&server.data.path().join("data/ferry.db")).await.unwrap();
    let mut build = store.get_build(build_id).await.unwrap();
    build.status = ferry_core::build::BuildStatus::Succeeded;
    for phase in build.phases.iter_mut().filter(|p| p.end_time.is_none()) {
        phase.status = Some("SUCCEEDED".into());
        phase.end_time = Some(build.queued_time + 1_000);
    }
    build.end_time = Some(build.queued_time + 2_000);
    store.update_build(&build).await.unwrap();
    store.put_build_reports(build_id, reports).await.unwrap();
}

fn unit_report(failed: u64) -> ferry_core::build::BuildReport {
    use ferry_core::build::{BuildReport, TestCaseRecord};
    let case = |name: &str, status: &str| TestCaseRecord {
        suite: "shop".into(),
        prefix: "shop.cart".into(),
        name: name.into(),
        status: status.into(),
        duration_ms: Some(5),
        message: (status == "FAILED").then(|| "expected 2, got 3".into()),
    };
    let mut cases = vec![case("adds_items", "SUCCEEDED"), case("removes_items", "SUCCEEDED")];
    if failed > 0 {
        cases.push(case("totals", "FAILED"));
    }
    BuildReport {
        name: "unit".into(),
        format: "JUNITXML".into(),
        total: cases.len() as u64,
        succeeded: 2,
        failed,
        error: 0,
        skipped: 0,
        unknown: 0,
        duration_ms: 5 * cases.len() as u64,
        cases,
        errors: Vec::new(),
    }
}

#[tokio::test]
async fn test_reports_are_served_by_report_group() {
    let server = TestServer::start().await;
    let cb = CodeBuild::new(server.admin.clone());
    cb.ok("CreateProject", no_source_project("shop")).await;
    let first =
        cb.ok("StartBuild", json!({ "projectName": "shop" })).await["build"]["id"].as_str().unwrap().to_string();
    let second =
        cb.ok("StartBuild", json!({ "projectName": "shop" })).await["build"]["id"].as_str().unwrap().to_string();
    finish_with_reports(&server, &first, &[unit_report(1)]).await;
    finish_with_reports(&server, &second, &[unit_report(0)]).await;
    let group_arn = "arn:aws:codebuild:us-east-1:000000000000:report-group/shop-unit";
    let report_arn = |build: &str| {
        format!("arn:aws:codebuild:us-east-1:000000000000:report/shop-unit:{}", build.split_once(':').unwrap().1)
    };

    let build = cb.ok("BatchGetBuilds", json!({ "ids": [first] })).await["builds"][0].clone();
    assert_eq!(build["reportArns"], json!([report_arn(&first)]));
    assert_eq!(build["buildStatus"], "SUCCEEDED");

    assert_eq!(cb.ok("ListReportGroups", json!({})).await["reportGroups"], json!([group_arn]));
    let groups = cb
        .ok("BatchGetReportGroups", json!({ "reportGroupArns": [group_arn, group_arn.replace("unit", "e2e")] }))
        .await;
    assert_eq!(groups["reportGroups"][0]["name"], "shop-unit");
    assert_eq!(groups["reportGroupsNotFound"], json!([group_arn.replace("unit", "e2e")]));

    let listed = cb.ok("ListReports", json!({})).await;
    assert_eq!(listed["reports"], json!([report_arn(&second), report_arn(&first)]), "newest first");
    let failed = cb
        .ok("ListReportsForReportGroup", json!({ "reportGroupArn": group_arn, "filter": { "status": "FAILED" } }))
        .await;
    assert_eq!(failed["reports"], json!([report_arn(&first)]));
    let (_, name, _) =
        cb.err("ListReportsForReportGroup", json!({ "reportGroupArn": group_arn.replace("unit", "e2e") })).await;
    assert_eq!(name, "ResourceNotFoundException");

    let got = cb.ok("BatchGetReports", json!({ "reportArns": [report_arn(&first), report_arn("shop:nope")] })).await;
    let report = &got["reports"][0];
    assert_eq!((report["status"].as_str(), report["executionId"].as_str()), (Some("FAILED"), build["arn"].as_str()));
    assert_eq!(report["testSummary"]["total"], 3);
    assert_eq!(report["testSummary"]["statusCounts"]["FAILED"], 1);
    assert_eq!(report["testSummary"]["durationInNanoSeconds"], 15_000_000);
    assert_eq!(got["reportsNotFound"], json!([report_arn("shop:nope")]));

    let cases = cb.ok("DescribeTestCases", json!({ "reportArn": report_arn(&first), "maxResults": 2 })).await;
    assert_eq!(cases["testCases"].as_array().unwrap().len(), 2);
    let rest = cb
        .ok(
            "DescribeTestCases",
            json!({ "reportArn": report_arn(&first), "maxResults": 2, "nextToken": cases["nextToken"] }),
        )
        .await;
    assert_eq!(rest["testCases"][0]["name"], "totals");
    assert_eq!(rest["testCases"][0]["message"], "expected 2, got 3");
    assert!(rest.get("nextToken").is_none());
    let filtered = cb
        .ok(
            "DescribeTestCases",
            json!({ "reportArn": report_arn(&first), "filter": { "status": "SUCCEEDED", "keyword": "remove" } }),
        )
        .await;
    assert_eq!(filtered["testCases"].as_array().unwrap().len(), 1);
    let (_, name, _) = cb.err("DescribeTestCases", json!({ "reportArn": report_arn("shop:nope") })).await;
    assert_eq!(name, "ResourceNotFoundException");

    cb.check_answers_against_the_model();
}
