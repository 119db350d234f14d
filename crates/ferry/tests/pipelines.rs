//! `ferry pipeline …` against a real server (TLS, no fleet, no root):
//! declarations from YAML and from get-pipeline's JSON, versions, the
//! errors a bad declaration gets. Running them: `pipeline_runs.rs`.

mod support;

use support::server::Server;
use support::wait_for;

const PIPELINE: &str = r#"name: shop
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: "1"}
        configuration: {FullRepositoryId: "https://git.example/shop.git", BranchName: main}
        outputArtifacts: [{name: src}]
  - name: Build
    actions:
      - name: Compile
        actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: "1"}
        configuration: {ProjectName: shop-build}
        inputArtifacts: [{name: src}]
        outputArtifacts: [{name: bundle}]
  - name: Deploy
    actions:
      - name: Staging
        actionTypeId: {category: Deploy, owner: AWS, provider: CodeDeploy, version: "1"}
        configuration: {ApplicationName: shop, DeploymentGroupName: staging}
        inputArtifacts: [{name: bundle}]
"#;

#[test]
fn pipelines_are_declared_versioned_shown_and_deleted() {
    let server = Server::start();
    let yaml = server.tmp.path().join("pipeline.yml");
    std::fs::write(&yaml, PIPELINE).unwrap();
    let out = server.ok(&["pipeline", "create", "--file", yaml.to_str().unwrap()]);
    assert!(out.contains("created pipeline shop (version 1)"), "{out}");
    let err = server.fails(&["pipeline", "create", "--file", yaml.to_str().unwrap()], 1);
    assert!(err.contains("pipeline shop already exists"), "{err}");

    let show = server.ok(&["pipeline", "show", "shop"]);
    assert!(
        show.contains("Stage Build") && show.contains("[1] Compile (Build/AWS/CodeBuild) in: src out: bundle"),
        "{show}"
    );

    // get-pipeline's JSON is a declaration too: an update from it is version 2.
    let json = server.ok(&["pipeline", "show", "shop", "--json"]);
    let edited = json.replace("shop-build", "shop-build-2");
    let file = server.tmp.path().join("pipeline.json");
    std::fs::write(&file, edited).unwrap();
    let out = server.ok(&["pipeline", "update", "--file", file.to_str().unwrap()]);
    assert!(out.contains("updated pipeline shop (version 2)"), "{out}");
    let old: serde_json::Value =
        serde_json::from_str(&server.ok(&["pipeline", "show", "shop", "--version", "1", "--json"])).unwrap();
    assert_eq!(old["pipeline"]["stages"][1]["actions"][0]["configuration"]["ProjectName"], "shop-build");
    assert_eq!(old["metadata"]["version"], 1);
    let list = server.ok(&["pipeline", "list"]);
    assert!(list.contains("shop") && list.contains("Source → Build → Deploy"), "{list}");

    // A declaration that breaks CodePipeline's rules: the file, the key, the line.
    let bad = server.tmp.path().join("bad.yml");
    std::fs::write(&bad, PIPELINE.replace("inputArtifacts: [{name: bundle}]", "inputArtifacts: [{name: nothing}]"))
        .unwrap();
    let err = server.fails(&["pipeline", "update", "--file", bad.to_str().unwrap()], 1);
    assert!(err.contains("bad.yml") && err.contains("stages[2].actions[0]") && err.contains("nothing"), "{err}");

    server.ok(&["pipeline", "delete", "shop"]);
    let err = server.fails(&["pipeline", "show", "shop"], 1);
    assert!(err.contains("pipeline shop does not exist"), "{err}");
}

