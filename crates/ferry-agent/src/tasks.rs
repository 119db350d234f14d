//! Container hosts (issue #15): an agent whose host has a container engine
//! runs the service tasks the server assigns it (`ferry_proto::
//! container_host`), each task's containers through
//! `ferry_container::tasks::Engine` (podman's CLI).
//!
//! One loop, independent of deployments and builds:
//! - it syncs with the server: the state of its tasks in, the set of tasks
//!   it should run out (a long poll while nothing changes here);
//! - it starts the tasks it does not have (secrets fetched for the start
//!   only, never written to disk) and stops and removes the ones no longer
//!   listed, each in a task of its own so a slow image pull holds nothing;
//! - while it has tasks it lists their containers every
//!   [`OBSERVE_EVERY`] and runs their health checks (ECS's
//!   `interval`/`timeout`/`retries`/`startPeriod`), and sends a sync at once
//!   when a task's state or health changed.
//!
//! Containers outlive the agent: podman keeps them running when the agent
//! stops or dies, and a restarted agent adopts the containers labelled
//! with its host's name (it removes none before the server's first answer
//! says which it should still run).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ferry_container::tasks::{ContainerState, Engine, PortSpec, TaskContainer, TaskContainerSpec, TaskNetwork};
use ferry_ecs::{ContainerDefinition, NetworkMode, Protocol, TaskDefinition};
use ferry_proto::container_host::{
    self as wire, ContainerReport, Health, PublishedPort, SYNC_PATH, TaskReport, TaskSecrets, TaskSpec, TaskState,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::client::{Client, encode_segment};

/// How often containers are listed while the host has tasks.
const OBSERVE_EVERY: Duration = Duration::from_secs(2);
/// How long a host without an engine waits before looking again.
const ENGINE_RETRY: Duration = Duration::from_secs(60);
/// Output lines kept in a stopped task's reason.
const REASON_LINES: usize = 5;

/// Whether this agent runs service tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContainerMode {
    /// When a container engine works here.
    #[default]
    Auto,
    Off,
}

/// What a task is doing here.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Its containers are being created.
    Starting,
    /// Started (or adopted): its containers' states tell the rest.
    Up,
    FailedToStart(String),
    /// Being stopped and removed.
    Removing,
}

#[derive(Debug, Clone)]
struct HealthState {
    command: Vec<String>,
    interval: Duration,
    timeout: Duration,
    retries: u32,
    grace_until: Instant,
    next: Instant,
    failures: u32,
    status: Health,
    checking: bool,
}

struct Local {
    /// `None`: adopted from a previous agent, not yet confirmed by the server.
    spec: Option<TaskSpec>,
    phase: Phase,
    containers: Vec<TaskContainer>,
    /// Essential containers' health checks, by container name.
    health: BTreeMap<String, HealthState>,
    /// Why an essential container ended (its exit code and last output).
    ended: Option<String>,
}

enum Done {
    Started { task: String, result: Result<Vec<TaskContainer>, String> },
    Removed { task: String },
    Checked { task: String, container: String, healthy: Option<bool> },
}

type SyncFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<wire::SyncResponse, crate::client::RequestError>> + Send>,
>;

