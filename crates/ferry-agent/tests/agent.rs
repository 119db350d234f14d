//! The agent against a fake server that speaks the protocol in memory.

mod common;

use std::time::Duration;

use common::*;
use ferry_agent::AgentError;
use ferry_proto::agent::Phase;

const WAIT: Duration = Duration::from_secs(30);

fn started_then_finished(events: &[&str]) -> Vec<(String, Phase)> {
    events.iter().flat_map(|e| [(e.to_string(), Phase::Started), (e.to_string(), Phase::Finished)]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrols_once_and_reuses_the_saved_credentials() {
    init_logging();
    let server = FakeServer::start().await;
    let host = Host::new();

    let agent = RunningAgent::spawn(host.config(&server.url));
    server.wait_polls(2).await;
    agent.shutdown().await.unwrap();
    assert_eq!(server.state().enrol_calls, 1);
    let credentials = host.root().join("state/credentials");
    assert_eq!(mode(&credentials), 0o600);
    assert_eq!(mode(&host.root().join("state")), 0o700);
    let saved = std::fs::read_to_string(&credentials).unwrap();
    assert!(saved.contains("AKAGENT1") && saved.contains("secret-of-web-1"), "{saved}");

    // The second run needs no join token and does not enrol again.
    let mut config = host.config(&server.url);
    config.join_token = None;
    let agent = RunningAgent::spawn(config);
    server.wait_polls(2).await;
    agent.shutdown().await.unwrap();
    assert_eq!(server.state().enrol_calls, 1);
    server.assert_all_signed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_without_a_join_token_is_a_clear_error() {
    let server = FakeServer::start().await;
    let host = Host::new();
    let mut config = host.config(&server.url);
    config.join_token = None;
    let error = RunningAgent::spawn(config).finished().await.unwrap_err();
    assert!(matches!(error, AgentError::NotEnrolled { .. }), "{error:?}");
    assert!(error.to_string().starts_with("not enrolled yet: pass --join-token"), "{error}");
    assert_eq!(server.state().enrol_calls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_enrolment_is_fatal_and_shows_the_server_message() {
    let server = FakeServer::start().await;
    let host = Host::new();
    let mut config = host.config(&server.url);
    config.join_token = Some("wrong".into());
    let error = RunningAgent::spawn(config).finished().await.unwrap_err().to_string();
    assert!(error.contains("the join token is not valid for this fleet") && error.contains("403"), "{error}");
    assert_eq!(server.state().enrol_calls, 1, "a 4xx is not retried");

    // A name taken by another enrolled agent.
    let other = Host::new();
    let agent = RunningAgent::spawn(other.config(&server.url));
    server.wait_polls(1).await;
    agent.shutdown().await.unwrap();
    let error = RunningAgent::spawn(host.config(&server.url)).finished().await.unwrap_err().to_string();
    assert!(error.contains("instance name web-1 is taken by another enrolled agent"), "{error}");
    assert!(!host.root().join("state/credentials").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_every_event_of_a_deployment_in_order() {
    init_logging();
    let server = FakeServer::start().await;
    let host = Host::new();
    let v1 = bundle(&host, "v1", &[]);
    let c1 = command(&server, "c-1", "d-1", &ALL_EVENTS, &v1);
    server.update(|s| s.commands = vec![c1]);

    let agent = RunningAgent::spawn(host.config(&server.url));
    wait_until("ValidateService finished", WAIT, || server.finished("c-1", "ValidateService").is_some()).await;
    assert_eq!(server.phases("c-1"), started_then_finished(&ALL_EVENTS));
    for report in server.reports() {
        assert_eq!((report.deployment_id.as_str(), report.attempt), ("d-1", 1));
        if report.phase == Phase::Finished {
            let diagnostics = report.diagnostics.as_ref().unwrap();
            assert!(report.succeeded, "{report:?}");
            assert_eq!(diagnostics.error_code, "Success");
        }
    }
    let tail = server.finished("c-1", "ValidateService").unwrap().diagnostics.unwrap().log_tail;
    assert!(tail.contains("hello from ValidateService"), "{tail}");
    assert_eq!(std::fs::read_to_string(host.dest().join("index.html")).unwrap(), "revision v1\n");
    // ApplicationStop is a no-op on a group's first deployment.
    assert_eq!(
        host.proof_lines(),
        ["BeforeInstall v1", "AfterInstall v1", "ApplicationStart v1", "ValidateService v1"]
    );

    // The next deployment stops the previous revision first.
    let v2 = bundle(&host, "v2", &[]);
    let c2 = command(&server, "c-2", "d-2", &ALL_EVENTS, &v2);
    server.update(|s| s.commands = vec![c2]);
    wait_until("the second deployment", WAIT, || server.finished("c-2", "ValidateService").is_some()).await;
    assert_eq!(server.phases("c-2"), started_then_finished(&ALL_EVENTS));
    assert_eq!(std::fs::read_to_string(host.dest().join("index.html")).unwrap(), "revision v2\n");
    assert_eq!(
        &host.proof_lines()[4..],
        ["ApplicationStop v1", "BeforeInstall v2", "AfterInstall v2", "ApplicationStart v2", "ValidateService v2"]
    );

    agent.shutdown().await.unwrap();
    server.assert_all_signed();
    assert!(host.root().join("deployment-root/g-web/d-2/deployment-archive/appspec.yml").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_mismatch_fails_the_download_and_nothing_after_it_runs() {
    let server = FakeServer::start().await;
    let host = Host::new();
    let v1 = bundle(&host, "v1", &[]);
    let mut c1 = command(&server, "c-1", "d-1", &ALL_EVENTS, &v1);
    let wrong = "0".repeat(64);
    c1.spec.revision.sha256 = wrong.clone();
    // A server (or a disk) that serves other bytes than the digest it names.
    server.update(|s| {
        s.bundles.insert(wrong.clone(), v1.bytes.clone());
        s.commands = vec![c1];
    });

    let agent = RunningAgent::spawn(host.config(&server.url));
    wait_until("DownloadBundle finished", WAIT, || server.finished("c-1", "DownloadBundle").is_some()).await;
    let report = server.finished("c-1", "DownloadBundle").unwrap();
    assert!(!report.succeeded);
    let diagnostics = report.diagnostics.unwrap();
    assert_eq!(diagnostics.error_code, "UnknownError");
    let expected = format!(
        "bundle digest mismatch: expected sha256 {wrong} ({n} bytes), got {} ({n} bytes)",
        v1.sha256,
        n = v1.bytes.len()
    );
    assert!(diagnostics.message.contains(&expected), "{}", diagnostics.message);

    server.wait_polls(3).await;
    assert_eq!(server.phases("c-1"), started_then_finished(&["ApplicationStop", "DownloadBundle"]));
    assert!(host.proof_lines().is_empty());
    agent.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_server_says_not_to_proceed_with_never_runs() {
    let server = FakeServer::start().await;
    let host = Host::new();
    let v1 = bundle(&host, "v1", &[]);
    let c1 = command(&server, "c-1", "d-1", &ALL_EVENTS, &v1);
    server.update(|s| {
        s.refuse.insert("AfterInstall".into());
        s.commands = vec![c1];
    });

    let agent = RunningAgent::spawn(host.config(&server.url));
    wait_until("AfterInstall asked", WAIT, || server.phases("c-1").contains(&("AfterInstall".into(), Phase::Started)))
        .await;
    server.wait_polls(3).await;
    let mut expected = started_then_finished(&["ApplicationStop", "DownloadBundle", "BeforeInstall", "Install"]);
    expected.push(("AfterInstall".into(), Phase::Started));
    assert_eq!(server.phases("c-1"), expected);
    assert_eq!(host.proof_lines(), ["BeforeInstall v1"]);
    agent.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_command_is_not_run_again() {
    let server = FakeServer::start().await;
    let host = Host::new();
    let v1 = bundle(&host, "v1", &[]);
    let c1 = command(&server, "c-1", "d-1", &ALL_EVENTS, &v1);
    // The fake keeps listing the command after it completes.
    server.update(|s| s.commands = vec![c1]);

    let agent = RunningAgent::spawn(host.config(&server.url));
    wait_until("ValidateService finished", WAIT, || server.finished("c-1", "ValidateService").is_some()).await;
    server.wait_polls(4).await;
    let reports = server.reports().len();
    assert_eq!(reports, ALL_EVENTS.len() * 2);
    assert!(server.state().last_running.is_empty(), "a finished command is not reported as running");
    agent.shutdown().await.unwrap();

    // Nor after a restart of the agent.
    let agent = RunningAgent::spawn(host.config(&server.url));
    server.wait_polls(4).await;
    agent.shutdown().await.unwrap();
    assert_eq!(server.reports().len(), reports);
    assert_eq!(
        host.proof_lines(),
        ["BeforeInstall v1", "AfterInstall v1", "ApplicationStart v1", "ValidateService v1"]
    );
    assert_eq!(server.state().bundle_downloads, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_interrupted_by_a_crash_is_reported_failed_after_restart_and_not_rerun() {
    init_logging();
    let server = FakeServer::start().await;
    let host = Host::new();
    let proof = host.proof();
    let slow = format!("echo start >> '{}'\nsleep 30\necho end >> '{}'", proof.display(), proof.display());
    let v1 = bundle(&host, "v1", &[("BeforeInstall", slow.as_str())]);
    let c1 = command(&server, "c-1", "d-1", &ALL_EVENTS, &v1);
    server.update(|s| s.commands = vec![c1]);

    let agent = RunningAgent::spawn(host.config(&server.url));
    wait_until("the slow hook started", WAIT, || host.proof_lines() == ["start"]).await;
    agent.crash().await;
    assert!(server.finished("c-1", "BeforeInstall").is_none());

    // The server still lists the command; the restarted agent settles it.
    let agent = RunningAgent::spawn(host.config(&server.url));
    wait_until("BeforeInstall finished", WAIT, || server.finished("c-1", "BeforeInstall").is_some()).await;
    let report = server.finished("c-1", "BeforeInstall").unwrap();
    assert!(!report.succeeded);
    let diagnostics = report.diagnostics.unwrap();
    assert_eq!(diagnostics.error_code, "FailedAfterRestart");
    assert_eq!(diagnostics.message, "Failed: Failing in-progress lifecycle event after an agent restart.");

    server.wait_polls(4).await;
    // BeforeInstall started once (before the crash) and is never started again.
    let expected = started_then_finished(&["ApplicationStop", "DownloadBundle", "BeforeInstall"]);
    assert_eq!(server.phases("c-1"), expected);
    agent.shutdown().await.unwrap();
    // One start, and the hook was killed with the crashed agent.
    assert_eq!(host.proof_lines(), ["start"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_running_event_finish_and_the_command_resumes_after_restart() {
    let server = FakeServer::start().await;
    let host = Host::new();
    let proof = host.proof();
    let go = host.dir.path().join("go");
    let gated = format!(
        "echo 'BeforeInstall waiting' >> '{p}'\nfor i in $(seq 1 300); do [ -f '{g}' ] && break; sleep 0.1; done\n\
         echo 'BeforeInstall done' >> '{p}'",
        p = proof.display(),
        g = go.display()
    );
    let v1 = bundle(&host, "v1", &[("BeforeInstall", gated.as_str())]);
    let c1 = command(&server, "c-1", "d-1", &ALL_EVENTS, &v1);
    server.update(|s| s.commands = vec![c1]);

    let mut agent = RunningAgent::spawn(host.config(&server.url));
    wait_until("BeforeInstall running", WAIT, || host.proof_lines() == ["BeforeInstall waiting"]).await;
    agent.request_shutdown().await;
    std::fs::write(&go, "").unwrap();
    agent.shutdown().await.unwrap();
    let done = started_then_finished(&["ApplicationStop", "DownloadBundle", "BeforeInstall"]);
    assert_eq!(server.phases("c-1"), done, "the running event finished and was reported; no new one started");
    assert!(server.finished("c-1", "BeforeInstall").unwrap().succeeded);

    let agent = RunningAgent::spawn(host.config(&server.url));
    wait_until("ValidateService finished", WAIT, || server.finished("c-1", "ValidateService").is_some()).await;
    agent.shutdown().await.unwrap();
    assert_eq!(server.phases("c-1"), started_then_finished(&ALL_EVENTS));
    assert_eq!(
        host.proof_lines(),
        ["BeforeInstall waiting", "BeforeInstall done", "AfterInstall v1", "ApplicationStart v1", "ValidateService v1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_command_finishes_its_current_event_and_starts_no_more() {
    let server = FakeServer::start().await;
    let host = Host::new();
    let proof = host.proof();
    let go = host.dir.path().join("go");
    let gated = format!(
        "echo 'AfterInstall waiting' >> '{p}'\nfor i in $(seq 1 300); do [ -f '{g}' ] && break; sleep 0.1; done\n\
         echo 'AfterInstall done' >> '{p}'",
        p = proof.display(),
        g = go.display()
    );
    let v1 = bundle(&host, "v1", &[("AfterInstall", gated.as_str())]);
    let c1 = command(&server, "c-1", "d-1", &ALL_EVENTS, &v1);
    server.update(|s| s.commands = vec![c1]);

    let agent = RunningAgent::spawn(host.config(&server.url));
    wait_until("AfterInstall running", WAIT, || host.proof_lines().ends_with(&["AfterInstall waiting".to_string()]))
        .await;
    server.update(|s| s.commands[0].cancel = true);
    server.wait_polls(2).await;
    std::fs::write(&go, "").unwrap();
    wait_until("AfterInstall finished", WAIT, || server.finished("c-1", "AfterInstall").is_some()).await;
    server.wait_polls(3).await;
    let ran = ["ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall"];
    assert_eq!(server.phases("c-1"), started_then_finished(&ran));
    assert_eq!(host.proof_lines(), ["BeforeInstall v1", "AfterInstall waiting", "AfterInstall done"]);
    agent.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_of_one_deployment_run_one_at_a_time_and_others_concurrently() {
    let server = FakeServer::start().await;
    let host = Host::new();
    let proof = host.proof();
    let go = host.dir.path().join("go");
    let gated = format!(
        "echo \"$DEPLOYMENT_ID waiting\" >> '{p}'\nfor i in $(seq 1 300); do [ -f '{g}' ] && break; sleep 0.1; done",
        p = proof.display(),
        g = go.display()
    );
    let v1 = bundle(&host, "v1", &[("ValidateService", gated.as_str())]);
    let first = command(&server, "c-1", "d-1", &["DownloadBundle", "Install", "ValidateService"], &v1);
    let mut second = first.clone();
    second.id = "c-2".into();
    second.events = vec!["ValidateService".into()];
    let mut other = command(&server, "c-3", "d-3", &["DownloadBundle", "ValidateService"], &v1);
    other.spec.deployment_group_id = "g-other".into();
    server.update(|s| s.commands = vec![first, second, other]);

    let agent = RunningAgent::spawn(host.config(&server.url));
    // Both deployments reach their gated hook at the same time...
    wait_until("both deployments waiting", WAIT, || {
        let lines = host.proof_lines();
        lines.contains(&"d-1 waiting".to_string()) && lines.contains(&"d-3 waiting".to_string())
    })
    .await;
    // ...but the second command of d-1 has not started.
    server.wait_polls(2).await;
    assert!(server.phases("c-2").is_empty());
    let running = server.state().last_running.clone();
    assert_eq!(running, ["c-1", "c-2", "c-3"], "waiting commands count as accepted");
    std::fs::write(&go, "").unwrap();
    wait_until("c-2 finished", WAIT, || server.finished("c-2", "ValidateService").is_some()).await;
    agent.shutdown().await.unwrap();
    assert_eq!(host.proof_lines().iter().filter(|l| *l == "d-1 waiting").count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_waits_for_a_server_that_is_down_at_start() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let host = Host::new();
    let agent = RunningAgent::spawn(host.config(&url));

    // Down: connections are accepted and dropped at once.
    for _ in 0..3 {
        let (socket, _) = tokio::time::timeout(WAIT, listener.accept()).await.expect("the agent retries").unwrap();
        drop(socket);
    }
    // Up, but answering 503 to the first polls.
    let server = FakeServer::serve_with(listener, |s| s.fail_polls = 3);
    let v1 = bundle(&host, "v1", &[]);
    let c1 = command(&server, "c-1", "d-1", &["DownloadBundle", "Install"], &v1);
    server.update(|s| s.commands = vec![c1]);
    wait_until("Install finished", WAIT, || server.finished("c-1", "Install").is_some()).await;
    assert_eq!(server.state().fail_polls, 0);
    assert_eq!(server.state().enrol_calls, 1);
    agent.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_credential_stops_the_agent_with_an_error() {
    let server = FakeServer::start().await;
    let host = Host::new();
    let agent = RunningAgent::spawn(host.config(&server.url));
    server.wait_polls(1).await;
    server.update(|s| {
        s.revoked.insert("AKAGENT1".into());
    });
    let error = agent.finished().await.unwrap_err();
    assert!(matches!(error, AgentError::CredentialRejected { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("access key AKAGENT1") && message.contains("revoked"), "{message}");
    assert!(!message.contains("secret-of-web-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_agent_on_the_same_root_is_refused() {
    let server = FakeServer::start().await;
    let host = Host::new();
    let agent = RunningAgent::spawn(host.config(&server.url));
    server.wait_polls(1).await;
    let error = RunningAgent::spawn(host.config(&server.url)).finished().await.unwrap_err();
    assert!(matches!(error, AgentError::AlreadyRunning { .. }), "{error:?}");
    agent.shutdown().await.unwrap();
}
