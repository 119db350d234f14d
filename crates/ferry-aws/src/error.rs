//! AWS errors as CodeDeploy sends them: HTTP 400 (or the status the error
//! carries) with `{"__type": "<Name>Exception", "message": "…"}` and the
//! `x-amzn-ErrorType` header, so botocore and the other SDKs raise the
//! exception class of that name.

use std::borrow::Cow;

/// One AWS error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The exception name (`ApplicationDoesNotExistException`, …).
    pub code: Cow<'static, str>,
    pub message: String,
    pub status: u16,
}

pub type AwsResult<T> = Result<T, AwsError>;

impl AwsError {
    /// A client error (400), as every modelled CodeDeploy exception is.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into(), status: 400 }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// A request whose JSON does not match the model's types.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }

    /// The caller's key may not perform this operation.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDeniedException", message)
    }

    /// A fault on ferry's side; the message is for the operator's logs.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("InternalFailure", message).with_status(500)
    }

    /// The body AWS sends: `{"__type": …, "message": …}`.
    pub fn body(&self) -> String {
        serde_json::json!({ "__type": self.code, "message": self.message }).to_string()
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AwsError {}
