//! The console as an adapter over the operations, in process: signing in,
//! a deployment's page, and its actions with their role and CSRF checks;
//! the builds pages, a build's live log, and the build actions.
//!
//! No build host runs here: what one would write (phases, log lines,
//! artifacts, reports) the tests write into the server's store beside it.

mod support;

use std::time::{Duration, Instant, SystemTime};

use ferry_core::build::{self, BuildArtifact, BuildPhase, BuildReport, BuildStatus, TestCaseRecord};
use serde_json::{Value, json};
use support::*;

/// `application/x-www-form-urlencoded`, as a browser sends a form.
fn encode(form: &[(&str, &str)]) -> String {
    let part = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    form.iter().map(|(k, v)| format!("{}={}", part(k), part(v))).collect::<Vec<_>>().join("&")
}

/// A browser: one session cookie, no redirects followed.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Browser {
    async fn sign_in(server: &TestServer, key_id: &str, secret: &str) -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let base = format!("http://{}", server.addr);
        let response = http
            .post(format!("{base}/console/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(&[("access_key_id", key_id), ("secret_access_key", secret), ("next", "/console")]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "signed in");
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        assert!(cookie.starts_with("ferry_session="), "{cookie}");
        Browser { http, base, cookie }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response =
            self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(form))
            .send()
            .await
            .unwrap();
        let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        (response.status().as_u16(), location.unwrap_or_default())
    }

    /// A GET with the session, the response as it comes (headers, streamed body).
    async fn get_raw(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// The CSRF token the page's forms carry.
    async fn csrf(&self, page: &str) -> String {
        let (status, html) = self.get(page).await;
        assert_eq!(status, 200, "{html}");
        let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        html[at..].split('"').next().unwrap().to_string()
    }
}

/// A group whose tags select no instance: its deployments end at once.
async fn a_finished_deployment(server: &TestServer) -> String {
    let (status, body) = server.admin.post("/api/v1/applications", json!({ "name": "shop" })).await;
    assert_eq!(status, 200, "{body}");
    let group = json!({ "name": "web", "tag_filters": [{ "key": "app", "value": "none", "type": "KEY_AND_VALUE" }] });
    let (status, body) = server.admin.post("/api/v1/applications/shop/groups", group).await;
    assert_eq!(status, 200, "{body}");
    let revision = server.admin.push_tar("shop", tar_bundle(APPSPEC)).await;
    let request = json!({ "application_name": "shop", "group_name": "web", "revision_id": revision["id"] });
    let (status, created) = server.admin.post("/api/v1/deployments", request).await;
    assert_eq!(status, 200, "{created}");
    let id = created["deployment_id"].as_str().unwrap().to_string();
    eventually("the deployment to end", std::time::Duration::from_secs(10), || async {
        let status = native_status(&server.admin, &id).await;
        (status != "Created" && status != "InProgress" && status != "Queued").then_some(())
    })
    .await;
    id
}

async fn deployment_count(server: &TestServer) -> usize {
    let (status, list) = server.admin.get("/api/v1/deployments?application=shop").await;
    assert_eq!(status, 200);
    list.as_array().unwrap().len()
}

