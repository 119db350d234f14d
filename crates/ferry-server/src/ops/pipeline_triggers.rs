//! What starts pipelines besides StartPipelineExecution (issue #14): git
//! webhooks (GitHub, GitLab and Gitea payloads, verified with the
//! pipeline's shared secret) and polling a source action's branch.
//!
//! Which events start an execution:
//! - a pipeline with V2 `triggers`: each trigger whose filters take the
//!   event (`ferry_pipeline::trigger::matches`) pins its source action to
//!   the event's commit;
//! - a pipeline without triggers: a push to the branch of a git source
//!   action (CodePipeline's default, `DetectChanges`) pins that action;
//!   `DetectChanges: "false"` turns it off.
//!
//! Polling (`PollForSourceChanges: "true"`, CodePipeline's V1 way) asks the
//! branch's head every [`POLL_EVERY`] and starts an execution when it is
//! not the commit the newest execution fetched.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ferry_core::build::WebhookEventType;
use ferry_pipeline::execution::Trigger;
use ferry_pipeline::trigger::{GitEvent, GitRef};
use ferry_pipeline::{Category, PipelineDeclaration, PullRequestEvent};
use ferry_webhook::{Forge, Parsed, SignatureError, WebhookEvent};

use super::webhooks::Refused;
use super::{OpError, pipeline_runs, pipelines, secrets};
use crate::AppState;

/// How often a polled source action's branch is asked for its head.
pub const POLL_EVERY: Duration = Duration::from_secs(30);

/// The ferry secret holding a pipeline's webhook secret.
pub fn secret_name(pipeline: &str) -> String {
    format!("webhook/pipeline/{pipeline}")
}

/// Turns a pipeline's webhook on with a new shared secret (replacing the
/// old one); returns it, to configure in the forge (shown once).
pub async fn create_webhook(state: &AppState, pipeline: &str) -> Result<String, OpError> {
    pipelines::get(state, pipeline, None).await?;
    let value = crate::random::string(40, b"0123456789abcdef");
    let name = secret_name(pipeline);
    secrets::put(state, &name, &value, &format!("the shared secret of pipeline {pipeline}'s webhook")).await?;
    tracing::info!(%pipeline, "pipeline webhook turned on");
    Ok(value)
}

/// Turns a pipeline's webhook off.
pub async fn delete_webhook(state: &AppState, pipeline: &str) -> Result<(), OpError> {
    if !secrets::delete(state, &secret_name(pipeline)).await? {
        return Err(OpError::Invalid(format!("pipeline {pipeline} has no webhook")));
    }
    tracing::info!(%pipeline, "pipeline webhook turned off");
    Ok(())
}

/// What a delivery came to.
#[derive(Debug)]
pub enum Received {
    /// An execution started.
    Started(String),
    /// A well-formed event that starts nothing here.
    NoMatch(String),
}

/// Handles one delivery to `pipeline`'s webhook.
pub async fn receive<'a>(
    state: &AppState,
    pipeline: &str,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
) -> Result<Received, Refused> {
    let (forge, event_name) = Forge::detect(&header).ok_or(Refused::UnknownForge)?;
    let secret = match secrets::resolve(state, &secret_name(pipeline)).await {
        Ok(secret) => secret,
        Err(OpError::Invalid(why)) => {
            // Checked anyway, so that the answer takes as long as a wrong signature's.
            let _ = ferry_webhook::verify(forge, &header, body, &crate::random::string(40, b"0123456789abcdef"));
            return Err(Refused::Unauthorized(format!("pipeline {pipeline} has no webhook: {why}")));
        }
        Err(e) => return Err(Refused::Op(e)),
    };
    ferry_webhook::verify(forge, &header, body, &secret)
        .map_err(|e: SignatureError| Refused::Unauthorized(format!("a {} delivery with {e}", forge.name())))?;
    let event = match ferry_webhook::parse(forge, event_name, body).map_err(|e| Refused::BadPayload(e.0))? {
        Parsed::Event(event) => event,
        Parsed::Ignored(why) => return Ok(Received::NoMatch(why)),
    };
    let declaration = pipelines::get(state, pipeline, None).await.map_err(Refused::Op)?.declaration;
    let revisions = starts(&declaration, &event);
    if revisions.is_empty() {
        return Ok(Received::NoMatch(format!("no trigger or source action of pipeline {pipeline} takes this event")));
    }
    // V2 triggers are CodePipeline's WebhookV2; the default detection its Webhook.
    let kind = if declaration.triggers.is_empty() { "Webhook" } else { "WebhookV2" };
    let trigger = Trigger { trigger_type: kind.into(), trigger_detail: format!("{} {}", event.head_ref, event.commit) };
    let id = pipeline_runs::start(state, pipeline, BTreeMap::new(), revisions, trigger).await.map_err(Refused::Op)?;
    tracing::info!(%pipeline, execution = %id, commit = %event.commit, "pipeline started by a webhook");
    Ok(Received::Started(id))
}

