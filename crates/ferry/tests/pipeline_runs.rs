//! The seeds' pipeline end to end, black-box (issue #14): a git repository
//! on this machine, a server, a build host and fleet hosts for staging (two hosts, HalfAtATime) and
//! two production groups. Source → Build (a buildspec that packs an
//! appspec) → Deploy to staging → Manual approval (through the AWS CLI) →
//! Deploy to both production groups at once. The server is killed while the
//! build runs and comes back: the build goes on, its end is picked up, and
//! nothing runs twice.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

const LONG: Duration = Duration::from_secs(180);

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=ferry", "-c", "user.email=ferry@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs (apt-get install git)");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

const BUILDSPEC: &str = r#"version: 0.2
env:
  exported-variables: [VERSION]
phases:
  build:
    commands:
      - while [ ! -f "$GATE" ]; do sleep 0.1; done
      - mkdir -p dist && cp appspec.yml index.html dist/ && echo "$COMMIT" > dist/COMMIT
      - export VERSION=$(cat VERSION)
artifacts:
  files: ['**/*']
  base-directory: dist
"#;

const APPSPEC: &str = "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /opt/shop\n";

/// A bare repository with the shop's first commit pushed; returns its URL
/// and the commit.
fn repository(root: &Path) -> (String, String) {
    let bare = root.join("shop.git");
    let work = root.join("shop");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--quiet", "--bare", "--initial-branch=main"]);
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(work.join("appspec.yml"), APPSPEC).unwrap();
    std::fs::write(work.join("buildspec.yml"), BUILDSPEC).unwrap();
    std::fs::write(work.join("index.html"), "<h1>shop 1</h1>\n").unwrap();
    std::fs::write(work.join("VERSION"), "1\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "--quiet", "-m", "shop 1"]);
    git(&work, &["push", "--quiet", bare.to_str().unwrap(), "main"]);
    (format!("file://{}", bare.display()), git(&work, &["rev-parse", "HEAD"]))
}

fn pipeline(repo: &str, gate: &Path) -> String {
    format!(
        r##"name: shop
stages:
  - name: Source
    actions:
      - name: Checkout
        namespace: SourceVariables
        actionTypeId: {{category: Source, owner: AWS, provider: CodeStarSourceConnection, version: "1"}}
        configuration: {{FullRepositoryId: "{repo}", BranchName: main}}
        outputArtifacts: [{{name: src}}]
  - name: Build
    actions:
      - name: Package
        namespace: BuildVariables
        actionTypeId: {{category: Build, owner: AWS, provider: CodeBuild, version: "1"}}
        configuration:
          ProjectName: shop-build
          EnvironmentVariables: '[{{"name":"COMMIT","value":"#{{SourceVariables.CommitId}}"}},{{"name":"GATE","value":"{gate}"}}]'
        inputArtifacts: [{{name: src}}]
        outputArtifacts: [{{name: bundle}}]
  - name: Staging
    actions:
      - name: DeployStaging
        actionTypeId: {{category: Deploy, owner: AWS, provider: CodeDeploy, version: "1"}}
        configuration: {{ApplicationName: shop, DeploymentGroupName: staging}}
        inputArtifacts: [{{name: bundle}}]
  - name: Approve
    actions:
      - name: Release
        actionTypeId: {{category: Approval, owner: AWS, provider: Manual, version: "1"}}
        configuration: {{CustomData: "Release version #{{BuildVariables.VERSION}} to production?"}}
  - name: Production
    actions:
      - name: DeployA
        actionTypeId: {{category: Deploy, owner: AWS, provider: CodeDeploy, version: "1"}}
        configuration: {{ApplicationName: shop, DeploymentGroupName: prod-a}}
        inputArtifacts: [{{name: bundle}}]
      - name: DeployB
        actionTypeId: {{category: Deploy, owner: AWS, provider: CodeDeploy, version: "1"}}
        configuration: {{ApplicationName: shop, DeploymentGroupName: prod-b}}
        inputArtifacts: [{{name: bundle}}]
"##,
        gate = gate.display()
    )
}

fn roles(i: usize) -> Vec<(String, String)> {
    let role = ["build", "staging", "staging", "prod-a", "prod-b"][i];
    vec![("role".into(), role.into())]
}

/// Host 0 builds; hosts 1 and 2 are staging, 3 prod-a, 4 prod-b.
fn cluster() -> Cluster {
    Cluster::start(ClusterOptions {
        hosts: 5,
        tags: roles,
        agent_args: |i| if i == 0 { vec!["--builds".into(), "1".into()] } else { Vec::new() },
        ..Default::default()
    })
}

/// The status of `stage`/`action` in get-pipeline-state, and its token.
fn action_state(c: &Cluster, stage: &str, action: &str) -> (String, Option<String>) {
    let state = c.aws_in("codepipeline", &["get-pipeline-state", "--name", "shop"]).expect("get-pipeline-state");
    let stages = state["stageStates"].as_array().cloned().unwrap_or_default();
    let s = stages.iter().find(|s| s["stageName"] == stage).cloned().unwrap_or_default();
    let a = s["actionStates"].as_array().and_then(|a| a.iter().find(|a| a["actionName"] == action).cloned());
    let latest = a.map(|a| a["latestExecution"].clone()).unwrap_or_default();
    (latest["status"].as_str().unwrap_or("-").to_string(), latest["token"].as_str().map(str::to_owned))
}

fn execution(c: &Cluster, id: &str) -> serde_json::Value {
    c.aws_in("codepipeline", &["get-pipeline-execution", "--pipeline-name", "shop", "--pipeline-execution-id", id])
        .expect("get-pipeline-execution")["pipelineExecution"]
        .clone()
}

#[test]
fn source_build_staging_approval_and_two_production_groups_with_a_server_restart() {
    if !fleet_supported() {
        return;
    }
    let mut c = cluster();
    let (repo, commit) = repository(c.tmp.path());
    // The build waits at a gate (a file) until the test opens it.
    let gate_dir = c.tmp.path().join("gate");
    std::fs::create_dir_all(&gate_dir).unwrap();
    std::fs::set_permissions(c.tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&gate_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let gate = gate_dir.join("open");

    c.ferry_ok(&["build", "project", "create", "shop-build", "--source", "upload"]);
    c.ferry_ok(&["app", "create", "shop"]);
    c.ferry_ok(&[
        "group",
        "create",
        "shop",
        "staging",
        "--tag",
        "role=staging",
        "--config",
        "CodeDeployDefault.HalfAtATime",
    ]);
    c.ferry_ok(&["group", "create", "shop", "prod-a", "--tag", "role=prod-a"]);
    c.ferry_ok(&["group", "create", "shop", "prod-b", "--tag", "role=prod-b"]);
    let file = c.tmp.path().join("pipeline.yml");
    std::fs::write(&file, pipeline(&repo, &gate)).unwrap();
    c.ferry_ok(&["pipeline", "create", "--file", file.to_str().unwrap()]);

    let started = c.aws_in("codepipeline", &["start-pipeline-execution", "--name", "shop"]).expect("started");
    let id = started["pipelineExecutionId"].as_str().unwrap().to_string();

    // The server dies while the build runs; the build goes on without it.
    wait_for("the build to run", LONG, || (action_state(&c, "Build", "Package").0 == "InProgress").then_some(()));
    c.kill_server();
    std::fs::write(&gate, "").unwrap();
    c.start_server();

    // Back up: the build's end is picked up, staging is deployed, the approval waits.
    let token = wait_for("the approval", LONG, || {
        let e = execution(&c, &id);
        assert_eq!(e["status"], "InProgress", "{}", c.ferry_ok(&["pipeline", "status", "shop"]));
        match action_state(&c, "Approve", "Release") {
            (status, Some(token)) if status == "InProgress" => Some(token),
            _ => None,
        }
    });
    let status = c.ferry_ok(&["pipeline", "status", "shop"]);
    assert!(status.contains("DeployStaging") && status.contains("Succeeded"), "{status}");
    for host in [1, 2] {
        assert_eq!(std::fs::read_to_string(c.host_file(host, "/opt/shop/COMMIT")).unwrap().trim(), commit);
    }
    assert!(!c.host_file(3, "/opt/shop/COMMIT").exists(), "production waits for the approval");

    // A wrong token is CodePipeline's error; the right one lets production go.
    let result = "summary=looks good,status=Approved";
    let wrong = c
        .aws_in(
            "codepipeline",
            &[
                "put-approval-result",
                "--pipeline-name",
                "shop",
                "--stage-name",
                "Approve",
                "--action-name",
                "Release",
                "--result",
                result,
                "--token",
                "00000000-0000-4000-8000-000000000000",
            ],
        )
        .unwrap_err();
    assert!(wrong.contains("InvalidApprovalTokenException"), "{wrong}");
    c.aws_in(
        "codepipeline",
        &[
            "put-approval-result",
            "--pipeline-name",
            "shop",
            "--stage-name",
            "Approve",
            "--action-name",
            "Release",
            "--result",
            result,
            "--token",
            &token,
        ],
    )
    .expect("approved");
    let done = wait_for("the execution to end", LONG, || {
        let e = execution(&c, &id);
        (e["status"] != "InProgress").then_some(e)
    });
    assert_eq!(done["status"], "Succeeded", "{done:#}\n{}", c.logs());
    assert_eq!(done["artifactRevisions"][0]["revisionId"], commit.as_str());
    for host in [1, 2, 3, 4] {
        assert_eq!(std::fs::read_to_string(c.host_file(host, "/opt/shop/COMMIT")).unwrap().trim(), commit);
        assert_eq!(std::fs::read_to_string(c.host_file(host, "/opt/shop/index.html")).unwrap(), "<h1>shop 1</h1>\n");
    }
    assert!(!c.host_file(0, "/opt/shop/COMMIT").exists(), "the build host is in no group");

    // Every action ran once, and every deploy deployed the build's very artifact.
    let actions = c
        .aws_in(
            "codepipeline",
            &["list-action-executions", "--pipeline-name", "shop", "--filter", &format!("pipelineExecutionId={id}")],
        )
        .expect("list-action-executions");
    let details = actions["actionExecutionDetails"].as_array().unwrap();
    let by_name =
        |name: &str| details.iter().find(|d| d["actionName"] == name).unwrap_or_else(|| panic!("{name}: {actions:#}"));
    for name in ["Checkout", "Package", "DeployStaging", "Release", "DeployA", "DeployB"] {
        assert_eq!(by_name(name)["status"], "Succeeded", "{name}: {:#}", by_name(name));
    }
    assert!(by_name("Release")["updatedBy"].as_str().is_some_and(|key| !key.is_empty()), "who approved is kept");
    let built = &by_name("Package")["output"]["outputArtifacts"][0]["s3location"]["key"];
    for name in ["DeployStaging", "DeployA", "DeployB"] {
        assert_eq!(&by_name(name)["input"]["inputArtifacts"][0]["s3location"]["key"], built, "{name}");
    }
    assert_eq!(by_name("Release")["input"]["resolvedConfiguration"]["CustomData"], "Release version 1 to production?");
    let builds: serde_json::Value =
        serde_json::from_str(&c.ferry_ok(&["build", "list", "--project", "shop-build", "--json"])).unwrap();
    assert_eq!(builds.as_array().unwrap().len(), 1, "one build, though the server restarted: {builds:#}");
    for group in ["staging", "prod-a", "prod-b"] {
        let listed = c.aws_ok(&["list-deployments", "--application-name", "shop", "--deployment-group-name", group]);
        assert_eq!(listed["deployments"].as_array().unwrap().len(), 1, "{group}: {listed:#}");
    }
    // The production deployments ran side by side (one runOrder).
    let a = by_name("DeployA");
    let b = by_name("DeployB");
    assert_eq!(a["startTime"], b["startTime"], "{a:#}\n{b:#}");
}
