//! `ferry build webhook`: a build project's git webhook (admin only).
//! `create` turns it on and prints what to configure in the forge (the
//! URL and, when ferry generated it, the shared secret, shown once);
//! `delete` turns it off.
//!
//! It hangs under `ferry build` (webhooks belong to build projects, as in
//! CodeBuild's CreateWebhook) by one variant of `build.rs`'s command enum.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_proto::secrets::{PutWebhook, WebhookFilter, WebhookView};

use super::output;
use crate::client::{Client, Error, ServerArgs, encode};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Turn a project's webhook on (or replace its settings): prints the
    /// URL and the secret to configure in GitHub, GitLab or Gitea.
    Create(CreateArgs),
    /// Turn a project's webhook off (a generated secret is deleted with it).
    Delete {
        project: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    project: String,
    /// A filter group (repeatable; a build starts when any group matches):
    /// TYPE=PATTERN pairs separated by ';', one of them EVENT (a
    /// comma-separated list: PUSH, PULL_REQUEST_CREATED,
    /// PULL_REQUEST_UPDATED, PULL_REQUEST_REOPENED, PULL_REQUEST_MERGED,
    /// PULL_REQUEST_CLOSED); the others HEAD_REF, BASE_REF, FILE_PATH,
    /// COMMIT_MESSAGE, ACTOR_ACCOUNT_ID with a regular expression; TYPE!=
    /// excludes. E.g. 'EVENT=PUSH;HEAD_REF=^refs/heads/main$'.
    /// Without any: every push and pull request created, updated or reopened.
    #[arg(long = "filter-group", value_name = "GROUP")]
    filter_groups: Vec<String>,
    /// A ferry secret (`ferry secret put`) holding the secret shared with
    /// the forge [default: one is generated and kept as webhook/PROJECT].
    #[arg(long, value_name = "NAME")]
    secret_name: Option<String>,
    /// A ferry secret holding an API token of the forge: each build's
    /// commit status (pending, success, failure) is posted back with it.
    #[arg(long, value_name = "NAME")]
    status_token_secret: Option<String>,
    /// Print the API's JSON (with a generated secret).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(command: WebhookCommand) -> ExitCode {
    output::finish(match command {
        WebhookCommand::Create(args) => create(args),
        WebhookCommand::Delete { project, server } => {
            Client::connect(&server).and_then(|c| c.delete::<serde_json::Value>(&path(&project))).map(|_| {
                output::say!("webhook of build project {project} deleted");
                ExitCode::SUCCESS
            })
        }
    })
}

fn path(project: &str) -> String {
    format!("/api/v1/build-projects/{}/webhook", encode(project))
}

fn create(args: CreateArgs) -> Result<ExitCode, Error> {
    let mut filter_groups = Vec::new();
    for text in &args.filter_groups {
        let group =
            ferry_webhook::parse_filter_group(text).map_err(|e| Error::Setup(format!("--filter-group: {e}")))?;
        filter_groups.push(
            group
                .into_iter()
                .map(|f| WebhookFilter {
                    filter_type: f.filter_type.name().to_string(),
                    pattern: f.pattern,
                    exclude_matched_pattern: f.exclude_matched_pattern,
                })
                .collect(),
        );
    }
    let client = Client::connect(&args.server)?;
    let request =
        PutWebhook { secret_name: args.secret_name, filter_groups, status_token_secret: args.status_token_secret };
    let view: WebhookView = client.put(&path(&args.project), &request)?;
    if args.json {
        output::print_json(&view)?;
        return Ok(ExitCode::SUCCESS);
    }
    let url = format!("{}{}", args.server.server.trim().trim_end_matches('/'), view.path);
    output::say!("webhook of build project {} is on", view.project);
    output::say!("payload URL: {url}");
    output::say!(
        "content type: application/json; events: push, pull requests (GitLab: push, tag push, merge requests)"
    );
    match &view.generated_secret {
        Some(secret) => {
            output::say!("secret (GitHub and Gitea: Secret; GitLab: Secret token), shown once: {secret}");
            output::say!("(kept as the ferry secret {})", view.secret_name);
        }
        None => output::say!("secret: the value of the ferry secret {}", view.secret_name),
    }
    Ok(ExitCode::SUCCESS)
}
