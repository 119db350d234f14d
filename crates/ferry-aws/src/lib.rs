//! CodeDeploy's own API, as the AWS CLI and the SDKs speak it: JSON 1.1 over
//! `POST /` with `X-Amz-Target: CodeDeploy_20141006.<Operation>`.
//!
//! This crate owns the wire format and nothing else:
//! - [`Operation`]: the 47 operations of the model, from the target header;
//! - [`wire`]: request and response shapes;
//! - [`AwsError`]: exception names and messages as AWS sends them;
//! - [`validate`]: the model's rules (names, lengths, enums, limits), with
//!   CodeDeploy's exception names;
//! - [`convert`]: ferry-core's domain types to and from the wire shapes;
//! - [`arn`] and [`token`]: ARNs and `nextToken` pagination.
//!
//! [`codebuild`] does the same for CodeBuild's API (`CodeBuild_20161006`):
//! its project, build and report operations, their shapes, validation with
//! CodeBuild's exception names and ARNs, sharing [`AwsError`] and [`token`].
//! [`codepipeline`] does the same for CodePipeline's (`CodePipeline_20150709`):
//! pipelines, executions, approvals, transitions, job workers and tags, with
//! every input checked against botocore's model.
//!
//! **Architecture Invariant:** knows nothing of SQL, HTTP servers, the
//! driver or processes. The server decodes a request with this crate, does
//! the work with its store and driver, and encodes the answer with it; the
//! deployment engine never sees an AWS shape.

pub mod arn;
pub mod codebuild;
pub mod codepipeline;
pub mod convert;
mod error;
#[cfg(test)]
mod members;
mod request;
pub mod token;
pub mod validate;
pub mod wire;

pub use error::{AwsError, AwsResult};
pub use request::Named;

/// The `X-Amz-Target` prefix of every CodeDeploy operation.
pub const TARGET_PREFIX: &str = "CodeDeploy_20141006.";
/// The SigV4 service name AWS clients sign CodeDeploy requests with.
pub const SIGNING_SERVICE: &str = "codedeploy";
/// The content type of requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

macro_rules! operations {
    ($($name:ident: $mutates:expr => $input:ident),* $(,)?) => {
        /// Every operation of CodeDeploy's model (2014-10-06).
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
        }

        /// The member names each operation's input struct accepts.
        #[cfg(test)]
        fn accepted_members(op: Operation) -> Vec<&'static str> {
            match op {
                $(Operation::$name => members::of::<wire::$input>(),)*
            }
        }
    };
}

operations! {
    AddTagsToOnPremisesInstances: true => InstanceTagsInput,
    BatchGetApplicationRevisions: false => BatchGetApplicationRevisionsInput,
    BatchGetApplications: false => BatchGetApplicationsInput,
    BatchGetDeploymentGroups: false => BatchGetDeploymentGroupsInput,
    BatchGetDeploymentInstances: false => BatchGetDeploymentInstancesInput,
    BatchGetDeploymentTargets: false => BatchGetDeploymentTargetsInput,
    BatchGetDeployments: false => BatchGetDeploymentsInput,
    BatchGetOnPremisesInstances: false => BatchGetOnPremisesInstancesInput,
    ContinueDeployment: true => ContinueDeploymentInput,
    CreateApplication: true => CreateApplicationInput,
    CreateDeployment: true => CreateDeploymentInput,
    CreateDeploymentConfig: true => CreateDeploymentConfigInput,
    CreateDeploymentGroup: true => CreateDeploymentGroupInput,
    DeleteApplication: true => ApplicationNameInput,
    DeleteDeploymentConfig: true => DeploymentConfigNameInput,
    DeleteDeploymentGroup: true => DeploymentGroupNameInput,
    DeleteGitHubAccountToken: true => GitHubTokenNameInput,
    DeleteResourcesByExternalId: true => ExternalIdInput,
    DeregisterOnPremisesInstance: true => InstanceNameInput,
    GetApplication: false => ApplicationNameInput,
    GetApplicationRevision: false => GetApplicationRevisionInput,
    GetDeployment: false => DeploymentIdInput,
    GetDeploymentConfig: false => DeploymentConfigNameInput,
    GetDeploymentGroup: false => DeploymentGroupNameInput,
    GetDeploymentInstance: false => DeploymentInstanceInput,
    GetDeploymentTarget: false => DeploymentTargetInput,
    GetOnPremisesInstance: false => InstanceNameInput,
    ListApplicationRevisions: false => ListApplicationRevisionsInput,
    ListApplications: false => NextTokenInput,
    ListDeploymentConfigs: false => NextTokenInput,
    ListDeploymentGroups: false => ListDeploymentGroupsInput,
    ListDeploymentInstances: false => ListDeploymentInstancesInput,
    ListDeploymentTargets: false => ListDeploymentTargetsInput,
    ListDeployments: false => ListDeploymentsInput,
    ListGitHubAccountTokenNames: false => NextTokenInput,
    ListOnPremisesInstances: false => ListOnPremisesInstancesInput,
    ListTagsForResource: false => ListTagsForResourceInput,
    PutLifecycleEventHookExecutionStatus: true => PutLifecycleEventHookExecutionStatusInput,
    RegisterApplicationRevision: true => RegisterApplicationRevisionInput,
    RegisterOnPremisesInstance: true => RegisterOnPremisesInstanceInput,
    RemoveTagsFromOnPremisesInstances: true => InstanceTagsInput,
    SkipWaitTimeForInstanceTermination: true => DeploymentIdInput,
    StopDeployment: true => StopDeploymentInput,
    TagResource: true => TagResourceInput,
    UntagResource: true => UntagResourceInput,
    UpdateApplication: true => UpdateApplicationInput,
    UpdateDeploymentGroup: true => UpdateDeploymentGroupInput,
}

