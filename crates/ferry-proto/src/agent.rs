//! The agent protocol.
//!
//! 1. `POST /agent/v1/enrol` with [`EnrolRequest`] (join token) → [`EnrolResponse`]:
//!    the host's own access key, kept by the agent under its root.
//! 2. `POST /agent/v1/poll` with [`PollRequest`] → [`PollResponse`]: held by the
//!    server until there is work (or [`PollResponse::hold_seconds`] pass).
//! 3. `POST /agent/v1/report` with [`EventReport`] → [`ReportResponse`]: sent
//!    when each event starts (the answer says whether to proceed) and ends.
//! 4. `GET /agent/v1/bundles/<sha256>`: the bundle bytes, for a bundle this
//!    host has a command installing; the agent checks size and SHA-256.

use serde::{Deserialize, Serialize};

use crate::Tag;

/// Header carrying the agent's version on every request.
pub const VERSION_HEADER: &str = "x-ferry-agent-version";
/// Header carrying the agent's protocol version on every request; a server
/// that speaks another protocol answers 426 with what to upgrade.
pub const PROTOCOL_HEADER: &str = "x-ferry-agent-protocol";

/// A join token as the server prints it: `<secret>.sha256-<hex>`, the
/// secret agents enrol with and the SHA-256 of the DER of the CA the
/// server's TLS certificate chains to (a kubeadm-style pin). A token
/// without the `.sha256-…` part is the secret alone (plain HTTP, or an
/// agent given the CA with `--ca-file`). The server checks only the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    pub secret: String,
    /// Lower-case hex SHA-256 of the CA certificate's DER.
    pub ca_fingerprint: Option<String>,
}

/// What separates the secret from the fingerprint in a join token.
pub const JOIN_TOKEN_FINGERPRINT: &str = ".sha256-";

impl JoinToken {
    /// Splits a token; a `.sha256-` part that is not 64 hex digits is an error.
    pub fn parse(token: &str) -> Result<Self, String> {
        let token = token.trim();
        match token.rsplit_once(JOIN_TOKEN_FINGERPRINT) {
            None => Ok(Self { secret: token.to_string(), ca_fingerprint: None }),
            Some((secret, hex)) => {
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "the join token's CA fingerprint (after {JOIN_TOKEN_FINGERPRINT:?}) must be 64 hex digits"
                    ));
                }
                Ok(Self { secret: secret.to_string(), ca_fingerprint: Some(hex.to_ascii_lowercase()) })
            }
        }
    }

    /// The token as printed: the secret, then the fingerprint if any.
    pub fn render(&self) -> String {
        match &self.ca_fingerprint {
            Some(hex) => format!("{}{JOIN_TOKEN_FINGERPRINT}{hex}", self.secret),
            None => self.secret.clone(),
        }
    }
}

/// Leaves the secret out.
impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinToken").field("ca_fingerprint", &self.ca_fingerprint).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// The join token's secret (the server also accepts a whole [`JoinToken`]).
    pub join_token: String,
    /// The instance name (unique in the fleet).
    pub name: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub agent_version: String,
    pub protocol_version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub instance_name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PollRequest {
    /// Ids of the commands the agent is carrying out right now.
    #[serde(default)]
    pub running: Vec<String>,
    /// Ask for an immediate answer (after a restart, to learn the current
    /// commands without waiting).
    #[serde(default)]
    pub no_wait: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PollResponse {
    /// Every command this host should be carrying out now, running or not.
    /// A running command that is absent here is no longer wanted.
    pub commands: Vec<Command>,
    /// How long the server holds a poll; the agent's read timeout must exceed it.
    pub hold_seconds: u64,
    /// The server fails a host's in-flight event after this long without a poll.
    pub lost_after_seconds: u64,
}

/// One run of consecutive lifecycle events on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Stable for the life of the command: the agent runs each id once.
    pub id: String,
    pub attempt: u32,
    pub events: Vec<String>,
    /// Finish the running event and start no more.
    #[serde(default)]
    pub cancel: bool,
    #[serde(default)]
    pub ignore_application_stop_failures: bool,
    pub spec: DeploymentSpec,
}

/// What the host engine needs to know about a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentSpec {
    pub deployment_id: String,
    pub application_name: String,
    pub deployment_group_name: String,
    pub deployment_group_id: String,
    pub revision: Revision,
    #[serde(default)]
    pub appspec_filename: Option<String>,
    /// `DISALLOW`, `OVERWRITE` or `RETAIN`.
    #[serde(default)]
    pub file_exists_behavior: Option<String>,
    /// `user` or `codeDeployRollback`.
    pub creator: String,
    /// `IN_PLACE` or `BLUE_GREEN`.
    pub deployment_type: String,
    #[serde(default)]
    pub all_possible_events: Option<Vec<String>>,
}

/// A revision as the agent downloads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub id: String,
    /// `zip`, `tar` or `tgz`.
    pub bundle_type: String,
    pub sha256: String,
    pub size: u64,
    pub source: RevisionSource,
}

/// Where the revision came from; decides the hooks' `BUNDLE_*` variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RevisionSource {
    /// Uploaded to the server.
    Server,
    S3 {
        bucket: String,
        key: String,
        #[serde(default)]
        version: Option<String>,
        #[serde(default)]
        etag: Option<String>,
    },
    GitHub {
        repository: String,
        commit: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Started,
    Finished,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventReport {
    pub command_id: String,
    pub deployment_id: String,
    pub attempt: u32,
    pub event: String,
    pub phase: Phase,
    /// For `Finished`.
    #[serde(default)]
    pub succeeded: bool,
    #[serde(default)]
    pub diagnostics: Option<Diagnostics>,
}

/// CodeDeploy's diagnostics for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// Success, ScriptMissing, ScriptNotExecutable, ScriptTimedOut,
    /// ScriptFailed, UnknownError, OutputsLeftOpen or FailedAfterRestart.
    pub error_code: String,
    pub script_name: String,
    pub message: String,
    pub log_tail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportResponse {
    /// For `Started`: whether the agent may run the event. False when the
    /// deployment was stopped or this host was given up on meanwhile.
    pub proceed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_tokens_split_into_secret_and_fingerprint() {
        let hex = "ab".repeat(32);
        let t = JoinToken::parse(&format!("ferry-join-SECRET.sha256-{}\n", hex.to_uppercase())).unwrap();
        assert_eq!((t.secret.as_str(), t.ca_fingerprint.as_deref()), ("ferry-join-SECRET", Some(hex.as_str())));
        assert_eq!(t.render(), format!("ferry-join-SECRET.sha256-{hex}"));
        let old = JoinToken::parse("ferry-join-SECRET").unwrap();
        assert_eq!((old.secret.as_str(), old.ca_fingerprint.as_deref()), ("ferry-join-SECRET", None));
        assert_eq!(old.render(), "ferry-join-SECRET");
        assert!(JoinToken::parse("ferry-join-SECRET.sha256-abc").unwrap_err().contains("64 hex digits"));
        assert!(!format!("{t:?}").contains("SECRET"));
    }
}
