//! Build projects and builds on the native API (`/api/v1/build-projects`,
//! `/api/v1/builds`) of a real server in this process: status codes, error
//! codes and JSON members as the CLI sees them.
//!
//! No build host takes builds here, so builds stay QUEUED; what a build
//! host would write (log lines, artifacts, reports) the test writes into the
//! server's own store and blob store, to check the reading side.

mod support;

use std::time::{Duration, Instant};

use ferry_core::build::{BuildArtifact, BuildReport, BuildStatus, TestCaseRecord};
use serde_json::{Value, json};
use sha2::Digest;
use support::*;

/// The server's store, opened beside it (SQLite in WAL mode takes both).
async fn store(server: &TestServer) -> ferry_store::Store {
    ferry_store::Store::open_sqlite(&server.data.path().join("data/ferry.db")).await.unwrap()
}

async fn blobs(server: &TestServer) -> ferry_blob::LocalBlobs {
    ferry_blob::LocalBlobs::open(server.data.path().join("data/blobs")).await.unwrap()
}

fn git_project(name: &str) -> Value {
    json!({
        "name": name,
        "source": { "type": "git", "url": "https://git.example/shop.git", "version": "main" },
        "image": "localhost/builder:1",
        "variables": [{ "name": "MODE", "value": "dev" }, { "name": "TOKEN", "value": "shop-token", "type": "SECRET" }],
    })
}

/// A build id as a path segment (its `:` percent-encoded, as the CLI sends it).
fn build_path(id: &str) -> String {
    format!("/api/v1/builds/{}", id.replace(':', "%3A"))
}

/// Uploads `bytes` as a source of `project`, signed over their SHA-256 as
/// `ferry build start --source` does.
async fn upload(client: &Client, project: &str, bytes: Vec<u8>, declared: Option<&str>) -> Answer {
    let sha256 = hex(&sha2::Sha256::digest(&bytes));
    let declared = declared.unwrap_or(&sha256).to_string();
    client
        .send(
            ferry_proto::SIGNING_SERVICE,
            "POST",
            &format!("/api/v1/build-projects/{project}/sources?bundle_type=zip"),
            &[("content-type", "application/octet-stream"), ("x-amz-content-sha256", &declared)],
            bytes,
        )
        .await
}

#[tokio::test]
async fn build_projects_are_created_read_changed_and_deleted() {
    let server = TestServer::start().await;
    let admin = &server.admin;
    let (status, p) = admin.post("/api/v1/build-projects", git_project("shop-build")).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["name"], "shop-build");
    assert_eq!(p["source"], json!({ "type": "git", "url": "https://git.example/shop.git", "version": "main" }));
    assert_eq!((p["timeout_minutes"].as_u64(), p["queued_timeout_minutes"].as_u64()), (Some(60), Some(480)));
    assert_eq!(p["variables"][0], json!({ "name": "MODE", "value": "dev", "type": "PLAINTEXT" }));
    assert_eq!(p["variables"][1]["type"], "SECRET");
    assert_eq!((p["concurrent_build_limit"].clone(), p["cache"].clone()), (Value::Null, json!(false)));

    let (status, err) = admin.post("/api/v1/build-projects", git_project("shop-build")).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("BuildProjectAlreadyExists")), "{err}");
    let (status, err) = admin.post("/api/v1/build-projects", git_project("-bad")).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("project name"), "{err}");
    let mut bad_variable = git_project("other");
    bad_variable["variables"][0]["type"] = json!("PARAMETER_STORE");
    let (status, err) = admin.post("/api/v1/build-projects", bad_variable).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("PLAINTEXT or SECRET"), "{err}");
    let no_source = json!({ "name": "inline", "source": { "type": "none" }, "buildspec": "buildspec.yml" });
    let (status, err) = admin.post("/api/v1/build-projects", no_source).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("inline buildspec"), "{err}");
    let inline = json!({ "name": "inline", "source": { "type": "none" }, "buildspec": "version: 0.2\nphases: {}\n",
                         "concurrent_build_limit": 2, "cache": true, "timeout_minutes": 5 });
    let (status, created) = admin.post("/api/v1/build-projects", inline).await;
    assert_eq!(status, 200, "{created}");

    let (status, list) = admin.get("/api/v1/build-projects").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["inline", "shop-build"], "{list}");
    let (status, got) = admin.get("/api/v1/build-projects/shop-build").await;
    assert_eq!((status, &got), (200, &p));
    let (status, err) = admin.get("/api/v1/build-projects/nope").await;
    assert_eq!((status, err["code"].as_str()), (404, Some("BuildProjectDoesNotExist")), "{err}");

    // What is given changes; `""` and -1 remove; variables are replaced whole.
    let edit = json!({ "image": "", "variables": [{ "name": "STAGE", "value": "test" }], "timeout_minutes": 90 });
    let (status, changed) = admin.native("PUT", "/api/v1/build-projects/shop-build", edit).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!((changed["image"].clone(), changed["timeout_minutes"].as_u64()), (Value::Null, Some(90)));
    assert_eq!(changed["variables"], json!([{ "name": "STAGE", "value": "test", "type": "PLAINTEXT" }]));
    assert_eq!(changed["source"], p["source"], "not given, not changed");
    let (_, changed) =
        admin.native("PUT", "/api/v1/build-projects/inline", json!({ "concurrent_build_limit": -1 })).await;
    assert_eq!((changed["concurrent_build_limit"].clone(), changed["cache"].clone()), (Value::Null, json!(true)));
    // A refused edit changes nothing.
    let (status, err) =
        admin.native("PUT", "/api/v1/build-projects/shop-build", json!({ "timeout_minutes": 3, "image": "x" })).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("build timeout"), "{err}");
    let (_, unchanged) = admin.get("/api/v1/build-projects/shop-build").await;
    assert_eq!((unchanged["timeout_minutes"].as_u64(), unchanged["image"].clone()), (Some(90), Value::Null));
    let (status, err) = admin.native("PUT", "/api/v1/build-projects/nope", json!({ "cache": true })).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("BuildProjectDoesNotExist")), "{err}");

    let (status, body) = admin.native("DELETE", "/api/v1/build-projects/inline", Value::Null).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, err) = admin.native("DELETE", "/api/v1/build-projects/inline", Value::Null).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("BuildProjectDoesNotExist")), "{err}");
}

