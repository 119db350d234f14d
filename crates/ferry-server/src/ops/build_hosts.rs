//! Build hosts (issue #13): agents with a build capacity take queued builds
//! (`claim`), send their log and phases (`progress`), their artifacts and
//! their end (`finish`). The server's side of `ferry_proto::build_host`.
//!
//! A build belongs to the host that claimed it: every call names the
//! calling instance, and a build running elsewhere (or no longer running)
//! is refused, so a host that was given up on cannot overwrite the record.
//!
//! Liveness: a running build whose host has been silent longer than the
//! agent lost time (no progress; hosts send it at least every
//! `HEARTBEAT_SECONDS`) ends FAULT, as does one its host no longer lists
//! (the agent restarted). `watch_forever` checks that, and the queued
//! timeouts, every second.

use std::time::Duration;

use ferry_core::build::{self, Build, BuildArtifact, BuildSource, BuildStatus, VariableKind};
use ferry_proto::build_host as wire;

use super::OpError;
use crate::AppState;

/// The most log lines one build keeps; later lines are dropped, and the
/// line at this number says so.
pub const MAX_LOG_LINES: u64 = 200_000;

fn not_here(id: &str, instance: &str) -> OpError {
    OpError::Invalid(format!("build {id} is not running on {instance}"))
}

/// The build `id`, if it runs on `instance`.
async fn running_on(state: &AppState, instance: &str, id: &str) -> Result<Build, OpError> {
    let b = super::builds::get(state, id).await?;
    if b.status != BuildStatus::InProgress || b.host.as_deref() != Some(instance) {
        return Err(not_here(id, instance));
    }
    Ok(b)
}

/// Takes the next build `instance` may run out of the queue, if there is
/// one and the host has room; builds the server thinks run there but the
/// host does not list end FAULT first.
pub async fn claim(
    state: &AppState,
    instance: &str,
    request: &wire::ClaimRequest,
) -> Result<Option<wire::Assignment>, OpError> {
    let _held = state.driver.exclusive().await;
    let now = state.driver.now();
    let mut unfinished = state.store.unfinished_builds().await?;
    for b in unfinished.iter_mut() {
        let lost = b.status == BuildStatus::InProgress
            && b.host.as_deref() == Some(instance)
            && !request.running.contains(&b.id);
        if lost {
            build::fault(
                b,
                &format!("The build host {instance} no longer runs this build (its agent restarted)."),
                now,
            );
            super::builds::save(state, b, Some(BuildStatus::InProgress)).await?;
            tracing::warn!(build = %b.id, host = instance, "build lost: its host no longer runs it");
        }
    }
    if request.free == 0 || state.driver.is_shutting_down() {
        return Ok(None);
    }
    let Some(mut next) = build::next_to_run(&unfinished).cloned() else { return Ok(None) };
    build::assign(&mut next, instance, now);
    let assignment = match assignment(state, &next).await {
        Ok(a) => a,
        Err(why) => {
            // The build cannot start anywhere (a secret is missing): it fails
            // here, saying why, rather than waiting in the queue.
            build::take_phases(
                &mut next,
                vec![build::BuildPhase {
                    name: "PROVISIONING".into(),
                    status: None,
                    start_time: now,
                    end_time: None,
                    message: Some(why.to_string()),
                }],
            );
            build::complete(&mut next, BuildStatus::Failed, now);
            super::builds::save(state, &next, Some(BuildStatus::Queued)).await?;
            tracing::warn!(build = %next.id, error = %why, "build failed before it started");
            return Ok(None);
        }
    };
    next.environment = Some(match (&assignment.image, request.containers) {
        (Some(image), true) => format!("container of {image}"),
        (Some(image), false) => {
            format!("workspace on the host ({instance} has no container engine; image {image} unused)")
        }
        (None, _) => "workspace on the host".into(),
    });
    super::builds::save(state, &next, Some(BuildStatus::Queued)).await?;
    tracing::info!(build = %next.id, host = instance, "build taken by its build host");
    Ok(Some(assignment))
}

