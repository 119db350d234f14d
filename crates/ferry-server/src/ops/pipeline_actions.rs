//! What each pipeline action type does in ferry (issue #14): launching an
//! attempt, and looking at the work it launched until it ends.
//!
//! - Source: git (`CodeCommit`, `CodeStarSourceConnection`,
//!   `ThirdParty/GitHub`) is fetched by the server's git client at the
//!   pinned revision or the branch's head and kept as a `tar` artifact,
//!   with CodePipeline's source variables; `S3` copies the object, or with
//!   the bucket `FerryServer` takes a revision pushed with `ferry push`
//!   (the key is the application, or a revision id).
//! - `CodeBuild`: a build of the project with the primary input artifact as
//!   its source (whatever source the project has, as CodePipeline's
//!   `CODEPIPELINE` source type) and the others as secondary sources in
//!   `$CODEBUILD_SRC_DIR_<artifact>`; its primary artifact becomes the first
//!   output artifact, secondary artifacts the outputs of their names, its
//!   exported variables the action's variables.
//! - `CodeDeploy`: the input artifact registered as a revision of the
//!   application and deployed to the group.
//! - `Manual`: a token, then a decision (`pipeline_runs::decide`).
//! - Custom actions: wait for a job worker (PollForJobs).
//!
//! Artifacts live in the blob store; an artifact's location, opaque to the
//! machine, is `<bundle type>:<blob key>`.

use std::collections::BTreeMap;

use ferry_core::build::{BuildSource, BuildStatus, BuildVariable, SourceBundle, VariableKind};
use ferry_core::deployment::DeploymentStatus;
use ferry_core::resources::{Revision, RevisionLocation};
use ferry_pipeline::execution::{ActionJob, ActionRef, ActionRun, ArtifactLocation, Input};
use ferry_pipeline::{ActionDeclaration, Category, Owner};

use super::OpError;
use crate::AppState;
use crate::ops::builds::StartBuild;

/// What launching an attempt came to.
#[derive(Debug)]
pub(crate) enum Launched {
    /// Running outside (a build, a deployment, an approval waiting).
    Started {
        external_id: Option<String>,
        external_url: Option<String>,
        token: Option<String>,
    },
    /// Done at once (a source fetched).
    Succeeded {
        outputs: Vec<ArtifactLocation>,
        variables: BTreeMap<String, String>,
        summary: Option<String>,
        revision: Option<String>,
    },
    Failed(String),
}

impl From<Result<Launched, String>> for Launched {
    fn from(r: Result<Launched, String>) -> Self {
        r.unwrap_or_else(Launched::Failed)
    }
}

/// What kind of action a declaration is, for ferry.
enum Kind {
    Git,
    S3,
    Build,
    Deploy,
    Approval,
    Custom,
}

fn kind(declared_type: &ferry_pipeline::ActionTypeId) -> Option<Kind> {
    Some(match (declared_type.category, declared_type.owner, declared_type.provider.as_str()) {
        (_, Owner::Custom, _) => Kind::Custom,
        (Category::Source, _, "CodeCommit" | "CodeStarSourceConnection" | "GitHub") => Kind::Git,
        (Category::Source, Owner::Aws, "S3") => Kind::S3,
        (Category::Build | Category::Test, Owner::Aws, "CodeBuild") => Kind::Build,
        (Category::Deploy, Owner::Aws, "CodeDeploy") => Kind::Deploy,
        (Category::Approval, Owner::Aws, "Manual") => Kind::Approval,
        _ => return None,
    })
}

/// Launches one attempt. `key` names the attempt
/// (`<execution>/<stage>/<action>/<attempt>`): builds and deployments carry
/// it so that launching the same attempt again finds them.
pub(crate) async fn launch(state: &AppState, job: &ActionJob, key: &str) -> Launched {
    let Some(kind) = kind(&job.action_type_id) else {
        return Launched::Failed(format!("ferry does not run {} actions", job.action_type_id));
    };
    match kind {
        Kind::Git => git_source(state, job).await.into(),
        Kind::S3 => s3_source(state, job).await.into(),
        Kind::Build => build(state, job, key).await.into(),
        Kind::Deploy => deploy(state, job, key).await.into(),
        Kind::Approval => {
            Launched::Started { external_id: None, external_url: None, token: Some(crate::random::uuid()) }
        }
        // A job for a worker (`pipeline_jobs`), named by a UUID as CodePipeline's.
        Kind::Custom => Launched::Started { external_id: Some(crate::random::uuid()), external_url: None, token: None },
    }
}