/// Runs service tasks until `stopping` turns true. Running containers are
/// left running: they are the data plane.
pub(crate) async fn serve(
    client: Client,
    host: String,
    mode: ContainerMode,
    backoff: Backoff,
    mut stopping: watch::Receiver<bool>,
) {
    if mode == ContainerMode::Off {
        return;
    }
    let engine = Arc::new(Engine::default());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut tasks: HashMap<String, Local> = HashMap::new();
    let mut version: Result<String, String> = Err("not checked yet".into());
    let mut version_checked: Option<Instant> = None;
    let mut answered = false;
    let mut retry = backoff;
    let mut hold = Duration::from_secs(30);
    let mut last_sent: Option<Vec<TaskReport>> = None;
    let mut next_observe = Instant::now();
    let mut inflight: Option<(Vec<TaskReport>, SyncFuture)> = None;
    loop {
        if version.is_err() && version_checked.is_none_or(|at| at.elapsed() >= ENGINE_RETRY) {
            version = engine.version().await.map_err(|e| e.to_string());
            version_checked = Some(Instant::now());
            match &version {
                Ok(v) => {
                    tracing::info!(engine = %v, "container engine found: this host runs service tasks");
                    adopt(&engine, &host, &mut tasks).await;
                }
                Err(e) => tracing::info!(error = %e, "no container engine here: this host runs no service task"),
            }
        }
        if version.is_ok() && !tasks.is_empty() && Instant::now() >= next_observe {
            observe(&engine, &host, &mut tasks).await;
            start_health_checks(&engine, &mut tasks, &done_tx);
            next_observe = Instant::now() + OBSERVE_EVERY;
        }
        let reports = reports(&tasks);
        // A sync in flight is kept while it says what is true here; a
        // change here is told at once (no hold), else the server holds it.
        if inflight.as_ref().is_none_or(|(sent, _)| sent != &reports) {
            let request = wire::SyncRequest {
                engine: version.as_ref().ok().cloned(),
                engine_error: version.as_ref().err().cloned(),
                tasks: reports.clone(),
                wait: answered && last_sent.as_ref() == Some(&reports),
            };
            let client = client.clone();
            let timeout = hold + Duration::from_secs(15);
            let sync: SyncFuture =
                Box::pin(
                    async move { client.post_json::<_, wire::SyncResponse>(SYNC_PATH, &request, timeout, true).await },
                );
            inflight = Some((reports.clone(), sync));
        }
        let observe_at = if tasks.is_empty() { None } else { Some(next_observe) };
        let Some((_, sync)) = inflight.as_mut() else { continue };
        let outcome = tokio::select! {
            stopped = stopping.wait_for(|s| *s) => {
                drop(stopped);
                break;
            }
            Some(done) = done_rx.recv() => {
                finish(done, &mut tasks);
                None
            }
            _ = sleep_until(observe_at) => None,
            answer = sync => Some(answer),
        };
        let Some(answer) = outcome else { continue };
        let (reports, _) = inflight.take().expect("a sync was in flight");
        match answer {
            Ok(answer) => {
                retry.reset();
                last_sent = Some(reports);
                hold = Duration::from_secs(answer.hold_seconds.max(1));
                answered = true;
                if version.is_ok() {
                    apply(&client, &engine, &host, &mut tasks, answer.tasks, &done_tx);
                }
            }
            Err(e) if e.is_auth() => {
                tracing::error!(error = %e, "the server refused this host's credential: running no service task");
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot sync service tasks; retrying with backoff");
                tokio::select! {
                    _ = tokio::time::sleep(retry.next_delay()) => {}
                    _ = stopping.changed() => {}
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Takes in the task containers a previous agent left running.
async fn adopt(engine: &Engine, host: &str, tasks: &mut HashMap<String, Local>) {
    match engine.list(host).await {
        Ok(containers) => {
            for c in containers {
                let local = tasks.entry(c.task_id.clone()).or_insert_with(|| Local {
                    spec: None,
                    phase: Phase::Up,
                    containers: Vec::new(),
                    health: BTreeMap::new(),
                    ended: None,
                });
                local.containers.push(c);
            }
            if !tasks.is_empty() {
                tracing::info!(tasks = tasks.len(), "found the task containers of a previous agent");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list this host's task containers"),
    }
}

/// Lists the containers again and notes essential containers that ended.
async fn observe(engine: &Engine, host: &str, tasks: &mut HashMap<String, Local>) {
    let containers = match engine.list(host).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list this host's task containers");
            return;
        }
    };
    let mut by_task: HashMap<String, Vec<TaskContainer>> = HashMap::new();
    for c in containers {
        by_task.entry(c.task_id.clone()).or_default().push(c);
    }
    for (id, local) in tasks.iter_mut() {
        if local.phase != Phase::Up {
            continue;
        }
        local.containers = by_task.remove(id).unwrap_or_default();
        if local.ended.is_none() {
            local.ended = ended(engine, local).await;
        }
    }
}

/// Why the task ended, if an essential container is no longer running.
async fn ended(engine: &Engine, local: &Local) -> Option<String> {
    let spec = local.spec.as_ref()?;
    for definition in spec.task_definition.container_definitions.iter().filter(|c| c.essential) {
        let container = local.containers.iter().find(|c| c.container == definition.name);
        let why = match container.map(|c| &c.state) {
            None => format!("Essential container {} is gone", definition.name),
            Some(ContainerState::Running) => continue,
            Some(ContainerState::Exited { code }) => {
                format!("Essential container {} exited with code {code}", definition.name)
            }
            Some(ContainerState::Created) => continue,
            Some(ContainerState::Other(state)) if state == "paused" || state == "stopping" => continue,
            Some(ContainerState::Other(state)) => format!("Essential container {} is {state}", definition.name),
        };
        let tail = match container {
            Some(c) => engine.logs_tail(&c.engine_id, REASON_LINES).await,
            None => String::new(),
        };
        let tail = tail.trim();
        return Some(if tail.is_empty() { why } else { format!("{why}; its last output: {tail}") });
    }
    None
}

fn start_health_checks(engine: &Arc<Engine>, tasks: &mut HashMap<String, Local>, done: &mpsc::UnboundedSender<Done>) {
    let now = Instant::now();
    for (id, local) in tasks.iter_mut() {
        if local.phase != Phase::Up || local.ended.is_some() {
            continue;
        }
        for (name, check) in local.health.iter_mut() {
            if check.checking || now < check.next {
                continue;
            }
            let Some(container) = local.containers.iter().find(|c| &c.container == name) else { continue };
            if container.state != ContainerState::Running {
                continue;
            }
            check.checking = true;
            check.next = now + check.interval;
            let (engine, done, task, container_name, engine_id, command, timeout) = (
                engine.clone(),
                done.clone(),
                id.clone(),
                name.clone(),
                container.engine_id.clone(),
                check.command.clone(),
                check.timeout,
            );
            tokio::spawn(async move {
                let healthy = engine.check_health(&engine_id, &command, timeout).await.ok();
                let _ = done.send(Done::Checked { task, container: container_name, healthy });
            });
        }
    }
}

fn finish(done: Done, tasks: &mut HashMap<String, Local>) {
    match done {
        Done::Started { task, result } => {
            let Some(local) = tasks.get_mut(&task) else { return };
            match result {
                Ok(containers) if local.phase == Phase::Starting => {
                    tracing::info!(task = %task, "task started");
                    local.containers = containers;
                    local.phase = Phase::Up;
                }
                // Asked to stop while starting: removal follows.
                Ok(containers) => local.containers = containers,
                Err(why) => {
                    tracing::warn!(task = %task, error = %why, "task failed to start");
                    if local.phase == Phase::Starting {
                        local.phase = Phase::FailedToStart(why);
                    }
                }
            }
        }
        Done::Removed { task } => {
            tasks.remove(&task);
        }
        Done::Checked { task, container, healthy } => {
            let Some(check) = tasks.get_mut(&task).and_then(|l| l.health.get_mut(&container)) else { return };
            check.checking = false;
            match healthy {
                Some(true) => {
                    check.failures = 0;
                    check.status = Health::Healthy;
                }
                Some(false) if Instant::now() < check.grace_until => {}
                Some(false) => {
                    check.failures += 1;
                    if check.failures >= check.retries {
                        if check.status != Health::Unhealthy {
                            tracing::warn!(task = %task, container = %container, "container failed its health check");
                        }
                        check.status = Health::Unhealthy;
                    }
                }
                // The engine failed (not the check): the container's state tells.
                None => {}
            }
        }
    }
}

/// What the server is told of each task.
fn reports(tasks: &HashMap<String, Local>) -> Vec<TaskReport> {
    let mut out: Vec<TaskReport> = tasks
        .iter()
        .filter(|(_, l)| l.phase != Phase::Removing)
        .map(|(id, local)| {
            let (state, reason) = match &local.phase {
                Phase::Starting => (TaskState::Starting, None),
                Phase::FailedToStart(why) => (TaskState::FailedToStart, Some(why.clone())),
                Phase::Removing => (TaskState::Stopped, None),
                Phase::Up => match &local.ended {
                    Some(why) => (TaskState::Exited, Some(why.clone())),
                    None => (TaskState::Running, None),
                },
            };
            let containers: Vec<ContainerReport> = local
                .containers
                .iter()
                .map(|c| ContainerReport {
                    name: c.container.clone(),
                    running: c.state == ContainerState::Running,
                    exit_code: match c.state {
                        ContainerState::Exited { code } => Some(code),
                        _ => None,
                    },
                    health: local.health.get(&c.container).map_or(Health::Unknown, |h| h.status),
                })
                .collect();
            let health = if local.health.values().any(|h| h.status == Health::Unhealthy) {
                Health::Unhealthy
            } else if !local.health.is_empty() && local.health.values().all(|h| h.status == Health::Healthy) {
                Health::Healthy
            } else {
                Health::Unknown
            };
            let ports = local
                .containers
                .iter()
                .flat_map(|c| {
                    c.ports.iter().filter(|p| !p.udp).map(|p| PublishedPort {
                        container: c.container.clone(),
                        container_port: p.container_port,
                        host_port: p.host_port,
                    })
                })
                .collect();
            TaskReport { id: id.clone(), state, health, ports, containers, reason }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Starts what is listed and missing; stops what is here and not listed.
fn apply(
    client: &Client,
    engine: &Arc<Engine>,
    host: &str,
    tasks: &mut HashMap<String, Local>,
    wanted: Vec<TaskSpec>,
    done: &mpsc::UnboundedSender<Done>,
) {
    let listed: Vec<String> = wanted.iter().map(|t| t.id.clone()).collect();
    for spec in wanted {
        match tasks.get_mut(&spec.id) {
            Some(local) => {
                if local.spec.is_none() {
                    local.health = health_checks(&spec.task_definition);
                    local.spec = Some(spec);
                }
            }
            None => {
                let id = spec.id.clone();
                tracing::info!(task = %id, service = %spec.service, task_definition = %spec.task_definition_name, "starting task");
                tasks.insert(
                    id.clone(),
                    Local {
                        health: health_checks(&spec.task_definition),
                        spec: Some(spec.clone()),
                        phase: Phase::Starting,
                        containers: Vec::new(),
                        ended: None,
                    },
                );
                let (client, engine, done, host) = (client.clone(), engine.clone(), done.clone(), host.to_string());
                tokio::spawn(async move {
                    let result = start(&client, &engine, &host, &spec).await;
                    let _ = done.send(Done::Started { task: id, result });
                });
            }
        }
    }
    for (id, local) in tasks.iter_mut() {
        if listed.contains(id) || local.phase == Phase::Removing || local.phase == Phase::Starting {
            continue;
        }
        tracing::info!(task = %id, "stopping task: no longer wanted here");
        local.phase = Phase::Removing;
        let stop_timeout = local
            .spec
            .as_ref()
            .and_then(|s| s.task_definition.container_definitions.iter().map(|c| c.stop_timeout_seconds()).max())
            .unwrap_or(ferry_ecs::DEFAULT_STOP_TIMEOUT_SECONDS);
        let names: Vec<String> = local.containers.iter().map(|c| c.engine_id.clone()).collect();
        let (engine, done, task) = (engine.clone(), done.clone(), id.clone());
        tokio::spawn(async move {
            for name in names {
                if let Err(e) = engine.remove(&name, Duration::from_secs(stop_timeout.into())).await {
                    tracing::warn!(task = %task, error = %e, "cannot remove a task container");
                }
            }
            let _ = done.send(Done::Removed { task });
        });
    }
}

fn health_checks(definition: &TaskDefinition) -> BTreeMap<String, HealthState> {
    let now = Instant::now();
    definition
        .container_definitions
        .iter()
        .filter(|c| c.essential)
        .filter_map(|c| {
            let h = c.health_check.as_ref()?;
            Some((
                c.name.clone(),
                HealthState {
                    command: h.command.clone(),
                    interval: Duration::from_secs(h.interval.into()),
                    timeout: Duration::from_secs(h.timeout.into()),
                    retries: h.retries,
                    grace_until: now + Duration::from_secs(h.start_period.into()),
                    // The first check soon after the start (ECS waits one interval).
                    next: now + Duration::from_secs(1),
                    failures: 0,
                    status: Health::Unknown,
                    checking: false,
                },
            ))
        })
        .collect()
}

/// Starts a task's containers, in their order; on a failure the ones
/// started are removed again and the reason returned.
async fn start(client: &Client, engine: &Engine, host: &str, spec: &TaskSpec) -> Result<Vec<TaskContainer>, String> {
    let secrets = if spec.has_secrets {
        let path = format!("/agent/v1/tasks/{}/secrets", encode_segment(&spec.id));
        client
            .post_json::<_, TaskSecrets>(&path, &(), Duration::from_secs(30), true)
            .await
            .map_err(|e| format!("cannot fetch the task's secrets: {e}"))?
    } else {
        TaskSecrets { containers: BTreeMap::new() }
    };
    let definition = &spec.task_definition;
    let mut started: Vec<TaskContainer> = Vec::new();
    for c in &definition.container_definitions {
        let container_spec = container_spec(spec, host, definition, c, secrets.containers.get(&c.name));
        match engine.run(&container_spec).await {
            Ok(container) => started.push(container),
            Err(e) => {
                for s in &started {
                    let _ = engine.remove(&s.engine_id, Duration::from_secs(2)).await;
                }
                return Err(format!("container {}: {e}", c.name));
            }
        }
    }
    Ok(started)
}

fn container_spec(
    task: &TaskSpec,
    host: &str,
    definition: &TaskDefinition,
    c: &ContainerDefinition,
    secrets: Option<&BTreeMap<String, String>>,
) -> TaskContainerSpec {
    let mut spec = TaskContainerSpec::new(&task.id, host, &c.name, &c.image);
    spec.entry_point = c.entry_point.clone();
    spec.command = c.command.clone();
    spec.env = c.environment.iter().map(|kv| (kv.name.clone(), kv.value.clone())).collect();
    if let Some(secrets) = secrets {
        spec.env.extend(secrets.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    spec.network = match definition.network_mode {
        NetworkMode::Bridge | NetworkMode::Awsvpc => TaskNetwork::Bridge,
        NetworkMode::Host => TaskNetwork::Host,
        NetworkMode::None => TaskNetwork::None,
    };
    spec.ports = c
        .port_mappings
        .iter()
        .map(|p| PortSpec {
            container_port: p.container_port,
            host_port: match definition.network_mode {
                // awsvpc's task has the container port as its own.
                NetworkMode::Awsvpc | NetworkMode::Host => p.container_port,
                _ => p.host_port,
            },
            udp: p.protocol == Protocol::Udp,
        })
        .collect();
    spec.working_dir = c.working_directory.clone();
    spec.user = c.user.clone();
    spec.memory_mib = c.memory;
    spec.memory_reservation_mib = c.memory_reservation;
    spec.cpu_shares = c.cpu.filter(|n| *n >= 2);
    spec.stop_timeout = Duration::from_secs(c.stop_timeout_seconds().into());
    spec.labels.insert("ferry.service".into(), task.service.clone());
    spec.labels.insert("ferry.task-definition".into(), task.task_definition_name.clone());
    spec
}
