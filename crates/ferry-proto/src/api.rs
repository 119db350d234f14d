//! The native API under `/api/v1/`, used by the `ferry` CLI.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /api/v1/applications` | [`CreateApplication`] | [`Application`] |
//! | `GET /api/v1/applications` | | `Vec<`[`Application`]`>` |
//! | `POST /api/v1/applications/{app}/groups` | [`CreateGroup`] | [`DeploymentGroup`] |
//! | `GET /api/v1/applications/{app}/groups` | | `Vec<`[`DeploymentGroup`]`>` |
//! | `GET /api/v1/applications/{app}/groups/{group}` | | [`DeploymentGroup`] |
//! | `POST /api/v1/applications/{app}/revisions?bundle_type=zip&description=…` | bundle bytes | [`Revision`] |
//! | `GET /api/v1/applications/{app}/revisions` | | `Vec<`[`Revision`]`>` |
//! | `POST /api/v1/deployments` | [`CreateDeployment`] | [`CreatedDeployment`] |
//! | `GET /api/v1/deployments?application=&group=&status=` | | `Vec<`[`DeploymentSummary`]`>` |
//! | `GET /api/v1/deployments/{id}` | | [`DeploymentView`] |
//! | `POST /api/v1/deployments/{id}/stop` | [`StopDeployment`] | [`StopResult`] |
//! | `GET /api/v1/instances` | | `Vec<`[`InstanceView`]`>` |
//! | `POST /api/v1/configs` | [`CreateConfig`] | [`DeploymentConfig`] |
//! | `GET /api/v1/configs` | | `Vec<`[`DeploymentConfig`]`>` |
//! | `POST /api/v1/target-groups` | [`CreateTargetGroup`] | [`TargetGroupView`] |
//! | `GET /api/v1/target-groups` | | `Vec<`[`TargetGroupView`]`>` |
//! | `GET /api/v1/target-groups/{name}` | | [`TargetGroupView`] (members with live health) |
//! | `DELETE /api/v1/target-groups/{name}` | | (no deployment group may use it) |
//! | `POST /api/v1/keys` (admin) | [`CreateKey`] | [`CreatedKey`] (the only answer with a secret) |
//! | `GET /api/v1/keys` (admin) | | `Vec<`[`KeyView`]`>` |
//! | `POST /api/v1/keys/{id}/revoke` (admin) | | [`KeyView`] |
//! | `POST /api/v1/build-projects` | [`CreateBuildProject`] | [`BuildProjectView`] |
//! | `GET /api/v1/build-projects` | | `Vec<`[`BuildProjectView`]`>` |
//! | `GET /api/v1/build-projects/{name}` | | [`BuildProjectView`] |
//! | `PUT /api/v1/build-projects/{name}` | [`UpdateBuildProject`] | [`BuildProjectView`] |
//! | `DELETE /api/v1/build-projects/{name}` | | `{}` (its builds stay) |
//! | `POST /api/v1/build-projects/{name}/sources?bundle_type=zip` | bundle bytes | [`UploadedSource`] |
//! | `POST /api/v1/build-projects/{name}/builds` | [`StartBuild`] | [`BuildView`] |
//! | `GET /api/v1/build-projects/{name}/builds?limit=` | | `Vec<`[`BuildView`]`>` (newest first) |
//! | `GET /api/v1/builds?project=&limit=` | | `Vec<`[`BuildView`]`>` (newest first) |
//! | `GET /api/v1/builds/{id}` | | [`BuildView`] |
//! | `POST /api/v1/builds/{id}/stop` | | [`BuildView`] |
//! | `POST /api/v1/builds/{id}/retry` | | [`BuildView`] (the new build) |
//! | `GET /api/v1/builds/{id}/log?from=N&wait=S` | | [`BuildLog`] (held up to S ≤ 30 s while there is nothing new) |
//! | `GET /api/v1/builds/{id}/artifacts/{name}` | | the artifact's zip (`primary` or a secondary identifier) |
//! | `GET /api/v1/builds/{id}/reports` | | `Vec<`[`BuildReportView`]`>` |
//!
//! Build ids hold a `:` (`<project>:<uuid>`): clients percent-encode it.
//!
//! Times are milliseconds since the Unix epoch. Errors are [`crate::ErrorBody`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Tag;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateApplication {
    pub name: String,
    /// `Server` (the default) or `ECS`.
    #[serde(default)]
    pub compute_platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub compute_platform: String,
    pub create_time: u64,
}

