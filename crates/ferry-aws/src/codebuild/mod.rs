//! CodeBuild's own API, as the AWS CLI and the SDKs speak it: JSON 1.1 over
//! `POST /` with `X-Amz-Target: CodeBuild_20161006.<Operation>`, signed for
//! the `codebuild` service.
//!
//! The same split as CodeDeploy's half of this crate, sharing its
//! [`AwsError`], its `nextToken` pagination ([`crate::token`]) and ARN
//! settings ([`crate::arn::Arns`]):
//! - [`Operation`]: the project, build and report operations ferry serves;
//! - [`wire`]: their input shapes (exactly botocore's members, unknown ones
//!   refused) and the output shapes the handlers answer with;
//! - [`Request`]: a decoded request, what it changes ([`Request::changes`],
//!   for the permission check) and its own validation ([`Request::validate`]);
//! - [`validate`]: the model's rules and CodeBuild's, with CodeBuild's
//!   exception names (`InvalidInputException`, `ResourceNotFoundException`, …);
//! - [`arn`]: project, build, report and report group ARNs;
//! - [`convert`]: build projects and builds to the wire, requests to them
//!   (what ferry takes, ignores or refuses of each member).
//!
//! **Architecture Invariant:** like the rest of the crate, knows nothing of
//! SQL, HTTP servers or the build engine.

pub mod arn;
pub mod convert;
mod request;
pub mod validate;
pub mod wire;

pub use request::Named;

use crate::{AwsError, AwsResult};

/// The `X-Amz-Target` prefix of every CodeBuild operation.
pub const TARGET_PREFIX: &str = "CodeBuild_20161006.";
/// The SigV4 service name AWS clients sign CodeBuild requests with.
pub const SIGNING_SERVICE: &str = "codebuild";

macro_rules! operations {
    ($($name:ident: $mutates:expr => $input:ident),* $(,)?) => {
        /// The operations of CodeBuild's model (2016-10-06) that ferry serves.
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

        impl crate::token::TokenScope for Operation {
            fn token_scope(self) -> &'static str {
                match self {
                    $(Operation::$name => concat!("CodeBuild.", stringify!($name)),)*
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
                $(Operation::$name => crate::members::of::<wire::$input>(),)*
            }
        }
    };
}

operations! {
    BatchGetBuilds: false => BuildIdsInput,
    BatchGetProjects: false => BatchGetProjectsInput,
    BatchGetReportGroups: false => BatchGetReportGroupsInput,
    BatchGetReports: false => BatchGetReportsInput,
    CreateProject: true => CreateProjectInput,
    DeleteProject: true => ProjectNameInput,
    DescribeTestCases: false => DescribeTestCasesInput,
    ListBuilds: false => ListBuildsInput,
    ListBuildsForProject: false => ListBuildsForProjectInput,
    ListProjects: false => ListProjectsInput,
    ListReportGroups: false => ListReportGroupsInput,
    ListReports: false => ListReportsInput,
    ListReportsForReportGroup: false => ListReportsForReportGroupInput,
    RetryBuild: true => RetryBuildInput,
    StartBuild: true => StartBuildInput,
    StopBuild: true => StopBuildInput,
    UpdateProject: true => UpdateProjectInput,
}

