//! Build projects and builds (issue #13): the operations the native API
//! (`native::builds`), CodeBuild's API (`aws::codebuild`) and pipelines
//! adapt. Builds are queued here and taken by build hosts (`build_hosts`);
//! a queued build waits for a free host with room in its project's
//! concurrency limit, and times out after its queued timeout.

use ferry_core::build::{self, Build, BuildProject, BuildSource, BuildStatus, Initiator, SourceBundle};
use ferry_store::StoreError;

use super::OpError;
use crate::AppState;

pub async fn get_project(state: &AppState, name: &str) -> Result<BuildProject, OpError> {
    match state.store.get_build_project(name).await {
        Ok(p) => Ok(p),
        Err(StoreError::NotFound) => Err(OpError::ProjectNotFound(name.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Creates a project after checking CodeBuild's rules (`build::check_project`).
pub async fn create_project(state: &AppState, project: BuildProject) -> Result<BuildProject, OpError> {
    check(&project)?;
    state.store.create_build_project(&project).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => OpError::ProjectExists(project.name.clone()),
        e => e.into(),
    })?;
    tracing::info!(project = %project.name, "build project created");
    Ok(project)
}

/// CodeBuild's rules (`build::check_project`), and notification addresses
/// the trigger deliverer can send to.
fn check(project: &BuildProject) -> Result<(), OpError> {
    build::check_project(project).map_err(|r| OpError::Invalid(r.0))?;
    for url in &project.notify {
        crate::triggers::check_target(url).map_err(OpError::Invalid)?;
    }
    Ok(())
}

/// Edits a project as it is now; the result obeys the same rules. Builds
/// already queued keep the settings they were started with.
pub async fn update_project<E: From<OpError>>(
    state: &AppState,
    name: &str,
    edit: impl FnOnce(&mut BuildProject) -> Result<(), E>,
) -> Result<BuildProject, E> {
    let _held = state.driver.exclusive().await;
    let mut project = get_project(state, name).await?;
    edit(&mut project)?;
    project.name = name.to_string();
    project.last_modified = state.driver.now();
    check(&project)?;
    state.store.update_build_project(&project).await.map_err(OpError::from)?;
    Ok(project)
}

/// Deletes a project (its builds stay as history).
pub async fn delete_project(state: &AppState, name: &str) -> Result<(), OpError> {
    match state.store.delete_build_project(name).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(OpError::ProjectNotFound(name.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// What starts a build, besides the project's settings.
#[derive(Debug, Clone)]
pub struct StartBuild {
    pub initiator: Initiator,
    /// A branch, tag, commit or `pr/N` (`None`: the project's).
    pub source_version: Option<String>,
    /// The source, already in the blob store (`Upload` projects).
    pub source_bundle: Option<SourceBundle>,
    /// The webhook event that started it (`Initiator::Webhook`).
    pub webhook: Option<build::BuildWebhook>,
    /// The pipeline action attempt that starts it (see `Build::pipeline_action`).
    pub pipeline_action: Option<String>,
    /// Secondary sources by identifier (already in the blob store).
    pub secondary_sources: Vec<(String, SourceBundle)>,
}

impl StartBuild {
    pub fn by(initiator: Initiator) -> Self {
        Self {
            initiator,
            source_version: None,
            source_bundle: None,
            webhook: None,
            pipeline_action: None,
            secondary_sources: Vec::new(),
        }
    }
}

/// Queues a build of `project` with the project's next number.
/// `overrides` changes the build's copy of the settings (StartBuild's
/// overrides), checked by the same rules.
pub async fn start(
    state: &AppState,
    project: &str,
    request: StartBuild,
    overrides: impl FnOnce(&mut BuildProject),
) -> Result<Build, OpError> {
    let StartBuild { initiator, source_version, mut source_bundle, webhook, pipeline_action, secondary_sources } =
        request;
    if let Some((bad, _)) = secondary_sources.iter().find(|(id, _)| !ferry_proto::build_host::is_source_identifier(id))
    {
        return Err(OpError::Invalid(format!(
            "secondary source identifier {bad:?}: 1 to 128 letters, digits or '_', not \"src\""
        )));
    }
    let mut settings = get_project(state, project).await?;
    overrides(&mut settings);
    settings.name = project.to_string();
    build::check_project(&settings).map_err(|r| OpError::Invalid(r.0))?;
    check_source_bundle(&settings, source_bundle.is_some())?;
    if source_bundle.is_none()
        && let build::BuildSource::S3 { bucket, key } = &settings.source
    {
        source_bundle = Some(fetch_s3_source(state, bucket, key, source_version.as_deref()).await?);
    }
    let uuid = crate::random::uuid();
    let now = state.driver.now();
    let queued = state
        .store
        .queue_build(project, |number| {
            let mut queued = build::queue_build(&settings, number, &uuid, initiator, source_version, now);
            queued.source_bundle = source_bundle;
            queued.webhook = webhook;
            queued.pipeline_action = pipeline_action;
            queued.secondary_sources = secondary_sources;
            queued
        })
        .await?;
    save(state, &queued, None).await?;
    state.driver.build_queue.notify_waiters();
    tracing::info!(build = %queued.id, number = queued.number, "build queued");
    Ok(queued)
}

/// Copies an S3 source into the blob store when the build is started, so
/// that build hosts need no S3 credentials and the build keeps the object
/// as it was then. `version` is the S3 object version (StartBuild's
/// `sourceVersion` for S3 sources). A zip unless the key ends in `.tar`,
/// `.tgz` or `.tar.gz`.
async fn fetch_s3_source(
    state: &AppState,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<SourceBundle, OpError> {
    let fetched = state
        .fetcher
        .s3
        .fetch_s3_counting(&state.blobs, bucket, key, version, None, state.config.max_bundle_bytes, Default::default())
        .await
        .map_err(|e| OpError::Revision(format!("the source s3://{bucket}/{key}: {e}")))?;
    let bundle_type = if key.ends_with(".tar.gz") || key.ends_with(".tgz") {
        "tgz"
    } else if key.ends_with(".tar") {
        "tar"
    } else {
        "zip"
    };
    Ok(SourceBundle {
        blob_key: fetched.info.key,
        sha256: fetched.info.sha256,
        size: fetched.info.size,
        bundle_type: bundle_type.into(),
    })
}

/// Which builds carry a source bundle: an `Upload` project's always (it has
/// no other source), a git or source-less project's never (the build host
/// would not know which source to build). An `S3` project's may (the
/// server's copy of the object).
pub fn check_source_bundle(project: &BuildProject, has_bundle: bool) -> Result<(), OpError> {
    match (&project.source, has_bundle) {
        (BuildSource::Upload, false) => Err(OpError::Invalid(format!(
            "build project {} builds an uploaded source: start it with one (`ferry build start {} --source DIR`)",
            project.name, project.name
        ))),
        (BuildSource::Git { .. }, true) => Err(OpError::Invalid(format!(
            "build project {} builds its git repository: it takes no uploaded source",
            project.name
        ))),
        (BuildSource::NoSource, true) => Err(OpError::Invalid(format!(
            "build project {} has no source (its buildspec is inline): it takes no uploaded source",
            project.name
        ))),
        _ => Ok(()),
    }
}

/// The primary artifact of a build that succeeded, registered as a
/// revision of `application` (a zip with the appspec at its root), so that
/// it deploys like a pushed bundle: `ferry deploy --from-build`, and the
/// AWS API's S3 location `s3://ferry-builds/<build id>`.
pub async fn artifact_revision(
    state: &AppState,
    build_id: &str,
    application: &str,
) -> Result<ferry_core::resources::Revision, OpError> {
    super::applications::get(state, application).await?;
    let b = get(state, build_id).await.map_err(|e| match e {
        OpError::BuildNotFound(_) => OpError::Revision(format!("build {build_id} does not exist")),
        e => e,
    })?;
    if b.status != BuildStatus::Succeeded {
        return Err(OpError::Revision(format!(
            "build {build_id} is {}: only a build that succeeded can be deployed",
            b.status.aws_name()
        )));
    }
    let Some(artifact) = b.artifacts.iter().find(|a| a.identifier.is_none()) else {
        return Err(OpError::Revision(format!("build {build_id} has no primary artifact to deploy")));
    };
    let revision = ferry_core::resources::Revision {
        id: super::applications::revision_id(application, "zip", &artifact.sha256),
        application_name: application.to_string(),
        location: ferry_core::resources::RevisionLocation::Blob { key: artifact.blob_key.clone() },
        bundle_type: "zip".into(),
        sha256: artifact.sha256.clone(),
        size: artifact.size,
        description: format!("the primary artifact of build {build_id}"),
        register_time: state.driver.now(),
        first_used_time: None,
        last_used_time: None,
        deployment_groups: Vec::new(),
        last_fetch: None,
    };
    state.store.put_revision(&revision).await?;
    Ok(revision)
}

pub async fn list_projects(state: &AppState) -> Result<Vec<BuildProject>, OpError> {
    Ok(state.store.list_build_projects().await?)
}

/// A project's builds (or all), newest first, at most `limit`. A project
/// that does not exist is an error (its builds outlive it only in `None`'s list).
pub async fn list(state: &AppState, project: Option<&str>, limit: u32) -> Result<Vec<Build>, OpError> {
    if let Some(name) = project {
        get_project(state, name).await?;
    }
    Ok(state.store.list_builds(project, limit).await?)
}

/// RetryBuild: a new build of the same project with the settings, source
/// version and source bundle the given build ran with (not the project's
/// current settings), started by `initiator`.
pub async fn retry(state: &AppState, id: &str, initiator: Initiator) -> Result<Build, OpError> {
    let old = get(state, id).await?;
    get_project(state, &old.project).await?;
    let uuid = crate::random::uuid();
    let now = state.driver.now();
    let queued = state
        .store
        .queue_build(&old.project, |number| {
            let mut queued =
                build::queue_build(&old.settings, number, &uuid, initiator, old.source_version.clone(), now);
            queued.source_bundle = old.source_bundle.clone();
            queued
        })
        .await?;
    save(state, &queued, None).await?;
    state.driver.build_queue.notify_waiters();
    tracing::info!(build = %queued.id, retry_of = %old.id, "build queued again");
    Ok(queued)
}

/// Writes a build; when its status is not `before`, the change goes to the
/// event log (a `BuildStateChange` notice) in the same transaction, and
/// event streams are woken.
pub(crate) async fn save(state: &AppState, b: &Build, before: Option<BuildStatus>) -> Result<(), OpError> {
    if before == Some(b.status) {
        state.store.update_build(b).await?;
        return Ok(());
    }
    let now = state.driver.now();
    let notice = ferry_core::notices::Notice::build_state(b, now);
    let mut changes = ferry_store::Changes::new();
    if before.is_some() {
        changes.update_builds.push(b.clone());
    }
    let deliveries = notifications(state, b, &notice.status, now);
    let deliver = !deliveries.is_empty();
    changes.events.push(ferry_store::NewEvent { notice, deliveries });
    if let Some(seq) = state.store.commit(changes).await? {
        state.driver.events.published(seq);
    }
    if deliver {
        state.driver.events.deliveries_added();
    }
    // A pipeline waits for its builds' ends.
    if b.pipeline_action.is_some() && b.status.is_terminal() {
        state.driver.pipeline_wake.notify_one();
    }
    // The forge hears of a webhook build's progress (the webhook itself
    // posted `pending` when it queued the build).
    if b.webhook.is_some() && before.is_some() {
        let (state, b) = (state.clone(), b.clone());
        tokio::spawn(async move {
            if let Err(e) = crate::webhooks::post_commit_status(&state, &b).await {
                tracing::warn!(build = %b.id, error = %e, "cannot post the commit status");
            }
        });
    }
    Ok(())
}

/// The notifications of a build's new status: one delivery per address of
/// the project's `notify`, with EventBridge's "CodeBuild Build State Change"
/// event as the body (the trigger deliverer signs, sends and retries it).
fn notifications(
    state: &AppState,
    b: &Build,
    status: &str,
    now: ferry_core::Millis,
) -> Vec<ferry_core::resources::Delivery> {
    let arns =
        ferry_aws::arn::Arns { region: state.config.aws_region.clone(), account: state.config.aws_account_id.clone() };
    let current = b.phases.last().map(|p| p.name.as_str()).unwrap_or("SUBMITTED");
    b.settings
        .notify
        .iter()
        .map(|url| {
            let id = crate::random::uuid();
            let body = serde_json::json!({
                "version": "0",
                "id": id,
                "detail-type": "CodeBuild Build State Change",
                "source": "aws.codebuild",
                "account": arns.account,
                "time": rfc3339(now),
                "region": arns.region,
                "resources": [arns.build(&b.id)],
                "detail": {
                    "build-status": status,
                    "project-name": b.project,
                    "build-id": arns.build(&b.id),
                    "current-phase": current,
                    "version": "1",
                    "additional-information": {
                        "build-number": b.number,
                        "initiator": b.initiator.name(),
                        "build-complete": b.status.is_terminal(),
                        "source-version": b.source_version,
                        "resolved-source-version": b.resolved_source_version,
                        "host": b.host,
                        "build-start-time": b.start_time.map(rfc3339),
                    },
                },
            });
            ferry_core::resources::Delivery {
                id,
                event_seq: 0,
                deployment_id: b.id.clone(),
                trigger_name: "notify".into(),
                event: status.to_string(),
                url: url.clone(),
                body: body.to_string(),
                state: ferry_core::resources::DeliveryState::Pending,
                attempts: 0,
                next_attempt: now,
                last_error: None,
                delivered_time: None,
                create_time: now,
            }
        })
        .collect()
}

/// `2026-12-03T14:00:00Z`, as EventBridge writes times.
pub(crate) fn rfc3339(ms: ferry_core::Millis) -> String {
    let secs = ms / 1000;
    let (y, m, d) = ferry_bundle::civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

pub async fn get(state: &AppState, id: &str) -> Result<Build, OpError> {
    match state.store.get_build(id).await {
        Ok(b) => Ok(b),
        Err(StoreError::NotFound) => Err(OpError::BuildNotFound(id.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// At most `limit` lines of a build's log from line `from` on, with their
/// numbers (the log grows while the build runs: ask again from the next).
pub async fn log(state: &AppState, id: &str, from: u64, limit: u32) -> Result<Vec<(u64, String)>, OpError> {
    get(state, id).await?;
    Ok(state.store.build_log(id, from, limit).await?)
}

/// A build's test reports (stored when the build finishes).
pub async fn reports(state: &AppState, id: &str) -> Result<Vec<build::BuildReport>, OpError> {
    get(state, id).await?;
    Ok(state.store.build_reports(id).await?)
}

/// StopBuild: a queued build stops at once; a running one is marked for its
/// build host to stop. A finished build is returned as it is (CodeBuild
/// answers StopBuild of a finished build with the build).
pub async fn stop(state: &AppState, id: &str) -> Result<Build, OpError> {
    let _held = state.driver.exclusive().await;
    let mut b = get(state, id).await?;
    let before = b.status;
    let now = state.driver.now();
    match b.status {
        BuildStatus::Queued => {
            for p in b.phases.iter_mut().filter(|p| p.end_time.is_none()) {
                p.status = Some("STOPPED".into());
                p.end_time = Some(now);
            }
            b.status = BuildStatus::Stopped;
            b.end_time = Some(now);
        }
        BuildStatus::InProgress => b.stop_requested = true,
        _ => return Ok(b),
    }
    save(state, &b, Some(before)).await?;
    Ok(b)
}

/// Ends the builds that waited for a build host past their queued timeout.
pub async fn expire_queued(state: &AppState) -> Result<Vec<String>, OpError> {
    let _held = state.driver.exclusive().await;
    let now = state.driver.now();
    let mut expired = Vec::new();
    for mut b in state.store.unfinished_builds().await? {
        if build::expire_queued(&mut b, now) {
            save(state, &b, Some(BuildStatus::Queued)).await?;
            expired.push(b.id);
        }
    }
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ferry_core::build::{BuildVariable, VariableKind};

    use super::*;

    fn project() -> BuildProject {
        BuildProject {
            id: "p".into(),
            name: "shop-build".into(),
            description: String::new(),
            source: BuildSource::Git { url: "https://git.example/shop.git".into(), version: None },
            buildspec: None,
            image: None,
            variables: vec![BuildVariable { name: "MODE".into(), value: "dev".into(), kind: VariableKind::Plaintext }],
            timeout_minutes: 60,
            queued_timeout_minutes: 5,
            concurrent_build_limit: None,
            cache: false,
            badge: false,
            tags: Vec::new(),
            create_time: 0,
            last_modified: 0,
            poll_seconds: None,
            notify: Vec::new(),
            webhook: None,
        }
    }

    fn with_bundle() -> StartBuild {
        let sha256 = "ab".repeat(32);
        let bundle = SourceBundle { blob_key: format!("sha256/{sha256}"), sha256, size: 10, bundle_type: "zip".into() };
        StartBuild { source_bundle: Some(bundle), ..StartBuild::by(Initiator::Webhook) }
    }

    #[tokio::test]
    async fn projects_and_builds_through_the_operations() {
        let dir = tempfile::tempdir().unwrap();
        let clock = crate::clock::Clock::manual(1_000_000);
        let state = AppState::for_tests_with(dir.path(), |c| c.clock = clock.clone()).await;
        create_project(&state, project()).await.unwrap();
        assert!(matches!(create_project(&state, project()).await, Err(OpError::ProjectExists(_))));
        let bad = BuildProject { name: "x".into(), ..project() };
        assert!(matches!(create_project(&state, bad).await, Err(OpError::Invalid(_))));

        let first = start(&state, "shop-build", StartBuild::by(Initiator::Key("FKIA".into())), |_| {}).await.unwrap();
        // Overrides apply to the build's copy only, under the same rules.
        let by_webhook = StartBuild { source_version: Some("pr/7".into()), ..StartBuild::by(Initiator::Webhook) };
        let second =
            start(&state, "shop-build", by_webhook, |p| p.variables[0].value = "release".into()).await.unwrap();
        assert_eq!((first.number, second.number), (1, 2));
        assert_eq!(second.settings.variables[0].value, "release");
        assert_eq!(get_project(&state, "shop-build").await.unwrap().variables[0].value, "dev");
        let refused = start(&state, "shop-build", StartBuild::by(Initiator::Webhook), |p| p.timeout_minutes = 1).await;
        assert!(matches!(refused, Err(OpError::Invalid(_))));
        assert!(matches!(
            start(&state, "nope", StartBuild::by(Initiator::Webhook), |_| {}).await,
            Err(OpError::ProjectNotFound(_))
        ));

        // Edits keep the name and the rules; queued builds keep their settings.
        update_project(&state, "shop-build", |p| {
            p.image = Some("localhost/builder:1".into());
            Ok::<(), OpError>(())
        })
        .await
        .unwrap();
        assert_eq!(get(&state, &first.id).await.unwrap().settings.image, None);

        // Stop a queued build at once; the other times out in the queue.
        let stopped = stop(&state, &first.id).await.unwrap();
        assert_eq!(stopped.status, BuildStatus::Stopped);
        assert!(expire_queued(&state).await.unwrap().is_empty());
        clock.advance(Duration::from_secs(300));
        assert_eq!(expire_queued(&state).await.unwrap(), std::slice::from_ref(&second.id));
        assert_eq!(get(&state, &second.id).await.unwrap().status, BuildStatus::TimedOut);
        assert_eq!(stop(&state, &second.id).await.unwrap().status, BuildStatus::TimedOut, "finished: unchanged");

        let again = retry(&state, &second.id, Initiator::Key("FKIB".into())).await.unwrap();
        assert_eq!((again.number, again.source_version.as_deref()), (3, Some("pr/7")));
        assert_eq!(again.settings.variables[0].value, "release", "the retried build's settings, not the project's");
        assert_eq!(list_projects(&state).await.unwrap().len(), 1);
        let listed: Vec<u64> = list(&state, Some("shop-build"), 10).await.unwrap().iter().map(|b| b.number).collect();
        assert_eq!(listed, [3, 2, 1]);
        assert!(matches!(list(&state, Some("nope"), 10).await, Err(OpError::ProjectNotFound(_))));

        // An uploaded source is what an Upload project builds, and only it.
        let refused = start(&state, "shop-build", with_bundle(), |_| {}).await.unwrap_err();
        assert!(refused.to_string().contains("takes no uploaded source"), "{refused}");
        let uploads = BuildProject { name: "uploads".into(), source: BuildSource::Upload, ..project() };
        create_project(&state, uploads).await.unwrap();
        let refused = start(&state, "uploads", StartBuild::by(Initiator::Webhook), |_| {}).await.unwrap_err();
        assert!(matches!(&refused, OpError::Invalid(m) if m.contains("--source DIR")), "{refused}");
        let uploaded = start(&state, "uploads", with_bundle(), |_| {}).await.unwrap();
        assert_eq!(uploaded.source_bundle, with_bundle().source_bundle);

        delete_project(&state, "shop-build").await.unwrap();
        assert!(matches!(get_project(&state, "shop-build").await, Err(OpError::ProjectNotFound(_))));
        assert_eq!(get(&state, &first.id).await.unwrap().project, "shop-build", "history stays");
    }
}