/// CodeDeploy's tag filter: `KEY_ONLY`, `VALUE_ONLY` or `KEY_AND_VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagFilter {
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(rename = "type", default = "key_and_value")]
    pub kind: String,
}

fn key_and_value() -> String {
    "KEY_AND_VALUE".into()
}

impl TagFilter {
    pub fn key_and_value(tag: &Tag) -> Self {
        Self { key: tag.key.clone(), value: tag.value.clone(), kind: key_and_value() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AutoRollbackConfig {
    pub enabled: bool,
    /// DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM, DEPLOYMENT_STOP_ON_REQUEST.
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CreateGroup {
    pub name: String,
    /// An instance matching ANY of these filters is a target.
    #[serde(default)]
    pub tag_filters: Vec<TagFilter>,
    /// An instance matching at least one filter of EVERY set is a target
    /// (CodeDeploy's tag set; exclusive with `tag_filters`).
    #[serde(default)]
    pub tag_set: Vec<Vec<TagFilter>>,
    #[serde(default)]
    pub deployment_config_name: Option<String>,
    #[serde(default)]
    pub auto_rollback: Option<AutoRollbackConfig>,
    /// Target groups whose traffic deployments move (in-place with traffic control).
    #[serde(default)]
    pub target_groups: Vec<String>,
    /// Deploy blue/green instead of in place (needs target groups).
    #[serde(default)]
    pub blue_green: Option<BlueGreenSettings>,
    /// Webhooks told of the group's deployment and instance events.
    #[serde(default)]
    pub triggers: Vec<TriggerConfig>,
    /// Alarms that stop the group's deployments.
    #[serde(default)]
    pub alarms: Option<AlarmSettings>,
    /// Instances that join the group get its last successful revision
    /// before they take traffic [default: true].
    #[serde(default)]
    pub update_new_instances: Option<bool>,
    /// Instances that join while a deployment runs: `UPDATE` (the newest
    /// good revision once it ends, the default) or `IGNORE` (the revision
    /// the group had when they joined).
    #[serde(default)]
    pub outdated_instances_strategy: Option<String>,
    /// A scaling group's host leaving on purpose runs the group's
    /// BeforeBlockTraffic, BlockTraffic, AfterBlockTraffic and
    /// ApplicationStop first (CodeDeploy's terminationHookEnabled).
    #[serde(default)]
    pub termination_hooks: Option<bool>,
}

/// A trigger: CodeDeploy's events (DeploymentStart, …, InstanceReady) POSTed to `url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerConfig {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
}

/// A group's alarms: names of alarms (`/api/v1/alarms`) watched while a
/// deployment runs and for `bake_time_ms` after its last instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AlarmSettings {
    pub alarms: Vec<String>,
    /// An alarm that cannot be evaluated does not stop the deployment.
    #[serde(default)]
    pub ignore_poll_alarm_failure: bool,
    #[serde(default)]
    pub bake_time_ms: u64,
    /// The Prometheus to ask, unless an alarm names its own (`None`: the server's).
    #[serde(default)]
    pub prometheus_url: Option<String>,
}

/// A named alarm: fires while the PromQL `expression` returns any sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    pub name: String,
    pub expression: String,
    /// `None`: the server's `--prometheus-url`.
    #[serde(default)]
    pub prometheus_url: Option<String>,
}

/// One audited call (`GET /api/v1/audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub time: u64,
    pub key_id: Option<String>,
    pub role: Option<String>,
    pub source: String,
    /// `native`, `aws`, `console` or `agent`.
    pub api: String,
    pub action: String,
    pub target: Option<String>,
    pub status: u16,
    pub error: Option<String>,
}

/// One trigger delivery and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub deployment_id: String,
    pub trigger_name: String,
    pub event: String,
    pub url: String,
    /// Pending, Delivered or Failed.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub create_time: u64,
    pub delivered_time: Option<u64>,
    pub next_attempt: Option<u64>,
}

