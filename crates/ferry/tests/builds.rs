//! `ferry build project …` and the server-side `ferry build` commands,
//! black-box: a real `ferry server` (TLS, its own CA) and the CLI, as a
//! user runs them. No root needed.
//!
//! No build host runs here (`build_hosts.rs` has them), so builds stay
//! QUEUED; what a build host writes (log lines, status, artifacts, reports)
//! the test writes into the server's database and blob directory, to check
//! the reading side (`logs --follow`, `artifacts`, `report`) in detail.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ferry_core::build::{BuildArtifact, BuildReport, BuildStatus, TestCaseRecord};
use sha2::Digest;
use support::server::{Server, text};
use support::wait_for;

impl Server {
    /// Stores `bytes` as the blob store does (`sha256/<hex>`); returns the hex.
    fn put_blob(&self, bytes: &[u8]) -> String {
        let sha256 = hex(&sha2::Sha256::digest(bytes));
        std::fs::write(self.data.join("blobs/sha256").join(&sha256), bytes).unwrap();
        sha256
    }

    /// Does to the build what a build host would (through the store).
    fn edit_build(&self, id: &str, edit: impl FnOnce(&mut ferry_core::build::Build)) {
        self.runtime.block_on(async {
            let mut build = self.store.get_build(id).await.unwrap();
            edit(&mut build);
            self.store.update_build(&build).await.unwrap();
        });
    }

    fn append_log(&self, id: &str, first: u64, lines: &[&str]) {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        self.runtime.block_on(self.store.append_build_log(id, first, &lines)).unwrap();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn finish(build: &mut ferry_core::build::Build, status: BuildStatus) {
    build.status = status;
    build.start_time = Some(build.queued_time);
    build.end_time = Some(build.queued_time + 1500);
}

fn source_dir(root: &Path) -> PathBuf {
    let dir = root.join("src");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("buildspec.yml"), "version: 0.2\nphases:\n  build:\n    commands:\n      - make\n")
        .unwrap();
    std::fs::write(dir.join("lib/main.c"), "int main(void) { return 0; }\n").unwrap();
    dir
}

#[test]
fn projects_and_builds_through_the_cli() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();

    // Projects.
    let out = server.ok(&[
        "build",
        "project",
        "create",
        "app",
        "--source",
        "upload",
        "--env",
        "STAGE=test",
        "--secret-env",
        "TOKEN=app-token",
        "--timeout",
        "10",
        "--concurrency",
        "2",
    ]);
    assert!(out.contains("created build project app (source upload)"), "{out}");
    server.ok(&["build", "project", "create", "lib", "--source", "git+https://git.example/lib.git#main"]);
    let err = server.fails(&["build", "project", "create", "lib", "--source", "upload"], 1);
    assert!(err.contains("BuildProjectAlreadyExists"), "{err}");
    let err = server.fails(&["build", "project", "create", "x1", "--source", "svn://x"], 2);
    assert!(err.contains("expected git+https://"), "{err}");
    let list = server.ok(&["build", "project", "list"]);
    assert!(list.contains("git+https://git.example/lib.git#main") && list.contains("upload"), "{list}");
    server.ok(&["build", "project", "update", "lib", "--image", "localhost/builder:1", "--cache"]);
    let show = server.ok(&["build", "project", "show", "lib"]);
    assert!(show.contains("Image: localhost/builder:1") && show.contains("cache: kept"), "{show}");
    // Polling and notifications: set, shown, refused where they make no sense, removed.
    server.ok(&["build", "project", "update", "lib", "--poll-seconds", "60", "--notify", "https://hooks.example/b"]);
    let show = server.ok(&["build", "project", "show", "lib"]);
    assert!(
        show.contains("Polls its git source every 60 s") && show.contains("Notifies: https://hooks.example/b"),
        "{show}"
    );
    let err = server.fails(&["build", "project", "update", "app", "--poll-seconds", "60"], 1);
    assert!(err.contains("only a git source can be polled"), "{err}");
    let err = server.fails(&["build", "project", "update", "lib", "--poll-seconds", "5"], 1);
    assert!(err.contains("30 to 86400 seconds"), "{err}");
    let err = server.fails(&["build", "project", "update", "lib", "--notify", "ftp://x"], 1);
    assert!(err.contains("http:// or https:// URL"), "{err}");
    server.ok(&["build", "project", "update", "lib", "--no-poll", "--no-notify"]);
    let show = server.ok(&["build", "project", "show", "lib"]);
    assert!(!show.contains("Polls") && !show.contains("Notifies"), "{show}");
    let show = server.ok(&["build", "project", "show", "app"]);
    assert!(show.contains("Source: upload") && show.contains("STAGE=test"), "{show}");
    assert!(show.contains("TOKEN from secret app-token") && show.contains("Timeout: 10 min"), "{show}");
    server.ok(&["build", "project", "delete", "lib"]);
    let err = server.fails(&["build", "project", "show", "lib"], 1);
    assert!(err.contains("build project lib does not exist"), "{err}");

