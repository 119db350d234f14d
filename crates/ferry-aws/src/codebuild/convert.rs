//! ferry-core's build projects and builds to CodeBuild's wire shapes, and
//! CodeBuild's (validated) requests to domain values.
//!
//! Each member of CreateProject, UpdateProject and StartBuild is either
//! *taken* (it changes what ferry builds), *accepted and ignored* (it has no
//! meaning in ferry and ignoring it changes nothing the caller relies on),
//! or *refused* with `InvalidInputException` naming the member (ignoring it
//! would be a silent lie). The decisions, member by member:
//!
//! | member | ferry |
//! |---|---|
//! | `source` NO_SOURCE / S3 / GITHUB, GITHUB_ENTERPRISE, GITLAB, GITLAB_SELF_MANAGED, BITBUCKET, CODECOMMIT | taken: no source, `bucket/key`, a git clone URL |
//! | `source.buildspec`, `sourceVersion` (git only) | taken |
//! | `source.gitCloneDepth`, `source.sourceIdentifier`, `source.buildStatusConfig` | ignored |
//! | `source.auth`, `insecureSsl: true`, `reportBuildStatus: true`, `gitSubmodulesConfig.fetchSubmodules: true` | refused |
//! | `secondarySources`, `secondarySourceVersions` (non-empty) | refused: one source per build |
//! | `artifacts`, `secondaryArtifacts` (NO_ARTIFACTS or S3) | ignored: the buildspec's `artifacts` decide, kept in ferry's blob store |
//! | `cache` | taken: NO_CACHE off, LOCAL or S3 on (kept by ferry, location ignored) |
//! | `environment.image`, `environment.environmentVariables` | taken (PARAMETER_STORE and SECRETS_MANAGER name a ferry secret) |
//! | `environment.type` (Linux), `computeType`, `computeConfiguration`, `imagePullCredentialsType` | ignored |
//! | `environment.privilegedMode: true`, `certificate`, `registryCredential` | refused |
//! | `timeoutInMinutes`, `queuedTimeoutInMinutes`, `concurrentBuildLimit` (-1 removes it), `tags`, `description` | taken |
//! | `badgeEnabled` | kept: the badge is served at `/badges/builds/<name>.svg` (`badgeRequestUrl` is not filled in) |
//! | `serviceRole`, `encryptionKey`, `logsConfig.cloudWatchLogs` | ignored (ferry has no IAM, no KMS; it keeps every log itself) |
//! | `logsConfig.s3Logs` ENABLED, `autoRetryLimit` > 0 | refused |
//! | `vpcConfig`, `fileSystemLocations`, `buildBatchConfig`, fleets, Windows/macOS | refused ([`super::validate`]) |
//!
//! StartBuild's overrides follow the same decisions; `environmentVariablesOverride`
//! replaces the project's variables of the same name and adds the others,
//! `idempotencyToken` is ignored (a retried call starts a second build).
//!
//! Answers show what ferry keeps: a git source's type is derived from its
//! URL's host (github.com → GITHUB, gitlab.com → GITLAB, bitbucket.org →
//! BITBUCKET, git-codecommit.* → CODECOMMIT, a host naming gitlab →
//! GITLAB_SELF_MANAGED, any other → GITHUB_ENTERPRISE); a project whose
//! source is uploaded with each build (`ferry build start --source`) shows as
//! NO_SOURCE; artifacts always as S3 in ferry's pseudo-bucket
//! ([`FERRY_BUCKET`]); a project without an image (builds in a workspace on
//! the build host) as the image [`WORKSPACE_IMAGE`], which is also how the
//! API asks for one; every secret variable as SECRETS_MANAGER. A build's
//! test reports are CodeBuild's reports: the buildspec's report group
//! `unit` of project `web` is the report group `web-unit`, and the report a
//! build made there has the build's id (`report/web-unit:<uuid>`).

use ferry_core::Millis;
use ferry_core::build::{
    Build, BuildArtifact, BuildPhase, BuildProject, BuildReport, BuildSource, BuildStatus, BuildVariable,
    TestCaseRecord, VariableKind,
};
use ferry_core::resources::Tag;

use super::validate::{self, invalid_input};
use super::wire;
use crate::arn::Arns;
use crate::convert::{FERRY_BUCKET, ts};
use crate::{AwsError, AwsResult};

/// The image name that stands for "no container: a fresh workspace as an
/// unprivileged user on the build host" (a project without an image).
pub const WORKSPACE_IMAGE: &str = "ferry:workspace";
/// CodeBuild's defaults when CreateProject leaves the timeouts out.
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 60;
pub const DEFAULT_QUEUED_TIMEOUT_MINUTES: u32 = 480;

