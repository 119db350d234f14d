//! What a mutating CodePipeline request changes, read from its decoded
//! input: the very members its handler acts on, so the permission check
//! and the action can never be about two different pipelines.

use std::borrow::Cow;

use super::{Request, arn};

/// A resource a request changes, as far as permissions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named<'a> {
    /// A name the request lacks or that is malformed, or a resource that is
    /// no pipeline (an action type's or webhook's ARN): the strictest
    /// subject (validation refuses a malformed request anyway).
    Everything,
    /// A pipeline, by name: its declaration, executions, stages, actions,
    /// approvals and tags.
    Pipeline(Cow<'a, str>),
    /// A custom action's job, by id: the server finds the pipeline it is of.
    Job(&'a str),
    /// PollForJobs: claims jobs of a custom action type, whatever pipeline
    /// they are of.
    JobWorker,
}

fn pipeline(name: Option<&str>) -> Named<'_> {
    name.filter(|n| arn::is_name(n))
        .map_or(Named::Everything, |n| Named::Pipeline(Cow::Borrowed(n)))
}

fn job(id: &Option<String>) -> Named<'_> {
    id.as_deref().filter(|id| !id.is_empty()).map_or(Named::Everything, Named::Job)
}

fn resource(resource_arn: &Option<String>) -> Named<'_> {
    resource_arn
        .as_deref()
        .and_then(arn::pipeline_name)
        .map_or(Named::Everything, |n| Named::Pipeline(Cow::Owned(n)))
}

impl Request {
    /// What the request would change: empty for operations that change
    /// nothing. Every operation is listed, so a new one needs a decision.
    pub fn changes(&self) -> Vec<Named<'_>> {
        use Request::*;
        match self {
            CreatePipeline(i) => vec![pipeline(i.pipeline.as_ref().and_then(|p| p.name.as_deref()))],
            UpdatePipeline(i) => vec![pipeline(i.pipeline.as_ref().and_then(|p| p.name.as_deref()))],
            DeletePipeline(i) => vec![pipeline(i.name.as_deref())],
            StartPipelineExecution(i) => vec![pipeline(i.name.as_deref())],
            StopPipelineExecution(i) => vec![pipeline(i.pipeline_name.as_deref())],
            RetryStageExecution(i) => vec![pipeline(i.pipeline_name.as_deref())],
            PutApprovalResult(i) => vec![pipeline(i.pipeline_name.as_deref())],
            EnableStageTransition(i) => vec![pipeline(i.pipeline_name.as_deref())],
            DisableStageTransition(i) => vec![pipeline(i.pipeline_name.as_deref())],
            TagResource(i) => vec![resource(&i.resource_arn)],
            UntagResource(i) => vec![resource(&i.resource_arn)],
            PollForJobs(_) => vec![Named::JobWorker],
            AcknowledgeJob(i) => vec![job(&i.job_id)],
            PutJobSuccessResult(i) => vec![job(&i.job_id)],
            PutJobFailureResult(i) => vec![job(&i.job_id)],
            GetJobDetails(_)
            | GetPipeline(_)
            | GetPipelineExecution(_)
            | GetPipelineState(_)
            | ListActionExecutions(_)
            | ListActionTypes(_)
            | ListPipelineExecutions(_)
            | ListPipelines(_)
            | ListTagsForResource(_) => vec![],
        }
    }
}