#[test]
fn the_aws_cli_creates_reads_updates_lists_and_deletes_pipelines() {
    let server = Server::start();
    let yaml = server.tmp.path().join("pipeline.yml");
    std::fs::write(&yaml, PIPELINE).unwrap();
    server.ok(&["pipeline", "create", "--file", yaml.to_str().unwrap()]);
    // get-pipeline prints what create-pipeline and update-pipeline take.
    let got = server.aws("codepipeline", &["get-pipeline", "--name", "shop"]).unwrap();
    assert_eq!(got["metadata"]["pipelineArn"], "arn:aws:codepipeline:us-east-1:000000000000:shop", "{got:#}");
    assert_eq!(got["pipeline"]["stages"][2]["actions"][0]["configuration"]["DeploymentGroupName"], "staging");
    let mut pipeline = got["pipeline"].clone();
    pipeline["name"] = "shop-copy".into();
    pipeline.as_object_mut().unwrap().remove("version");
    let file = server.tmp.path().join("copy.json");
    std::fs::write(&file, serde_json::json!({ "pipeline": pipeline }).to_string()).unwrap();
    let created =
        server.aws("codepipeline", &["create-pipeline", "--cli-input-json", &format!("file://{}", file.display())]);
    assert_eq!(created.unwrap()["pipeline"]["version"], 1);
    pipeline["stages"][1]["actions"][0]["configuration"]["ProjectName"] = "other".into();
    std::fs::write(&file, serde_json::json!({ "pipeline": pipeline }).to_string()).unwrap();
    let updated =
        server.aws("codepipeline", &["update-pipeline", "--cli-input-json", &format!("file://{}", file.display())]);
    assert_eq!(updated.unwrap()["pipeline"]["version"], 2);
    let list = server.aws("codepipeline", &["list-pipelines"]).unwrap();
    let names: Vec<&str> = list["pipelines"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["shop", "shop-copy"]);

    // CodePipeline's errors: a broken structure, a missing pipeline, a name in use.
    pipeline["stages"][1]["actions"][0]["inputArtifacts"] = serde_json::json!([{"name": "nothing"}]);
    std::fs::write(&file, serde_json::json!({ "pipeline": pipeline }).to_string()).unwrap();
    let err =
        server.aws("codepipeline", &["update-pipeline", "--cli-input-json", &format!("file://{}", file.display())]);
    assert!(err.as_ref().unwrap_err().contains("InvalidStructureException"), "{err:?}");
    let err = server.aws("codepipeline", &["get-pipeline", "--name", "nope"]).unwrap_err();
    assert!(err.contains("PipelineNotFoundException"), "{err}");
    let err =
        server.aws("codepipeline", &["create-pipeline", "--cli-input-json", &format!("file://{}", file.display())]);
    assert!(
        err.as_ref().unwrap_err().contains("PipelineNameInUseException")
            || err.as_ref().unwrap_err().contains("InvalidStructureException"),
        "{err:?}"
    );
    let err = server.aws("codepipeline", &["start-pipeline-execution", "--name", "nope"]).unwrap_err();
    assert!(err.contains("PipelineNotFoundException"), "{err}");
    let err = server
        .aws(
            "codepipeline",
            &[
                "get-pipeline-execution",
                "--pipeline-name",
                "shop",
                "--pipeline-execution-id",
                "00000000-0000-4000-8000-000000000000",
            ],
        )
        .unwrap_err();
    assert!(err.contains("PipelineExecutionNotFoundException"), "{err}");
    // Tags: set, listed, replaced by key, removed; CodePipeline's errors.
    let arn = "arn:aws:codepipeline:us-east-1:111111111111:shop";
    let cp = |args: &[&str]| server.aws("codepipeline", args);
    cp(&["tag-resource", "--resource-arn", arn, "--tags", "key=team,value=shop", "key=tier,value=1"]).unwrap();
    cp(&["tag-resource", "--resource-arn", arn, "--tags", "key=tier,value=2"]).unwrap();
    cp(&["untag-resource", "--resource-arn", arn, "--tag-keys", "team"]).unwrap();
    let listed = cp(&["list-tags-for-resource", "--resource-arn", arn]).unwrap();
    assert_eq!(listed["tags"], serde_json::json!([{"key": "tier", "value": "2"}]), "{listed:#}");
    let err = cp(&["tag-resource", "--resource-arn", arn, "--tags", "key=aws:x,value=1"]).unwrap_err();
    assert!(err.contains("InvalidTagsException"), "{err}");
    let nowhere = "arn:aws:codepipeline:us-east-1:111111111111:nowhere";
    let err = cp(&["list-tags-for-resource", "--resource-arn", nowhere]).unwrap_err();
    assert!(err.contains("ResourceNotFoundException"), "{err}");

    // Notification addresses: set, shown, refused when not http(s), cleared.
    let out = server.ok(&["pipeline", "notify", "shop", "--url", "https://hooks.example/pipelines"]);
    assert!(out.contains("notifies https://hooks.example/pipelines"), "{out}");
    assert!(server.ok(&["pipeline", "notify", "shop"]).contains("https://hooks.example/pipelines"));
    let err = server.fails(&["pipeline", "notify", "shop", "--url", "ftp://hooks.example/"], 1);
    assert!(err.contains("ftp://"), "{err}");
    assert!(server.ok(&["pipeline", "notify", "shop", "--clear"]).contains("notifies no one"));

    // Transitions: disabled with a reason (the CLI), seen and enabled again (the AWS CLI).
    server.ok(&["pipeline", "disable-transition", "shop", "Build", "--reason", "release freeze"]);
    let inbound = |server: &Server| {
        let state = server.aws("codepipeline", &["get-pipeline-state", "--name", "shop"]).unwrap();
        state["stageStates"][1]["inboundTransitionState"].clone()
    };
    let t = inbound(&server);
    assert_eq!((t["enabled"].as_bool(), t["disabledReason"].as_str()), (Some(false), Some("release freeze")), "{t:#}");
    server
        .aws(
            "codepipeline",
            &[
                "enable-stage-transition",
                "--pipeline-name",
                "shop",
                "--stage-name",
                "Build",
                "--transition-type",
                "Inbound",
            ],
        )
        .unwrap();
    assert_eq!(inbound(&server)["enabled"], true);
    let err = server.fails(&["pipeline", "disable-transition", "shop", "Nope", "--reason", "x"], 1);
    assert!(err.contains("Nope"), "{err}");
    server.aws("codepipeline", &["delete-pipeline", "--name", "shop-copy"]).unwrap();
    assert!(
        server
            .aws("codepipeline", &["get-pipeline", "--name", "shop-copy"])
            .unwrap_err()
            .contains("PipelineNotFoundException")
    );
}