/// What the host needs to run `b`, secrets resolved.
async fn assignment(state: &AppState, b: &Build) -> Result<wire::Assignment, OpError> {
    let settings = &b.settings;
    let source = match (&settings.source, &b.source_bundle) {
        (_, Some(bundle)) => wire::AssignedSource::Bundle {
            sha256: bundle.sha256.clone(),
            size: bundle.size,
            bundle_type: bundle.bundle_type.clone(),
        },
        (BuildSource::NoSource, None) => wire::AssignedSource::None,
        (BuildSource::Git { url, version }, None) => {
            wire::AssignedSource::Git { url: url.clone(), version: b.source_version.clone().or(version.clone()) }
        }
        (BuildSource::S3 { bucket, key }, None) => {
            return Err(OpError::Invalid(format!(
                "the source s3://{bucket}/{key} was not fetched when the build was started"
            )));
        }
        (BuildSource::Upload, None) => {
            return Err(OpError::Invalid("the project builds uploaded sources, and this build has none".into()));
        }
    };
    let buildspec = match settings.buildspec.as_deref() {
        None => wire::BuildspecLocation::Path("buildspec.yml".into()),
        Some(text) if build::is_inline_buildspec(text) => wire::BuildspecLocation::Inline(text.to_string()),
        Some(path) => wire::BuildspecLocation::Path(path.to_string()),
    };
    let mut variables = Vec::new();
    let mut secrets = Vec::new();
    for v in &settings.variables {
        match v.kind {
            VariableKind::Plaintext => variables.push((v.name.clone(), v.value.clone())),
            VariableKind::Secret => {
                let value = resolve_secret(state, &v.value)
                    .await
                    .map_err(|e| OpError::Invalid(format!("variable {} names the secret {}: {e}", v.name, v.value)))?;
                secrets.push(value.clone());
                variables.push((v.name.clone(), value));
            }
        }
    }
    let arns =
        ferry_aws::arn::Arns { region: state.config.aws_region.clone(), account: state.config.aws_account_id.clone() };
    Ok(wire::Assignment {
        build_id: b.id.clone(),
        build_number: b.number,
        project: b.project.clone(),
        source,
        source_version: b.source_version.clone(),
        buildspec,
        image: settings.image.clone(),
        variables,
        secrets,
        timeout_minutes: settings.timeout_minutes,
        initiator: b.initiator.name(),
        start_time: b.start_time.unwrap_or_default(),
        build_arn: Some(arns.build(&b.id)),
        project_arn: Some(arns.project(&b.project)),
        build_url: None,
        cache: settings.cache,
        webhook: b.webhook.as_ref().map(|w| wire::WebhookContext {
            event: w.event.name().to_string(),
            head_ref: w.head_ref.clone(),
            base_ref: w.base_ref.clone().unwrap_or_default(),
            actor_account_id: w.actor_account_id.clone().unwrap_or_default(),
            trigger: w.trigger.clone(),
            prev_commit: w.prev_commit.clone().unwrap_or_default(),
            merge_commit: w.merge_commit.clone().unwrap_or_default(),
        }),
        secondary_sources: b
            .secondary_sources
            .iter()
            .map(|(identifier, bundle)| wire::SecondarySource {
                identifier: identifier.clone(),
                sha256: bundle.sha256.clone(),
                size: bundle.size,
                bundle_type: bundle.bundle_type.clone(),
            })
            .collect(),
    })
}

/// A ferry secret's value (`ferry secret put`).
async fn resolve_secret(state: &AppState, name: &str) -> Result<String, OpError> {
    super::secrets::resolve(state, name).await
}

/// The values of the secrets a running build's buildspec names.
pub async fn secrets(
    state: &AppState,
    instance: &str,
    id: &str,
    names: &[String],
) -> Result<Vec<(String, String)>, OpError> {
    running_on(state, instance, id).await?;
    let mut values = Vec::new();
    for name in names {
        values.push((name.clone(), resolve_secret(state, name).await?));
    }
    Ok(values)
}

/// The source bundle of a build running on `instance`.
pub async fn source(state: &AppState, instance: &str, id: &str) -> Result<build::SourceBundle, OpError> {
    let b = running_on(state, instance, id).await?;
    b.source_bundle.ok_or_else(|| OpError::Invalid(format!("build {id} has no source bundle")))
}

