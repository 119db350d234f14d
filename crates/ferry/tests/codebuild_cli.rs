//! CodeBuild's API through the real AWS CLI (`aws codebuild … --endpoint-url`)
//! against a real `ferry server` process over TLS (its own CA, given to the
//! CLI as AWS_CA_BUNDLE) with the admin credentials file it writes. No build
//! host runs, so a started build stays IN_PROGRESS in the QUEUED phase
//! until it is stopped. Needs no root. (Every answer's shape is checked
//! against botocore's model by ferry-server's `tests/codebuild_api.rs`.)

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry_testkit::wait_for;
use serde_json::{Value, json};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const BUILDSPEC: &str = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built by ferry\n";

/// A `ferry server` process, killed when dropped.
struct Server {
    child: Child,
    data: PathBuf,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default());
        }
    }
}

fn start_server(dir: &Path) -> Server {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data = dir.join("data");
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    let mut child = Command::new(FERRY)
        .args(["server", "--data-dir", data.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_for("the server to listen and write its credentials", Duration::from_secs(30), || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the server exited with {status}: {}", std::fs::read_to_string(data.with_extension("log")).unwrap());
        }
        let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
        (log.contains("listening") && data.join("credentials").exists() && data.join("tls/ca.pem").exists())
            .then_some(())
    });
    Server { child, data, url: format!("https://127.0.0.1:{port}") }
}

impl Server {
    /// `aws codebuild ARGS` with the admin credentials: `Ok(json)` or `Err(stderr)`.
    fn aws(&self, args: &[&str]) -> Result<Value, String> {
        let out = Command::new("aws")
            .args(["--endpoint-url", &self.url, "--output", "json", "codebuild"])
            .args(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env("AWS_SHARED_CREDENTIALS_FILE", self.data.join("credentials"))
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_CA_BUNDLE", self.data.join("tls/ca.pem"))
            .env("AWS_DEFAULT_REGION", "eu-west-1")
            .env("AWS_PAGER", "")
            .output()
            .expect("the AWS CLI (pip install awscli)");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    fn aws_ok(&self, args: &[&str]) -> Value {
        self.aws(args).unwrap_or_else(|e| panic!("aws codebuild {args:?} failed:\n{e}"))
    }
}

#[test]
fn the_aws_cli_drives_build_projects_and_builds() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let source = json!({ "type": "NO_SOURCE", "buildspec": BUILDSPEC }).to_string();

    let created = server.aws_ok(&[
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
    ]);
    let project = &created["project"];
    assert_eq!(project["name"], "cli-demo");
    assert_eq!(project["source"]["type"], "NO_SOURCE");
    assert_eq!(project["source"]["buildspec"], BUILDSPEC);
    assert_eq!(project["environment"]["image"], "busybox:latest");
    assert_eq!(project["arn"], "arn:aws:codebuild:us-east-1:000000000000:project/cli-demo");
    let err = server
        .aws(&[
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
        ])
        .unwrap_err();
    assert!(err.contains("ResourceAlreadyExistsException"), "{err}");

    let started = server.aws_ok(&[
        "start-build",
        "--project-name",
        "cli-demo",
        "--environment-variables-override",
        "name=STAGE,value=release,type=PLAINTEXT",
    ])["build"]
        .clone();
    let id = started["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("cli-demo:"), "{id}");
    assert_eq!(started["buildNumber"], 1);
    let err = server.aws(&["start-build", "--project-name", "nope"]).unwrap_err();
    assert!(err.contains("ResourceNotFoundException"), "{err}");

    let got = server.aws_ok(&["batch-get-builds", "--ids", &id, "cli-demo:0000"]);
    let build = &got["builds"][0];
    assert_eq!((build["buildStatus"].as_str(), build["currentPhase"].as_str()), (Some("IN_PROGRESS"), Some("QUEUED")));
    assert_eq!(build["environment"]["environmentVariables"][0]["value"], "release");
    assert_eq!(build["buildComplete"], false);
    assert_eq!(got["buildsNotFound"], json!(["cli-demo:0000"]));

    let listed = server.aws_ok(&["list-builds-for-project", "--project-name", "cli-demo"]);
    assert_eq!(listed["ids"], json!([id]));

    let stopped = server.aws_ok(&["stop-build", "--id", &id])["build"].clone();
    assert_eq!((stopped["buildStatus"].as_str(), stopped["buildComplete"].as_bool()), (Some("STOPPED"), Some(true)));
    assert_eq!(stopped["currentPhase"], "COMPLETED");

    let retried = server.aws_ok(&["retry-build", "--id", &id])["build"].clone();
    assert_eq!(retried["buildNumber"], 2);
    assert_eq!(retried["buildStatus"], "IN_PROGRESS");
    assert_eq!(retried["environment"]["environmentVariables"][0]["value"], "release", "the retried build's settings");
    let listed = server.aws_ok(&["list-builds", "--sort-order", "ASCENDING"]);
    assert_eq!(listed["ids"], json!([id, retried["id"]]));

    let updated = server.aws_ok(&[
        "update-project",
        "--name",
        "cli-demo",
        "--timeout-in-minutes",
        "30",
        "--description",
        "from the CLI",
    ]);
    assert_eq!(updated["project"]["timeoutInMinutes"], 30);
    let err = server.aws(&["update-project", "--name", "cli-demo", "--vpc-config", "vpcId=vpc-1"]).unwrap_err();
    assert!(err.contains("InvalidInputException") && err.contains("vpcConfig"), "{err}");

    let got = server.aws_ok(&["batch-get-projects", "--names", "cli-demo", "missing"]);
    assert_eq!(got["projects"][0]["description"], "from the CLI");
    assert_eq!(got["projects"][0]["tags"], json!([{ "key": "team", "value": "ci" }]));
    assert_eq!(got["projectsNotFound"], json!(["missing"]));
    assert_eq!(server.aws_ok(&["list-projects"])["projects"], json!(["cli-demo"]));

    // No build ran, so there are no test reports yet.
    assert_eq!(server.aws_ok(&["list-reports"])["reports"], json!([]));
    assert_eq!(server.aws_ok(&["list-report-groups"])["reportGroups"], json!([]));

    server.aws_ok(&["delete-project", "--name", "cli-demo"]);
    assert_eq!(server.aws_ok(&["list-projects"])["projects"], json!([]));
    // Builds outlive their project, as on CodeBuild.
    assert_eq!(server.aws_ok(&["batch-get-builds", "--ids", &id])["builds"][0]["buildStatus"], "STOPPED");
}
