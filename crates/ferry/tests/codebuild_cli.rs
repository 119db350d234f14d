//! CodeBuild's API through the real AWS CLI (`aws codebuild … --endpoint-url`)
//! against a real `ferry server` process over TLS (its own CA, given to the
//! CLI as AWS_CA_BUNDLE) with the admin credentials file it writes. No build
//! host runs, so a started build stays IN_PROGRESS in the QUEUED phase
//! until it is stopped. Needs no root. (Every answer's shape is checked
//! against botocore's model by ferry-server's `tests/codebuild_api.rs`.)

mod support;

use serde_json::{Value, json};
use support::server::Server;

const BUILDSPEC: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built by ferry\n";

/// `aws codebuild ARGS` with the admin's credentials: `Ok(json)` or `Err(stderr)`.
fn aws(server: &Server, args: &[&str]) -> Result<Value, String> {
    server.aws("codebuild", args)
}

fn aws_ok(server: &Server, args: &[&str]) -> Value {
    aws(server, args).unwrap_or_else(|e| panic!("aws codebuild {args:?} failed:\n{e}"))
}

#[test]
fn the_aws_cli_drives_build_projects_and_builds() {
    let server = Server::start();
    let source = json!({ "type": "NO_SOURCE", "buildspec": BUILDSPEC }).to_string();

    let created = aws_ok(
        &server,
        &[
            "create-project",
            "--name",
            "cli-demo",
            "--source",
            &source,
            "--artifacts",
            "type=NO_ARTIFACTS",
            "--environment",
            "type=LINUX_CONTAINER,image=busybox:latest,computeType=BUILD_GENERAL1_SMALL,environmentVariables=[{name=STAGE,value=test}]",
            "--service-role",
            "arn:aws:iam::000000000000:role/build",
            "--tags",
            "key=team,value=ci",
        ],
    );
    let project = &created["project"];
    assert_eq!(project["name"], "cli-demo");
    assert_eq!(project["source"]["type"], "NO_SOURCE");
    assert_eq!(project["source"]["buildspec"], BUILDSPEC);
    assert_eq!(project["environment"]["image"], "busybox:latest");
    assert_eq!(project["arn"], "arn:aws:codebuild:us-east-1:000000000000:project/cli-demo");
    let err = aws(
        &server,
        &[
            "create-project",
            "--name",
            "cli-demo",
            "--source",
            &source,
            "--artifacts",
            "type=NO_ARTIFACTS",
            "--environment",
            "type=LINUX_CONTAINER,image=busybox,computeType=BUILD_GENERAL1_SMALL",
            "--service-role",
            "r",
        ],
    )
    .unwrap_err();
    assert!(err.contains("ResourceAlreadyExistsException"), "{err}");

    let started = aws_ok(
        &server,
        &[
            "start-build",
            "--project-name",
            "cli-demo",
            "--environment-variables-override",
            "name=STAGE,value=release,type=PLAINTEXT",
        ],
    )["build"]
        .clone();
    let id = started["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("cli-demo:"), "{id}");
    assert_eq!(started["buildNumber"], 1);
    let err = aws(&server, &["start-build", "--project-name", "nope"]).unwrap_err();
    assert!(err.contains("ResourceNotFoundException"), "{err}");

    let got = aws_ok(&server, &["batch-get-builds", "--ids", &id, "cli-demo:0000"]);
    let build = &got["builds"][0];
    assert_eq!((build["buildStatus"].as_str(), build["currentPhase"].as_str()), (Some("IN_PROGRESS"), Some("QUEUED")));
    assert_eq!(build["environment"]["environmentVariables"][0]["value"], "release");
    assert_eq!(build["buildComplete"], false);
    assert_eq!(got["buildsNotFound"], json!(["cli-demo:0000"]));

    let listed = aws_ok(&server, &["list-builds-for-project", "--project-name", "cli-demo"]);
    assert_eq!(listed["ids"], json!([id]));

    let stopped = aws_ok(&server, &["stop-build", "--id", &id])["build"].clone();
    assert_eq!((stopped["buildStatus"].as_str(), stopped["buildComplete"].as_bool()), (Some("STOPPED"), Some(true)));
    assert_eq!(stopped["currentPhase"], "COMPLETED");

    let retried = aws_ok(&server, &["retry-build", "--id", &id])["build"].clone();
    assert_eq!(retried["buildNumber"], 2);
    assert_eq!(retried["buildStatus"], "IN_PROGRESS");
    assert_eq!(retried["environment"]["environmentVariables"][0]["value"], "release", "the retried build's settings");
    let listed = aws_ok(&server, &["list-builds", "--sort-order", "ASCENDING"]);
    assert_eq!(listed["ids"], json!([id, retried["id"]]));

    let updated = aws_ok(
        &server,
        &["update-project", "--name", "cli-demo", "--timeout-in-minutes", "30", "--description", "from the CLI"],
    );
    assert_eq!(updated["project"]["timeoutInMinutes"], 30);
    let err = aws(&server, &["update-project", "--name", "cli-demo", "--vpc-config", "vpcId=vpc-1"]).unwrap_err();
    assert!(err.contains("InvalidInputException") && err.contains("vpcConfig"), "{err}");

    let got = aws_ok(&server, &["batch-get-projects", "--names", "cli-demo", "missing"]);
    assert_eq!(got["projects"][0]["description"], "from the CLI");
    assert_eq!(got["projects"][0]["tags"], json!([{ "key": "team", "value": "ci" }]));
    assert_eq!(got["projectsNotFound"], json!(["missing"]));
    assert_eq!(aws_ok(&server, &["list-projects"])["projects"], json!(["cli-demo"]));

    // No build ran, so there are no test reports yet.
    assert_eq!(aws_ok(&server, &["list-reports"])["reports"], json!([]));
    assert_eq!(aws_ok(&server, &["list-report-groups"])["reportGroups"], json!([]));

    aws_ok(&server, &["delete-project", "--name", "cli-demo"]);
    assert_eq!(aws_ok(&server, &["list-projects"])["projects"], json!([]));
    // Builds outlive their project, as on CodeBuild.
    assert_eq!(aws_ok(&server, &["batch-get-builds", "--ids", &id])["builds"][0]["buildStatus"], "STOPPED");
}
