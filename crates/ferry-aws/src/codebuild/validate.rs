//! CodeBuild's rules for request members, with CodeBuild's exception names.
//!
//! botocore checks only required members and minimums on the client side
//! and other clients check nothing, so [`Request::validate`] checks every
//! member an input has, as CodeBuild does, before a handler reads it:
//! - the model's constraints (required members, lengths, ranges, patterns,
//!   enums), answered as AWS answers them: `InvalidInputException` with
//!   "1 validation error detected: Value … at '…' failed to satisfy
//!   constraint: …";
//! - CodeBuild's rules across members (a source's location for its type, a
//!   `NO_SOURCE` project's buildspec, S3 artifacts' bucket, a LOCAL cache's
//!   modes, secondary sources' identifiers, `CODEBUILD_` variables);
//! - what ferry does not do (CodePipeline sources and artifacts, VPCs, EFS,
//!   fleets, batch builds, Windows and macOS images, debug sessions):
//!   refused with `InvalidInputException` naming the member, never
//!   accepted and silently ignored.
//!
//! Whether a named project, build or report exists is the handler's
//! question (`ResourceNotFoundException`, [`not_found`]).

use super::wire::*;
use super::{Request, arn};
use crate::{AwsError, AwsResult};

pub const ARTIFACT_NAMESPACE: &[&str] = &["NONE", "BUILD_ID"];
pub const ARTIFACT_PACKAGING: &[&str] = &["NONE", "ZIP"];
pub const ARTIFACTS_TYPE: &[&str] = &["CODEPIPELINE", "S3", "NO_ARTIFACTS"];
pub const BATCH_REPORT_MODE_TYPE: &[&str] = &["REPORT_INDIVIDUAL_BUILDS", "REPORT_AGGREGATED_BATCH"];
pub const BUCKET_OWNER_ACCESS: &[&str] = &["NONE", "READ_ONLY", "FULL"];
pub const CACHE_MODE: &[&str] = &["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE", "LOCAL_CUSTOM_CACHE"];
pub const CACHE_TYPE: &[&str] = &["NO_CACHE", "S3", "LOCAL"];
pub const COMPUTE_TYPE: &[&str] = &[
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
    "BUILD_LAMBDA_1GB",
    "BUILD_LAMBDA_2GB",
    "BUILD_LAMBDA_4GB",
    "BUILD_LAMBDA_8GB",
    "BUILD_LAMBDA_10GB",
    "ATTRIBUTE_BASED_COMPUTE",
    "CUSTOM_INSTANCE_TYPE",
];
pub const CREDENTIAL_PROVIDER_TYPE: &[&str] = &["SECRETS_MANAGER"];
pub const ENVIRONMENT_TYPE: &[&str] = &[
    "WINDOWS_CONTAINER",
    "LINUX_CONTAINER",
    "LINUX_GPU_CONTAINER",
    "ARM_CONTAINER",
    "WINDOWS_SERVER_2019_CONTAINER",
    "WINDOWS_SERVER_2022_CONTAINER",
    "LINUX_LAMBDA_CONTAINER",
    "ARM_LAMBDA_CONTAINER",
    "LINUX_EC2",
    "ARM_EC2",
    "WINDOWS_EC2",
    "MAC_ARM",
];
pub const ENVIRONMENT_VARIABLE_TYPE: &[&str] = &["PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"];
pub const FILE_SYSTEM_TYPE: &[&str] = &["EFS"];
pub const IMAGE_PULL_CREDENTIALS_TYPE: &[&str] = &["CODEBUILD", "SERVICE_ROLE"];
pub const LOGS_CONFIG_STATUS_TYPE: &[&str] = &["ENABLED", "DISABLED"];
pub const MACHINE_TYPE: &[&str] = &["GENERAL", "NVME"];
pub const PROJECT_SORT_BY_TYPE: &[&str] = &["NAME", "CREATED_TIME", "LAST_MODIFIED_TIME"];
pub const REPORT_GROUP_SORT_BY_TYPE: &[&str] = &["NAME", "CREATED_TIME", "LAST_MODIFIED_TIME"];
pub const REPORT_STATUS_TYPE: &[&str] = &["GENERATING", "SUCCEEDED", "FAILED", "INCOMPLETE", "DELETING"];
pub const SORT_ORDER_TYPE: &[&str] = &["ASCENDING", "DESCENDING"];
pub const SOURCE_AUTH_TYPE: &[&str] = &["OAUTH", "CODECONNECTIONS", "SECRETS_MANAGER"];
pub const SOURCE_TYPE: &[&str] = &[
    "CODECOMMIT",
    "CODEPIPELINE",
    "GITHUB",
    "GITLAB",
    "GITLAB_SELF_MANAGED",
    "S3",
    "BITBUCKET",
    "GITHUB_ENTERPRISE",
    "NO_SOURCE",
];
/// Test case statuses (`TestCaseFilter.status` is a plain string in the
/// model; these are the values CodeBuild documents).
pub const TEST_CASE_STATUS: &[&str] = &["SUCCEEDED", "FAILED", "ERROR", "SKIPPED", "UNKNOWN"];

/// Every model enum above by its botocore shape name (a unit test holds
/// them to `codebuild-model-inputs.json`).
pub const ENUMS: &[(&str, &[&str])] = &[
    ("ArtifactNamespace", ARTIFACT_NAMESPACE),
    ("ArtifactPackaging", ARTIFACT_PACKAGING),
    ("ArtifactsType", ARTIFACTS_TYPE),
    ("BatchReportModeType", BATCH_REPORT_MODE_TYPE),
    ("BucketOwnerAccess", BUCKET_OWNER_ACCESS),
    ("CacheMode", CACHE_MODE),
    ("CacheType", CACHE_TYPE),
    ("ComputeType", COMPUTE_TYPE),
    ("CredentialProviderType", CREDENTIAL_PROVIDER_TYPE),
    ("EnvironmentType", ENVIRONMENT_TYPE),
    ("EnvironmentVariableType", ENVIRONMENT_VARIABLE_TYPE),
    ("FileSystemType", FILE_SYSTEM_TYPE),
    ("ImagePullCredentialsType", IMAGE_PULL_CREDENTIALS_TYPE),
    ("LogsConfigStatusType", LOGS_CONFIG_STATUS_TYPE),
    ("MachineType", MACHINE_TYPE),
    ("ProjectSortByType", PROJECT_SORT_BY_TYPE),
    ("ReportGroupSortByType", REPORT_GROUP_SORT_BY_TYPE),
    ("ReportStatusType", REPORT_STATUS_TYPE),
    ("SortOrderType", SORT_ORDER_TYPE),
    ("SourceAuthType", SOURCE_AUTH_TYPE),
    ("SourceType", SOURCE_TYPE),
];

/// Source types ferry builds from: git URLs for the forges and CodeCommit,
/// S3 objects, or nothing (an inline buildspec).
pub const FERRY_SOURCE_TYPES: &[&str] =
    &["NO_SOURCE", "S3", "GITHUB", "GITHUB_ENTERPRISE", "GITLAB", "GITLAB_SELF_MANAGED", "BITBUCKET", "CODECOMMIT"];
/// Environment types ferry's Linux build hosts run.
pub const FERRY_ENVIRONMENT_TYPES: &[&str] = &[
    "LINUX_CONTAINER",
    "LINUX_GPU_CONTAINER",
    "ARM_CONTAINER",
    "LINUX_LAMBDA_CONTAINER",
    "ARM_LAMBDA_CONTAINER",
    "LINUX_EC2",
    "ARM_EC2",
];