    // An upload project needs its source.
    let err = server.fails(&["build", "start", "app"], 1);
    assert!(err.contains("--source DIR"), "{err}");
    let src = source_dir(work.path());
    let out = server.ferry(&["build", "start", "app", "--source", src.to_str().unwrap(), "--env", "STAGE=prod"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    assert!(id.starts_with("app:"), "the id alone on stdout: {id}");
    assert!(text(&out.stderr).contains("bundled"), "{}", text(&out.stderr));

    // The uploaded source is a zip of the directory, in the blob store.
    let view: serde_json::Value = serde_json::from_str(&server.ok(&["build", "show", &id, "--json"])).unwrap();
    assert_eq!(view["status"], "QUEUED");
    assert_eq!(view["variables"][0], serde_json::json!({ "name": "STAGE", "value": "prod", "type": "PLAINTEXT" }));
    let sha256 = view["source_bundle"]["sha256"].as_str().unwrap();
    let blob = server.data.join("blobs/sha256").join(sha256);
    assert_eq!(hex(&sha2::Sha256::digest(std::fs::read(&blob).unwrap())), sha256);
    let unpacked = work.path().join("unpacked");
    ferry_bundle::unpack(&blob, ferry_bundle::BundleType::Zip, &unpacked, &Default::default()).unwrap();
    assert_eq!(std::fs::read_to_string(unpacked.join("lib/main.c")).unwrap(), "int main(void) { return 0; }\n");

    let list = server.ok(&["build", "list"]);
    assert!(list.contains(&id) && list.contains("QUEUED"), "{list}");
    let list: serde_json::Value =
        serde_json::from_str(&server.ok(&["build", "list", "--project", "app", "--json"])).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    let show = server.ok(&["build", "show", &id]);
    for want in ["(#1 of app): QUEUED", "Source: upload (zip", "SUBMITTED", "QUEUED", "IN_PROGRESS", "STAGE=prod"] {
        assert!(show.contains(want), "{want:?} in\n{show}");
    }
    let out = server.ok(&["build", "stop", &id]);
    assert!(out.contains(&format!("build {id} is stopped")), "{out}");
    assert!(server.ok(&["build", "show", &id]).contains("(#1 of app): STOPPED"));
    // Following a finished build prints its status and fails unless it succeeded.
    let err = server.ferry(&["build", "logs", &id, "--follow"]);
    assert_eq!(err.status.code(), Some(1));
    assert!(text(&err.stdout).contains("STOPPED"), "{}", text(&err.stdout));
    let err = server.fails(&["build", "show", "app:nope"], 1);
    assert!(err.contains("build app:nope does not exist"), "{err}");

    // A retry builds the same uploaded source.
    let retried = server.ok(&["build", "retry", &id]).trim().to_string();
    let view: serde_json::Value = serde_json::from_str(&server.ok(&["build", "show", &retried, "--json"])).unwrap();
    assert_eq!((view["number"].as_u64(), view["source_bundle"]["sha256"].as_str()), (Some(2), Some(sha256)));

    // What a build host writes, read back: the log, artifacts, reports.
    let primary = b"PK the primary artifact".repeat(100);
    let primary_sha = server.put_blob(&primary);
    let docs = b"PK the docs".to_vec();
    let docs_sha = server.put_blob(&docs);
    server.append_log(&retried, 0, &["[Container] Entering phase BUILD", "make: done"]);
    server.edit_build(&retried, |b| {
        finish(b, BuildStatus::Succeeded);
        b.artifacts = vec![BuildArtifact {
            identifier: None,
            blob_key: format!("sha256/{primary_sha}"),
            sha256: primary_sha.clone(),
            size: primary.len() as u64,
        }];
        b.exported_variables = vec![("VERSION".into(), "1.2.3".into())];
    });
    let case = |name: &str, status: &str| TestCaseRecord {
        suite: "unit".into(),
        prefix: "MainTest".into(),
        name: name.into(),
        status: status.into(),
        duration_ms: Some(12),
        message: (status == "FAILED").then(|| "expected 0".into()),
    };
    let report = BuildReport {
        name: "unit".into(),
        format: "JUNITXML".into(),
        total: 4,
        succeeded: 3,
        failed: 1,
        error: 0,
        skipped: 0,
        unknown: 0,
        duration_ms: 48,
        cases: vec![case("a", "SUCCEEDED"), case("b", "SUCCEEDED"), case("c", "FAILED"), case("d", "SUCCEEDED")],
        errors: Vec::new(),
    };
    server.runtime.block_on(server.store.put_build_reports(&retried, &[report])).unwrap();

    assert_eq!(server.ok(&["build", "logs", &retried]), "[Container] Entering phase BUILD\nmake: done\n");
    let follow = server.ok(&["build", "logs", &retried, "--follow"]);
    assert!(follow.starts_with("[Container] Entering phase BUILD\nmake: done\n"), "{follow}");
    assert!(follow.contains("(#2 of app) SUCCEEDED in 1.5 s"), "{follow}");
    let show = server.ok(&["build", "show", &retried]);
    assert!(show.contains("VERSION=1.2.3") && show.contains(&primary_sha), "{show}");
    let report = server.ok(&["build", "report", &retried]);
    assert!(report.contains("Report unit (JUNITXML): 4 cases, 3 succeeded, 1 failed"), "{report}");
    assert!(
        report.contains("pass rate 75.0%") && report.contains("MainTest.c") && report.contains("expected 0"),
        "{report}"
    );

    let out_dir = work.path().join("out");
    let out = server.ok(&["build", "artifacts", &retried, "--out", out_dir.to_str().unwrap()]);
    assert!(out.contains("checked"), "{out}");
    assert_eq!(std::fs::read(out_dir.join("primary.zip")).unwrap(), primary);

    // A download whose bytes are not what the build recorded is refused and removed.
    server.edit_build(&retried, |b| {
        b.artifacts.push(BuildArtifact {
            identifier: Some("docs".into()),
            blob_key: format!("sha256/{docs_sha}"),
            sha256: "0".repeat(64),
            size: docs.len() as u64,
        });
    });
    let err = server.fails(&["build", "artifacts", &retried, "--out", out_dir.to_str().unwrap()], 1);
    assert!(err.contains("artifact docs") && err.contains("the build recorded"), "{err}");
    assert!(!out_dir.join("docs.zip").exists());
}

#[test]
fn start_follow_streams_the_log_until_the_build_ends() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    server.ok(&["build", "project", "create", "app", "--source", "upload"]);
    let src = source_dir(work.path());
    let mut following = server
        .command(
            &["build", "start", "app", "--source", src.to_str().unwrap(), "--follow"],
            &server.data.join("credentials"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = wait_for("the build to be queued", Duration::from_secs(20), || {
        let builds = server.runtime.block_on(server.store.list_builds(Some("app"), 1)).unwrap();
        builds.into_iter().next().map(|b| b.id)
    });
    server.append_log(&id, 0, &["first line"]);
    server.append_log(&id, 1, &["second line"]);
    server.edit_build(&id, |b| finish(b, BuildStatus::Failed));
    wait_for("ferry build start --follow to end", Duration::from_secs(30), || following.try_wait().unwrap());
    let out = following.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "FAILED exits 1:\n{stdout}\n{}", text(&out.stderr));
    assert!(stdout.starts_with("first line\nsecond line\n"), "{stdout}");
    assert!(stdout.contains(&format!("Build {id} (#1 of app) FAILED")), "{stdout}");
    assert!(text(&out.stderr).contains(&format!("started build {id}")), "{}", text(&out.stderr));
}
