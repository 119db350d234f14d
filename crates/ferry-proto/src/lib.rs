//! Wire types of ferry's own HTTP interfaces, shared by the server, the agent
//! and the CLI. Two surfaces:
//!
//! - [`agent`]: the agent protocol under `/agent/v1/` (enrol, long-poll,
//!   event reports, bundle download), authenticated per host.
//! - [`build_host`]: the build-host half of the agent protocol
//!   (`/agent/v1/builds/`): claiming queued builds and reporting them.
//! - [`container_host`]: the container-host half (`/agent/v1/tasks/`):
//!   service tasks a host should run, and what its containers are doing.
//! - [`api`]: the native API under `/api/v1/` that the `ferry` CLI uses;
//!   [`secrets`]: its ferry secrets and build webhooks.
//!
//! Every request is SigV4-signed (service [`SIGNING_SERVICE`], region
//! [`SIGNING_REGION`]) except enrolment, which presents the join token.
//! These shapes are a stable contract: add optional fields, never change
//! meanings. The AWS-shaped API lives in its own crate.

pub mod agent;
pub mod api;
pub mod build_host;
pub mod container_host;
pub mod errors;
pub mod secrets;

/// The SigV4 service name of ferry's native API and agent protocol.
pub const SIGNING_SERVICE: &str = "ferry";
/// The SigV4 region ferry signs with (any region is accepted for the AWS API).
pub const SIGNING_REGION: &str = "local";

/// Protocol version an agent and the server must share.
/// 2: bundles are downloaded by SHA-256 (`/agent/v1/bundles/<sha256>`).
pub const AGENT_PROTOCOL_VERSION: u32 = 2;

/// An error body: every non-2xx response of the native API and the agent protocol.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// A stable, machine-readable code (e.g. `ApplicationDoesNotExist`).
    pub code: String,
    pub message: String,
}

/// A key/value tag on an instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

impl Tag {
    /// Parses `KEY=VALUE` (or `KEY` alone, with an empty value).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (key, value) = text.split_once('=').unwrap_or((text, ""));
        if key.is_empty() {
            return Err(format!("bad tag {text:?}: expected KEY=VALUE"));
        }
        Ok(Self { key: key.to_string(), value: value.to_string() })
    }
}