/// Where an artifact of `execution` is in the artifact bucket:
/// `<pipeline>/<execution>/<artifact>.<zip|tar|tgz>`.
pub(crate) fn s3_key(pipeline: &str, execution: &str, artifact: &str, bundle_type: &str) -> String {
    format!("{pipeline}/{execution}/{artifact}.{bundle_type}")
}

/// Copies an action's output artifacts to the artifact bucket, when the
/// server has one (`--artifact-bucket`), before the machine hears of them.
pub(crate) async fn publish(
    state: &AppState,
    pipeline: &str,
    execution: &str,
    outputs: &[ArtifactLocation],
) -> Result<(), String> {
    let Some(bucket) = &state.config.artifact_bucket else { return Ok(()) };
    for output in outputs {
        let bundle = artifact(state, output).await?;
        let key = s3_key(pipeline, execution, &output.name, &bundle.bundle_type);
        state
            .fetcher
            .s3
            .put_s3(&state.blobs, &bundle.blob_key, bucket, &key)
            .await
            .map_err(|e| format!("cannot copy artifact {} to s3://{bucket}/{key}: {e}", output.name))?;
    }
    Ok(())
}

/// A job worker's output artifacts, fetched from the artifact bucket where
/// it uploaded them (zips, as CodePipeline's).
pub(crate) async fn collect_outputs(
    state: &AppState,
    pipeline: &str,
    execution: &str,
    names: &[String],
) -> Result<Vec<ArtifactLocation>, String> {
    let Some(bucket) = &state.config.artifact_bucket else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for name in names {
        let key = s3_key(pipeline, execution, name, "zip");
        let fetched = state
            .fetcher
            .s3
            .fetch_s3(&state.blobs, bucket, &key, None, None, state.config.max_bundle_bytes)
            .await
            .map_err(|e| format!("output artifact {name}: s3://{bucket}/{key}: {e}"))?;
        out.push(ArtifactLocation { name: name.clone(), location: location("zip", &fetched.info.key) });
    }
    Ok(out)
}

/// An artifact's location: `<bundle type>:<blob key>`.
pub(crate) fn location(bundle_type: &str, blob_key: &str) -> String {
    format!("{bundle_type}:{blob_key}")
}

/// An artifact as a source bundle (its type, key, digest and size).
pub(crate) async fn artifact(state: &AppState, a: &ArtifactLocation) -> Result<SourceBundle, String> {
    let (bundle_type, key) =
        a.location.split_once(':').ok_or_else(|| format!("artifact {} has no valid location", a.name))?;
    let (_, size) = state
        .blobs
        .open_blob(key)
        .await
        .map_err(|e| format!("artifact {} is no longer in the blob store: {e}", a.name))?;
    let sha256 = key.strip_prefix("sha256/").unwrap_or(key).to_string();
    Ok(SourceBundle { blob_key: key.to_string(), sha256, size, bundle_type: bundle_type.to_string() })
}

fn config<'a>(job: &'a ActionJob, key: &str) -> Result<&'a str, String> {
    job.configuration.get(key).map(String::as_str).ok_or_else(|| format!("the action's configuration has no {key}"))
}

async fn git_source(state: &AppState, job: &ActionJob) -> Result<Launched, String> {
    let source = ferry_pipeline::check::git_source_of(&job.action_type_id, &job.configuration)
        .ok_or("the action names no repository and branch")?;
    let git = &state.fetcher.git;
    let commit = match &job.revision {
        Some(pinned) => pinned.clone(),
        None => git.head(&source.repository, &source.branch).await.map_err(|e| e.to_string())?,
    };
    let info = git
        .fetch_git(&state.blobs, &source.repository, &commit, state.config.max_bundle_bytes)
        .await
        .map_err(|e| e.to_string())?;
    let described = git.commit_info(&source.repository, &commit).await.map_err(|e| e.to_string())?;
    let mut variables = BTreeMap::from([
        ("CommitId".to_string(), commit.clone()),
        ("BranchName".to_string(), source.branch.clone()),
        ("AuthorDate".to_string(), described.author_date),
        ("CommitterDate".to_string(), described.committer_date),
        ("CommitMessage".to_string(), described.message.clone()),
        ("AuthorDisplayName".to_string(), described.author),
    ]);
    match job.action_type_id.provider.as_str() {
        "CodeCommit" => variables.insert("RepositoryName".into(), source.repository.clone()),
        _ => variables.insert("FullRepositoryName".into(), source.repository.clone()),
    };
    if let Some(connection) = source.connection {
        variables.insert("ConnectionArn".into(), connection);
    }
    let outputs = job
        .output_artifacts
        .iter()
        .map(|name| ArtifactLocation { name: name.clone(), location: location("tar", &info.key) })
        .collect();
    let summary = described.message.lines().next().unwrap_or_default().to_string();
    Ok(Launched::Succeeded { outputs, variables, summary: Some(summary), revision: Some(commit) })
}

