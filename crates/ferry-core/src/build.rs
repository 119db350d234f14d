//! Builds (CodeBuild's job): build projects and the record of each build.
//!
//! What a build *does* (phases, commands, artifacts) is `ferry-buildspec`'s
//! and the runner's (`ferry-build`); this module holds what the server keeps:
//! the project a build runs for, and each build's status, phases, timings,
//! outputs and where it ran, with CodeBuild's names. Pure: times and ids are
//! arguments.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::resources::Tag;

/// CodeBuild's limits on a project's timeouts, in minutes.
pub const BUILD_TIMEOUT_MINUTES: std::ops::RangeInclusive<u32> = 5..=2160;
pub const QUEUED_TIMEOUT_MINUTES: std::ops::RangeInclusive<u32> = 5..=480;

/// A build project: where the source comes from, which buildspec, in what
/// environment, and its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BuildProject {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub source: BuildSource,
    /// A path in the source (`None`: `buildspec.yml` at its root), or the
    /// buildspec itself when it does not name a file (CodeBuild's rule: the
    /// value is inline YAML when it holds a newline or starts with `version:`).
    #[serde(default)]
    pub buildspec: Option<String>,
    /// The container image; `None` builds in a fresh workspace on the host.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub variables: Vec<BuildVariable>,
    pub timeout_minutes: u32,
    pub queued_timeout_minutes: u32,
    /// At most this many builds of the project run at once (`None`: no limit).
    #[serde(default)]
    pub concurrent_build_limit: Option<u32>,
    /// Whether the build cache (`cache.paths`) is kept between builds.
    #[serde(default)]
    pub cache: bool,
    /// Whether the project's build badge is served, without authentication,
    /// at `/badges/builds/<name>.svg` (CodeBuild's `badgeEnabled`).
    #[serde(default)]
    pub badge: bool,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub create_time: Millis,
    pub last_modified: Millis,
    /// Builds started by the forge's push and pull-request webhooks.
    #[serde(default)]
    pub webhook: Option<ProjectWebhook>,
    /// Poll the git source's branch this often (seconds) and build each new
    /// commit (`None`: no polling; git sources only).
    #[serde(default)]
    pub poll_seconds: Option<u32>,
    /// Addresses every build status change is posted to (EventBridge's
    /// "CodeBuild Build State Change" JSON, signed as deployment triggers are).
    #[serde(default)]
    pub notify: Vec<String>,
}

/// The shortest and longest git polling intervals.
pub const POLL_SECONDS: std::ops::RangeInclusive<u32> = 30..=86_400;

/// A project's git webhook (CodeBuild's `Webhook`): which forge events
/// start a build, checked against the secret shared with the forge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectWebhook {
    /// The ferry secret holding the secret shared with the forge (the HMAC
    /// key of GitHub's and Gitea's signatures, GitLab's token).
    pub secret_name: String,
    /// CodeBuild's filter groups: a build starts when any group matches,
    /// and a group matches when every filter in it does. Empty: every push
    /// and every pull request created, updated or reopened.
    #[serde(default)]
    pub filter_groups: Vec<Vec<WebhookFilter>>,
    /// CodeBuild's `buildType`: `BUILD` (batch builds are not supported).
    #[serde(default = "single_build")]
    pub build_type: String,
    /// A ferry secret holding an API token of the forge: with it, each
    /// build's commit status (pending, success, failure) is posted back.
    #[serde(default)]
    pub status_token_secret: Option<String>,
}

fn single_build() -> String {
    "BUILD".into()
}

/// One filter of a filter group (CodeBuild's `WebhookFilter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFilter {
    pub filter_type: WebhookFilterType,
    /// EVENT: a comma-separated list of event names; the others: a regular expression.
    pub pattern: String,
    /// The filter matches when the pattern does *not*.
    #[serde(default)]
    pub exclude_matched_pattern: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookFilterType {
    Event,
    HeadRef,
    BaseRef,
    FilePath,
    CommitMessage,
    ActorAccountId,
}

