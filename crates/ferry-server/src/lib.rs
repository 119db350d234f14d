//! The ferry server: composition of the native API, the AWS API, the
//! console and the agent protocol over the deployment driver, the store and
//! the blob store.
//!
//! # Layout
//! Start-up and the connection edge:
//! - `bootstrap`: the private data directory, the secrets key, first-start
//!   secrets (admin credentials file, join token, metrics token, webhook secret).
//! - `tls`: the listeners' certificate (given, or made by the server's own CA) and TLS handshake.
//! - `listen`: accept loops, HTTP/1.1 connections, their limits and timeouts, bounded shutdown.
//! - `limits`: connection and body limits; the middleware that reads request bodies.
//! - `throttle`: per-address limits on what unauthenticated callers can cause.
//!
//! Who is calling, and the record of it:
//! - `auth`: SigV4 verification of every request, and who the caller is.
//! - `audit`: the audit recorder (a middleware; handlers note what they learn).
//! - `error`: native API and agent protocol errors as HTTP responses.
//!
//! API surfaces (HTTP handlers):
//! - `native`: `/api/v1`, the API the `ferry` CLI uses; `views`: domain to its wire types.
//! - `keys`, `target_groups`, `alarms` (also their evaluation), `audit_api`,
//!   `event_stream` (events and trigger deliveries), `metrics_api` (`/metrics`
//!   and request timing): the rest of `/api/v1`.
//! - `aws`: `POST /`, CodeDeploy's JSON 1.1 API.
//! - `console`: `/console`, the web console.
//! - `webhooks`: `/webhooks/build/{project}`, git forges' push and pull-request
//!   webhooks that start builds, and commit statuses posted back.
//! - `agent_api`: `/agent/v1`, the protocol agents speak.
//!
//! Below the handlers (no HTTP):
//! - `driver`: the deployment driver (persist, then act) and liveness checks.
//! - `events`: the event log's writing side (built in the driver's commit) and its bus.
//! - `triggers`: trigger targets and messages; `deliverer`: sends them as signed webhooks.
//! - `metrics`: what is counted as it happens.
//! - `traffic`: the load balancers of target groups.
//! - `bundles`, `fetches`, `appspec_check`: getting a revision's bytes into the
//!   blob store (also in the background) and checking its appspec.
//! - `clock`: the time (`now_millis`; an injectable `Clock`); `random`: ids and secrets.

mod agent_api;
mod alarms;
mod appspec_check;
mod audit;
mod audit_api;
mod auth;
mod aws;
mod badges;
mod bootstrap;
mod bundles;
pub mod clock;
mod console;
mod deliverer;
mod driver;
mod error;
mod event_stream;
mod events;
mod fetches;
mod keys;
pub mod limits;
mod listen;
mod metrics;
mod metrics_api;
mod native;
mod ops;
pub mod random;
mod target_groups;
mod throttle;
pub mod tls;
mod traffic;
mod triggers;
mod views;
mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ferry_blob::LocalBlobs;
use ferry_store::Store;

pub use bootstrap::{AdminCredentials, write_credentials_file};
pub use clock::Clock;
pub use driver::Driver;
pub use limits::Limits;
pub use tls::TlsMode;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// State (SQLite), revision blobs, the credentials file and the join token.
    pub data_dir: PathBuf,
    /// Addresses to listen on (at least one).
    pub listen: Vec<SocketAddr>,
    /// The admin access key; generated (and written to `<data_dir>/credentials`) when absent.
    pub admin: Option<AdminCredentials>,
    /// The secret agents enrol with; generated into `<data_dir>/join-token` when absent.
    pub join_token: Option<String>,
    /// How long an agent's poll is held when there is no work.
    pub poll_hold: Duration,
    /// A host whose agent has not been heard from for this long is lost: its
    /// in-flight lifecycle event fails.
    pub agent_lost_after: Duration,
    /// Largest revision bundle accepted.
    pub max_bundle_bytes: u64,
    /// The S3-compatible endpoint S3 revisions come from (`None`: AWS).
    pub s3_endpoint: Option<String>,
    /// A bucket pipelines' artifacts are copied to (`None`: the blob store
    /// only), as `<pipeline>/<execution>/<artifact>.<zip|tar|tgz>`.
    pub artifact_bucket: Option<String>,
    /// Where `owner/repo` git revisions point (`{repository}` is replaced).
    pub git_base_url: String,
    /// The region and account id in the ARNs of the AWS API.
    pub aws_region: String,
    pub aws_account_id: String,
    /// Run (with `sh -c`) for each original instance a blue/green
    /// deployment terminates, before it is deregistered; FERRY_INSTANCE,
    /// FERRY_INSTANCE_ADDRESS and FERRY_DEPLOYMENT_ID say which.
    pub terminate_command: Option<String>,
    /// The Prometheus that alarms without a URL of their own are evaluated against.
    pub prometheus_url: Option<String>,
    /// How often running deployments' alarms are evaluated.
    pub alarm_interval: Duration,
    /// The key trigger webhooks are signed with; read from (or created in)
    /// `<data_dir>/webhook-secret` when absent.
    pub webhook_secret: Option<String>,
    /// Finished deployments older than this are pruned (`None`: kept).
    pub retention: Option<Duration>,
    /// Audit entries older than this are pruned (`None`: kept).
    pub audit_retention: Option<Duration>,
    /// HTTPS with the server's own CA (the default), given certificate
    /// files, or plain HTTP.
    pub tls: TlsMode,
    /// Connections, timeouts and request-body memory.
    pub limits: Limits,
    /// The key access keys' secrets are sealed with in the database
    /// (`None`: `<data_dir>/secret.key`, created on first start).
    pub secrets_key_file: Option<PathBuf>,
    /// Start even if the data directory or files in it are open to other
    /// users (they are refused by default).
    pub allow_open_data_dir: bool,
    /// The control socket of the `ferry proxy` that serves the built-in
    /// proxy's target groups (`None`: they are served in this process, and
    /// their traffic stops whenever the server does).
    pub proxy_socket: Option<PathBuf>,
    /// Where the server reads the time (the system clock; tests may inject
    /// a manual one). Not yet read by the driver, which uses `clock::now_millis`.
    pub clock: Clock,
}