/// The project name rule: 2–150 of `[A-Za-z0-9][A-Za-z0-9\-_]{1,149}`.
pub const PROJECT_NAME_PATTERN: &str = r"[A-Za-z0-9][A-Za-z0-9\-_]{1,149}";
/// A build may run for 5 minutes to 36 hours, and wait 5 minutes to 8 hours.
pub const BUILD_TIMEOUT_MINUTES: (i64, i64) = (5, 2160);
pub const QUEUED_TIMEOUT_MINUTES: (i64, i64) = (5, 480);
/// Items a BatchGet* call may name.
pub const BATCH_LIMIT: usize = 100;
/// Secondary sources, source versions and artifacts a project may have.
pub const SECONDARY_LIMIT: usize = 12;
/// CodeBuild retries a failed build at most this many times.
pub const AUTO_RETRY_LIMIT: i64 = 10;

// ---------------------------------------------------------------- errors

pub fn invalid_input(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidInputException", message)
}

/// The named project, build, report or report group does not exist.
pub fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new("ResourceNotFoundException", message)
}

/// CreateProject of a name that is taken.
pub fn already_exists(project: &str) -> AwsError {
    AwsError::new("ResourceAlreadyExistsException", format!("Project already exists: {project}"))
}

/// A limit of the account (projects, concurrent builds) is reached.
pub fn account_limit(message: impl Into<String>) -> AwsError {
    AwsError::new("AccountLimitExceededException", message)
}

/// A model constraint, worded as AWS words it.
fn constraint(member: &str, value: impl std::fmt::Display, rule: impl std::fmt::Display) -> AwsError {
    invalid_input(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

fn unsupported(member: &str, what: &str) -> AwsError {
    invalid_input(format!("{member}: {what}"))
}

// ---------------------------------------------------------------- members

/// A member the model requires.
pub fn required<'a, T: ?Sized>(value: Option<&'a T>, member: &str) -> AwsResult<&'a T> {
    value.ok_or_else(|| constraint(member, "null", "Member must not be null"))
}

/// A string of at least one character (the model's `NonEmptyString`).
pub fn non_empty<'a>(value: Option<&'a str>, member: &str) -> AwsResult<&'a str> {
    let value = required(value, member)?;
    if value.is_empty() {
        return Err(constraint(member, value, "Member must have length greater than or equal to 1"));
    }
    Ok(value)
}

/// An optional string of at most `max` characters.
pub fn max_length(value: Option<&str>, member: &str, max: usize) -> AwsResult<()> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(constraint(member, v, format_args!("Member must have length less than or equal to {max}")))
        }
        _ => Ok(()),
    }
}

/// An optional integer within `min..=max`.
pub fn range(value: Option<i64>, member: &str, (min, max): (i64, i64)) -> AwsResult<()> {
    match value {
        Some(v) if v < min => {
            Err(constraint(member, v, format_args!("Member must have value greater than or equal to {min}")))
        }
        Some(v) if v > max => {
            Err(constraint(member, v, format_args!("Member must have value less than or equal to {max}")))
        }
        _ => Ok(()),
    }
}

/// An optional string that must be one of `allowed`.
pub fn one_of(value: Option<&str>, member: &str, allowed: &[&str]) -> AwsResult<()> {
    match value {
        Some(v) if !allowed.contains(&v) => {
            Err(constraint(member, v, format_args!("Member must satisfy enum value set: [{}]", allowed.join(", "))))
        }
        _ => Ok(()),
    }
}

/// An optional list of at most `max` items.
pub fn max_items<T>(value: Option<&[T]>, member: &str, max: usize) -> AwsResult<()> {
    match value {
        Some(items) if items.len() > max => Err(constraint(
            member,
            format_args!("{} items", items.len()),
            format_args!("Member must have length less than or equal to {max}"),
        )),
        _ => Ok(()),
    }
}

/// A BatchGet list: present, 1–100 items, none empty.
pub fn batch<'a>(value: Option<&'a [String]>, member: &str) -> AwsResult<&'a [String]> {
    let items = required(value, member)?;
    if items.is_empty() {
        return Err(constraint(member, "[]", "Member must have length greater than or equal to 1"));
    }
    max_items(Some(items), member, BATCH_LIMIT)?;
    for (i, item) in items.iter().enumerate() {
        non_empty(Some(item), &format!("{member}.{}", i + 1))?;
    }
    Ok(items)
}

/// A project name as CreateProject takes it.
pub fn project_name<'a>(value: Option<&'a str>, member: &str) -> AwsResult<&'a str> {
    let name = required(value, member)?;
    let len = name.chars().count();
    if len < 2 {
        return Err(constraint(member, name, "Member must have length greater than or equal to 2"));
    }
    if len > 150 {
        return Err(constraint(member, name, "Member must have length less than or equal to 150"));
    }
    if !is_project_name(name) {
        return Err(constraint(
            member,
            name,
            format_args!("Member must satisfy regular expression pattern: {PROJECT_NAME_PATTERN}"),
        ));
    }
    Ok(name)
}

