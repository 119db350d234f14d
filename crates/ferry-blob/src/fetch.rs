//! Errors of fetching a revision from where its user keeps it.

use crate::BlobError;

/// Why a revision could not be copied into the blob store.
///
/// The messages are meant for users: the server passes them on (as
/// `InvalidRevisionException`, a deployment's error message or a lifecycle
/// event's diagnostics) and never needs to add what was being fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The bucket, key, version, repository or commit does not exist. The
    /// message names it (and carries the store's own text where there is one).
    #[error("{0}")]
    NotFound(String),
    /// The object's ETag is not the one the revision was registered with
    /// (CodeDeploy's message, word for word).
    #[error("Expected deployment artifact bundle etag {expected} but was actually {actual}")]
    EtagMismatch { expected: String, actual: String },
    /// The object's version is not the one asked for.
    #[error("Expected deployment artifact bundle version {expected} but was actually {actual}")]
    VersionMismatch { expected: String, actual: String },
    /// The store or repository could not be reached, refused access, failed,
    /// or took too long (after retries). The message says which.
    #[error("{0}")]
    Unreachable(String),
    /// The location itself is not acceptable: a malformed bucket or key, a
    /// repository string ferry does not accept, a commit id that is not a
    /// full SHA-1, a bad endpoint.
    #[error("{0}")]
    Invalid(String),
    /// Storing the bytes failed, or they exceed the size limit
    /// ([`BlobError::TooLarge`]).
    #[error(transparent)]
    Blob(#[from] BlobError),
}