#[tokio::test]
async fn redeploy_from_the_console_goes_through_the_same_operation_and_checks() {
    let server = TestServer::start().await;
    let id = a_finished_deployment(&server).await;
    let page = format!("/console/deployments/{id}");

    let admin = Browser::sign_in(&server, ADMIN_KEY_ID, ADMIN_SECRET).await;
    let (status, html) = admin.get(&page).await;
    assert_eq!(status, 200);
    assert!(html.contains(&id) && html.contains("Redeploy"), "the page and its action");
    let csrf = admin.csrf(&page).await;

    // A forged form (no or another session's token) changes nothing.
    let (status, _) = admin.post(&format!("{page}/redeploy"), &[("csrf", "forged")]).await;
    assert_eq!(status, 403);
    assert_eq!(deployment_count(&server).await, 1);

    // A read-only key sees the page, not the action.
    let reader = server.key("read-only", &[]).await;
    let reader =
        Browser::sign_in(&server, &reader.credentials.access_key_id, &reader.credentials.secret_access_key).await;
    let (status, html) = reader.get(&page).await;
    assert_eq!(status, 200);
    assert!(!html.contains("Redeploy</button>"), "no action buttons for a read-only key");
    let reader_csrf = reader.csrf("/console").await;
    let (status, _) = reader.post(&format!("{page}/redeploy"), &[("csrf", &reader_csrf)]).await;
    assert_eq!(status, 403);
    assert_eq!(deployment_count(&server).await, 1);

    // The admin's redeploy creates a deployment of the same revision, as the API would.
    let (status, location) = admin.post(&format!("{page}/redeploy"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 303, "{location}");
    let (path, message) = location.split_once('?').unwrap_or((&location, ""));
    let new = path.trim_start_matches("/console/deployments/");
    assert!(new.starts_with("d-") && new != id, "{location}");
    assert!(message.starts_with("ok="), "{location}");
    assert_eq!(deployment_count(&server).await, 2);
    let (status, view) = server.admin.get(&format!("/api/v1/deployments/{new}")).await;
    assert_eq!(status, 200, "{view}");
    let (_, old) = server.admin.get(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(view["revision_id"], old["revision_id"]);

    // Stopping a finished deployment is refused by the operation, said on the page.
    let (status, location) = admin.post(&format!("{page}/stop"), &[("csrf", &csrf), ("rollback", "false")]).await;
    assert_eq!(status, 303);
    assert!(location.contains("error=") && location.contains("already%20completed"), "{location}");
}

// ---------------------------------------------------------------------------
// Builds

/// The server's store, opened beside it (SQLite in WAL mode takes both).
async fn store(server: &TestServer) -> ferry_store::Store {
    ferry_store::Store::open_sqlite(&server.data.path().join("data/ferry.db")).await.unwrap()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A git project `name` and an Upload project `uploads`.
async fn build_projects(server: &TestServer, name: &str) {
    let project = json!({
        "name": name,
        "source": { "type": "git", "url": "https://git.example/shop.git", "version": "main" },
        "image": "localhost/builder:1",
    });
    let (status, body) = server.admin.post("/api/v1/build-projects", project).await;
    assert_eq!(status, 200, "{body}");
    let uploads = json!({ "name": "uploads", "source": { "type": "upload" } });
    let (status, body) = server.admin.post("/api/v1/build-projects", uploads).await;
    assert_eq!(status, 200, "{body}");
}

/// Starts a build of `project` on the native API; its id.
async fn queued_build(server: &TestServer, project: &str) -> String {
    let (status, b) = server.admin.post(&format!("/api/v1/build-projects/{project}/builds"), Value::Null).await;
    assert_eq!(status, 200, "{b}");
    b["id"].as_str().unwrap().to_string()
}

/// What a build host does when it takes a build.
async fn run_on_host(store: &ferry_store::Store, id: &str) -> build::Build {
    let mut b = store.get_build(id).await.unwrap();
    build::assign(&mut b, "build-host-1", now_ms());
    b.environment = Some("workspace on build-host-1 as nobody".into());
    store.update_build(&b).await.unwrap();
    b
}

fn build_path(id: &str) -> String {
    format!("/console/builds/{}", id.replace(':', "%3A"))
}

#[tokio::test]
async fn the_builds_pages_show_projects_builds_failed_phases_outputs_reports_and_an_escaped_log() {
    let server = TestServer::start().await;
    build_projects(&server, "shop-build").await;
    let id = queued_build(&server, "shop-build").await;
    let other = queued_build(&server, "shop-build").await;
    let store = store(&server).await;
    let blobs = ferry_blob::LocalBlobs::open(server.data.path().join("data/blobs")).await.unwrap();

    // The build ran and failed in BUILD, leaving an artifact, a variable, a report and a log.
    let mut b = run_on_host(&store, &id).await;
    let start = b.start_time.unwrap();
    b.resolved_source_version = Some("0123456789abcdef0123456789abcdef01234567".into());
    build::take_phases(
        &mut b,
        vec![
            BuildPhase {
                name: "PROVISIONING".into(),
                status: Some("SUCCEEDED".into()),
                start_time: start,
                end_time: Some(start + 300),
                message: None,
            },
            BuildPhase {
                name: "BUILD".into(),
                status: Some("FAILED".into()),
                start_time: start + 300,
                end_time: Some(start + 2_800),
                message: Some("Error while executing command: make <test>. Reason: exit status 2".into()),
            },
        ],
    );
    let zip = b"PK artifact bytes".repeat(100);
    let stored = blobs.put(&zip[..], None, 1 << 30).await.unwrap();
    b.artifacts = vec![BuildArtifact {
        identifier: None,
        blob_key: stored.key.clone(),
        sha256: stored.sha256.clone(),
        size: stored.size,
    }];
    b.exported_variables = vec![("VERSION".into(), "1.2.3".into())];
    let case = |name: &str, status: &str, message: Option<&str>| TestCaseRecord {
        suite: "shop".into(),
        prefix: "CartTest".into(),
        name: name.into(),
        status: status.into(),
        duration_ms: Some(10),
        message: message.map(Into::into),
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
            case("adds", "SUCCEEDED", None),
            case("removes", "SUCCEEDED", None),
            case("totals", "FAILED", Some("expected 2, got 3")),
            case("empties", "SUCCEEDED", None),
        ],
        errors: Vec::new(),
    };
    store.put_build_reports(&id, &[report]).await.unwrap();
    build::complete(&mut b, BuildStatus::Failed, start + 3_000);
    store.update_build(&b).await.unwrap();
    let log: Vec<String> =
        ["[Container] Entering phase BUILD", "<script>alert('log')</script>", "make: *** [test] Error 2"]
            .map(String::from)
            .to_vec();
    store.append_build_log(&id, 0, &log).await.unwrap();

    let reader = server.key("read-only", &[]).await;
    let reader =
        Browser::sign_in(&server, &reader.credentials.access_key_id, &reader.credentials.secret_access_key).await;

    // The builds page: the projects, the builds newest first, linked from the navigation.
    let (status, html) = reader.get("/console/builds").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"nav-builds\""), "{html}");
    let row = |html: &str, id: &str| {
        let at = html.find(&format!("<tr data-build=\"{id}\"")).unwrap_or_else(|| panic!("no row of {id}: {html}"));
        html[at..].split("</tr>").next().unwrap().to_string()
    };
    let failed = row(&html, &id);
    for expected in ["shop-build #1", "st-failed\">FAILED", "build-host-1", "0123456789ab", "3.0 s"] {
        assert!(failed.contains(expected), "{expected:?} in {failed}");
    }
    assert!(failed.contains(ADMIN_KEY_ID), "the initiator: {failed}");
    assert!(row(&html, &other).contains("QUEUED"), "a queued build shows QUEUED");
    assert!(html.find(&other).unwrap() < html.find(&id).unwrap(), "newest first");
    let project = {
        let at = html.find("<tr data-project=\"shop-build\"").unwrap();
        html[at..].split("</tr>").next().unwrap().to_string()
    };
    assert!(project.contains("localhost/builder:1") && project.contains("https://git.example/shop.git"), "{project}");
    assert!(project.contains("QUEUED"), "the last build's status: {project}");
    assert!(html.contains("<tr data-project=\"uploads\"") && html.contains("workspace"), "{html}");
    let (_, filtered) = reader.get("/console/builds?project=uploads").await;
    assert!(!filtered.contains("<tr data-build="), "the filter: {filtered}");
    let (status, _) = reader.get("/console/builds?project=nope").await;
    assert_eq!(status, 404);

    // The build's page.
    let page = build_path(&id);
    let (status, html) = reader.get(&page).await;
    assert_eq!(status, 200, "{html}");
    for expected in [
        "data-build-status=\"FAILED\"",
        "<tr data-phase=\"BUILD\" data-status=\"FAILED\">",
        "make &lt;test&gt;. Reason: exit status 2",
        "workspace on build-host-1 as nobody",
        "0123456789abcdef0123456789abcdef01234567",
        "<code>VERSION</code>",
        "data-artifact=\"primary\"",
        "<b>75.0 %</b> passed (3 of 4)",
        "expected 2, got 3",
        "&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;",
        "data-n=\"3\">make: *** [test] Error 2</div>",
        "id=\"read-only\"",
    ] {
        assert!(html.contains(expected), "missing {expected:?} in\n{html}");
    }
    assert!(!html.contains("<script>alert"), "a log line's markup reached the page: {html}");
    assert!(!html.contains("data-src="), "a finished build's page follows nothing");
    assert!(
        html.find("data-case-status=\"FAILED\"").unwrap() < html.find("data-case-status=\"SUCCEEDED\"").unwrap(),
        "failing cases first"
    );

    // The artifact downloads through the session, as the native API serves it.
    let download = format!("{page}/artifacts/primary");
    assert!(html.contains(&format!("href=\"{download}\"")), "{html}");
    let response = reader.get_raw(&download, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert_eq!(response.headers()["x-ferry-sha256"], stored.sha256.as_str());
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("shop-build-1-primary.zip"));
    assert_eq!(&response.bytes().await.unwrap()[..], &zip[..]);
    let (status, _) = reader.get(&format!("{page}/artifacts/nope")).await;
    assert_eq!(status, 404);
    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = anonymous.get(format!("http://{}{download}", server.addr)).send().await.unwrap();
    assert_eq!(response.status(), 303, "no session, no artifact");
    let (status, html) = reader.get(&build_path("shop-build:nope")).await;
    assert_eq!(status, 404);
    assert!(html.contains("There is no build shop-build:nope"), "{html}");

    // A long log: the page holds the newest lines; the rest is paged and plain text.
    let long: Vec<String> = (0..2_500).map(|n| format!("line {n} <{n}>")).collect();
    store.append_build_log(&other, 0, &long).await.unwrap();
    let (_, html) = reader.get(&build_path(&other)).await;
    assert!(html.contains("1500 earlier lines are not"), "{html}");
    assert!(html.contains("data-n=\"1501\">line 1500 &lt;1500&gt;</div>"), "{html}");
    assert!(html.contains("data-n=\"2500\">line 2499 &lt;2499&gt;</div>"), "{html}");
    assert!(!html.contains("data-n=\"1500\""), "older lines are left out");
    let (status, first) = reader.get(&format!("{}/log?from=0", build_path(&other))).await;
    assert_eq!(status, 200);
    assert!(first.contains("Lines 1–2500 of 2500") && first.contains("data-n=\"1\">line 0 &lt;0&gt;"), "{first}");
    let response = reader.get_raw(&format!("{}/log.txt", build_path(&other)), &[]).await;
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    let text = response.text().await.unwrap();
    assert_eq!(text.lines().count(), 2_500);
    assert!(text.starts_with("line 0 <0>\n") && text.ends_with("line 2499 <2499>\n"));
}