impl ServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 7800))],
            admin: None,
            join_token: None,
            poll_hold: Duration::from_secs(20),
            agent_lost_after: Duration::from_secs(30),
            max_bundle_bytes: 2 << 30,
            s3_endpoint: None,
            artifact_bucket: None,
            git_base_url: ferry_blob::DEFAULT_GIT_BASE_URL.to_string(),
            aws_region: "us-east-1".into(),
            aws_account_id: "000000000000".into(),
            terminate_command: None,
            prometheus_url: None,
            alarm_interval: Duration::from_secs(5),
            webhook_secret: None,
            retention: Some(Duration::from_secs(90 * 24 * 3600)),
            audit_retention: Some(Duration::from_secs(365 * 24 * 3600)),
            tls: TlsMode::default(),
            limits: Limits::default(),
            secrets_key_file: None,
            allow_open_data_dir: false,
            proxy_socket: None,
            clock: Clock::default(),
        }
    }
}

/// Shared by every request handler.
#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Store,
    pub blobs: LocalBlobs,
    pub fetcher: bundles::Fetcher,
    pub driver: Arc<Driver>,
    pub config: Arc<ServerConfig>,
    pub join_token_hash: Arc<String>,
    /// The bearer token `/metrics` accepts.
    pub metrics_token: Arc<String>,
    /// Revision copies running in the background, and how far they got.
    pub fetch_progress: fetches::Progress,
    /// Memory request bodies may take beyond their free allowance (`limits`).
    pub body_budget: limits::BodyBudget,
    /// Back-off and audit limits for unauthenticated callers, per address.
    pub throttles: Arc<throttle::Throttles>,
}

#[cfg(test)]
impl AppState {
    /// The state of a server in `dir` with an in-memory store and nothing
    /// running around it (no listeners, reconciler or job runner): for
    /// tests of the operations and the driver.
    pub(crate) async fn for_tests(dir: &std::path::Path) -> AppState {
        Self::for_tests_with(dir, |_| {}).await
    }

    /// [`AppState::for_tests`] with `adjust` applied to the configuration.
    pub(crate) async fn for_tests_with(dir: &std::path::Path, adjust: impl FnOnce(&mut ServerConfig)) -> AppState {
        let mut config = ServerConfig::new(dir);
        adjust(&mut config);
        let config = Arc::new(config);
        let store = Store::open_sqlite_memory().await.unwrap();
        let blobs = LocalBlobs::open(dir.join("blobs")).await.unwrap();
        let fetcher = bundles::Fetcher {
            blobs: blobs.clone(),
            s3: ferry_blob::S3Source::from_env(None).unwrap(),
            git: ferry_blob::GitSource::new(dir.join("git-cache")),
            max_bundle_bytes: config.max_bundle_bytes,
        };
        let traffic = Arc::new(traffic::Traffic::new(store.clone(), None));
        let (driver, _jobs) = Driver::new(store.clone(), config.clone(), traffic);
        AppState {
            store,
            blobs,
            fetcher,
            driver: Arc::new(driver),
            config: config.clone(),
            join_token_hash: Arc::default(),
            metrics_token: Arc::default(),
            fetch_progress: fetches::Progress::default(),
            body_budget: limits::BodyBudget::new(&config.limits),
            throttles: Arc::default(),
        }
    }
}

