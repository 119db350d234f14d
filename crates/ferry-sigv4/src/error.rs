use std::fmt;

/// Why a request failed verification, shaped like AWS's own errors: each
/// variant maps to an AWS error code ([`aws_code`](Self::aws_code)), an HTTP
/// status ([`http_status`](Self::http_status)) and an AWS-like message
/// (`Display`). Messages never contain a secret or a derived key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigV4Error {
    /// No `Authorization` header at all.
    MissingAuthenticationToken,
    /// The `Authorization` header, the credential scope, the date or the
    /// signed headers are malformed or incomplete; the message says what.
    IncompleteSignature(String),
    /// The access key id is unknown.
    UnrecognizedClient,
    /// The request's date is more than the allowed skew in the past.
    SignatureExpired(String),
    /// The request's date is more than the allowed skew in the future.
    SignatureNotYetCurrent(String),
    /// The signature is well-formed but wrong.
    SignatureDoesNotMatch,
    /// `x-amz-content-sha256` names a digest the body does not have.
    ContentSha256Mismatch,
}

impl SigV4Error {
    /// The AWS error code, e.g. `InvalidSignatureException`.
    pub fn aws_code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::SignatureExpired(_) | Self::SignatureNotYetCurrent(_) | Self::SignatureDoesNotMatch => {
                "InvalidSignatureException"
            }
            Self::ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::IncompleteSignature(_) | Self::ContentSha256Mismatch => 400,
            Self::MissingAuthenticationToken
            | Self::UnrecognizedClient
            | Self::SignatureExpired(_)
            | Self::SignatureNotYetCurrent(_)
            | Self::SignatureDoesNotMatch => 403,
        }
    }

    pub(crate) fn incomplete(message: impl Into<String>) -> Self {
        Self::IncompleteSignature(message.into())
    }
}

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingAuthenticationToken => f.write_str("Missing Authentication Token"),
            Self::IncompleteSignature(m) | Self::SignatureExpired(m) | Self::SignatureNotYetCurrent(m) => {
                f.write_str(m)
            }
            Self::UnrecognizedClient => f.write_str("The security token included in the request is invalid."),
            Self::SignatureDoesNotMatch => f.write_str(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. \
                 Consult the service documentation for details.",
            ),
            Self::ContentSha256Mismatch => {
                f.write_str("The provided 'x-amz-content-sha256' header does not match what was computed.")
            }
        }
    }
}

impl std::error::Error for SigV4Error {}
