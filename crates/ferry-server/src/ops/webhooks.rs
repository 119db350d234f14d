//! Build projects' git webhooks (issue #13, triggers from git): turning a
//! project's webhook on and off, and receiving the forge's deliveries.
//! The pure parts (payloads, signatures, filter groups, commit status
//! requests) are `ferry_webhook`'s; the HTTP endpoint is `crate::webhooks`.

use ferry_core::build::{Build, Initiator, ProjectWebhook, WebhookFilter};
use ferry_webhook::{Forge, Parsed, SignatureError};

use super::builds::{self, StartBuild};
use super::{OpError, secrets};
use crate::AppState;

/// What turning a webhook on asks for.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    /// A ferry secret holding the shared secret; `None`: one is generated.
    pub secret_name: Option<String>,
    pub filter_groups: Vec<Vec<WebhookFilter>>,
    /// A ferry secret holding the forge's API token for commit statuses.
    pub status_token_secret: Option<String>,
}

/// The ferry secret a generated webhook secret is kept in.
pub fn generated_secret_name(project: &str) -> String {
    format!("webhook/{project}")
}

/// Turns on (or replaces) a project's webhook. Returns it, and the shared
/// secret when it was generated (shown once, to configure in the forge).
pub async fn create(
    state: &AppState,
    project: &str,
    request: NewWebhook,
) -> Result<(ProjectWebhook, Option<String>), OpError> {
    builds::get_project(state, project).await?;
    ferry_webhook::check_filter_groups(&request.filter_groups).map_err(OpError::Invalid)?;
    for name in request.secret_name.iter().chain(&request.status_token_secret) {
        secrets::resolve(state, name).await?;
    }
    let (secret_name, generated) = match request.secret_name {
        Some(name) => (name, None),
        None => {
            let name = generated_secret_name(project);
            let value = crate::random::string(40, b"0123456789abcdef");
            secrets::put(state, &name, &value, &format!("the shared secret of build project {project}'s webhook"))
                .await?;
            (name, Some(value))
        }
    };
    let webhook = ProjectWebhook {
        secret_name,
        filter_groups: request.filter_groups,
        build_type: "BUILD".into(),
        status_token_secret: request.status_token_secret,
    };
    let hook = webhook.clone();
    builds::update_project(state, project, move |p| {
        p.webhook = Some(hook);
        Ok::<(), OpError>(())
    })
    .await?;
    tracing::info!(project = %project, groups = webhook.filter_groups.len(), "build webhook turned on");
    Ok((webhook, generated))
}

/// Turns a project's webhook off (a generated secret goes with it).
pub async fn delete(state: &AppState, project: &str) -> Result<(), OpError> {
    let mut removed = None;
    builds::update_project(state, project, |p| {
        removed = p.webhook.take();
        Ok::<(), OpError>(())
    })
    .await?;
    let Some(webhook) = removed else {
        return Err(OpError::Invalid(format!("build project {project} has no webhook")));
    };
    if webhook.secret_name == generated_secret_name(project) {
        secrets::delete(state, &webhook.secret_name).await?;
    }
    tracing::info!(project = %project, "build webhook turned off");
    Ok(())
}

/// What a delivery came to.
#[derive(Debug)]
pub enum Received {
    /// A build was queued.
    Started(Box<Build>),
    /// A well-formed event no filter group matched.
    NoMatch,
    /// A delivery that starts nothing by its nature (a ping, a deleted branch…).
    Ignored(String),
}

/// Why a delivery was refused.
#[derive(Debug)]
pub enum Refused {
    /// Not a GitHub, GitLab or Gitea webhook.
    UnknownForge,
    /// The signature or token does not match this project's webhook secret
    /// (or there is no such project or webhook: told apart only in the log).
    Unauthorized(String),
    /// The payload could not be read.
    BadPayload(String),
    Op(OpError),
}

/// Handles one delivery to `project`'s webhook: checks the signature
/// against the project's secret, reads the event, applies the filter
/// groups and queues a build of the event's commit (or `pr/N`).
/// `server_url` is the server's address as the forge reached it (commit
/// statuses link to the build there).
pub async fn receive<'a>(
    state: &AppState,
    project: &str,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    server_url: Option<String>,
) -> Result<Received, Refused> {
    let (forge, event_name) = Forge::detect(&header).ok_or(Refused::UnknownForge)?;
    // Without a project or webhook the signature is still checked (against
    // a throwaway secret), so the answer takes as long as a wrong signature's.
    let unknown = |why: String| {
        let _ = ferry_webhook::verify(forge, &header, body, &crate::random::string(40, b"0123456789abcdef"));
        Refused::Unauthorized(why)
    };
    let webhook = match builds::get_project(state, project).await {
        Ok(p) => p.webhook.ok_or_else(|| unknown(format!("build project {project} has no webhook")))?,
        Err(OpError::ProjectNotFound(_)) => return Err(unknown(format!("build project {project} does not exist"))),
        Err(e) => return Err(Refused::Op(e)),
    };
    let secret = secrets::resolve(state, &webhook.secret_name).await.map_err(|e| match e {
        OpError::Invalid(m) => Refused::Unauthorized(m),
        e => Refused::Op(e),
    })?;
    ferry_webhook::verify(forge, &header, body, &secret)
        .map_err(|e: SignatureError| Refused::Unauthorized(format!("a {} delivery with {e}", forge.name())))?;
    let event = match ferry_webhook::parse(forge, event_name, body).map_err(|e| Refused::BadPayload(e.0))? {
        Parsed::Event(event) => event,
        Parsed::Ignored(why) => return Ok(Received::Ignored(why)),
    };
    if ferry_webhook::matching_group(&webhook.filter_groups, &event).is_none() {
        tracing::info!(project = %project, event = event.event.name(), head = %crate::audit::bounded(&event.head_ref),
            "webhook event matched no filter group");
        return Ok(Received::NoMatch);
    }
    let context = ferry_core::build::BuildWebhook { server_url, ..event.build_webhook() };
    let request = StartBuild {
        source_version: Some(event.source_version()),
        webhook: Some(context),
        ..StartBuild::by(Initiator::Webhook)
    };
    let build = builds::start(state, project, request, |_| {}).await.map_err(Refused::Op)?;
    tracing::info!(build = %build.id, event = event.event.name(), "build started by a webhook");
    Ok(Received::Started(Box::new(build)))
}
