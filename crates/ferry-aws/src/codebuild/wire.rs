//! The shapes of CodeBuild's JSON 1.1 protocol (botocore's
//! `codebuild/2016-10-06/service-2.json`) for the operations ferry serves.
//!
//! Shapes that are both input and output (a project's source, artifacts,
//! environment, …) derive `Serialize` and `Deserialize`; every member is
//! optional and an unknown member is refused, so a handler checks what the
//! model requires ([`super::validate`]) and answers with CodeBuild's
//! exception names. Output-only shapes derive `Serialize` and leave out
//! what is absent. Timestamps are epoch seconds ([`Timestamp`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::wire::Timestamp;

// A shape read from requests and written in answers: every member optional,
// omitted when absent, unknown members refused. `name as "wire"` renames a
// member whose wire name is not the camelCase of the field (`type`).
macro_rules! shape {
    ($(#[$meta:meta])* $name:ident { $($field:ident $(as $wire:literal)? : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
        #[serde(rename_all = "camelCase", default, deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[serde(rename = $wire)])?
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }
    };
}

// ---------------------------------------------------------------- shared shapes

shape!(
    /// Where a build's source comes from.
    ProjectSource {
        kind as "type": String,
        location: String,
        git_clone_depth: i64,
        git_submodules_config: GitSubmodulesConfig,
        buildspec: String,
        auth: SourceAuth,
        report_build_status: bool,
        build_status_config: BuildStatusConfig,
        insecure_ssl: bool,
        source_identifier: String,
    }
);
shape!(GitSubmodulesConfig { fetch_submodules: bool });
shape!(SourceAuth { kind as "type": String, resource: String });
shape!(BuildStatusConfig { context: String, target_url: String });
shape!(ProjectSourceVersion { source_identifier: String, source_version: String });
shape!(
    /// Where a build's artifacts go.
    ProjectArtifacts {
        kind as "type": String,
        location: String,
        path: String,
        namespace_type: String,
        name: String,
        packaging: String,
        override_artifact_name: bool,
        encryption_disabled: bool,
        artifact_identifier: String,
        bucket_owner_access: String,
    }
);
shape!(ProjectCache { kind as "type": String, location: String, modes: Vec<String>, cache_namespace: String });
shape!(
    /// The build environment: image, compute type, variables.
    ProjectEnvironment {
        kind as "type": String,
        image: String,
        compute_type: String,
        compute_configuration: ComputeConfiguration,
        fleet: ProjectFleet,
        environment_variables: Vec<EnvironmentVariable>,
        privileged_mode: bool,
        certificate: String,
        registry_credential: RegistryCredential,
        image_pull_credentials_type: String,
        docker_server: DockerServer,
    }
);
shape!(ComputeConfiguration { v_cpu: i64, memory: i64, disk: i64, machine_type: String, instance_type: String });
shape!(ProjectFleet { fleet_arn: String });
shape!(
    /// `type` is PLAINTEXT (the default), PARAMETER_STORE or SECRETS_MANAGER.
    EnvironmentVariable { name: String, value: String, kind as "type": String }
);
shape!(RegistryCredential { credential: String, credential_provider: String });
shape!(DockerServer { compute_type: String, security_group_ids: Vec<String>, status: DockerServerStatus });
shape!(DockerServerStatus { status: String, message: String });
shape!(
    /// CodeBuild's tags are lower-case (`key`, `value`), unlike CodeDeploy's.
    Tag { key: String, value: String }
);
shape!(VpcConfig { vpc_id: String, subnets: Vec<String>, security_group_ids: Vec<String> });
shape!(LogsConfig { cloud_watch_logs: CloudWatchLogsConfig, s3_logs: S3LogsConfig });
shape!(CloudWatchLogsConfig { status: String, group_name: String, stream_name: String });
shape!(S3LogsConfig { status: String, location: String, encryption_disabled: bool, bucket_owner_access: String });
shape!(ProjectFileSystemLocation {
    kind as "type": String,
    location: String,
    mount_point: String,
    identifier: String,
    mount_options: String,
});
shape!(ProjectBuildBatchConfig {
    service_role: String,
    combine_artifacts: bool,
    restrictions: BatchRestrictions,
    timeout_in_mins: i64,
    batch_report_mode: String,
});
shape!(BatchRestrictions { maximum_builds_allowed: i64, compute_types_allowed: Vec<String>, fleets_allowed: Vec<String> });
shape!(ReportFilter { status: String });
shape!(TestCaseFilter { status: String, keyword: String });

// ---------------------------------------------------------------- operation inputs

// Each operation decodes into a struct with exactly the members its input
// shape has in the model (`codebuild-model-inputs.json`, checked by a test);
// an unknown member is refused.
macro_rules! input {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Deserialize, Default)]
        #[serde(rename_all = "camelCase", default, deny_unknown_fields)]
        pub struct $name {
            $(pub $field: Option<$ty>,)*
        }
    };
}

