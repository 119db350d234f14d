//! A real ferry server inside the test's own tokio runtime, for fast
//! in-process tests that need no root (mini-redis's `start_server()`
//! pattern): `ferry_server::serve` on 127.0.0.1:0 with a private temporary
//! data directory (SQLite, blobs) and plain HTTP, plus small signed clients
//! for the native API (`/api/v1`), CodeDeploy's JSON API (`POST /`) and the
//! agent protocol (`/agent/v1`), so a test can play an agent.
//!
//! Tests here check what callers see (status codes, JSON members, error
//! codes and AWS exception names, messages), never the server's internals.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ferry_server::{AdminCredentials, ServerConfig, TlsMode};
use ferry_sigv4::Credentials;
use serde_json::{Value, json};
use sha2::Digest;

pub const ADMIN_KEY_ID: &str = "FKIATESTADMIN0000001";
pub const ADMIN_SECRET: &str = "test-admin-secret-0123456789abcdefghijkl";
pub const JOIN_TOKEN: &str = "ferry-join-test-token-0123456789";
/// The agent protocol this build speaks.
pub const AGENT_PROTOCOL: u32 = ferry_proto::AGENT_PROTOCOL_VERSION;

/// A server serving until dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin key's client.
    pub admin: Client,
    // Dropped last: the data directory outlives the server.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ferry_server::ServerError>>>,
    pub data: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with short agent timings (a held poll lasts 1 s).
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` changed its configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let data = tempfile::tempdir().expect("a temporary data directory");
        // The server makes its data directory private itself.
        let mut config = ServerConfig::new(data.path().join("data"));
        config.listen = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
        config.admin =
            Some(AdminCredentials { access_key_id: ADMIN_KEY_ID.into(), secret_access_key: ADMIN_SECRET.into() });
        config.join_token = Some(JOIN_TOKEN.into());
        config.tls = TlsMode::Off;
        config.poll_hold = Duration::from_secs(1);
        adjust(&mut config);
        let listeners = ferry_server::bind(&config).await.expect("bind 127.0.0.1:0");
        let addr = listeners[0].local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // Requests made before `serve` accepts wait in the listen backlog.
        let task = tokio::spawn(ferry_server::serve(config, listeners, async move {
            let _ = stopped.await;
        }));
        let admin = Client::new(addr, Credentials::new(ADMIN_KEY_ID, ADMIN_SECRET));
        // A server that failed to start says why, instead of a refused request.
        let url = format!("http://{addr}/metrics");
        if let Err(e) = admin.http.get(url).send().await {
            let outcome = task.await;
            panic!("the server did not start ({e}): {outcome:?}");
        }
        TestServer { addr, admin, stop: Some(stop), task: Some(task), data }
    }

    /// A client signing with another key.
    pub fn client(&self, access_key_id: &str, secret: &str) -> Client {
        Client::new(self.addr, Credentials::new(access_key_id, secret))
    }

    /// Creates an access key with the admin key (`role`: admin, deployer,
    /// read-only) and returns its client.
    pub async fn key(&self, role: &str, scopes: &[&str]) -> Client {
        let (status, body) =
            self.admin.post("/api/v1/keys", json!({ "role": role, "description": "test key", "scopes": scopes })).await;
        assert_eq!(status, 200, "create a {role} key: {body}");
        self.client(body["access_key_id"].as_str().unwrap(), body["secret_access_key"].as_str().unwrap())
    }

    /// Enrols an agent named `name` with `tags` over the agent protocol.
    pub async fn enrol(&self, name: &str, tags: &[(&str, &str)]) -> Agent {
        let tags: Vec<Value> = tags.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect();
        let body = json!({
            "join_token": JOIN_TOKEN,
            "name": name,
            "tags": tags,
            "agent_version": "test",
            "protocol_version": AGENT_PROTOCOL,
        });
        let (status, answer) = self.admin.unsigned("POST", "/agent/v1/enrol", body.to_string().into_bytes()).await;
        assert_eq!(status, 200, "enrol {name}: {answer}");
        let client =
            self.client(answer["access_key_id"].as_str().unwrap(), answer["secret_access_key"].as_str().unwrap());
        Agent { name: name.to_string(), client }
    }

    /// Stops the server and waits until it returned.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the server task").expect("the server ran");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A signed HTTP client of one server with one key.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    http: reqwest::Client,
    pub credentials: Credentials,
}

/// An answer: the status and the body as JSON (`Null` when empty,
/// `{"raw": text}` when not JSON), plus the response headers.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Client {
    fn new(addr: SocketAddr, credentials: Credentials) -> Client {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        Client { addr, http, credentials }
    }

    /// Sends a request signed for `service` with `headers` (signed too) and `body`.
    pub async fn send(
        &self,
        service: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let mut all: Vec<(String, String)> = vec![("host".into(), self.addr.to_string())];
        all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        let parts = ferry_sigv4::RequestParts { method, path, query, headers: &all, body: &body };
        let added = ferry_sigv4::sign(&parts, &self.credentials, service, "local", SystemTime::now());
        self.raw(method, path_and_query, all.into_iter().chain(added), body).await
    }

    /// Sends a request exactly as given (no signature added).
    pub async fn raw(
        &self,
        method: &str,
        path_and_query: &str,
        headers: impl IntoIterator<Item = (String, String)>,
        body: Vec<u8>,
    ) -> Answer {
        let url = format!("http://{}{path_and_query}", self.addr);
        let mut request = self.http.request(method.parse().unwrap(), url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path_and_query}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes).into_owned() }))
        };
        Answer { status, headers, body }
    }

    /// A native API call with a JSON body (`Value::Null`: none).
    pub async fn native(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let bytes = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
        let answer =
            self.send(ferry_proto::SIGNING_SERVICE, method, path, &[("content-type", "application/json")], bytes).await;
        (answer.status, answer.body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.native("GET", path, Value::Null).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.native("POST", path, body).await
    }

    /// An unsigned request with a JSON body (enrolment).
    pub async fn unsigned(&self, method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
        let answer = self.raw(method, path, [("content-type".into(), "application/json".into())], body).await;
        (answer.status, answer.body)
    }

    /// A CodeDeploy JSON API call (`X-Amz-Target: CodeDeploy_20141006.<operation>`).
    pub async fn aws(&self, operation: &str, input: Value) -> Answer {
        let target = format!("CodeDeploy_20141006.{operation}");
        self.send(
            ferry_aws::SIGNING_SERVICE,
            "POST",
            "/",
            &[("content-type", "application/x-amz-json-1.1"), ("x-amz-target", &target)],
            input.to_string().into_bytes(),
        )
        .await
    }

    /// [`Client::aws`] that must succeed; returns the output.
    pub async fn aws_ok(&self, operation: &str, input: Value) -> Value {
        let answer = self.aws(operation, input).await;
        assert_eq!(answer.status, 200, "{operation}: {}", answer.body);
        answer.body
    }

    /// [`Client::aws`] that must fail; returns the exception name (checked
    /// to be the same in the body's `__type` and in `x-amzn-ErrorType`), and
    /// the message.
    pub async fn aws_err(&self, operation: &str, input: Value) -> (u16, String, String) {
        let answer = self.aws(operation, input).await;
        assert_ne!(answer.status, 200, "{operation} succeeded: {}", answer.body);
        let name = answer.body["__type"].as_str().unwrap_or_else(|| panic!("no __type in {}", answer.body));
        let header = answer.headers.get("x-amzn-errortype").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(header, name, "x-amzn-ErrorType and __type disagree");
        let message = answer.body["message"].as_str().unwrap_or_default().to_string();
        (answer.status, name.to_string(), message)
    }

    /// A call of CodeBuild's JSON API or CodeDeploy's (by `target`, e.g.
    /// `CodeBuild_20161006.StartBuild`), signed for `service`.
    pub async fn aws_target(&self, service: &str, target: &str, input: Value) -> Answer {
        self.send(
            service,
            "POST",
            "/",
            &[("content-type", "application/x-amz-json-1.1"), ("x-amz-target", target)],
            input.to_string().into_bytes(),
        )
        .await
    }

    /// A CodeBuild JSON API call (`X-Amz-Target: CodeBuild_20161006.<operation>`).
    pub async fn codebuild(&self, operation: &str, input: Value) -> Answer {
        let target = format!("{}{operation}", ferry_aws::codebuild::TARGET_PREFIX);
        self.aws_target(ferry_aws::codebuild::SIGNING_SERVICE, &target, input).await
    }

    /// Pushes `bundle` (a tar) as a revision of `app`, signed over its SHA-256
    /// as `ferry push` does; returns the revision's view.
    pub async fn push_tar(&self, app: &str, bundle: Vec<u8>) -> Value {
        let sha256 = hex(&sha2::Sha256::digest(&bundle));
        let answer = self
            .send(
                ferry_proto::SIGNING_SERVICE,
                "POST",
                &format!("/api/v1/applications/{app}/revisions?bundle_type=tar"),
                &[("content-type", "application/octet-stream"), ("x-amz-content-sha256", &sha256)],
                bundle,
            )
            .await;
        assert_eq!(answer.status, 200, "push to {app}: {}", answer.body);
        answer.body
    }
}

/// A test playing an enrolled agent over `/agent/v1`.
pub struct Agent {
    pub name: String,
    pub client: Client,
}

impl Agent {
    fn headers() -> [(&'static str, String); 3] {
        [
            ("content-type", "application/json".into()),
            (ferry_proto::agent::VERSION_HEADER, "test".into()),
            (ferry_proto::agent::PROTOCOL_HEADER, AGENT_PROTOCOL.to_string()),
        ]
    }

    async fn call(&self, path: &str, body: Value) -> (u16, Value) {
        let headers = Self::headers();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let answer =
            self.client.send(ferry_proto::SIGNING_SERVICE, "POST", path, &headers, body.to_string().into_bytes()).await;
        (answer.status, answer.body)
    }

    /// A container host's sync (`/agent/v1/tasks/sync`), or any agent route.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(path, body).await
    }

    /// The host's commands now (a poll that is answered at once).
    pub async fn commands(&self) -> Vec<Value> {
        let (status, body) = self.call("/agent/v1/poll", json!({ "running": [], "no_wait": true })).await;
        assert_eq!(status, 200, "poll of {}: {body}", self.name);
        body["commands"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the host has a command (for `deployment_id`, if given).
    pub async fn next_command(&self, deployment_id: Option<&str>) -> Value {
        let what = format!("a command for {}", self.name);
        eventually(&what, Duration::from_secs(10), || async {
            self.commands()
                .await
                .into_iter()
                .find(|c| deployment_id.is_none_or(|id| c["spec"]["deployment_id"] == id) && c["cancel"] != true)
        })
        .await
    }

    /// Reports one event of `command`; returns the `proceed` answer (for Started).
    pub async fn report(&self, command: &Value, event: &str, phase: &str, succeeded: bool) -> bool {
        let (status, body) = self.report_raw(command, event, phase, succeeded).await;
        assert_eq!(status, 200, "report {event} {phase} of {}: {body}", self.name);
        body["proceed"] == true
    }

    pub async fn report_raw(&self, command: &Value, event: &str, phase: &str, succeeded: bool) -> (u16, Value) {
        let report = json!({
            "command_id": command["id"],
            "deployment_id": command["spec"]["deployment_id"],
            "attempt": command["attempt"],
            "event": event,
            "phase": phase,
            "succeeded": succeeded,
        });
        self.call("/agent/v1/report", report).await
    }

    /// Carries out every event of `command` successfully, as an agent whose
    /// hooks all pass would.
    pub async fn run(&self, command: &Value) {
        for event in command["events"].as_array().unwrap() {
            let event = event.as_str().unwrap();
            assert!(self.report(command, event, "Started", false).await, "{event} may not proceed on {}", self.name);
            self.report(command, event, "Finished", true).await;
        }
    }

    /// Plays the agent until `deployment_id` has no more commands for it.
    pub async fn run_deployment(&self, deployment_id: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let commands = self.commands().await;
            let Some(command) = commands.iter().find(|c| c["spec"]["deployment_id"] == deployment_id) else {
                return;
            };
            self.run(command).await;
            assert!(Instant::now() < deadline, "deployment {deployment_id} kept giving {} commands", self.name);
        }
    }
}

/// Retries `check` until it returns `Some`, backing off from 5 ms to 100 ms;
/// panics naming `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tar bundle holding `appspec.yml` (no hooks) and one file.
pub fn tar_bundle(appspec: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in [("appspec.yml", appspec.as_bytes()), ("app/index.html", b"hello\n".as_slice())] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, content).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The smallest valid appspec for servers.
pub const APPSPEC: &str = "version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: /srv/app\n";

/// The deployment's status on the native API.
pub async fn native_status(client: &Client, id: &str) -> String {
    let (status, body) = client.get(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(status, 200, "get deployment {id}: {body}");
    body["status"].as_str().unwrap().to_string()
}

/// Waits until the deployment's native status is `want`.
pub async fn wait_status(client: &Client, id: &str, want: &str) -> Value {
    let what = format!("deployment {id} to be {want}");
    eventually(&what, Duration::from_secs(10), || async {
        let (_, body) = client.get(&format!("/api/v1/deployments/{id}")).await;
        (body["status"] == want).then_some(body)
    })
    .await
}