fn refuse(member: &str, why: &str) -> AwsError {
    invalid_input(format!("{member}: {why}"))
}

// ---------------------------------------------------------------- to the wire

/// The host of a git URL (`https://user@host:port/…` or `user@host:path`).
fn git_host(url: &str) -> String {
    let rest = url.split_once("://").map_or_else(|| url.split(':').next().unwrap_or(""), |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    host.split(':').next().unwrap_or("").to_ascii_lowercase()
}

/// The CodeBuild source type shown for a git source (ferry keeps the URL only).
pub fn git_source_type(url: &str) -> &'static str {
    let host = git_host(url);
    match host.as_str() {
        "github.com" | "www.github.com" => "GITHUB",
        "gitlab.com" | "www.gitlab.com" => "GITLAB",
        "bitbucket.org" | "www.bitbucket.org" => "BITBUCKET",
        h if h.starts_with("git-codecommit.") => "CODECOMMIT",
        h if h.contains("gitlab") => "GITLAB_SELF_MANAGED",
        _ => "GITHUB_ENTERPRISE",
    }
}

pub fn project_source(p: &BuildProject) -> wire::ProjectSource {
    let (kind, location) = match &p.source {
        BuildSource::NoSource | BuildSource::Upload => ("NO_SOURCE", None),
        BuildSource::Git { url, .. } => (git_source_type(url), Some(url.clone())),
        BuildSource::S3 { bucket, key } => ("S3", Some(format!("{bucket}/{key}"))),
    };
    wire::ProjectSource { kind: Some(kind.into()), location, buildspec: p.buildspec.clone(), ..Default::default() }
}

fn variable(v: &BuildVariable) -> wire::EnvironmentVariable {
    let kind = match v.kind {
        VariableKind::Plaintext => "PLAINTEXT",
        VariableKind::Secret => "SECRETS_MANAGER",
    };
    wire::EnvironmentVariable { name: Some(v.name.clone()), value: Some(v.value.clone()), kind: Some(kind.into()) }
}

pub fn project_environment(p: &BuildProject) -> wire::ProjectEnvironment {
    wire::ProjectEnvironment {
        kind: Some("LINUX_CONTAINER".into()),
        image: Some(p.image.clone().unwrap_or_else(|| WORKSPACE_IMAGE.into())),
        compute_type: Some("BUILD_GENERAL1_SMALL".into()),
        environment_variables: Some(p.variables.iter().map(variable).collect()),
        privileged_mode: Some(false),
        ..Default::default()
    }
}

pub fn project_cache(p: &BuildProject) -> wire::ProjectCache {
    if p.cache {
        wire::ProjectCache {
            kind: Some("LOCAL".into()),
            modes: Some(vec!["LOCAL_CUSTOM_CACHE".into()]),
            ..Default::default()
        }
    } else {
        wire::ProjectCache { kind: Some("NO_CACHE".into()), ..Default::default() }
    }
}

/// Where ferry keeps every build's artifacts: its own blob store, shown as
/// its pseudo-bucket.
pub fn project_artifacts() -> wire::ProjectArtifacts {
    wire::ProjectArtifacts {
        kind: Some("S3".into()),
        location: Some(FERRY_BUCKET.into()),
        packaging: Some("ZIP".into()),
        ..Default::default()
    }
}

fn tag(t: &Tag) -> wire::Tag {
    wire::Tag { key: Some(t.key.clone()), value: Some(t.value.clone()) }
}

pub fn project(p: &BuildProject, arns: &Arns) -> wire::Project {
    wire::Project {
        name: p.name.clone(),
        arn: arns.project(&p.name),
        description: (!p.description.is_empty()).then(|| p.description.clone()),
        source: project_source(p),
        secondary_sources: Vec::new(),
        source_version: match &p.source {
            BuildSource::Git { version, .. } => version.clone(),
            _ => None,
        },
        secondary_source_versions: Vec::new(),
        artifacts: project_artifacts(),
        secondary_artifacts: Vec::new(),
        cache: project_cache(p),
        environment: project_environment(p),
        service_role: None,
        timeout_in_minutes: i64::from(p.timeout_minutes),
        queued_timeout_in_minutes: i64::from(p.queued_timeout_minutes),
        encryption_key: None,
        tags: p.tags.iter().map(tag).collect(),
        created: ts(p.create_time),
        last_modified: ts(p.last_modified),
        webhook: None,
        badge: wire::ProjectBadge { badge_enabled: p.badge, badge_request_url: None },
        logs_config: None,
        concurrent_build_limit: p.concurrent_build_limit.map(i64::from),
        project_visibility: "PRIVATE".into(),
        auto_retry_limit: None,
    }
}

