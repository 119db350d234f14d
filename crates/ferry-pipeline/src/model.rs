//! The pipeline declaration, member for member as CodePipeline's
//! `PipelineDeclaration` (botocore `codepipeline/2015-07-09`, API Reference
//! "PipelineDeclaration", "StageDeclaration", "ActionDeclaration",
//! "PipelineTriggerDeclaration").
//!
//! Serde gives CodePipeline's JSON: camelCase members, `runOrder`,
//! `pipelineType` and `executionMode` always written (as `get-pipeline`
//! prints them, with their defaults filled in), empty optional lists left
//! out. [`crate::parse`] reads JSON and YAML with line-numbered errors;
//! serde's `Deserialize` is for documents ferry wrote itself (the store).
//!
//! Members ferry accepts but does not act on: `roleArn` (pipeline and
//! action: ferry has no IAM), `artifactStore`/`artifactStores` (artifacts
//! live in ferry's blob store), `region` (one self-hosted region) and
//! `encryptionKey`. They are kept so that a pipeline read back is the one
//! written.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// `PipelineDeclaration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineDeclaration {
    pub name: String,
    /// Accepted and ignored (ferry has no IAM roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Accepted and ignored: artifacts live in ferry's blob store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_store: Option<ArtifactStore>,
    /// Per-region stores (cross-region actions); accepted and ignored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub artifact_stores: BTreeMap<String, ArtifactStore>,
    pub stages: Vec<StageDeclaration>,
    /// The pipeline's version: 1 at creation, one more at each update
    /// (the server sets it; a declaration may leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default)]
    pub pipeline_type: PipelineType,
    #[serde(default)]
    pub execution_mode: ExecutionMode,
    /// V2 pipeline-level variables, `#{variables.<name>}` (at most 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<PipelineVariableDeclaration>,
    /// V2 git triggers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<TriggerDeclaration>,
}

impl PipelineDeclaration {
    /// The stage called `name`, with its index.
    pub fn stage(&self, name: &str) -> Option<(usize, &StageDeclaration)> {
        self.stages.iter().enumerate().find(|(_, s)| s.name == name)
    }

    /// CodePipeline's JSON for this declaration, as `get-pipeline` prints
    /// its `pipeline` member.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// `ArtifactStore`: `{type: S3, location, encryptionKey}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactStore {
    /// Always `S3` (the only type CodePipeline has).
    #[serde(rename = "type")]
    pub store_type: String,
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<EncryptionKey>,
}

/// `EncryptionKey`: `{id, type: KMS}`; accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionKey {
    pub id: String,
    #[serde(rename = "type")]
    pub key_type: String,
}

/// `pipelineType`. CreatePipeline's default is V1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PipelineType {
    #[default]
    V1,
    V2,
}

/// `executionMode` (CodePipeline UG, "Set or change the pipeline execution
/// mode"); SUPERSEDED is the default, QUEUED and PARALLEL need V2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionMode {
    #[default]
    Superseded,
    Queued,
    Parallel,
}

impl ExecutionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Superseded => "SUPERSEDED",
            Self::Queued => "QUEUED",
            Self::Parallel => "PARALLEL",
        }
    }
}

/// `PipelineVariableDeclaration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineVariableDeclaration {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `StageDeclaration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageDeclaration {
    pub name: String,
    pub actions: Vec<ActionDeclaration>,
    /// V2 `onFailure`: what a failed stage does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<FailureConditions>,
}

impl StageDeclaration {
    pub fn action(&self, name: &str) -> Option<(usize, &ActionDeclaration)> {
        self.actions.iter().enumerate().find(|(_, a)| a.name == name)
    }
}

/// `FailureConditions` (V2), without `conditions` (rules are not supported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureConditions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<StageFailureResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_configuration: Option<RetryConfiguration>,
}

/// `onFailure.result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StageFailureResult {
    Rollback,
    Fail,
    Retry,
}

/// `onFailure.retryConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_mode: Option<RetryMode>,
}

/// Which actions a retried stage runs again (`StageRetryMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryMode {
    FailedActions,
    AllActions,
}

impl RetryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FailedActions => "FAILED_ACTIONS",
            Self::AllActions => "ALL_ACTIONS",
        }
    }
}

/// `ActionDeclaration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionDeclaration {
    pub name: String,
    pub action_type_id: ActionTypeId,
    /// 1–999; actions of one stage with equal numbers run in parallel.
    #[serde(default = "one")]
    pub run_order: u32,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configuration: BTreeMap<String, String>,
    #[serde(default)]
    pub output_artifacts: Vec<Artifact>,
    #[serde(default)]
    pub input_artifacts: Vec<Artifact>,
    /// Accepted and ignored (ferry has no IAM roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Accepted and ignored (one self-hosted region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The namespace its output variables are published under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Manual approval only: 5–86400 minutes (default 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<u32>,
}

fn one() -> u32 {
    1
}

/// `InputArtifact` / `OutputArtifact`: a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub name: String,
}

/// `ActionTypeId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTypeId {
    pub category: Category,
    pub owner: Owner,
    pub provider: String,
    pub version: String,
}

impl fmt::Display for ActionTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.category.as_str(), self.owner.as_str(), self.provider)
    }
}

/// `ActionCategory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    Source,
    Build,
    Deploy,
    Test,
    Invoke,
    Approval,
    Compute,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Source,
        Category::Build,
        Category::Deploy,
        Category::Test,
        Category::Invoke,
        Category::Approval,
        Category::Compute,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "Source",
            Self::Build => "Build",
            Self::Deploy => "Deploy",
            Self::Test => "Test",
            Self::Invoke => "Invoke",
            Self::Approval => "Approval",
            Self::Compute => "Compute",
        }
    }
}

/// `ActionOwner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Owner {
    #[serde(rename = "AWS")]
    Aws,
    ThirdParty,
    Custom,
}

impl Owner {
    pub const ALL: [Owner; 3] = [Owner::Aws, Owner::ThirdParty, Owner::Custom];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::ThirdParty => "ThirdParty",
            Self::Custom => "Custom",
        }
    }
}

/// `PipelineTriggerDeclaration` (V2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerDeclaration {
    /// Always `CodeStarSourceConnection` (the only provider type).
    pub provider_type: String,
    pub git_configuration: GitConfiguration,
}

/// `GitConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitConfiguration {
    pub source_action_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub push: Vec<GitPushFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_request: Vec<GitPullRequestFilter>,
}

/// `GitPushFilter`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitPushFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<IncludeExclude>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<IncludeExclude>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<IncludeExclude>,
}

/// `GitPullRequestFilter`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitPullRequestFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<PullRequestEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<IncludeExclude>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<IncludeExclude>,
}

/// `GitPullRequestEventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PullRequestEvent {
    Open,
    Updated,
    Closed,
}

/// `GitBranchFilterCriteria`, `GitTagFilterCriteria`,
/// `GitFilePathFilterCriteria`: glob patterns; excludes win.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IncludeExclude {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
}