impl WebhookFilterType {
    pub const ALL: [WebhookFilterType; 6] = [
        WebhookFilterType::Event,
        WebhookFilterType::HeadRef,
        WebhookFilterType::BaseRef,
        WebhookFilterType::FilePath,
        WebhookFilterType::CommitMessage,
        WebhookFilterType::ActorAccountId,
    ];

    /// CodeBuild's name (`HEAD_REF`).
    pub fn name(self) -> &'static str {
        match self {
            WebhookFilterType::Event => "EVENT",
            WebhookFilterType::HeadRef => "HEAD_REF",
            WebhookFilterType::BaseRef => "BASE_REF",
            WebhookFilterType::FilePath => "FILE_PATH",
            WebhookFilterType::CommitMessage => "COMMIT_MESSAGE",
            WebhookFilterType::ActorAccountId => "ACTOR_ACCOUNT_ID",
        }
    }

    pub fn from_name(name: &str) -> Option<WebhookFilterType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// A webhook event's type, with CodeBuild's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookEventType {
    Push,
    PullRequestCreated,
    PullRequestUpdated,
    PullRequestReopened,
    PullRequestMerged,
    PullRequestClosed,
}

impl WebhookEventType {
    pub const ALL: [WebhookEventType; 6] = [
        WebhookEventType::Push,
        WebhookEventType::PullRequestCreated,
        WebhookEventType::PullRequestUpdated,
        WebhookEventType::PullRequestReopened,
        WebhookEventType::PullRequestMerged,
        WebhookEventType::PullRequestClosed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WebhookEventType::Push => "PUSH",
            WebhookEventType::PullRequestCreated => "PULL_REQUEST_CREATED",
            WebhookEventType::PullRequestUpdated => "PULL_REQUEST_UPDATED",
            WebhookEventType::PullRequestReopened => "PULL_REQUEST_REOPENED",
            WebhookEventType::PullRequestMerged => "PULL_REQUEST_MERGED",
            WebhookEventType::PullRequestClosed => "PULL_REQUEST_CLOSED",
        }
    }

    pub fn from_name(name: &str) -> Option<WebhookEventType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// What the webhook that started a build said: the build host sets
/// CodeBuild's `CODEBUILD_WEBHOOK_*` variables from it ([`BuildWebhook::variables`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildWebhook {
    /// `github`, `gitlab` or `gitea`.
    pub forge: String,
    pub event: WebhookEventType,
    /// `refs/heads/<branch>` or `refs/tags/<tag>` (a pull request's source branch).
    pub head_ref: String,
    /// A pull request's target branch (`refs/heads/main`).
    #[serde(default)]
    pub base_ref: Option<String>,
    /// The commit to build (a pull request's head commit).
    pub commit: String,
    #[serde(default)]
    pub actor_account_id: Option<String>,
    /// `branch/<name>`, `tag/<name>` or `pr/<number>`.
    pub trigger: String,
    /// A push's previous head commit.
    #[serde(default)]
    pub prev_commit: Option<String>,
    /// A merged pull request's merge commit.
    #[serde(default)]
    pub merge_commit: Option<String>,
    #[serde(default)]
    pub pr_number: Option<u64>,
    /// The repository's URL as the forge sent it.
    #[serde(default)]
    pub repository_url: Option<String>,
    /// The server's address as the forge reached it (`https://host:port`):
    /// a commit status links to the build there.
    #[serde(default)]
    pub server_url: Option<String>,
}

