//! Build hosts: an agent started with a build capacity (`--builds N`) claims
//! queued builds from the server (`ferry_proto::build_host`) and runs each
//! with the build runner (`ferry_build`), in a podman container of the
//! project's image when podman works here, else in a workspace as an
//! unprivileged user.
//!
//! Each build lives in `<root>/builds/<n>/` (0711: the build's user reaches
//! its workspace by the known path, nobody lists the directory):
//! `workspace/src` (the source, `CODEBUILD_SRC_DIR`), `out/` (artifact zips,
//! root's only), `state/` (the workspace provider's records). The log goes to
//! the server in numbered chunks at least every `HEARTBEAT_SECONDS`; the
//! answer can stop the build. A restarted agent removes what it left behind
//! (directories, environments carrying its label): the server has ended
//! those builds FAULT by then (the first claim lists none running).
//!
//! The build loop is independent of the deployment poll loop: a host can
//! build and deploy at once, and neither waits for the other.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_build::{BuildRequest, LogSink, PhaseRecord};
use ferry_buildspec::{BuildStatus, Phase};
use ferry_container::{Podman, Provider, Workspaces};
use ferry_core::build::{BuildPhase, BuildReport, TestCaseRecord};
use ferry_proto::build_host::{self as wire, Assignment};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::backoff::Backoff;
use crate::client::{Client, encode_segment};

const CLAIM_PATH: &str = "/agent/v1/builds/claim";
/// The label marking environments this build host started.
const HOST_LABEL: &str = "ferry.build-host";
/// Lines per progress report at most (and bytes, [`wire::MAX_PROGRESS_BYTES`]).
const MAX_LINES_PER_REPORT: usize = 2000;
/// The largest cache a build host downloads.
const MAX_CACHE_BYTES: u64 = 4 << 30;
/// How often buffered log lines are sent.
const SHIP_EVERY: Duration = Duration::from_millis(500);

/// What a build host needs.
#[derive(Debug, Clone)]
pub struct BuildHostConfig {
    /// Builds run at once at most.
    pub slots: u32,
    /// `<agent root>/builds`.
    pub dir: PathBuf,
    /// Who commands run as in a workspace (an unprivileged user).
    pub user: String,
    /// This host's name (labels its environments).
    pub instance: String,
}

/// Claims and runs builds until `stopping` turns true; running builds are
/// then stopped and reported.
pub(crate) async fn serve(
    client: Client,
    config: BuildHostConfig,
    backoff: Backoff,
    mut stopping: watch::Receiver<bool>,
) {
    let podman = Podman::default();
    let containers = podman.check().await.is_ok();
    if !containers {
        tracing::warn!("podman is not usable here: builds run in workspaces on this host, as {}", config.user);
    }
    clean_up(&config, containers.then_some(&podman)).await;
    let host = Arc::new(Host { client, config, containers, podman });
    let mut running: HashMap<String, watch::Sender<bool>> = HashMap::new();
    let mut tasks: JoinSet<String> = JoinSet::new();
    let mut retry = backoff.clone();
    let mut hold = Duration::from_secs(60);
    let mut pause = None;
    tracing::info!(slots = host.config.slots, containers, "taking builds");
    loop {
        let free = host.config.slots.saturating_sub(running.len() as u32);
        let claim = async {
            if free == 0 {
                return std::future::pending().await;
            }
            let request = wire::ClaimRequest { free, running: running.keys().cloned().collect(), containers };
            host.client
                .post_json::<_, wire::ClaimResponse>(CLAIM_PATH, &request, hold + Duration::from_secs(15), true)
                .await
        };
        tokio::select! {
            stopped = stopping.wait_for(|s| *s) => {
                drop(stopped);
                break;
            }
            Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(id) = ended {
                    running.remove(&id);
                }
            }
            answer = claim => match answer {
                Ok(answer) => {
                    retry.reset();
                    hold = Duration::from_secs(answer.hold_seconds.max(1));
                    if let Some(assignment) = answer.build {
                        let (stop_tx, stop_rx) = watch::channel(false);
                        running.insert(assignment.build_id.clone(), stop_tx);
                        let host = host.clone();
                        tasks.spawn(async move {
                            let id = assignment.build_id.clone();
                            host.run(assignment, stop_rx).await;
                            id
                        });
                    }
                }
                Err(e) if e.is_auth() => {
                    tracing::error!(error = %e, "the server refused this host's credential: taking no more builds");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim builds; retrying with backoff");
                    pause = Some(retry.next_delay());
                }
            }
        }
        if let Some(delay) = pause.take() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stopping.changed() => {}
            }
        }
    }
    for stop in running.values() {
        let _ = stop.send(true);
    }
    while tasks.join_next().await.is_some() {}
}