/// The revision a `FerryServer` source names: a revision id (`r-…`), or an
/// application's newest revision pushed with `ferry push`.
async fn pushed_revision(state: &AppState, key: &str, pinned: Option<&str>) -> Result<Revision, String> {
    let wanted = pinned.unwrap_or(key);
    if wanted.starts_with("r-") {
        return state.store.get_revision(wanted).await.map_err(|e| format!("revision {wanted}: {e}"));
    }
    let revisions = state.store.list_revisions(key).await.map_err(|e| e.to_string())?;
    revisions
        .into_iter()
        .find(|r| matches!(r.location, RevisionLocation::Blob { .. }))
        .ok_or_else(|| format!("application {key} has no revision pushed with `ferry push` yet"))
}

/// A `FerryServer` source: a revision pushed with `ferry push` (the
/// pseudo-bucket CodeDeploy's API shows pushed revisions under).
async fn pushed_source(state: &AppState, job: &ActionJob, key: &str) -> Result<Launched, String> {
    let revision = pushed_revision(state, key, job.revision.as_deref()).await?;
    let RevisionLocation::Blob { key: blob_key } = &revision.location else {
        return Err(format!("revision {} was not pushed to ferry (it is not in its blob store)", revision.id));
    };
    let outputs = job
        .output_artifacts
        .iter()
        .map(|name| ArtifactLocation { name: name.clone(), location: location(&revision.bundle_type, blob_key) })
        .collect();
    let variables = BTreeMap::from([
        ("BucketName".to_string(), ferry_aws::convert::FERRY_BUCKET.to_string()),
        ("ObjectKey".to_string(), key.to_string()),
        ("RevisionId".to_string(), revision.id.clone()),
        ("ETag".to_string(), revision.sha256.clone()),
    ]);
    let summary = Some(if revision.description.is_empty() {
        format!("revision {} of {}", revision.id, revision.application_name)
    } else {
        revision.description.clone()
    });
    Ok(Launched::Succeeded { outputs, variables, summary, revision: Some(revision.id) })
}

async fn s3_source(state: &AppState, job: &ActionJob) -> Result<Launched, String> {
    let bucket = config(job, "S3Bucket")?;
    let key = config(job, "S3ObjectKey")?;
    if bucket == ferry_aws::convert::FERRY_BUCKET {
        return pushed_source(state, job, key).await;
    }
    let fetched = state
        .fetcher
        .s3
        .fetch_s3_counting(
            &state.blobs,
            bucket,
            key,
            job.revision.as_deref(),
            None,
            state.config.max_bundle_bytes,
            Default::default(),
        )
        .await
        .map_err(|e| format!("s3://{bucket}/{key}: {e}"))?;
    let bundle_type = if key.ends_with(".tar.gz") || key.ends_with(".tgz") {
        "tgz"
    } else if key.ends_with(".tar") {
        "tar"
    } else {
        "zip"
    };
    let version = fetched.version.clone();
    let mut variables = BTreeMap::from([
        ("BucketName".to_string(), bucket.to_string()),
        ("ObjectKey".to_string(), key.to_string()),
        ("ETag".to_string(), fetched.etag.clone()),
    ]);
    if let Some(v) = &version {
        variables.insert("VersionId".into(), v.clone());
    }
    let outputs = job
        .output_artifacts
        .iter()
        .map(|name| ArtifactLocation { name: name.clone(), location: location(bundle_type, &fetched.info.key) })
        .collect();
    let revision = version.or(Some(fetched.etag.clone()));
    Ok(Launched::Succeeded { outputs, variables, summary: Some(format!("s3://{bucket}/{key}")), revision })
}