/// Whether `name` follows [`PROJECT_NAME_PATTERN`].
pub fn is_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok && (2..=150).contains(&name.len()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A build id, `<project>:<id>`: the project's name and the id part.
pub fn build_id(id: &str) -> AwsResult<(&str, &str)> {
    match id.split_once(':') {
        Some((project, rest)) if is_project_name(project) && !rest.is_empty() && !rest.contains(':') => {
            Ok((project, rest))
        }
        _ => Err(invalid_input(format!("Invalid build ID provided: {id:?} (expected <project name>:<build id>)"))),
    }
}

/// `sourceIdentifier` and `artifactIdentifier`: letters, digits and
/// underscores, fewer than 128.
fn identifier(value: Option<&str>, member: &str) -> AwsResult<()> {
    let value = non_empty(value, member)?;
    if value.len() >= 128 || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid_input(format!(
            "Invalid {member} {value:?}: an identifier is letters, digits and underscores, fewer than 128 characters"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- structures

/// A project's (or a build's) source.
pub fn source(source: &ProjectSource, member: &str) -> AwsResult<()> {
    let kind = required(source.kind.as_deref(), &format!("{member}.type"))?;
    one_of(Some(kind), &format!("{member}.type"), SOURCE_TYPE)?;
    if !FERRY_SOURCE_TYPES.contains(&kind) {
        return Err(unsupported(
            &format!("{member}.type"),
            &format!("ferry does not build from {kind} sources (it does {})", FERRY_SOURCE_TYPES.join(", ")),
        ));
    }
    range(source.git_clone_depth, &format!("{member}.gitCloneDepth"), (0, i64::MAX))?;
    if let Some(auth) = &source.auth {
        let auth_type = required(auth.kind.as_deref(), &format!("{member}.auth.type"))?;
        one_of(Some(auth_type), &format!("{member}.auth.type"), SOURCE_AUTH_TYPE)?;
    }
    if let Some(config) = &source.git_submodules_config {
        required(config.fetch_submodules.as_ref(), &format!("{member}.gitSubmodulesConfig.fetchSubmodules"))?;
    }
    if kind == "NO_SOURCE" {
        if source.buildspec.as_deref().is_none_or(str::is_empty) {
            return Err(invalid_input(format!(
                "{member}.buildspec is required when the source type is NO_SOURCE (there is no buildspec.yml to read)"
            )));
        }
        if source.location.is_some() {
            return Err(invalid_input(format!("{member}.location must not be given for a NO_SOURCE source")));
        }
        return Ok(());
    }
    source_location(kind, source.location.as_deref(), &format!("{member}.location"))
}

/// A source's location, as its type wants it: `bucket/key` for S3, a git
/// URL (`https://`, `http://`, `ssh://`, `git://` or `user@host:path`)
/// for the forges and CodeCommit. StartBuild's `sourceLocationOverride` is
/// checked with this against the build's source type.
pub fn source_location(kind: &str, location: Option<&str>, member: &str) -> AwsResult<()> {
    let location = location
        .filter(|l| !l.is_empty())
        .ok_or_else(|| invalid_input(format!("{member} is required for a {kind} source")))?;
    if kind == "S3" {
        return s3_object(location, member);
    }
    if is_git_url(location) {
        return Ok(());
    }
    Err(invalid_input(format!(
        "Invalid {member} {location:?} for a {kind} source: expected a git URL (https://, http://, ssh://, git:// or user@host:path)"
    )))
}

fn is_git_url(location: &str) -> bool {
    if location.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    for scheme in ["https://", "http://", "ssh://", "git://"] {
        if let Some(rest) = location.strip_prefix(scheme) {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            return !host.is_empty() && rest.len() > host.len() + 1;
        }
    }
    // scp-like: user@host:path (no scheme, no local paths).
    match location.split_once(':') {
        Some((user_host, path)) => {
            user_host.split_once('@').is_some_and(|(user, host)| !user.is_empty() && !host.is_empty())
                && !path.is_empty()
                && !user_host.contains('/')
        }
        None => false,
    }
}

/// An S3 object or prefix, `bucket/key`: the bucket by S3's naming rule.
fn s3_object(location: &str, member: &str) -> AwsResult<()> {
    let (bucket, key) = location.split_once('/').unwrap_or((location, ""));
    if !is_bucket_name(bucket) || key.is_empty() {
        return Err(invalid_input(format!(
            "Invalid {member} {location:?} for an S3 source: expected <bucket>/<key> (a .zip object or a folder ending in /)"
        )));
    }
    Ok(())
}

/// S3's bucket naming rule: 3–63 of lower-case letters, digits, `.` and `-`,
/// starting and ending with a letter or digit.
pub fn is_bucket_name(bucket: &str) -> bool {
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&bucket.len())
        && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && ends_ok(bucket.chars().next())
        && ends_ok(bucket.chars().last())
}

/// Where a build's artifacts go.
pub fn artifacts(artifacts: &ProjectArtifacts, member: &str) -> AwsResult<()> {
    let kind = required(artifacts.kind.as_deref(), &format!("{member}.type"))?;
    one_of(Some(kind), &format!("{member}.type"), ARTIFACTS_TYPE)?;
    one_of(artifacts.namespace_type.as_deref(), &format!("{member}.namespaceType"), ARTIFACT_NAMESPACE)?;
    one_of(artifacts.packaging.as_deref(), &format!("{member}.packaging"), ARTIFACT_PACKAGING)?;
    one_of(artifacts.bucket_owner_access.as_deref(), &format!("{member}.bucketOwnerAccess"), BUCKET_OWNER_ACCESS)?;
    match kind {
        "CODEPIPELINE" => {
            Err(unsupported(&format!("{member}.type"), "ferry has no pipelines yet (use S3 or NO_ARTIFACTS)"))
        }
        "S3" => {
            let bucket = artifacts.location.as_deref().unwrap_or("");
            if !is_bucket_name(bucket) {
                return Err(invalid_input(format!(
                    "Invalid {member}.location {bucket:?}: S3 artifacts need the name of a bucket"
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Secondary artifacts: at most 12, each with a unique `artifactIdentifier`.
fn secondary_artifacts(list: Option<&[ProjectArtifacts]>, member: &str) -> AwsResult<()> {
    max_items(list, member, SECONDARY_LIMIT)?;
    let mut seen = Vec::new();
    for (i, a) in list.unwrap_or_default().iter().enumerate() {
        let at = format!("{member}.{}", i + 1);
        artifacts(a, &at)?;
        identifier(a.artifact_identifier.as_deref(), &format!("{at}.artifactIdentifier"))?;
        if seen.contains(&a.artifact_identifier) {
            return Err(invalid_input(format!("{at}.artifactIdentifier is used twice")));
        }
        seen.push(a.artifact_identifier.clone());
    }
    Ok(())
}

/// Secondary sources (at most 12, each with a unique `sourceIdentifier`)
/// and the versions that name them.
fn secondary_sources(
    sources: Option<&[ProjectSource]>,
    versions: Option<&[ProjectSourceVersion]>,
    member: &str,
    versions_member: &str,
) -> AwsResult<()> {
    max_items(sources, member, SECONDARY_LIMIT)?;
    max_items(versions, versions_member, SECONDARY_LIMIT)?;
    let mut identifiers = Vec::new();
    for (i, s) in sources.unwrap_or_default().iter().enumerate() {
        let at = format!("{member}.{}", i + 1);
        source(s, &at)?;
        identifier(s.source_identifier.as_deref(), &format!("{at}.sourceIdentifier"))?;
        if identifiers.contains(&s.source_identifier) {
            return Err(invalid_input(format!("{at}.sourceIdentifier is used twice")));
        }
        identifiers.push(s.source_identifier.clone());
    }
    for (i, v) in versions.unwrap_or_default().iter().enumerate() {
        let at = format!("{versions_member}.{}", i + 1);
        non_empty(v.source_identifier.as_deref(), &format!("{at}.sourceIdentifier"))?;
        required(v.source_version.as_deref(), &format!("{at}.sourceVersion"))?;
        // StartBuild may name the project's secondary sources, which the
        // handler checks; a project's own versions must name its sources.
        if sources.is_some() && !identifiers.contains(&v.source_identifier) {
            return Err(invalid_input(format!(
                "{at}.sourceIdentifier {:?} names no secondary source",
                v.source_identifier.as_deref().unwrap_or("")
            )));
        }
    }
    Ok(())
}

pub fn cache(cache: &ProjectCache, member: &str) -> AwsResult<()> {
    let kind = required(cache.kind.as_deref(), &format!("{member}.type"))?;
    one_of(Some(kind), &format!("{member}.type"), CACHE_TYPE)?;
    for (i, mode) in cache.modes.as_deref().unwrap_or_default().iter().enumerate() {
        one_of(Some(mode), &format!("{member}.modes.{}", i + 1), CACHE_MODE)?;
    }
    match kind {
        "S3" => {
            let location = cache.location.as_deref().unwrap_or("");
            let bucket = location.split('/').next().unwrap_or("");
            if !is_bucket_name(bucket) {
                return Err(invalid_input(format!(
                    "Invalid {member}.location {location:?}: an S3 cache needs <bucket>[/<prefix>]"
                )));
            }
        }
        "LOCAL" if cache.modes.as_deref().is_none_or(<[String]>::is_empty) => {
            return Err(invalid_input(format!("{member}.modes: a LOCAL cache needs at least one mode")));
        }
        _ => {}
    }
    Ok(())
}

pub fn environment(env: &ProjectEnvironment, member: &str) -> AwsResult<()> {
    let kind = required(env.kind.as_deref(), &format!("{member}.type"))?;
    environment_type(kind, &format!("{member}.type"))?;
    non_empty(env.image.as_deref(), &format!("{member}.image"))?;
    let compute = required(env.compute_type.as_deref(), &format!("{member}.computeType"))?;
    one_of(Some(compute), &format!("{member}.computeType"), COMPUTE_TYPE)?;
    one_of(
        env.image_pull_credentials_type.as_deref(),
        &format!("{member}.imagePullCredentialsType"),
        IMAGE_PULL_CREDENTIALS_TYPE,
    )?;
    environment_variables(env.environment_variables.as_deref(), &format!("{member}.environmentVariables"))?;
    if env.fleet.as_ref().is_some_and(|f| f.fleet_arn.is_some()) {
        return Err(unsupported(&format!("{member}.fleet"), "ferry has no fleets (builds run on its build hosts)"));
    }
    if env.docker_server.is_some() {
        return Err(unsupported(&format!("{member}.dockerServer"), "ferry has no remote Docker servers"));
    }
    if let Some(credential) = &env.registry_credential {
        non_empty(credential.credential.as_deref(), &format!("{member}.registryCredential.credential"))?;
        let provider = required(
            credential.credential_provider.as_deref(),
            &format!("{member}.registryCredential.credentialProvider"),
        )?;
        one_of(Some(provider), &format!("{member}.registryCredential.credentialProvider"), CREDENTIAL_PROVIDER_TYPE)?;
    }
    if let Some(config) = &env.compute_configuration {
        one_of(config.machine_type.as_deref(), &format!("{member}.computeConfiguration.machineType"), MACHINE_TYPE)?;
        for (name, value) in [("vCpu", config.v_cpu), ("memory", config.memory), ("disk", config.disk)] {
            range(value, &format!("{member}.computeConfiguration.{name}"), (0, i64::MAX))?;
        }
    }
    Ok(())
}

/// An environment type of the model that ferry's build hosts can run.
pub fn environment_type(kind: &str, member: &str) -> AwsResult<()> {
    one_of(Some(kind), member, ENVIRONMENT_TYPE)?;
    if !FERRY_ENVIRONMENT_TYPES.contains(&kind) {
        return Err(unsupported(member, &format!("ferry's build hosts run Linux images, not {kind}")));
    }
    Ok(())
}

/// Variables: a name (not `CODEBUILD_…`, which CodeBuild reserves for its
/// own), a value, and a type of PLAINTEXT (the default), PARAMETER_STORE or
/// SECRETS_MANAGER (the value then names a ferry secret).
pub fn environment_variables(vars: Option<&[EnvironmentVariable]>, member: &str) -> AwsResult<()> {
    for (i, var) in vars.unwrap_or_default().iter().enumerate() {
        let at = format!("{member}.{}", i + 1);
        let name = non_empty(var.name.as_deref(), &format!("{at}.name"))?;
        required(var.value.as_deref(), &format!("{at}.value"))?;
        one_of(var.kind.as_deref(), &format!("{at}.type"), ENVIRONMENT_VARIABLE_TYPE)?;
        if name.starts_with("CODEBUILD_") {
            return Err(invalid_input(format!(
                "Invalid environment variable {name:?}: names starting with CODEBUILD_ are reserved for CodeBuild's own"
            )));
        }
        if name.contains('=') || name.contains('\0') {
            return Err(invalid_input(format!("Invalid environment variable name {name:?}")));
        }
    }
    Ok(())
}

pub fn logs_config(logs: &LogsConfig, member: &str) -> AwsResult<()> {
    if let Some(cw) = &logs.cloud_watch_logs {
        let status = required(cw.status.as_deref(), &format!("{member}.cloudWatchLogs.status"))?;
        one_of(Some(status), &format!("{member}.cloudWatchLogs.status"), LOGS_CONFIG_STATUS_TYPE)?;
    }
    if let Some(s3) = &logs.s3_logs {
        let status = required(s3.status.as_deref(), &format!("{member}.s3Logs.status"))?;
        one_of(Some(status), &format!("{member}.s3Logs.status"), LOGS_CONFIG_STATUS_TYPE)?;
        one_of(s3.bucket_owner_access.as_deref(), &format!("{member}.s3Logs.bucketOwnerAccess"), BUCKET_OWNER_ACCESS)?;
        if status == "ENABLED" {
            let location = s3.location.as_deref().unwrap_or("");
            if !is_bucket_name(location.split('/').next().unwrap_or("")) {
                return Err(invalid_input(format!(
                    "Invalid {member}.s3Logs.location {location:?}: enabled S3 logs need <bucket>[/<prefix>]"
                )));
            }
        }
    }
    Ok(())
}

/// Tags: at most 50, keys 1–127 and values 0–255 of letters, digits,
/// spaces and `_.:/=+-@`.
pub fn tags(tags: Option<&[Tag]>, member: &str) -> AwsResult<()> {
    max_items(tags, member, 50)?;
    let allowed = |s: &str| s.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c));
    for (i, tag) in tags.unwrap_or_default().iter().enumerate() {
        let at = format!("{member}.{}", i + 1);
        let key = non_empty(tag.key.as_deref(), &format!("{at}.key"))?;
        max_length(Some(key), &format!("{at}.key"), 127)?;
        max_length(tag.value.as_deref(), &format!("{at}.value"), 255)?;
        for (name, value) in [("key", key), ("value", tag.value.as_deref().unwrap_or(""))] {
            if !allowed(value) {
                return Err(constraint(
                    &format!("{at}.{name}"),
                    value,
                    r"Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=@+\-]*)$",
                ));
            }
        }
    }
    Ok(())
}

/// `maxResults`: 1–100.
fn page_size(value: Option<i64>) -> AwsResult<()> {
    range(value, "maxResults", (1, 100))
}

// ---------------------------------------------------------------- operations

/// The members CreateProject and UpdateProject share.
struct ProjectSettings<'a> {
    description: Option<&'a str>,
    source: Option<&'a ProjectSource>,
    secondary_sources: Option<&'a [ProjectSource]>,
    secondary_source_versions: Option<&'a [ProjectSourceVersion]>,
    artifacts: Option<&'a ProjectArtifacts>,
    secondary_artifacts: Option<&'a [ProjectArtifacts]>,
    cache: Option<&'a ProjectCache>,
    environment: Option<&'a ProjectEnvironment>,
    service_role: Option<&'a str>,
    timeout_in_minutes: Option<i64>,
    queued_timeout_in_minutes: Option<i64>,
    encryption_key: Option<&'a str>,
    tags: Option<&'a [Tag]>,
    vpc_config: Option<&'a VpcConfig>,
    logs_config: Option<&'a LogsConfig>,
    file_system_locations: Option<&'a [ProjectFileSystemLocation]>,
    build_batch_config: Option<&'a ProjectBuildBatchConfig>,
    concurrent_build_limit: Option<i64>,
    auto_retry_limit: Option<i64>,
}

macro_rules! project_settings {
    ($input:expr) => {
        ProjectSettings {
            description: $input.description.as_deref(),
            source: $input.source.as_ref(),
            secondary_sources: $input.secondary_sources.as_deref(),
            secondary_source_versions: $input.secondary_source_versions.as_deref(),
            artifacts: $input.artifacts.as_ref(),
            secondary_artifacts: $input.secondary_artifacts.as_deref(),
            cache: $input.cache.as_ref(),
            environment: $input.environment.as_ref(),
            service_role: $input.service_role.as_deref(),
            timeout_in_minutes: $input.timeout_in_minutes,
            queued_timeout_in_minutes: $input.queued_timeout_in_minutes,
            encryption_key: $input.encryption_key.as_deref(),
            tags: $input.tags.as_deref(),
            vpc_config: $input.vpc_config.as_ref(),
            logs_config: $input.logs_config.as_ref(),
            file_system_locations: $input.file_system_locations.as_deref(),
            build_batch_config: $input.build_batch_config.as_ref(),
            concurrent_build_limit: $input.concurrent_build_limit,
            auto_retry_limit: $input.auto_retry_limit,
        }
    };
}

impl ProjectSettings<'_> {
    /// Checks what is given; `creating` also requires what CreateProject does.
    fn check(&self, creating: bool) -> AwsResult<()> {
        if creating {
            required(self.source, "source")?;
            required(self.artifacts, "artifacts")?;
            required(self.environment, "environment")?;
            required(self.service_role, "serviceRole")?;
        }
        max_length(self.description, "description", 255)?;
        if let Some(s) = self.source {
            source(s, "source")?;
        }
        secondary_sources(
            self.secondary_sources,
            self.secondary_source_versions,
            "secondarySources",
            "secondarySourceVersions",
        )?;
        if let Some(a) = self.artifacts {
            artifacts(a, "artifacts")?;
        }
        secondary_artifacts(self.secondary_artifacts, "secondaryArtifacts")?;
        if let Some(c) = self.cache {
            cache(c, "cache")?;
        }
        if let Some(e) = self.environment {
            environment(e, "environment")?;
        }
        if self.service_role.is_some() {
            non_empty(self.service_role, "serviceRole")?;
        }
        if self.encryption_key.is_some() {
            non_empty(self.encryption_key, "encryptionKey")?;
        }
        range(self.timeout_in_minutes, "timeoutInMinutes", BUILD_TIMEOUT_MINUTES)?;
        range(self.queued_timeout_in_minutes, "queuedTimeoutInMinutes", QUEUED_TIMEOUT_MINUTES)?;
        tags(self.tags, "tags")?;
        if let Some(logs) = self.logs_config {
            logs_config(logs, "logsConfig")?;
        }
        // UpdateProject removes the limit with -1 (CodeBuild's documented value).
        let limit = self.concurrent_build_limit.filter(|&l| creating || l != -1);
        range(limit, "concurrentBuildLimit", (1, i64::from(i32::MAX)))?;
        range(self.auto_retry_limit, "autoRetryLimit", (0, AUTO_RETRY_LIMIT))?;
        if self.vpc_config.is_some_and(|v| v.vpc_id.is_some() || v.subnets.is_some() || v.security_group_ids.is_some())
        {
            return Err(unsupported("vpcConfig", "ferry builds do not run in VPCs"));
        }
        if self.file_system_locations.is_some_and(|l| !l.is_empty()) {
            return Err(unsupported("fileSystemLocations", "ferry does not mount EFS file systems"));
        }
        if self.build_batch_config.is_some() {
            return Err(unsupported("buildBatchConfig", "ferry has no batch builds"));
        }
        Ok(())
    }
}

fn start_build(i: &StartBuildInput) -> AwsResult<()> {
    non_empty(i.project_name.as_deref(), "projectName")?;
    secondary_sources(
        i.secondary_sources_override.as_deref(),
        i.secondary_sources_version_override.as_deref(),
        "secondarySourcesOverride",
        "secondarySourcesVersionOverride",
    )?;
    if let Some(a) = &i.artifacts_override {
        artifacts(a, "artifactsOverride")?;
    }
    secondary_artifacts(i.secondary_artifacts_override.as_deref(), "secondaryArtifactsOverride")?;
    environment_variables(i.environment_variables_override.as_deref(), "environmentVariablesOverride")?;
    if let Some(kind) = i.source_type_override.as_deref() {
        one_of(Some(kind), "sourceTypeOverride", SOURCE_TYPE)?;
        if !FERRY_SOURCE_TYPES.contains(&kind) {
            return Err(unsupported("sourceTypeOverride", &format!("ferry does not build from {kind} sources")));
        }
        // With the type overridden, the location is checked against it here;
        // an overridden location alone is checked by the handler against
        // the project's type (`source_location`).
        if kind == "NO_SOURCE" {
            if i.source_location_override.is_some() {
                return Err(invalid_input("sourceLocationOverride must not be given with a NO_SOURCE source"));
            }
        } else {
            source_location(kind, i.source_location_override.as_deref(), "sourceLocationOverride")?;
        }
    }
    if let Some(auth) = &i.source_auth_override {
        let kind = required(auth.kind.as_deref(), "sourceAuthOverride.type")?;
        one_of(Some(kind), "sourceAuthOverride.type", SOURCE_AUTH_TYPE)?;
    }
    range(i.git_clone_depth_override, "gitCloneDepthOverride", (0, i64::MAX))?;
    if let Some(config) = &i.git_submodules_config_override {
        required(config.fetch_submodules.as_ref(), "gitSubmodulesConfigOverride.fetchSubmodules")?;
    }
    if let Some(kind) = i.environment_type_override.as_deref() {
        environment_type(kind, "environmentTypeOverride")?;
    }
    if i.image_override.is_some() {
        non_empty(i.image_override.as_deref(), "imageOverride")?;
    }
    one_of(i.compute_type_override.as_deref(), "computeTypeOverride", COMPUTE_TYPE)?;
    if let Some(c) = &i.cache_override {
        cache(c, "cacheOverride")?;
    }
    for (value, member) in
        [(&i.service_role_override, "serviceRoleOverride"), (&i.encryption_key_override, "encryptionKeyOverride")]
    {
        if value.is_some() {
            non_empty(value.as_deref(), member)?;
        }
    }
    range(i.timeout_in_minutes_override, "timeoutInMinutesOverride", BUILD_TIMEOUT_MINUTES)?;
    range(i.queued_timeout_in_minutes_override, "queuedTimeoutInMinutesOverride", QUEUED_TIMEOUT_MINUTES)?;
    if let Some(logs) = &i.logs_config_override {
        logs_config(logs, "logsConfigOverride")?;
    }
    if let Some(credential) = &i.registry_credential_override {
        non_empty(credential.credential.as_deref(), "registryCredentialOverride.credential")?;
        let provider =
            required(credential.credential_provider.as_deref(), "registryCredentialOverride.credentialProvider")?;
        one_of(Some(provider), "registryCredentialOverride.credentialProvider", CREDENTIAL_PROVIDER_TYPE)?;
    }
    one_of(
        i.image_pull_credentials_type_override.as_deref(),
        "imagePullCredentialsTypeOverride",
        IMAGE_PULL_CREDENTIALS_TYPE,
    )?;
    range(i.auto_retry_limit_override, "autoRetryLimitOverride", (0, AUTO_RETRY_LIMIT))?;
    if i.debug_session_enabled == Some(true) {
        return Err(unsupported("debugSessionEnabled", "ferry has no Session Manager debug sessions"));
    }
    if i.fleet_override.as_ref().is_some_and(|f| f.fleet_arn.is_some()) {
        return Err(unsupported("fleetOverride", "ferry has no fleets (builds run on its build hosts)"));
    }
    Ok(())
}

fn report_filter(filter: Option<&ReportFilter>) -> AwsResult<()> {
    one_of(filter.and_then(|f| f.status.as_deref()), "filter.status", REPORT_STATUS_TYPE)
}

impl Request {
    /// Checks the input's own members as CodeBuild does, before the handler
    /// looks anything up. Every operation is listed, so a new one needs a
    /// decision.
    pub fn validate(&self) -> AwsResult<()> {
        use Request::*;
        match self {
            CreateProject(i) => {
                project_name(i.name.as_deref(), "name")?;
                project_settings!(i).check(true)
            }
            UpdateProject(i) => {
                non_empty(i.name.as_deref(), "name")?;
                project_settings!(i).check(false)
            }
            DeleteProject(i) => non_empty(i.name.as_deref(), "name").map(drop),
            BatchGetProjects(i) => {
                for name in batch(i.names.as_deref(), "names")? {
                    arn::project_name_or_arn(name)?;
                }
                Ok(())
            }
            ListProjects(i) => {
                one_of(i.sort_by.as_deref(), "sortBy", PROJECT_SORT_BY_TYPE)?;
                one_of(i.sort_order.as_deref(), "sortOrder", SORT_ORDER_TYPE)?;
                if i.next_token.is_some() {
                    non_empty(i.next_token.as_deref(), "nextToken")?;
                }
                Ok(())
            }
            StartBuild(i) => start_build(i),
            BatchGetBuilds(i) => {
                for id in batch(i.ids.as_deref(), "ids")? {
                    build_id(id)?;
                }
                Ok(())
            }
            ListBuilds(i) => one_of(i.sort_order.as_deref(), "sortOrder", SORT_ORDER_TYPE),
            ListBuildsForProject(i) => {
                non_empty(i.project_name.as_deref(), "projectName")?;
                one_of(i.sort_order.as_deref(), "sortOrder", SORT_ORDER_TYPE)
            }
            StopBuild(i) => build_id(non_empty(i.id.as_deref(), "id")?).map(drop),
            RetryBuild(i) => {
                // The model leaves `id` optional; CodeBuild requires it.
                build_id(non_empty(i.id.as_deref(), "id")?).map(drop)
            }
            ListReports(i) => {
                one_of(i.sort_order.as_deref(), "sortOrder", SORT_ORDER_TYPE)?;
                page_size(i.max_results)?;
                report_filter(i.filter.as_ref())
            }
            BatchGetReports(i) => {
                for report in batch(i.report_arns.as_deref(), "reportArns")? {
                    arn::parse_report(report)?;
                }
                Ok(())
            }
            DescribeTestCases(i) => {
                arn::parse_report(non_empty(i.report_arn.as_deref(), "reportArn")?)?;
                page_size(i.max_results)?;
                one_of(i.filter.as_ref().and_then(|f| f.status.as_deref()), "filter.status", TEST_CASE_STATUS)
            }
            ListReportGroups(i) => {
                one_of(i.sort_order.as_deref(), "sortOrder", SORT_ORDER_TYPE)?;
                one_of(i.sort_by.as_deref(), "sortBy", REPORT_GROUP_SORT_BY_TYPE)?;
                page_size(i.max_results)
            }
            BatchGetReportGroups(i) => {
                for group in batch(i.report_group_arns.as_deref(), "reportGroupArns")? {
                    arn::parse_report_group(group)?;
                }
                Ok(())
            }
            ListReportsForReportGroup(i) => {
                arn::parse_report_group(non_empty(i.report_group_arn.as_deref(), "reportGroupArn")?)?;
                one_of(i.sort_order.as_deref(), "sortOrder", SORT_ORDER_TYPE)?;
                page_size(i.max_results)?;
                report_filter(i.filter.as_ref())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codebuild::Operation;

    fn check(op: Operation, body: &str) -> Result<(), String> {
        let request = Request::decode(op, body.as_bytes()).map_err(|e| format!("decode: {e}"))?;
        request.validate().map_err(|e| {
            assert_eq!(e.status, 400);
            format!("{}: {}", e.code, e.message)
        })
    }

    const PROJECT: &str = r#""source":{"type":"GITHUB","location":"https://github.com/o/r.git"},
        "artifacts":{"type":"NO_ARTIFACTS"},
        "environment":{"type":"LINUX_CONTAINER","image":"busybox","computeType":"BUILD_GENERAL1_SMALL"},
        "serviceRole":"arn:aws:iam::1:role/build""#;

    fn create(extra: &str) -> Result<(), String> {
        check(Operation::CreateProject, &format!(r#"{{"name":"web",{PROJECT}{extra}}}"#))
    }

    fn refused(result: Result<(), String>, code: &str, words: &str) {
        let message = result.expect_err("accepted");
        assert!(message.starts_with(code), "{message}");
        assert!(message.contains(words), "{words:?} not in {message}");
    }

    #[test]
    fn a_complete_project_passes() {
        create("").unwrap();
        create(
            r#","description":"d","timeoutInMinutes":60,"queuedTimeoutInMinutes":480,"tags":[{"key":"team","value":"web ops"}],
            "secondarySources":[{"type":"S3","location":"bucket/src.zip","sourceIdentifier":"extra_1"}],
            "secondarySourceVersions":[{"sourceIdentifier":"extra_1","sourceVersion":"v1"}],
            "secondaryArtifacts":[{"type":"S3","location":"out-bucket","artifactIdentifier":"docs"}],
            "cache":{"type":"LOCAL","modes":["LOCAL_SOURCE_CACHE"]},
            "logsConfig":{"cloudWatchLogs":{"status":"ENABLED"},"s3Logs":{"status":"DISABLED"}},
            "concurrentBuildLimit":2,"autoRetryLimit":3,"badgeEnabled":true"#,
        )
        .unwrap();
        check(
            Operation::CreateProject,
            r#"{"name":"inline","source":{"type":"NO_SOURCE","buildspec":"version: 0.2"},"artifacts":{"type":"S3","location":"my.bucket-1"},
                "environment":{"type":"ARM_CONTAINER","image":"i","computeType":"BUILD_GENERAL1_LARGE",
                "environmentVariables":[{"name":"TOKEN","value":"tok","type":"SECRETS_MANAGER"},{"name":"A","value":""}]},"serviceRole":"r"}"#,
        )
        .unwrap();
    }

    #[test]
    fn project_names_follow_the_model() {
        for bad in ["a", "-web", "we b", "wéb", &"x".repeat(151)] {
            let body = format!(r#"{{"name":{},{PROJECT}}}"#, serde_json::to_string(bad).unwrap());
            refused(
                check(Operation::CreateProject, &body),
                "InvalidInputException",
                "at 'name' failed to satisfy constraint",
            );
        }
        check(Operation::CreateProject, &format!(r#"{{"name":"{}",{PROJECT}}}"#, "x".repeat(150))).unwrap();
        refused(
            check(Operation::CreateProject, &format!("{{{PROJECT}}}")),
            "InvalidInputException",
            "Member must not be null",
        );
        refused(check(Operation::DeleteProject, "{}"), "InvalidInputException", "'name'");
        refused(
            check(Operation::UpdateProject, r#"{"name":""}"#),
            "InvalidInputException",
            "length greater than or equal to 1",
        );
        check(Operation::UpdateProject, r#"{"name":"web","timeoutInMinutes":5}"#).unwrap();
    }

    #[test]
    fn required_structures_and_their_required_members() {
        let no_source = r#"{"name":"web","artifacts":{"type":"NO_ARTIFACTS"},"environment":{"type":"LINUX_CONTAINER","image":"i","computeType":"BUILD_GENERAL1_SMALL"},"serviceRole":"r"}"#;
        refused(check(Operation::CreateProject, no_source), "InvalidInputException", "at 'source'");
        refused(
            check(
                Operation::UpdateProject,
                r#"{"name":"web","environment":{"type":"LINUX_CONTAINER","computeType":"BUILD_GENERAL1_SMALL"}}"#,
            ),
            "InvalidInputException",
            "environment.image",
        );
        refused(
            check(Operation::UpdateProject, r#"{"name":"web","artifacts":{}}"#),
            "InvalidInputException",
            "artifacts.type",
        );
    }

    #[test]
    fn limits_and_enums() {
        refused(create(r#","timeoutInMinutes":4"#), "InvalidInputException", "greater than or equal to 5");
        refused(create(r#","timeoutInMinutes":2161"#), "InvalidInputException", "less than or equal to 2160");
        create(r#","timeoutInMinutes":2160"#).unwrap();
        refused(create(r#","queuedTimeoutInMinutes":481"#), "InvalidInputException", "less than or equal to 480");
        refused(create(&format!(r#","description":"{}""#, "d".repeat(256))), "InvalidInputException", "255");
        refused(create(r#","concurrentBuildLimit":0"#), "InvalidInputException", "concurrentBuildLimit");
        refused(create(r#","concurrentBuildLimit":-1"#), "InvalidInputException", "concurrentBuildLimit");
        check(Operation::UpdateProject, r#"{"name":"w","concurrentBuildLimit":-1}"#).unwrap();
        refused(
            check(Operation::UpdateProject, r#"{"name":"w","concurrentBuildLimit":-2}"#),
            "InvalidInputException",
            "concurrentBuildLimit",
        );
        refused(create(r#","autoRetryLimit":11"#), "InvalidInputException", "autoRetryLimit");
        refused(
            check(
                Operation::UpdateProject,
                r#"{"name":"w","environment":{"type":"LINUX_CONTAINER","image":"i","computeType":"HUGE"}}"#,
            ),
            "InvalidInputException",
            "enum value set",
        );
        refused(
            check(
                Operation::UpdateProject,
                r#"{"name":"w","environment":{"type":"LINUX_CONTAINER","image":"i","computeType":"BUILD_GENERAL1_SMALL","environmentVariables":[{"name":"A","value":"1","type":"VAULT"}]}}"#,
            ),
            "InvalidInputException",
            "PLAINTEXT, PARAMETER_STORE, SECRETS_MANAGER",
        );
        let many: Vec<String> = (0..51).map(|i| format!(r#"{{"key":"k{i}","value":"v"}}"#)).collect();
        refused(
            create(&format!(r#","tags":[{}]"#, many.join(","))),
            "InvalidInputException",
            "less than or equal to 50",
        );
        refused(create(r#","tags":[{"key":"a<b","value":"v"}]"#), "InvalidInputException", "tags.1.key");
        refused(check(Operation::ListProjects, r#"{"sortBy":"SIZE"}"#), "InvalidInputException", "sortBy");
        refused(check(Operation::ListBuilds, r#"{"sortOrder":"UP"}"#), "InvalidInputException", "sortOrder");
        refused(check(Operation::ListReportGroups, r#"{"maxResults":101}"#), "InvalidInputException", "maxResults");
        refused(check(Operation::ListReports, r#"{"maxResults":0}"#), "InvalidInputException", "maxResults");
        refused(
            check(Operation::ListReports, r#"{"filter":{"status":"DONE"}}"#),
            "InvalidInputException",
            "filter.status",
        );
        check(Operation::ListReports, r#"{"filter":{"status":"FAILED"},"maxResults":100,"sortOrder":"ASCENDING"}"#)
            .unwrap();
    }

    #[test]
    fn sources_are_checked_for_their_type() {
        let source = |s: &str| check(Operation::UpdateProject, &format!(r#"{{"name":"w","source":{s}}}"#));
        source(r#"{"type":"GITLAB","location":"git@gitlab.example:o/r.git"}"#).unwrap();
        source(r#"{"type":"CODECOMMIT","location":"ssh://git.example/r"}"#).unwrap();
        source(r#"{"type":"BITBUCKET","location":"http://127.0.0.1:3000/o/r.git","gitCloneDepth":1}"#).unwrap();
        source(r#"{"type":"S3","location":"bucket/folder/"}"#).unwrap();
        refused(source(r#"{"type":"GITHUB"}"#), "InvalidInputException", "source.location is required");
        refused(source(r#"{"type":"GITHUB","location":"/srv/repo.git"}"#), "InvalidInputException", "git URL");
        refused(source(r#"{"type":"GITHUB","location":"file:///etc"}"#), "InvalidInputException", "git URL");
        refused(source(r#"{"type":"GITHUB","location":"https://"}"#), "InvalidInputException", "git URL");
        refused(source(r#"{"type":"S3","location":"Bucket/k"}"#), "InvalidInputException", "<bucket>/<key>");
        refused(source(r#"{"type":"S3","location":"bucket"}"#), "InvalidInputException", "<bucket>/<key>");
        refused(source(r#"{"type":"NO_SOURCE"}"#), "InvalidInputException", "buildspec is required");
        refused(source(r#"{"type":"CODEPIPELINE"}"#), "InvalidInputException", "does not build from CODEPIPELINE");
        refused(source(r#"{"type":"SVN","location":"x"}"#), "InvalidInputException", "enum value set");
        refused(
            source(r#"{"type":"GITHUB","location":"https://h/r","gitCloneDepth":-1}"#),
            "InvalidInputException",
            "gitCloneDepth",
        );
        refused(
            source(r#"{"type":"GITHUB","location":"https://h/r","auth":{"type":"PASSWORD"}}"#),
            "InvalidInputException",
            "auth.type",
        );
        // Secondary sources need unique identifiers, and versions must name one.
        let secondary = |s: &str| check(Operation::UpdateProject, &format!(r#"{{"name":"w",{s}}}"#));
        refused(
            secondary(r#""secondarySources":[{"type":"S3","location":"b1b/k"}]"#),
            "InvalidInputException",
            "sourceIdentifier",
        );
        refused(
            secondary(r#""secondarySources":[{"type":"S3","location":"b1b/k","sourceIdentifier":"a-b"}]"#),
            "InvalidInputException",
            "letters, digits and underscores",
        );
        refused(
            secondary(
                r#""secondarySources":[{"type":"S3","location":"b1b/k","sourceIdentifier":"a"},{"type":"S3","location":"b1b/j","sourceIdentifier":"a"}]"#,
            ),
            "InvalidInputException",
            "used twice",
        );
        refused(
            secondary(
                r#""secondarySources":[{"type":"S3","location":"b1b/k","sourceIdentifier":"a"}],"secondarySourceVersions":[{"sourceIdentifier":"b","sourceVersion":"1"}]"#,
            ),
            "InvalidInputException",
            "names no secondary source",
        );
    }

    #[test]
    fn artifacts_caches_variables_and_logs() {
        let update = |s: &str| check(Operation::UpdateProject, &format!(r#"{{"name":"w",{s}}}"#));
        refused(update(r#""artifacts":{"type":"S3"}"#), "InvalidInputException", "name of a bucket");
        refused(update(r#""artifacts":{"type":"CODEPIPELINE"}"#), "InvalidInputException", "no pipelines");
        refused(
            update(r#""artifacts":{"type":"S3","location":"b1b","packaging":"TAR"}"#),
            "InvalidInputException",
            "packaging",
        );
        refused(
            update(r#""secondaryArtifacts":[{"type":"NO_ARTIFACTS"}]"#),
            "InvalidInputException",
            "artifactIdentifier",
        );
        refused(update(r#""cache":{"type":"LOCAL"}"#), "InvalidInputException", "at least one mode");
        refused(
            update(r#""cache":{"type":"LOCAL","modes":["LOCAL_EVERYTHING"]}"#),
            "InvalidInputException",
            "cache.modes.1",
        );
        refused(update(r#""cache":{"type":"S3"}"#), "InvalidInputException", "S3 cache");
        update(r#""cache":{"type":"S3","location":"cache-bucket/web"}"#).unwrap();
        refused(update(r#""logsConfig":{"s3Logs":{"status":"ENABLED"}}"#), "InvalidInputException", "s3Logs.location");
        refused(update(r#""logsConfig":{"cloudWatchLogs":{}}"#), "InvalidInputException", "cloudWatchLogs.status");
        let env = |vars: &str| {
            update(&format!(
                r#""environment":{{"type":"LINUX_CONTAINER","image":"i","computeType":"BUILD_GENERAL1_SMALL","environmentVariables":{vars}}}"#
            ))
        };
        refused(env(r#"[{"name":"CODEBUILD_BUILD_ID","value":"x"}]"#), "InvalidInputException", "reserved");
        refused(env(r#"[{"name":"A"}]"#), "InvalidInputException", "environmentVariables.1.value");
        refused(env(r#"[{"name":"","value":"x"}]"#), "InvalidInputException", "environmentVariables.1.name");
        refused(env(r#"[{"name":"A=B","value":"x"}]"#), "InvalidInputException", "A=B");
    }

    #[test]
    fn what_ferry_does_not_do_is_refused_by_name() {
        refused(create(r#","vpcConfig":{"vpcId":"vpc-1"}"#), "InvalidInputException", "vpcConfig");
        refused(create(r#","fileSystemLocations":[{"type":"EFS"}]"#), "InvalidInputException", "fileSystemLocations");
        refused(create(r#","buildBatchConfig":{}"#), "InvalidInputException", "buildBatchConfig");
        refused(
            check(
                Operation::UpdateProject,
                r#"{"name":"w","environment":{"type":"WINDOWS_CONTAINER","image":"i","computeType":"BUILD_GENERAL1_SMALL"}}"#,
            ),
            "InvalidInputException",
            "Linux",
        );
        refused(
            check(
                Operation::UpdateProject,
                r#"{"name":"w","environment":{"type":"LINUX_CONTAINER","image":"i","computeType":"BUILD_GENERAL1_SMALL","fleet":{"fleetArn":"arn:f"}}}"#,
            ),
            "InvalidInputException",
            "fleet",
        );
        refused(
            check(Operation::StartBuild, r#"{"projectName":"w","debugSessionEnabled":true}"#),
            "InvalidInputException",
            "debug",
        );
    }

    #[test]
    fn start_build_overrides() {
        check(Operation::StartBuild, r#"{"projectName":"w","sourceVersion":"main","environmentVariablesOverride":[{"name":"X","value":"1"}],"timeoutInMinutesOverride":10,"buildspecOverride":"version: 0.2"}"#).unwrap();
        refused(check(Operation::StartBuild, "{}"), "InvalidInputException", "projectName");
        refused(
            check(Operation::StartBuild, r#"{"projectName":"w","timeoutInMinutesOverride":3000}"#),
            "InvalidInputException",
            "timeoutInMinutesOverride",
        );
        refused(
            check(Operation::StartBuild, r#"{"projectName":"w","queuedTimeoutInMinutesOverride":1}"#),
            "InvalidInputException",
            "queuedTimeoutInMinutesOverride",
        );
        refused(
            check(
                Operation::StartBuild,
                r#"{"projectName":"w","sourceTypeOverride":"S3","sourceLocationOverride":"nobucket"}"#,
            ),
            "InvalidInputException",
            "sourceLocationOverride",
        );
        refused(
            check(Operation::StartBuild, r#"{"projectName":"w","sourceTypeOverride":"GITHUB"}"#),
            "InvalidInputException",
            "sourceLocationOverride is required",
        );
        check(
            Operation::StartBuild,
            r#"{"projectName":"w","sourceTypeOverride":"GITHUB","sourceLocationOverride":"https://h.example/o/r"}"#,
        )
        .unwrap();
        refused(
            check(Operation::StartBuild, r#"{"projectName":"w","imageOverride":""}"#),
            "InvalidInputException",
            "imageOverride",
        );
        refused(
            check(Operation::StartBuild, r#"{"projectName":"w","computeTypeOverride":"X"}"#),
            "InvalidInputException",
            "computeTypeOverride",
        );
        refused(
            check(
                Operation::StartBuild,
                r#"{"projectName":"w","environmentVariablesOverride":[{"name":"CODEBUILD_X","value":"1"}]}"#,
            ),
            "InvalidInputException",
            "reserved",
        );
    }

    #[test]
    fn builds_and_reports_by_id_and_arn() {
        check(Operation::BatchGetBuilds, r#"{"ids":["web:1","api:2f"]}"#).unwrap();
        refused(check(Operation::BatchGetBuilds, r#"{"ids":[]}"#), "InvalidInputException", "'ids'");
        refused(check(Operation::BatchGetBuilds, r#"{"ids":["web"]}"#), "InvalidInputException", "Invalid build ID");
        let many: Vec<String> = (0..101).map(|i| format!(r#""web:{i}""#)).collect();
        refused(
            check(Operation::BatchGetBuilds, &format!(r#"{{"ids":[{}]}}"#, many.join(","))),
            "InvalidInputException",
            "less than or equal to 100",
        );
        refused(check(Operation::StopBuild, r#"{"id":"web"}"#), "InvalidInputException", "Invalid build ID");
        refused(check(Operation::RetryBuild, "{}"), "InvalidInputException", "'id'");
        check(Operation::BatchGetProjects, r#"{"names":["web","arn:aws:codebuild:r:1:project/api"]}"#).unwrap();
        refused(
            check(Operation::BatchGetProjects, r#"{"names":["arn:aws:codebuild:r:1:build/api:1"]}"#),
            "InvalidInputException",
            "project ARN",
        );
        check(Operation::BatchGetReports, r#"{"reportArns":["arn:aws:codebuild:r:1:report/web-unit:abc"]}"#).unwrap();
        refused(
            check(Operation::BatchGetReports, r#"{"reportArns":["web-unit:abc"]}"#),
            "InvalidInputException",
            "report ARN",
        );
        refused(check(Operation::DescribeTestCases, "{}"), "InvalidInputException", "reportArn");
        refused(
            check(
                Operation::DescribeTestCases,
                r#"{"reportArn":"arn:aws:codebuild:r:1:report/g1:x","filter":{"status":"PASSED"}}"#,
            ),
            "InvalidInputException",
            "filter.status",
        );
        check(
            Operation::BatchGetReportGroups,
            r#"{"reportGroupArns":["arn:aws:codebuild:r:1:report-group/web-unit"]}"#,
        )
        .unwrap();
        refused(
            check(Operation::ListReportsForReportGroup, r#"{"reportGroupArn":"arn:aws:codebuild:r:1:report/g1:x"}"#),
            "InvalidInputException",
            "report group ARN",
        );
    }
}