/// The event as CodePipeline's trigger filters see it.
fn git_event(event: &WebhookEvent) -> Option<GitEvent> {
    let changed_files = event.changed_files.clone();
    let branch = |r: &str| r.strip_prefix("refs/heads/").unwrap_or(r).to_string();
    Some(match event.event {
        WebhookEventType::Push => {
            let reference = match event.head_ref.strip_prefix("refs/tags/") {
                Some(tag) => GitRef::Tag(tag.to_string()),
                None => GitRef::Branch(branch(&event.head_ref)),
            };
            GitEvent::Push { reference, changed_files }
        }
        kind => GitEvent::PullRequest {
            event: match kind {
                WebhookEventType::PullRequestCreated | WebhookEventType::PullRequestReopened => PullRequestEvent::Open,
                WebhookEventType::PullRequestUpdated => PullRequestEvent::Updated,
                _ => PullRequestEvent::Closed,
            },
            source_branch: branch(&event.head_ref),
            destination_branch: branch(event.base_ref.as_deref()?),
            changed_files,
        },
    })
}

/// Source action name → the event's commit, for each source action the
/// event starts the pipeline for (none: it starts nothing).
pub fn starts(declaration: &PipelineDeclaration, event: &WebhookEvent) -> BTreeMap<String, String> {
    let Some(git) = git_event(event) else { return BTreeMap::new() };
    if !declaration.triggers.is_empty() {
        return declaration
            .triggers
            .iter()
            .filter(|t| ferry_pipeline::trigger::matches(&t.git_configuration, &git))
            .map(|t| (t.git_configuration.source_action_name.clone(), event.commit.clone()))
            .collect();
    }
    let GitEvent::Push { reference: GitRef::Branch(pushed), .. } = &git else { return BTreeMap::new() };
    git_sources(declaration)
        .filter(|(action, _)| action.configuration.get("DetectChanges").map(String::as_str) != Some("false"))
        .filter(|(_, source)| &source.branch == pushed)
        .map(|(action, _)| (action.name.clone(), event.commit.clone()))
        .collect()
}

fn git_sources(
    declaration: &PipelineDeclaration,
) -> impl Iterator<Item = (&ferry_pipeline::ActionDeclaration, ferry_pipeline::check::GitSource)> {
    declaration
        .stages
        .iter()
        .flat_map(|s| &s.actions)
        .filter(|a| a.action_type_id.category == Category::Source)
        .filter_map(|a| Some((a, ferry_pipeline::check::git_source(a)?)))
}

/// A revision was pushed to `application` (`ferry push`): pipelines whose
/// source is `FerryServer`/`application` start with it (as CodePipeline's
/// S3 sources do on EventBridge's object events). Returns the executions.
pub async fn pushed(state: &AppState, application: &str, revision: &str) -> Result<Vec<String>, OpError> {
    let mut started = Vec::new();
    for p in pipelines::list(state).await? {
        let declaration = p.declaration;
        let revisions: BTreeMap<String, String> = declaration
            .stages
            .iter()
            .flat_map(|s| &s.actions)
            .filter(|a| a.action_type_id.category == Category::Source && a.action_type_id.provider == "S3")
            .filter(|a| {
                a.configuration.get("S3Bucket").map(String::as_str) == Some(ferry_aws::convert::FERRY_BUCKET)
                    && a.configuration.get("S3ObjectKey").map(String::as_str) == Some(application)
            })
            .map(|a| (a.name.clone(), revision.to_string()))
            .collect();
        if revisions.is_empty() {
            continue;
        }
        let trigger = Trigger {
            trigger_type: "PutActionRevision".into(),
            trigger_detail: format!("ferry push {application} {revision}"),
        };
        let id = pipeline_runs::start(state, &declaration.name, BTreeMap::new(), revisions, trigger).await?;
        tracing::info!(pipeline = %declaration.name, execution = %id, %revision, "pipeline started by a push");
        started.push(id);
    }
    Ok(started)
}