/// One entry of the event stream (`GET /api/v1/events`, server-sent events
/// whose `id` is `seq` and whose `event` is `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub time: u64,
    pub kind: String,
    pub deployment_id: String,
    pub application_name: String,
    pub group_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_event: Option<String>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For build notices (`BuildStateChange`): the build's id, project and number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_number: Option<u64>,
}

/// A blue/green group's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlueGreenSettings {
    /// Wait this long for `ferry continue` once the replacement instances
    /// are installed (the deployment stops if nobody continues it);
    /// `None`: move traffic at once.
    #[serde(default)]
    pub ready_wait_ms: Option<u64>,
    /// Terminate the original instances this long after traffic left them;
    /// `None`: keep them (out of the load balancer).
    #[serde(default)]
    pub terminate_after_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentGroup {
    pub id: String,
    pub application_name: String,
    pub name: String,
    #[serde(default)]
    pub target_groups: Vec<String>,
    #[serde(default)]
    pub blue_green: Option<BlueGreenSettings>,
    #[serde(default)]
    pub triggers: Vec<TriggerConfig>,
    #[serde(default)]
    pub alarms: Option<AlarmSettings>,
    pub tag_filters: Vec<TagFilter>,
    pub tag_set: Vec<Vec<TagFilter>>,
    pub deployment_config_name: String,
    pub auto_rollback: AutoRollbackConfig,
    pub last_successful_deployment_id: Option<String>,
    pub last_successful_revision_id: Option<String>,
    /// Instances the group targets now.
    pub instances: Vec<String>,
    #[serde(default)]
    pub update_new_instances: bool,
    /// `UPDATE` or `IGNORE`.
    #[serde(default)]
    pub outdated_instances_strategy: String,
    #[serde(default)]
    pub termination_hooks: bool,
    /// How each instance the group knows stands.
    #[serde(default)]
    pub instance_states: Vec<GroupInstanceState>,
}

