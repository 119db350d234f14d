//! The deployment aggregate: one deployment, its targets and their
//! lifecycle events. The store persists it whole; the machine changes it.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::config::MinimumHealthyHosts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStatus {
    Created,
    Queued,
    InProgress,
    Baking,
    Ready,
    Succeeded,
    Failed,
    Stopped,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "Created",
            Self::Queued => "Queued",
            Self::InProgress => "InProgress",
            Self::Baking => "Baking",
            Self::Ready => "Ready",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Stopped => "Stopped",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Queued,
            Self::InProgress,
            Self::Baking,
            Self::Ready,
            Self::Succeeded,
            Self::Failed,
            Self::Stopped,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// Succeeded, Failed and Stopped are final.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Stopped)
    }

    /// Deployments that hold their group: at most one per group at a time.
    pub fn is_active(self) -> bool {
        matches!(self, Self::InProgress | Self::Baking | Self::Ready)
    }
}

/// The status of one instance in a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Skipped,
    Unknown,
    Ready,
}

impl TargetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Skipped => "Skipped",
            Self::Unknown => "Unknown",
            Self::Ready => "Ready",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Skipped,
    Unknown,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Skipped => "Skipped",
            Self::Unknown => "Unknown",
        }
    }
}

/// CodeDeploy's `errorInformation.code` values that ferry produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    AgentIssue,
    HealthConstraints,
    HealthConstraintsInvalid,
    HookExecutionFailure,
    InternalError,
    InvalidRevision,
    ManualStop,
    NoInstances,
    RevisionMissing,
    Timeout,
    AlarmActive,
    CustomerApplicationUnhealthy,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AgentIssue => "AGENT_ISSUE",
            Self::HealthConstraints => "HEALTH_CONSTRAINTS",
            Self::HealthConstraintsInvalid => "HEALTH_CONSTRAINTS_INVALID",
            Self::HookExecutionFailure => "HOOK_EXECUTION_FAILURE",
            Self::InternalError => "INTERNAL_ERROR",
            Self::InvalidRevision => "INVALID_REVISION",
            Self::ManualStop => "MANUAL_STOP",
            Self::NoInstances => "NO_INSTANCES",
            Self::RevisionMissing => "REVISION_MISSING",
            Self::Timeout => "TIMEOUT",
            Self::AlarmActive => "ALARM_ACTIVE",
            Self::CustomerApplicationUnhealthy => "CUSTOMER_APPLICATION_UNHEALTHY",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub code: ErrorCode,
    pub message: String,
}

/// What an agent reports about a failed (or succeeded) lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDiagnostics {
    /// CodeDeploy's name: Success, ScriptMissing, ScriptNotExecutable,
    /// ScriptTimedOut, ScriptFailed, UnknownError, OutputsLeftOpen, FailedAfterRestart.
    pub error_code: String,
    pub script_name: String,
    pub message: String,
    pub log_tail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    pub name: crate::events::Event,
    pub status: EventStatus,
    pub start_time: Option<Millis>,
    pub end_time: Option<Millis>,
    pub diagnostics: Option<EventDiagnostics>,
}

/// One instance's part in a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The instance name (on-premises instances are named).
    pub instance: String,
    pub status: TargetStatus,
    /// Bumped every time the instance is (re)started in this deployment;
    /// part of every command id so stale reports can be told apart.
    pub attempt: u32,
    pub events: Vec<LifecycleEvent>,
    /// Index of the first event of the command the agent is carrying out now.
    #[serde(default)]
    pub segment_start: Option<usize>,
    pub last_updated: Millis,
    /// In a blue/green deployment: the original (Blue) or the replacement (Green).
    #[serde(default)]
    pub label: Option<Label>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Label {
    Blue,
    Green,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blue => "Blue",
            Self::Green => "Green",
        }
    }
}

/// How a deployment replaces instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum DeploymentType {
    #[default]
    InPlace,
    BlueGreen,
}