impl BuildWebhook {
    /// CodeBuild's `CODEBUILD_WEBHOOK_*` variables for this build (those
    /// without a value are left out).
    pub fn variables(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            ("CODEBUILD_WEBHOOK_EVENT".to_string(), self.event.name().to_string()),
            ("CODEBUILD_WEBHOOK_HEAD_REF".to_string(), self.head_ref.clone()),
            ("CODEBUILD_WEBHOOK_TRIGGER".to_string(), self.trigger.clone()),
        ];
        let optional = [
            ("CODEBUILD_WEBHOOK_BASE_REF", &self.base_ref),
            ("CODEBUILD_WEBHOOK_ACTOR_ACCOUNT_ID", &self.actor_account_id),
            ("CODEBUILD_WEBHOOK_PREV_COMMIT", &self.prev_commit),
            ("CODEBUILD_WEBHOOK_MERGE_COMMIT", &self.merge_commit),
        ];
        vars.extend(optional.into_iter().filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone()))));
        vars
    }
}

/// Where a project's source comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum BuildSource {
    /// No source: the buildspec is inline.
    #[default]
    NoSource,
    /// A git repository, at a branch, tag or commit (`None`: its default branch).
    Git { url: String, version: Option<String> },
    /// A zip or tarball in S3.
    S3 { bucket: String, key: String },
    /// A bundle uploaded with each build (`ferry build start --source DIR`).
    Upload,
}

/// An environment variable of a project or a build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildVariable {
    pub name: String,
    /// The value, or for a secret the name of the ferry secret holding it.
    pub value: String,
    pub kind: VariableKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VariableKind {
    Plaintext,
    /// Read from ferry's secrets when the build starts; masked in its log.
    Secret,
}

/// A build's status (CodeBuild's `buildStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BuildStatus {
    /// Waiting for a build host (CodeBuild shows these IN_PROGRESS in the QUEUED phase).
    Queued,
    InProgress,
    Succeeded,
    Failed,
    /// The build host failed (not the build's commands).
    Fault,
    TimedOut,
    Stopped,
}

impl BuildStatus {
    pub fn is_terminal(self) -> bool {
        !matches!(self, BuildStatus::Queued | BuildStatus::InProgress)
    }

    /// CodeBuild's name (`QUEUED` shows as `IN_PROGRESS`, as CodeBuild does).
    pub fn aws_name(self) -> &'static str {
        match self {
            BuildStatus::Queued | BuildStatus::InProgress => "IN_PROGRESS",
            BuildStatus::Succeeded => "SUCCEEDED",
            BuildStatus::Failed => "FAILED",
            BuildStatus::Fault => "FAULT",
            BuildStatus::TimedOut => "TIMED_OUT",
            BuildStatus::Stopped => "STOPPED",
        }
    }
}

/// One phase of a build as it ran (CodeBuild's `BuildPhase`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildPhase {
    /// CodeBuild's phase name: SUBMITTED, QUEUED, PROVISIONING, DOWNLOAD_SOURCE,
    /// INSTALL, PRE_BUILD, BUILD, POST_BUILD, UPLOAD_ARTIFACTS, FINALIZING, COMPLETED.
    pub name: String,
    /// SUCCEEDED, FAILED, FAULT, TIMED_OUT, STOPPED; `None` while it runs.
    pub status: Option<String>,
    pub start_time: Millis,
    pub end_time: Option<Millis>,
    /// Why it failed, as the runner says it.
    #[serde(default)]
    pub message: Option<String>,
}

/// An artifact a build produced, kept in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildArtifact {
    /// `None` for the primary artifact, else the secondary artifact's identifier.
    pub identifier: Option<String>,
    pub blob_key: String,
    pub sha256: String,
    pub size: u64,
}

/// A source bundle kept in the blob store: what `ferry build start --source
/// DIR` uploaded, or an S3 source the server fetched when the build was
/// started. The build host downloads it by the build's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceBundle {
    pub blob_key: String,
    pub sha256: String,
    pub size: u64,
    /// `zip`, `tar` or `tgz`.
    pub bundle_type: String,
}