/// A secondary source of a build running on `instance`.
pub async fn secondary_source(
    state: &AppState,
    instance: &str,
    id: &str,
    identifier: &str,
) -> Result<build::SourceBundle, OpError> {
    let b = running_on(state, instance, id).await?;
    b.secondary_sources
        .into_iter()
        .find(|(i, _)| i == identifier)
        .map(|(_, bundle)| bundle)
        .ok_or_else(|| OpError::Invalid(format!("build {id} has no secondary source {identifier:?}")))
}

/// Log lines and phases from the build's host; answers whether to stop.
pub async fn progress(state: &AppState, instance: &str, id: &str, p: wire::Progress) -> Result<bool, OpError> {
    store_log(state, id, p.first_seq, &p.lines).await?;
    let _held = state.driver.exclusive().await;
    let mut b = running_on(state, instance, id).await?;
    if !p.phases.is_empty() {
        build::take_phases(&mut b, p.phases);
    }
    if p.environment.is_some() {
        b.environment = p.environment;
    }
    if p.resolved_source_version.is_some() {
        b.resolved_source_version = p.resolved_source_version;
    }
    b.last_heard = Some(state.driver.now());
    state.store.update_build(&b).await?;
    Ok(b.stop_requested)
}

async fn store_log(state: &AppState, id: &str, first_seq: u64, lines: &[String]) -> Result<(), OpError> {
    if lines.is_empty() || first_seq > MAX_LOG_LINES {
        return Ok(());
    }
    let room = (MAX_LOG_LINES - first_seq) as usize;
    if lines.len() <= room {
        return Ok(state.store.append_build_log(id, first_seq, lines).await?);
    }
    let mut kept = lines[..room].to_vec();
    kept.push(format!("[ferry] the log is cut here: a build keeps at most {MAX_LOG_LINES} lines"));
    Ok(state.store.append_build_log(id, first_seq, &kept).await?)
}

/// Stores an artifact zip of a build running on `instance`.
pub async fn store_artifact(
    state: &AppState,
    instance: &str,
    id: &str,
    name: &str,
    sha256: &str,
    body: impl tokio::io::AsyncRead + Unpin,
) -> Result<ferry_blob::BlobInfo, OpError> {
    running_on(state, instance, id).await?;
    if name.is_empty() || name.len() > 128 || name.contains(['/', '\\']) {
        return Err(OpError::Invalid(format!("artifact name {name:?}: 1 to 128 characters, no slashes")));
    }
    let limit = state.config.max_bundle_bytes;
    let info = state.blobs.put(body, Some(sha256), limit).await.map_err(|e| match e {
        ferry_blob::BlobError::TooLarge(n) => OpError::Invalid(format!("artifact {name} is larger than {n} bytes")),
        ferry_blob::BlobError::DigestMismatch { expected, actual } => {
            OpError::Invalid(format!("artifact {name}: sha256 {actual} arrived, {expected} was declared"))
        }
        e => OpError::Internal(format!("cannot store artifact {name}: {e}")),
    })?;
    tracing::info!(build = %id, artifact = name, size = info.size, "artifact stored");
    Ok(info)
}

/// The settings key of a project's cache.
fn cache_setting(project: &str) -> String {
    format!("build_cache/{project}")
}

/// The cache of the project of a build running on `instance`, if it has one.
pub async fn cache(state: &AppState, instance: &str, id: &str) -> Result<Option<build::SourceBundle>, OpError> {
    let b = running_on(state, instance, id).await?;
    let Some(text) = state.store.get_setting(&cache_setting(&b.project)).await? else { return Ok(None) };
    let bundle: build::SourceBundle =
        serde_json::from_str(&text).map_err(|e| OpError::Internal(format!("a stored cache pointer: {e}")))?;
    Ok(state.blobs.exists(&bundle.blob_key).await.then_some(bundle))
}

