//! Pipeline executions in one process: the server's state with a real
//! build host (`build_host_tests`' fixture), real git repositories, and
//! the watcher running as in a server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_pipeline::execution::{ActionStatus, ExecutionStatus};

use super::*;
use crate::ops::build_host_tests::{can_switch_users, fixture, project};
use crate::ops::{builds, pipelines};
use ferry_testkit::git;

/// A repository with an app on `main`; returns its path and head commit.
fn repository(dir: &Path) -> (PathBuf, String) {
    let repo = dir.join("shop.git-work");
    std::fs::create_dir_all(repo.join("site")).unwrap();
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(repo.join("appspec.yml"), "version: 0.0\nos: linux\n").unwrap();
    std::fs::write(repo.join("site/index.html"), "<h1>shop</h1>\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "the shop\n\nwith a body"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    (repo, head)
}

const SOURCE_AND_APPROVAL: &str = r##"
name: shop
stages:
  - name: Source
    actions:
      - name: Checkout
        namespace: SourceVariables
        actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: "1"}
        configuration: {FullRepositoryId: "REPO", BranchName: main}
        outputArtifacts: [{name: src}]
  - name: Approve
    actions:
      - name: Release
        actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
        configuration: {CustomData: "Ship #{SourceVariables.CommitId}?"}
"##;

const WITH_BUILD: &str = r##"
name: shop
stages:
  - name: Source
    actions:
      - name: Checkout
        namespace: SourceVariables
        actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: "1"}
        configuration: {FullRepositoryId: "REPO", BranchName: main}
        outputArtifacts: [{name: src}]
  - name: Build
    actions:
      - name: Compile
        namespace: BuildVariables
        actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: "1"}
        configuration:
          ProjectName: shop-build
          EnvironmentVariables: '[{"name":"COMMIT","value":"#{SourceVariables.CommitId}"}]'
        inputArtifacts: [{name: src}]
        outputArtifacts: [{name: bundle}]
  - name: Approve
    actions:
      - name: Release
        actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
        configuration: {CustomData: "Ship #{BuildVariables.OUTCOME}?"}
"##;

const BUILDSPEC: &str = r#"version: 0.2
env:
  exported-variables: [OUTCOME]
phases:
  build:
    commands:
      - test -f appspec.yml
      - echo "$COMMIT" > commit.txt
      - export OUTCOME=fine
artifacts:
  files: ['**/*']
"#;

async fn create(state: &AppState, text: &str, repo: &Path) {
    let text = text.replace("REPO", &format!("file://{}", repo.display()));
    pipelines::create(state, pipelines::parse("pipeline.yml", &text).unwrap()).await.unwrap();
}

/// Waits (at most a minute) until the execution satisfies `done`.
async fn wait_for(state: &AppState, id: &str, what: &str, done: impl Fn(&Execution) -> bool) -> Execution {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let e = execution(state, "shop", id).await.unwrap();
        if done(&e) {
            return e;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {e:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn action<'a>(e: &'a Execution, stage: &str, action: &str) -> &'a execution::ActionRun {
    e.stage(stage).and_then(|s| s.actions.iter().find(|a| a.name == action)).expect("the action exists")
}

fn waits_for_approval(e: &Execution) -> bool {
    action(e, "Approve", "Release").token.is_some()
}

fn watcher(state: &AppState) -> tokio::sync::watch::Sender<bool> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(watch_forever(state.clone(), stopped));
    stop
}

fn decision(approved: bool) -> Decision {
    Decision {
        stage: "Approve".into(),
        action: "Release".into(),
        token: None,
        approved,
        summary: "looked at it".into(),
        by: Some("FKIATEST".into()),
    }
}

