//! A fake ferry server speaking the agent protocol in memory, and helpers
//! to build revisions, commands and agents against it.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ferry_agent::{AgentConfig, AgentError};
use ferry_proto::ErrorBody;
use ferry_proto::agent::{
    Command, DeploymentSpec, EnrolRequest, EnrolResponse, EventReport, Phase, PollRequest, PollResponse,
    ReportResponse, Revision, RevisionSource,
};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

pub const JOIN_TOKEN: &str = "join-secret";
pub const ALL_EVENTS: [&str; 7] = [
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
];

/// What the fake server knows and what it saw.
#[derive(Default)]
pub struct ServerState {
    pub enrol_calls: u32,
    /// Instance name → access key id.
    pub names: HashMap<String, String>,
    /// Access key id → secret.
    pub keys: HashMap<String, String>,
    pub revoked: HashSet<String>,
    /// What every poll returns.
    pub commands: Vec<Command>,
    pub reports: Vec<EventReport>,
    /// Events whose `Started` report is answered `proceed: false`.
    pub refuse: HashSet<String>,
    pub bundles: HashMap<String, Vec<u8>>,
    pub bundle_downloads: u32,
    pub polls: u32,
    pub last_running: Vec<String>,
    /// Answer this many polls with 503.
    pub fail_polls: u32,
    /// Requests whose signature did not verify (method, path, reason).
    pub auth_failures: Vec<String>,
    /// Requests without the agent version header.
    pub missing_version: u32,
}

pub struct FakeServer {
    pub url: String,
    state: Arc<Mutex<ServerState>>,
    changed: Arc<Notify>,
    hold: Duration,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct App {
    state: Arc<Mutex<ServerState>>,
    changed: Arc<Notify>,
    hold: Duration,
}

impl FakeServer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener)
    }

    /// Serves on an already bound listener.
    pub fn serve(listener: tokio::net::TcpListener) -> Self {
        Self::serve_with(listener, |_| {})
    }

    /// Serves on an already bound listener, starting from the state `init` makes.
    pub fn serve_with(listener: tokio::net::TcpListener, init: impl FnOnce(&mut ServerState)) -> Self {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut initial = ServerState::default();
        init(&mut initial);
        let state = Arc::new(Mutex::new(initial));
        let changed = Arc::new(Notify::new());
        let hold = Duration::from_millis(300);
        let app = App { state: state.clone(), changed: changed.clone(), hold };
        let router = Router::new()
            .route("/agent/v1/enrol", post(enrol))
            .route("/agent/v1/poll", post(poll))
            .route("/agent/v1/report", post(report))
            .route("/agent/v1/bundles/{id}", get(serve_bundle))
            .with_state(app);
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { url, state, changed, hold, task }
    }

    pub fn state(&self) -> MutexGuard<'_, ServerState> {
        self.state.lock().unwrap()
    }

    /// Changes the state and wakes held polls.
    pub fn update(&self, f: impl FnOnce(&mut ServerState)) {
        f(&mut self.state());
        self.changed.notify_waiters();
    }

    pub fn reports(&self) -> Vec<EventReport> {
        self.state().reports.clone()
    }

    pub fn polls(&self) -> u32 {
        self.state().polls
    }

    /// The `Finished` report of `event` in `command`, if any.
    pub fn finished(&self, command: &str, event: &str) -> Option<EventReport> {
        self.reports().into_iter().find(|r| r.command_id == command && r.event == event && r.phase == Phase::Finished)
    }

    /// `(event, phase)` of every report of `command`, in arrival order.
    pub fn phases(&self, command: &str) -> Vec<(String, Phase)> {
        self.reports().into_iter().filter(|r| r.command_id == command).map(|r| (r.event, r.phase)).collect()
    }

    /// Waits until the agent has polled `n` more times (so it has seen the
    /// current state at least `n - 1` times).
    pub async fn wait_polls(&self, n: u32) {
        let target = self.polls() + n;
        wait_until("more polls", Duration::from_secs(20), || self.polls() >= target).await;
    }

    pub fn assert_all_signed(&self) {
        let state = self.state();
        assert!(state.auth_failures.is_empty(), "unverified requests: {:?}", state.auth_failures);
        assert_eq!(state.missing_version, 0, "requests without the version header");
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(ErrorBody { code: code.into(), message: message.into() })).into_response()
}