/// An instance of a deployment group and what its deployments left on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInstanceState {
    pub instance: String,
    /// `current` (the group's last successful revision), `joining` (waits
    /// for or runs its launch deployment), `outdated` (another revision),
    /// `failed` (its last deployment failed on it).
    pub standing: String,
    /// The revision the group's deployments installed on it.
    pub revision_id: Option<String>,
    /// The newest deployment of the group that targeted it.
    pub deployment_id: Option<String>,
    /// When the group first selected it (ms since the epoch).
    pub joined: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub id: String,
    pub application_name: String,
    pub bundle_type: String,
    pub sha256: String,
    pub size: u64,
    pub description: String,
    pub register_time: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CreateDeployment {
    pub application_name: String,
    pub group_name: String,
    /// Defaults to the application's newest revision.
    #[serde(default)]
    pub revision_id: Option<String>,
    /// Deploy the primary artifact of this build (it must have succeeded),
    /// instead of a revision.
    #[serde(default)]
    pub from_build: Option<String>,
    /// Defaults to the group's config.
    #[serde(default)]
    pub deployment_config_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub file_exists_behavior: Option<String>,
    #[serde(default)]
    pub ignore_application_stop_failures: bool,
    /// Overrides the group's auto-rollback configuration.
    #[serde(default)]
    pub auto_rollback: Option<AutoRollbackConfig>,
    /// Blue/green: the replacement fleet, instances with ANY of these tags
    /// (default: the group's instances not taking traffic).
    #[serde(default)]
    pub green_tag_filters: Vec<TagFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedDeployment {
    pub deployment_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StopDeployment {
    /// Roll back to the last successful revision once stopped.
    #[serde(default)]
    pub rollback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopResult {
    /// `Pending` while in-flight events finish, `Succeeded` when stopped.
    pub status: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Overview {
    pub pending: u32,
    pub in_progress: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub skipped: u32,
    pub ready: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentSummary {
    pub id: String,
    pub application_name: String,
    pub group_name: String,
    pub status: String,
    pub creator: String,
    pub create_time: u64,
    pub complete_time: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentView {
    pub id: String,
    pub application_name: String,
    pub group_name: String,
    pub deployment_config_name: String,
    pub revision_id: String,
    pub previous_revision_id: Option<String>,
    pub creator: String,
    pub description: Option<String>,
    pub status: String,
    pub error: Option<ErrorInfo>,
    pub create_time: u64,
    pub start_time: Option<u64>,
    pub complete_time: Option<u64>,
    pub overview: Overview,
    pub rollback_deployment_id: Option<String>,
    pub rollback_triggering_deployment_id: Option<String>,
    pub rollback_message: Option<String>,
    pub instances: Vec<InstanceTarget>,
    /// The target groups the deployment moves traffic in, as they are now.
    #[serde(default)]
    pub target_groups: Vec<TargetGroupView>,
    /// `IN_PLACE` or `BLUE_GREEN`.
    #[serde(default = "in_place")]
    pub deployment_type: String,
    #[serde(default)]
    pub blue_green: Option<BlueGreenView>,
    /// While the server copies the revision in (the deployment waits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetching: Option<FetchingView>,
}

/// A revision copy in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchingView {
    /// When it began (epoch milliseconds).
    pub since: u64,
    /// Bytes copied so far (when this server runs the copy).
    pub bytes: Option<u64>,
}

impl FetchingView {
    /// "copying the revision to the server: 12.0 MiB so far".
    pub fn describe(&self) -> String {
        match self.bytes {
            Some(bytes) => {
                format!("copying the revision to the server: {:.1} MiB so far", bytes as f64 / (1 << 20) as f64)
            }
            None => "copying the revision to the server".to_string(),
        }
    }
}

fn in_place() -> String {
    "IN_PLACE".into()
}

/// Where a blue/green deployment is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlueGreenView {
    /// Install, Ready, BeforeAllow, Shifting, AfterAllow, Block,
    /// TerminationWait, Terminating or Done.
    pub phase: String,
    /// Percent of production traffic on the replacement (green) instances.
    pub green_share: u32,
    /// When the Ready or termination wait ends.
    pub deadline: Option<u64>,
    /// `AllAtOnce`, `Canary P% then the rest after S s`, `Linear P% every S s`.
    pub routing: String,
    /// Whether this (a rollback) only moves traffic back.
    pub traffic_only: bool,
    /// The original instances retired so far: each left the deployment
    /// group; `terminated` ones were also terminated by the server's
    /// terminate command (and deregistered).
    #[serde(default)]
    pub retired: Vec<RetiredInstance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredInstance {
    pub instance: String,
    pub terminated: bool,
    pub time: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceTarget {
    pub instance: String,
    pub status: String,
    pub last_updated: u64,
    pub events: Vec<LifecycleEvent>,
    /// Blue/green: `Blue` (original) or `Green` (replacement).
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    pub name: String,
    pub status: String,
    pub start_time: Option<u64>,
    pub end_time: Option<u64>,
    pub diagnostics: Option<crate::agent::Diagnostics>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceView {
    pub name: String,
    pub tags: Vec<Tag>,
    pub register_time: u64,
    /// Whether an agent has enrolled for this instance.
    pub enrolled: bool,
    pub agent_version: Option<String>,
    pub last_seen: Option<u64>,
    /// Polled within the server's lost-host deadline.
    pub online: bool,
    /// The container engine its agent reported (`podman 4.3.1`): it runs
    /// service tasks. `None`: none, or not reported since the server started.
    #[serde(default)]
    pub container_engine: Option<String>,
}

/// `POST /api/v1/configs` creates a custom deployment config;
/// `GET /api/v1/configs` lists built-in and custom ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateConfig {
    pub name: String,
    /// `Server` (the default) or `ECS` (traffic routing only; the minimum is ignored).
    #[serde(default)]
    pub compute_platform: Option<String>,
    pub minimum_healthy_hosts: MinimumHealthyHosts,
    /// How blue/green deployments move traffic (default: all at once).
    #[serde(default)]
    pub traffic_routing: Option<TrafficRouting>,
}

/// `AllAtOnce`, `TimeBasedCanary` (percentage, then the rest after the
/// interval) or `TimeBasedLinear` (percentage more every interval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficRouting {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub percentage: u32,
    #[serde(default)]
    pub interval_seconds: u32,
}

/// `HOST_COUNT` (a number of hosts) or `FLEET_PERCENT` (0–99).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinimumHealthyHosts {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentConfig {
    pub id: String,
    pub name: String,
    pub compute_platform: String,
    pub minimum_healthy_hosts: Option<MinimumHealthyHosts>,
    #[serde(default)]
    pub traffic_routing: Option<TrafficRouting>,
    pub builtin: bool,
}

/// A new access key for the native API and the AWS API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateKey {
    /// `admin`, `deployer` or `read-only`.
    pub role: String,
    #[serde(default)]
    pub description: String,
    /// Deployer keys only: the applications (`app`) and groups
    /// (`app/group`) it may change (empty: all).
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedKey {
    pub access_key_id: String,
    /// Shown once: the server keeps it only to verify signatures.
    pub secret_access_key: String,
    pub role: String,
    pub description: String,
    pub create_time: u64,
}

/// An access key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    pub access_key_id: String,
    /// `admin`, `deployer`, `read-only` or `agent`.
    pub role: String,
    pub description: String,
    /// For agent keys: the instance.
    #[serde(default)]
    pub instance: Option<String>,
    pub create_time: u64,
    pub disabled: bool,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A load balancer's target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTargetGroup {
    pub name: String,
    /// The port on each instance that takes the traffic.
    pub port: u16,
    /// The built-in proxy: where it listens for production traffic …
    #[serde(default)]
    pub listen: Option<String>,
    /// … and for test traffic (test members only).
    #[serde(default)]
    pub test_listen: Option<String>,
    /// Or an HAProxy: its runtime API (`/path`, `unix:/path` or `ip:port`) and backend.
    #[serde(default)]
    pub haproxy_socket: Option<String>,
    #[serde(default)]
    pub haproxy_backend: Option<String>,
    #[serde(default = "default_health_path")]
    pub health_path: String,
    #[serde(default = "default_interval_ms")]
    pub health_interval_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub health_timeout_ms: u64,
    #[serde(default = "default_healthy")]
    pub healthy_threshold: u32,
    #[serde(default = "default_unhealthy")]
    pub unhealthy_threshold: u32,
    #[serde(default = "default_deregistration_delay_ms")]
    pub deregistration_delay_ms: u64,
    #[serde(default = "default_healthy_timeout_ms")]
    pub healthy_timeout_ms: u64,
}

fn default_health_path() -> String {
    "/".into()
}
fn default_interval_ms() -> u64 {
    5_000
}
fn default_timeout_ms() -> u64 {
    2_000
}
fn default_healthy() -> u32 {
    3
}
fn default_unhealthy() -> u32 {
    2
}
fn default_deregistration_delay_ms() -> u64 {
    30_000
}
fn default_healthy_timeout_ms() -> u64 {
    300_000
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupView {
    pub name: String,
    pub port: u16,
    /// `builtin` or `haproxy`.
    pub balancer: String,
    /// Built-in: the production and test listeners; HAProxy: socket and backend.
    pub listen: Option<String>,
    pub test_listen: Option<String>,
    pub haproxy_socket: Option<String>,
    pub haproxy_backend: Option<String>,
    pub health_path: String,
    pub health_interval_ms: u64,
    pub health_timeout_ms: u64,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub deregistration_delay_ms: u64,
    pub healthy_timeout_ms: u64,
    pub members: Vec<MemberView>,
    /// Why the live state could not be read, if it could not.
    #[serde(default)]
    pub balancer_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub instance: String,
    pub address: String,
    pub weight: u32,
    /// `ready`, `draining` or `removed` (what ferry wants).
    pub state: String,
    /// `healthy`, `unhealthy` or `unknown` (what the load balancer sees).
    pub health: String,
    pub in_flight: u64,
    /// Share of production traffic, in percent of the group's total weight.
    pub traffic_percent: u32,
    pub test: bool,
}

// ---------------------------------------------------------------------------
// Builds (issue #13): build projects and builds.

/// Where a build project's source comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BuildSourceSpec {
    /// No source: the buildspec must be inline.
    None,
    /// A git repository; `version` a branch, tag or commit (default: its default branch).
    Git {
        url: String,
        #[serde(default)]
        version: Option<String>,
    },
    /// A zip or tarball in S3.
    S3 { bucket: String, key: String },
    /// A bundle uploaded with each build (`ferry build start --source DIR`).
    Upload,
}

/// An environment variable of a project or a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildVariable {
    pub name: String,
    /// The value, or for `SECRET` the name of the ferry secret holding it.
    pub value: String,
    /// `PLAINTEXT` or `SECRET`.
    #[serde(rename = "type", default = "plaintext")]
    pub kind: String,
}

fn plaintext() -> String {
    "PLAINTEXT".into()
}

/// `POST /api/v1/build-projects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateBuildProject {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub source: BuildSourceSpec,
    /// A path in the source (default `buildspec.yml`), or the buildspec
    /// itself (a value holding a newline or starting with `version:`).
    #[serde(default)]
    pub buildspec: Option<String>,
    /// The container image (default: a fresh workspace on the build host).
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub variables: Vec<BuildVariable>,
    /// The build timeout, 5 to 2160 minutes (default 60).
    #[serde(default)]
    pub timeout_minutes: Option<u32>,
    /// How long a build may wait for a build host, 5 to 480 minutes (default 480).
    #[serde(default)]
    pub queued_timeout_minutes: Option<u32>,
    /// At most this many builds of the project at once (default: no limit).
    #[serde(default)]
    pub concurrent_build_limit: Option<u32>,
    /// Keep the buildspec's `cache.paths` between builds.
    #[serde(default)]
    pub cache: bool,
    /// Serve the project's build badge without authentication.
    #[serde(default)]
    pub badge: bool,
    /// Poll the git branch this often (seconds, 30 to 86400) and build new commits.
    #[serde(default)]
    pub poll_seconds: Option<u32>,
    /// Where every build status change is posted (EventBridge's JSON).
    #[serde(default)]
    pub notify: Vec<String>,
}

/// `PUT /api/v1/build-projects/{name}`: what is given changes, the rest stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UpdateBuildProject {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub source: Option<BuildSourceSpec>,
    /// `""` goes back to `buildspec.yml` in the source.
    #[serde(default)]
    pub buildspec: Option<String>,
    /// `""` builds in a workspace on the build host again.
    #[serde(default)]
    pub image: Option<String>,
    /// Replaces all the project's variables.
    #[serde(default)]
    pub variables: Option<Vec<BuildVariable>>,
    #[serde(default)]
    pub timeout_minutes: Option<u32>,
    #[serde(default)]
    pub queued_timeout_minutes: Option<u32>,
    /// `-1` removes the limit (as CodeBuild's UpdateProject).
    #[serde(default)]
    pub concurrent_build_limit: Option<i64>,
    #[serde(default)]
    pub cache: Option<bool>,
    #[serde(default)]
    pub badge: Option<bool>,
    /// `0` stops polling.
    #[serde(default)]
    pub poll_seconds: Option<u32>,
    /// Replaces the notification addresses (`[]` removes them).
    #[serde(default)]
    pub notify: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildProjectView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub source: BuildSourceSpec,
    pub buildspec: Option<String>,
    pub image: Option<String>,
    pub variables: Vec<BuildVariable>,
    pub timeout_minutes: u32,
    pub queued_timeout_minutes: u32,
    pub concurrent_build_limit: Option<u32>,
    pub cache: bool,
    /// Whether `/badges/builds/<name>.svg` is served.
    #[serde(default)]
    pub badge: bool,
    #[serde(default)]
    pub poll_seconds: Option<u32>,
    #[serde(default)]
    pub notify: Vec<String>,
    pub create_time: u64,
    pub last_modified: u64,
}

