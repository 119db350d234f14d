//! The build-host half of the agent protocol: agents started with a build
//! capacity (`ferry agent --builds N`) take queued builds, run them, and
//! send their log, phases, artifacts and result back.
//!
//! 1. `POST /agent/v1/builds/claim` with [`ClaimRequest`] → [`ClaimResponse`]:
//!    held by the server until a build this host may run is queued (or the
//!    hold passes). The server takes the build out of the queue as it answers.
//! 2. `GET /agent/v1/builds/<id>/source`: the build's source bundle (for
//!    uploaded and S3 sources), checked by size and SHA-256.
//! 3. `POST /agent/v1/builds/<id>/secrets` with [`SecretsRequest`] →
//!    [`SecretsResponse`]: the values of the ferry secrets the buildspec names
//!    (`parameter-store`, `secrets-manager`), for the host running the build only.
//! 4. `POST /agent/v1/builds/<id>/progress` with [`Progress`] →
//!    [`ProgressResponse`]: log lines (numbered, so a chunk sent twice is
//!    stored once) and phase changes, at least every [`HEARTBEAT_SECONDS`];
//!    the answer says whether to stop the build.
//! 5. `PUT /agent/v1/builds/<id>/artifacts/<name>` with the zip, its
//!    SHA-256 declared (and signed) in [`SHA256_HEADER`].
//! 6. `GET`/`PUT /agent/v1/builds/<id>/cache`: the project's cache zip
//!    (when the project keeps one).
//! 7. `POST /agent/v1/builds/<id>/finish` with [`Finish`], retried until the
//!    server answers.
//!
//! Build ids hold a `:` (`project:uuid`); they are percent-encoded in paths.

use ferry_core::build::{BuildPhase, BuildReport};
use serde::{Deserialize, Serialize};

/// The longest a running build's host stays silent: it sends progress at
/// least this often, even without new log lines.
pub const HEARTBEAT_SECONDS: u64 = 5;
/// The header carrying an uploaded artifact's SHA-256 (lower-case hex):
/// SigV4's own payload hash header, so the signature covers the digest and
/// the server checks the streamed bytes against it.
pub const SHA256_HEADER: &str = "x-amz-content-sha256";
/// The most a [`Progress`] body may hold (the server refuses larger JSON bodies).
pub const MAX_PROGRESS_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClaimRequest {
    /// How many more builds this host can run now (0: it only reports).
    pub free: u32,
    /// The builds running here. A build the server thinks runs here but is
    /// missing from this list was lost (the agent restarted) and ends FAULT.
    #[serde(default)]
    pub running: Vec<String>,
    /// Whether this host can run containers (podman works); without it, a
    /// build runs in a workspace on the host.
    #[serde(default)]
    pub containers: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClaimResponse {
    /// A build to run now, already taken out of the queue for this host.
    #[serde(default)]
    pub build: Option<Assignment>,
    /// How long the server holds a claim.
    pub hold_seconds: u64,
}

/// A build as its host needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub build_id: String,
    pub build_number: u64,
    pub project: String,
    pub source: AssignedSource,
    /// What was asked for (a branch, tag, commit, `pr/N`), if anything.
    #[serde(default)]
    pub source_version: Option<String>,
    pub buildspec: BuildspecLocation,
    /// The image to build in; `None` (or a host without containers): a workspace.
    #[serde(default)]
    pub image: Option<String>,
    /// The project's and the build's variables, resolved (secrets included).
    #[serde(default)]
    pub variables: Vec<(String, String)>,
    /// Values to mask in the log (the secret variables' values).
    #[serde(default)]
    pub secrets: Vec<String>,
    pub timeout_minutes: u32,
    /// `CODEBUILD_INITIATOR`.
    pub initiator: String,
    /// Milliseconds since the Unix epoch.
    pub start_time: u64,
    /// The build's ARN and its project's (CodeBuild's variables).
    #[serde(default)]
    pub build_arn: Option<String>,
    #[serde(default)]
    pub project_arn: Option<String>,
    /// A link to the build's page, for `CODEBUILD_PUBLIC_BUILD_URL`.
    #[serde(default)]
    pub build_url: Option<String>,
    /// Whether the project keeps a cache: restore it from
    /// `GET /agent/v1/builds/<id>/cache` (404: none yet) before the
    /// commands, save it with `PUT` after a build that succeeded.
    #[serde(default)]
    pub cache: bool,
    /// For a build a git webhook started: CodeBuild's `CODEBUILD_WEBHOOK_*`.
    #[serde(default)]
    pub webhook: Option<WebhookContext>,
    /// Secondary sources: download each from
    /// `/agent/v1/builds/<id>/sources/<identifier>` into the workspace's
    /// `<identifier>` directory (`CODEBUILD_SRC_DIR_<identifier>`).
    #[serde(default)]
    pub secondary_sources: Vec<SecondarySource>,
}