async fn enrol(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let request: EnrolRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidRequest", &e.to_string()),
    };
    let mut state = app.state.lock().unwrap();
    state.enrol_calls += 1;
    if !headers.contains_key(ferry_proto::agent::VERSION_HEADER) {
        state.missing_version += 1;
    }
    if request.join_token != JOIN_TOKEN {
        return error(StatusCode::FORBIDDEN, "InvalidJoinToken", "the join token is not valid for this fleet");
    }
    if state.names.contains_key(&request.name) {
        return error(
            StatusCode::CONFLICT,
            "InstanceNameTaken",
            &format!("instance name {} is taken by another enrolled agent", request.name),
        );
    }
    let access_key_id = format!("AKAGENT{}", state.keys.len() + 1);
    let secret = format!("secret-of-{}", request.name);
    state.names.insert(request.name.clone(), access_key_id.clone());
    state.keys.insert(access_key_id.clone(), secret.clone());
    axum::Json(EnrolResponse { instance_name: request.name, access_key_id, secret_access_key: secret }).into_response()
}

/// Verifies the SigV4 signature with the keys the fake issued.
fn authenticate(app: &App, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(), Box<Response>> {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let parts = ferry_sigv4::RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &pairs,
        body,
    };
    let mut state = app.state.lock().unwrap();
    if !headers.contains_key(ferry_proto::agent::VERSION_HEADER) {
        state.missing_version += 1;
    }
    let keys = state.keys.clone();
    let verified = ferry_sigv4::verify(
        &parts,
        Some(ferry_proto::SIGNING_SERVICE),
        SystemTime::now(),
        ferry_sigv4::DEFAULT_MAX_SKEW,
        |id| keys.get(id).cloned(),
    );
    match verified {
        Ok(v) if state.revoked.contains(&v.access_key_id) => Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            &format!("access key {} has been revoked", v.access_key_id),
        ))),
        Ok(v) if v.region != ferry_proto::SIGNING_REGION => {
            state.auth_failures.push(format!("{method} {uri}: region {}", v.region));
            Err(Box::new(error(StatusCode::FORBIDDEN, "AccessDenied", "wrong region")))
        }
        Ok(_) => Ok(()),
        Err(e) => {
            state.auth_failures.push(format!("{method} {uri}: {e}"));
            Err(Box::new(error(StatusCode::FORBIDDEN, "AccessDenied", &e.to_string())))
        }
    }
}

async fn poll(State(app): State<App>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = authenticate(&app, &method, &uri, &headers, &body) {
        return *response;
    }
    let request: PollRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidRequest", &e.to_string()),
    };
    let notified = app.changed.notified();
    {
        let mut state = app.state.lock().unwrap();
        state.polls += 1;
        state.last_running = request.running.clone();
        if state.fail_polls > 0 {
            state.fail_polls -= 1;
            return error(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "starting up");
        }
    }
    if !request.no_wait {
        let _ = tokio::time::timeout(app.hold, notified).await;
    }
    let commands = app.state.lock().unwrap().commands.clone();
    axum::Json(PollResponse { commands, hold_seconds: 1, lost_after_seconds: 30 }).into_response()
}

async fn report(State(app): State<App>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = authenticate(&app, &method, &uri, &headers, &body) {
        return *response;
    }
    let report: EventReport = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidRequest", &e.to_string()),
    };
    let mut state = app.state.lock().unwrap();
    let proceed = !(report.phase == Phase::Started && state.refuse.contains(&report.event));
    state.reports.push(report);
    axum::Json(ReportResponse { proceed }).into_response()
}

async fn serve_bundle(
    State(app): State<App>,
    UrlPath(id): UrlPath<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authenticate(&app, &method, &uri, &headers, &[]) {
        return *response;
    }
    let mut state = app.state.lock().unwrap();
    state.bundle_downloads += 1;
    match state.bundles.get(&id) {
        Some(bytes) => bytes.clone().into_response(),
        None => error(StatusCode::NOT_FOUND, "RevisionDoesNotExist", &format!("no revision {id}")),
    }
}

/// Polls `condition` every 20 ms until it holds; panics after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An agent running in a task, with its shutdown switch.
pub struct RunningAgent {
    pub handle: JoinHandle<Result<(), AgentError>>,
    stop: Option<oneshot::Sender<()>>,
    /// Set by the shutdown future itself, in the agent's poll of it: the
    /// agent has seen the request.
    stop_seen: Arc<AtomicBool>,
}