/// Where an artifact kept in the blob store is, in S3's words:
/// `FerryServer/builds/<build id>` for the primary artifact (CodeDeploy's
/// CreateDeployment takes that S3 location and deploys it), with
/// `/<identifier>` after it for a secondary one.
pub fn artifact_location(build_id: &str, a: &BuildArtifact) -> String {
    match &a.identifier {
        None => format!("arn:aws:s3:::{FERRY_BUCKET}/{}{build_id}", crate::convert::BUILDS_KEY_PREFIX),
        Some(id) => format!("arn:aws:s3:::{FERRY_BUCKET}/{}{build_id}/{id}", crate::convert::BUILDS_KEY_PREFIX),
    }
}

fn artifact(build_id: &str, a: &BuildArtifact) -> wire::BuildArtifacts {
    wire::BuildArtifacts {
        location: Some(artifact_location(build_id, a)),
        sha256sum: Some(a.sha256.clone()),
        artifact_identifier: a.identifier.clone(),
        ..Default::default()
    }
}

fn phase(p: &BuildPhase) -> wire::BuildPhase {
    wire::BuildPhase {
        phase_type: p.name.clone(),
        phase_status: p.status.clone(),
        start_time: ts(p.start_time),
        end_time: p.end_time.map(ts),
        duration_in_seconds: p.end_time.map(|end| (end.saturating_sub(p.start_time) / 1000) as i64),
        contexts: p
            .message
            .iter()
            .map(|m| wire::PhaseContext { status_code: p.status.clone().unwrap_or_default(), message: m.clone() })
            .collect(),
    }
}

/// A build as CodeBuild shows it, with its reports; `log_link` is where
/// its log is served.
pub fn build(b: &Build, reports: &[BuildReport], arns: &Arns, log_link: Option<String>) -> wire::Build {
    let complete = b.status.is_terminal();
    let mut phases: Vec<wire::BuildPhase> = b.phases.iter().map(phase).collect();
    if let (true, Some(end)) = (complete, b.end_time)
        && !b.phases.iter().any(|p| p.name == "COMPLETED")
    {
        // CodeBuild ends every finished build with a COMPLETED phase.
        phases.push(wire::BuildPhase { phase_type: "COMPLETED".into(), start_time: ts(end), ..Default::default() });
    }
    let current_phase = if complete {
        "COMPLETED".to_string()
    } else {
        b.phases.iter().rev().find(|p| p.end_time.is_none()).or(b.phases.last()).map_or_else(
            || if b.status == BuildStatus::Queued { "QUEUED".into() } else { "SUBMITTED".into() },
            |p| p.name.clone(),
        )
    };
    let settings = &b.settings;
    wire::Build {
        id: b.id.clone(),
        arn: arns.build(&b.id),
        build_number: b.number as i64,
        start_time: ts(b.queued_time),
        end_time: b.end_time.map(ts),
        current_phase,
        build_status: b.status.aws_name().into(),
        source_version: b.source_version.clone(),
        resolved_source_version: b.resolved_source_version.clone(),
        project_name: b.project.clone(),
        phases,
        source: project_source(settings),
        secondary_sources: Vec::new(),
        secondary_source_versions: Vec::new(),
        artifacts: b.artifacts.iter().find(|a| a.identifier.is_none()).map(|a| artifact(&b.id, a)).unwrap_or_default(),
        secondary_artifacts: b
            .artifacts
            .iter()
            .filter(|a| a.identifier.is_some())
            .map(|a| artifact(&b.id, a))
            .collect(),
        cache: project_cache(settings),
        environment: project_environment(settings),
        service_role: None,
        logs: wire::LogsLocation { deep_link: log_link, ..Default::default() },
        timeout_in_minutes: i64::from(settings.timeout_minutes),
        queued_timeout_in_minutes: i64::from(settings.queued_timeout_minutes),
        build_complete: complete,
        initiator: b.initiator.name(),
        encryption_key: None,
        exported_environment_variables: b
            .exported_variables
            .iter()
            .map(|(name, value)| wire::ExportedEnvironmentVariable { name: name.clone(), value: value.clone() })
            .collect(),
        report_arns: reports.iter().map(|r| report_arn(b, r, arns)).collect(),
        auto_retry_config: None,
    }
}

// ---------------------------------------------------------------- reports

/// The report group a buildspec's report group `name` makes in `project`
/// (CodeBuild's naming: `<project>-<name>`).
pub fn report_group_name(project: &str, name: &str) -> String {
    format!("{project}-{name}")
}