#[tokio::test]
async fn builds_are_started_listed_stopped_and_retried() {
    let server = TestServer::start().await;
    let admin = &server.admin;
    admin.post("/api/v1/build-projects", git_project("shop-build")).await;

    let start = json!({ "source_version": "pr/7", "variables": [{ "name": "MODE", "value": "release" }] });
    let (status, first) = admin.post("/api/v1/build-projects/shop-build/builds", start).await;
    assert_eq!(status, 200, "{first}");
    let id = first["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("shop-build:"), "{id}");
    assert_eq!((first["number"].as_u64(), first["status"].as_str()), (Some(1), Some("QUEUED")));
    assert_eq!(first["initiator"], ADMIN_KEY_ID);
    assert_eq!(first["source_version"], "pr/7");
    assert_eq!(first["variables"][0], json!({ "name": "MODE", "value": "release", "type": "PLAINTEXT" }));
    assert_eq!(first["variables"][1]["name"], "TOKEN", "the project's other variables stay");
    let phases: Vec<&str> = first["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(phases, ["SUBMITTED", "QUEUED"]);
    let (_, project) = admin.get("/api/v1/build-projects/shop-build").await;
    assert_eq!(project["variables"][0]["value"], "dev", "overrides are the build's only");

    let (status, second) = admin.post("/api/v1/build-projects/shop-build/builds", Value::Null).await;
    assert_eq!((status, second["number"].as_u64()), (200, Some(2)), "{second}");

    // The id's `:` percent-encoded, as the CLI sends it, or as it is.
    let (status, got) = admin.get(&build_path(&id)).await;
    assert_eq!((status, &got), (200, &first));
    let (status, _) = admin.get(&format!("/api/v1/builds/{id}")).await;
    assert_eq!(status, 200);
    let (status, err) = admin.get(&build_path("shop-build:nope")).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("BuildDoesNotExist")), "{err}");

    let numbers =
        |list: &Value| list.as_array().unwrap().iter().map(|b| b["number"].as_u64().unwrap()).collect::<Vec<_>>();
    let (status, list) = admin.get("/api/v1/build-projects/shop-build/builds").await;
    assert_eq!((status, numbers(&list)), (200, vec![2, 1]));
    let (_, list) = admin.get("/api/v1/builds?project=shop-build&limit=1").await;
    assert_eq!(numbers(&list), [2]);
    let (_, list) = admin.get("/api/v1/builds").await;
    assert_eq!(numbers(&list), [2, 1]);
    let (status, err) = admin.get("/api/v1/build-projects/nope/builds").await;
    assert_eq!((status, err["code"].as_str()), (404, Some("BuildProjectDoesNotExist")), "{err}");
    let (status, err) = admin.post("/api/v1/build-projects/nope/builds", Value::Null).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("BuildProjectDoesNotExist")), "{err}");

    // A queued build stops at once; stopping it again changes nothing.
    let (status, stopped) = admin.post(&format!("{}/stop", build_path(&id)), Value::Null).await;
    assert_eq!((status, stopped["status"].as_str()), (200, Some("STOPPED")), "{stopped}");
    assert!(stopped["end_time"].as_u64().is_some(), "{stopped}");
    let (_, again) = admin.post(&format!("{}/stop", build_path(&id)), Value::Null).await;
    assert_eq!(again, stopped);
    let (status, err) = admin.post(&format!("{}/stop", build_path("shop-build:nope")), Value::Null).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("BuildDoesNotExist")), "{err}");

    // A retry runs with the settings and version the build had.
    let (status, retried) = admin.post(&format!("{}/retry", build_path(&id)), Value::Null).await;
    assert_eq!((status, retried["number"].as_u64(), retried["status"].as_str()), (200, Some(3), Some("QUEUED")));
    assert_eq!(
        (retried["source_version"].clone(), retried["variables"].clone()),
        (json!("pr/7"), first["variables"].clone())
    );
    let (status, err) = admin.post(&format!("{}/retry", build_path("shop-build:nope")), Value::Null).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("BuildDoesNotExist")), "{err}");

    // Overrides obey the project rules.
    let bad = json!({ "variables": [{ "name": "CODEBUILD_X", "value": "1" }] });
    let (status, err) = admin.post("/api/v1/build-projects/shop-build/builds", bad).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("reserved"), "{err}");
}