/// A blue/green deployment's plan and progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlueGreen {
    pub ready: ReadyAction,
    pub blue: BlueAction,
    /// How production traffic moves from blue to green.
    pub routing: crate::config::TrafficRouting,
    pub phase: Phase,
    /// Percent of production traffic on the green instances now.
    pub green_share: u32,
    /// When the current traffic step began (the next is due an interval later).
    pub step_started: Option<Millis>,
    /// When the Ready or termination wait ends.
    pub deadline: Option<Millis>,
    /// Which shift step the green share is at (0 = the first).
    pub step: u32,
    /// A rollback: the green instances are the original ones, already
    /// installed; only traffic moves back to them.
    pub traffic_only: bool,
    /// The instances, when decided at creation (a rollback's); otherwise
    /// discovered when the deployment starts.
    #[serde(default)]
    pub green_instances: Vec<String>,
    #[serde(default)]
    pub blue_instances: Vec<String>,
    /// The replacement fleet, by tags (CodeDeploy's `targetInstances`);
    /// `None`: the group's instances not taking traffic now.
    #[serde(default)]
    pub green_selector: Option<crate::resources::InstanceSelector>,
    /// The original instances retired so far, in order (Terminating).
    #[serde(default)]
    pub retired: Vec<Retired>,
}

/// An original instance a blue/green deployment retired: it left the
/// deployment group, and, when the server has a terminate command, that
/// command terminated it (it is then deregistered and its agent key revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    pub instance: String,
    /// The terminate command ran for it (else it was only removed from the group).
    pub terminated: bool,
    pub time: Millis,
}

/// What happens once the replacement instances are installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadyAction {
    /// Move traffic at once.
    Continue,
    /// Wait for ContinueDeployment; stop the deployment after `wait_ms`.
    Stop { wait_ms: u64 },
}

/// What happens to the original instances once traffic has left them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlueAction {
    /// Removed from the group (and terminated by the server's terminate
    /// command, if it has one) once `wait_ms` has passed.
    Terminate { wait_ms: u64 },
    /// Left registered and running, out of the load balancer.
    KeepAlive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// The replacement instances are being installed.
    Install,
    /// Installed; waiting for ContinueDeployment.
    Ready,
    /// The replacement instances run BeforeAllowTraffic.
    BeforeAllow,
    /// Production traffic moves to them step by step (a server job).
    Shifting,
    /// They run AfterAllowTraffic.
    AfterAllow,
    /// The original instances leave the load balancer.
    Block,
    /// Waiting to terminate the original instances.
    TerminationWait,
    /// Terminating them (a server job).
    Terminating,
    Done,
}

impl Target {
    pub fn new(instance: impl Into<String>, events: &[crate::events::Event], now: Millis) -> Self {
        Self {
            instance: instance.into(),
            status: TargetStatus::Pending,
            attempt: 0,
            events: events
                .iter()
                .map(|&name| LifecycleEvent {
                    name,
                    status: EventStatus::Pending,
                    start_time: None,
                    end_time: None,
                    diagnostics: None,
                })
                .collect(),
            segment_start: None,
            last_updated: now,
            label: None,
        }
    }

    /// Index of the first event not yet finished, if any.
    pub fn cursor(&self) -> Option<usize> {
        self.events.iter().position(|e| matches!(e.status, EventStatus::Pending | EventStatus::InProgress))
    }

    /// The event currently running, if any.
    pub fn current_event(&self) -> Option<&LifecycleEvent> {
        self.events.iter().find(|e| e.status == EventStatus::InProgress)
    }
}

/// A revision as far as the core cares: an opaque id plus a summary line,
/// and the exact bytes this deployment installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionRef {
    /// The store's key for the revision.
    pub id: String,
    /// A short human description (e.g. `sha256:ab12… (zip, 1.2 MB)`).
    pub summary: String,
    /// Pinned when the deployment is created, so every host (and a later
    /// rollback to it) gets the same bytes even if an S3 key is overwritten.
    /// `None` only in deployments recorded before ferry pinned bundles.
    #[serde(default)]
    pub bundle: Option<Bundle>,
}

/// A revision's bytes in the server's blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// The blob store's key (`sha256/<hex>`).
    pub blob_key: String,
    pub sha256: String,
    pub size: u64,
    /// `zip`, `tar` or `tgz`.
    pub bundle_type: String,
    /// For S3 revisions: the object's ETag and version that were fetched.
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// Who created a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, PartialOrd, Ord)]
pub enum Creator {
    #[default]
    #[serde(rename = "user")]
    User,
    #[serde(rename = "codeDeployRollback")]
    Rollback,
    /// A launch deployment: the group's last successful revision to
    /// instances that joined the group (issue #16).
    #[serde(rename = "autoscaling")]
    Autoscaling,
    /// The follow-up for instances that joined while a deployment of the
    /// group ran (`outdatedInstancesStrategy: UPDATE`).
    #[serde(rename = "CodeDeployAutoUpdate")]
    AutoUpdate,
    /// A termination deployment: the block-traffic hooks and ApplicationStop
    /// of its last revision on a host a scaling group is about to terminate.
    #[serde(rename = "autoscalingTermination")]
    AutoscalingTermination,
}

