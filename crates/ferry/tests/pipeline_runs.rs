//! The seeds' pipeline end to end, black-box (issue #14): a git repository
//! on this machine whose push hook calls the pipeline's webhook, a server, a build host and fleet hosts for staging (two hosts, HalfAtATime) and
//! two production groups. Source → Build (a buildspec that packs an
//! appspec) → Deploy to staging → Manual approval (through the AWS CLI) →
//! Deploy to both production groups at once. The server is killed while the
//! build runs and comes back: the build goes on, its end is picked up, and
//! nothing runs twice.

mod support;

use std::path::Path;
use std::time::Duration;

use ferry_testkit::git;
use support::*;

const LONG: Duration = Duration::from_secs(180);

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

/// A bare repository whose post-receive hook posts each push to `url` as
/// GitHub would, signed with `secret`; returns its path.
fn bare_repository(root: &Path, url: &str, secret: &str, ca: &Path) -> std::path::PathBuf {
    let bare = root.join("shop.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--quiet", "--bare", "--initial-branch=main"]);
    let responses = root.join("hook-responses");
    let hook = format!(
        r#"#!/bin/sh
while read old new ref; do
  body=$(printf '{{"ref":"%s","before":"%s","after":"%s","repository":{{"clone_url":"%s"}},"sender":{{"id":1}},"head_commit":{{"id":"%s","message":"push"}},"commits":[{{"id":"%s","message":"push","added":["index.html"],"removed":[],"modified":[]}}]}}' "$ref" "$old" "$new" "{bare}" "$new" "$new")
  sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac '{secret}' | sed 's/^.* //')
  curl -sS -o /dev/null -w '%{{http_code}}\n' --cacert '{ca}' -H 'Content-Type: application/json' \
    -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body" '{url}' >> '{responses}'
done
"#,
        bare = bare.display(),
        ca = ca.display(),
        responses = responses.display(),
    );
    let hook_path = bare.join("hooks/post-receive");
    std::fs::write(&hook_path, hook).unwrap();
    std::fs::set_permissions(&hook_path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    bare
}