/// The part of a build id after the project (`<project>:<uuid>`), which
/// is also the id of each of the build's reports.
pub fn build_uuid(build_id: &str) -> &str {
    build_id.split_once(':').map_or(build_id, |(_, uuid)| uuid)
}

pub fn report_arn(b: &Build, r: &BuildReport, arns: &Arns) -> String {
    arns.report(&report_group_name(&b.project, &r.name), build_uuid(&b.id))
}

/// SUCCEEDED when every case passed or was skipped, INCOMPLETE when no
/// file could be read, else FAILED (as CodeBuild reports them).
pub fn report_status(r: &BuildReport) -> &'static str {
    if r.total == 0 && !r.errors.is_empty() {
        "INCOMPLETE"
    } else if r.failed + r.error > 0 {
        "FAILED"
    } else {
        "SUCCEEDED"
    }
}

/// When a build's reports were made: when it ended (or was queued).
pub fn report_time(b: &Build) -> Millis {
    b.end_time.unwrap_or(b.queued_time)
}

fn no_export() -> wire::ReportExportConfig {
    wire::ReportExportConfig { export_config_type: "NO_EXPORT".into(), s3_destination: None }
}

pub fn report(b: &Build, r: &BuildReport, arns: &Arns) -> wire::Report {
    let counts = [
        ("SUCCEEDED", r.succeeded),
        ("FAILED", r.failed),
        ("ERROR", r.error),
        ("SKIPPED", r.skipped),
        ("UNKNOWN", r.unknown),
    ];
    wire::Report {
        arn: report_arn(b, r, arns),
        kind: "TEST".into(),
        name: r.name.clone(),
        report_group_arn: arns.report_group(&report_group_name(&b.project, &r.name)),
        execution_id: arns.build(&b.id),
        status: report_status(r).into(),
        created: ts(report_time(b)),
        expired: None,
        export_config: no_export(),
        truncated: false,
        test_summary: Some(wire::TestReportSummary {
            total: r.total as i64,
            status_counts: counts.iter().map(|(k, v)| ((*k).to_string(), *v as i64)).collect(),
            duration_in_nano_seconds: (r.duration_ms as i64).saturating_mul(1_000_000),
        }),
    }
}

pub fn test_case(report_arn: &str, c: &TestCaseRecord) -> wire::TestCase {
    wire::TestCase {
        report_arn: report_arn.into(),
        test_raw_data_path: None,
        prefix: Some(c.prefix.clone()),
        name: c.name.clone(),
        status: c.status.clone(),
        duration_in_nano_seconds: c.duration_ms.map_or(0, |ms| (ms as i64).saturating_mul(1_000_000)),
        message: c.message.clone(),
        expired: None,
        test_suite_name: Some(c.suite.clone()),
    }
}

/// A report group as its reports show it: made with its first report,
/// changed with its last.
pub fn report_group(name: &str, created: Millis, last_modified: Millis, arns: &Arns) -> wire::ReportGroup {
    wire::ReportGroup {
        arn: arns.report_group(name),
        name: name.into(),
        kind: "TEST".into(),
        export_config: no_export(),
        created: ts(created),
        last_modified: ts(last_modified),
        tags: Vec::new(),
        status: "ACTIVE".into(),
    }
}

// ---------------------------------------------------------------- from the wire

/// A source of CreateProject, UpdateProject or StartBuild's overrides
/// (validated by [`super::validate`]): the source and its buildspec.
fn source(s: &wire::ProjectSource, member: &str) -> AwsResult<(BuildSource, Option<String>)> {
    if s.auth.is_some() {
        return Err(refuse(
            &format!("{member}.auth"),
            "ferry fetches sources with the server's own git credentials (credential helpers); the API takes none",
        ));
    }
    if s.insecure_ssl == Some(true) {
        return Err(refuse(&format!("{member}.insecureSsl"), "ferry always verifies a source's TLS certificate"));
    }
    if s.report_build_status == Some(true) {
        return Err(refuse(&format!("{member}.reportBuildStatus"), "ferry does not post build statuses to forges yet"));
    }
    if s.git_submodules_config.as_ref().and_then(|c| c.fetch_submodules) == Some(true) {
        return Err(refuse(
            &format!("{member}.gitSubmodulesConfig.fetchSubmodules"),
            "ferry does not fetch git submodules",
        ));
    }
    let kind = s.kind.as_deref().unwrap_or("");
    let location = s.location.clone().unwrap_or_default();
    let parsed = source_of(kind, &location);
    Ok((parsed, s.buildspec.clone().filter(|b| !b.is_empty())))
}

