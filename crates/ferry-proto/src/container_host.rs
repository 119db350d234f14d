//! The container-host half of the agent protocol (`/agent/v1/tasks/…`,
//! issue #15): a host that runs a container engine says what its service
//! task containers are doing, and is answered with the tasks it should run.
//!
//! The exchange is declarative, like a Kubernetes kubelet's: the answer is
//! the whole set of tasks the host should run; the host starts what is
//! missing and stops what is not listed. Nothing is queued, so a lost
//! answer or a restart on either side loses nothing. The request is held
//! (a long poll) until the host's set changes or the hold passes; a host
//! whose containers changed sends at once without waiting (`wait: false`).
//! Secret values never travel in the sync: a host fetches a task's
//! secrets (`POST /agent/v1/tasks/{id}/secrets`) when it starts the task.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const SYNC_PATH: &str = "/agent/v1/tasks/sync";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The engine's name and version (`podman 4.3.1`); `None`: this host
    /// has no working engine (`engine_error` says why) and takes no task.
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_error: Option<String>,
    /// Every task whose containers this host has (running or ended).
    pub tasks: Vec<TaskReport>,
    /// Hold the answer until the wanted set differs from `tasks`.
    pub wait: bool,
}

/// One task on the host, as its containers are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReport {
    pub id: String,
    pub state: TaskState,
    /// Its essential containers' health checks: all passing is Healthy.
    pub health: Health,
    /// Host ports its containers' ports are published on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PublishedPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerReport>,
    /// Why it stopped or could not start (an engine error, an essential
    /// container's exit and the end of its output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Being started (image pull, containers created).
    Starting,
    Running,
    /// Its containers could not be started.
    FailedToStart,
    /// An essential container exited.
    Exited,
    /// Stopped as asked (no longer wanted).
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Unknown,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub container: String,
    pub container_port: u16,
    pub host_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerReport {
    pub name: String,
    pub running: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub health: Health,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Every task this host should run; any other task container is stopped.
    pub tasks: Vec<TaskSpec>,
    pub hold_seconds: u64,
}

/// A task to run: its task definition as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: String,
    pub service: String,
    /// `family:revision`.
    pub task_definition_name: String,
    pub task_definition: ferry_ecs::TaskDefinition,
    /// Whether the host must fetch secrets before starting it.
    pub has_secrets: bool,
}

/// `POST /agent/v1/tasks/{id}/secrets`: each container's secret variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSecrets {
    /// Container name → variable name → value.
    pub containers: BTreeMap<String, BTreeMap<String, String>>,
}