/// A source bundle already uploaded (`POST /api/v1/build-projects/{name}/sources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedSource {
    pub sha256: String,
    /// `zip`, `tar` or `tgz`.
    pub bundle_type: String,
    #[serde(default)]
    pub size: u64,
}

/// `POST /api/v1/build-projects/{name}/builds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StartBuild {
    /// A branch, tag, commit or `pr/N` (default: the project's).
    #[serde(default)]
    pub source_version: Option<String>,
    /// The uploaded source (required for `upload` projects).
    #[serde(default)]
    pub source: Option<UploadedSource>,
    /// Variables for this build only: each replaces the project's of that
    /// name or is added.
    #[serde(default)]
    pub variables: Vec<BuildVariable>,
}

/// One phase of a build (CodeBuild's names: SUBMITTED, QUEUED, PROVISIONING,
/// DOWNLOAD_SOURCE, INSTALL, PRE_BUILD, BUILD, POST_BUILD, UPLOAD_ARTIFACTS,
/// FINALIZING, COMPLETED).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildPhaseView {
    pub name: String,
    /// SUCCEEDED, FAILED, FAULT, TIMED_OUT, STOPPED; `None` while it runs.
    pub status: Option<String>,
    pub start_time: u64,
    pub end_time: Option<u64>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildArtifactView {
    /// `primary`, or the secondary artifact's identifier
    /// (`GET /api/v1/builds/{id}/artifacts/{name}` downloads it).
    pub name: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildView {
    /// `<project>:<uuid>` (percent-encode the `:` in paths).
    pub id: String,
    pub number: u64,
    pub project: String,
    /// QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, FAULT, TIMED_OUT or STOPPED.
    pub status: String,
    pub phases: Vec<BuildPhaseView>,
    /// The access key that started it, `webhook` or `codepipeline/<name>`.
    pub initiator: String,
    pub source_version: Option<String>,
    pub resolved_source_version: Option<String>,
    /// The source the build was started with (`upload`: its bundle).
    pub source: BuildSourceSpec,
    pub source_bundle: Option<UploadedSource>,
    pub buildspec: Option<String>,
    pub image: Option<String>,
    /// The build's variables (the project's with the build's overrides).
    pub variables: Vec<BuildVariable>,
    pub timeout_minutes: u32,
    pub queued_timeout_minutes: u32,
    pub queued_time: u64,
    pub start_time: Option<u64>,
    pub end_time: Option<u64>,
    /// The build host it ran on, and in what environment.
    pub host: Option<String>,
    pub environment: Option<String>,
    pub artifacts: Vec<BuildArtifactView>,
    pub exported_variables: Vec<NameValue>,
    /// A stop was asked for and the build host has not stopped it yet.
    pub stop_requested: bool,
}

/// `GET /api/v1/builds/{id}/log?from=N&wait=S`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildLog {
    /// Lines numbered `from` on, in order.
    pub lines: Vec<BuildLogLine>,
    /// The `from` of the next request.
    pub next: u64,
    /// The build had finished before these lines were read: once a
    /// request returns no lines and `finished`, the log is complete.
    pub finished: bool,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildLogLine {
    pub number: u64,
    pub text: String,
}

/// One test report of a build, parsed into cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildReportView {
    pub name: String,
    /// `JUNITXML`, `TESTNGXML` or `CUCUMBERJSON`.
    pub format: String,
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub error: u64,
    pub skipped: u64,
    pub unknown: u64,
    pub duration_ms: u64,
    /// Succeeded cases in percent of all cases, as CodeBuild's pass rate (0 with none).
    pub pass_rate: f64,
    pub cases: Vec<TestCaseView>,
    /// Report files that could not be read, with why.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCaseView {
    pub suite: String,
    pub prefix: String,
    pub name: String,
    /// SUCCEEDED, FAILED, ERROR, SKIPPED or UNKNOWN.
    pub status: String,
    pub duration_ms: Option<u64>,
    pub message: Option<String>,
}