/// Commits the shop's first version and pushes it to `bare`; returns the commit.
fn push_first_version(root: &Path, bare: &Path) -> String {
    let work = root.join("shop");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(work.join("appspec.yml"), APPSPEC).unwrap();
    std::fs::write(work.join("buildspec.yml"), BUILDSPEC).unwrap();
    std::fs::write(work.join("index.html"), "<h1>shop 1</h1>\n").unwrap();
    std::fs::write(work.join("VERSION"), "1\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "--quiet", "-m", "shop 1"]);
    git(&work, &["push", "--quiet", bare.to_str().unwrap(), "main"]);
    git(&work, &["rev-parse", "HEAD"])
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
    let repo = format!("file://{}", c.tmp.path().join("shop.git").display());
    let file = c.tmp.path().join("pipeline.yml");
    std::fs::write(&file, pipeline(&repo, &gate)).unwrap();
    c.ferry_ok(&["pipeline", "create", "--file", file.to_str().unwrap()]);

    // A push starts the pipeline through its webhook.
    let out = c.ferry_ok(&["pipeline", "webhook", "shop"]);
    let url = out.lines().find_map(|l| l.strip_prefix("payload URL: ")).unwrap_or_else(|| panic!("{out}"));
    let secret = out.lines().find_map(|l| l.split("shown once: ").nth(1)).unwrap_or_else(|| panic!("{out}"));
    let bare = bare_repository(c.tmp.path(), url, secret, &c.ca_file());
    let commit = push_first_version(c.tmp.path(), &bare);
    assert_eq!(std::fs::read_to_string(c.tmp.path().join("hook-responses")).unwrap().trim(), "202");
    let listed = c.aws_in("codepipeline", &["list-pipeline-executions", "--pipeline-name", "shop"]).expect("listed");
    let executions = listed["pipelineExecutionSummaries"].as_array().unwrap();
    assert_eq!(executions.len(), 1, "{listed:#}");
    let id = executions[0]["pipelineExecutionId"].as_str().unwrap().to_string();
    assert_eq!(executions[0]["trigger"]["triggerType"], "Webhook", "{listed:#}");

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
    let shown = c.ferry_ok(&["pipeline", "show", "shop"]);
    assert!(shown.contains(&format!("Latest execution {id} (version 1): InProgress")), "{shown}");
    let status = c.ferry_ok(&["pipeline", "status", "shop"]);
    assert!(status.contains("DeployStaging") && status.contains("Succeeded"), "{status}");
    for host in [1, 2] {
        assert_eq!(std::fs::read_to_string(c.host_file(host, "/opt/shop/COMMIT")).unwrap().trim(), commit);
    }
    assert!(!c.host_file(3, "/opt/shop/COMMIT").exists(), "production waits for the approval");

    // The console shows the stages as columns and the approval waiting, with its buttons.
    let page = c.console_page("/console/pipelines/shop");
    for stage in ["Source", "Build", "Staging", "Approve", "Production"] {
        assert!(page.contains(&format!("data-stage=\"{stage}\"")), "{stage}: {page}");
    }
    assert!(page.contains("Release version 1 to production?") && page.contains(">Approve</button>"), "{page}");
    assert!(page.contains("/console/builds/shop-build"), "the build is linked: {page}");
    assert!(c.console_page("/console/pipelines").contains("data-pipeline=\"shop\""));

    // A wrong token is CodePipeline's error; the right one lets production go.
    let approve = |token: &str| {
        let args = ["put-approval-result", "--pipeline-name", "shop", "--stage-name", "Approve", "--action-name"];
        let result = ["Release", "--result", "summary=looks good,status=Approved", "--token", token];
        c.aws_in("codepipeline", &[&args[..], &result[..]].concat())
    };
    let wrong = approve("00000000-0000-4000-8000-000000000000").unwrap_err();
    assert!(wrong.contains("InvalidApprovalTokenException"), "{wrong}");
    approve(&token).expect("approved");
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
    let page = c.console_page("/console/pipelines/shop");
    assert!(page.contains(&format!("data-execution=\"{id}\"")) && !page.contains(">Approve</button>"), "{page}");

    // The artifacts download, checked; the logs show each action and the build's log.
    let out = c.tmp.path().join("artifacts");
    let saved = c.ferry_ok(&["pipeline", "artifacts", "shop", &id, "--out", out.to_str().unwrap()]);
    assert!(saved.contains("src.tar") && saved.contains("bundle.zip"), "{saved}");
    let unpacked = c.tmp.path().join("bundle");
    ferry_bundle::unpack(&out.join("bundle.zip"), ferry_bundle::BundleType::Zip, &unpacked, &Default::default())
        .unwrap();
    assert_eq!(std::fs::read_to_string(unpacked.join("COMMIT")).unwrap().trim(), commit);
    let logs = c.ferry_ok(&["pipeline", "logs", "shop", &id]);
    assert!(logs.contains("== Build/Package (CodeBuild) #1: Succeeded") && logs.contains("mkdir -p dist"), "{logs}");

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

    // From the console: start another execution, and reject it at the approval.
    let admin = c.data_dir().join("credentials");
    let (status, body) = c.console_post_as(&admin, "/console/pipelines/shop/start", "");
    assert_eq!(status, 303, "{body}");
    let second = wait_for("the second execution's approval", LONG, || {
        let listed = c.aws_in("codepipeline", &["list-pipeline-executions", "--pipeline-name", "shop"]).ok()?;
        let newest = listed["pipelineExecutionSummaries"][0]["pipelineExecutionId"].as_str()?.to_string();
        let waits = newest != id && action_state(&c, "Approve", "Release").1.is_some();
        waits.then_some(newest)
    });
    let form = "stage=Approve&action=Release&decision=reject&summary=not+today";
    let (status, body) = c.console_post_as(&admin, "/console/pipelines/shop/approvals", form);
    assert_eq!(status, 303, "{body}");
    let rejected = wait_for("the rejection", LONG, || {
        let e = execution(&c, &second);
        (e["status"] != "InProgress").then_some(e)
    });
    assert_eq!(rejected["status"], "Failed", "{rejected:#}");
    assert_eq!(action_state(&c, "Approve", "Release").0, "Failed");
}