// CreateProject and UpdateProject have the same members.
macro_rules! project_input {
    ($name:ident) => {
        input!(
            /// A project's settings; on update, absent members keep their value.
            $name {
                name: String,
                description: String,
                source: ProjectSource,
                secondary_sources: Vec<ProjectSource>,
                source_version: String,
                secondary_source_versions: Vec<ProjectSourceVersion>,
                artifacts: ProjectArtifacts,
                secondary_artifacts: Vec<ProjectArtifacts>,
                cache: ProjectCache,
                environment: ProjectEnvironment,
                service_role: String,
                timeout_in_minutes: i64,
                queued_timeout_in_minutes: i64,
                encryption_key: String,
                tags: Vec<Tag>,
                vpc_config: VpcConfig,
                badge_enabled: bool,
                logs_config: LogsConfig,
                file_system_locations: Vec<ProjectFileSystemLocation>,
                build_batch_config: ProjectBuildBatchConfig,
                concurrent_build_limit: i64,
                auto_retry_limit: i64,
            }
        );
    };
}

project_input!(CreateProjectInput);
/// UpdateProject has exactly CreateProject's members (only `name` is
/// required); one type, so both are read by the same code.
pub type UpdateProjectInput = CreateProjectInput;
input!(ProjectNameInput { name: String });
input!(BatchGetProjectsInput { names: Vec<String> });
input!(ListProjectsInput { sort_by: String, sort_order: String, next_token: String });

input!(StartBuildInput {
    project_name: String,
    secondary_sources_override: Vec<ProjectSource>,
    secondary_sources_version_override: Vec<ProjectSourceVersion>,
    source_version: String,
    artifacts_override: ProjectArtifacts,
    secondary_artifacts_override: Vec<ProjectArtifacts>,
    environment_variables_override: Vec<EnvironmentVariable>,
    source_type_override: String,
    source_location_override: String,
    source_auth_override: SourceAuth,
    git_clone_depth_override: i64,
    git_submodules_config_override: GitSubmodulesConfig,
    buildspec_override: String,
    insecure_ssl_override: bool,
    report_build_status_override: bool,
    build_status_config_override: BuildStatusConfig,
    environment_type_override: String,
    image_override: String,
    compute_type_override: String,
    certificate_override: String,
    cache_override: ProjectCache,
    service_role_override: String,
    privileged_mode_override: bool,
    timeout_in_minutes_override: i64,
    queued_timeout_in_minutes_override: i64,
    encryption_key_override: String,
    idempotency_token: String,
    logs_config_override: LogsConfig,
    registry_credential_override: RegistryCredential,
    image_pull_credentials_type_override: String,
    debug_session_enabled: bool,
    fleet_override: ProjectFleet,
    auto_retry_limit_override: i64,
});
input!(BuildIdsInput { ids: Vec<String> });
input!(ListBuildsInput { sort_order: String, next_token: String });
input!(ListBuildsForProjectInput { project_name: String, sort_order: String, next_token: String });
input!(StopBuildInput { id: String });
input!(RetryBuildInput { id: String, idempotency_token: String });

input!(ListReportsInput { sort_order: String, next_token: String, max_results: i64, filter: ReportFilter });
input!(BatchGetReportsInput { report_arns: Vec<String> });
input!(DescribeTestCasesInput { report_arn: String, next_token: String, max_results: i64, filter: TestCaseFilter });
input!(ListReportGroupsInput { sort_order: String, sort_by: String, next_token: String, max_results: i64 });
input!(BatchGetReportGroupsInput { report_group_arns: Vec<String> });
input!(ListReportsForReportGroupInput {
    report_group_arn: String,
    next_token: String,
    sort_order: String,
    max_results: i64,
    filter: ReportFilter,
});

// ---------------------------------------------------------------- output shapes

/// A build project as BatchGetProjects, CreateProject and UpdateProject return it.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub name: String,
    pub arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub source: ProjectSource,
    pub secondary_sources: Vec<ProjectSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    pub secondary_source_versions: Vec<ProjectSourceVersion>,
    pub artifacts: ProjectArtifacts,
    pub secondary_artifacts: Vec<ProjectArtifacts>,
    pub cache: ProjectCache,
    pub environment: ProjectEnvironment,
    /// Accepted and not kept (ferry has no IAM): absent in answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    pub timeout_in_minutes: i64,
    pub queued_timeout_in_minutes: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
    pub tags: Vec<Tag>,
    pub created: Timestamp,
    pub last_modified: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    pub badge: ProjectBadge,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_config: Option<LogsConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrent_build_limit: Option<i64>,
    pub project_visibility: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_retry_limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProjectBadge {
    pub badge_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub badge_request_url: Option<String>,
}

