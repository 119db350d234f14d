//! Container services (issue #15): create, update, delete and read
//! services, and the scheduler that keeps their tasks running.
//!
//! The scheduler is `ferry_ecs::service::plan` carried out: [`reconcile`]
//! runs under [`Scheduler::lock`] (as does every write of a service or a
//! task, including the container hosts' reports in `ops::container_hosts`),
//! reads each service with its tasks and the hosts, asks the plan what to
//! start and stop, and writes the service and its changed tasks in one
//! store transaction; only then are hosts woken and target groups changed.
//! A host learns its tasks only from the store (the sync answer is
//! computed from the live tasks), so a crash between the write and the
//! wake loses nothing: the next sync sees the same rows.
//!
//! Load balancing: a task of a service with a target group is a member
//! (`task/<id>`, at its host's address and the host port its container
//! port is published on) while it runs; a task being stopped is drained
//! first (member Draining, the host keeps it running until `drain_until`,
//! the target group's deregistration delay), then removed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_core::resources::{MemberState, TargetMember};
use ferry_ecs::TaskDefinition;
use ferry_ecs::service::{
    self as model, DesiredStatus, Host, HostTag, LastStatus, Service, ServiceLoadBalancer, ServiceStatus, Task,
    TaskHealth, TaskSet, TaskSetStatus,
};
use ferry_store::{ServiceChange, ServiceWrite, StoreError, TaskRow};
use tokio::sync::Notify;

use super::{OpError, task_definitions};
use crate::AppState;

/// How often every service is looked at without being woken.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);
/// Stopped tasks kept per service (history for `ferry service show`).
const STOPPED_KEPT: u32 = 20;
/// The member name of a task in its target group.
pub const MEMBER_PREFIX: &str = "task/";

/// The scheduler's shared state (one per server, in the driver).
#[derive(Default)]
pub struct Scheduler {
    /// Serialises every write of services and tasks.
    pub(crate) lock: tokio::sync::Mutex<()>,
    /// Wakes the scheduler: a service changed, a task started or ended.
    pub(crate) wake: Notify,
    /// What each host's agent last said of its container engine.
    engines: Mutex<HashMap<String, Option<String>>>,
    /// Wakes a host's held sync when its wanted tasks changed.
    hosts: Mutex<HashMap<String, Arc<Notify>>>,
    /// Wakes `ops::ecs_deployments`: an ECS deployment has an event to carry out.
    pub(crate) ecs_wake: Notify,
    /// ECS deployment events being carried out by this process.
    pub(crate) ecs_running: Mutex<std::collections::HashSet<String>>,
}

impl Scheduler {
    /// Records the engine a host reported; true when that changed.
    pub(crate) fn set_engine(&self, host: &str, engine: Option<String>) -> bool {
        self.engines.lock().unwrap().insert(host.to_string(), engine.clone()) != Some(engine)
    }

    pub(crate) fn engine(&self, host: &str) -> Option<String> {
        self.engines.lock().unwrap().get(host).cloned().flatten()
    }

    pub(crate) fn host_notify(&self, host: &str) -> Arc<Notify> {
        self.hosts.lock().unwrap().entry(host.to_string()).or_default().clone()
    }

    fn wake_host(&self, host: &str) {
        self.host_notify(host).notify_waiters();
    }
}

/// A service as asked for.
#[derive(Debug, Clone)]
pub struct NewService {
    pub name: String,
    /// `FAMILY` (its newest ACTIVE revision) or `FAMILY:REVISION`.
    pub task_definition: String,
    pub desired_count: u32,
    pub hosts: Vec<HostTag>,
    pub target_group: Option<String>,
    /// The container and port the target group reaches (default: the
    /// first container with a port mapping, its first port).
    pub container_name: Option<String>,
    pub container_port: Option<u16>,
}

