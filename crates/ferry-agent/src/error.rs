//! Why the agent stopped.

use std::path::PathBuf;

/// A fatal error: [`crate::run`] returns it and the agent stops. Transient
/// trouble (network errors, 5xx answers) is retried and never surfaces here.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No credentials under the root and no join token to enrol with.
    #[error("not enrolled yet: pass --join-token (no credentials at {})", path.display())]
    NotEnrolled { path: PathBuf },

    /// The server refused enrolment (bad token, name taken, ...); `message` is the server's.
    #[error("enrolment refused by the server (HTTP {status}): {message}")]
    EnrolRefused { status: u16, message: String },

    /// The server no longer accepts this host's access key.
    #[error(
        "the server rejected this host's credential, access key {access_key_id} (HTTP {status}: {message}); \
         it was revoked or is unknown to the server: remove {} and enrol again with --join-token",
        credentials.display()
    )]
    CredentialRejected { access_key_id: String, status: u16, message: String, credentials: PathBuf },

    /// The server refused a request the agent cannot do without.
    #[error("the server refused the agent's {what} (HTTP {status}): {message}")]
    Refused { what: &'static str, status: u16, message: String },

    /// The server failed the TLS checks at enrolment; nothing was sent to it.
    #[error("not enrolling: {reason}")]
    ServerNotTrusted { reason: String },

    /// The join token cannot be used as given (no CA fingerprint over https, a malformed one, ...).
    #[error("{0}")]
    BadJoinToken(String),

    #[error("bad server address {url:?}: {reason}")]
    BadServer { url: String, reason: String },

    #[error("cannot read the credentials file {}: {reason}", path.display())]
    BadCredentials { path: PathBuf, reason: String },

    #[error("another ferry agent is already running with the root {}", root.display())]
    AlreadyRunning { root: PathBuf },

    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },

    #[error("{0}")]
    Setup(String),
}

impl AgentError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}