#[tokio::test]
async fn an_execution_committed_but_never_launched_is_launched_by_the_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::for_tests(dir.path()).await;
    let (repo, head) = repository(dir.path());
    create(&state, SOURCE_AND_APPROVAL, &repo).await;
    let notified = vec!["https://hooks.example/pipelines".to_string()];
    crate::ops::pipeline_events::set_urls(&state, "shop", notified.clone()).await.unwrap();
    let refused = crate::ops::pipeline_events::set_urls(&state, "shop", vec!["ftp://x".into()]).await;
    assert!(matches!(refused, Err(OpError::Invalid(_))), "{refused:?}");

    // A server that died right after committing the start: nothing launched.
    let declaration = pipelines::get(&state, "shop", None).await.unwrap().declaration;
    let mut started = Runs::default();
    let now = state.driver.now();
    let input = Input::Start {
        id: "e-1".into(),
        pipeline: declaration,
        variables: BTreeMap::new(),
        source_revisions: BTreeMap::new(),
        trigger: None,
    };
    execution::step(&mut started, input, now).unwrap();
    commit(&state, "shop", &Runs::default(), &started, now).await.unwrap();
    assert_eq!(runs(&state, "shop").await.unwrap().unlaunched().len(), 1);

    let _stop = watcher(&state);
    let e = wait_for(&state, "e-1", "the approval", waits_for_approval).await;
    let source = action(&e, "Source", "Checkout");
    assert_eq!(source.revision.as_deref(), Some(head.as_str()));
    assert_eq!(source.output_variables["CommitId"], head);
    assert_eq!(source.output_variables["BranchName"], "main");
    assert_eq!(source.output_variables["CommitMessage"], "the shop\n\nwith a body");
    assert_eq!(source.summary.as_deref(), Some("the shop"));
    let release = action(&e, "Approve", "Release");
    assert_eq!(release.configuration["CustomData"], format!("Ship {head}?"), "variables resolved at start");

    // The artifact is the commit's tree.
    let bundle = pipeline_actions::artifact(&state, &source.output_artifacts[0]).await.unwrap();
    assert_eq!(bundle.bundle_type, "tar");
    let unpacked = dir.path().join("unpacked");
    ferry_bundle::unpack(
        &state.blobs.dir().join(&bundle.blob_key),
        ferry_bundle::BundleType::Tar,
        &unpacked,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(unpacked.join("site/index.html")).unwrap(), "<h1>shop</h1>\n");

    // A wrong token is refused with CodePipeline's exception; the right decision ends it.
    let wrong = Decision { token: Some("not-the-token".into()), ..decision(true) };
    let refused = decide(&state, "shop", wrong).await.unwrap_err();
    assert!(matches!(refused, OpError::Pipeline(StepError::InvalidApprovalToken(_))), "{refused}");
    decide(&state, "shop", decision(true)).await.unwrap();
    let e = wait_for(&state, "e-1", "the end", |e| e.status.is_finished()).await;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:#?}");
    assert_eq!(action(&e, "Approve", "Release").updated_by.as_deref(), Some("FKIATEST"));

    // Every change is in the event log, in order.
    let events = state.store.events_after(0, None, 1000).await.unwrap();
    let told: Vec<String> = events
        .iter()
        .filter_map(|e| {
            let p = e.notice.pipeline.as_ref()?;
            Some(format!(
                "{}{}={}",
                p.stage.as_deref().unwrap_or("execution"),
                p.action.as_deref().map(|a| format!("/{a}")).unwrap_or_default(),
                e.notice.status
            ))
        })
        .collect();
    assert_eq!(
        told,
        [
            "execution=InProgress",
            "Source=InProgress",
            "Source/Checkout=InProgress",
            "Source=Succeeded",
            "Source/Checkout=Succeeded",
            "Approve=InProgress",
            "Approve/Release=InProgress",
            "Approve/Release=InProgress",
            "execution=Succeeded",
            "Approve=Succeeded",
            "Approve/Release=Succeeded",
        ]
    );
    // …and told to the pipeline's address: EventBridge's events, and the approval request.
    let filter = ferry_store::DeliveryFilter { deployment_id: Some("e-1".into()), ..Default::default() };
    let sent = state.store.list_deliveries(&filter).await.unwrap();
    assert!(sent.iter().all(|d| d.url == notified[0]));
    let events: Vec<&str> = sent.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(events.iter().filter(|e| **e == "APPROVAL NEEDED").count(), 1, "{events:?}");
    assert_eq!(events.len(), told.len() + 1, "{events:?}");
    let approval = sent.iter().find(|d| d.event == "APPROVAL NEEDED").unwrap();
    let body: serde_json::Value = serde_json::from_str(&approval.body).unwrap();
    assert_eq!(body["approval"]["customData"], format!("Ship {head}?"));
    assert_eq!(body["approval"]["token"].as_str().map(str::len), Some(36));
    assert_eq!(body["approval"]["approvalReviewLink"], "/console/pipelines/shop");
    let ended = sent.iter().rev().find(|d| d.event.contains("Pipeline Execution")).unwrap();
    let body: serde_json::Value = serde_json::from_str(&ended.body).unwrap();
    assert_eq!(
        (body["source"].as_str(), body["detail"]["state"].as_str()),
        (Some("aws.codepipeline"), Some("SUCCEEDED"))
    );

    let listed = list(&state, "shop", None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| (e.id.as_str(), e.status)).collect::<Vec<_>>(),
        [("e-1", ExecutionStatus::Succeeded)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_build_and_approval_pass_the_same_bytes_and_a_failed_build_is_retried() {
    if !can_switch_users() {
        return;
    }
    let f = fixture().await;
    let state = &f.state;
    let dir = tempfile::tempdir().unwrap();
    let (repo, head) = repository(dir.path());
    builds::create_project(state, project("shop-build", "version: 0.2\nphases:\n  build:\n    commands: [exit 3]\n"))
        .await
        .unwrap();
    create(state, WITH_BUILD, &repo).await;
    let _stop = watcher(state);

    // The build fails: the execution fails in Build, the approval never starts.
    let id = start(state, "shop", BTreeMap::new(), BTreeMap::new(), started_by("FKIATEST")).await.unwrap();
    let e = wait_for(state, &id, "the failed build", |e| e.status.is_finished()).await;
    assert_eq!(e.status, ExecutionStatus::Failed, "{e:#?}");
    let compile = action(&e, "Build", "Compile");
    assert_eq!(compile.status, Some(ActionStatus::Failed));
    assert!(compile.error.as_deref().unwrap_or_default().contains("FAILED"), "{compile:#?}");
    assert_eq!(e.stage("Approve").unwrap().status, None);

    // Fixed, the failed stage is retried and the execution goes on from there.
    builds::update_project::<OpError>(state, "shop-build", |p| {
        p.buildspec = Some(BUILDSPEC.into());
        Ok(())
    })
    .await
    .unwrap();
    retry(state, "shop", &id, "Build", RetryMode::FailedActions).await.unwrap();
    let e = wait_for(state, &id, "the approval", |e| e.status.is_finished() || waits_for_approval(e)).await;
    let source = action(&e, "Source", "Checkout");
    let compile = action(&e, "Build", "Compile");
    assert_eq!(compile.status, Some(ActionStatus::Succeeded), "{e:#?}");
    assert_eq!(compile.attempt, 2);
    assert_eq!(compile.output_variables["OUTCOME"], "fine");
    assert_eq!(action(&e, "Approve", "Release").configuration["CustomData"], "Ship fine?");

    // The build got the source artifact's very bytes, and its output is the build's artifact.
    let b = builds::get(state, compile.external_id.as_deref().unwrap()).await.unwrap();
    assert_eq!(b.initiator, ferry_core::build::Initiator::Pipeline("shop".into()));
    let source_bundle = pipeline_actions::artifact(state, &source.output_artifacts[0]).await.unwrap();
    assert_eq!(b.source_bundle.as_ref().map(|s| &s.sha256), Some(&source_bundle.sha256));
    let out = pipeline_actions::artifact(state, &compile.output_artifacts[0]).await.unwrap();
    assert_eq!(out.sha256, b.artifacts[0].sha256);
    let unpacked = dir.path().join("built");
    ferry_bundle::unpack(
        &state.blobs.dir().join(&out.blob_key),
        ferry_bundle::BundleType::Zip,
        &unpacked,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(unpacked.join("commit.txt")).unwrap().trim(),
        head,
        "#{{SourceVariables.CommitId}}"
    );

    // Rejected: the execution fails in Approve.
    decide(state, "shop", decision(false)).await.unwrap();
    let e = wait_for(state, &id, "the rejection", |e| e.status.is_finished()).await;
    assert_eq!(e.status, ExecutionStatus::Failed);
    assert_eq!(action(&e, "Approve", "Release").status, Some(ActionStatus::Failed));
}

#[tokio::test]
async fn launching_a_build_attempt_again_finds_the_build_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::for_tests(dir.path()).await;
    builds::create_project(&state, project("shop-build", BUILDSPEC)).await.unwrap();
    let blob = state.blobs.put(&b"not really a tar"[..], None, 1 << 20).await.unwrap();
    let job = ActionJob {
        action: ActionRef { execution: "e-1".into(), stage: "Build".into(), action: "Compile".into(), attempt: 1 },
        pipeline: "shop".into(),
        action_type_id: ferry_pipeline::ActionTypeId {
            category: ferry_pipeline::Category::Build,
            owner: ferry_pipeline::Owner::Aws,
            provider: "CodeBuild".into(),
            version: "1".into(),
        },
        configuration: BTreeMap::from([("ProjectName".to_string(), "shop-build".to_string())]),
        input_artifacts: vec![execution::ArtifactLocation {
            name: "src".into(),
            location: pipeline_actions::location("tar", &blob.key),
        }],
        output_artifacts: Vec::new(),
        namespace: None,
        revision: None,
        deadline: u64::MAX,
    };
    let key = action_key(&job.action);
    let first = pipeline_actions::launch(&state, &job, &key).await;
    let again = pipeline_actions::launch(&state, &job, &key).await;
    let id = |l: &Launched| match l {
        Launched::Started { external_id, .. } => external_id.clone().unwrap(),
        other => panic!("not started: {other:?}"),
    };
    assert_eq!(id(&first), id(&again));
    assert_eq!(builds::list(&state, Some("shop-build"), 10).await.unwrap().len(), 1);
}