/// A change of a service.
#[derive(Debug, Clone, Default)]
pub struct UpdateService {
    pub desired_count: Option<u32>,
    pub task_definition: Option<String>,
}

/// A service and its tasks (live ones, then recently stopped ones).
#[derive(Debug, Clone)]
pub struct Described {
    pub service: Service,
    pub tasks: Vec<Task>,
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, doc: &str) -> Result<T, OpError> {
    serde_json::from_str(doc).map_err(|e| OpError::Internal(format!("the stored {what}: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, OpError> {
    serde_json::to_string(value).map_err(|e| OpError::Internal(e.to_string()))
}

pub(crate) fn task_row(t: &Task) -> Result<TaskRow, OpError> {
    Ok(TaskRow {
        id: t.id.clone(),
        service: t.service.clone(),
        host: t.host.clone(),
        live: t.last_status != LastStatus::Stopped,
        created_at: t.created_at,
        doc: encode(t)?,
    })
}

/// A task definition that new tasks may run: it exists and is ACTIVE.
async fn runnable(state: &AppState, name: &str) -> Result<task_definitions::Registered, OpError> {
    let registered = task_definitions::get(state, name).await?;
    if registered.status != "ACTIVE" {
        return Err(OpError::Invalid(format!(
            "task definition {} is INACTIVE (deregistered): new tasks cannot run it",
            registered.name()
        )));
    }
    if let Some(p) = registered.definition.placeholders().first() {
        return Err(OpError::Invalid(format!(
            "task definition {} still has the image placeholder {p}: register it with real images",
            registered.name()
        )));
    }
    Ok(registered)
}

/// The load balancer of a new service, checked against its task definition.
async fn load_balancer(
    state: &AppState,
    request: &NewService,
    definition: &TaskDefinition,
) -> Result<Option<ServiceLoadBalancer>, OpError> {
    let Some(target_group) = &request.target_group else {
        if request.container_name.is_some() || request.container_port.is_some() {
            return Err(OpError::Invalid(
                "a container name or port is only for a load balancer: add --target-group".into(),
            ));
        }
        return Ok(None);
    };
    super::target_groups::get(state, target_group).await?;
    let container = match &request.container_name {
        Some(name) => definition.container(name).ok_or_else(|| {
            OpError::Invalid(format!(
                "task definition {} has no container {name:?} (it has {})",
                definition.family,
                definition.container_definitions.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?,
        None => definition.container_definitions.iter().find(|c| !c.port_mappings.is_empty()).ok_or_else(|| {
            OpError::Invalid(format!(
                "no container of task definition {} maps a port: the target group would reach nothing",
                definition.family
            ))
        })?,
    };
    let port = match request.container_port {
        Some(port) => port,
        None => container.port_mappings.first().map(|p| p.container_port).ok_or_else(|| {
            OpError::Invalid(format!("container {} maps no port: the target group would reach nothing", container.name))
        })?,
    };
    if !container.port_mappings.iter().any(|p| p.container_port == port) {
        return Err(OpError::Invalid(format!(
            "container {} does not map port {port} (it maps {:?}): add it to its portMappings",
            container.name,
            container.port_mappings.iter().map(|p| p.container_port).collect::<Vec<_>>()
        )));
    }
    Ok(Some(ServiceLoadBalancer {
        target_group: target_group.clone(),
        container_name: container.name.clone(),
        container_port: port,
    }))
}

fn task_set(task_definition: &str, now: u64) -> TaskSet {
    TaskSet {
        id: format!("ts-{}", crate::random::string(20, b"abcdefghijklmnopqrstuvwxyz0123456789")),
        task_definition: task_definition.to_string(),
        scale_percent: 100,
        status: TaskSetStatus::Primary,
        create_time: now,
        weight: 100,
        test: false,
        deployment: None,
        terminate_at: None,
    }
}

fn check_desired(n: u32) -> Result<(), OpError> {
    if n > model::MAX_DESIRED_COUNT {
        return Err(OpError::Invalid(format!("desired count {n}: at most {}", model::MAX_DESIRED_COUNT)));
    }
    Ok(())
}

pub async fn create(state: &AppState, request: NewService) -> Result<Service, OpError> {
    model::check_name(&request.name).map_err(OpError::Invalid)?;
    check_desired(request.desired_count)?;
    let registered = runnable(state, &request.task_definition).await?;
    let lb = load_balancer(state, &request, &registered.definition).await?;
    let now = state.driver.now();
    let mut hosts = request.hosts.clone();
    hosts.sort();
    hosts.dedup();
    let mut service = Service {
        name: request.name.clone(),
        task_definition: registered.name(),
        desired_count: request.desired_count,
        hosts,
        load_balancer: lb,
        task_sets: vec![task_set(&registered.name(), now)],
        status: ServiceStatus::Active,
        create_time: now,
        update_time: now,
        backoff_until: None,
        events: Vec::new(),
    };
    service.event(now, format!("created: {} tasks of {}", service.desired_count, service.task_definition));
    let scheduler = &state.driver.services;
    let _held = scheduler.lock.lock().await;
    let change = ServiceChange {
        service: ServiceWrite::Create { name: service.name.clone(), doc: encode(&service)? },
        tasks: Vec::new(),
    };
    match state.store.save_service(&change, now).await {
        Err(StoreError::AlreadyExists { .. }) => return Err(OpError::ServiceExists(request.name)),
        r => r?,
    }
    scheduler.wake.notify_one();
    tracing::info!(service = %service.name, task_definition = %service.task_definition, "service created");
    Ok(service)
}

async fn load(state: &AppState, name: &str) -> Result<Service, OpError> {
    match state.store.get_service(name).await {
        Ok(doc) => decode("service", &doc),
        Err(StoreError::NotFound) => Err(OpError::ServiceNotFound(name.to_string())),
        Err(e) => Err(e.into()),
    }
}

async fn tasks_of(state: &AppState, name: &str) -> Result<Vec<Task>, OpError> {
    state.store.list_service_tasks(Some(name), STOPPED_KEPT).await?.iter().map(|d| decode("task", d)).collect()
}

pub async fn get(state: &AppState, name: &str) -> Result<Described, OpError> {
    let service = load(state, name).await?;
    let tasks = tasks_of(state, name).await?;
    Ok(Described { service, tasks })
}

pub async fn list(state: &AppState) -> Result<Vec<Described>, OpError> {
    let mut out = Vec::new();
    for doc in state.store.list_services().await? {
        let service: Service = decode("service", &doc)?;
        let tasks = tasks_of(state, &service.name).await?;
        out.push(Described { service, tasks });
    }
    Ok(out)
}

/// Changes the desired count or the task definition (a new primary task
/// set; the old one's tasks stop as the new ones become ready).
pub async fn update(state: &AppState, name: &str, change: UpdateService) -> Result<Service, OpError> {
    if let Some(n) = change.desired_count {
        check_desired(n)?;
    }
    let registered = match &change.task_definition {
        Some(t) => Some(runnable(state, t).await?),
        None => None,
    };
    let scheduler = &state.driver.services;
    let _held = scheduler.lock.lock().await;
    let mut service = load(state, name).await?;
    if service.status == ServiceStatus::Draining {
        return Err(OpError::Invalid(format!("service {name} is being deleted")));
    }
    let now = state.driver.now();
    if let Some(n) = change.desired_count
        && n != service.desired_count
    {
        service.event(now, format!("desired count {} → {n}", service.desired_count));
        service.desired_count = n;
    }
    if let Some(registered) = registered
        && registered.name() != service.task_definition
    {
        if let Some(lb) = &service.load_balancer {
            let container = registered.definition.container(&lb.container_name);
            if !container.is_some_and(|c| c.port_mappings.iter().any(|p| p.container_port == lb.container_port)) {
                return Err(OpError::Invalid(format!(
                    "task definition {} has no container {} mapping port {}, which the service's target group {} reaches",
                    registered.name(),
                    lb.container_name,
                    lb.container_port,
                    lb.target_group
                )));
            }
        }
        for set in &mut service.task_sets {
            set.status = TaskSetStatus::Draining;
        }
        service.task_sets.push(task_set(&registered.name(), now));
        service.event(now, format!("task definition {} → {}", service.task_definition, registered.name()));
        service.task_definition = registered.name();
        service.backoff_until = None;
    }
    service.update_time = now;
    let change = ServiceChange {
        service: ServiceWrite::Put { name: name.to_string(), doc: encode(&service)? },
        tasks: Vec::new(),
    };
    state.store.save_service(&change, now).await?;
    scheduler.wake.notify_one();
    Ok(service)
}

/// Deletes a service: its tasks are drained and stopped, then it is gone.
pub async fn delete(state: &AppState, name: &str) -> Result<Service, OpError> {
    let scheduler = &state.driver.services;
    let _held = scheduler.lock.lock().await;
    let mut service = load(state, name).await?;
    let now = state.driver.now();
    service.status = ServiceStatus::Draining;
    service.desired_count = 0;
    service.update_time = now;
    service.event(now, "deleted: stopping its tasks");
    let change = ServiceChange {
        service: ServiceWrite::Put { name: name.to_string(), doc: encode(&service)? },
        tasks: Vec::new(),
    };
    state.store.save_service(&change, now).await?;
    scheduler.wake.notify_one();
    Ok(service)
}

/// Looks at every service until `stop`, when woken and every second.
pub async fn watch_forever(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let woken = state.driver.services.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if let Err(e) = reconcile(&state).await {
            tracing::warn!(error = %e, "cannot schedule service tasks");
        }
        tokio::select! {
            _ = &mut woken => {}
            _ = tokio::time::sleep(RECONCILE_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One pass over every service.
pub async fn reconcile(state: &AppState) -> Result<(), OpError> {
    let scheduler = &state.driver.services;
    let _held = scheduler.lock.lock().await;
    let docs = state.store.list_services().await?;
    if docs.is_empty() {
        return Ok(());
    }
    let instances = state.store.list_instances(false).await?;
    let live: Vec<Task> =
        state.store.list_service_tasks(None, 0).await?.iter().map(|d| decode("task", d)).collect::<Result<_, _>>()?;
    let mut used_ports: HashMap<&str, Vec<u16>> = HashMap::new();
    for t in &live {
        used_ports.entry(t.host.as_str()).or_default().extend(&t.fixed_host_ports);
    }
    let hosts: Vec<Host> = instances
        .iter()
        .filter(|i| i.deregister_time.is_none())
        .map(|i| Host {
            name: i.name.clone(),
            tags: i.tags.iter().map(|t| HostTag { key: t.key.clone(), value: t.value.clone() }).collect(),
            online: state.driver.is_online(&i.name),
            engine: scheduler.engine(&i.name).is_some(),
            used_ports: used_ports.get(i.name.as_str()).cloned().unwrap_or_default(),
        })
        .collect();
    let addresses: HashMap<&str, &str> =
        instances.iter().filter_map(|i| Some((i.name.as_str(), i.address.as_deref()?))).collect();
    let mut definitions: HashMap<String, TaskDefinition> = HashMap::new();
    let mut woken: BTreeSet<String> = BTreeSet::new();
    for doc in docs {
        let service: Service = decode("service", &doc)?;
        let name = service.name.clone();
        if let Err(e) = reconcile_service(state, service, &hosts, &addresses, &mut definitions, &mut woken).await {
            tracing::warn!(service = %name, error = %e, "cannot schedule the service's tasks");
        }
    }
    for host in woken {
        scheduler.wake_host(&host);
    }
    Ok(())
}

async fn definition<'a>(
    state: &AppState,
    cache: &'a mut HashMap<String, TaskDefinition>,
    name: &str,
) -> Result<&'a TaskDefinition, OpError> {
    if !cache.contains_key(name) {
        let registered = task_definitions::get(state, name).await?;
        cache.insert(name.to_string(), registered.definition);
    }
    Ok(&cache[name])
}

fn fixed_ports(definition: &TaskDefinition) -> Vec<u16> {
    definition
        .container_definitions
        .iter()
        .flat_map(|c| &c.port_mappings)
        .map(|p| if definition.network_mode == ferry_ecs::NetworkMode::Host { p.container_port } else { p.host_port })
        .filter(|p| *p != 0)
        .collect()
}

async fn reconcile_service(
    state: &AppState,
    mut service: Service,
    hosts: &[Host],
    addresses: &HashMap<&str, &str>,
    definitions: &mut HashMap<String, TaskDefinition>,
    woken: &mut BTreeSet<String>,
) -> Result<(), OpError> {
    let now = state.driver.now();
    let before = service.clone();
    let mut tasks = tasks_of(state, &service.name).await?;
    let original = tasks.clone();

    // The load balancer's view of each running task.
    let lb_health = match &service.load_balancer {
        Some(lb) => match state.driver.traffic.status(&lb.target_group).await {
            Ok(members) => {
                Some(members.into_iter().map(|m| (m.name, m.health)).collect::<HashMap<String, ferry_lb::Health>>())
            }
            Err(e) => {
                tracing::debug!(service = %service.name, error = %e, "cannot read the target group");
                None
            }
        },
        None => None,
    };
    for t in &mut tasks {
        if service.load_balancer.is_none() || !t.is_live() {
            t.target_health = None;
            continue;
        }
        let health = lb_health.as_ref().and_then(|h| h.get(&format!("{MEMBER_PREFIX}{}", t.id)));
        t.target_health = Some(match health {
            Some(ferry_lb::Health::Healthy) => model::TargetHealth::Healthy,
            Some(ferry_lb::Health::Unhealthy) => model::TargetHealth::Unhealthy,
            _ => model::TargetHealth::Initial,
        });
    }
    // Tasks being stopped on a host that is gone will not be confirmed.
    for t in &mut tasks {
        let host_gone = hosts.iter().find(|h| h.name == t.host).is_none_or(|h| !h.online);
        if t.desired_status == DesiredStatus::Stopped && t.last_status != LastStatus::Stopped && host_gone {
            t.last_status = LastStatus::Stopped;
            t.stopped_at = Some(now);
        }
    }

    conclude_deployments(state, &mut service, now).await;
    let mut fixed = BTreeMap::new();
    for set in &service.task_sets {
        if let Ok(d) = definition(state, definitions, &set.task_definition).await {
            fixed.insert(set.task_definition.clone(), fixed_ports(d));
        }
    }
    let plan = model::plan(&service, &tasks, hosts, &fixed, now);
    let member_ready = |t: &Task| t.last_status == LastStatus::Running && !t.ports.is_empty();
    let deregistration = match &service.load_balancer {
        Some(lb) => match super::target_groups::get(state, &lb.target_group).await {
            Ok(tg) => tg.deregistration_delay_ms,
            Err(_) => 0,
        },
        None => 0,
    };
    for stop in &plan.stop {
        let Some(t) = tasks.iter_mut().find(|t| t.id == stop.task) else { continue };
        t.desired_status = DesiredStatus::Stopped;
        t.stopping_at = Some(now);
        t.stop_code = Some(stop.code);
        t.stopped_reason = Some(stop.reason.clone());
        let draining = service.load_balancer.is_some() && member_ready(t) && t.health != TaskHealth::Unhealthy;
        t.drain_until = Some(if draining { now + deregistration } else { now });
        woken.insert(t.host.clone());
        service.event(now, format!("stopping task {} on {}: {}", short(&t.id), t.host, stop.reason));
    }
    for placement in &plan.start {
        let d = definition(state, definitions, &placement.task_definition).await?;
        let task = Task {
            id: crate::random::string(32, b"0123456789abcdef"),
            service: service.name.clone(),
            task_set: placement.task_set.clone(),
            task_definition: placement.task_definition.clone(),
            host: placement.host.clone(),
            desired_status: DesiredStatus::Running,
            last_status: LastStatus::Pending,
            health: TaskHealth::Unknown,
            health_checked: d.container_definitions.iter().any(|c| c.essential && c.health_check.is_some()),
            target_health: service.load_balancer.as_ref().map(|_| model::TargetHealth::Initial),
            ports: Vec::new(),
            fixed_host_ports: fixed_ports(d),
            created_at: now,
            started_at: None,
            stopping_at: None,
            drain_until: None,
            stopped_at: None,
            stop_code: None,
            stopped_reason: None,
            containers: Vec::new(),
        };
        service.event(now, format!("started task {} on {}", short(&task.id), task.host));
        woken.insert(task.host.clone());
        tasks.push(task);
    }
    if let Some(why) = &plan.unplaced {
        service.event(now, why.clone());
    }
    if plan.backoff_until.is_some_and(|until| until > now) && service.backoff_until != plan.backoff_until {
        service.event(
            now,
            format!(
                "tasks keep failing: the next start waits {} s (the newest failure: {})",
                plan.backoff_until.unwrap_or(now).saturating_sub(now).div_ceil(1000),
                tasks.iter().rev().find_map(|t| t.stopped_reason.as_deref()).unwrap_or("unknown")
            ),
        );
    }
    service.backoff_until = plan.backoff_until.filter(|u| *u > now);
    service.task_sets.retain(|s| !plan.remove_task_sets.contains(&s.id));
    let steady = plan.start.is_empty()
        && plan.stop.is_empty()
        && service.status == ServiceStatus::Active
        && service.task_sets.len() == 1
        && tasks.iter().filter(|t| t.is_ready()).count() == service.desired_count as usize
        && tasks.iter().filter(|t| t.is_live()).count() == service.desired_count as usize;
    if steady {
        service.event(now, "has reached a steady state");
    }

    // The target group's members for this service's tasks.
    if let Some(lb) = &service.load_balancer {
        let weights = service.member_weights(&tasks);
        let mut wanted: Vec<TargetMember> = Vec::new();
        for t in &tasks {
            let set = service.task_sets.iter().find(|s| s.id == t.task_set);
            let Some(port) = t.host_port(&lb.container_name, lb.container_port) else { continue };
            let Some(address) = addresses.get(t.host.as_str()) else { continue };
            let state = match (t.desired_status, t.last_status) {
                (_, LastStatus::Stopped) => continue,
                (DesiredStatus::Running, LastStatus::Running) => MemberState::Ready,
                (DesiredStatus::Stopped, _) if t.drain_until.is_some_and(|d| d > now) => MemberState::Draining,
                _ => continue,
            };
            let address =
                if address.contains(':') { format!("[{address}]:{port}") } else { format!("{address}:{port}") };
            wanted.push(TargetMember {
                instance: format!("{MEMBER_PREFIX}{}", t.id),
                address,
                weight: weights.get(&t.task_set).copied().unwrap_or(0),
                state,
                test: set.is_some_and(|s| s.test),
            });
        }
        let ours = |m: &TargetMember| {
            m.instance.strip_prefix(MEMBER_PREFIX).is_some_and(|id| tasks.iter().any(|t| t.id == id))
        };
        let current = super::target_groups::get(state, &lb.target_group).await.ok();
        let differs = current.as_ref().is_some_and(|tg| {
            let mut have: Vec<&TargetMember> = tg.members.iter().filter(|m| ours(m)).collect();
            have.sort_by(|a, b| a.instance.cmp(&b.instance));
            let mut want: Vec<&TargetMember> = wanted.iter().collect();
            want.sort_by(|a, b| a.instance.cmp(&b.instance));
            have != want
        });
        if differs {
            let result = state
                .driver
                .traffic
                .update_member(&lb.target_group, |tg| {
                    tg.members.retain(|m| !ours(m));
                    tg.members.extend(wanted);
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(service = %service.name, target_group = %lb.target_group, error = %e, "cannot update the target group");
            }
        }
    }

    let changed: Vec<TaskRow> =
        tasks.iter().filter(|t| !original.contains(t)).map(task_row).collect::<Result<_, _>>()?;
    let gone = service.status == ServiceStatus::Draining && service.task_sets.is_empty();
    let write = if gone {
        ServiceWrite::Delete { name: service.name.clone() }
    } else if service != before {
        ServiceWrite::Put { name: service.name.clone(), doc: encode(&service)? }
    } else {
        ServiceWrite::Keep
    };
    if matches!(write, ServiceWrite::Keep) && changed.is_empty() {
        return Ok(());
    }
    state.store.save_service(&ServiceChange { service: write, tasks: changed }, now).await?;
    if gone {
        tracing::info!(service = %service.name, "service deleted: its last task stopped");
    } else if before.task_sets.len() != service.task_sets.len() || !plan.stop.is_empty() {
        state.store.prune_service_tasks(&service.name, STOPPED_KEPT).await?;
    }
    Ok(())
}

/// A replacement task set whose deployment ended: promoted (the original
/// is kept for the termination wait, then stopped) or discarded (traffic
/// back on the original).
async fn conclude_deployments(state: &AppState, service: &mut Service, now: u64) {
    let replacements: Vec<(String, String)> = service
        .task_sets
        .iter()
        .filter(|s| s.status == TaskSetStatus::Active)
        .filter_map(|s| Some((s.id.clone(), s.deployment.clone()?)))
        .collect();
    for (set_id, deployment) in replacements {
        let d = match state.store.get_deployment(&deployment).await {
            Ok(d) => Some(d),
            Err(StoreError::NotFound) => None,
            Err(e) => {
                tracing::warn!(service = %service.name, error = %e, "cannot read the deployment of a replacement task set");
                continue;
            }
        };
        let status = d.as_ref().map(|d| d.status);
        let wait = d.as_ref().and_then(|d| d.ecs.as_ref()).map_or(0, |e| e.termination_wait_ms);
        match status {
            Some(s) if !s.is_terminal() => continue,
            Some(ferry_core::deployment::DeploymentStatus::Succeeded) => {
                for set in &mut service.task_sets {
                    if set.id == set_id {
                        set.status = TaskSetStatus::Primary;
                        set.weight = 100;
                        set.test = false;
                        service.task_definition = set.task_definition.clone();
                    } else if set.status == TaskSetStatus::Primary {
                        set.status = TaskSetStatus::Draining;
                        set.weight = 0;
                        set.terminate_at = Some(now + wait);
                    }
                }
                service.event(
                    now,
                    format!(
                        "deployment {deployment} succeeded: task set {set_id} is primary; the original stops in {} s",
                        wait / 1000
                    ),
                );
            }
            _ => {
                for set in &mut service.task_sets {
                    if set.id == set_id {
                        set.status = TaskSetStatus::Draining;
                        set.weight = 0;
                        set.test = false;
                        set.terminate_at = Some(now);
                    } else if set.status == TaskSetStatus::Primary {
                        set.weight = 100;
                    }
                }
                service.event(
                    now,
                    format!("deployment {deployment} ended without success: traffic back on the original task set, replacement {set_id} removed"),
                );
            }
        }
    }
}

/// Starts a deployment's replacement task set (at the service's size, no
/// production traffic) unless it exists; returns its id.
pub async fn begin_replacement(
    state: &AppState,
    service_name: &str,
    task_definition: &str,
    deployment: &str,
) -> Result<String, OpError> {
    let scheduler = &state.driver.services;
    let id = {
        let _held = scheduler.lock.lock().await;
        let mut service = load(state, service_name).await?;
        if let Some(set) = service.replacement(deployment) {
            return Ok(set.id.clone());
        }
        if service.status == ServiceStatus::Draining {
            return Err(OpError::Invalid(format!("service {service_name} is being deleted")));
        }
        let now = state.driver.now();
        let mut set = task_set(task_definition, now);
        set.status = TaskSetStatus::Active;
        set.weight = 0;
        set.deployment = Some(deployment.to_string());
        let id = set.id.clone();
        service.event(now, format!("deployment {deployment}: replacement task set {id} of {task_definition}"));
        service.task_sets.push(set);
        save(state, &service, now).await?;
        id
    };
    scheduler.wake.notify_one();
    Ok(id)
}

/// How a deployment's replacement task set is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub task_set: String,
    pub wanted: u32,
    /// Running and healthy wherever checked (also by the load balancer).
    pub ready: u32,
    /// Starts are throttled: tasks keep failing, the newest saying this.
    pub failing: Option<String>,
}

pub async fn replacement(state: &AppState, service_name: &str, deployment: &str) -> Result<Replacement, OpError> {
    let Described { service, tasks } = get(state, service_name).await?;
    let set = service.replacement(deployment).ok_or_else(|| {
        OpError::Invalid(format!("service {service_name} has no task set of deployment {deployment}"))
    })?;
    let ours: Vec<&Task> = tasks.iter().filter(|t| t.task_set == set.id).collect();
    let failing = service.backoff_until.is_some().then(|| {
        ours.iter().rev().find_map(|t| t.stopped_reason.clone()).unwrap_or_else(|| "tasks keep failing to start".into())
    });
    Ok(Replacement {
        task_set: set.id.clone(),
        wanted: service.wanted(set),
        ready: ours.iter().filter(|t| t.is_ready()).count() as u32,
        failing,
    })
}

/// Changes a deployment's replacement task set: test traffic, and its
/// production share (the primary gets the rest).
pub async fn route(
    state: &AppState,
    service_name: &str,
    deployment: &str,
    test: bool,
    share: u32,
) -> Result<(), OpError> {
    let scheduler = &state.driver.services;
    {
        let _held = scheduler.lock.lock().await;
        let mut service = load(state, service_name).await?;
        let Some(index) = service.task_sets.iter().position(|s| s.deployment.as_deref() == Some(deployment)) else {
            return Err(OpError::Invalid(format!("service {service_name} has no task set of deployment {deployment}")));
        };
        let before = (service.task_sets[index].test, service.task_sets[index].weight);
        if before == (test, share) {
            return Ok(());
        }
        let now = state.driver.now();
        for (i, set) in service.task_sets.iter_mut().enumerate() {
            if i == index {
                set.test = test;
                set.weight = share;
            } else if set.status == TaskSetStatus::Primary {
                set.weight = 100 - share.min(100);
            }
        }
        if before.1 != share {
            service.event(now, format!("deployment {deployment}: {share}% of production traffic on the replacement"));
        } else {
            service.event(now, format!("deployment {deployment}: test traffic {}", if test { "on" } else { "off" }));
        }
        save(state, &service, now).await?;
    }
    // Applied to the load balancer now, not at the next pass.
    reconcile(state).await
}

async fn save(state: &AppState, service: &Service, now: u64) -> Result<(), OpError> {
    let change = ServiceChange {
        service: ServiceWrite::Put { name: service.name.clone(), doc: encode(service)? },
        tasks: Vec::new(),
    };
    Ok(state.store.save_service(&change, now).await?)
}

/// A task id as people read it.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}