/// One test report of a build (a report group of the buildspec's
/// `reports`), parsed into cases (CodeBuild's `Report` and `TestCase`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildReport {
    /// The report group's name in the buildspec.
    pub name: String,
    /// `JUNITXML`, `TESTNGXML` or `CUCUMBERJSON`.
    pub format: String,
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub error: u64,
    pub skipped: u64,
    pub unknown: u64,
    /// The sum of the cases' known durations.
    pub duration_ms: u64,
    pub cases: Vec<TestCaseRecord>,
    /// Files that could not be read or parsed, with why.
    #[serde(default)]
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCaseRecord {
    pub suite: String,
    /// CodeBuild's `prefix`: the class, or a feature's uri.
    pub prefix: String,
    pub name: String,
    /// SUCCEEDED, FAILED, ERROR, SKIPPED or UNKNOWN.
    pub status: String,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub message: Option<String>,
}

/// Who started a build (CodeBuild's `initiator`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Initiator {
    /// An access key (a person or a script).
    Key(String),
    /// A git webhook of the project.
    Webhook,
    /// A pipeline (`codepipeline/<name>`).
    Pipeline(String),
    /// The server's polling of the project's git branch saw a new commit.
    Poll,
}

impl Initiator {
    /// CodeBuild's `initiator` (and `CODEBUILD_INITIATOR`): the access key,
    /// `webhook`, `git-poll`, or `codepipeline/<name>`.
    pub fn name(&self) -> String {
        match self {
            Initiator::Key(key) => key.clone(),
            Initiator::Webhook => "webhook".into(),
            Initiator::Poll => "git-poll".into(),
            Initiator::Pipeline(name) => format!("codepipeline/{name}"),
        }
    }
}

/// A build: the record the server keeps and the APIs show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// `<project>:<uuid>`, as CodeBuild's build ids.
    pub id: String,
    /// 1, 2, … per project.
    pub number: u64,
    pub project: String,
    pub status: BuildStatus,
    pub phases: Vec<BuildPhase>,
    pub initiator: Initiator,
    /// What was asked for (a branch, a commit, `pr/N`); `None`: the project's.
    pub source_version: Option<String>,
    /// The commit built, once the source is downloaded.
    #[serde(default)]
    pub resolved_source_version: Option<String>,
    /// The project's settings when the build was started, with the
    /// build's own overrides applied: later edits of the project do not
    /// change a build already queued.
    pub settings: BuildProject,
    pub queued_time: Millis,
    pub start_time: Option<Millis>,
    pub end_time: Option<Millis>,
    /// The build host it ran on, and what environment (a container of an
    /// image, or a workspace on the host).
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub artifacts: Vec<BuildArtifact>,
    #[serde(default)]
    pub exported_variables: Vec<(String, String)>,
    /// Set by StopBuild until the build host has stopped it.
    #[serde(default)]
    pub stop_requested: bool,
    /// The uploaded or fetched source (`Upload` and `S3` sources).
    #[serde(default)]
    pub source_bundle: Option<SourceBundle>,
    /// When the build host last said the build was alive (progress or a
    /// log chunk): a running build whose host stays silent past the agent
    /// lost time ends FAULT.
    #[serde(default)]
    pub last_heard: Option<Millis>,
    /// The webhook event that started the build (`Initiator::Webhook`).
    #[serde(default)]
    pub webhook: Option<BuildWebhook>,
    /// The pipeline action attempt that started it (`Initiator::Pipeline`),
    /// `<execution>/<stage>/<action>/<attempt>`: a server that restarts
    /// before recording the build finds it by this instead of starting another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_action: Option<String>,
    /// Secondary sources, by identifier (a pipeline's other input
    /// artifacts): each in `$CODEBUILD_SRC_DIR_<identifier>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondary_sources: Vec<(String, SourceBundle)>,
}

/// Why a project was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRefusal(pub String);

impl std::fmt::Display for ProjectRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProjectRefusal {}