/// Stores a new cache for the project of a build running on `instance`
/// (the last build to save wins).
pub async fn save_cache(
    state: &AppState,
    instance: &str,
    id: &str,
    sha256: &str,
    body: impl tokio::io::AsyncRead + Unpin,
) -> Result<(), OpError> {
    let b = running_on(state, instance, id).await?;
    if !b.settings.cache {
        return Err(OpError::Invalid(format!("project {} keeps no cache", b.project)));
    }
    let info = state.blobs.put(body, Some(sha256), state.config.max_bundle_bytes).await.map_err(|e| match e {
        ferry_blob::BlobError::TooLarge(n) => OpError::Invalid(format!("the cache is larger than {n} bytes")),
        e => OpError::Invalid(format!("cannot store the cache: {e}")),
    })?;
    let pointer =
        build::SourceBundle { blob_key: info.key, sha256: info.sha256, size: info.size, bundle_type: "zip".into() };
    let text = serde_json::to_string(&pointer).map_err(|e| OpError::Internal(e.to_string()))?;
    state.store.put_setting(&cache_setting(&b.project), &text).await?;
    tracing::info!(project = %b.project, size = pointer.size, "build cache saved");
    Ok(())
}

/// The end of a build, as its host reports it. A build already ended (a
/// report sent again after a lost answer) is left as it is.
pub async fn finish(state: &AppState, instance: &str, id: &str, f: wire::Finish) -> Result<(), OpError> {
    let _held = state.driver.exclusive().await;
    let mut b = super::builds::get(state, id).await?;
    if b.host.as_deref() != Some(instance) {
        return Err(not_here(id, instance));
    }
    if b.status.is_terminal() {
        return Ok(());
    }
    let status = BuildStatus::from_final_name(&f.status)
        .ok_or_else(|| OpError::Invalid(format!("{:?} is not a final build status", f.status)))?;
    let mut artifacts = Vec::new();
    for a in &f.artifacts {
        let key = format!("sha256/{}", a.sha256);
        if !state.blobs.exists(&key).await {
            return Err(OpError::Invalid(format!("artifact {} (sha256 {}) was not uploaded", a.name, a.sha256)));
        }
        artifacts.push(BuildArtifact {
            identifier: (a.name != "primary").then(|| a.name.clone()),
            blob_key: key,
            sha256: a.sha256.clone(),
            size: a.size,
        });
    }
    let logged = state.store.build_log_end(id).await?;
    let expected = f.log_end.min(MAX_LOG_LINES);
    if logged < expected {
        tracing::warn!(build = %id, logged, expected, "a build ended with log lines missing");
    }
    state.store.put_build_reports(id, &f.reports).await?;
    let now = state.driver.now();
    build::take_phases(&mut b, f.phases);
    b.artifacts = artifacts;
    b.exported_variables = f.exported_variables;
    if f.environment.is_some() {
        b.environment = f.environment;
    }
    if f.resolved_source_version.is_some() {
        b.resolved_source_version = f.resolved_source_version;
    }
    build::complete(&mut b, status, now);
    super::builds::save(state, &b, Some(BuildStatus::InProgress)).await?;
    state.driver.build_queue.notify_waiters();
    tracing::info!(build = %id, status = status.aws_name(), "build finished");
    Ok(())
}

/// Ends running builds whose host went silent since `since` (the server's
/// start: a server that was down heard nothing, and its hosts' builds kept
/// running), and queued builds past their queued timeout. Returns the
/// builds it ended.
pub async fn check_liveness(state: &AppState, since: u64) -> Result<Vec<String>, OpError> {
    let mut ended = super::builds::expire_queued(state).await?;
    let _held = state.driver.exclusive().await;
    let now = state.driver.now();
    let lost_after = state.config.agent_lost_after.as_millis() as u64;
    for mut b in state.store.unfinished_builds().await? {
        let heard = b.last_heard.or(b.start_time).unwrap_or(now).max(since);
        let silent = now.saturating_sub(heard);
        if b.status == BuildStatus::InProgress && silent > lost_after {
            let host = b.host.clone().unwrap_or_default();
            build::fault(
                &mut b,
                &format!("The build host {host} has not been heard from for {} s.", silent / 1000),
                now,
            );
            super::builds::save(state, &b, Some(BuildStatus::InProgress)).await?;
            tracing::warn!(build = %b.id, host, "build lost: its host went silent");
            ended.push(b.id);
        }
    }
    if !ended.is_empty() {
        state.driver.build_queue.notify_waiters();
    }
    Ok(ended)
}

/// Runs [`check_liveness`] every second until `stop`.
pub async fn watch_forever(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let since = state.driver.now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = check_liveness(&state, since).await {
            tracing::warn!(error = %e, "cannot check running builds");
        }
    }
}