#[tokio::test]
async fn an_upload_project_builds_the_source_uploaded_for_it_and_refuses_to_build_without() {
    let server = TestServer::start().await;
    let admin = &server.admin;
    let project = json!({ "name": "uploads", "source": { "type": "upload" } });
    assert_eq!(admin.post("/api/v1/build-projects", project).await.0, 200);
    admin.post("/api/v1/build-projects", git_project("from-git")).await;

    let (status, err) = admin.post("/api/v1/build-projects/uploads/builds", Value::Null).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("--source DIR"), "{err}");

    let bytes = b"PK fake zip bytes for the test".to_vec();
    let answer = upload(admin, "uploads", bytes.clone(), Some(&"0".repeat(64))).await;
    assert_eq!((answer.status, answer.body["code"].as_str()), (400, Some("BundleDigestMismatch")), "{}", answer.body);
    let answer = upload(admin, "from-git", bytes.clone(), None).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body["message"].as_str().unwrap().contains("takes no uploaded source"), "{}", answer.body);
    let answer = upload(admin, "nope", bytes.clone(), None).await;
    assert_eq!((answer.status, answer.body["code"].as_str()), (404, Some("BuildProjectDoesNotExist")));
    let answer = upload(admin, "uploads", bytes.clone(), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let sha256 = hex(&sha2::Sha256::digest(&bytes));
    assert_eq!(answer.body, json!({ "sha256": sha256, "bundle_type": "zip", "size": bytes.len() }));

    // Sources stream to disk like revisions: larger than any JSON body.
    let large = vec![7u8; 3 << 20];
    let answer = upload(admin, "uploads", large, None).await;
    assert_eq!((answer.status, answer.body["size"].as_u64()), (200, Some(3 << 20)), "{}", answer.body);

    let start = json!({ "source": { "sha256": sha256, "bundle_type": "zip" } });
    let (status, build) = admin.post("/api/v1/build-projects/uploads/builds", start).await;
    assert_eq!(status, 200, "{build}");
    assert_eq!(build["source"], json!({ "type": "upload" }));
    assert_eq!(build["source_bundle"], json!({ "sha256": sha256, "bundle_type": "zip", "size": bytes.len() }));

    let never_uploaded = json!({ "source": { "sha256": "ab".repeat(32), "bundle_type": "zip" } });
    let (status, err) = admin.post("/api/v1/build-projects/uploads/builds", never_uploaded).await;
    assert_eq!((status, err["code"].as_str()), (400, Some("InvalidRequest")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("upload it first"), "{err}");
    let git_with_source = json!({ "source": { "sha256": sha256, "bundle_type": "zip" } });
    let (status, err) = admin.post("/api/v1/build-projects/from-git/builds", git_with_source).await;
    assert_eq!(status, 400, "{err}");
}

#[tokio::test]
async fn reads_take_any_operator_key_and_changes_an_unscoped_writer() {
    let server = TestServer::start().await;
    server.admin.post("/api/v1/build-projects", git_project("shop-build")).await;
    let (_, build) = server.admin.post("/api/v1/build-projects/shop-build/builds", Value::Null).await;
    let id = build["id"].as_str().unwrap();
    let reader = server.key("read-only", &[]).await;
    let scoped = server.key("deployer", &["shop"]).await;
    let deployer = server.key("deployer", &[]).await;
    let agent = server.enrol("host1", &[]).await;

    for client in [&reader, &scoped, &deployer] {
        for path in ["/api/v1/build-projects".to_string(), build_path(id), format!("{}/log", build_path(id))] {
            let (status, body) = client.get(&path).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
    }
    let (status, _) = agent.client.get("/api/v1/build-projects").await;
    assert_eq!(status, 403, "agent keys may not use the native API");

    for client in [&reader, &scoped] {
        let (status, err) = client.post("/api/v1/build-projects", git_project("theirs")).await;
        assert_eq!(status, 403, "{err}");
        let (status, _) = client.post("/api/v1/build-projects/shop-build/builds", Value::Null).await;
        assert_eq!(status, 403);
        let (status, _) = client.post(&format!("{}/stop", build_path(id)), Value::Null).await;
        assert_eq!(status, 403);
        let (status, _) = client.native("DELETE", "/api/v1/build-projects/shop-build", Value::Null).await;
        assert_eq!(status, 403);
        let answer = upload(client, "shop-build", b"x".to_vec(), None).await;
        assert_eq!(answer.status, 403);
    }
    let (_, err) = reader.post("/api/v1/build-projects", git_project("theirs")).await;
    assert!(err["message"].as_str().unwrap().contains("read-only"), "{err}");

    let (status, body) = deployer.post("/api/v1/build-projects", git_project("theirs")).await;
    assert_eq!(status, 200, "{body}");
    let (status, started) = deployer.post("/api/v1/build-projects/theirs/builds", Value::Null).await;
    assert_eq!((status, started["initiator"].as_str()), (200, Some(deployer.credentials.access_key_id.as_str())));
    let (status, _) = deployer.post(&format!("{}/retry", build_path(id)), Value::Null).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_log_is_read_by_line_number_and_a_held_request_returns_a_line_as_it_comes() {
    let server = TestServer::start().await;
    let admin = server.admin.clone();
    admin.post("/api/v1/build-projects", git_project("shop-build")).await;
    let (_, build) = admin.post("/api/v1/build-projects/shop-build/builds", Value::Null).await;
    let id = build["id"].as_str().unwrap().to_string();
    let log = format!("{}/log", build_path(&id));
    let store = store(&server).await;

    let (status, empty) = admin.get(&log).await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty, json!({ "lines": [], "next": 0, "finished": false, "status": "QUEUED" }));

    let lines: Vec<String> = ["[Container] Entering phase INSTALL", "make", "ok"].map(String::from).to_vec();
    store.append_build_log(&id, 0, &lines).await.unwrap();
    let (_, all) = admin.get(&log).await;
    assert_eq!(all["lines"][1], json!({ "number": 1, "text": "make" }));
    assert_eq!((all["next"].as_u64(), all["lines"].as_array().unwrap().len()), (Some(3), 3));
    let (_, rest) = admin.get(&format!("{log}?from=2")).await;
    assert_eq!((rest["lines"].clone(), rest["next"].as_u64()), (json!([{ "number": 2, "text": "ok" }]), Some(3)));

    // Nothing new: a request with a wait is held, then answered empty.
    let started = Instant::now();
    let (_, held) = admin.get(&format!("{log}?from=3&wait=1")).await;
    assert!(started.elapsed() >= Duration::from_secs(1), "answered after {:?}", started.elapsed());
    assert_eq!((held["lines"].clone(), held["next"].as_u64()), (json!([]), Some(3)));

    // A line appended while a request is held is answered at once, long
    // before the wait ends.
    let started = Instant::now();
    let path = format!("{log}?from=3&wait=25");
    let mut waiting = tokio::spawn({
        let admin = admin.clone();
        async move { admin.get(&path).await }
    });
    let held = tokio::time::timeout(Duration::from_millis(500), &mut waiting).await;
    assert!(held.is_err(), "the request was answered without a new line: {held:?}");
    store.append_build_log(&id, 3, &["late line".to_string()]).await.unwrap();
    let (status, answer) = tokio::time::timeout(Duration::from_secs(10), waiting).await.unwrap().unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["lines"], json!([{ "number": 3, "text": "late line" }]));
    assert_eq!(answer["next"], 4);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    // A finished build's log is answered at once, saying so.
    let (status, _) = admin.post(&format!("{}/stop", build_path(&id)), Value::Null).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    let (_, done) = admin.get(&format!("{log}?from=4&wait=25")).await;
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(done, json!({ "lines": [], "next": 4, "finished": true, "status": "STOPPED" }));

    let (status, err) = admin.get(&format!("{}/log", build_path("shop-build:nope"))).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("BuildDoesNotExist")), "{err}");
}