#[tokio::test]
async fn builds_are_started_stopped_and_retried_from_the_console_by_those_who_may() {
    let server = TestServer::start().await;
    build_projects(&server, "shop-build").await;
    let store = store(&server).await;
    let count = |store: &ferry_store::Store| {
        let store = store.clone();
        async move { store.list_builds(None, 100).await.unwrap().len() }
    };
    let project = "/console/build-projects/shop-build";
    let admin = Browser::sign_in(&server, ADMIN_KEY_ID, ADMIN_SECRET).await;
    let (status, html) = admin.get(project).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"action-start\"") && html.contains("name=\"source_version\""), "{html}");
    let csrf = admin.csrf(project).await;

    // Refused: no token, a read-only key, a deployer limited to applications.
    let (status, _) = admin.post(&format!("{project}/start"), &[("source_version", "main")]).await;
    assert_eq!(status, 403);
    let reader = server.key("read-only", &[]).await;
    let reader =
        Browser::sign_in(&server, &reader.credentials.access_key_id, &reader.credentials.secret_access_key).await;
    let (_, html) = reader.get(project).await;
    assert!(html.contains("id=\"read-only\"") && !html.contains("action-start"), "{html}");
    let reader_csrf = reader.csrf("/console").await;
    let (status, _) = reader.post(&format!("{project}/start"), &[("csrf", &reader_csrf)]).await;
    assert_eq!(status, 403);
    let scoped = server.key("deployer", &["shop"]).await;
    let scoped =
        Browser::sign_in(&server, &scoped.credentials.access_key_id, &scoped.credentials.secret_access_key).await;
    let scoped_csrf = scoped.csrf("/console").await;
    let (status, _) = scoped.post(&format!("{project}/start"), &[("csrf", &scoped_csrf)]).await;
    assert_eq!(status, 403);
    assert_eq!(count(&store).await, 0, "nothing was started");

    // An unscoped deployer starts one, with a source version.
    let deployer = server.key("deployer", &[]).await;
    let deployer_id = deployer.credentials.access_key_id.clone();
    let deployer = Browser::sign_in(&server, &deployer_id, &deployer.credentials.secret_access_key).await;
    let deployer_csrf = deployer.csrf(project).await;
    let (status, location) =
        deployer.post(&format!("{project}/start"), &[("csrf", &deployer_csrf), ("source_version", "pr/7")]).await;
    assert_eq!(status, 303, "{location}");
    assert!(location.starts_with("/console/builds/shop-build%3A") && location.contains("?ok="), "{location}");
    let builds = store.list_builds(Some("shop-build"), 10).await.unwrap();
    assert_eq!(builds.len(), 1);
    let first = builds[0].clone();
    assert_eq!(first.source_version.as_deref(), Some("pr/7"));
    assert_eq!(first.initiator, build::Initiator::Key(deployer_id));
    let (_, html) = deployer.get(location.split('?').next().unwrap()).await;
    assert!(html.contains("data-build-status=\"QUEUED\"") && html.contains("id=\"action-stop\""), "{html}");

    // An Upload project needs a source from the CLI: said on its page and by the operation.
    let (_, html) = admin.get("/console/build-projects/uploads").await;
    assert!(html.contains("id=\"start-upload\"") && html.contains("ferry build start uploads --source DIR"), "{html}");
    assert!(!html.contains("action-start"), "{html}");
    let (status, location) = admin.post("/console/build-projects/uploads/start", &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    assert!(location.starts_with("/console/build-projects/uploads?error="), "{location}");
    assert!(location.contains("--source%20DIR"), "{location}");
    let (status, _) = admin.post("/console/build-projects/nope/start", &[("csrf", &csrf)]).await;
    assert_eq!(status, 404);

    // Stop: refused without the token and for a read-only key; a queued build stops at once.
    let page = build_path(&first.id);
    let (status, _) = admin.post(&format!("{page}/stop"), &[("csrf", "forged")]).await;
    assert_eq!(status, 403);
    let (status, _) = reader.post(&format!("{page}/stop"), &[("csrf", &reader_csrf)]).await;
    assert_eq!(status, 403);
    assert_eq!(store.get_build(&first.id).await.unwrap().status, BuildStatus::Queued);
    let (status, location) = admin.post(&format!("{page}/stop"), &[("csrf", &csrf)]).await;
    assert_eq!((status, location.as_str()), (303, format!("{page}?ok=The%20build%20is%20stopped.").as_str()));
    assert_eq!(store.get_build(&first.id).await.unwrap().status, BuildStatus::Stopped);

    // A running build is marked for its host to stop.
    let running = queued_build(&server, "shop-build").await;
    run_on_host(&store, &running).await;
    let (status, location) = admin.post(&format!("{}/stop", build_path(&running)), &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    assert!(location.contains("Stopping"), "{location}");
    assert!(store.get_build(&running).await.unwrap().stop_requested);
    let (_, html) = admin.get(&build_path(&running)).await;
    assert!(html.contains("id=\"stop-requested\""), "{html}");

    // Retry: a finished build offers it; the new build has the old one's source version.
    let (_, html) = admin.get(&page).await;
    assert!(html.contains("id=\"action-retry\"") && !html.contains("id=\"action-stop\""), "{html}");
    let (status, _) = reader.post(&format!("{page}/retry"), &[("csrf", &reader_csrf)]).await;
    assert_eq!(status, 403);
    let (status, _) = admin.post(&format!("{page}/retry"), &[]).await;
    assert_eq!(status, 403);
    let before = count(&store).await;
    let (status, location) = admin.post(&format!("{page}/retry"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 303, "{location}");
    assert!(location.contains("a%20retry%20of%20%231"), "{location}");
    assert_eq!(count(&store).await, before + 1);
    let newest = store.list_builds(Some("shop-build"), 1).await.unwrap().remove(0);
    assert_eq!((newest.number, newest.source_version.as_deref()), (3, Some("pr/7")));
    let (status, _) = admin.post(&format!("{}/retry", build_path("shop-build:nope")), &[("csrf", &csrf)]).await;
    assert_eq!(status, 404);
}

/// One server-sent event.
#[derive(Debug)]
struct SseEvent {
    event: String,
    id: Option<String>,
    data: String,
}

/// Reads server-sent events from `response` as they come.
struct Events {
    response: reqwest::Response,
    buffer: String,
    /// Whether the server ended the stream.
    ended: bool,
}

impl Events {
    fn new(response: reqwest::Response) -> Events {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Events { response, buffer: String::new(), ended: false }
    }

    /// The next event (comments skipped), `None` once the stream ended;
    /// panics after `timeout`.
    async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..at + 2).collect();
                let mut event = SseEvent { event: "message".into(), id: None, data: String::new() };
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                event.data = data.join("\n");
                return Some(event);
            }
            if self.ended {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.response.chunk()).await {
                Err(_) => panic!("no event within {timeout:?}; buffered: {:?}", self.buffer),
                Ok(chunk) => match chunk.unwrap() {
                    Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                    None => self.ended = true,
                },
            }
        }
    }

    /// The next event that is `kind`, skipping others.
    async fn next_of(&mut self, kind: &str, timeout: Duration) -> SseEvent {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self.next(left).await.unwrap_or_else(|| panic!("the stream ended before a {kind} event"));
            if event.event == kind {
                return event;
            }
        }
    }
}