/// `POST /api/v1/pipelines` and `PUT /api/v1/pipelines/{name}`: a pipeline
/// declaration as text, JSON (as `aws codepipeline get-pipeline` prints it)
/// or YAML, parsed and checked by the server; `file` names it in errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineText {
    pub file: String,
    pub text: String,
}

/// A pipeline as `aws codepipeline get-pipeline` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineView {
    pub pipeline: ferry_pipeline::PipelineDeclaration,
    pub metadata: PipelineMetadata,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineMetadata {
    pub name: String,
    pub version: u32,
    pub created: u64,
    pub updated: u64,
}

/// `POST /api/v1/pipelines/{name}/executions`: start an execution of the
/// pipeline's current version. Answered with [`PipelineExecutionStarted`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartPipelineExecution {
    /// Pipeline-level variables, overriding their defaults.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Source action name → the revision to fetch (a commit, an S3 object version).
    #[serde(default)]
    pub source_revisions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineExecutionStarted {
    pub execution_id: String,
}

/// `POST /api/v1/pipelines/{name}/executions/{id}/stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopPipelineExecution {
    /// STOP_AND_ABANDON: running actions are abandoned (their builds and
    /// deployments stopped) instead of waited for.
    #[serde(default)]
    pub abandon: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/v1/pipelines/{name}/executions/{id}/retry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPipelineStage {
    pub stage: String,
    /// ALL_ACTIONS instead of FAILED_ACTIONS.
    #[serde(default)]
    pub all_actions: bool,
}