impl Operation {
    /// The operation named by an `X-Amz-Target` header, or the error AWS
    /// answers for a missing or unknown one (CodeBuild operations ferry does
    /// not serve are unknown too, and the message lists those it does).
    pub fn from_target(target: Option<&str>) -> AwsResult<Operation> {
        let target = target.ok_or_else(|| {
            AwsError::new(
                "UnknownOperationException",
                "Missing X-Amz-Target header: expected CodeBuild_20161006.<Operation>",
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::members;

    #[test]
    fn every_operation_round_trips_through_its_target() {
        assert_eq!(Operation::ALL.len(), 17);
        for op in Operation::ALL {
            let target = format!("{TARGET_PREFIX}{}", op.name());
            assert_eq!(Operation::from_target(Some(&target)).unwrap(), *op);
        }
        for target in [
            Some("CodeBuild_20161006.CreateWebhook"),
            Some("CodeBuild_20161006.Nope"),
            Some("CodeDeploy_20141006.CreateProject"),
            Some("CreateProject"),
            None,
        ] {
            assert_eq!(Operation::from_target(target).unwrap_err().code, "UnknownOperationException", "{target:?}");
        }
    }

    /// The model's input members (`codebuild-model-inputs.json`, from botocore).
    fn model() -> serde_json::Value {
        serde_json::from_str(include_str!("../../codebuild-model-inputs.json")).unwrap()
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
            ("BatchRestrictions", members::of::<BatchRestrictions>()),
            ("BuildStatusConfig", members::of::<BuildStatusConfig>()),
            ("CloudWatchLogsConfig", members::of::<CloudWatchLogsConfig>()),
            ("ComputeConfiguration", members::of::<ComputeConfiguration>()),
            ("DockerServer", members::of::<DockerServer>()),
            ("DockerServerStatus", members::of::<DockerServerStatus>()),
            ("EnvironmentVariable", members::of::<EnvironmentVariable>()),
            ("GitSubmodulesConfig", members::of::<GitSubmodulesConfig>()),
            ("LogsConfig", members::of::<LogsConfig>()),
            ("ProjectArtifacts", members::of::<ProjectArtifacts>()),
            ("ProjectBuildBatchConfig", members::of::<ProjectBuildBatchConfig>()),
            ("ProjectCache", members::of::<ProjectCache>()),
            ("ProjectEnvironment", members::of::<ProjectEnvironment>()),
            ("ProjectFileSystemLocation", members::of::<ProjectFileSystemLocation>()),
            ("ProjectFleet", members::of::<ProjectFleet>()),
            ("ProjectSource", members::of::<ProjectSource>()),
            ("ProjectSourceVersion", members::of::<ProjectSourceVersion>()),
            ("RegistryCredential", members::of::<RegistryCredential>()),
            ("ReportFilter", members::of::<ReportFilter>()),
            ("S3LogsConfig", members::of::<S3LogsConfig>()),
            ("SourceAuth", members::of::<SourceAuth>()),
            ("Tag", members::of::<Tag>()),
            ("TestCaseFilter", members::of::<TestCaseFilter>()),
            ("VpcConfig", members::of::<VpcConfig>()),
        ];
        assert_eq!(shapes.len(), ours.len());
        for (name, members) in shapes {
            let (_, accepted) = ours.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no struct for {name}"));
            assert_eq!(*accepted, sorted(members), "{name}");
        }
    }

    #[test]
    fn the_enums_ferry_checks_are_the_models() {
        let model = model();
        let enums = model["enums"].as_object().unwrap();
        assert_eq!(enums.len(), validate::ENUMS.len());
        for (name, values) in validate::ENUMS {
            let expected: Vec<&str> = enums[*name].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            assert_eq!(*values, expected.as_slice(), "{name}");
        }
    }

    #[test]
    fn bodies_parse_or_say_why_not() {
        let Request::DeleteProject(input) = Request::decode(Operation::DeleteProject, b"").unwrap() else {
            panic!("decoded as another operation")
        };
        assert_eq!(input.name, None);
        let err = Request::decode(Operation::DeleteProject, br#"{"name":7}"#).unwrap_err();
        assert_eq!(err.code, "SerializationException");
        // Members are case-sensitive: CodeDeploy-style `Tags` is not `tags`.
        let err = Request::decode(Operation::CreateProject, br#"{"name":"p","Tags":[]}"#).unwrap_err();
        assert!(err.message.contains("unknown field"), "{}", err.message);
        let err = Request::decode(
            Operation::CreateProject,
            br#"{"name":"p","environment":{"environmentVariables":[{"name":"A","value":"1","secret":true}]}}"#,
        )
        .unwrap_err();
        assert!(err.message.contains("unknown field"), "{}", err.message);
    }

    #[test]
    fn tokens_of_one_listing_are_refused_by_another_and_by_codedeploy() {
        use crate::token::page;
        let items: Vec<u32> = (0..150).collect();
        let (_, next) = page(Operation::ListBuilds, items.clone(), None).unwrap();
        let next = next.unwrap();
        assert_eq!(page(Operation::ListBuilds, items.clone(), Some(&next)).unwrap().0.len(), 50);
        assert_eq!(
            page(Operation::ListProjects, items.clone(), Some(&next)).unwrap_err().code,
            "InvalidNextTokenException"
        );
        assert_eq!(
            page(crate::Operation::ListDeployments, items, Some(&next)).unwrap_err().code,
            "InvalidNextTokenException"
        );
    }
}