#[tokio::test]
async fn a_running_builds_page_streams_new_log_lines_and_stops_when_the_build_ends() {
    let server = TestServer::start().await;
    build_projects(&server, "shop-build").await;
    let id = queued_build(&server, "shop-build").await;
    let store = store(&server).await;
    let mut b = run_on_host(&store, &id).await;
    store.append_build_log(&id, 0, &["first".to_string(), "second".to_string()]).await.unwrap();
    let reader = server.key("read-only", &[]).await;
    let reader =
        Browser::sign_in(&server, &reader.credentials.access_key_id, &reader.credentials.secret_access_key).await;

    // The page follows the build from the line after the ones it shows.
    let page = build_path(&id);
    let (_, html) = reader.get(&page).await;
    let live = format!("{page}/live?from=2");
    assert!(html.contains(&format!("data-src=\"{live}\"")), "{html}");
    assert!(html.contains("data-build-status=\"IN_PROGRESS\""), "{html}");
    let mut events = Events::new(reader.get_raw(&live, &[]).await);
    let first = events.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(first.event, "fragment", "{first:?}");
    assert!(first.data.contains("data-build-status=\"IN_PROGRESS\""), "{first:?}");

    // A line a build host writes shows up, escaped, numbered after the others.
    let started = Instant::now();
    store.append_build_log(&id, 2, &["<b>third</b>".to_string()]).await.unwrap();
    let lines = events.next_of("lines", Duration::from_secs(10)).await;
    assert_eq!(lines.data, "<div class=\"line\" data-n=\"3\">&lt;b&gt;third&lt;/b&gt;</div>");
    assert_eq!(lines.id.as_deref(), Some("3"), "the next line's number, for a reconnect");
    eprintln!("a new log line reached the page's stream after {:?}", started.elapsed());

    // A phase the host reports re-renders the fragment.
    build::take_phases(
        &mut b,
        vec![BuildPhase { name: "BUILD".into(), status: None, start_time: now_ms(), end_time: None, message: None }],
    );
    store.update_build(&b).await.unwrap();
    let fragment = events.next_of("fragment", Duration::from_secs(10)).await;
    assert!(fragment.data.contains("<tr data-phase=\"BUILD\" data-status=\"IN_PROGRESS\">"), "{fragment:?}");

    // A reconnecting browser resumes after the last line it got.
    let mut resumed = Events::new(reader.get_raw(&format!("{page}/live?from=0"), &[("last-event-id", "1")]).await);
    let lines = resumed.next_of("lines", Duration::from_secs(10)).await;
    assert!(lines.data.starts_with("<div class=\"line\" data-n=\"2\">second</div>"), "{lines:?}");
    drop(resumed);

    // The build ends: its last lines and the final fragment come, then `done`, then the stream ends.
    store.append_build_log(&id, 3, &["last".to_string()]).await.unwrap();
    build::complete(&mut b, BuildStatus::Succeeded, now_ms());
    store.update_build(&b).await.unwrap();
    let mut seen = Vec::new();
    while let Some(event) = events.next(Duration::from_secs(10)).await {
        seen.push(event);
    }
    let kinds: Vec<&str> = seen.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds.last(), Some(&"done"), "{seen:?}");
    assert_eq!(seen.last().unwrap().data, "SUCCEEDED");
    assert!(seen.iter().any(|e| e.event == "lines" && e.data.contains("data-n=\"4\">last</div>")), "{seen:?}");
    let last_fragment = seen.iter().rev().find(|e| e.event == "fragment").expect("the final fragment");
    assert!(last_fragment.data.contains("data-build-status=\"SUCCEEDED\""), "{last_fragment:?}");
    assert!(last_fragment.data.contains("id=\"read-only\""), "rendered for the session's role");

    // A finished build's page follows nothing; its stream ends at once.
    let (_, html) = reader.get(&page).await;
    assert!(!html.contains("data-src="), "{html}");
    let mut after = Events::new(reader.get_raw(&format!("{page}/live?from=4"), &[]).await);
    let mut kinds = Vec::new();
    while let Some(event) = after.next(Duration::from_secs(10)).await {
        kinds.push(event.event);
    }
    assert_eq!(kinds, ["fragment", "done"]);
}