impl Operation {
    /// The operation named by an `X-Amz-Target` header, or the error AWS
    /// answers for a missing or unknown one.
    pub fn from_target(target: Option<&str>) -> AwsResult<Operation> {
        let target = target.ok_or_else(|| {
            AwsError::new(
                "UnknownOperationException",
                "Missing X-Amz-Target header: expected CodeDeploy_20141006.<Operation>",
            )
        })?;
        target
            .strip_prefix(TARGET_PREFIX)
            .and_then(Operation::from_name)
            .ok_or_else(|| AwsError::new("UnknownOperationException", format!("Unknown operation {target:?}")))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_47_operations_round_trip_through_their_names() {
        assert_eq!(Operation::ALL.len(), 47);
        for op in Operation::ALL {
            let target = format!("{TARGET_PREFIX}{}", op.name());
            assert_eq!(Operation::from_target(Some(&target)).unwrap(), *op);
        }
        let err = Operation::from_target(Some("CodeDeploy_20141006.Nope")).unwrap_err();
        assert_eq!(err.code, "UnknownOperationException");
        assert!(Operation::from_target(None).is_err());
        assert!(Operation::from_target(Some("DynamoDB_20120810.GetItem")).is_err());
    }

    /// The model's input members (`model-inputs.json`, from botocore).
    fn model() -> serde_json::Value {
        serde_json::from_str(include_str!("../model-inputs.json")).unwrap()
    }

    fn sorted(members: &serde_json::Value) -> Vec<&str> {
        let mut names: Vec<&str> = members.as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn every_operation_accepts_exactly_its_model_members() {
        let model = model();
        let operations = model["operations"].as_object().unwrap();
        assert_eq!(operations.len(), Operation::ALL.len());
        for op in Operation::ALL {
            let expected = sorted(&operations[op.name()]);
            assert_eq!(accepted_members(*op), expected, "{}", op.name());
        }
    }

    #[test]
    fn nested_input_shapes_accept_exactly_their_model_members() {
        use wire::*;
        let model = model();
        let shapes = model["shapes"].as_object().unwrap();
        let ours: &[(&str, Vec<&str>)] = &[
            ("Alarm", members::of::<Alarm>()),
            ("AlarmConfiguration", members::of::<AlarmConfiguration>()),
            ("AppSpecContent", members::of::<RawString>()),
            ("AutoRollbackConfiguration", members::of::<AutoRollbackConfiguration>()),
            ("BlueGreenDeploymentConfiguration", members::of::<BlueGreenDeploymentConfiguration>()),
            ("BlueInstanceTerminationOption", members::of::<BlueInstanceTerminationOption>()),
            ("DeploymentReadyOption", members::of::<DeploymentReadyOption>()),
            ("DeploymentStyle", members::of::<DeploymentStyle>()),
            ("EC2TagFilter", members::of::<TagFilter>()),
            ("EC2TagSet", members::of::<Ec2TagSet>()),
            ("ELBInfo", members::of::<NamedInfo>()),
            ("GitHubLocation", members::of::<GitHubLocation>()),
            ("GreenFleetProvisioningOption", members::of::<GreenFleetProvisioningOption>()),
            ("LoadBalancerInfo", members::of::<LoadBalancerInfo>()),
            ("MinimumHealthyHosts", members::of::<MinimumHealthyHosts>()),
            ("OnPremisesTagSet", members::of::<OnPremisesTagSet>()),
            ("RawString", members::of::<RawString>()),
            ("RevisionLocation", members::of::<RevisionLocation>()),
            ("S3Location", members::of::<S3Location>()),
            ("Tag", members::of::<Tag>()),
            ("TagFilter", members::of::<TagFilter>()),
            ("TargetGroupInfo", members::of::<NamedInfo>()),
            ("TargetInstances", members::of::<TargetInstances>()),
            ("TimeBasedCanary", members::of::<TimeBasedCanary>()),
            ("TimeBasedLinear", members::of::<TimeBasedLinear>()),
            ("TimeRange", members::of::<TimeRange>()),
            ("TrafficRoutingConfig", members::of::<TrafficRoutingConfig>()),
            ("TriggerConfig", members::of::<TriggerConfig>()),
        ];
        // Shapes of features ferry refuses are read as opaque JSON.
        let opaque = ["ECSService", "MinimumHealthyHostsPerZone", "TargetGroupPairInfo", "TrafficRoute", "ZonalConfig"];
        for (name, members) in shapes {
            if opaque.contains(&name.as_str()) {
                continue;
            }
            let (_, accepted) = ours.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no struct for {name}"));
            assert_eq!(*accepted, sorted(members), "{name}");
        }
    }

    #[test]
    fn bodies_parse_or_say_why_not() {
        let input: wire::ApplicationNameInput = Operation::GetApplication.input(b"").unwrap();
        assert_eq!(input.application_name, None);
        let input: wire::ApplicationNameInput =
            Operation::GetApplication.input(br#"{"applicationName":"shop"}"#).unwrap();
        assert_eq!(input.application_name.as_deref(), Some("shop"));
        let err =
            Operation::GetApplication.input::<wire::ApplicationNameInput>(br#"{"applicationName":7}"#).unwrap_err();
        assert_eq!(err.code, "SerializationException");
    }
}