impl Creator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Rollback => "codeDeployRollback",
            Self::Autoscaling => "autoscaling",
            Self::AutoUpdate => "CodeDeployAutoUpdate",
            Self::AutoscalingTermination => "autoscalingTermination",
        }
    }

    /// Made by ferry for instances that join or leave the group: it runs
    /// what the group already runs, so it neither changes the group's last
    /// successful revision nor rolls back.
    pub fn is_automatic(self) -> bool {
        matches!(self, Self::Autoscaling | Self::AutoUpdate | Self::AutoscalingTermination)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RollbackEvent {
    DeploymentFailure,
    DeploymentStopOnAlarm,
    DeploymentStopOnRequest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AutoRollback {
    pub enabled: bool,
    pub events: Vec<RollbackEvent>,
}

impl AutoRollback {
    pub fn on(&self, event: RollbackEvent) -> bool {
        self.enabled && self.events.contains(&event)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RollbackInfo {
    /// Set on a failed or stopped deployment: the rollback that followed.
    pub rollback_deployment_id: Option<String>,
    /// Set on a rollback: the deployment it rolls back.
    pub rollback_triggering_deployment_id: Option<String>,
    pub rollback_message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileExistsBehavior {
    #[serde(rename = "DISALLOW")]
    Disallow,
    #[serde(rename = "OVERWRITE")]
    Overwrite,
    #[serde(rename = "RETAIN")]
    Retain,
}

/// A request to stop, recorded until no instance is in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRequest {
    pub at: Millis,
    /// `Some` when the caller said whether to roll back; `None` defers to the
    /// auto-rollback configuration (DEPLOYMENT_STOP_ON_REQUEST).
    pub rollback: Option<bool>,
    pub code: ErrorCode,
    pub message: String,
}

/// Counts of targets by status (CodeDeploy's `deploymentOverview`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Overview {
    pub pending: u32,
    pub in_progress: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub skipped: u32,
    pub ready: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub application_name: String,
    pub group_name: String,
    pub group_id: String,
    pub config_name: String,
    pub minimum_healthy_hosts: MinimumHealthyHosts,
    pub revision: RevisionRef,
    /// The group's last successful revision when this deployment was created.
    pub previous_revision: Option<RevisionRef>,
    pub creator: Creator,
    pub description: Option<String>,
    pub status: DeploymentStatus,
    pub error: Option<ErrorInfo>,
    pub create_time: Millis,
    pub start_time: Option<Millis>,
    pub complete_time: Option<Millis>,
    pub ignore_application_stop_failures: bool,
    pub file_exists_behavior: Option<FileExistsBehavior>,
    pub auto_rollback: AutoRollback,
    pub rollback_info: RollbackInfo,
    pub stop: Option<StopRequest>,
    /// The lifecycle events every target runs, in order.
    pub lifecycle_events: Vec<crate::events::Event>,
    pub targets: Vec<Target>,
    /// Set once the follow-ups of a terminal status (rollback, group update)
    /// have been recorded, so a restarted driver never repeats them.
    pub finalized: bool,
    /// The blue/green plan and progress; `None` for an in-place deployment
    /// (documents written before this also hold a `deployment_type`, which
    /// said the same and is ignored).
    #[serde(default)]
    pub blue_green: Option<BlueGreen>,
    /// The alarms watched while it runs (the group's, or CreateDeployment's
    /// override), and how long it bakes under them after the last instance.
    #[serde(default)]
    pub alarms: crate::resources::AlarmConfig,
    /// While Baking: when the bake time ends and the deployment succeeds.
    #[serde(default)]
    pub bake_until: Option<Millis>,
    /// The group's triggers when it was created: where its notices go.
    #[serde(default)]
    pub triggers: Vec<crate::resources::Trigger>,
    /// Set while the server copies the revision's bytes in (S3, git): the
    /// deployment waits, Created or Queued, until its bundle is pinned
    /// ([`crate::machine::Input::BundleReady`]) or the copy fails
    /// ([`crate::machine::Input::BundleFailed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetching: Option<Fetching>,
    /// An ECS deployment (compute platform ECS): its one target is the
    /// service, and the server carries out every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<EcsDeployment>,
    /// The instances it deploys to, fixed when it was made (a launch
    /// deployment's joiners; CreateDeployment's updateOutdatedInstancesOnly).
    /// `None`: the group's instances when it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_instances: Option<Vec<String>>,
}

/// What an ECS deployment deploys, from its appspec and group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsDeployment {
    /// The ferry service (CodeDeploy's `ecsServices[0].serviceName`).
    pub service: String,
    /// CodeDeploy's `clusterName` (shown in the target id, `cluster:service`).
    pub cluster: String,
    /// The task definition the replacement task set runs (`family:revision`).
    pub task_definition: String,
    /// The container and port the load balancer reaches.
    pub container_name: String,
    pub container_port: u16,
    /// Hook event name → the function it calls (a URL, or a named hook function).
    pub hooks: Vec<(String, String)>,
    /// How production traffic moves to the replacement task set.
    pub routing: crate::config::TrafficRouting,
    /// How long the original task set is kept after the traffic moved.
    pub termination_wait_ms: u64,
}

impl EcsDeployment {
    /// CodeDeploy's target id of an ECS deployment.
    pub fn target_id(&self) -> String {
        format!("{}:{}", self.cluster, self.service)
    }

    /// The function the hook of `event` calls, if the appspec names one.
    pub fn hook(&self, event: crate::events::Event) -> Option<&str> {
        self.hooks.iter().find(|(e, _)| e == event.as_str()).map(|(_, f)| f.as_str())
    }
}

/// A revision copy in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetching {
    /// When the copy began.
    pub since: Millis,
}

impl Deployment {
    /// A Created in-place deployment of `events` on nothing yet, for tests.
    #[cfg(test)]
    pub(crate) fn fixture<E: Copy + Into<crate::events::Event>>(events: &[E]) -> Self {
        Self {
            id: "d-AAAAAAAAA".into(),
            application_name: "app".into(),
            group_name: "group".into(),
            group_id: "gid".into(),
            config_name: "custom".into(),
            minimum_healthy_hosts: MinimumHealthyHosts::HostCount(0),
            revision: RevisionRef { id: "r1".into(), summary: String::new(), bundle: None },
            previous_revision: None,
            creator: Creator::User,
            description: None,
            status: DeploymentStatus::Created,
            error: None,
            create_time: 0,
            start_time: None,
            complete_time: None,
            ignore_application_stop_failures: false,
            file_exists_behavior: None,
            auto_rollback: AutoRollback::default(),
            rollback_info: RollbackInfo::default(),
            stop: None,
            lifecycle_events: events.iter().map(|&e| e.into()).collect(),
            targets: Vec::new(),
            finalized: false,
            blue_green: None,
            alarms: Default::default(),
            bake_until: None,
            fetching: None,
            triggers: Vec::new(),
            ecs: None,
            only_instances: None,
        }
    }

    /// In place or blue/green: whether it has a blue/green plan.
    /// Who carries out `event` in this deployment: the server, for every
    /// event of an ECS deployment.
    pub fn runner(&self, event: crate::events::Event) -> crate::events::Runner {
        if self.ecs.is_some() { crate::events::Runner::Server } else { event.runner() }
    }

    pub fn deployment_type(&self) -> DeploymentType {
        if self.blue_green.is_some() { DeploymentType::BlueGreen } else { DeploymentType::InPlace }
    }

    pub fn overview(&self) -> Overview {
        let mut o = Overview::default();
        for t in &self.targets {
            match t.status {
                TargetStatus::Pending | TargetStatus::Unknown => o.pending += 1,
                TargetStatus::InProgress => o.in_progress += 1,
                TargetStatus::Succeeded => o.succeeded += 1,
                TargetStatus::Failed => o.failed += 1,
                TargetStatus::Skipped => o.skipped += 1,
                TargetStatus::Ready => o.ready += 1,
            }
        }
        o
    }

    pub fn target(&self, instance: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.instance == instance)
    }

    pub fn target_mut(&mut self, instance: &str) -> Option<&mut Target> {
        self.targets.iter_mut().find(|t| t.instance == instance)
    }
}