/// `POST /api/v1/pipelines/{name}/approvals`: decide the manual approval
/// waiting in an action (the newest execution's, or the token's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub stage: String,
    pub action: String,
    pub approved: bool,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub token: Option<String>,
}

/// `POST /api/v1/pipelines/{name}/transitions`: enable or disable a
/// stage's inbound (or outbound) transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionChange {
    pub stage: String,
    #[serde(default)]
    pub outbound: bool,
    /// `Some`: disable, with this reason; `None`: enable.
    #[serde(default)]
    pub disable_reason: Option<String>,
}

/// A task definition revision (`/api/v1/task-definitions`): ECS's
/// `describe-task-definition` shape, with ferry's registration facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionView {
    pub task_definition: ferry_ecs::TaskDefinition,
    pub revision: u32,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    pub registered_at: u64,
}

/// `POST /api/v1/services`: a container service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateService {
    pub name: String,
    /// `FAMILY` (its newest ACTIVE revision) or `FAMILY:REVISION`.
    pub task_definition: String,
    pub desired_count: u32,
    /// Hosts that may run its tasks carry every one of these tags.
    #[serde(default)]
    pub hosts: Vec<Tag>,
    #[serde(default)]
    pub target_group: Option<String>,
    #[serde(default)]
    pub container_name: Option<String>,
    #[serde(default)]
    pub container_port: Option<u16>,
}

