//! The shapes of CodePipeline's JSON 1.1 protocol (botocore's
//! `codepipeline/2015-07-09/service-2.json`) for the operations ferry serves.
//!
//! Every struct is named as its shape in the model. Input shapes (and the
//! pipeline declaration, which is both read and answered) derive
//! `Deserialize` and `Serialize` with every member optional and unknown
//! members refused: a missing member is the model's `ValidationException`
//! ([`super::validate`]), never a serde error. Output-only shapes derive
//! `Serialize`; members the model requires are plain fields, the others are
//! left out when absent. Timestamps are epoch seconds ([`Timestamp`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::wire::Timestamp;

/// `configuration`, `outputVariables`, `queryParam`, resolved configurations.
pub type StringMap = BTreeMap<String, String>;

// A shape read from requests (and maybe written in answers): every member
// optional, omitted when absent, unknown members refused. `name as "wire"`
// renames a member whose wire name is not the camelCase of the field.
macro_rules! shape {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident $(as $wire:literal)? : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
        #[serde(rename_all = "camelCase", default, deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                $(#[serde(rename = $wire)])?
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }
    };
}

// A shape only written in answers: the members before `;` are required by
// the model (always written), those after it optional (left out when absent).
macro_rules! output {
    ($(#[$meta:meta])* $name:ident {
        $($(#[$rmeta:meta])* $req:ident $(as $rwire:literal)? : $rty:ty),* ;
        $($(#[$ometa:meta])* $opt:ident $(as $owire:literal)? : $oty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Default)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $(
                $(#[$rmeta])*
                $(#[serde(rename = $rwire)])?
                pub $req: $rty,
            )*
            $(
                $(#[$ometa])*
                $(#[serde(rename = $owire)])?
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $opt: Option<$oty>,
            )*
        }
    };
}

// ---------------------------------------------------------------- the pipeline declaration

shape!(
    /// A pipeline as CreatePipeline and UpdatePipeline take it and
    /// GetPipeline answers it (`aws codepipeline get-pipeline`).
    PipelineDeclaration {
        name: String,
        role_arn: String,
        artifact_store: ArtifactStore,
        /// Per-region stores (cross-region actions), instead of `artifactStore`.
        artifact_stores: BTreeMap<String, ArtifactStore>,
        stages: Vec<StageDeclaration>,
        version: i64,
        /// QUEUED, SUPERSEDED (the default) or PARALLEL.
        execution_mode: String,
        /// V1 or V2.
        pipeline_type: String,
        variables: Vec<PipelineVariableDeclaration>,
        triggers: Vec<PipelineTriggerDeclaration>,
    }
);
shape!(ArtifactStore { kind as "type": String, location: String, encryption_key: EncryptionKey });
shape!(EncryptionKey { id: String, kind as "type": String });
shape!(StageDeclaration {
    name: String,
    blockers: Vec<BlockerDeclaration>,
    actions: Vec<ActionDeclaration>,
    on_failure: FailureConditions,
    on_success: SuccessConditions,
    before_entry: BeforeEntryConditions,
});
shape!(BlockerDeclaration { name: String, kind as "type": String });
shape!(
    /// One action of a stage.
    ActionDeclaration {
        name: String,
        action_type_id: ActionTypeId,
        run_order: i64,
        configuration: StringMap,
        commands: Vec<String>,
        output_artifacts: Vec<OutputArtifact>,
        input_artifacts: Vec<InputArtifact>,
        output_variables: Vec<String>,
        role_arn: String,
        region: String,
        namespace: String,
        timeout_in_minutes: i64,
        environment_variables: Vec<EnvironmentVariable>,
    }
);
shape!(
    /// `category`, `owner` (AWS, ThirdParty, Custom), `provider`, `version`.
    ActionTypeId { category: String, owner: String, provider: String, version: String }
);
shape!(InputArtifact { name: String });
shape!(OutputArtifact { name: String, files: Vec<String> });
shape!(EnvironmentVariable { name: String, value: String, kind as "type": String });
shape!(FailureConditions { result: String, retry_configuration: RetryConfiguration, conditions: Vec<Condition> });
shape!(RetryConfiguration { retry_mode: String });
shape!(SuccessConditions { conditions: Vec<Condition> });
shape!(BeforeEntryConditions { conditions: Vec<Condition> });
shape!(Condition { result: String, rules: Vec<RuleDeclaration> });
shape!(RuleDeclaration {
    name: String,
    rule_type_id: RuleTypeId,
    configuration: StringMap,
    commands: Vec<String>,
    input_artifacts: Vec<InputArtifact>,
    role_arn: String,
    region: String,
    timeout_in_minutes: i64,
});
shape!(RuleTypeId { category: String, owner: String, provider: String, version: String });
shape!(PipelineVariableDeclaration { name: String, default_value: String, description: String });
shape!(
    /// A V2 trigger: git push and pull-request filters on a source action.
    PipelineTriggerDeclaration { provider_type: String, git_configuration: GitConfiguration }
);
shape!(GitConfiguration {
    source_action_name: String,
    push: Vec<GitPushFilter>,
    pull_request: Vec<GitPullRequestFilter>,
});
shape!(GitPushFilter {
    tags: GitTagFilterCriteria,
    branches: GitBranchFilterCriteria,
    file_paths: GitFilePathFilterCriteria,
});
shape!(GitPullRequestFilter {
    events: Vec<String>,
    branches: GitBranchFilterCriteria,
    file_paths: GitFilePathFilterCriteria,
});
shape!(GitBranchFilterCriteria { includes: Vec<String>, excludes: Vec<String> });
shape!(GitFilePathFilterCriteria { includes: Vec<String>, excludes: Vec<String> });
shape!(GitTagFilterCriteria { includes: Vec<String>, excludes: Vec<String> });
shape!(
    /// CodePipeline's tags are lower-case (`key`, `value`), as CodeBuild's.
    Tag { key: String, value: String }
);

// ---------------------------------------------------------------- other input shapes

shape!(PipelineVariable { name: String, value: String });
shape!(SourceRevisionOverride { action_name: String, revision_type: String, revision_value: String });
shape!(PipelineExecutionFilter { succeeded_in_stage: SucceededInStageFilter });
shape!(SucceededInStageFilter { stage_name: String });
shape!(ActionExecutionFilter {
    pipeline_execution_id: String,
    latest_in_pipeline_execution: LatestInPipelineExecutionFilter,
});
shape!(LatestInPipelineExecutionFilter { pipeline_execution_id: String, start_time_range: String });
shape!(
    /// `status` Approved or Rejected, with a summary.
    ApprovalResult { summary: String, status: String }
);
shape!(CurrentRevision { revision: String, change_identifier: String, created: Timestamp, revision_summary: String });
shape!(ExecutionDetails { summary: String, external_execution_id: String, percent_complete: i64 });
shape!(FailureDetails { kind as "type": String, message: String, external_execution_id: String });

// ---------------------------------------------------------------- operation inputs

// Each operation decodes into the struct named as its input shape, with
// exactly its members (`codepipeline-model-inputs.json`, checked by a test).
shape!(CreatePipelineInput { pipeline: PipelineDeclaration, tags: Vec<Tag> });
shape!(GetPipelineInput { name: String, version: i64 });
shape!(UpdatePipelineInput { pipeline: PipelineDeclaration });
shape!(DeletePipelineInput { name: String });
shape!(ListPipelinesInput { next_token: String, max_results: i64 });
shape!(StartPipelineExecutionInput {
    name: String,
    variables: Vec<PipelineVariable>,
    client_request_token: String,
    source_revisions: Vec<SourceRevisionOverride>,
});
shape!(StopPipelineExecutionInput {
    pipeline_name: String,
    pipeline_execution_id: String,
    abandon: bool,
    reason: String,
});
shape!(GetPipelineStateInput { name: String });
shape!(GetPipelineExecutionInput { pipeline_name: String, pipeline_execution_id: String });
shape!(ListPipelineExecutionsInput {
    pipeline_name: String,
    max_results: i64,
    filter: PipelineExecutionFilter,
    next_token: String,
});
shape!(ListActionExecutionsInput {
    pipeline_name: String,
    filter: ActionExecutionFilter,
    max_results: i64,
    next_token: String,
});
shape!(RetryStageExecutionInput {
    pipeline_name: String,
    stage_name: String,
    pipeline_execution_id: String,
    /// FAILED_ACTIONS or ALL_ACTIONS.
    retry_mode: String,
});
shape!(PutApprovalResultInput {
    pipeline_name: String,
    stage_name: String,
    action_name: String,
    result: ApprovalResult,
    token: String,
});
shape!(EnableStageTransitionInput { pipeline_name: String, stage_name: String, transition_type: String });
shape!(DisableStageTransitionInput {
    pipeline_name: String,
    stage_name: String,
    /// Inbound or Outbound.
    transition_type: String,
    reason: String,
});
shape!(ListActionTypesInput { action_owner_filter: String, next_token: String, region_filter: String });
shape!(PollForJobsInput { action_type_id: ActionTypeId, max_batch_size: i64, query_param: StringMap });
shape!(AcknowledgeJobInput { job_id: String, nonce: String });
shape!(PutJobSuccessResultInput {
    job_id: String,
    current_revision: CurrentRevision,
    continuation_token: String,
    execution_details: ExecutionDetails,
    output_variables: StringMap,
});
shape!(PutJobFailureResultInput { job_id: String, failure_details: FailureDetails });
shape!(GetJobDetailsInput { job_id: String });
shape!(TagResourceInput { resource_arn: String, tags: Vec<Tag> });
shape!(UntagResourceInput { resource_arn: String, tag_keys: Vec<String> });
shape!(ListTagsForResourceInput { resource_arn: String, next_token: String, max_results: i64 });

// ---------------------------------------------------------------- output shapes: pipelines

output!(
    /// GetPipeline's `metadata`.
    PipelineMetadata {;
        pipeline_arn: String,
        created: Timestamp,
        updated: Timestamp,
        polling_disabled_at: Timestamp,
    }
);
output!(
    /// One pipeline of ListPipelines.
    PipelineSummary {;
        name: String,
        version: i64,
        pipeline_type: String,
        execution_mode: String,
        created: Timestamp,
        updated: Timestamp,
    }
);

// ---------------------------------------------------------------- output shapes: state

output!(
    /// One stage of GetPipelineState.
    StageState {;
        stage_name: String,
        inbound_execution: StageExecution,
        inbound_executions: Vec<StageExecution>,
        inbound_transition_state: TransitionState,
        action_states: Vec<ActionState>,
        latest_execution: StageExecution,
        retry_stage_metadata: RetryStageMetadata,
    }
);
output!(
    /// An execution in (or waiting in front of) a stage.
    StageExecution {
        pipeline_execution_id: String,
        /// Cancelled, InProgress, Failed, Stopped, Stopping, Succeeded, Skipped.
        status: String;
        /// STANDARD or ROLLBACK.
        kind as "type": String,
    }
);
output!(
    /// Whether executions may enter a stage, and why not.
    TransitionState {;
        enabled: bool,
        last_changed_by: String,
        last_changed_at: Timestamp,
        disabled_reason: String,
    }
);
output!(RetryStageMetadata {;
    auto_stage_retry_attempt: i64,
    manual_stage_retry_attempt: i64,
    latest_retry_trigger: String,
});
output!(ActionState {;
    action_name: String,
    current_revision: ActionRevision,
    latest_execution: ActionExecution,
    entity_url: String,
    revision_url: String,
});
output!(ActionRevision { revision_id: String, revision_change_id: String, created: Timestamp; });
output!(
    /// An action's latest execution; `token` is what PutApprovalResult
    /// takes for a manual approval waiting for its answer.
    ActionExecution {;
        action_execution_id: String,
        /// InProgress, Abandoned, Succeeded, Failed.
        status: String,
        summary: String,
        last_status_change: Timestamp,
        token: String,
        last_updated_by: String,
        external_execution_id: String,
        external_execution_url: String,
        percent_complete: i64,
        error_details: ErrorDetails,
        log_stream_arn as "logStreamARN": String,
    }
);
output!(ErrorDetails {; code: String, message: String });

// ---------------------------------------------------------------- output shapes: executions

output!(
    /// GetPipelineExecution's `pipelineExecution`.
    PipelineExecution {;
        pipeline_name: String,
        pipeline_version: i64,
        pipeline_execution_id: String,
        /// Cancelled, InProgress, Stopped, Stopping, Succeeded, Superseded, Failed.
        status: String,
        status_summary: String,
        artifact_revisions: Vec<ArtifactRevision>,
        variables: Vec<ResolvedPipelineVariable>,
        trigger: ExecutionTrigger,
        execution_mode: String,
        execution_type: String,
        rollback_metadata: PipelineRollbackMetadata,
    }
);
output!(ArtifactRevision {;
    name: String,
    revision_id: String,
    revision_change_identifier: String,
    revision_summary: String,
    created: Timestamp,
    revision_url: String,
});
output!(ResolvedPipelineVariable {; name: String, resolved_value: String });
output!(
    /// What started an execution: `triggerType` (CreatePipeline,
    /// StartPipelineExecution, PollForSourceChanges, Webhook, WebhookV2, …)
    /// and a detail (a user, a commit).
    ExecutionTrigger {; trigger_type: String, trigger_detail: String }
);
output!(PipelineRollbackMetadata {; rollback_target_pipeline_execution_id: String });
output!(
    /// One execution of ListPipelineExecutions.
    PipelineExecutionSummary {;
        pipeline_execution_id: String,
        status: String,
        status_summary: String,
        start_time: Timestamp,
        last_update_time: Timestamp,
        source_revisions: Vec<SourceRevision>,
        trigger: ExecutionTrigger,
        stop_trigger: StopExecutionTrigger,
        execution_mode: String,
        execution_type: String,
        rollback_metadata: PipelineRollbackMetadata,
    }
);
output!(SourceRevision {
    action_name: String;
    revision_id: String,
    revision_summary: String,
    revision_url: String,
});
output!(StopExecutionTrigger {; reason: String });
output!(
    /// One action execution of ListActionExecutions.
    ActionExecutionDetail {;
        pipeline_execution_id: String,
        action_execution_id: String,
        pipeline_version: i64,
        stage_name: String,
        action_name: String,
        start_time: Timestamp,
        last_update_time: Timestamp,
        updated_by: String,
        status: String,
        input: ActionExecutionInput,
        output: ActionExecutionOutput,
    }
);
output!(ActionExecutionInput {;
    action_type_id: ActionTypeId,
    configuration: StringMap,
    /// The configuration with its variables (`#{…}`) resolved.
    resolved_configuration: StringMap,
    role_arn: String,
    region: String,
    input_artifacts: Vec<ArtifactDetail>,
    namespace: String,
});
output!(ActionExecutionOutput {;
    output_artifacts: Vec<ArtifactDetail>,
    execution_result: ActionExecutionResult,
    output_variables: StringMap,
});
output!(ActionExecutionResult {;
    external_execution_id: String,
    external_execution_summary: String,
    external_execution_url: String,
    error_details: ErrorDetails,
    log_stream_arn as "logStreamARN": String,
});
output!(
    /// The model spells this member `s3location`.
    ArtifactDetail {; name: String, s3location as "s3location": S3Location }
);
output!(S3Location {; bucket: String, key: String });

// ---------------------------------------------------------------- output shapes: action types and jobs

output!(
    /// One action type of ListActionTypes.
    ActionType {
        id: ActionTypeId,
        input_artifact_details: ArtifactDetails,
        output_artifact_details: ArtifactDetails;
        settings: ActionTypeSettings,
        action_configuration_properties: Vec<ActionConfigurationProperty>,
    }
);
output!(ArtifactDetails { minimum_count: i64, maximum_count: i64; });
output!(ActionTypeSettings {;
    third_party_configuration_url: String,
    entity_url_template: String,
    execution_url_template: String,
    revision_url_template: String,
});
output!(ActionConfigurationProperty {
    name: String,
    required: bool,
    key: bool,
    secret: bool;
    queryable: bool,
    description: String,
    /// String, Number or Boolean.
    kind as "type": String,
});
output!(
    /// A job for a custom action's worker (PollForJobs).
    Job {; id: String, data: JobData, nonce: String, account_id: String }
);
output!(
    /// GetJobDetails' `jobDetails`.
    JobDetails {; id: String, data: JobData, account_id: String }
);
output!(JobData {;
    action_type_id: ActionTypeId,
    action_configuration: ActionConfiguration,
    pipeline_context: PipelineContext,
    input_artifacts: Vec<Artifact>,
    output_artifacts: Vec<Artifact>,
    artifact_credentials: AWSSessionCredentials,
    continuation_token: String,
    encryption_key: EncryptionKey,
});
output!(ActionConfiguration {; configuration: StringMap });
output!(PipelineContext {;
    pipeline_name: String,
    stage: StageContext,
    action: ActionContext,
    pipeline_arn: String,
    pipeline_execution_id: String,
});
output!(StageContext {; name: String });
output!(ActionContext {; name: String, action_execution_id: String });
output!(Artifact {; name: String, revision: String, location: ArtifactLocation });
output!(ArtifactLocation {; kind as "type": String, s3_location: S3ArtifactLocation });
output!(S3ArtifactLocation { bucket_name: String, object_key: String; });
output!(
    /// Credentials a job worker fetches its artifacts with.
    #[allow(clippy::upper_case_acronyms)]
    AWSSessionCredentials { access_key_id: String, secret_access_key: String, session_token: String; }
);

// ---------------------------------------------------------------- operation outputs

/// The answer of DeletePipeline, EnableStageTransition,
/// DisableStageTransition, PutJobSuccessResult, PutJobFailureResult,
/// TagResource and UntagResource: `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Empty {}

output!(CreatePipelineOutput {; pipeline: PipelineDeclaration, tags: Vec<Tag> });
output!(GetPipelineOutput {; pipeline: PipelineDeclaration, metadata: PipelineMetadata });
output!(UpdatePipelineOutput {; pipeline: PipelineDeclaration });
output!(ListPipelinesOutput {; pipelines: Vec<PipelineSummary>, next_token: String });
/// StartPipelineExecution, StopPipelineExecution and RetryStageExecution.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PipelineExecutionIdOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
}
output!(GetPipelineStateOutput {;
    pipeline_name: String,
    pipeline_version: i64,
    stage_states: Vec<StageState>,
    created: Timestamp,
    updated: Timestamp,
});
output!(GetPipelineExecutionOutput {; pipeline_execution: PipelineExecution });
output!(ListPipelineExecutionsOutput {;
    pipeline_execution_summaries: Vec<PipelineExecutionSummary>,
    next_token: String,
});
output!(ListActionExecutionsOutput {; action_execution_details: Vec<ActionExecutionDetail>, next_token: String });
output!(PutApprovalResultOutput {; approved_at: Timestamp });
output!(ListActionTypesOutput { action_types: Vec<ActionType>; next_token: String });
output!(PollForJobsOutput {; jobs: Vec<Job> });
output!(
    /// Created, Queued, Dispatched, InProgress, TimedOut, Succeeded, Failed.
    AcknowledgeJobOutput {; status: String }
);
output!(GetJobDetailsOutput {; job_details: JobDetails });
output!(ListTagsForResourceOutput {; tags: Vec<Tag>, next_token: String });
