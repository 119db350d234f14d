//! The shapes of CodeDeploy's JSON 1.1 protocol (botocore's
//! `codedeploy/2014-10-06/service-2.json`), for the operations ferry serves.
//!
//! Inputs derive `Deserialize` with every member optional (`#[serde(default)]`):
//! the handlers check what the model requires and answer with CodeDeploy's
//! exception names, which a missing-field serde error could not do. Outputs
//! derive `Serialize` and leave out what is absent. Timestamps are epoch
//! seconds with milliseconds ([`Timestamp`]), as AWS sends them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Epoch seconds (with a fractional part), as JSON numbers.
pub type Timestamp = f64;

// ---------------------------------------------------------------- shared shapes

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    #[serde(rename = "Key", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(rename = "Value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `TagFilter` and `EC2TagFilter` have the same members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TagFilter {
    #[serde(rename = "Key", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(rename = "Value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ec2TagSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_tag_set_list: Option<Vec<Vec<TagFilter>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnPremisesTagSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises_tag_set_list: Option<Vec<Vec<TagFilter>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoRollbackConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Alarm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlarmConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_poll_alarm_failure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<Vec<Alarm>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_target_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_events: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentStyle {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_option: Option<String>,
}

/// Settings ferry does not deploy (ECS services, zonal configs) are read
/// only to be refused with the right exception, so they stay untyped JSON.
pub type Opaque = serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlueGreenDeploymentConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminate_blue_instances_on_deployment_success: Option<BlueInstanceTerminationOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_ready_option: Option<DeploymentReadyOption>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub green_fleet_provisioning_option: Option<GreenFleetProvisioningOption>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlueInstanceTerminationOption {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_wait_time_in_minutes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentReadyOption {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_on_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_time_in_minutes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GreenFleetProvisioningOption {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NamedInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancerInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elb_info_list: Option<Vec<NamedInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_info_list: Option<Vec<NamedInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_pair_info_list: Option<Vec<Opaque>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MinimumHealthyHosts {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeBasedCanary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_percentage: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_interval: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeBasedLinear {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_percentage: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear_interval: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficRoutingConfig {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_based_canary: Option<TimeBasedCanary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_based_linear: Option<TimeBasedLinear>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitHubLocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_id: Option<String>,
}

/// `RawString` and `AppSpecContent` have the same members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawString {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevisionLocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_location: Option<S3Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_hub_location: Option<GitHubLocation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<RawString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_spec_content: Option<RawString>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetInstances {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_filters: Option<Vec<TagFilter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scaling_groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec2_tag_set: Option<Ec2TagSet>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    #[serde(default)]
    pub start: Option<Timestamp>,
    #[serde(default)]
    pub end: Option<Timestamp>,
}

// ---------------------------------------------------------------- output shapes

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationInfo {
    pub application_id: String,
    pub application_name: String,
    pub create_time: Timestamp,
    pub linked_to_git_hub: bool,
    pub compute_platform: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutoScalingGroup {
    pub name: String,
    /// The launch hook: ferry's launch deployments for the group.
    pub hook: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_hook: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LastDeploymentInfo {
    pub deployment_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    pub create_time: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentGroupInfo {
    pub application_name: String,
    pub deployment_group_id: String,
    pub deployment_group_name: String,
    pub deployment_config_name: String,
    pub ec2_tag_filters: Vec<TagFilter>,
    pub on_premises_instance_tag_filters: Vec<TagFilter>,
    pub auto_scaling_groups: Vec<AutoScalingGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<RevisionLocation>,
    pub trigger_configurations: Vec<TriggerConfig>,
    pub alarm_configuration: AlarmConfiguration,
    pub auto_rollback_configuration: AutoRollbackConfiguration,
    pub deployment_style: DeploymentStyle,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blue_green_deployment_configuration: Option<BlueGreenDeploymentConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer_info: Option<LoadBalancerInfo>,
    pub outdated_instances_strategy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_successful_deployment: Option<LastDeploymentInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempted_deployment: Option<LastDeploymentInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec2_tag_set: Option<Ec2TagSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_premises_tag_set: Option<OnPremisesTagSet>,
    pub compute_platform: String,
    pub termination_hook_enabled: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ecs_services: Vec<EcsServiceInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EcsServiceInfo {
    pub service_name: String,
    pub cluster_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfigInfo {
    pub deployment_config_id: String,
    pub deployment_config_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_healthy_hosts: Option<MinimumHealthyHosts>,
    pub create_time: Timestamp,
    pub compute_platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_routing_config: Option<TrafficRoutingConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInformation {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct DeploymentOverview {
    #[serde(rename = "Pending")]
    pub pending: u64,
    #[serde(rename = "InProgress")]
    pub in_progress: u64,
    #[serde(rename = "Succeeded")]
    pub succeeded: u64,
    #[serde(rename = "Failed")]
    pub failed: u64,
    #[serde(rename = "Skipped")]
    pub skipped: u64,
    #[serde(rename = "Ready")]
    pub ready: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RollbackInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_deployment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_triggering_deployment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentInfo {
    pub application_name: String,
    pub deployment_group_name: String,
    pub deployment_config_name: String,
    pub deployment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<RevisionLocation>,
    pub revision: RevisionLocation,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_information: Option<ErrorInformation>,
    pub create_time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<Timestamp>,
    pub deployment_overview: DeploymentOverview,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub creator: String,
    pub ignore_application_stop_failures: bool,
    pub auto_rollback_configuration: AutoRollbackConfiguration,
    pub update_outdated_instances_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_info: Option<RollbackInfo>,
    pub deployment_style: DeploymentStyle,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blue_green_deployment_configuration: Option<BlueGreenDeploymentConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_instances: Option<TargetInstances>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer_info: Option<LoadBalancerInfo>,
    pub instance_termination_wait_time_started: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_exists_behavior: Option<String>,
    pub deployment_status_messages: Vec<String>,
    pub compute_platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_alarm_configuration: Option<AlarmConfiguration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostics {
    pub error_code: String,
    pub script_name: String,
    pub message: String,
    pub log_tail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleEvent {
    pub lifecycle_event_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Diagnostics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTarget {
    pub deployment_id: String,
    pub target_id: String,
    pub target_arn: String,
    pub status: String,
    pub last_updated_at: Timestamp,
    pub lifecycle_events: Vec<LifecycleEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTarget {
    pub deployment_target_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_target: Option<InstanceTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs_target: Option<EcsTarget>,
}

/// An ECS deployment's target: the service, with its task sets.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EcsTarget {
    pub deployment_id: String,
    pub target_id: String,
    pub target_arn: String,
    pub last_updated_at: Timestamp,
    pub lifecycle_events: Vec<LifecycleEvent>,
    pub status: String,
    pub task_sets_info: Vec<EcsTaskSet>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EcsTaskSet {
    /// (The model spells it so.)
    pub identifer: String,
    pub desired_count: i64,
    pub pending_count: i64,
    pub running_count: i64,
    pub status: String,
    pub traffic_weight: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_group: Option<NamedInfo>,
    /// BLUE (the original) or GREEN (the replacement).
    pub task_set_label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InstanceSummary {
    pub deployment_id: String,
    pub instance_id: String,
    pub status: String,
    pub last_updated_at: Timestamp,
    pub lifecycle_events: Vec<LifecycleEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GenericRevisionInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub deployment_groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_used_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_time: Option<Timestamp>,
    pub register_time: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RevisionInfo {
    pub revision_location: RevisionLocation,
    pub generic_revision_info: GenericRevisionInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InstanceInfo {
    pub instance_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam_session_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam_user_arn: Option<String>,
    pub instance_arn: String,
    pub register_time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deregister_time: Option<Timestamp>,
    pub tags: Vec<Tag>,
}

// ---------------------------------------------------------------- operation inputs

// Each operation decodes into a struct with exactly the members its input
// shape has in the model (`model-inputs.json`, checked by a test), and an
// unknown member is refused: a request is read once, into the value its
// handler acts on and its permission check reads (`crate::request`).
macro_rules! input {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Deserialize, Default)]
        #[serde(rename_all = "camelCase", default, deny_unknown_fields)]
        pub struct $name {
            $(pub $field: $ty,)*
        }
    };
}

input!(CreateApplicationInput { application_name: Option<String>, compute_platform: Option<String>, tags: Option<Vec<Tag>> });
input!(ApplicationNameInput { application_name: Option<String> });
input!(BatchGetApplicationsInput { application_names: Option<Vec<String>> });
input!(NextTokenInput { next_token: Option<String> });
input!(UpdateApplicationInput { application_name: Option<String>, new_application_name: Option<String> });

input!(RegisterApplicationRevisionInput {
    application_name: Option<String>,
    description: Option<String>,
    revision: Option<RevisionLocation>,
});
input!(GetApplicationRevisionInput { application_name: Option<String>, revision: Option<RevisionLocation> });
input!(BatchGetApplicationRevisionsInput { application_name: Option<String>, revisions: Option<Vec<RevisionLocation>> });
input!(ListApplicationRevisionsInput {
    application_name: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    s3_bucket: Option<String>,
    s3_key_prefix: Option<String>,
    deployed: Option<String>,
    next_token: Option<String>,
});

/// The settings CreateDeploymentGroup and UpdateDeploymentGroup share, as
/// the handler applies them to a group.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupSettings<'a> {
    pub deployment_config_name: Option<&'a str>,
    pub ec2_tag_filters: Option<&'a [TagFilter]>,
    pub on_premises_instance_tag_filters: Option<&'a [TagFilter]>,
    pub auto_scaling_groups: Option<&'a [String]>,
    pub service_role_arn: Option<&'a str>,
    pub trigger_configurations: Option<&'a [TriggerConfig]>,
    pub alarm_configuration: Option<&'a AlarmConfiguration>,
    pub auto_rollback_configuration: Option<&'a AutoRollbackConfiguration>,
    pub outdated_instances_strategy: Option<&'a str>,
    pub deployment_style: Option<&'a DeploymentStyle>,
    pub blue_green_deployment_configuration: Option<&'a BlueGreenDeploymentConfiguration>,
    pub load_balancer_info: Option<&'a LoadBalancerInfo>,
    pub ec2_tag_set: Option<&'a Ec2TagSet>,
    pub ecs_services: Option<&'a [Opaque]>,
    pub on_premises_tag_set: Option<&'a OnPremisesTagSet>,
    pub termination_hook_enabled: Option<bool>,
}

macro_rules! group_input {
    ($name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        input!($name {
            $($field: $ty,)*
            deployment_config_name: Option<String>,
            ec2_tag_filters: Option<Vec<TagFilter>>,
            on_premises_instance_tag_filters: Option<Vec<TagFilter>>,
            auto_scaling_groups: Option<Vec<String>>,
            service_role_arn: Option<String>,
            trigger_configurations: Option<Vec<TriggerConfig>>,
            alarm_configuration: Option<AlarmConfiguration>,
            auto_rollback_configuration: Option<AutoRollbackConfiguration>,
            outdated_instances_strategy: Option<String>,
            deployment_style: Option<DeploymentStyle>,
            blue_green_deployment_configuration: Option<BlueGreenDeploymentConfiguration>,
            load_balancer_info: Option<LoadBalancerInfo>,
            ec2_tag_set: Option<Ec2TagSet>,
            ecs_services: Option<Vec<Opaque>>,
            on_premises_tag_set: Option<OnPremisesTagSet>,
            termination_hook_enabled: Option<bool>,
        });

        impl $name {
            pub fn settings(&self) -> GroupSettings<'_> {
                GroupSettings {
                    deployment_config_name: self.deployment_config_name.as_deref(),
                    ec2_tag_filters: self.ec2_tag_filters.as_deref(),
                    on_premises_instance_tag_filters: self.on_premises_instance_tag_filters.as_deref(),
                    auto_scaling_groups: self.auto_scaling_groups.as_deref(),
                    service_role_arn: self.service_role_arn.as_deref(),
                    trigger_configurations: self.trigger_configurations.as_deref(),
                    alarm_configuration: self.alarm_configuration.as_ref(),
                    auto_rollback_configuration: self.auto_rollback_configuration.as_ref(),
                    outdated_instances_strategy: self.outdated_instances_strategy.as_deref(),
                    deployment_style: self.deployment_style.as_ref(),
                    blue_green_deployment_configuration: self.blue_green_deployment_configuration.as_ref(),
                    load_balancer_info: self.load_balancer_info.as_ref(),
                    ec2_tag_set: self.ec2_tag_set.as_ref(),
                    ecs_services: self.ecs_services.as_deref(),
                    on_premises_tag_set: self.on_premises_tag_set.as_ref(),
                    termination_hook_enabled: self.termination_hook_enabled,
                }
            }
        }
    };
}

group_input!(CreateDeploymentGroupInput {
    application_name: Option<String>,
    deployment_group_name: Option<String>,
    tags: Option<Vec<Tag>>,
});
group_input!(UpdateDeploymentGroupInput {
    application_name: Option<String>,
    current_deployment_group_name: Option<String>,
    new_deployment_group_name: Option<String>,
});
input!(DeploymentGroupNameInput { application_name: Option<String>, deployment_group_name: Option<String> });
input!(BatchGetDeploymentGroupsInput { application_name: Option<String>, deployment_group_names: Option<Vec<String>> });
input!(ListDeploymentGroupsInput { application_name: Option<String>, next_token: Option<String> });

input!(CreateDeploymentConfigInput {
    deployment_config_name: Option<String>,
    minimum_healthy_hosts: Option<MinimumHealthyHosts>,
    traffic_routing_config: Option<TrafficRoutingConfig>,
    compute_platform: Option<String>,
    zonal_config: Option<Opaque>,
});
input!(DeploymentConfigNameInput { deployment_config_name: Option<String> });

input!(CreateDeploymentInput {
    application_name: Option<String>,
    deployment_group_name: Option<String>,
    revision: Option<RevisionLocation>,
    deployment_config_name: Option<String>,
    description: Option<String>,
    ignore_application_stop_failures: Option<bool>,
    target_instances: Option<TargetInstances>,
    auto_rollback_configuration: Option<AutoRollbackConfiguration>,
    update_outdated_instances_only: Option<bool>,
    file_exists_behavior: Option<String>,
    override_alarm_configuration: Option<AlarmConfiguration>,
});
input!(DeploymentIdInput { deployment_id: Option<String> });
input!(BatchGetDeploymentsInput { deployment_ids: Option<Vec<String>> });
input!(ListDeploymentsInput {
    application_name: Option<String>,
    deployment_group_name: Option<String>,
    external_id: Option<String>,
    include_only_statuses: Option<Vec<String>>,
    create_time_range: Option<TimeRange>,
    next_token: Option<String>,
});
input!(StopDeploymentInput { deployment_id: Option<String>, auto_rollback_enabled: Option<bool> });
input!(ContinueDeploymentInput { deployment_id: Option<String>, deployment_wait_type: Option<String> });

input!(DeploymentTargetInput { deployment_id: Option<String>, target_id: Option<String> });
input!(BatchGetDeploymentTargetsInput { deployment_id: Option<String>, target_ids: Option<Vec<String>> });
input!(ListDeploymentTargetsInput {
    deployment_id: Option<String>,
    next_token: Option<String>,
    target_filters: Option<BTreeMap<String, Vec<String>>>,
});
input!(DeploymentInstanceInput { deployment_id: Option<String>, instance_id: Option<String> });
input!(BatchGetDeploymentInstancesInput { deployment_id: Option<String>, instance_ids: Option<Vec<String>> });
input!(ListDeploymentInstancesInput {
    deployment_id: Option<String>,
    next_token: Option<String>,
    instance_status_filter: Option<Vec<String>>,
    instance_type_filter: Option<Vec<String>>,
});

input!(PutLifecycleEventHookExecutionStatusInput {
    deployment_id: Option<String>,
    lifecycle_event_hook_execution_id: Option<String>,
    status: Option<String>,
});

input!(RegisterOnPremisesInstanceInput {
    instance_name: Option<String>,
    iam_session_arn: Option<String>,
    iam_user_arn: Option<String>,
});
input!(InstanceNameInput { instance_name: Option<String> });
input!(InstanceTagsInput { tags: Option<Vec<Tag>>, instance_names: Option<Vec<String>> });
input!(BatchGetOnPremisesInstancesInput { instance_names: Option<Vec<String>> });
input!(ListOnPremisesInstancesInput {
    registration_status: Option<String>,
    tag_filters: Option<Vec<TagFilter>>,
    next_token: Option<String>,
});

// The tagging operations capitalise their members.
macro_rules! tagging_input {
    ($name:ident { $($field:ident as $wire:literal : $ty:ty),* $(,)? }) => {
        #[derive(Debug, Clone, PartialEq, Deserialize, Default)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $(#[serde(rename = $wire)] pub $field: $ty,)*
        }
    };
}

tagging_input!(TagResourceInput { resource_arn as "ResourceArn": Option<String>, tags as "Tags": Option<Vec<Tag>> });
tagging_input!(UntagResourceInput {
    resource_arn as "ResourceArn": Option<String>,
    tag_keys as "TagKeys": Option<Vec<String>>,
});
tagging_input!(ListTagsForResourceInput {
    resource_arn as "ResourceArn": Option<String>,
    next_token as "NextToken": Option<String>,
});

input!(GitHubTokenNameInput { token_name: Option<String> });
input!(ExternalIdInput { external_id: Option<String> });
