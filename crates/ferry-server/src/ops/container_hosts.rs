//! Container hosts (issue #15): the agent's side of services. A host's
//! sync (`ferry_proto::container_host`) reports what its task containers
//! are doing; [`sync`] writes that into the tasks (under the scheduler's
//! lock, like every task write) and answers with the tasks the host should
//! run, computed from the store. [`secrets`] hands a host the secret
//! variables of a task it runs, and nothing else.

use std::collections::{BTreeMap, HashMap};

use ferry_ecs::service::{ContainerStatus, DesiredStatus, LastStatus, StopCode, Task, TaskHealth, TaskPort};
use ferry_proto::container_host::{self as wire, Health, TaskState};
use ferry_store::{ServiceChange, ServiceWrite};

use super::services::task_row;
use super::{OpError, task_definitions};
use crate::AppState;

fn decode_task(doc: &str) -> Result<Task, OpError> {
    serde_json::from_str(doc).map_err(|e| OpError::Internal(format!("the stored task: {e}")))
}

/// The host's live tasks.
async fn host_tasks(state: &AppState, host: &str) -> Result<Vec<Task>, OpError> {
    let mut out = Vec::new();
    for doc in state.store.list_service_tasks(None, 0).await? {
        let task = decode_task(&doc)?;
        if task.host == host {
            out.push(task);
        }
    }
    Ok(out)
}

/// Whether the host should (still) run the task: wanted, or draining.
fn wanted(t: &Task, now: u64) -> bool {
    t.last_status != LastStatus::Stopped
        && match t.desired_status {
            DesiredStatus::Running => true,
            DesiredStatus::Stopped => t.drain_until.is_some_and(|d| d > now),
        }
}

fn health(h: Health) -> TaskHealth {
    match h {
        Health::Unknown => TaskHealth::Unknown,
        Health::Healthy => TaskHealth::Healthy,
        Health::Unhealthy => TaskHealth::Unhealthy,
    }
}

fn stop(t: &mut Task, now: u64, code: StopCode, reason: Option<&str>) {
    t.last_status = LastStatus::Stopped;
    t.stopped_at = Some(now);
    if t.desired_status == DesiredStatus::Running {
        t.desired_status = DesiredStatus::Stopped;
        t.stop_code = Some(code);
        t.stopped_reason = reason.map(str::to_string);
    }
}

/// Applies a host's report to its tasks; returns the ones that changed.
fn apply_report(tasks: &mut [Task], report: &wire::SyncRequest, now: u64) -> Vec<usize> {
    let reported: HashMap<&str, &wire::TaskReport> = report.tasks.iter().map(|t| (t.id.as_str(), t)).collect();
    let mut changed = Vec::new();
    for (i, t) in tasks.iter_mut().enumerate() {
        let before = t.clone();
        match reported.get(t.id.as_str()) {
            None => {
                if t.desired_status == DesiredStatus::Stopped && !wanted(t, now) {
                    // Asked to stop, and its containers are gone.
                    stop(t, now, StopCode::ServiceSchedulerInitiated, None);
                } else if t.last_status == LastStatus::Running {
                    stop(
                        t,
                        now,
                        StopCode::EssentialContainerExited,
                        Some("the task's containers disappeared from its host (removed outside ferry?)"),
                    );
                }
            }
            Some(r) => {
                t.health = health(r.health);
                if !r.ports.is_empty() {
                    t.ports = r
                        .ports
                        .iter()
                        .map(|p| TaskPort {
                            container_name: p.container.clone(),
                            container_port: p.container_port,
                            host_port: p.host_port,
                        })
                        .collect();
                }
                t.containers = r
                    .containers
                    .iter()
                    .map(|c| ContainerStatus {
                        name: c.name.clone(),
                        last_status: if c.running { LastStatus::Running } else { LastStatus::Stopped },
                        exit_code: c.exit_code,
                        reason: None,
                        health: health(c.health),
                    })
                    .collect();
                match r.state {
                    TaskState::Starting => {}
                    TaskState::Running => {
                        if t.last_status == LastStatus::Pending {
                            t.last_status = LastStatus::Running;
                            t.started_at = Some(now);
                        }
                    }
                    TaskState::FailedToStart => {
                        stop(t, now, StopCode::TaskFailedToStart, r.reason.as_deref().or(Some("failed to start")))
                    }
                    TaskState::Exited => stop(
                        t,
                        now,
                        StopCode::EssentialContainerExited,
                        r.reason.as_deref().or(Some("Essential container in task exited")),
                    ),
                    TaskState::Stopped => stop(t, now, StopCode::ServiceSchedulerInitiated, None),
                }
            }
        }
        if *t != before {
            changed.push(i);
        }
    }
    changed
}

/// The tasks the host should run, with their task definitions.
async fn answer(state: &AppState, tasks: &[Task], now: u64) -> Result<Vec<wire::TaskSpec>, OpError> {
    let mut definitions: BTreeMap<String, ferry_ecs::TaskDefinition> = BTreeMap::new();
    let mut out = Vec::new();
    for t in tasks.iter().filter(|t| wanted(t, now)) {
        if !definitions.contains_key(&t.task_definition) {
            let d = task_definitions::get(state, &t.task_definition).await?.definition;
            definitions.insert(t.task_definition.clone(), d);
        }
        let definition = definitions[&t.task_definition].clone();
        out.push(wire::TaskSpec {
            id: t.id.clone(),
            service: t.service.clone(),
            task_definition_name: t.task_definition.clone(),
            has_secrets: definition.container_definitions.iter().any(|c| !c.secrets.is_empty()),
            task_definition: definition,
        });
    }
    Ok(out)
}

