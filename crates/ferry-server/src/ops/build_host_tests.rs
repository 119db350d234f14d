//! Build hosts end to end in one process: the server's router on a loopback
//! port, a real agent (`ferry_agent::run` with a build capacity) running
//! real builds in workspaces (as `nobody`), and the operations queueing,
//! stopping and reading them.

use std::net::SocketAddr;
use std::time::Duration;

use ferry_core::build::{Build, BuildProject, BuildSource, BuildStatus, BuildVariable, Initiator, VariableKind};
use ferry_core::resources::{AccessKey, Instance, Role};

use super::build_hosts;
use super::builds::{self, StartBuild};
use crate::AppState;

pub(super) struct Fixture {
    pub(super) state: AppState,
    host: String,
    _dir: tempfile::TempDir,
    stop_agent: Option<tokio::sync::oneshot::Sender<()>>,
    agent: Option<tokio::task::JoinHandle<Result<(), ferry_agent::AgentError>>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(stop) = self.stop_agent.take() {
            let _ = stop.send(());
        }
    }
}

/// A server on a loopback port and one enrolled build host with one slot,
/// named uniquely: a build host removes the environments its name labels
/// when it starts, and tests run at once.
pub(super) async fn fixture() -> Fixture {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let host = format!("builder-{}-{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let dir = tempfile::tempdir().unwrap();
    let mut state = AppState::for_tests_with(dir.path(), |c| {
        c.poll_hold = Duration::from_secs(2);
        c.agent_lost_after = Duration::from_secs(30);
    })
    .await;
    state.store = state.store.clone().with_secrets_key(ferry_store::SecretsKey::generate().unwrap().0);
    let key = AccessKey {
        id: "FKAGBUILDHOST1".into(),
        secret: "secret-of-the-build-host".into(),
        role: Role::Agent,
        instance: Some(host.clone()),
        description: String::new(),
        create_time: 1,
        disabled: false,
        scopes: Vec::new(),
    };
    state.store.put_access_key(&key).await.unwrap();
    let instance = Instance {
        name: host.clone(),
        tags: Vec::new(),
        register_time: 1,
        deregister_time: None,
        iam_user_arn: None,
        iam_session_arn: None,
        agent_key_id: Some(key.id.clone()),
        agent_version: None,
        address: None,
    };
    state.store.upsert_instance(&instance).await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = crate::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let root = dir.path().join("agent");
    std::fs::create_dir_all(root.join("state")).unwrap();
    let credentials = serde_json::json!({
        "instance_name": host,
        "access_key_id": key.id,
        "secret_access_key": key.secret,
    });
    std::fs::write(root.join("state/credentials"), credentials.to_string()).unwrap();
    let mut config = ferry_agent::AgentConfig::new(format!("http://{addr}"), host.clone());
    config.root = root;
    config.builds = 1;
    config.build_user = "nobody".into();
    let (stop_agent, stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(ferry_agent::run(config, async move {
        let _ = stopped.await;
    }));
    Fixture { state, _dir: dir, host, stop_agent: Some(stop_agent), agent: Some(agent) }
}

pub(super) fn project(name: &str, buildspec: &str) -> BuildProject {
    BuildProject {
        id: name.into(),
        name: name.into(),
        description: String::new(),
        source: BuildSource::NoSource,
        buildspec: Some(buildspec.into()),
        image: None,
        variables: vec![BuildVariable {
            name: "GREETING".into(),
            value: "hello".into(),
            kind: VariableKind::Plaintext,
        }],
        timeout_minutes: 5,
        queued_timeout_minutes: 5,
        concurrent_build_limit: None,
        cache: false,
        badge: false,
        tags: Vec::new(),
        create_time: 0,
        last_modified: 0,
        poll_seconds: None,
        notify: Vec::new(),
        webhook: None,
    }
}

async fn wait_for(state: &AppState, id: &str, what: &str, done: impl Fn(&Build) -> bool) -> Build {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let b = builds::get(state, id).await.unwrap();
        if done(&b) {
            return b;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {b:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn log_text(state: &AppState, id: &str) -> String {
    let lines = builds::log(state, id, 0, 100_000).await.unwrap();
    lines.iter().enumerate().for_each(|(i, (seq, _))| assert_eq!(*seq, i as u64, "numbered without gaps"));
    lines.into_iter().map(|(_, l)| l).collect::<Vec<_>>().join("\n")
}

pub(super) fn can_switch_users() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    ferry_testkit::skip("build hosts run workspace builds as nobody, which needs root");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_host_runs_a_queued_build_and_reports_its_log_phases_artifacts_and_reports() {
    if !can_switch_users() {
        return;
    }
    let f = fixture().await;
    let spec = r#"version: 0.2
env:
  exported-variables: [OUTCOME]
phases:
  build:
    commands:
      - echo "$GREETING from $CODEBUILD_BUILD_ID number $CODEBUILD_BUILD_NUMBER"
      - mkdir -p out reports && echo built > out/result.txt
      - export OUTCOME=fine
      - printf '<testsuite name="s"><testcase classname="c" name="ok" time="0.5"/><testcase classname="c" name="bad"><failure message="no"/></testcase></testsuite>' > reports/junit.xml
artifacts:
  files: ['out/**/*']
reports:
  unit:
    files: ['reports/junit.xml']
"#;
    let mut p = project("hello-host", spec);
    p.notify = vec!["http://127.0.0.1:9/build-events".into()];
    builds::create_project(&f.state, p).await.unwrap();
    let queued =
        builds::start(&f.state, "hello-host", StartBuild::by(Initiator::Key("FKIATEST".into())), |_| {}).await.unwrap();
    let done = wait_for(&f.state, &queued.id, "the build to end", |b| b.status.is_terminal()).await;
    let log = log_text(&f.state, &queued.id).await;
    assert_eq!(done.status, BuildStatus::Succeeded, "{done:#?}\n{log}");
    assert_eq!(done.host.as_deref(), Some(f.host.as_str()));
    assert!(log.contains(&format!("hello from {} number 1", queued.id)), "{log}");
    let phases: Vec<(&str, Option<&str>)> =
        done.phases.iter().map(|p| (p.name.as_str(), p.status.as_deref())).collect();
    assert_eq!(
        phases,
        [
            ("SUBMITTED", Some("SUCCEEDED")),
            ("QUEUED", Some("SUCCEEDED")),
            ("PROVISIONING", Some("SUCCEEDED")),
            ("DOWNLOAD_SOURCE", Some("SUCCEEDED")),
            ("INSTALL", Some("SUCCEEDED")),
            ("PRE_BUILD", Some("SUCCEEDED")),
            ("BUILD", Some("SUCCEEDED")),
            ("POST_BUILD", Some("SUCCEEDED")),
            ("UPLOAD_ARTIFACTS", Some("SUCCEEDED")),
            ("FINALIZING", Some("SUCCEEDED")),
            ("COMPLETED", None),
        ],
        "{done:#?}"
    );
    assert_eq!(done.exported_variables, [("OUTCOME".to_string(), "fine".to_string())]);
    let [artifact] = done.artifacts.as_slice() else { panic!("one artifact: {done:#?}") };
    assert_eq!(artifact.identifier, None);
    let (_, size) = f.state.blobs.open_blob(&artifact.blob_key).await.unwrap();
    assert_eq!(size, artifact.size);
    // Every status change is in the event log, in order.
    let events = f.state.store.events_after(0, None, 100).await.unwrap();
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e.notice.build.as_ref().is_some_and(|b| b.id == queued.id))
        .map(|e| e.notice.status.as_str())
        .collect();
    assert_eq!(states, ["QUEUED", "IN_PROGRESS", "SUCCEEDED"]);
    // …and each is a notification to the project's address, as EventBridge's event.
    let filter = ferry_store::DeliveryFilter { deployment_id: Some(queued.id.clone()), ..Default::default() };
    let sent = f.state.store.list_deliveries(&filter).await.unwrap();
    let statuses: Vec<&str> = sent.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(statuses, ["QUEUED", "IN_PROGRESS", "SUCCEEDED"]);
    let body: serde_json::Value = serde_json::from_str(&sent[2].body).unwrap();
    assert_eq!(body["detail-type"], "CodeBuild Build State Change");
    assert_eq!(body["detail"]["build-status"], "SUCCEEDED");
    assert_eq!(body["detail"]["project-name"], "hello-host");
    assert!(body["detail"]["build-id"].as_str().unwrap().ends_with(&queued.id));
    let reports = builds::reports(&f.state, &queued.id).await.unwrap();
    let [report] = reports.as_slice() else { panic!("one report: {reports:#?}") };
    assert_eq!((report.name.as_str(), report.total, report.succeeded, report.failed), ("unit", 2, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_running_build_kills_its_commands_and_a_failing_build_fails() {
    if !can_switch_users() {
        return;
    }
    let f = fixture().await;
    let slow = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo started-sleeping\n      - sleep 120\n";
    builds::create_project(&f.state, project("slow-host", slow)).await.unwrap();
    let by = || StartBuild::by(Initiator::Key("FKIATEST".into()));
    let running = builds::start(&f.state, "slow-host", by(), |_| {}).await.unwrap();
    wait_for(&f.state, &running.id, "the build to run", |b| b.status == BuildStatus::InProgress).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !log_text(&f.state, &running.id).await.contains("started-sleeping") {
        assert!(tokio::time::Instant::now() < deadline, "the log never said started-sleeping");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let asked = builds::stop(&f.state, &running.id).await.unwrap();
    assert!(asked.stop_requested);
    let stopped = wait_for(&f.state, &running.id, "the build to stop", |b| b.status.is_terminal()).await;
    assert_eq!(stopped.status, BuildStatus::Stopped, "{stopped:#?}");
    assert!(stopped.phases.iter().any(|p| p.name == "BUILD" && p.status.as_deref() == Some("STOPPED")), "{stopped:#?}");

    // The slot is free again: the next build runs, and a failing command fails it.
    let failing = "version: 0.2\nphases:\n  build:\n    commands:\n      - exit 3\n";
    builds::create_project(&f.state, project("failing-host", failing)).await.unwrap();
    let failed = builds::start(&f.state, "failing-host", by(), |_| {}).await.unwrap();
    let failed = wait_for(&f.state, &failed.id, "the failing build to end", |b| b.status.is_terminal()).await;
    assert_eq!(failed.status, BuildStatus::Failed, "{failed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_whose_host_restarts_ends_fault_and_its_host_takes_the_next() {
    if !can_switch_users() {
        return;
    }
    let mut f = fixture().await;
    let slow = "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 120\n";
    builds::create_project(&f.state, project("lost-host", slow)).await.unwrap();
    let by = || StartBuild::by(Initiator::Key("FKIATEST".into()));
    let lost = builds::start(&f.state, "lost-host", by(), |_| {}).await.unwrap();
    wait_for(&f.state, &lost.id, "the build to run", |b| b.status == BuildStatus::InProgress).await;
    // The agent dies without a word (its task is aborted, as a kill would).
    f.agent.take().unwrap().abort();
    // A claim from the same host listing nothing running: the agent restarted.
    let claim = ferry_proto::build_host::ClaimRequest { free: 0, running: Vec::new(), containers: false };
    build_hosts::claim(&f.state, &f.host, &claim).await.unwrap();
    let ended = builds::get(&f.state, &lost.id).await.unwrap();
    assert_eq!(ended.status, BuildStatus::Fault, "{ended:#?}");
    let open = ended.phases.iter().rev().find(|p| p.message.is_some()).unwrap();
    assert!(open.message.as_deref().unwrap().contains("no longer runs this build"), "{ended:#?}");

    // A silent host's build ends FAULT once the lost time passes.
    let silent = builds::start(&f.state, "lost-host", by(), |_| {}).await.unwrap();
    let claim = ferry_proto::build_host::ClaimRequest { free: 1, running: Vec::new(), containers: false };
    let taken = build_hosts::claim(&f.state, &f.host, &claim).await.unwrap().unwrap();
    assert_eq!(taken.build_id, silent.id);
    assert!(build_hosts::check_liveness(&f.state, 0).await.unwrap().is_empty(), "heard from just now");
    let mut b = builds::get(&f.state, &silent.id).await.unwrap();
    b.last_heard = Some(b.last_heard.unwrap() - 31_000);
    f.state.store.update_build(&b).await.unwrap();
    assert_eq!(build_hosts::check_liveness(&f.state, 0).await.unwrap(), std::slice::from_ref(&silent.id));
    assert_eq!(builds::get(&f.state, &silent.id).await.unwrap().status, BuildStatus::Fault);
}

/// A git repository with a buildspec, as a project's source (a local path:
/// git clones it as it would a URL).
fn git_repository(dir: &std::path::Path) -> (String, String) {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").args(args).current_dir(&repo).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(
        repo.join("buildspec.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - cat message.txt\n      - echo \"commit $CODEBUILD_RESOLVED_SOURCE_VERSION\"\n      - id -un || id -u\n",
    )
    .unwrap();
    std::fs::write(repo.join("message.txt"), "from the repository\n").unwrap();
    git(&["add", "."]);
    git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "first"]);
    let commit = git(&["rev-parse", "HEAD"]);
    (repo.display().to_string(), commit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_sources_are_cloned_and_images_run_as_containers() {
    if !ferry_testkit::podman_available() {
        return;
    }
    let image = tokio::task::spawn_blocking(ferry_testkit::busybox_image).await.unwrap();
    let f = fixture().await;
    let (url, commit) = git_repository(f._dir.path());
    let mut p = project("from-git", "buildspec.yml");
    p.buildspec = None;
    p.source = BuildSource::Git { url, version: Some("main".into()) };
    p.image = Some(image.clone());
    builds::create_project(&f.state, p).await.unwrap();
    let queued = builds::start(&f.state, "from-git", StartBuild::by(Initiator::Webhook), |_| {}).await.unwrap();
    let done = wait_for(&f.state, &queued.id, "the build to end", |b| b.status.is_terminal()).await;
    let log = log_text(&f.state, &queued.id).await;
    assert_eq!(done.status, BuildStatus::Succeeded, "{done:#?}\n{log}");
    assert!(log.contains("from the repository"), "{log}");
    assert!(log.contains(&format!("commit {commit}")), "{log}");
    assert_eq!(done.resolved_source_version.as_deref(), Some(commit.as_str()));
    let environment = done.environment.clone().unwrap_or_default();
    assert!(environment.contains(&image), "ran in a container of the image: {environment}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_of_one_build_is_in_the_next_builds_source() {
    if !can_switch_users() {
        return;
    }
    let f = fixture().await;
    let spec = r#"version: 0.2
phases:
  build:
    commands:
      - if [ -f deps/marker ]; then echo "cache hit $(cat deps/marker)"; else mkdir -p deps && echo "$CODEBUILD_BUILD_NUMBER" > deps/marker && echo "cache miss"; fi
cache:
  paths: ['deps/**/*', '/root/.m2/**/*']
"#;
    let mut p = project("cached", spec);
    p.cache = true;
    builds::create_project(&f.state, p).await.unwrap();
    let by = || StartBuild::by(Initiator::Key("FKIATEST".into()));
    let mut logs = Vec::new();
    for _ in 0..2 {
        let b = builds::start(&f.state, "cached", by(), |_| {}).await.unwrap();
        let done = wait_for(&f.state, &b.id, "the build to end", |b| b.status.is_terminal()).await;
        let log = log_text(&f.state, &b.id).await;
        assert_eq!(done.status, BuildStatus::Succeeded, "{log}");
        logs.push(log);
    }
    assert!(logs[0].contains("cache miss") && logs[0].contains("no cache yet"), "{}", logs[0]);
    assert!(logs[0].contains("not cached: /root/.m2/**/*: only paths inside the source directory"), "{}", logs[0]);
    assert!(logs[0].contains("saved the cache: 1 files"), "{}", logs[0]);
    assert!(logs[1].contains("restored 1 files from the project's cache"), "{}", logs[1]);
    assert!(logs[1].contains("cache hit 1"), "{}", logs[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_the_build_masked_and_webhook_builds_see_codebuilds_webhook_variables() {
    if !can_switch_users() {
        return;
    }
    let f = fixture().await;
    super::secrets::put(&f.state, "deploy-token", "tok-3141592653", "").await.unwrap();
    super::secrets::put(&f.state, "/prod/db/password", "pw-2718281828", "").await.unwrap();
    super::secrets::put(&f.state, "prod/json", r#"{"user":"svc","key":"k-1618033988"}"#, "").await.unwrap();
    let spec = r#"version: 0.2
env:
  parameter-store:
    DB_PASSWORD: /prod/db/password
  secrets-manager:
    API_KEY: prod/json:key
phases:
  build:
    commands:
      - echo "token $TOKEN db $DB_PASSWORD key $API_KEY"
      - test "$TOKEN" = tok-3141592653 && test "$DB_PASSWORD" = pw-2718281828 && test "$API_KEY" = k-1618033988
      - echo "event $CODEBUILD_WEBHOOK_EVENT trigger $CODEBUILD_WEBHOOK_TRIGGER head $CODEBUILD_WEBHOOK_HEAD_REF"
"#;
    let mut p = project("secretive", spec);
    p.variables.push(BuildVariable { name: "TOKEN".into(), value: "deploy-token".into(), kind: VariableKind::Secret });
    builds::create_project(&f.state, p).await.unwrap();
    let hook = ferry_core::build::BuildWebhook {
        forge: "github".into(),
        event: ferry_core::build::WebhookEventType::Push,
        head_ref: "refs/heads/main".into(),
        base_ref: None,
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        actor_account_id: Some("42".into()),
        trigger: "branch/main".into(),
        prev_commit: None,
        merge_commit: None,
        pr_number: None,
        repository_url: None,
        server_url: None,
    };
    let start = StartBuild { webhook: Some(hook), ..StartBuild::by(Initiator::Webhook) };
    let b = builds::start(&f.state, "secretive", start, |_| {}).await.unwrap();
    let done = wait_for(&f.state, &b.id, "the build to end", |b| b.status.is_terminal()).await;
    let log = log_text(&f.state, &b.id).await;
    assert_eq!(done.status, BuildStatus::Succeeded, "{done:#?}\n{log}");
    assert!(log.contains("token *** db *** key ***"), "{log}");
    for value in ["tok-3141592653", "pw-2718281828", "k-1618033988"] {
        assert!(!log.contains(value), "{value} in the log: {log}");
    }
    assert!(log.contains("event PUSH trigger branch/main head refs/heads/main"), "{log}");

    // A secret that does not exist fails the build before it starts, saying which.
    let mut missing = project("missing-secret", "version: 0.2\nphases:\n  build:\n    commands:\n      - 'true'\n");
    missing.variables.push(BuildVariable { name: "X".into(), value: "nope".into(), kind: VariableKind::Secret });
    builds::create_project(&f.state, missing).await.unwrap();
    let b = builds::start(&f.state, "missing-secret", StartBuild::by(Initiator::Webhook), |_| {}).await.unwrap();
    let done = wait_for(&f.state, &b.id, "the build to fail", |b| b.status.is_terminal()).await;
    assert_eq!(done.status, BuildStatus::Failed);
    let message = done.phases.iter().find_map(|p| p.message.clone()).unwrap_or_default();
    assert!(message.contains("variable X names the secret nope"), "{done:#?}");
}