/// A source of a (validated) type and location.
fn source_of(kind: &str, location: &str) -> BuildSource {
    match kind {
        "NO_SOURCE" => BuildSource::NoSource,
        "S3" => {
            let (bucket, key) = location.split_once('/').unwrap_or((location, ""));
            BuildSource::S3 { bucket: bucket.into(), key: key.into() }
        }
        _ => BuildSource::Git { url: location.into(), version: None },
    }
}

fn variables(vars: &[wire::EnvironmentVariable]) -> Vec<BuildVariable> {
    vars.iter()
        .map(|v| BuildVariable {
            name: v.name.clone().unwrap_or_default(),
            value: v.value.clone().unwrap_or_default(),
            kind: match v.kind.as_deref() {
                Some("PARAMETER_STORE" | "SECRETS_MANAGER") => VariableKind::Secret,
                _ => VariableKind::Plaintext,
            },
        })
        .collect()
}

fn image(name: &str) -> Option<String> {
    (name != WORKSPACE_IMAGE).then(|| name.to_string())
}

fn environment(e: &wire::ProjectEnvironment, member: &str) -> AwsResult<(Option<String>, Vec<BuildVariable>)> {
    if e.privileged_mode == Some(true) {
        return Err(refuse(&format!("{member}.privilegedMode"), "ferry runs build containers unprivileged"));
    }
    if e.certificate.is_some() {
        return Err(refuse(&format!("{member}.certificate"), "ferry installs no certificates into build environments"));
    }
    if e.registry_credential.is_some() {
        return Err(refuse(
            &format!("{member}.registryCredential"),
            "build hosts pull images with their own container engine's credentials",
        ));
    }
    let vars = variables(e.environment_variables.as_deref().unwrap_or_default());
    Ok((image(e.image.as_deref().unwrap_or(WORKSPACE_IMAGE)), vars))
}

fn logs_config(logs: &wire::LogsConfig, member: &str) -> AwsResult<()> {
    if logs.s3_logs.as_ref().is_some_and(|s3| s3.status.as_deref() == Some("ENABLED")) {
        return Err(refuse(
            &format!("{member}.s3Logs"),
            "ferry keeps build logs itself and does not export them to S3",
        ));
    }
    Ok(())
}

fn minutes(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A new project of a (validated) CreateProject request.
pub fn new_project(i: &wire::CreateProjectInput, id: String, now: Millis) -> AwsResult<BuildProject> {
    let mut p = BuildProject {
        id,
        name: i.name.clone().unwrap_or_default(),
        description: String::new(),
        source: BuildSource::NoSource,
        buildspec: None,
        image: None,
        variables: Vec::new(),
        timeout_minutes: DEFAULT_TIMEOUT_MINUTES,
        queued_timeout_minutes: DEFAULT_QUEUED_TIMEOUT_MINUTES,
        concurrent_build_limit: None,
        cache: false,
        badge: false,
        tags: Vec::new(),
        create_time: now,
        last_modified: now,
        poll_seconds: None,
        notify: Vec::new(),
        webhook: None,
    };
    apply_settings(&mut p, i)?;
    Ok(p)
}

/// Applies the members a (validated) CreateProject or UpdateProject request
/// gives; absent members keep the project's value.
pub fn apply_settings(p: &mut BuildProject, i: &wire::CreateProjectInput) -> AwsResult<()> {
    if i.secondary_sources.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(refuse("secondarySources", "a ferry build has one source"));
    }
    if i.secondary_source_versions.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(refuse("secondarySourceVersions", "a ferry build has one source"));
    }
    if i.auto_retry_limit.is_some_and(|n| n > 0) {
        return Err(refuse("autoRetryLimit", "ferry does not retry failed builds by itself (call RetryBuild)"));
    }
    if let Some(logs) = &i.logs_config {
        logs_config(logs, "logsConfig")?;
    }
    let environment = i.environment.as_ref().map(|e| environment(e, "environment")).transpose()?;
    if let Some(s) = &i.source {
        let (mut new, buildspec) = source(s, "source")?;
        // The project's source version is its own member: a new URL keeps it.
        if let (BuildSource::Git { version, .. }, BuildSource::Git { version: old, .. }) = (&mut new, &p.source) {
            version.clone_from(old);
        }
        p.source = new;
        p.buildspec = buildspec;
    }
    if let Some(v) = &i.source_version {
        match &mut p.source {
            BuildSource::Git { version, .. } => *version = (!v.is_empty()).then(|| v.clone()),
            _ if v.is_empty() => {}
            _ => return Err(refuse("sourceVersion", "only a git source has versions (branches, tags, commits)")),
        }
    }
    if let Some((image, vars)) = environment {
        p.image = image;
        p.variables = vars;
    }
    if let Some(d) = &i.description {
        p.description.clone_from(d);
    }
    if let Some(badge) = i.badge_enabled {
        p.badge = badge;
    }
    if let Some(c) = &i.cache {
        p.cache = c.kind.as_deref() != Some("NO_CACHE");
    }
    if let Some(t) = i.timeout_in_minutes {
        p.timeout_minutes = minutes(t);
    }
    if let Some(t) = i.queued_timeout_in_minutes {
        p.queued_timeout_minutes = minutes(t);
    }
    if let Some(limit) = i.concurrent_build_limit {
        p.concurrent_build_limit = (limit > 0).then(|| minutes(limit));
    }
    if let Some(tags) = &i.tags {
        p.tags = tags
            .iter()
            .map(|t| Tag { key: t.key.clone().unwrap_or_default(), value: t.value.clone().unwrap_or_default() })
            .collect();
    }
    Ok(())
}

