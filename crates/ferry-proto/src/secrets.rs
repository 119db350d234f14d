//! Native API shapes of ferry secrets (`/api/v1/secrets`) and build
//! projects' git webhooks (`/api/v1/build-projects/{name}/webhook`).
//!
//! A secret's value goes to the server (in [`PutSecret`]) and never comes
//! back: every answer carries names and times only.

use serde::{Deserialize, Serialize};

/// `PUT /api/v1/secrets/{name}` (the name percent-encoded, `/` as `%2F`):
/// creates or replaces the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutSecret {
    pub value: String,
    #[serde(default)]
    pub description: String,
}

impl std::fmt::Debug for PutSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutSecret").field("value", &"(hidden)").field("description", &self.description).finish()
    }
}

/// A secret as the API shows it: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretView {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Milliseconds since the epoch.
    pub create_time: u64,
    pub update_time: u64,
}

/// One filter of a webhook filter group (CodeBuild's `WebhookFilter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFilter {
    /// EVENT, HEAD_REF, BASE_REF, FILE_PATH, COMMIT_MESSAGE or ACTOR_ACCOUNT_ID.
    #[serde(rename = "type")]
    pub filter_type: String,
    pub pattern: String,
    #[serde(default)]
    pub exclude_matched_pattern: bool,
}

/// `PUT /api/v1/build-projects/{name}/webhook`: turns the project's git
/// webhook on (or replaces its settings).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutWebhook {
    /// A ferry secret holding the secret shared with the forge; `None`: the
    /// server generates one, stores it as the secret `webhook/<project>`
    /// and returns it once.
    #[serde(default)]
    pub secret_name: Option<String>,
    /// Any group matches (all of its filters must); none: every push and
    /// pull request starts a build.
    #[serde(default)]
    pub filter_groups: Vec<Vec<WebhookFilter>>,
    /// A ferry secret holding an API token of the forge: with it, the
    /// build's commit status is posted back.
    #[serde(default)]
    pub status_token_secret: Option<String>,
}

impl std::fmt::Debug for PutWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutWebhook")
            .field("secret_name", &self.secret_name)
            .field("filter_groups", &self.filter_groups)
            .field("status_token_secret", &self.status_token_secret)
            .finish()
    }
}

/// A project's webhook as the API shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookView {
    pub project: String,
    /// The path the forge posts to (`/webhooks/build/<project>`), to be put
    /// after the server's public address.
    pub path: String,
    pub secret_name: String,
    pub filter_groups: Vec<Vec<WebhookFilter>>,
    #[serde(default)]
    pub status_token_secret: Option<String>,
    /// The generated shared secret: only in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_secret: Option<String>,
}

impl std::fmt::Debug for WebhookView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookView")
            .field("project", &self.project)
            .field("path", &self.path)
            .field("secret_name", &self.secret_name)
            .field("filter_groups", &self.filter_groups)
            .field("status_token_secret", &self.status_token_secret)
            .field("generated_secret", &self.generated_secret.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}