/// Removes the directories and environments a previous run left behind.
async fn clean_up(config: &BuildHostConfig, podman: Option<&Podman>) {
    let labels = BTreeMap::from([(HOST_LABEL.to_string(), config.instance.clone())]);
    let workspaces = Workspaces::new(config.dir.join("workspaces"), config.user.clone());
    let providers: Vec<&dyn Provider> = match podman {
        Some(p) => vec![p, &workspaces],
        None => vec![&workspaces],
    };
    for provider in providers {
        match provider.list(&labels).await {
            Ok(left) => {
                for env in left {
                    tracing::warn!(environment = %env.name, "removing a build environment an earlier run left behind");
                    if let Err(e) = provider.remove(&env.name).await {
                        tracing::warn!(environment = %env.name, error = %e, "cannot remove it");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list leftover build environments"),
        }
    }
    if let Ok(entries) = std::fs::read_dir(&config.dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("build-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

struct Host {
    client: Client,
    config: BuildHostConfig,
    containers: bool,
    podman: Podman,
}

/// The log and phases so far, shared by the runner's sink and the shipper.
#[derive(Default)]
struct Live {
    lines: Vec<String>,
    /// The number of `lines[0]`.
    first_seq: u64,
    phases: Vec<BuildPhase>,
    phases_changed: bool,
    environment: Option<String>,
    resolved_source_version: Option<String>,
}

#[derive(Clone)]
struct Sink {
    live: Arc<Mutex<Live>>,
    wake: Arc<Notify>,
}

impl Sink {
    fn say(&self, message: &str) {
        self.line(&format!("[ferry] {message}"));
    }

    fn line(&self, line: &str) {
        let mut live = self.live.lock().unwrap();
        live.lines.push(line.to_string());
        if live.lines.len() >= MAX_LINES_PER_REPORT {
            self.wake.notify_one();
        }
    }

    /// A phase the agent itself ran (before the runner: the source download).
    fn own_phase(&self, name: &str, status: &str, start: u64, end: u64, message: Option<String>) {
        let mut live = self.live.lock().unwrap();
        live.phases.push(BuildPhase {
            name: name.into(),
            status: Some(status.into()),
            start_time: start,
            end_time: Some(end),
            message,
        });
        live.phases_changed = true;
    }
}

impl LogSink for Sink {
    fn line(&mut self, line: &str) {
        Sink::line(self, line);
    }

    fn phase_started(&mut self, phase: Phase, start_ms: u64) {
        if matches!(phase, Phase::Submitted | Phase::Queued | Phase::DownloadSource) {
            return;
        }
        let mut live = self.live.lock().unwrap();
        live.phases.push(BuildPhase {
            name: phase.name().into(),
            status: None,
            start_time: start_ms,
            end_time: None,
            message: None,
        });
        live.phases.sort_by_key(|p| canonical_position(&p.name));
        live.phases_changed = true;
        self.wake.notify_one();
    }

    fn phase_ended(&mut self, record: &PhaseRecord) {
        if matches!(record.phase, Phase::Submitted | Phase::Queued | Phase::DownloadSource) {
            return;
        }
        let mut live = self.live.lock().unwrap();
        if let Some(open) = live.phases.iter_mut().rev().find(|p| p.name == record.phase.name() && p.end_time.is_none())
        {
            *open = phase_of(record);
        }
        live.phases_changed = true;
    }
}

fn phase_of(record: &PhaseRecord) -> BuildPhase {
    BuildPhase {
        name: record.phase.name().into(),
        status: Some(record.status.name().into()),
        start_time: record.start_ms,
        end_time: Some(record.end_ms),
        message: (!record.message.is_empty()).then(|| record.message.clone()),
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn build_path(id: &str, rest: &str) -> String {
    format!("/agent/v1/builds/{}/{rest}", encode_segment(id))
}

impl Host {
    /// Runs one build to its end and reports it; never fails (what goes
    /// wrong ends the build FAILED or FAULT, saying why). `shutdown` (the
    /// agent stopping) stops the build, as a progress answer can.
    async fn run(&self, a: Assignment, mut shutdown: watch::Receiver<bool>) {
        let id = a.build_id.clone();
        let sink = Sink { live: Arc::default(), wake: Arc::new(Notify::new()) };
        let stop = Arc::new(watch::channel(false).0);
        let (done_tx, done_rx) = watch::channel(false);
        let on_shutdown = {
            let stop = stop.clone();
            let sink = sink.clone();
            async move {
                if shutdown.wait_for(|s| *s).await.is_ok() {
                    sink.say("the build host is shutting down: stopping the build");
                    let _ = stop.send(true);
                }
                std::future::pending::<()>().await
            }
        };
        let work = async {
            let finish = self.build(&a, sink.clone(), stop.subscribe()).await;
            let _ = done_tx.send(true);
            finish
        };
        let shipper = self.ship(&id, sink.clone(), stop.clone(), done_rx);
        let (mut finish, log_end) = tokio::select! {
            both = async { tokio::join!(work, shipper) } => both,
            () = on_shutdown => unreachable!("it never ends on its own"),
        };
        finish.log_end = log_end;
        let mut retry = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let path = build_path(&id, "finish");
        loop {
            match self.client.post_json::<_, wire::FinishResponse>(&path, &finish, Duration::from_secs(60), true).await
            {
                Ok(_) => break,
                Err(e) if e.is_transient() => {
                    tracing::warn!(build = %id, error = %e, "cannot report the build's end; retrying");
                    tokio::time::sleep(retry.next_delay()).await;
                }
                Err(e) => {
                    tracing::error!(build = %id, error = %e, "the server refused the build's end");
                    break;
                }
            }
        }
        tracing::info!(build = %id, status = %finish.status, "build finished");
    }

    /// Sends the log and phases until the build is done (then sends the
    /// rest), at least every heartbeat; stops the build when the server
    /// says so (or no longer has it running here). Returns the number of
    /// the next log line.
    async fn ship(&self, id: &str, sink: Sink, stop: Arc<watch::Sender<bool>>, mut done: watch::Receiver<bool>) -> u64 {
        let heartbeat = Duration::from_secs(wire::HEARTBEAT_SECONDS);
        let mut last_sent: Option<tokio::time::Instant> = None;
        let mut retry = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let path = build_path(id, "progress");
        loop {
            let finished = *done.borrow();
            let (progress, take) = {
                let live = sink.live.lock().unwrap();
                let mut bytes = 0;
                let budget = wire::MAX_PROGRESS_BYTES - 64 * 1024;
                let take = live
                    .lines
                    .iter()
                    .take(MAX_LINES_PER_REPORT)
                    .take_while(|l| {
                        bytes += l.len() + 8;
                        bytes < budget
                    })
                    .count()
                    .max(usize::from(!live.lines.is_empty()));
                let progress = wire::Progress {
                    first_seq: live.first_seq,
                    lines: live.lines[..take].to_vec(),
                    phases: if live.phases_changed { live.phases.clone() } else { Vec::new() },
                    environment: live.environment.clone(),
                    resolved_source_version: live.resolved_source_version.clone(),
                };
                (progress, take)
            };
            let due = !progress.lines.is_empty()
                || !progress.phases.is_empty()
                || last_sent.is_none_or(|t| t.elapsed() >= heartbeat);
            if due {
                let answer = self
                    .client
                    .post_json::<_, wire::ProgressResponse>(&path, &progress, Duration::from_secs(30), true)
                    .await;
                let stop_now = match answer {
                    Ok(answer) => answer.stop,
                    Err(e) if e.is_transient() => {
                        tracing::warn!(build = %id, error = %e, "cannot send the build's progress; retrying (the build goes on)");
                        tokio::time::sleep(retry.next_delay()).await;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(build = %id, error = %e, "the server refused the build's progress: stopping the build");
                        true
                    }
                };
                retry.reset();
                last_sent = Some(tokio::time::Instant::now());
                {
                    let mut live = sink.live.lock().unwrap();
                    live.lines.drain(..take);
                    live.first_seq += take as u64;
                    if !progress.phases.is_empty() && live.phases == progress.phases {
                        live.phases_changed = false;
                    }
                }
                if stop_now && !*stop.borrow() {
                    tracing::info!(build = %id, "stopping the build, as the server asks");
                    let _ = stop.send(true);
                }
                if !sink.live.lock().unwrap().lines.is_empty() {
                    continue;
                }
            }
            if finished {
                return sink.live.lock().unwrap().first_seq;
            }
            tokio::select! {
                _ = tokio::time::sleep(SHIP_EVERY) => {}
                _ = sink.wake.notified() => {}
                _ = done.changed() => {}
            }
        }
    }

    /// Prepares the workspace, runs the build, uploads its artifacts, and
    /// says how it ended; the build's directory is removed afterwards.
    async fn build(&self, a: &Assignment, sink: Sink, stop: watch::Receiver<bool>) -> wire::Finish {
        let dir = self.config.dir.join(format!("build-{}-{}", a.build_number, short(&a.build_id)));
        let finish = self.build_in(a, &dir, sink, stop).await;
        tracing::info!(build = %a.build_id, status = %finish.status, "the build ended here; reporting its end to the server");
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the build's directory");
        }
        finish
    }

    async fn build_in(&self, a: &Assignment, dir: &Path, sink: Sink, stop: watch::Receiver<bool>) -> wire::Finish {
        let started = now_ms();
        let fail = |sink: &Sink, phase: &str, message: String| {
            sink.say(&message);
            sink.own_phase(phase, "FAILED", started, now_ms(), Some(message));
            let live = sink.live.lock().unwrap();
            wire::Finish {
                status: "FAILED".into(),
                phases: live.phases.clone(),
                environment: live.environment.clone(),
                resolved_source_version: live.resolved_source_version.clone(),
                artifacts: Vec::new(),
                reports: Vec::new(),
                exported_variables: Vec::new(),
                log_end: 0,
            }
        };
        let use_container = a.image.is_some() && self.containers;
        let user = (!use_container).then(|| self.config.user.clone());
        sink.say(&format!("build {} (#{}) on {}", a.build_id, a.build_number, self.config.instance));

        // The workspace: reachable by the build's user by its path only.
        let workspace = dir.join("workspace");
        let src = workspace.join("src");
        let out = dir.join("out");
        for d in [&self.config.dir, &dir.to_path_buf(), &src, &out] {
            if let Err(e) = std::fs::create_dir_all(d) {
                return fail(&sink, "PROVISIONING", format!("CLIENT_ERROR: cannot create {}: {e}", d.display()));
            }
        }
        for (d, mode) in [(&self.config.dir, 0o711), (&dir.to_path_buf(), 0o711), (&out, 0o700)] {
            let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode));
        }

        // DOWNLOAD_SOURCE: the agent's own phase (the runner's finds the source in place).
        let source_start = now_ms();
        let fetched = match self.fetch_source(a, dir, &src, &sink).await {
            Ok(resolved) => self.fetch_secondary_sources(a, dir, &workspace, &sink).await.map(|()| resolved),
            Err(message) => Err(message),
        };
        match fetched {
            Ok(resolved) => {
                sink.live.lock().unwrap().resolved_source_version = resolved;
                sink.own_phase("DOWNLOAD_SOURCE", "SUCCEEDED", source_start, now_ms(), None);
            }
            Err(message) => return fail(&sink, "DOWNLOAD_SOURCE", format!("CLIENT_ERROR: {message}")),
        }
        let buildspec = match read_buildspec(a, &src) {
            Ok(b) => b,
            Err(message) => return fail(&sink, "DOWNLOAD_SOURCE", format!("YAML_FILE_ERROR: {message}")),
        };
        for warning in &buildspec.warnings {
            sink.say(&format!("warning: {warning}"));
        }
        let cache = buildspec.cache.clone().filter(|c| a.cache && !c.paths.is_empty());
        if let Some(cache) = cache.as_ref().filter(|c| c.action != Some(ferry_buildspec::CacheAction::Save)) {
            self.restore_cache(a, dir, &src, cache, &sink).await;
        }

        // Secrets the buildspec names come from the server's secret store.
        let mut secret_values = a.secrets.clone();
        let mut from_secrets = Vec::new();
        let wanted: Vec<String> = buildspec
            .env
            .parameter_store
            .iter()
            .map(|(_, name)| name.clone())
            .chain(buildspec.env.secrets_manager.iter().map(|(_, r)| r.secret_id.clone()))
            .collect();
        if !wanted.is_empty() {
            let request = wire::SecretsRequest { names: wanted };
            let answer = self
                .client
                .post_json::<_, wire::SecretsResponse>(
                    &build_path(&a.build_id, "secrets"),
                    &request,
                    Duration::from_secs(30),
                    true,
                )
                .await;
            let values: HashMap<String, String> = match answer {
                Ok(answer) => answer.values.into_iter().collect(),
                Err(e) => {
                    return fail(
                        &sink,
                        "DOWNLOAD_SOURCE",
                        format!("CLIENT_ERROR: cannot read the build's secrets: {e}"),
                    );
                }
            };
            for (var, name) in &buildspec.env.parameter_store {
                if let Some(v) = values.get(name) {
                    from_secrets.push((var.clone(), v.clone()));
                    secret_values.push(v.clone());
                }
            }
            for (var, r) in &buildspec.env.secrets_manager {
                let Some(text) = values.get(&r.secret_id) else { continue };
                let value = match &r.json_key {
                    None => text.clone(),
                    Some(key) => {
                        match serde_json::from_str::<serde_json::Value>(text).ok().and_then(|v| v.get(key).cloned()) {
                            Some(serde_json::Value::String(s)) => s,
                            Some(other) => other.to_string(),
                            None => {
                                return fail(
                                    &sink,
                                    "DOWNLOAD_SOURCE",
                                    format!("CLIENT_ERROR: secret {} has no JSON key {key} (for {var})", r.secret_id),
                                );
                            }
                        }
                    }
                };
                secret_values.push(value.clone());
                from_secrets.push((var.clone(), value));
            }
        }

        if let Some(user) = &user
            && nix::unistd::geteuid().is_root()
        {
            match nix::unistd::User::from_name(user) {
                Ok(Some(owner)) => {
                    if let Err(e) = chown_tree(&workspace, owner.uid.as_raw(), owner.gid.as_raw()) {
                        return fail(
                            &sink,
                            "PROVISIONING",
                            format!("CLIENT_ERROR: cannot give the workspace to {user}: {e}"),
                        );
                    }
                }
                _ => {
                    return fail(
                        &sink,
                        "PROVISIONING",
                        format!("CLIENT_ERROR: the build user {user} does not exist on {}", self.config.instance),
                    );
                }
            }
        }

        let mut request = BuildRequest::new(
            format!("ferry-build-{}-{}", a.build_number, short(&a.build_id)),
            buildspec.clone(),
            &workspace,
        );
        request.image = a.image.clone().unwrap_or_else(|| "none".into());
        request.output_dir = out.clone();
        request.timeout = Duration::from_secs(u64::from(a.timeout_minutes.max(1)) * 60);
        // CodeBuild's builds reach the network (package installs, pushes).
        request.network = ferry_container::Network::Host;
        request.labels.insert(HOST_LABEL.into(), self.config.instance.clone());
        let mut project_vars = a.variables.clone();
        project_vars.extend(from_secrets);
        request.variables = ferry_buildspec::vars::resolve_precedence(&buildspec.env.variables, &project_vars, &[]);
        request.secrets = secret_values;
        let b = &mut request.builtins;
        b.build_id = a.build_id.clone();
        b.build_arn = a.build_arn.clone();
        b.project_arn = a.project_arn.clone();
        b.build_number = a.build_number;
        b.initiator = a.initiator.clone();
        b.start_time_ms = a.start_time;
        b.build_image = a.image.clone().filter(|_| use_container);
        b.public_build_url = a.build_url.clone();
        b.source_version = a.source_version.clone();
        b.resolved_source_version = sink.live.lock().unwrap().resolved_source_version.clone();
        if let wire::AssignedSource::Git { url, .. } = &a.source {
            b.source_repo_url = Some(url.clone());
        }
        b.secondary_sources = a
            .secondary_sources
            .iter()
            .map(|s| ferry_buildspec::vars::SecondarySource {
                id: s.identifier.clone(),
                src_dir: s.identifier.clone(),
                source_version: None,
                repo_url: None,
            })
            .collect();
        b.webhook = a.webhook.as_ref().map(|w| ferry_buildspec::vars::Webhook {
            actor_account_id: w.actor_account_id.clone(),
            base_ref: w.base_ref.clone(),
            event: w.event.clone(),
            head_ref: w.head_ref.clone(),
            merge_commit: w.merge_commit.clone(),
            prev_commit: w.prev_commit.clone(),
            trigger: w.trigger.clone(),
        });
        let workspaces;
        let provider: &dyn Provider = if use_container {
            &self.podman
        } else {
            workspaces = Workspaces::new(self.config.dir.join("workspaces"), self.config.user.clone());
            &workspaces
        };
        let mut runner_sink = sink.clone();
        let result = ferry_build::run_build_stoppable(provider, &request, &mut runner_sink, stop).await;
        sink.live.lock().unwrap().environment = Some(result.environment.clone());
        if let Some(cache) = cache.as_ref().filter(|c| c.action != Some(ferry_buildspec::CacheAction::Restore))
            && result.status == BuildStatus::Succeeded
        {
            self.save_cache(a, &src, &out, cache, &sink).await;
        }

        // Artifacts go to the server's blob store.
        let mut artifacts = Vec::new();
        let mut status = result.status.name().to_string();
        for artifact in &result.artifacts {
            let name = artifact.identifier.clone().unwrap_or_else(|| "primary".into());
            let path = build_path(&a.build_id, &format!("artifacts/{}", encode_segment(&name)));
            match self.client.put_file(&path, &artifact.path, &artifact.sha256).await {
                Ok(()) => artifacts.push(wire::FinishedArtifact {
                    name,
                    sha256: artifact.sha256.clone(),
                    size: artifact.size,
                }),
                Err(e) => {
                    sink.say(&format!("cannot upload artifact {name}: {e}"));
                    if result.status == BuildStatus::Succeeded {
                        status = "FAILED".into();
                    }
                }
            }
        }
        let live = sink.live.lock().unwrap();
        let mut phases = live.phases.clone();
        // The runner's record is the truth for the phases it ran.
        phases.retain(|p| p.name == "DOWNLOAD_SOURCE");
        phases.extend(
            result
                .phases
                .iter()
                .filter(|r| !matches!(r.phase, Phase::Submitted | Phase::Queued | Phase::DownloadSource))
                .map(phase_of),
        );
        phases.sort_by_key(|p| canonical_position(&p.name));
        wire::Finish {
            status,
            phases,
            environment: Some(result.environment.clone()),
            resolved_source_version: live.resolved_source_version.clone(),
            artifacts,
            reports: result.reports.iter().map(report_of).collect(),
            exported_variables: result.exported_variables.clone(),
            log_end: 0,
        }
    }

    /// Unpacks the project's cache into the source (a missing or broken
    /// cache only costs time: the build goes on without it).
    async fn restore_cache(
        &self,
        a: &Assignment,
        dir: &Path,
        src: &Path,
        _cache: &ferry_buildspec::Cache,
        sink: &Sink,
    ) {
        let zip = dir.join("cache.zip");
        let got = self.client.get_optional(&build_path(&a.build_id, "cache"), &zip, MAX_CACHE_BYTES).await;
        match got {
            Ok(false) => sink.say("no cache yet for this project"),
            Ok(true) => {
                let (zip, src) = (zip.clone(), src.to_path_buf());
                let restored = tokio::task::spawn_blocking(move || {
                    ferry_build::cache::restore(&zip, &src, &ferry_bundle::Limits::default())
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
                match restored {
                    Ok(n) => sink.say(&format!("restored {n} files from the project's cache")),
                    Err(e) => sink.say(&format!("the cache could not be restored ({e}); building without it")),
                }
            }
            Err(e) => sink.say(&format!("the cache could not be downloaded ({e}); building without it")),
        }
        let _ = std::fs::remove_file(&zip);
    }

    /// Zips the cache paths and sends them to the server.
    async fn save_cache(&self, a: &Assignment, src: &Path, out: &Path, cache: &ferry_buildspec::Cache, sink: &Sink) {
        let (src, out_dir, spec) = (src.to_path_buf(), out.join("cache"), cache.clone());
        let saved = tokio::task::spawn_blocking(move || ferry_build::cache::save(&src, &spec, &out_dir))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        match saved {
            Ok(saved) => {
                for note in &saved.skipped {
                    sink.say(&format!("not cached: {note}"));
                }
                let Some(zip) = saved.zip else {
                    sink.say("nothing matched the cache paths: no cache saved");
                    return;
                };
                match self.client.put_file(&build_path(&a.build_id, "cache"), &zip.path, &zip.sha256).await {
                    Ok(()) => sink.say(&format!("saved the cache: {} files, {} bytes", zip.files.len(), zip.size)),
                    Err(e) => sink.say(&format!("cannot save the cache: {e}")),
                }
            }
            Err(e) => sink.say(&format!("cannot pack the cache: {e}")),
        }
    }

    /// Puts each secondary source in the workspace's `<identifier>` directory.
    async fn fetch_secondary_sources(
        &self,
        a: &Assignment,
        dir: &Path,
        workspace: &Path,
        sink: &Sink,
    ) -> Result<(), String> {
        for s in &a.secondary_sources {
            if !wire::is_source_identifier(&s.identifier) {
                return Err(format!(
                    "secondary source identifier {:?} is not a directory name ferry uses",
                    s.identifier
                ));
            }
            sink.say(&format!("downloading secondary source {} ({} bytes, sha256 {})", s.identifier, s.size, s.sha256));
            let kind = ferry_bundle::BundleType::from_name(&s.bundle_type)
                .ok_or_else(|| format!("unknown bundle type {}", s.bundle_type))?;
            let file = dir.join(format!("source-{}.bundle", s.identifier));
            let retry = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
            let path = build_path(&a.build_id, &format!("sources/{}", s.identifier));
            self.client.download_checked(&path, &s.sha256, s.size, &file, &retry, &a.build_id).await?;
            let dest = workspace.join(&s.identifier);
            let unpacked = tokio::task::spawn_blocking(move || {
                ferry_bundle::unpack(&file, kind, &dest, &ferry_bundle::Limits::default())
            })
            .await
            .map_err(|e| format!("unpacking secondary source failed: {e}"))?;
            unpacked.map_err(|e| format!("cannot unpack secondary source {}: {e}", s.identifier))?;
        }
        Ok(())
    }

    /// Puts the source in `src`; returns the commit for git sources.
    async fn fetch_source(
        &self,
        a: &Assignment,
        dir: &Path,
        src: &Path,
        sink: &Sink,
    ) -> Result<Option<String>, String> {
        match &a.source {
            wire::AssignedSource::None => Ok(None),
            wire::AssignedSource::Bundle { sha256, size, bundle_type } => {
                sink.say(&format!("downloading the source ({size} bytes, sha256 {sha256})"));
                let kind = ferry_bundle::BundleType::from_name(bundle_type)
                    .ok_or_else(|| format!("unknown bundle type {bundle_type}"))?;
                let file = dir.join("source.bundle");
                let retry = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
                self.client
                    .download_checked(&build_path(&a.build_id, "source"), sha256, *size, &file, &retry, &a.build_id)
                    .await?;
                let dest = src.to_path_buf();
                let unpacked = tokio::task::spawn_blocking(move || {
                    ferry_bundle::unpack(&file, kind, &dest, &ferry_bundle::Limits::default())
                })
                .await
                .map_err(|e| format!("unpacking the source failed: {e}"))?;
                unpacked.map_err(|e| format!("cannot unpack the source: {e}"))?;
                Ok(None)
            }
            wire::AssignedSource::Git { url, version } => {
                sink.say(&format!(
                    "cloning {url}{}",
                    version.as_deref().map(|v| format!(" at {v}")).unwrap_or_default()
                ));
                git(dir, &["clone", "--quiet", "--no-hardlinks", url.as_str(), "workspace/src"]).await?;
                if let Some(version) = version {
                    let pr = version.strip_prefix("pr/").filter(|n| n.bytes().all(|b| b.is_ascii_digit()));
                    if let Some(n) = pr {
                        // GitHub and Gitea name a pull request's head `pull/N/head`, GitLab `merge-requests/N/head`.
                        let github = git(src, &["fetch", "--quiet", "origin", &format!("pull/{n}/head")]).await;
                        if github.is_err() {
                            git(src, &["fetch", "--quiet", "origin", &format!("merge-requests/{n}/head")])
                                .await
                                .map_err(|e| format!("cannot fetch pull request {n}: {e}"))?;
                        }
                        git(src, &["checkout", "--quiet", "--detach", "FETCH_HEAD"]).await?;
                    } else {
                        git(src, &["-c", "advice.detachedHead=false", "checkout", "--quiet", version.as_str()]).await?;
                    }
                }
                let head = git(src, &["rev-parse", "HEAD"]).await?;
                Ok(Some(head.trim().to_string()))
            }
        }
    }
}

/// Where a phase goes in CodeBuild's list. The source is downloaded before
/// the environment starts (the buildspec comes from the source), so
/// DOWNLOAD_SOURCE's times precede PROVISIONING's; the list keeps
/// CodeBuild's order, which tools expect.
fn canonical_position(name: &str) -> usize {
    const ORDER: [&str; 9] = [
        "PROVISIONING",
        "DOWNLOAD_SOURCE",
        "INSTALL",
        "PRE_BUILD",
        "BUILD",
        "POST_BUILD",
        "UPLOAD_ARTIFACTS",
        "FINALIZING",
        "COMPLETED",
    ];
    ORDER.iter().position(|p| *p == name).unwrap_or(ORDER.len())
}

/// Runs git in `dir` (no prompts, ten minutes at most); its stdout.
async fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let mut command = tokio::process::Command::new("git");
    command.args(args).current_dir(dir).env("GIT_TERMINAL_PROMPT", "0").kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .map_err(|_| format!("git {} took longer than 10 minutes", args.join(" ")))?
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !output.status.success() {
        return Err(format!("git {} failed: {}", args[0], String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The buildspec: inline, or a file inside the source (never outside it).
fn read_buildspec(a: &Assignment, src: &Path) -> Result<ferry_buildspec::Buildspec, String> {
    match &a.buildspec {
        wire::BuildspecLocation::Inline(text) => {
            ferry_buildspec::parse("the project's inline buildspec", text).map_err(|e| e.to_string())
        }
        wire::BuildspecLocation::Path(path) => {
            let relative = Path::new(path);
            if relative.is_absolute() || relative.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return Err(format!("the buildspec path {path} must be inside the source"));
            }
            let file = src.join(relative);
            let meta =
                std::fs::symlink_metadata(&file).map_err(|e| format!("cannot read the buildspec {path}: {e}"))?;
            if !meta.is_file() {
                return Err(format!("the buildspec {path} is not a regular file"));
            }
            let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read the buildspec {path}: {e}"))?;
            ferry_buildspec::parse(path, &text).map_err(|e| e.to_string())
        }
    }
}

fn report_of(r: &ferry_build::ReportResult) -> BuildReport {
    let s = &r.summary;
    BuildReport {
        name: r.name.clone(),
        format: r.format.to_string(),
        total: s.total as u64,
        succeeded: s.succeeded as u64,
        failed: s.failed as u64,
        error: s.error as u64,
        skipped: s.skipped as u64,
        unknown: s.unknown as u64,
        duration_ms: s.duration.as_millis() as u64,
        cases: r
            .cases
            .iter()
            .map(|c| TestCaseRecord {
                suite: c.suite.clone(),
                prefix: c.prefix.clone(),
                name: c.name.clone(),
                status: c.status.name().into(),
                duration_ms: c.duration.map(|d| d.as_millis() as u64),
                message: c.message.clone(),
            })
            .collect(),
        errors: r.errors.clone(),
    }
}

/// The first 8 characters of the build's uuid (after `project:`).
fn short(id: &str) -> String {
    id.rsplit(':').next().unwrap_or(id).chars().filter(char::is_ascii_alphanumeric).take(8).collect()
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            chown_tree(&entry.path(), uid, gid)?;
        } else {
            std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
        }
    }
    Ok(())
}