/// Records the host's report and computes its tasks. Returns the answer
/// and whether it differs from what the host reported running.
pub async fn sync(
    state: &AppState,
    host: &str,
    report: &wire::SyncRequest,
) -> Result<(Vec<wire::TaskSpec>, bool), OpError> {
    let scheduler = &state.driver.services;
    if scheduler.set_engine(host, report.engine.clone()) {
        match &report.engine {
            Some(engine) => tracing::info!(host, engine, "container host ready"),
            None => tracing::warn!(
                host,
                error = report.engine_error.as_deref().unwrap_or("none found"),
                "host has no container engine: it takes no service task"
            ),
        }
        scheduler.wake.notify_one();
    }
    let now = state.driver.now();
    let _held = scheduler.lock.lock().await;
    let mut tasks = host_tasks(state, host).await?;
    let changed = apply_report(&mut tasks, report, now);
    if !changed.is_empty() {
        let rows = changed.iter().map(|i| task_row(&tasks[*i])).collect::<Result<Vec<_>, _>>()?;
        state.store.save_service(&ServiceChange { service: ServiceWrite::Keep, tasks: rows }, now).await?;
        scheduler.wake.notify_one();
    }
    let specs = answer(state, &tasks, now).await?;
    let news = specs.len() != report.tasks.len()
        || specs.iter().any(|s| !report.tasks.iter().any(|r| r.id == s.id))
        || !changed.is_empty();
    Ok((specs, news))
}

/// The secret variables of a task the host runs, by container.
pub async fn secrets(state: &AppState, host: &str, task_id: &str) -> Result<wire::TaskSecrets, OpError> {
    let now = state.driver.now();
    let task = host_tasks(state, host)
        .await?
        .into_iter()
        .find(|t| t.id == task_id && wanted(t, now))
        .ok_or_else(|| OpError::Invalid(format!("task {task_id} is not running on {host}")))?;
    let definition = task_definitions::get(state, &task.task_definition).await?.definition;
    let mut containers = BTreeMap::new();
    for c in &definition.container_definitions {
        let mut values = BTreeMap::new();
        for s in &c.secrets {
            values.insert(s.name.clone(), super::secrets::resolve(state, s.ferry_secret()).await?);
        }
        if !values.is_empty() {
            containers.insert(c.name.clone(), values);
        }
    }
    Ok(wire::TaskSecrets { containers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_ecs::service::TaskHealth;

    fn task(id: &str, last: LastStatus) -> Task {
        Task {
            id: id.into(),
            service: "web".into(),
            task_set: "ts".into(),
            task_definition: "web:1".into(),
            host: "h".into(),
            desired_status: DesiredStatus::Running,
            last_status: last,
            health: TaskHealth::Unknown,
            health_checked: false,
            target_health: None,
            ports: vec![],
            fixed_host_ports: vec![],
            created_at: 0,
            started_at: None,
            stopping_at: None,
            drain_until: None,
            stopped_at: None,
            stop_code: None,
            stopped_reason: None,
            containers: vec![],
        }
    }

    fn report(id: &str, state: TaskState) -> wire::TaskReport {
        wire::TaskReport {
            id: id.into(),
            state,
            health: Health::Healthy,
            ports: vec![wire::PublishedPort { container: "web".into(), container_port: 80, host_port: 40001 }],
            containers: vec![],
            reason: Some("boom".into()),
        }
    }

    fn request(tasks: Vec<wire::TaskReport>) -> wire::SyncRequest {
        wire::SyncRequest { engine: Some("podman".into()), engine_error: None, tasks, wait: true }
    }

    #[test]
    fn reports_move_tasks_along() {
        let mut tasks =
            vec![task("a", LastStatus::Pending), task("b", LastStatus::Running), task("c", LastStatus::Running)];
        let changed = apply_report(
            &mut tasks,
            &request(vec![report("a", TaskState::Running), report("b", TaskState::Exited)]),
            5,
        );
        assert_eq!(changed, [0, 1, 2]);
        assert_eq!(tasks[0].last_status, LastStatus::Running);
        assert_eq!(tasks[0].started_at, Some(5));
        assert_eq!(tasks[0].ports[0].host_port, 40001);
        assert_eq!(tasks[1].last_status, LastStatus::Stopped);
        assert_eq!(tasks[1].stop_code, Some(StopCode::EssentialContainerExited));
        assert_eq!(tasks[1].stopped_reason.as_deref(), Some("boom"));
        // Running, then not reported: its containers are gone.
        assert_eq!(tasks[2].last_status, LastStatus::Stopped);
        assert!(tasks[2].stopped_reason.as_deref().unwrap().contains("disappeared"));
    }

    #[test]
    fn a_task_asked_to_stop_keeps_its_reason_and_runs_while_draining() {
        let mut t = task("a", LastStatus::Running);
        t.desired_status = DesiredStatus::Stopped;
        t.stopped_reason = Some("Scaled in".into());
        t.drain_until = Some(10);
        assert!(wanted(&t, 5));
        let mut tasks = vec![t];
        // Still reported while draining: nothing ends.
        apply_report(&mut tasks, &request(vec![report("a", TaskState::Running)]), 5);
        assert_eq!(tasks[0].last_status, LastStatus::Running);
        // Gone after the drain: stopped, its reason kept.
        assert!(!wanted(&tasks[0], 11));
        apply_report(&mut tasks, &request(vec![]), 11);
        assert_eq!(tasks[0].last_status, LastStatus::Stopped);
        assert_eq!(tasks[0].stopped_reason.as_deref(), Some("Scaled in"));
    }

    #[test]
    fn a_pending_task_not_yet_reported_waits() {
        let mut tasks = vec![task("a", LastStatus::Pending)];
        assert!(apply_report(&mut tasks, &request(vec![]), 5).is_empty());
    }
}