/// CodeBuild's rules for a project: its name (`[A-Za-z0-9][A-Za-z0-9-_]`,
/// 2 to 150 characters), its timeouts, and variable names (the `CODEBUILD_`
/// prefix is reserved; names are shell-safe).
pub fn check_project(p: &BuildProject) -> Result<(), ProjectRefusal> {
    let refuse = |m: String| Err(ProjectRefusal(m));
    let name_ok = (2..=150).contains(&p.name.len())
        && p.name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return refuse(format!(
            "project name {:?}: 2 to 150 letters, digits, '-' or '_', starting with a letter or digit",
            p.name
        ));
    }
    if !BUILD_TIMEOUT_MINUTES.contains(&p.timeout_minutes) {
        return refuse(format!("the build timeout must be 5 to 2160 minutes (got {})", p.timeout_minutes));
    }
    if !QUEUED_TIMEOUT_MINUTES.contains(&p.queued_timeout_minutes) {
        return refuse(format!("the queued timeout must be 5 to 480 minutes (got {})", p.queued_timeout_minutes));
    }
    if p.concurrent_build_limit == Some(0) {
        return refuse("the concurrent build limit must be at least 1".into());
    }
    for v in &p.variables {
        let shell_name = v.name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && v.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !shell_name {
            return refuse(format!("variable name {:?}: letters, digits and '_', not starting with a digit", v.name));
        }
        if v.name.starts_with("CODEBUILD_") {
            return refuse(format!("variable {}: the CODEBUILD_ prefix is reserved for CodeBuild's variables", v.name));
        }
    }
    if let Some(every) = p.poll_seconds {
        if !matches!(p.source, BuildSource::Git { .. }) {
            return refuse("only a git source can be polled for new commits".into());
        }
        if !POLL_SECONDS.contains(&every) {
            return refuse(format!("the polling interval must be 30 to 86400 seconds (got {every})"));
        }
    }
    if p.notify.len() > 10 {
        return refuse(format!("at most 10 notification addresses (got {})", p.notify.len()));
    }
    if matches!(p.source, BuildSource::NoSource) && p.buildspec.as_deref().is_none_or(|b| !is_inline_buildspec(b)) {
        return refuse("a project without a source needs an inline buildspec".into());
    }
    Ok(())
}

/// Whether a project's `buildspec` is the buildspec itself rather than a
/// path in the source (CodeBuild: a value that is YAML, not a file name).
pub fn is_inline_buildspec(value: &str) -> bool {
    value.contains('\n') || value.trim_start().starts_with("version:")
}

/// A new build of `project`, queued: number `number`, id from `uuid`.
pub fn queue_build(
    project: &BuildProject,
    number: u64,
    uuid: &str,
    initiator: Initiator,
    source_version: Option<String>,
    now: Millis,
) -> Build {
    Build {
        id: format!("{}:{uuid}", project.name),
        number,
        project: project.name.clone(),
        status: BuildStatus::Queued,
        phases: vec![
            BuildPhase {
                name: "SUBMITTED".into(),
                status: Some("SUCCEEDED".into()),
                start_time: now,
                end_time: Some(now),
                message: None,
            },
            BuildPhase { name: "QUEUED".into(), status: None, start_time: now, end_time: None, message: None },
        ],
        initiator,
        source_version,
        resolved_source_version: None,
        settings: project.clone(),
        queued_time: now,
        start_time: None,
        end_time: None,
        host: None,
        environment: None,
        artifacts: Vec::new(),
        exported_variables: Vec::new(),
        stop_requested: false,
        source_bundle: None,
        last_heard: None,
        webhook: None,
        pipeline_action: None,
        secondary_sources: Vec::new(),
    }
}

