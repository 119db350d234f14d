//! The one error of every operation: what the native API, the AWS API and
//! the console each turn into their own error shape.

use ferry_core::plan::{Refusal, Rule};
use ferry_store::StoreError;

/// Why an operation was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpError {
    #[error("application {0} does not exist")]
    ApplicationNotFound(String),
    #[error("deployment group {group} of application {application} does not exist")]
    GroupNotFound { application: String, group: String },
    #[error("revision {0} does not exist")]
    RevisionNotFound(String),
    #[error("application {0} has no revisions yet: push one first")]
    NoRevision(String),
    #[error("deployment config {0} does not exist")]
    ConfigNotFound(String),
    #[error("deployment {0} does not exist")]
    DeploymentNotFound(String),
    #[error("target group {0} does not exist: create it with `ferry lb create {0} …`")]
    TargetGroupNotFound(String),
    #[error("alarm {0} does not exist (create it with `ferry alarm create {0} --expr PROMQL`)")]
    AlarmNotFound(String),
    #[error("build project {0} does not exist")]
    ProjectNotFound(String),
    #[error("build project {0} already exists")]
    ProjectExists(String),
    #[error("build {0} does not exist")]
    BuildNotFound(String),
    #[error("pipeline {0} does not exist")]
    PipelineNotFound(String),
    #[error("task definition {0} does not exist")]
    TaskDefinitionNotFound(String),
    #[error("pipeline {0} already exists")]
    PipelineExists(String),
    #[error("service {0} does not exist")]
    ServiceNotFound(String),
    #[error("service {0} already exists")]
    ServiceExists(String),
    #[error("scaling group {0} does not exist")]
    ScalingGroupNotFound(String),
    #[error("scaling group {0} already exists")]
    ScalingGroupExists(String),
    #[error("access key {0} does not exist")]
    KeyNotFound(String),
    #[error("instance {0} does not exist")]
    InstanceNotFound(String),
    #[error("{0}")]
    Key(#[from] super::keys::KeyRefusal),
    #[error("application {0} already exists")]
    ApplicationExists(String),
    #[error("deployment group {group} of {application} already exists")]
    GroupExists { application: String, group: String },
    #[error("deployment config {0} already exists")]
    ConfigExists(String),
    #[error("target group {0} already exists")]
    TargetGroupExists(String),
    #[error("target group {name} is used by deployment group {group} of {application}")]
    TargetGroupInUse { name: String, application: String, group: String },
    #[error("deployment config {name} is used by deployment group {group} of {application}")]
    ConfigInUse { name: String, application: String, group: String },
    #[error("the predefined deployment config {0} cannot be changed or deleted")]
    BuiltinConfig(String),
    /// A part the operation needs (a load balancer's process) cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    #[error("at most {0} custom deployment configs can exist")]
    ConfigLimitExceeded(usize),
    /// A rule of `ferry_core::plan` (or a name it refers to that does not exist).
    #[error("{0}")]
    Refused(Refusal),
    /// The revision cannot be used: not found where it was registered,
    /// another ETag, too large.
    #[error("{0}")]
    Revision(String),
    #[error("deployment {0} has already completed")]
    AlreadyCompleted(String),
    #[error("deployment {0} is an in-place deployment: only blue/green deployments wait to be continued")]
    NotBlueGreen(String),
    #[error("deployment {id} is not waiting {what}")]
    NotWaiting { id: String, what: &'static str },
    /// Refused by the pipeline execution machine (with CodePipeline's exception).
    #[error("{0}")]
    Pipeline(ferry_pipeline::execution::StepError),
    /// Anything else a request got wrong.
    #[error("{0}")]
    Invalid(String),
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The server's own failure (not the caller's).
    #[error("{0}")]
    Internal(String),
    #[error("state store: {0}")]
    Store(#[from] StoreError),
}

impl From<Refusal> for OpError {
    fn from(r: Refusal) -> Self {
        OpError::Refused(r)
    }
}

impl OpError {
    pub fn refused(rule: Rule, message: impl Into<String>) -> Self {
        OpError::Refused(Refusal::new(rule, message))
    }
}