/// `PATCH /api/v1/services/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateService {
    #[serde(default)]
    pub desired_count: Option<u32>,
    #[serde(default)]
    pub task_definition: Option<String>,
}

/// A service with its tasks (live ones, then recently stopped ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    pub service: ferry_ecs::service::Service,
    pub tasks: Vec<ferry_ecs::service::Task>,
    /// Tasks running (and healthy where checked).
    pub running_count: u32,
    /// Tasks placed and not yet running.
    pub pending_count: u32,
}

/// `POST /api/v1/scaling-groups`: hosts ferry launches and terminates
/// through a provider (issue #16).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateScalingGroup {
    pub name: String,
    /// `command` (operator commands) or `local` (spare hosts of a `ferry fleet run`).
    pub provider: String,
    #[serde(default)]
    pub launch_command: Option<String>,
    #[serde(default)]
    pub terminate_command: Option<String>,
    /// The local provider's fleet directory (absolute).
    #[serde(default)]
    pub fleet_dir: Option<String>,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    /// Every launched host enrols with these tags.
    pub tags: Vec<Tag>,
    /// How long a launched host has to enrol [default: 10 minutes].
    #[serde(default)]
    pub launch_timeout_ms: Option<u64>,
    /// How long a host's agent may be silent before the host is replaced
    /// [default: twice the server's lost-agent limit].
    #[serde(default)]
    pub replace_after_ms: Option<u64>,
}

/// `PUT /api/v1/scaling-groups/{name}/capacity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetCapacity {
    pub desired: u32,
    #[serde(default)]
    pub min: Option<u32>,
    #[serde(default)]
    pub max: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingGroupView {
    pub name: String,
    pub provider: String,
    pub launch_command: Option<String>,
    pub terminate_command: Option<String>,
    pub fleet_dir: Option<String>,
    pub min: u32,
    pub desired: u32,
    pub max: u32,
    pub tags: Vec<Tag>,
    pub hosts: Vec<ScalingHostView>,
    /// Launches that failed in a row, and when the next may start.
    pub launch_failures: u32,
    pub launch_after: Option<u64>,
    pub launch_timeout_ms: u64,
    pub replace_after_ms: u64,
    /// Deleted: its hosts are being terminated.
    pub deleting: bool,
    pub create_time: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingHostView {
    pub name: String,
    /// `launching`, `in service` or `terminating`.
    pub state: String,
    pub launched: u64,
    /// When it entered its state.
    pub since: u64,
    /// Why it is terminating, or what went wrong.
    pub reason: Option<String>,
}