/// A secondary source bundle of a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondarySource {
    /// `[A-Za-z0-9_]+`, 1 to 128 characters (CodeBuild's source identifier).
    pub identifier: String,
    pub sha256: String,
    pub size: u64,
    pub bundle_type: String,
}

/// Whether `identifier` may name a secondary source (a directory name and
/// a variable suffix).
pub fn is_source_identifier(identifier: &str) -> bool {
    (1..=128).contains(&identifier.len())
        && identifier.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && identifier != "src"
}

/// What started a webhook build, as CodeBuild's variables say it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WebhookContext {
    /// `PUSH`, `PULL_REQUEST_CREATED`, …
    pub event: String,
    pub head_ref: String,
    pub base_ref: String,
    pub actor_account_id: String,
    /// `branch/<name>`, `tag/<name>` or `pr/<number>`.
    pub trigger: String,
    pub prev_commit: String,
    pub merge_commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AssignedSource {
    /// No source: the buildspec is inline.
    None,
    /// Clone `url` and check out `version` (a branch, tag or commit; `None`: the default branch).
    Git { url: String, version: Option<String> },
    /// Download the bundle from `/agent/v1/builds/<id>/source`.
    Bundle { sha256: String, size: u64, bundle_type: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value")]
pub enum BuildspecLocation {
    /// A path in the source (`buildspec.yml` when the project names none).
    Path(String),
    /// The buildspec itself.
    Inline(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsRequest {
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsResponse {
    /// Name and value, for every name asked for.
    pub values: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Progress {
    /// The number of `lines[0]` in the build's log (0 for its first line).
    pub first_seq: u64,
    #[serde(default)]
    pub lines: Vec<String>,
    /// The phases so far, the running one last (replacing what the server had).
    #[serde(default)]
    pub phases: Vec<BuildPhase>,
    /// What runs the build (`podman container of IMAGE`, `workspace as nobody`).
    #[serde(default)]
    pub environment: Option<String>,
    /// The commit built, once the source is in.
    #[serde(default)]
    pub resolved_source_version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressResponse {
    /// Stop the build (StopBuild, or the server no longer has it running here).
    pub stop: bool,
}

/// How the build ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finish {
    /// SUCCEEDED, FAILED, FAULT, TIMED_OUT or STOPPED.
    pub status: String,
    /// Every phase that ran, in order.
    pub phases: Vec<BuildPhase>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub resolved_source_version: Option<String>,
    /// The artifacts uploaded before this (by name: `primary` or an identifier).
    #[serde(default)]
    pub artifacts: Vec<FinishedArtifact>,
    #[serde(default)]
    pub reports: Vec<BuildReport>,
    #[serde(default)]
    pub exported_variables: Vec<(String, String)>,
    /// The number the next log line would have had: the server checks it has
    /// them all.
    pub log_end: u64,
}

/// The server took the build's end in (an end sent again is taken in too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FinishResponse {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishedArtifact {
    /// `primary`, or the secondary artifact's identifier.
    pub name: String,
    pub sha256: String,
    pub size: u64,
}