/// Polls the branches of every pipeline's `PollForSourceChanges` source
/// actions that are due; returns the executions it started.
pub async fn poll_once(state: &AppState, last_poll: &mut HashMap<String, Instant>) -> Result<Vec<String>, OpError> {
    let mut started = Vec::new();
    for p in pipelines::list(state).await? {
        let declaration = p.declaration;
        let polled: Vec<_> = git_sources(&declaration)
            .filter(|(a, _)| a.configuration.get("PollForSourceChanges").map(String::as_str) == Some("true"))
            .map(|(a, s)| (a.name.clone(), s))
            .collect();
        if polled.is_empty() {
            continue;
        }
        let due = last_poll.get(&declaration.name).is_none_or(|t| t.elapsed() >= POLL_EVERY);
        if !due {
            continue;
        }
        last_poll.insert(declaration.name.clone(), Instant::now());
        let newest = pipeline_runs::list(state, &declaration.name, None, 1).await?;
        let mut revisions = BTreeMap::new();
        for (action, source) in polled {
            let head = match state.fetcher.git.head(&source.repository, &source.branch).await {
                Ok(head) => head,
                Err(e) => {
                    tracing::warn!(pipeline = %declaration.name, %action, error = %e, "cannot poll the source branch");
                    continue;
                }
            };
            let fetched = newest.first().and_then(|e| {
                e.stages.first()?.actions.iter().find(|a| a.name == action).and_then(|a| a.revision.clone())
            });
            if fetched.as_deref() != Some(head.as_str()) {
                revisions.insert(action, head);
            }
        }
        if !revisions.is_empty() {
            let detail = revisions.iter().map(|(a, c)| format!("{a} {c}")).collect::<Vec<_>>().join(", ");
            let trigger = Trigger { trigger_type: "PollForSourceChanges".into(), trigger_detail: detail };
            let id = pipeline_runs::start(state, &declaration.name, BTreeMap::new(), revisions, trigger).await?;
            tracing::info!(pipeline = %declaration.name, execution = %id, "pipeline started by polling its source");
            started.push(id);
        }
    }
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declaration(triggers: &str) -> PipelineDeclaration {
        let text = format!(
            r#"
name: shop
pipelineType: V2
stages:
  - name: Source
    actions:
      - name: Checkout
        actionTypeId: {{category: Source, owner: AWS, provider: CodeStarSourceConnection, version: "1"}}
        configuration: {{FullRepositoryId: "https://git.example/shop.git", BranchName: main}}
        outputArtifacts: [{{name: src}}]
  - name: Approve
    actions:
      - name: Release
        actionTypeId: {{category: Approval, owner: AWS, provider: Manual, version: "1"}}
{triggers}"#
        );
        ferry_pipeline::parse("pipeline.yml", &text).unwrap()
    }

    fn push(reference: &str, files: &[&str]) -> WebhookEvent {
        WebhookEvent {
            forge: Forge::GitHub,
            event: WebhookEventType::Push,
            head_ref: reference.into(),
            base_ref: None,
            commit: "c0ffee".into(),
            prev_commit: None,
            merge_commit: None,
            actor_account_id: None,
            commit_message: None,
            changed_files: Some(files.iter().map(|f| f.to_string()).collect()),
            repository_url: None,
            pr_number: None,
        }
    }

    fn started(d: &PipelineDeclaration, e: &WebhookEvent) -> Vec<(String, String)> {
        starts(d, e).into_iter().collect()
    }

    #[test]
    fn without_triggers_a_push_to_the_source_branch_starts_the_pipeline() {
        let d = declaration("");
        assert_eq!(started(&d, &push("refs/heads/main", &[])), [("Checkout".to_string(), "c0ffee".to_string())]);
        assert!(started(&d, &push("refs/heads/feature", &[])).is_empty());
        assert!(started(&d, &push("refs/tags/main", &[])).is_empty(), "a tag is not the branch");
    }

    #[test]
    fn v2_triggers_filter_branches_tags_and_file_paths() {
        let d = declaration(
            r#"triggers:
  - providerType: CodeStarSourceConnection
    gitConfiguration:
      sourceActionName: Checkout
      push:
        - branches: {includes: ["release/**"], excludes: ["release/old*"]}
          filePaths: {includes: ["src/**"]}
        - tags: {includes: ["v*"]}
"#,
        );
        assert_eq!(started(&d, &push("refs/heads/release/2.0", &["src/app.rs"])).len(), 1);
        assert!(started(&d, &push("refs/heads/release/2.0", &["docs/readme.md"])).is_empty(), "no file matches");
        assert!(started(&d, &push("refs/heads/release/old-1", &["src/app.rs"])).is_empty(), "excludes win");
        assert!(started(&d, &push("refs/heads/main", &["src/app.rs"])).is_empty(), "triggers replace the default");
        assert_eq!(started(&d, &push("refs/tags/v1.2", &[])).len(), 1);
    }
}