async fn build(state: &AppState, job: &ActionJob, key: &str) -> Result<Launched, String> {
    let project = config(job, "ProjectName")?;
    if let Some(existing) = state
        .store
        .list_builds(Some(project), 50)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|b| b.pipeline_action.as_deref() == Some(key))
    {
        return Ok(started_build(&existing.id));
    }
    let primary = match job.configuration.get("PrimarySource") {
        Some(name) => job.input_artifacts.iter().find(|a| &a.name == name),
        None => job.input_artifacts.first(),
    }
    .ok_or("the action has no input artifact to build")?;
    let bundle = artifact(state, primary).await?;
    // The other input artifacts are secondary sources, named as the artifacts
    // (CodeBuild's CODEBUILD_SRC_DIR_<artifact name>).
    let mut secondary_sources = Vec::new();
    for other in job.input_artifacts.iter().filter(|a| a.name != primary.name) {
        if !ferry_proto::build_host::is_source_identifier(&other.name) {
            return Err(format!(
                "input artifact {} cannot be a secondary source: its name must be letters, digits or '_' \
                 (it names the directory and CODEBUILD_SRC_DIR_{})",
                other.name, other.name
            ));
        }
        secondary_sources.push((other.name.clone(), artifact(state, other).await?));
    }
    let mut variables = Vec::new();
    if let Some(text) = job.configuration.get("EnvironmentVariables") {
        for (name, value, kind) in ferry_pipeline::check::environment_variables(text)? {
            let kind = if kind == "PLAINTEXT" { VariableKind::Plaintext } else { VariableKind::Secret };
            variables.push(BuildVariable { name, value, kind });
        }
    }
    let request = StartBuild {
        source_bundle: Some(bundle),
        secondary_sources,
        pipeline_action: Some(key.to_string()),
        ..StartBuild::by(ferry_core::build::Initiator::Pipeline(job.pipeline.clone()))
    };
    let started = super::builds::start(state, project, request, |settings| {
        settings.source = BuildSource::Upload;
        for v in variables {
            settings.variables.retain(|old| old.name != v.name);
            settings.variables.push(v);
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(started_build(&started.id))
}

fn started_build(id: &str) -> Launched {
    Launched::Started {
        external_id: Some(id.to_string()),
        external_url: Some(format!("/console/builds/{}", urlencode(id))),
        token: None,
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The description a pipeline's deployment carries: how a relaunch finds it.
fn deployment_description(job: &ActionJob, key: &str) -> String {
    format!("pipeline {} action {key}", job.pipeline)
}

async fn deploy(state: &AppState, job: &ActionJob, key: &str) -> Result<Launched, String> {
    let application = config(job, "ApplicationName")?;
    let group = config(job, "DeploymentGroupName")?;
    let description = deployment_description(job, key);
    let filter = ferry_store::DeploymentFilter {
        application: Some(application.to_string()),
        group: Some(group.to_string()),
        limit: Some(50),
        ..Default::default()
    };
    if let Some(existing) = state
        .store
        .list_deployments(filter)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|d| d.description.as_deref() == Some(description.as_str()))
    {
        return Ok(started_deployment(&existing.id));
    }
    let input = job.input_artifacts.first().ok_or("the action has no input artifact to deploy")?;
    let bundle = artifact(state, input).await?;
    let revision = Revision {
        id: super::applications::revision_id(application, &bundle.bundle_type, &bundle.sha256),
        application_name: application.to_string(),
        location: RevisionLocation::Blob { key: bundle.blob_key.clone() },
        bundle_type: bundle.bundle_type.clone(),
        sha256: bundle.sha256.clone(),
        size: bundle.size,
        description: format!("artifact {} of pipeline {} execution {}", input.name, job.pipeline, job.action.execution),
        register_time: state.driver.now(),
        first_used_time: None,
        last_used_time: None,
        deployment_groups: Vec::new(),
        last_fetch: None,
    };
    super::applications::get(state, application).await.map_err(|e| e.to_string())?;
    state.store.put_revision(&revision).await.map_err(|e| e.to_string())?;
    let request = super::deployments::NewDeployment {
        application: application.to_string(),
        group: group.to_string(),
        revision,
        config_name: None,
        description: Some(description),
        file_exists_behavior: None,
        ignore_application_stop_failures: false,
        auto_rollback: None,
        green_selector: None,
        alarms: None,
        ecs: None,
        outdated_only: false,
    };
    let id = super::deployments::create(state, request).await.map_err(|e| e.to_string())?;
    Ok(started_deployment(&id))
}

fn started_deployment(id: &str) -> Launched {
    Launched::Started {
        external_id: Some(id.to_string()),
        external_url: Some(format!("/console/deployments/{id}")),
        token: None,
    }
}

/// The end of a launched action's outside work, as an input for the
/// machine; `None` while it goes on (or for actions nothing outside ends:
/// approvals and job workers report themselves).
pub(crate) async fn observe(
    state: &AppState,
    declared: &ActionDeclaration,
    action: &ActionRef,
    run: &ActionRun,
) -> Result<Option<Input>, OpError> {
    let Some(external) = &run.external_id else { return Ok(None) };
    let failed = |message: String| Some(Input::ActionFailed { action: action.clone(), message });
    match kind(&declared.action_type_id) {
        Some(Kind::Build) => {
            let b = match super::builds::get(state, external).await {
                Ok(b) => b,
                Err(OpError::BuildNotFound(_)) => return Ok(failed(format!("build {external} no longer exists"))),
                Err(e) => return Err(e),
            };
            if !b.status.is_terminal() {
                return Ok(None);
            }
            if b.status != BuildStatus::Succeeded {
                let why = b.phases.iter().rev().find_map(|p| p.message.clone()).unwrap_or_default();
                let message = format!("build {} {}: {why}", b.id, b.status.aws_name());
                return Ok(failed(message.trim_end_matches(": ").to_string()));
            }
            let mut outputs = Vec::new();
            for (i, name) in declared.output_artifacts.iter().map(|o| &o.name).enumerate() {
                let found = b.artifacts.iter().find(|a| match &a.identifier {
                    Some(id) => id == name,
                    None => i == 0,
                });
                match found {
                    Some(a) => {
                        outputs.push(ArtifactLocation { name: name.clone(), location: location("zip", &a.blob_key) })
                    }
                    None => {
                        return Ok(failed(format!(
                            "build {} made no artifact for output {name} (the buildspec's {})",
                            b.id,
                            if i == 0 {
                                "primary artifacts".to_string()
                            } else {
                                format!("secondary-artifacts.{name}")
                            }
                        )));
                    }
                }
            }
            let variables = b.exported_variables.iter().cloned().collect();
            let summary = Some(format!("build {} SUCCEEDED", b.id));
            Ok(Some(Input::ActionSucceeded { action: action.clone(), outputs, variables, summary, revision: None }))
        }
        Some(Kind::Deploy) => {
            let d = match super::deployments::get(state, external).await {
                Ok(d) => d,
                Err(OpError::DeploymentNotFound(_)) => {
                    return Ok(failed(format!("deployment {external} no longer exists")));
                }
                Err(e) => return Err(e),
            };
            Ok(match d.status {
                DeploymentStatus::Succeeded => Some(Input::ActionSucceeded {
                    action: action.clone(),
                    outputs: Vec::new(),
                    variables: BTreeMap::new(),
                    summary: Some(format!("deployment {} Succeeded", d.id)),
                    revision: None,
                }),
                DeploymentStatus::Failed | DeploymentStatus::Stopped => {
                    let why = d.error.map(|e| e.message).unwrap_or_default();
                    failed(
                        format!("deployment {} {}: {why}", d.id, d.status.as_str()).trim_end_matches(": ").to_string(),
                    )
                }
                _ => None,
            })
        }
        _ => Ok(None),
    }
}

/// Stops the build or deployment of an abandoned action.
pub(crate) async fn abandon(state: &AppState, declared: &ActionDeclaration, external: &str) {
    let result = match kind(&declared.action_type_id) {
        Some(Kind::Build) => super::builds::stop(state, external).await.map(drop),
        Some(Kind::Deploy) => super::deployments::stop(state, external, None).await.map(drop),
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::info!(action = %declared.name, %external, error = %e, "the abandoned action's work did not stop");
    }
}