impl RunningAgent {
    pub fn spawn(config: AgentConfig) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let stop_seen = Arc::new(AtomicBool::new(false));
        let seen = stop_seen.clone();
        let handle = tokio::spawn(ferry_agent::run(config, async move {
            let _ = stopped.await;
            seen.store(true, Ordering::SeqCst);
        }));
        Self { handle, stop: Some(stop), stop_seen }
    }

    /// Asks for a graceful shutdown and waits until the agent has seen it.
    pub async fn request_shutdown(&mut self) {
        let _ = self.stop.take().expect("asked once").send(());
        wait_until("the agent to see the shutdown", Duration::from_secs(10), || self.stop_seen.load(Ordering::SeqCst))
            .await;
    }

    /// Graceful shutdown; returns what `run` returned.
    pub async fn shutdown(mut self) -> Result<(), AgentError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finished().await
    }

    /// Kills the agent as a crash would: its task is dropped mid-flight.
    pub async fn crash(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }

    /// Waits for `run` to return on its own.
    pub async fn finished(mut self) -> Result<(), AgentError> {
        tokio::time::timeout(Duration::from_secs(30), &mut self.handle).await.expect("agent returns").unwrap()
    }
}

/// A test host: an agent root and a place for proof files and installs.
pub struct Host {
    pub dir: tempfile::TempDir,
}

impl Host {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    pub fn proof(&self) -> PathBuf {
        self.dir.path().join("proof.txt")
    }

    pub fn proof_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.proof()).unwrap_or_default().lines().map(str::to_string).collect()
    }

    pub fn dest(&self) -> PathBuf {
        self.dir.path().join("installed")
    }

    pub fn config(&self, server: &str) -> AgentConfig {
        let mut config = AgentConfig::new(server, "web-1");
        config.root = self.root();
        config.join_token = Some(JOIN_TOKEN.to_string());
        config.retry_initial = Duration::from_millis(20);
        config.retry_max = Duration::from_millis(300);
        config.shutdown_grace = Duration::from_secs(5);
        config
    }
}

/// A revision bundle (tgz) whose hooks append `<event>` to the host's proof
/// file, except those given in `scripts` (event → shell body).
pub struct Bundle {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

pub fn bundle(host: &Host, name: &str, scripts: &[(&str, &str)]) -> Bundle {
    let src = host.dir.path().join(format!("src-{name}"));
    std::fs::create_dir_all(src.join("scripts")).unwrap();
    std::fs::create_dir_all(src.join("content")).unwrap();
    std::fs::write(src.join("content/index.html"), format!("revision {name}\n")).unwrap();
    let mut appspec = format!(
        "version: 0.0\nos: linux\nfiles:\n  - source: content\n    destination: {}\nhooks:\n",
        host.dest().display()
    );
    for event in ["ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"] {
        let body = scripts.iter().find(|(e, _)| *e == event).map(|(_, body)| body.to_string()).unwrap_or_else(|| {
            format!(
                "echo \"hello from $LIFECYCLE_EVENT\"\necho \"$LIFECYCLE_EVENT {name}\" >> '{}'",
                host.proof().display()
            )
        });
        let script = src.join(format!("scripts/{event}.sh"));
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        appspec.push_str(&format!("  {event}:\n    - location: scripts/{event}.sh\n      timeout: 60\n"));
    }
    std::fs::write(src.join("appspec.yml"), appspec).unwrap();
    let out = host.dir.path().join(format!("{name}.tgz"));
    ferry_bundle::pack(&src, ferry_bundle::BundleType::Tgz, &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    Bundle { bytes, sha256 }
}

/// A command for `events` of deployment `deployment` installing `bundle`
/// (revision `rev-<deployment>`, served by the fake by its SHA-256).
pub fn command(server: &FakeServer, id: &str, deployment: &str, events: &[&str], bundle: &Bundle) -> Command {
    let revision_id = format!("rev-{deployment}");
    server.update(|s| {
        s.bundles.insert(bundle.sha256.clone(), bundle.bytes.clone());
    });
    Command {
        id: id.to_string(),
        attempt: 1,
        events: events.iter().map(|e| e.to_string()).collect(),
        cancel: false,
        ignore_application_stop_failures: false,
        spec: DeploymentSpec {
            deployment_id: deployment.to_string(),
            application_name: "shop".into(),
            deployment_group_name: "web".into(),
            deployment_group_id: "g-web".into(),
            revision: Revision {
                id: revision_id,
                bundle_type: "tgz".into(),
                sha256: bundle.sha256.clone(),
                size: bundle.bytes.len() as u64,
                source: RevisionSource::Server,
            },
            appspec_filename: None,
            file_exists_behavior: Some("OVERWRITE".into()),
            creator: "user".into(),
            deployment_type: "IN_PLACE".into(),
            all_possible_events: None,
        },
    }
}

/// Reads a path's permission bits.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