/// Ends a build that waited longer than its queued timeout for a build
/// host; returns whether it did. CodeBuild's Woodpecker-style complaint
/// ("pending forever") is answered by this and by saying why it waits.
pub fn expire_queued(build: &mut Build, now: Millis) -> bool {
    let limit = u64::from(build.settings.queued_timeout_minutes) * 60_000;
    if build.status != BuildStatus::Queued || now.saturating_sub(build.queued_time) < limit {
        return false;
    }
    if let Some(queued) = build.phases.iter_mut().find(|p| p.name == "QUEUED" && p.end_time.is_none()) {
        queued.status = Some("TIMED_OUT".into());
        queued.end_time = Some(now);
        queued.message = Some(format!(
            "No build host took the build within its queued timeout of {} minutes.",
            build.settings.queued_timeout_minutes
        ));
    }
    build.status = BuildStatus::TimedOut;
    build.end_time = Some(now);
    true
}

/// The oldest queued build that may start now: builds of a project at its
/// `concurrent_build_limit` wait (CodeBuild queues them too). `unfinished`
/// is every queued or running build, oldest first.
pub fn next_to_run(unfinished: &[Build]) -> Option<&Build> {
    unfinished.iter().filter(|b| b.status == BuildStatus::Queued).find(|b| {
        let limit = b.settings.concurrent_build_limit.map_or(u64::MAX, u64::from);
        let running =
            unfinished.iter().filter(|r| r.project == b.project && r.status == BuildStatus::InProgress).count();
        (running as u64) < limit
    })
}

/// A queued build taken by build host `host`: QUEUED ends, the build runs.
pub fn assign(build: &mut Build, host: &str, now: Millis) {
    if let Some(queued) = build.phases.iter_mut().find(|p| p.name == "QUEUED" && p.end_time.is_none()) {
        queued.status = Some("SUCCEEDED".into());
        queued.end_time = Some(now);
    }
    build.status = BuildStatus::InProgress;
    build.start_time = Some(now);
    build.host = Some(host.to_string());
    build.last_heard = Some(now);
}

/// The phases a build host reported, after the server's own (SUBMITTED and
/// QUEUED: the host's SUBMITTED is left out).
pub fn take_phases(build: &mut Build, from_host: Vec<BuildPhase>) {
    build.phases.retain(|p| p.name == "SUBMITTED" || p.name == "QUEUED");
    build.phases.extend(from_host.into_iter().filter(|p| p.name != "SUBMITTED" && p.name != "QUEUED"));
}

/// Ends a build: any phase still open ends with the build's status, and
/// CodeBuild's closing COMPLETED phase (no status) follows.
pub fn complete(build: &mut Build, status: BuildStatus, now: Millis) {
    let phase_status = match status {
        BuildStatus::Queued | BuildStatus::InProgress => "FAULT",
        other => other.aws_name(),
    };
    for p in build.phases.iter_mut().filter(|p| p.end_time.is_none()) {
        p.status = Some(phase_status.into());
        p.end_time = Some(now);
    }
    build.phases.push(BuildPhase {
        name: "COMPLETED".into(),
        status: None,
        start_time: now,
        end_time: None,
        message: None,
    });
    build.status = if status.is_terminal() { status } else { BuildStatus::Fault };
    build.end_time = Some(now);
    build.stop_requested = false;
}

/// Ends a running build its host lost (silent too long, or restarted): the
/// open phase says why, the build is FAULT (the host's failure, not the build's).
pub fn fault(build: &mut Build, why: &str, now: Millis) {
    if let Some(open) = build.phases.iter_mut().rev().find(|p| p.end_time.is_none()) {
        open.message = Some(why.to_string());
    } else {
        build.phases.push(BuildPhase {
            name: "PROVISIONING".into(),
            status: None,
            start_time: now,
            end_time: None,
            message: Some(why.to_string()),
        });
    }
    complete(build, BuildStatus::Fault, now);
}