/// A project's webhook. The model's `secret` member is deliberately not
/// here: AWS shows it only when the webhook is created, and an answer
/// built from this struct cannot leak it.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_filter: Option<String>,
    pub filter_groups: Vec<Vec<WebhookFilter>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_secret: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WebhookFilter {
    #[serde(rename = "type")]
    pub kind: String,
    pub pattern: String,
    pub exclude_matched_pattern: bool,
}

/// One build as StartBuild, StopBuild, RetryBuild and BatchGetBuilds return it.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Build {
    /// `<project>:<uuid>`.
    pub id: String,
    pub arn: String,
    pub build_number: i64,
    pub start_time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    /// The phase in progress, or `COMPLETED`.
    pub current_phase: String,
    pub build_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_source_version: Option<String>,
    pub project_name: String,
    pub phases: Vec<BuildPhase>,
    pub source: ProjectSource,
    pub secondary_sources: Vec<ProjectSource>,
    pub secondary_source_versions: Vec<ProjectSourceVersion>,
    pub artifacts: BuildArtifacts,
    pub secondary_artifacts: Vec<BuildArtifacts>,
    pub cache: ProjectCache,
    pub environment: ProjectEnvironment,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_role: Option<String>,
    pub logs: LogsLocation,
    pub timeout_in_minutes: i64,
    pub queued_timeout_in_minutes: i64,
    pub build_complete: bool,
    pub initiator: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
    pub exported_environment_variables: Vec<ExportedEnvironmentVariable>,
    pub report_arns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_retry_config: Option<AutoRetryConfig>,
}

/// One phase of a build. `durationInSeconds` and `endTime` are absent
/// while the phase runs; `contexts` say why a phase failed.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BuildPhase {
    pub phase_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase_status: Option<String>,
    pub start_time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_in_seconds: Option<i64>,
    pub contexts: Vec<PhaseContext>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PhaseContext {
    pub status_code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BuildArtifacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256sum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5sum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_artifact_name: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_identifier: Option<String>,
}

/// Where a build's log is: ferry serves it itself, so `deepLink` is a URL
/// of ferry's and the CloudWatch members name ferry's log of the build.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LogsLocation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deep_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs: Option<CloudWatchLogsConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_logs: Option<S3LogsConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExportedEnvironmentVariable {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutoRetryConfig {
    pub auto_retry_limit: i64,
    pub auto_retry_number: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_auto_retry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_auto_retry: Option<String>,
}

/// One test report of a build (BatchGetReports).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub arn: String,
    /// `TEST` (ferry makes no `CODE_COVERAGE` reports).
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub report_group_arn: String,
    /// The build's ARN.
    pub execution_id: String,
    pub status: String,
    pub created: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired: Option<Timestamp>,
    pub export_config: ReportExportConfig,
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_summary: Option<TestReportSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReportExportConfig {
    pub export_config_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_destination: Option<S3ReportExportConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct S3ReportExportConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packaging: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_disabled: Option<bool>,
}

/// Counts of test cases by status (`SUCCEEDED`, `FAILED`, `ERROR`,
/// `SKIPPED`, `UNKNOWN`) and the total duration.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TestReportSummary {
    pub total: i64,
    pub status_counts: BTreeMap<String, i64>,
    pub duration_in_nano_seconds: i64,
}

/// One test case of a report (DescribeTestCases).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TestCase {
    pub report_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_raw_data_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    pub name: String,
    pub status: String,
    pub duration_in_nano_seconds: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_suite_name: Option<String>,
}

/// A report group (BatchGetReportGroups): made by a buildspec's `reports`
/// section, named `<project>-<report group>` as CodeBuild names them.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReportGroup {
    pub arn: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub export_config: ReportExportConfig,
    pub created: Timestamp,
    pub last_modified: Timestamp,
    pub tags: Vec<Tag>,
    pub status: String,
}

// ---------------------------------------------------------------- operation outputs

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ProjectOutput {
    pub project: Project,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct BuildOutput {
    pub build: Build,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetProjectsOutput {
    pub projects: Vec<Project>,
    pub projects_not_found: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetBuildsOutput {
    pub builds: Vec<Build>,
    pub builds_not_found: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetReportsOutput {
    pub reports: Vec<Report>,
    pub reports_not_found: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BatchGetReportGroupsOutput {
    pub report_groups: Vec<ReportGroup>,
    pub report_groups_not_found: Vec<String>,
}

/// ListProjects.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProjectNamesOutput {
    pub projects: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListBuilds and ListBuildsForProject.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BuildIdsOutput {
    pub ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListReports and ListReportsForReportGroup.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReportArnsOutput {
    pub reports: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReportGroupArnsOutput {
    pub report_groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTestCasesOutput {
    pub test_cases: Vec<TestCase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}