/// What a StartBuild request changes in the build's copy of its project's
/// settings, checked against the project; [`StartOverrides::apply`] then
/// cannot fail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartOverrides {
    pub source_version: Option<String>,
    source: Option<BuildSource>,
    buildspec: Option<String>,
    image: Option<Option<String>>,
    variables: Vec<BuildVariable>,
    timeout_minutes: Option<u32>,
    queued_timeout_minutes: Option<u32>,
    cache: Option<bool>,
}

impl StartOverrides {
    pub fn apply(&self, p: &mut BuildProject) {
        if let Some(source) = &self.source {
            p.source = source.clone();
        }
        if let Some(b) = &self.buildspec {
            p.buildspec = Some(b.clone());
        }
        if let Some(image) = &self.image {
            p.image.clone_from(image);
        }
        for v in &self.variables {
            match p.variables.iter_mut().find(|old| old.name == v.name) {
                Some(old) => *old = v.clone(),
                None => p.variables.push(v.clone()),
            }
        }
        if let Some(t) = self.timeout_minutes {
            p.timeout_minutes = t;
        }
        if let Some(t) = self.queued_timeout_minutes {
            p.queued_timeout_minutes = t;
        }
        if let Some(c) = self.cache {
            p.cache = c;
        }
    }
}

/// StartBuild's overrides of a (validated) request for `project`.
pub fn start_overrides(i: &wire::StartBuildInput, project: &BuildProject) -> AwsResult<StartOverrides> {
    let refusals: [(bool, &str, &str); 10] = [
        (
            i.secondary_sources_override.as_ref().is_some_and(|s| !s.is_empty()),
            "secondarySourcesOverride",
            "a ferry build has one source",
        ),
        (
            i.secondary_sources_version_override.as_ref().is_some_and(|s| !s.is_empty()),
            "secondarySourcesVersionOverride",
            "a ferry build has one source",
        ),
        (
            i.source_auth_override.is_some(),
            "sourceAuthOverride",
            "ferry fetches sources with the server's own git credentials (credential helpers); the API takes none",
        ),
        (
            i.insecure_ssl_override == Some(true),
            "insecureSslOverride",
            "ferry always verifies a source's TLS certificate",
        ),
        (
            i.report_build_status_override == Some(true),
            "reportBuildStatusOverride",
            "ferry does not post build statuses to forges yet",
        ),
        (
            i.git_submodules_config_override.as_ref().and_then(|c| c.fetch_submodules) == Some(true),
            "gitSubmodulesConfigOverride.fetchSubmodules",
            "ferry does not fetch git submodules",
        ),
        (
            i.certificate_override.is_some(),
            "certificateOverride",
            "ferry installs no certificates into build environments",
        ),
        (
            i.privileged_mode_override == Some(true),
            "privilegedModeOverride",
            "ferry runs build containers unprivileged",
        ),
        (
            i.registry_credential_override.is_some(),
            "registryCredentialOverride",
            "build hosts pull images with their own container engine's credentials",
        ),
        (
            i.auto_retry_limit_override.is_some_and(|n| n > 0),
            "autoRetryLimitOverride",
            "ferry does not retry failed builds by itself (call RetryBuild)",
        ),
    ];
    if let Some((_, member, why)) = refusals.iter().find(|(refused, _, _)| *refused) {
        return Err(refuse(member, why));
    }
    if let Some(logs) = &i.logs_config_override {
        logs_config(logs, "logsConfigOverride")?;
    }
    let location = i.source_location_override.as_deref();
    let source = match (i.source_type_override.as_deref(), location) {
        // Type and location were checked together by validation.
        (Some(kind), _) => Some(source_of(kind, location.unwrap_or(""))),
        (None, Some(location)) => match &project.source {
            BuildSource::Git { url, version } => {
                validate::source_location(git_source_type(url), Some(location), "sourceLocationOverride")?;
                Some(BuildSource::Git { url: location.into(), version: version.clone() })
            }
            BuildSource::S3 { .. } => {
                validate::source_location("S3", Some(location), "sourceLocationOverride")?;
                Some(source_of("S3", location))
            }
            BuildSource::NoSource | BuildSource::Upload => {
                return Err(refuse(
                    "sourceLocationOverride",
                    "the project has no source location to override: give sourceTypeOverride too",
                ));
            }
        },
        (None, None) => None,
    };
    let effective = source.as_ref().unwrap_or(&project.source);
    if *effective == BuildSource::Upload {
        return Err(invalid_input(format!(
            "Project {} takes its source uploaded with each build (ferry build start --source DIR), which CodeBuild's API cannot send; \
             give sourceTypeOverride and sourceLocationOverride",
            project.name
        )));
    }
    let source_version = i.source_version.clone().filter(|v| !v.is_empty());
    if source_version.is_some() && !matches!(effective, BuildSource::Git { .. }) {
        return Err(refuse("sourceVersion", "only a git source has versions (branches, tags, commits)"));
    }
    Ok(StartOverrides {
        source_version,
        source,
        buildspec: i.buildspec_override.clone().filter(|b| !b.is_empty()),
        image: i.image_override.as_deref().map(image),
        variables: variables(i.environment_variables_override.as_deref().unwrap_or_default()),
        timeout_minutes: i.timeout_in_minutes_override.map(minutes),
        queued_timeout_minutes: i.queued_timeout_in_minutes_override.map(minutes),
        cache: i.cache_override.as_ref().map(|c| c.kind.as_deref() != Some("NO_CACHE")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codebuild::{Operation, Request};

    fn arns() -> Arns {
        Arns { region: "us-east-1".into(), account: "000000000000".into() }
    }

    fn create(body: &str) -> AwsResult<BuildProject> {
        let Request::CreateProject(input) = Request::decode(Operation::CreateProject, body.as_bytes()).unwrap() else {
            unreachable!()
        };
        Request::CreateProject(input.clone()).validate()?;
        new_project(&input, "id1".into(), 1_000)
    }

    const BASE: &str = r#""artifacts":{"type":"NO_ARTIFACTS"},"serviceRole":"r",
        "environment":{"type":"LINUX_CONTAINER","image":"busybox","computeType":"BUILD_GENERAL1_SMALL",
          "environmentVariables":[{"name":"A","value":"1"},{"name":"TOKEN","value":"deploy-token","type":"PARAMETER_STORE"}]}"#;

    #[test]
    fn a_created_project_keeps_what_ferry_uses_and_shows_it_back() {
        let p = create(&format!(
            r#"{{"name":"web","source":{{"type":"GITHUB","location":"https://github.com/o/r.git","buildspec":"ci/build.yml","gitCloneDepth":1}},
                "sourceVersion":"main","cache":{{"type":"LOCAL","modes":["LOCAL_SOURCE_CACHE"]}},"timeoutInMinutes":30,
                "tags":[{{"key":"team","value":"web"}}],"concurrentBuildLimit":2,"description":"d",{BASE}}}"#
        ))
        .unwrap();
        assert_eq!(
            p.source,
            BuildSource::Git { url: "https://github.com/o/r.git".into(), version: Some("main".into()) }
        );
        assert_eq!(p.buildspec.as_deref(), Some("ci/build.yml"));
        assert_eq!(p.image.as_deref(), Some("busybox"));
        assert_eq!(p.variables[1].kind, VariableKind::Secret);
        assert_eq!((p.timeout_minutes, p.queued_timeout_minutes, p.cache), (30, 480, true));
        assert_eq!(p.concurrent_build_limit, Some(2));
        let shown = project(&p, &arns());
        assert_eq!(shown.source.kind.as_deref(), Some("GITHUB"));
        assert_eq!(shown.source_version.as_deref(), Some("main"));
        assert_eq!(
            shown.environment.environment_variables.as_ref().unwrap()[1].kind.as_deref(),
            Some("SECRETS_MANAGER")
        );
        assert_eq!(shown.arn, "arn:aws:codebuild:us-east-1:000000000000:project/web");
    }

    #[test]
    fn what_ferry_cannot_do_is_refused_by_member() {
        let cases = [
            (r#""source":{"type":"GITHUB","location":"https://h/o/r","auth":{"type":"OAUTH"}}"#, "source.auth"),
            (r#""source":{"type":"GITHUB","location":"https://h/o/r","insecureSsl":true}"#, "source.insecureSsl"),
            (r#""source":{"type":"GITHUB","location":"https://h/o/r","reportBuildStatus":true}"#, "reportBuildStatus"),
            (r#""source":{"type":"NO_SOURCE","buildspec":"version: 0.2"},"sourceVersion":"main""#, "sourceVersion"),
            (r#""source":{"type":"NO_SOURCE","buildspec":"version: 0.2"},"autoRetryLimit":2"#, "autoRetryLimit"),
            (
                r#""source":{"type":"NO_SOURCE","buildspec":"version: 0.2"},"logsConfig":{"s3Logs":{"status":"ENABLED","location":"logs-b/x"}}"#,
                "logsConfig.s3Logs",
            ),
        ];
        for (members, named) in cases {
            let err = create(&format!(r#"{{"name":"web",{members},{BASE}}}"#)).unwrap_err();
            assert_eq!(err.code, "InvalidInputException");
            assert!(err.message.contains(named), "{named}: {}", err.message);
        }
        let privileged = BASE.replace(r#""computeType""#, r#""privilegedMode":true,"computeType""#);
        let err = create(&format!(
            r#"{{"name":"web","source":{{"type":"NO_SOURCE","buildspec":"version: 0.2"}},{privileged}}}"#
        ))
        .unwrap_err();
        assert!(err.message.contains("environment.privilegedMode"), "{}", err.message);
    }

    #[test]
    fn git_source_types_come_from_the_host() {
        for (url, kind) in [
            ("https://github.com/o/r.git", "GITHUB"),
            ("git@github.com:o/r.git", "GITHUB"),
            ("https://gitlab.com/o/r", "GITLAB"),
            ("https://user@bitbucket.org/o/r.git", "BITBUCKET"),
            ("https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/r", "CODECOMMIT"),
            ("ssh://git@gitlab.example:2222/o/r", "GITLAB_SELF_MANAGED"),
            ("http://127.0.0.1:3000/o/r.git", "GITHUB_ENTERPRISE"),
        ] {
            assert_eq!(git_source_type(url), kind, "{url}");
        }
    }

    #[test]
    fn overrides_change_the_builds_copy_and_merge_variables() {
        let p = create(&format!(
            r#"{{"name":"web","source":{{"type":"GITLAB","location":"https://gitlab.com/o/r"}},"sourceVersion":"main",{BASE}}}"#
        ))
        .unwrap();
        let input: wire::StartBuildInput = serde_json::from_str(
            r#"{"projectName":"web","sourceVersion":"v2","imageOverride":"ferry:workspace","buildspecOverride":"version: 0.2\n",
                "environmentVariablesOverride":[{"name":"A","value":"2"},{"name":"B","value":"3"}],"timeoutInMinutesOverride":5,
                "sourceLocationOverride":"https://gitlab.com/o/fork","cacheOverride":{"type":"NO_CACHE"},"idempotencyToken":"t"}"#,
        )
        .unwrap();
        let overrides = start_overrides(&input, &p).unwrap();
        assert_eq!(overrides.source_version.as_deref(), Some("v2"));
        let mut copy = p.clone();
        overrides.apply(&mut copy);
        assert_eq!(copy.image, None, "the workspace image means no container");
        let vars: Vec<(&str, &str)> = copy.variables.iter().map(|v| (v.name.as_str(), v.value.as_str())).collect();
        assert_eq!(vars, [("A", "2"), ("TOKEN", "deploy-token"), ("B", "3")]);
        assert_eq!(copy.timeout_minutes, 5);
        assert_eq!(
            copy.source,
            BuildSource::Git { url: "https://gitlab.com/o/fork".into(), version: Some("main".into()) }
        );

        let refused = |body: &str| {
            let input: wire::StartBuildInput = serde_json::from_str(body).unwrap();
            start_overrides(&input, &p).unwrap_err().message
        };
        assert!(refused(r#"{"projectName":"web","privilegedModeOverride":true}"#).contains("privilegedModeOverride"));
        assert!(refused(r#"{"projectName":"web","sourceLocationOverride":"/etc"}"#).contains("sourceLocationOverride"));
        let no_source =
            BuildProject { source: BuildSource::NoSource, buildspec: Some("version: 0.2".into()), ..p.clone() };
        let input: wire::StartBuildInput =
            serde_json::from_str(r#"{"projectName":"web","sourceVersion":"main"}"#).unwrap();
        assert!(start_overrides(&input, &no_source).unwrap_err().message.contains("sourceVersion"));
        let upload = BuildProject { source: BuildSource::Upload, ..p };
        let input: wire::StartBuildInput = serde_json::from_str(r#"{"projectName":"web"}"#).unwrap();
        assert!(start_overrides(&input, &upload).unwrap_err().message.contains("ferry build start --source"));
    }
}
