//! CodePipeline's API, as the AWS CLI and the SDKs speak it: JSON 1.1 over
//! `POST /` with `X-Amz-Target: CodePipeline_20150709.<Operation>`, signed
//! for the `codepipeline` service.
//!
//! The same split as [`crate::codebuild`], sharing [`AwsError`], `nextToken`
//! pagination ([`crate::token`]) and ARN settings ([`crate::arn::Arns`]):
//! - [`Operation`]: the pipeline, execution, approval, transition, job
//!   worker and tag operations ferry serves;
//! - [`wire`]: their input shapes (exactly botocore's members, unknown ones
//!   refused), the pipeline declaration and the output shapes;
//! - [`Request`]: a decoded request, what it changes ([`Request::changes`],
//!   for the permission check) and its validation ([`Request::validate`]);
//! - [`validate`]: every constraint of botocore's model, read from
//!   `codepipeline-model-inputs.json`, and CodePipeline's rules for a
//!   pipeline's structure and tags, with CodePipeline's exception names;
//! - [`arn`]: pipeline, action type and webhook ARNs.
//!
//! Converting between these shapes and ferry's pipeline domain model is the
//! server's (this crate does not know it).
//!
//! **Architecture Invariant:** like the rest of the crate, knows nothing of
//! SQL, HTTP servers or the pipeline engine.

pub mod arn;
mod request;
pub mod validate;
pub mod wire;

pub use request::Named;

use crate::{AwsError, AwsResult};

/// The `X-Amz-Target` prefix of every CodePipeline operation.
pub const TARGET_PREFIX: &str = "CodePipeline_20150709.";
/// The SigV4 service name AWS clients sign CodePipeline requests with.
pub const SIGNING_SERVICE: &str = "codepipeline";

macro_rules! operations {
    ($($name:ident: $mutates:expr => $input:ident),* $(,)?) => {
        /// The operations of CodePipeline's model (2015-07-09) that ferry serves.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($name,)*
        }

        impl Operation {
            pub const ALL: &'static [Operation] = &[$(Operation::$name,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$name => stringify!($name),)*
                }
            }

            /// Whether the operation changes anything (read-only keys may
            /// call only those that do not).
            pub fn mutates(self) -> bool {
                match self {
                    $(Operation::$name => $mutates,)*
                }
            }

            pub fn from_name(name: &str) -> Option<Operation> {
                match name {
                    $(stringify!($name) => Some(Operation::$name),)*
                    _ => None,
                }
            }

            /// The model's name of the operation's input shape.
            pub fn input_shape(self) -> &'static str {
                match self {
                    $(Operation::$name => stringify!($input),)*
                }
            }
        }

        impl crate::token::TokenScope for Operation {
            fn token_scope(self) -> &'static str {
                match self {
                    $(Operation::$name => concat!("CodePipeline.", stringify!($name)),)*
                }
            }
        }

        /// A decoded request: the operation and its input, read once.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Request {
            $($name(wire::$input),)*
        }

        impl Request {
            /// Reads `body` as `op`'s input; unknown members are refused.
            pub fn decode(op: Operation, body: &[u8]) -> AwsResult<Request> {
                Ok(match op {
                    $(Operation::$name => Request::$name(op.input(body)?),)*
                })
            }

            pub fn operation(&self) -> Operation {
                match self {
                    $(Request::$name(_) => Operation::$name,)*
                }
            }

            /// The input as JSON, for the model's checks.
            fn input_value(&self) -> serde_json::Value {
                match self {
                    $(Request::$name(i) => serde_json::to_value(i),)*
                }
                .unwrap_or_default()
            }
        }

        /// The member names each operation's input struct accepts.
        #[cfg(test)]
        fn accepted_members(op: Operation) -> Vec<&'static str> {
            match op {
                $(Operation::$name => crate::members::of::<wire::$input>(),)*
            }
        }
    };
}

operations! {
    AcknowledgeJob: true => AcknowledgeJobInput,
    CreatePipeline: true => CreatePipelineInput,
    DeletePipeline: true => DeletePipelineInput,
    DisableStageTransition: true => DisableStageTransitionInput,
    EnableStageTransition: true => EnableStageTransitionInput,
    GetJobDetails: false => GetJobDetailsInput,
    GetPipeline: false => GetPipelineInput,
    GetPipelineExecution: false => GetPipelineExecutionInput,
    GetPipelineState: false => GetPipelineStateInput,
    ListActionExecutions: false => ListActionExecutionsInput,
    ListActionTypes: false => ListActionTypesInput,
    ListPipelineExecutions: false => ListPipelineExecutionsInput,
    ListPipelines: false => ListPipelinesInput,
    ListTagsForResource: false => ListTagsForResourceInput,
    PollForJobs: true => PollForJobsInput,
    PutApprovalResult: true => PutApprovalResultInput,
    PutJobFailureResult: true => PutJobFailureResultInput,
    PutJobSuccessResult: true => PutJobSuccessResultInput,
    RetryStageExecution: true => RetryStageExecutionInput,
    StartPipelineExecution: true => StartPipelineExecutionInput,
    StopPipelineExecution: true => StopPipelineExecutionInput,
    TagResource: true => TagResourceInput,
    UntagResource: true => UntagResourceInput,
    UpdatePipeline: true => UpdatePipelineInput,
}