impl AppState {
    fn audit_recorder(&self) -> audit::Recorder {
        audit::Recorder { store: self.store.clone(), throttles: self.throttles.clone() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Setup(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// Starts everything, serves until `shutdown` resolves, then stops accepting
/// work and returns. Every state change is already persisted when it is
/// acknowledged, so returning needs no flush.
pub async fn run(config: ServerConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
    let listeners = bind(&config).await?;
    serve(config, listeners, shutdown).await
}

/// Binds every listen address (separate from `serve` so tests can bind port 0).
pub async fn bind(config: &ServerConfig) -> Result<Vec<tokio::net::TcpListener>, ServerError> {
    let mut listeners = Vec::new();
    for addr in &config.listen {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr: *addr, source })?;
        listeners.push(listener);
    }
    Ok(listeners)
}

pub async fn serve(
    config: ServerConfig,
    listeners: Vec<tokio::net::TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    bootstrap::prepare_data_dir(&config.data_dir, config.allow_open_data_dir).map_err(ServerError::Setup)?;
    let store = Store::open_sqlite(&config.data_dir.join("ferry.db"))
        .await
        .map_err(|e| ServerError::Setup(format!("cannot open the state database: {e}")))?;
    let store = bootstrap::unlock_secrets(&config, store).await.map_err(ServerError::Setup)?;
    let blobs = LocalBlobs::open(config.data_dir.join("blobs"))
        .await
        .map_err(|e| ServerError::Setup(format!("cannot open the blob store: {e}")))?;
    let listening: Vec<SocketAddr> = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
    let tls = tls::prepare(&config.tls, &config.data_dir, &listening).map_err(ServerError::Setup)?;
    if tls.is_none() {
        tracing::warn!(
            "PLAIN HTTP (--insecure-http): the join token, access key signatures, console sessions and \
             bundles cross the network unencrypted and agents cannot tell this server from another; \
             for local development only"
        );
    }
    let secrets = bootstrap::ensure_secrets(&config, &store, tls.as_ref().map(|t| t.ca_fingerprint.as_str()))
        .await
        .map_err(ServerError::Setup)?;
    let git = ferry_blob::GitSource::new(config.data_dir.join("git-cache"))
        .with_base_url(&config.git_base_url)
        .map_err(|e| ServerError::Setup(format!("--git-base-url: {e}")))?;
    // A bad endpoint is a configuration error: refuse to start.
    let s3 = ferry_blob::S3Source::from_env(config.s3_endpoint.as_deref())
        .map_err(|e| ServerError::Setup(format!("--s3-endpoint: {e}")))?;
    let fetcher = bundles::Fetcher { blobs: blobs.clone(), s3, git, max_bundle_bytes: config.max_bundle_bytes };
    let config = Arc::new(config);
    let traffic = Arc::new(traffic::Traffic::new(store.clone(), config.proxy_socket.clone()));
    traffic.open_all().await.map_err(|e| ServerError::Setup(format!("cannot open the load balancers: {e}")))?;
    let (driver, server_jobs) = Driver::new(store.clone(), config.clone(), traffic.clone());
    let driver = Arc::new(driver);
    let jobs = tokio::spawn(driver.clone().run_server_jobs(server_jobs));
    let last_event =
        store.last_event_seq().await.map_err(|e| ServerError::Setup(format!("cannot read events: {e}")))?;
    driver.events.published(last_event);
    driver.recover().await.map_err(|e| ServerError::Setup(format!("cannot resume deployments: {e}")))?;
    driver.restore_liveness().await.map_err(|e| ServerError::Setup(format!("cannot read agent liveness: {e}")))?;
    let webhook_secret = Arc::new(bootstrap::webhook_secret(&config).map_err(ServerError::Setup)?);
    let state_store = store.clone();
    let state = AppState {
        store,
        blobs,
        fetcher,
        driver: driver.clone(),
        config: config.clone(),
        join_token_hash: Arc::new(secrets),
        metrics_token: Arc::new(bootstrap::metrics_token(&config).map_err(ServerError::Setup)?),
        fetch_progress: fetches::Progress::default(),
        body_budget: limits::BodyBudget::new(&config.limits),
        throttles: Arc::default(),
    };
    fetches::resume(&state);
    let app = router(state.clone());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reconciler = tokio::spawn(driver.clone().reconcile_forever(stop_rx.clone()));
    let liveness = tokio::spawn(driver.clone().persist_liveness_forever(stop_rx.clone()));
    let balancers = tokio::spawn(traffic.clone().reconcile_forever(stop_rx.clone()));
    let deliverer = tokio::spawn(deliverer::deliver_forever(
        state_store.clone(),
        webhook_secret,
        driver.events.clone(),
        stop_rx.clone(),
    ));
    let pruner = tokio::spawn(prune_forever(state_store.clone(), config.clone(), stop_rx.clone()));
    let alarm_watcher = tokio::spawn(alarms::watch_forever(
        driver.clone(),
        state_store.clone(),
        alarms::Evaluator::new(config.prometheus_url.clone()),
        config.alarm_interval,
        stop_rx.clone(),
    ));
    // One connection limit for all listeners.
    let limiter = limits::ConnectionLimiter::new(&config.limits);
    let edge = listen::Edge::new(app, config.limits.clone(), limiter, tls.as_ref());
    let audit_summaries = tokio::spawn(audit::summarise_forever(state.audit_recorder()));
    let build_watch = tokio::spawn(ops::build_hosts::watch_forever(state.clone(), stop_rx.clone()));
    let git_poll = tokio::spawn(ops::git_poll::poll_forever(state.clone(), stop_rx.clone()));
    let pipelines = tokio::spawn(ops::pipeline_runs::watch_forever(state.clone(), stop_rx.clone()));
    let services = tokio::spawn(ops::services::watch_forever(state.clone(), stop_rx.clone()));
    let ecs_events = tokio::spawn(ops::ecs_deployments::watch_forever(state.clone(), stop_rx.clone()));
    let joins = tokio::spawn(driver.clone().joins_forever(stop_rx.clone()));
    let scaling = tokio::spawn(ops::scaling_groups::watch_forever(state.clone(), stop_rx.clone()));
    let mut servers = Vec::new();
    for listener in listeners {
        let addr = listener.local_addr().ok();
        tracing::info!(?addr, tls = tls.is_some(), "listening");
        servers.push(tokio::spawn(listen::serve(listener, edge.clone(), stop_rx.clone())));
    }
    shutdown.await;
    tracing::info!("shutting down: draining polls");
    driver.shutting_down();
    let _ = stop_tx.send(true);
    for server in servers {
        let _ = server.await;
    }
    // Polls are over: the next server resumes every agent's silence from here.
    liveness.abort();
    if let Err(e) = driver.persist_liveness().await {
        tracing::warn!(error = %e, "cannot record agent liveness");
    }
    reconciler.abort();
    balancers.abort();
    alarm_watcher.abort();
    pruner.abort();
    audit_summaries.abort();
    build_watch.abort();
    git_poll.abort();
    pipelines.abort();
    services.abort();
    ecs_events.abort();
    joins.abort();
    scaling.abort();
    // A delivery in flight is sent again after a restart (at least once).
    deliverer.abort();
    jobs.abort();
    Ok(())
}

/// Applies the retention policy now and then every hour.
async fn prune_forever(store: Store, config: Arc<ServerConfig>, mut stop: tokio::sync::watch::Receiver<bool>) {
    const EVERY: Duration = Duration::from_secs(3600);
    loop {
        let now = clock::now_millis();
        let before = |keep: Option<Duration>| keep.map_or(0, |k| now.saturating_sub(k.as_millis() as u64));
        match store.prune(before(config.retention), before(config.audit_retention)).await {
            Ok(p) if p != ferry_store::Pruned::default() => tracing::info!(
                deployments = p.deployments,
                events = p.events,
                deliveries = p.deliveries,
                audit = p.audit,
                pipeline_executions = p.pipeline_executions,
                "pruned old records"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot prune old records"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

fn router(state: AppState) -> Router {
    let timing = axum::middleware::from_fn_with_state(state.clone(), metrics_api::time_requests);
    let auditing = axum::middleware::from_fn_with_state(state.audit_recorder(), audit::record);
    let bodies = axum::middleware::from_fn_with_state(state.clone(), limits::read_bodies);
    Router::new()
        .merge(native::routes())
        .merge(agent_api::routes())
        .merge(aws::routes())
        .merge(keys::routes())
        .merge(target_groups::routes())
        .merge(console::routes(state.config.tls != TlsMode::Off))
        .merge(alarms::routes())
        .merge(event_stream::routes())
        .merge(metrics_api::routes())
        .merge(audit_api::routes())
        .merge(badges::routes())
        .merge(webhooks::routes())
        .layer(auditing)
        // Outside the audit: a body refused unread leaves no audit entry to fill the disk with.
        .layer(bodies)
        .layer(timing)
        .with_state(state)
}