/// The first stage of the pipelines below: `Checkout` of `repo`'s main
/// branch into the artifact `src`.
fn source_stage(repo: &std::path::Path) -> String {
    format!(
        r#"  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {{category: Source, owner: AWS, provider: CodeStarSourceConnection, version: "1"}}
        configuration: {{FullRepositoryId: "{}", BranchName: main}}
        outputArtifacts: [{{name: src}}]
"#,
        repo.display()
    )
}

/// A repository with one commit; returns its path.
fn repository(root: &std::path::Path) -> std::path::PathBuf {
    let repo = root.join("shop");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["-c", "user.name=ferry", "-c", "user.email=ferry@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(repo.join("index.html"), "<h1>shop</h1>\n").unwrap();
    git(&["add", "-A"]);
    git(&["commit", "--quiet", "-m", "shop"]);
    repo
}

#[test]
fn a_custom_action_is_a_job_for_a_worker_polling_through_the_aws_cli() {
    let server = Server::start();
    let repo = repository(server.tmp.path());
    let yaml = server.tmp.path().join("smoke.yml");
    std::fs::write(
        &yaml,
        format!(
            r#"name: smoke
stages:
{}  - name: Check
    actions:
      - name: Smoke
        namespace: SmokeVariables
        actionTypeId: {{category: Test, owner: Custom, provider: SmokeTest, version: "1"}}
        configuration: {{Target: staging}}
        inputArtifacts: [{{name: src}}]
"#,
            source_stage(&repo)
        ),
    )
    .unwrap();
    server.ok(&["pipeline", "create", "--file", yaml.to_str().unwrap()]);
    let pipeline = |args: &[&str]| server.aws("codepipeline", args);
    let type_id = "category=Test,owner=Custom,provider=SmokeTest,version=1";
    let poll = || {
        wait_for("a job", std::time::Duration::from_secs(30), || {
            let polled =
                pipeline(&["poll-for-jobs", "--action-type-id", type_id, "--query-param", "Target=staging"]).unwrap();
            polled["jobs"].as_array().and_then(|jobs| jobs.first().cloned())
        })
    };
    let status = |id: &str| {
        let e =
            pipeline(&["get-pipeline-execution", "--pipeline-name", "smoke", "--pipeline-execution-id", id]).unwrap();
        e["pipelineExecution"]["status"].as_str().unwrap().to_string()
    };

    // A worker takes the job, acknowledges it and reports success with variables.
    let first = pipeline(&["start-pipeline-execution", "--name", "smoke"]).unwrap();
    let first = first["pipelineExecutionId"].as_str().unwrap().to_string();
    let job = poll();
    let id = job["id"].as_str().unwrap();
    let started =
        pipeline(&["get-pipeline-execution", "--pipeline-name", "smoke", "--pipeline-execution-id", &first]).unwrap();
    assert_eq!(started["pipelineExecution"]["trigger"]["triggerType"], "StartPipelineExecution", "{started:#}");
    assert_eq!(job["data"]["pipelineContext"]["pipelineExecutionId"], first.as_str());
    assert_eq!(job["data"]["pipelineContext"]["stage"]["name"], "Check");
    assert_eq!(job["data"]["actionConfiguration"]["configuration"]["Target"], "staging");
    assert_eq!(job["data"]["inputArtifacts"][0]["name"], "src");
    let again = pipeline(&["poll-for-jobs", "--action-type-id", type_id]).unwrap();
    assert_eq!(again["jobs"].as_array().map(Vec::len), Some(0), "a job is handed out once: {again:#}");
    let wrong = pipeline(&["acknowledge-job", "--job-id", id, "--nonce", "wrong"]).unwrap_err();
    assert!(wrong.contains("InvalidNonceException"), "{wrong}");
    let acked = pipeline(&["acknowledge-job", "--job-id", id, "--nonce", job["nonce"].as_str().unwrap()]).unwrap();
    assert_eq!(acked["status"], "InProgress");
    let details = pipeline(&["get-job-details", "--job-id", id]).unwrap();
    assert_eq!(details["jobDetails"]["id"], id);
    pipeline(&[
        "put-job-success-result",
        "--job-id",
        id,
        "--execution-details",
        "summary=all green,percentComplete=100",
        "--output-variables",
        "Checked=42",
    ])
    .unwrap();
    wait_for("success", std::time::Duration::from_secs(30), || (status(&first) == "Succeeded").then_some(()));
    let actions = pipeline(&[
        "list-action-executions",
        "--pipeline-name",
        "smoke",
        "--filter",
        &format!("pipelineExecutionId={first}"),
    ])
    .unwrap();
    let smoke = actions["actionExecutionDetails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["actionName"] == "Smoke")
        .cloned()
        .unwrap();
    assert_eq!(smoke["output"]["outputVariables"]["Checked"], "42", "{smoke:#}");
    assert_eq!(smoke["output"]["executionResult"]["externalExecutionSummary"], "all green");
    let gone = pipeline(&["put-job-success-result", "--job-id", id]).unwrap_err();
    assert!(gone.contains("JobNotFoundException"), "{gone}");

    // A failure fails the execution, with the worker's message.
    let second = pipeline(&["start-pipeline-execution", "--name", "smoke"]).unwrap();
    let second = second["pipelineExecutionId"].as_str().unwrap().to_string();
    let job = poll();
    pipeline(&[
        "put-job-failure-result",
        "--job-id",
        job["id"].as_str().unwrap(),
        "--failure-details",
        "type=JobFailed,message=staging answers 503",
    ])
    .unwrap();
    wait_for("failure", std::time::Duration::from_secs(30), || (status(&second) == "Failed").then_some(()));
    let e =
        pipeline(&["get-pipeline-execution", "--pipeline-name", "smoke", "--pipeline-execution-id", &second]).unwrap();
    let summary = e["pipelineExecution"]["statusSummary"].as_str().unwrap_or_default().to_string();
    assert!(summary.contains("staging answers 503"), "{e:#}");
}

fn staged_pipeline(repo: &std::path::Path, mode: &str) -> String {
    format!(
        r#"name: gated
executionMode: {mode}
pipelineType: V2
stages:
{}  - name: Hold
    actions:
      - name: Gate
        actionTypeId: {{category: Approval, owner: AWS, provider: Manual, version: "1"}}
  - name: Ship
    actions:
      - name: Last
        actionTypeId: {{category: Approval, owner: AWS, provider: Manual, version: "1"}}
"#,
        source_stage(repo)
    )
}

#[test]
fn superseded_queued_transitions_and_retry_through_the_aws_cli() {
    let server = Server::start();
    let repo = repository(server.tmp.path());
    let file = server.tmp.path().join("gated.yml");
    std::fs::write(&file, staged_pipeline(&repo, "SUPERSEDED")).unwrap();
    server.ok(&["pipeline", "create", "--file", file.to_str().unwrap()]);
    let cp = |args: &[&str]| server.aws("codepipeline", args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let start =
        || cp(&["start-pipeline-execution", "--name", "gated"])["pipelineExecutionId"].as_str().unwrap().to_string();
    let status = |id: &str| {
        let e = cp(&["get-pipeline-execution", "--pipeline-name", "gated", "--pipeline-execution-id", id]);
        e["pipelineExecution"]["status"].as_str().unwrap().to_string()
    };
    // The stage's state: (its newest execution, and the one waiting in front of it).
    let stage = |name: &str| {
        let state = cp(&["get-pipeline-state", "--name", "gated"]);
        let s = state["stageStates"].as_array().unwrap().iter().find(|s| s["stageName"] == name).cloned().unwrap();
        (
            s["latestExecution"]["pipelineExecutionId"].as_str().map(str::to_owned),
            s["inboundExecution"]["pipelineExecutionId"].as_str().map(str::to_owned),
            s,
        )
    };
    let decide = |stage_name: &str, action: &str, verdict: &str| {
        let state = cp(&["get-pipeline-state", "--name", "gated"]);
        let s =
            state["stageStates"].as_array().unwrap().iter().find(|s| s["stageName"] == stage_name).cloned().unwrap();
        let token =
            s["actionStates"][0]["latestExecution"]["token"].as_str().unwrap_or_else(|| panic!("{s:#}")).to_string();
        cp(&[
            "put-approval-result",
            "--pipeline-name",
            "gated",
            "--stage-name",
            stage_name,
            "--action-name",
            action,
            "--result",
            &format!("summary=ok,status={verdict}"),
            "--token",
            &token,
        ]);
    };
    let long = std::time::Duration::from_secs(30);
    let waiting_in_hold = |id: &str| {
        wait_for("an execution to wait for its approval", long, || {
            let (latest, _, hold) = stage("Hold");
            (latest.as_deref() == Some(id) && hold["actionStates"][0]["latestExecution"]["token"].is_string())
                .then_some(())
        })
    };

    // SUPERSEDED: e1 holds Hold; e2 waits in front of it until e3 comes and overtakes it.
    let e1 = start();
    waiting_in_hold(&e1);
    let e2 = start();
    wait_for("e2 to wait in front of Hold", long, || (stage("Hold").1.as_deref() == Some(e2.as_str())).then_some(()));
    let e3 = start();
    wait_for("e2 to be superseded", long, || (status(&e2) == "Superseded").then_some(()));
    assert_eq!(stage("Hold").1.as_deref(), Some(e3.as_str()));
    decide("Hold", "Gate", "Approved");
    waiting_in_hold(&e3);
    assert_eq!(stage("Ship").0.as_deref(), Some(e1.as_str()), "e1 went on to Ship");

    // A rejection fails e3 in Hold; retry-stage-execution runs the approval again.
    decide("Hold", "Gate", "Rejected");
    wait_for("e3 to fail", long, || (status(&e3) == "Failed").then_some(()));
    cp(&[
        "retry-stage-execution",
        "--pipeline-name",
        "gated",
        "--stage-name",
        "Hold",
        "--pipeline-execution-id",
        &e3,
        "--retry-mode",
        "FAILED_ACTIONS",
    ]);
    waiting_in_hold(&e3);
    assert_eq!(status(&e3), "InProgress");
    let err = server
        .aws(
            "codepipeline",
            &[
                "retry-stage-execution",
                "--pipeline-name",
                "gated",
                "--stage-name",
                "Hold",
                "--pipeline-execution-id",
                &e3,
                "--retry-mode",
                "FAILED_ACTIONS",
            ],
        )
        .unwrap_err();
    assert!(err.contains("StageNotRetryableException"), "{err}");

    // A disabled transition holds executions in front of the stage, with the reason.
    decide("Hold", "Gate", "Approved");
    cp(&[
        "disable-stage-transition",
        "--pipeline-name",
        "gated",
        "--stage-name",
        "Hold",
        "--transition-type",
        "Inbound",
        "--reason",
        "freeze",
    ]);
    let e4 = start();
    wait_for("e4 to wait at the disabled transition", long, || {
        (stage("Hold").1.as_deref() == Some(e4.as_str())).then_some(())
    });
    let (_, _, hold) = stage("Hold");
    assert_eq!(hold["inboundTransitionState"]["enabled"], false);
    assert_eq!(hold["inboundTransitionState"]["disabledReason"], "freeze");
    assert_eq!(status(&e4), "InProgress");
    cp(&[
        "enable-stage-transition",
        "--pipeline-name",
        "gated",
        "--stage-name",
        "Hold",
        "--transition-type",
        "Inbound",
    ]);
    waiting_in_hold(&e4);

    // QUEUED (a new version): executions wait their turn; none is superseded.
    std::fs::write(&file, staged_pipeline(&repo, "QUEUED")).unwrap();
    server.ok(&["pipeline", "update", "--file", file.to_str().unwrap()]);
    cp(&["stop-pipeline-execution", "--pipeline-name", "gated", "--pipeline-execution-id", &e4, "--abandon"]);
    wait_for("e4 to stop", long, || (status(&e4) == "Stopped").then_some(()));
    let q1 = start();
    waiting_in_hold(&q1);
    let q2 = start();
    wait_for("q2 to wait", long, || (stage("Hold").1.as_deref() == Some(q2.as_str())).then_some(()));
    let q3 = start();
    wait_for("q3 through Source", long, || {
        let e = cp(&["get-pipeline-execution", "--pipeline-name", "gated", "--pipeline-execution-id", &q3]);
        (!e["pipelineExecution"]["artifactRevisions"].as_array().unwrap().is_empty()).then_some(())
    });
    assert_eq!((status(&q2), status(&q3)), ("InProgress".to_string(), "InProgress".to_string()));
    decide("Hold", "Gate", "Approved");
    waiting_in_hold(&q2);
    decide("Hold", "Gate", "Approved");
    waiting_in_hold(&q3);
}

/// The AWS CLI against moto's S3 (any key will do).
fn s3api(moto: &ferry_testkit::Moto, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new("aws")
        .args(["--endpoint-url", &moto.endpoint, "--output", "json", "s3api"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("the AWS CLI");
    assert!(out.status.success(), "aws s3api {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

#[test]
fn with_an_artifact_bucket_job_workers_fetch_inputs_and_upload_outputs_through_s3() {
    let moto = ferry_testkit::Moto::start();
    s3api(&moto, &["create-bucket", "--bucket", "artifacts"]);
    let server = Server::start_with(
        &["--s3-endpoint", &moto.endpoint, "--artifact-bucket", "artifacts"],
        &[("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_REGION", "us-east-1")],
    );
    let repo = repository(server.tmp.path());
    let yaml = server.tmp.path().join("report.yml");
    std::fs::write(
        &yaml,
        format!(
            r#"name: report
stages:
{}  - name: Check
    actions:
      - name: Scan
        actionTypeId: {{category: Test, owner: Custom, provider: Scanner, version: "1"}}
        inputArtifacts: [{{name: src}}]
        outputArtifacts: [{{name: findings}}]
"#,
            source_stage(&repo)
        ),
    )
    .unwrap();
    server.ok(&["pipeline", "create", "--file", yaml.to_str().unwrap()]);
    let cp = |args: &[&str]| server.aws("codepipeline", args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let id = cp(&["start-pipeline-execution", "--name", "report"])["pipelineExecutionId"].as_str().unwrap().to_string();
    let job = wait_for("a job", std::time::Duration::from_secs(30), || {
        let polled =
            cp(&["poll-for-jobs", "--action-type-id", "category=Test,owner=Custom,provider=Scanner,version=1"]);
        polled["jobs"].as_array().and_then(|jobs| jobs.first().cloned())
    });

    // The input is in the bucket where the job says: the commit's tree.
    let input = &job["data"]["inputArtifacts"][0]["location"]["s3Location"];
    assert_eq!(input["bucketName"], "artifacts");
    assert_eq!(input["objectKey"], format!("report/{id}/src.tar"));
    let fetched = server.tmp.path().join("src.tar");
    s3api(
        &moto,
        &[
            "get-object",
            "--bucket",
            "artifacts",
            "--key",
            input["objectKey"].as_str().unwrap(),
            fetched.to_str().unwrap(),
        ],
    );
    let tree = server.tmp.path().join("tree");
    ferry_bundle::unpack(&fetched, ferry_bundle::BundleType::Tar, &tree, &Default::default()).unwrap();
    assert_eq!(std::fs::read_to_string(tree.join("index.html")).unwrap(), "<h1>shop</h1>\n");

    // The worker uploads its output where the job says; the server takes it in.
    let output = &job["data"]["outputArtifacts"][0]["location"]["s3Location"];
    assert_eq!(output["objectKey"], format!("report/{id}/findings.zip"));
    let dir = server.tmp.path().join("findings");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("findings.txt"), "nothing found\n").unwrap();
    let zip = server.tmp.path().join("findings.zip");
    ferry_bundle::pack(&dir, ferry_bundle::BundleType::Zip, &zip).unwrap();
    s3api(
        &moto,
        &[
            "put-object",
            "--bucket",
            "artifacts",
            "--key",
            output["objectKey"].as_str().unwrap(),
            "--body",
            zip.to_str().unwrap(),
        ],
    );
    cp(&["put-job-success-result", "--job-id", job["id"].as_str().unwrap()]);
    wait_for("success", std::time::Duration::from_secs(30), || {
        let e = cp(&["get-pipeline-execution", "--pipeline-name", "report", "--pipeline-execution-id", &id]);
        (e["pipelineExecution"]["status"] == "Succeeded").then_some(())
    });
    let out = server.tmp.path().join("out");
    server.ok(&["pipeline", "artifacts", "report", &id, "--out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(out.join("findings.zip")).unwrap(), std::fs::read(&zip).unwrap(), "the same bytes");
}

#[test]
fn a_ferry_push_starts_the_pipelines_whose_source_is_that_application() {
    let server = Server::start();
    server.ok(&["app", "create", "shop"]);
    let yaml = server.tmp.path().join("pushed.yml");
    std::fs::write(
        &yaml,
        r#"name: pushed
stages:
  - name: Source
    actions:
      - name: Pushed
        namespace: Pushed
        actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
        configuration: {S3Bucket: FerryServer, S3ObjectKey: shop}
        outputArtifacts: [{name: app}]
  - name: Approve
    actions:
      - name: Release
        actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
        configuration: {CustomData: "Release #{Pushed.RevisionId}?"}
"#,
    )
    .unwrap();
    server.ok(&["pipeline", "create", "--file", yaml.to_str().unwrap()]);
    let dir = server.tmp.path().join("app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("appspec.yml"), "version: 0.0\nos: linux\n").unwrap();
    std::fs::write(dir.join("index.html"), "<h1>pushed</h1>\n").unwrap();
    let out = server.ok(&["push", "shop", dir.to_str().unwrap()]);
    let revision = out.lines().last().unwrap().trim().to_string();

    let e = wait_for("the pushed revision's execution", std::time::Duration::from_secs(30), || {
        let list: serde_json::Value =
            serde_json::from_str(&server.ok(&["pipeline", "executions", "pushed", "--json"])).ok()?;
        let e = list.as_array()?.first()?.clone();
        (e["stages"][1]["actions"][0]["token"].is_string()).then_some(e)
    });
    assert_eq!(e["trigger"]["triggerType"], "PutActionRevision", "{e:#}");
    let source = &e["stages"][0]["actions"][0];
    assert_eq!(source["revision"], revision.as_str(), "{e:#}");
    assert_eq!(e["stages"][1]["actions"][0]["configuration"]["CustomData"], format!("Release {revision}?"));
    let out = server.tmp.path().join("out");
    let id = e["id"].as_str().unwrap();
    server.ok(&["pipeline", "artifacts", "pushed", id, "--out", out.to_str().unwrap()]);
    let unpacked = server.tmp.path().join("unpacked");
    let bundle = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    let kind = ferry_bundle::BundleType::infer(&bundle).expect("a bundle type");
    ferry_bundle::unpack(&bundle, kind, &unpacked, &Default::default()).unwrap();
    assert_eq!(std::fs::read_to_string(unpacked.join("index.html")).unwrap(), "<h1>pushed</h1>\n");
}