const TWO_SOURCES: &str = r#"
name: shop
stages:
  - name: Source
    actions:
      - name: App
        actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: "1"}
        configuration: {FullRepositoryId: "APP", BranchName: main}
        outputArtifacts: [{name: app}]
      - name: Lib
        actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: "1"}
        configuration: {FullRepositoryId: "LIB", BranchName: main}
        outputArtifacts: [{name: lib_src}]
  - name: Build
    actions:
      - name: Compile
        actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: "1"}
        configuration: {ProjectName: shop-build, PrimarySource: app}
        inputArtifacts: [{name: app}, {name: lib_src}]
        outputArtifacts: [{name: bundle}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_gets_the_other_input_artifacts_as_secondary_sources() {
    if !can_switch_users() {
        return;
    }
    let f = fixture().await;
    let state = &f.state;
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = repository(&dir.path().join("app"));
    let (lib, _) = repository(&dir.path().join("lib"));
    std::fs::write(lib.join("site/index.html"), "<h1>lib</h1>\n").unwrap();
    git(&lib, &["commit", "--quiet", "-am", "the lib"]);
    let spec = r#"version: 0.2
phases:
  build:
    commands:
      - test -f appspec.yml
      - cp "$CODEBUILD_SRC_DIR_lib_src/site/index.html" lib.html
artifacts:
  files: [lib.html, site/index.html]
"#;
    builds::create_project(state, project("shop-build", spec)).await.unwrap();
    let text = TWO_SOURCES
        .replace("APP", &format!("file://{}", app.display()))
        .replace("LIB", &format!("file://{}", lib.display()));
    pipelines::create(state, pipelines::parse("pipeline.yml", &text).unwrap()).await.unwrap();
    let _stop = watcher(state);
    let id = start(state, "shop", BTreeMap::new(), BTreeMap::new(), started_by("FKIATEST")).await.unwrap();
    let e = wait_for(state, &id, "the end", |e| e.status.is_finished()).await;
    assert_eq!(e.status, ExecutionStatus::Succeeded, "{e:#?}");
    let out = pipeline_actions::artifact(state, &action(&e, "Build", "Compile").output_artifacts[0]).await.unwrap();
    let unpacked = dir.path().join("built");
    ferry_bundle::unpack(
        &state.blobs.dir().join(&out.blob_key),
        ferry_bundle::BundleType::Zip,
        &unpacked,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(unpacked.join("lib.html")).unwrap(), "<h1>lib</h1>\n");
    assert_eq!(std::fs::read_to_string(unpacked.join("site/index.html")).unwrap(), "<h1>shop</h1>\n");
}