impl Operation {
    /// The operation named by an `X-Amz-Target` header, or the error AWS
    /// answers for a missing or unknown one (CodePipeline operations ferry
    /// does not serve are unknown too, and the message lists those it does).
    pub fn from_target(target: Option<&str>) -> AwsResult<Operation> {
        let target = target.ok_or_else(|| {
            AwsError::new(
                "UnknownOperationException",
                "Missing X-Amz-Target header: expected CodePipeline_20150709.<Operation>",
            )
        })?;
        let name = target
            .strip_prefix(TARGET_PREFIX)
            .ok_or_else(|| AwsError::new("UnknownOperationException", format!("Unknown operation {target:?}")))?;
        Operation::from_name(name).ok_or_else(|| {
            let served: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
            AwsError::new(
                "UnknownOperationException",
                format!("Unknown operation {target:?}: ferry serves {}", served.join(", ")),
            )
        })
    }

    /// Parses the request body (`{}` when empty) into the operation's input.
    pub fn input<T: serde::de::DeserializeOwned + Default>(self, body: &[u8]) -> AwsResult<T> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        serde_json::from_slice(body).map_err(|e| {
            AwsError::serialization(format!("{}: the request body does not match the model: {e}", self.name()))
        })
    }

    /// The exceptions the model declares for the operation: a handler
    /// answers with one of these (or one any AWS service may send).
    pub fn declared_errors(self) -> &'static [String] {
        validate::declared_errors(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::members;

    #[test]
    fn every_operation_round_trips_through_its_target() {
        assert_eq!(Operation::ALL.len(), 24);
        for op in Operation::ALL {
            let target = format!("{TARGET_PREFIX}{}", op.name());
            assert_eq!(Operation::from_target(Some(&target)).unwrap(), *op);
        }
        for target in [
            Some("CodePipeline_20150709.PutWebhook"),
            Some("CodePipeline_20150709.Nope"),
            Some("CodeBuild_20161006.CreatePipeline"),
            Some("CreatePipeline"),
            None,
        ] {
            assert_eq!(Operation::from_target(target).unwrap_err().code, "UnknownOperationException", "{target:?}");
        }
    }

    fn model() -> serde_json::Value {
        serde_json::from_str(include_str!("../../codepipeline-model-inputs.json")).unwrap()
    }

    fn sorted(members: &serde_json::Value) -> Vec<&str> {
        let mut names: Vec<&str> = members.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn every_operation_accepts_exactly_its_model_members() {
        let model = model();
        let operations = model["operations"].as_object().unwrap();
        assert_eq!(operations.len(), Operation::ALL.len());
        for op in Operation::ALL {
            let shape = operations[op.name()]["input"].as_str().unwrap();
            assert_eq!(shape, op.input_shape(), "{}", op.name());
            let expected = sorted(&model["shapes"][shape]["members"]);
            assert_eq!(accepted_members(*op), expected, "{}", op.name());
        }
    }

    #[test]
    fn every_nested_input_structure_accepts_exactly_its_model_members() {
        use wire::*;
        let model = model();
        let ours: &[(&str, Vec<&str>)] = &[
            ("ActionDeclaration", members::of::<ActionDeclaration>()),
            ("ActionExecutionFilter", members::of::<ActionExecutionFilter>()),
            ("ActionTypeId", members::of::<ActionTypeId>()),
            ("ApprovalResult", members::of::<ApprovalResult>()),
            ("ArtifactStore", members::of::<ArtifactStore>()),
            ("BeforeEntryConditions", members::of::<BeforeEntryConditions>()),
            ("BlockerDeclaration", members::of::<BlockerDeclaration>()),
            ("Condition", members::of::<Condition>()),
            ("CurrentRevision", members::of::<CurrentRevision>()),
            ("EncryptionKey", members::of::<EncryptionKey>()),
            ("EnvironmentVariable", members::of::<EnvironmentVariable>()),
            ("ExecutionDetails", members::of::<ExecutionDetails>()),
            ("FailureConditions", members::of::<FailureConditions>()),
            ("FailureDetails", members::of::<FailureDetails>()),
            ("GitBranchFilterCriteria", members::of::<GitBranchFilterCriteria>()),
            ("GitConfiguration", members::of::<GitConfiguration>()),
            ("GitFilePathFilterCriteria", members::of::<GitFilePathFilterCriteria>()),
            ("GitPullRequestFilter", members::of::<GitPullRequestFilter>()),
            ("GitPushFilter", members::of::<GitPushFilter>()),
            ("GitTagFilterCriteria", members::of::<GitTagFilterCriteria>()),
            ("InputArtifact", members::of::<InputArtifact>()),
            ("LatestInPipelineExecutionFilter", members::of::<LatestInPipelineExecutionFilter>()),
            ("OutputArtifact", members::of::<OutputArtifact>()),
            ("PipelineDeclaration", members::of::<PipelineDeclaration>()),
            ("PipelineExecutionFilter", members::of::<PipelineExecutionFilter>()),
            ("PipelineTriggerDeclaration", members::of::<PipelineTriggerDeclaration>()),
            ("PipelineVariable", members::of::<PipelineVariable>()),
            ("PipelineVariableDeclaration", members::of::<PipelineVariableDeclaration>()),
            ("RetryConfiguration", members::of::<RetryConfiguration>()),
            ("RuleDeclaration", members::of::<RuleDeclaration>()),
            ("RuleTypeId", members::of::<RuleTypeId>()),
            ("SourceRevisionOverride", members::of::<SourceRevisionOverride>()),
            ("StageDeclaration", members::of::<StageDeclaration>()),
            ("SucceededInStageFilter", members::of::<SucceededInStageFilter>()),
            ("SuccessConditions", members::of::<SuccessConditions>()),
            ("Tag", members::of::<Tag>()),
        ];
        let inputs: Vec<&str> = Operation::ALL.iter().map(|op| op.input_shape()).collect();
        let structures: Vec<(&String, &serde_json::Value)> = model["shapes"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, shape)| shape["type"] == "structure" && !inputs.contains(&name.as_str()))
            .collect();
        assert_eq!(structures.len(), ours.len());
        for (name, shape) in structures {
            let (_, accepted) = ours.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no struct for {name}"));
            assert_eq!(*accepted, sorted(&shape["members"]), "{name}");
        }
    }

    #[test]
    fn bodies_parse_or_say_why_not() {
        let Request::DeletePipeline(input) = Request::decode(Operation::DeletePipeline, b"").unwrap() else {
            panic!("decoded as another operation")
        };
        assert_eq!(input.name, None);
        let err = Request::decode(Operation::DeletePipeline, br#"{"name":7}"#).unwrap_err();
        assert_eq!(err.code, "SerializationException");
        // Members are case-sensitive: `Name` is not `name`.
        let err = Request::decode(Operation::GetPipeline, br#"{"Name":"p"}"#).unwrap_err();
        assert!(err.message.contains("unknown field"), "{}", err.message);
        // Unknown members deep in the declaration too.
        let err = Request::decode(
            Operation::CreatePipeline,
            br#"{"pipeline":{"name":"p","stages":[{"name":"s","actions":[{"name":"a","actionTypeID":{}}]}]}}"#,
        )
        .unwrap_err();
        assert!(err.message.contains("unknown field"), "{}", err.message);
    }

    #[test]
    fn a_declaration_reads_and_writes_the_same_json() {
        let json = serde_json::json!({
            "name": "web",
            "roleArn": "arn:aws:iam::000000000000:role/p",
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [{"name": "Source", "actions": [{
                "name": "Git",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
                "configuration": {"BranchName": "main", "RepositoryName": "web"},
                "outputArtifacts": [{"name": "src"}],
                "runOrder": 1,
                "namespace": "SourceVariables"
            }]}],
            "version": 3,
            "executionMode": "QUEUED",
            "pipelineType": "V2",
            "variables": [{"name": "env", "defaultValue": "staging"}],
            "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
                "sourceActionName": "Git", "push": [{"branches": {"includes": ["main"]}}]
            }}]
        });
        let declaration: wire::PipelineDeclaration = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&declaration).unwrap(), json);
    }

    #[test]
    fn tokens_are_scoped_to_codepipelines_listings() {
        use crate::token::page;
        let items: Vec<u32> = (0..150).collect();
        let (_, next) = page(Operation::ListPipelines, items.clone(), None).unwrap();
        let next = next.unwrap();
        assert_eq!(page(Operation::ListPipelines, items.clone(), Some(&next)).unwrap().0.len(), 50);
        assert_eq!(
            page(Operation::ListPipelineExecutions, items.clone(), Some(&next)).unwrap_err().code,
            "InvalidNextTokenException"
        );
        assert_eq!(
            page(crate::codebuild::Operation::ListProjects, items, Some(&next)).unwrap_err().code,
            "InvalidNextTokenException"
        );
    }
}
