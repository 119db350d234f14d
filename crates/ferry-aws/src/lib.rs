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
//! **Architecture Invariant:** knows nothing of SQL, HTTP servers, the
//! driver or processes. The server decodes a request with this crate, does
//! the work with its store and driver, and encodes the answer with it; the
//! deployment engine never sees an AWS shape.

pub mod arn;
pub mod convert;
mod error;
pub mod token;
pub mod validate;
pub mod wire;

pub use error::{AwsError, AwsResult};

/// The `X-Amz-Target` prefix of every CodeDeploy operation.
pub const TARGET_PREFIX: &str = "CodeDeploy_20141006.";
/// The SigV4 service name AWS clients sign CodeDeploy requests with.
pub const SIGNING_SERVICE: &str = "codedeploy";
/// The content type of requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

macro_rules! operations {
    ($($name:ident: $mutates:expr),* $(,)?) => {
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
    };
}

operations! {
    AddTagsToOnPremisesInstances: true,
    BatchGetApplicationRevisions: false,
    BatchGetApplications: false,
    BatchGetDeploymentGroups: false,
    BatchGetDeploymentInstances: false,
    BatchGetDeploymentTargets: false,
    BatchGetDeployments: false,
    BatchGetOnPremisesInstances: false,
    ContinueDeployment: true,
    CreateApplication: true,
    CreateDeployment: true,
    CreateDeploymentConfig: true,
    CreateDeploymentGroup: true,
    DeleteApplication: true,
    DeleteDeploymentConfig: true,
    DeleteDeploymentGroup: true,
    DeleteGitHubAccountToken: true,
    DeleteResourcesByExternalId: true,
    DeregisterOnPremisesInstance: true,
    GetApplication: false,
    GetApplicationRevision: false,
    GetDeployment: false,
    GetDeploymentConfig: false,
    GetDeploymentGroup: false,
    GetDeploymentInstance: false,
    GetDeploymentTarget: false,
    GetOnPremisesInstance: false,
    ListApplicationRevisions: false,
    ListApplications: false,
    ListDeploymentConfigs: false,
    ListDeploymentGroups: false,
    ListDeploymentInstances: false,
    ListDeploymentTargets: false,
    ListDeployments: false,
    ListGitHubAccountTokenNames: false,
    ListOnPremisesInstances: false,
    ListTagsForResource: false,
    PutLifecycleEventHookExecutionStatus: true,
    RegisterApplicationRevision: true,
    RegisterOnPremisesInstance: true,
    RemoveTagsFromOnPremisesInstances: true,
    SkipWaitTimeForInstanceTermination: true,
    StopDeployment: true,
    TagResource: true,
    UntagResource: true,
    UpdateApplication: true,
    UpdateDeploymentGroup: true,
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