#[tokio::test]
async fn artifacts_stream_from_the_blob_store_and_reports_have_their_cases_and_pass_rate() {
    let server = TestServer::start().await;
    let admin = &server.admin;
    admin.post("/api/v1/build-projects", git_project("shop-build")).await;
    let (_, build) = admin.post("/api/v1/build-projects/shop-build/builds", Value::Null).await;
    let id = build["id"].as_str().unwrap().to_string();
    let store = store(&server).await;
    let blobs = blobs(&server).await;

    let primary = b"PK primary artifact".repeat(1000);
    let stored = blobs.put(&primary[..], None, 1 << 30).await.unwrap();
    let mut record = store.get_build(&id).await.unwrap();
    record.status = BuildStatus::Succeeded;
    record.exported_variables = vec![("VERSION".into(), "1.2.3".into())];
    record.host = Some("build-host-1".into());
    record.artifacts = vec![
        BuildArtifact {
            identifier: None,
            blob_key: stored.key.clone(),
            sha256: stored.sha256.clone(),
            size: stored.size,
        },
        BuildArtifact {
            identifier: Some("docs".into()),
            blob_key: format!("sha256/{}", "cd".repeat(32)),
            sha256: "cd".repeat(32),
            size: 5,
        },
    ];
    store.update_build(&record).await.unwrap();
    let case = |name: &str, status: &str, ms: u64| TestCaseRecord {
        suite: "shop".into(),
        prefix: "CartTest".into(),
        name: name.into(),
        status: status.into(),
        duration_ms: Some(ms),
        message: (status == "FAILED").then(|| "expected 2, got 3".into()),
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
        duration_ms: 40,
        cases: vec![
            case("adds", "SUCCEEDED", 10),
            case("removes", "SUCCEEDED", 10),
            case("totals", "FAILED", 10),
            case("empties", "SUCCEEDED", 10),
        ],
        errors: Vec::new(),
    };
    store.put_build_reports(&id, &[report]).await.unwrap();

    let (_, view) = admin.get(&build_path(&id)).await;
    assert_eq!(view["status"], "SUCCEEDED");
    assert_eq!(view["artifacts"][0], json!({ "name": "primary", "sha256": stored.sha256, "size": stored.size }));
    assert_eq!(view["artifacts"][1]["name"], "docs");
    assert_eq!(view["exported_variables"], json!([{ "name": "VERSION", "value": "1.2.3" }]));
    assert_eq!(view["host"], "build-host-1");

    let answer = admin
        .send(ferry_proto::SIGNING_SERVICE, "GET", &format!("{}/artifacts/primary", build_path(&id)), &[], Vec::new())
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["content-type"], "application/zip");
    assert_eq!(answer.headers["x-ferry-sha256"], stored.sha256.as_str());
    // The body is not JSON: the test client hands it back as text.
    assert_eq!(answer.body["raw"].as_str().unwrap().as_bytes(), &primary[..]);

    let (status, err) = admin.get(&format!("{}/artifacts/nope", build_path(&id))).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("ArtifactDoesNotExist")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("primary, docs"), "{err}");
    let (status, err) = admin.get(&format!("{}/artifacts/docs", build_path(&id))).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("ArtifactMissing")), "{err}");
    let (status, err) = admin.get(&format!("{}/artifacts/primary", build_path("shop-build:nope"))).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("BuildDoesNotExist")), "{err}");

    let (status, reports) = admin.get(&format!("{}/reports", build_path(&id))).await;
    assert_eq!(status, 200, "{reports}");
    let unit = &reports[0];
    assert_eq!(
        (unit["name"].as_str(), unit["total"].as_u64(), unit["pass_rate"].as_f64()),
        (Some("unit"), Some(4), Some(75.0))
    );
    assert_eq!(unit["cases"][2]["status"], "FAILED");
    assert_eq!(unit["cases"][2]["message"], "expected 2, got 3");
    let (status, err) = admin.get(&format!("{}/reports", build_path("shop-build:nope"))).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("BuildDoesNotExist")), "{err}");
}
