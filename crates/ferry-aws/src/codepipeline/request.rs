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
    name.filter(|n| arn::is_name(n)).map_or(Named::Everything, |n| Named::Pipeline(Cow::Borrowed(n)))
}

fn job(id: &Option<String>) -> Named<'_> {
    id.as_deref().filter(|id| !id.is_empty()).map_or(Named::Everything, Named::Job)
}

fn resource(resource_arn: &Option<String>) -> Named<'_> {
    resource_arn.as_deref().and_then(arn::pipeline_name).map_or(Named::Everything, |n| Named::Pipeline(Cow::Owned(n)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codepipeline::Operation;

    #[test]
    fn every_mutating_operation_names_what_it_changes_and_only_those_do() {
        for op in Operation::ALL {
            let request = Request::decode(*op, b"{}").unwrap();
            assert_eq!(request.operation(), *op);
            assert_eq!(!request.changes().is_empty(), op.mutates(), "{}", op.name());
        }
    }

    #[test]
    fn the_pipeline_comes_from_the_member_the_handler_reads() {
        let web = || Named::Pipeline(Cow::Borrowed("web"));
        let job = "0b1c2d3e-aaaa-4bbb-8ccc-123456789012";
        let cases: Vec<(Operation, String, Named<'_>)> = vec![
            (Operation::CreatePipeline, r#"{"pipeline":{"name":"web"}}"#.into(), web()),
            (Operation::UpdatePipeline, r#"{"pipeline":{"name":"web"}}"#.into(), web()),
            (Operation::DeletePipeline, r#"{"name":"web"}"#.into(), web()),
            (Operation::StartPipelineExecution, r#"{"name":"web"}"#.into(), web()),
            (Operation::StopPipelineExecution, r#"{"pipelineName":"web"}"#.into(), web()),
            (Operation::RetryStageExecution, r#"{"pipelineName":"web"}"#.into(), web()),
            (Operation::PutApprovalResult, r#"{"pipelineName":"web","stageName":"s"}"#.into(), web()),
            (Operation::EnableStageTransition, r#"{"pipelineName":"web"}"#.into(), web()),
            (Operation::DisableStageTransition, r#"{"pipelineName":"web"}"#.into(), web()),
            (Operation::TagResource, r#"{"resourceArn":"arn:aws:codepipeline:r:000000000000:web"}"#.into(), web()),
            (
                Operation::UntagResource,
                r#"{"resourceArn":"arn:aws:codepipeline:r:000000000000:actiontype:Custom/Build/Make/1"}"#.into(),
                Named::Everything,
            ),
            (Operation::AcknowledgeJob, format!(r#"{{"jobId":"{job}"}}"#), Named::Job(job)),
            (Operation::PutJobSuccessResult, format!(r#"{{"jobId":"{job}"}}"#), Named::Job(job)),
            (Operation::PutJobFailureResult, format!(r#"{{"jobId":"{job}"}}"#), Named::Job(job)),
            (Operation::PollForJobs, "{}".into(), Named::JobWorker),
            (Operation::CreatePipeline, r#"{"pipeline":{"name":"a/b"}}"#.into(), Named::Everything),
            (Operation::DeletePipeline, r#"{"name":""}"#.into(), Named::Everything),
            (Operation::StartPipelineExecution, "{}".into(), Named::Everything),
            (Operation::TagResource, r#"{"resourceArn":"web"}"#.into(), Named::Everything),
            (Operation::AcknowledgeJob, r#"{"jobId":""}"#.into(), Named::Everything),
        ];
        for (op, body, named) in &cases {
            let request = Request::decode(*op, body.as_bytes()).unwrap();
            assert_eq!(request.changes(), vec![named.clone()], "{} {body}", op.name());
        }
    }

    #[test]
    fn injected_members_are_refused_not_read() {
        // A member of another operation placed beside the real one.
        let cases: &[(Operation, &str)] = &[
            (Operation::StartPipelineExecution, r#"{"name":"mine","pipelineName":"victim"}"#),
            (Operation::StopPipelineExecution, r#"{"pipelineName":"mine","name":"victim"}"#),
            (Operation::DeletePipeline, r#"{"name":"mine","pipeline":{"name":"victim"}}"#),
            (Operation::UpdatePipeline, r#"{"pipeline":{"name":"mine"},"name":"victim"}"#),
            (Operation::TagResource, r#"{"resourceArn":"arn:aws:codepipeline:r:000000000000:mine","name":"victim"}"#),
            (
                Operation::PutApprovalResult,
                r#"{"pipelineName":"mine","result":{"status":"Approved","pipelineName":"victim"}}"#,
            ),
        ];
        for (op, body) in cases {
            let err = Request::decode(*op, body.as_bytes()).unwrap_err();
            assert_eq!(err.code, "SerializationException", "{} {body}", op.name());
            assert!(err.message.contains("unknown field"), "{}", err.message);
        }
    }
}