impl BuildStatus {
    /// The status a build host reports by CodeBuild's name (terminal ones only).
    pub fn from_final_name(name: &str) -> Option<BuildStatus> {
        Some(match name {
            "SUCCEEDED" => BuildStatus::Succeeded,
            "FAILED" => BuildStatus::Failed,
            "FAULT" => BuildStatus::Fault,
            "TIMED_OUT" => BuildStatus::TimedOut,
            "STOPPED" => BuildStatus::Stopped,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> BuildProject {
        BuildProject {
            id: "p1".into(),
            name: "shop-build".into(),
            description: String::new(),
            source: BuildSource::Git { url: "https://git.example/shop.git".into(), version: None },
            buildspec: None,
            image: Some("localhost/builder:1".into()),
            variables: vec![BuildVariable {
                name: "MODE".into(),
                value: "release".into(),
                kind: VariableKind::Plaintext,
            }],
            timeout_minutes: 60,
            queued_timeout_minutes: 480,
            concurrent_build_limit: None,
            cache: false,
            badge: false,
            tags: Vec::new(),
            create_time: 1,
            last_modified: 1,
            poll_seconds: None,
            notify: Vec::new(),
            webhook: None,
        }
    }

    #[test]
    fn a_webhook_build_has_codebuilds_variables() {
        let hook = BuildWebhook {
            forge: "github".into(),
            event: WebhookEventType::PullRequestMerged,
            head_ref: "refs/heads/feature".into(),
            base_ref: Some("refs/heads/main".into()),
            commit: "c0ffee".into(),
            actor_account_id: Some("42".into()),
            trigger: "pr/7".into(),
            prev_commit: None,
            merge_commit: Some("beef".into()),
            pr_number: Some(7),
            repository_url: None,
            server_url: None,
        };
        let vars = hook.variables();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CODEBUILD_WEBHOOK_EVENT"), Some("PULL_REQUEST_MERGED"));
        assert_eq!(get("CODEBUILD_WEBHOOK_TRIGGER"), Some("pr/7"));
        assert_eq!(get("CODEBUILD_WEBHOOK_BASE_REF"), Some("refs/heads/main"));
        assert_eq!(get("CODEBUILD_WEBHOOK_MERGE_COMMIT"), Some("beef"));
        assert_eq!(get("CODEBUILD_WEBHOOK_PREV_COMMIT"), None, "left out without a value");
        for t in WebhookEventType::ALL {
            assert_eq!(WebhookEventType::from_name(t.name()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.name());
        }
        for t in WebhookFilterType::ALL {
            assert_eq!(WebhookFilterType::from_name(t.name()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.name());
        }
        // A project stored before webhooks existed reads without one.
        let old = serde_json::json!({"id":"p","name":"pp","source":"NoSource","timeout_minutes":60,
            "queued_timeout_minutes":480,"create_time":1,"last_modified":1});
        assert_eq!(serde_json::from_value::<BuildProject>(old).unwrap().webhook, None);
    }

    #[test]
    fn projects_follow_codebuilds_rules() {
        assert!(check_project(&project()).is_ok());
        let bad = |f: fn(&mut BuildProject)| {
            let mut p = project();
            f(&mut p);
            check_project(&p).unwrap_err().0
        };
        assert!(bad(|p| p.name = "-x".into()).contains("project name"));
        assert!(bad(|p| p.name = "a".into()).contains("project name"));
        assert!(bad(|p| p.timeout_minutes = 4).contains("build timeout"));
        assert!(bad(|p| p.queued_timeout_minutes = 481).contains("queued timeout"));
        assert!(bad(|p| p.concurrent_build_limit = Some(0)).contains("at least 1"));
        assert!(bad(|p| p.variables[0].name = "CODEBUILD_X".into()).contains("reserved"));
        assert!(bad(|p| p.variables[0].name = "A B".into()).contains("variable name"));
        assert!(bad(|p| p.source = BuildSource::NoSource).contains("inline buildspec"));
        let mut inline = project();
        inline.source = BuildSource::NoSource;
        inline.buildspec = Some("version: 0.2\nphases:\n  build:\n    commands: [make]\n".into());
        assert!(check_project(&inline).is_ok());
        assert!(!is_inline_buildspec("ci/buildspec.yml"));
    }

    #[test]
    fn a_queued_build_times_out_after_its_queued_timeout_and_says_why() {
        let p = BuildProject { queued_timeout_minutes: 5, ..project() };
        let mut b = queue_build(&p, 7, "0f1e", Initiator::Key("FKIA1".into()), Some("main".into()), 1_000);
        assert_eq!((b.id.as_str(), b.number, b.status), ("shop-build:0f1e", 7, BuildStatus::Queued));
        assert_eq!(b.status.aws_name(), "IN_PROGRESS");
        assert!(!expire_queued(&mut b, 1_000 + 299_999));
        assert!(expire_queued(&mut b, 1_000 + 300_000));
        assert_eq!(b.status, BuildStatus::TimedOut);
        let queued = b.phases.iter().find(|p| p.name == "QUEUED").unwrap();
        assert_eq!(queued.status.as_deref(), Some("TIMED_OUT"));
        assert!(queued.message.as_deref().unwrap().contains("5 minutes"));
        assert!(!expire_queued(&mut b, 10_000_000), "once");
    }

    #[test]
    fn builds_run_oldest_first_within_each_projects_limit() {
        let mut limited = project();
        limited.concurrent_build_limit = Some(1);
        let a1 = queue_build(&limited, 1, "a1", Initiator::Webhook, None, 10);
        let mut a2 = queue_build(&limited, 2, "a2", Initiator::Webhook, None, 20);
        let mut other = limited.clone();
        other.name = "other".into();
        other.concurrent_build_limit = None;
        let b1 = queue_build(&other, 1, "b1", Initiator::Webhook, None, 30);
        assert_eq!(next_to_run(&[a1.clone(), a2.clone(), b1.clone()]).unwrap().id, a1.id);
        let mut running = a1.clone();
        assign(&mut running, "h1", 40);
        assert_eq!((running.status, running.host.as_deref()), (BuildStatus::InProgress, Some("h1")));
        assert_eq!(running.phases[1].status.as_deref(), Some("SUCCEEDED"), "QUEUED ends");
        // a2 waits for a1 (limit 1); b1's project has room.
        assert_eq!(next_to_run(&[running.clone(), a2.clone(), b1.clone()]).unwrap().id, b1.id);
        assert!(next_to_run(&[running.clone(), a2.clone()]).is_none());

        // The host's phases follow the server's; the end closes what is open.
        let phase = |name: &str, status: Option<&str>| BuildPhase {
            name: name.into(),
            status: status.map(Into::into),
            start_time: 50,
            end_time: status.map(|_| 60),
            message: None,
        };
        take_phases(
            &mut running,
            vec![phase("SUBMITTED", Some("SUCCEEDED")), phase("PROVISIONING", Some("SUCCEEDED")), phase("BUILD", None)],
        );
        let names: Vec<&str> = running.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["SUBMITTED", "QUEUED", "PROVISIONING", "BUILD"]);
        fault(&mut running, "the build host stopped answering", 70);
        assert_eq!(running.status, BuildStatus::Fault);
        let build = &running.phases[3];
        assert_eq!(
            (build.status.as_deref(), build.message.as_deref()),
            (Some("FAULT"), Some("the build host stopped answering"))
        );
        assert_eq!(running.phases.last().unwrap().name, "COMPLETED");

        complete(&mut a2, BuildStatus::Stopped, 80);
        assert_eq!(a2.phases[1].status.as_deref(), Some("STOPPED"));
        assert_eq!(BuildStatus::from_final_name("TIMED_OUT"), Some(BuildStatus::TimedOut));
        assert_eq!(BuildStatus::from_final_name("IN_PROGRESS"), None);
    }
}
