//! Git forges' webhooks for build projects (issue #13, triggers from git):
//! GitHub, GitLab and Gitea push and pull-request payloads, their
//! signatures, CodeBuild's filter groups, and the forges' commit status
//! requests.
//!
//! - [`Forge::detect`] tells the forge from its event header, [`verify`]
//!   checks the signature or token in constant time, [`parse`] turns the
//!   payload into one [`WebhookEvent`] (or says why it starts nothing).
//! - [`check_filter_groups`] holds filter groups to CodeBuild's rules;
//!   [`matching_group`] applies them: a group matches when every filter in
//!   it matches, the event when any group does. Patterns are regular
//!   expressions found anywhere in the text (anchor them with `^…$`, as
//!   CodeBuild's examples do), matched in linear time (the `regex` crate),
//!   since the text comes from outside.
//! - [`status_request`] is the forge's commit status call for a build.
//!
//! **Architecture Invariant:** pure: no I/O, no clock. Headers come in as a
//! lookup function, bodies as bytes; the server does the HTTP.
//!
//! Filter semantics where CodeBuild's documentation is silent, decided here:
//! a filter on something the event does not carry (BASE_REF of a push, a
//! pull request's FILE_PATH or COMMIT_MESSAGE, which the payloads do not
//! list) does not match, whether or not it excludes; FILE_PATH matches
//! when any changed file matches (so with `excludeMatchedPattern` a build
//! starts only when no changed file matches).

use ferry_core::build::{BuildWebhook, WebhookEventType, WebhookFilter, WebhookFilterType};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The largest payload the server reads (GitHub caps its own at 25 MB;
/// push and pull-request payloads are a few KiB).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// Where a webhook comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    GitLab,
    Gitea,
}

impl Forge {
    /// The forge whose event header the request carries (Gitea's first:
    /// Gitea also sends GitHub's and Gogs' headers for compatibility).
    pub fn detect<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<(Forge, &'a str)> {
        if let Some(event) = header("x-gitea-event") {
            return Some((Forge::Gitea, event));
        }
        if let Some(event) = header("x-gitlab-event") {
            return Some((Forge::GitLab, event));
        }
        header("x-github-event").map(|event| (Forge::GitHub, event))
    }

    pub fn name(self) -> &'static str {
        match self {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
            Forge::Gitea => "gitea",
        }
    }

    pub fn from_name(name: &str) -> Option<Forge> {
        [Forge::GitHub, Forge::GitLab, Forge::Gitea].into_iter().find(|f| f.name() == name)
    }
}

/// Why a webhook's signature or token was refused. The answer to the
/// forge is the same for each (401); the variant is for the server's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Wrong,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => "no signature or token",
            SignatureError::Malformed => "a malformed signature",
            SignatureError::Wrong => "a signature or token that does not match",
        })
    }
}

fn hmac_sha256(key: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok())).collect()
}

/// Checks the request against the secret shared with the forge: GitHub's
/// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, Gitea's
/// `X-Gitea-Signature: <hex HMAC-SHA256>`, GitLab's `X-Gitlab-Token: <secret>`.
/// Every comparison takes the same time whatever matches.
pub fn verify<'a>(
    forge: Forge,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    secret: &str,
) -> Result<(), SignatureError> {
    let expected_mac = |given: &str| -> Result<(), SignatureError> {
        let given = unhex(given.trim()).ok_or(SignatureError::Malformed)?;
        let wanted = hmac_sha256(secret.as_bytes(), body);
        if given.len() == wanted.len() && bool::from(given.ct_eq(&wanted)) {
            Ok(())
        } else {
            Err(SignatureError::Wrong)
        }
    };
    match forge {
        Forge::GitHub => {
            let signature = header("x-hub-signature-256").ok_or(SignatureError::Missing)?;
            expected_mac(signature.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?)
        }
        Forge::Gitea => expected_mac(header("x-gitea-signature").ok_or(SignatureError::Missing)?),
        Forge::GitLab => {
            let token = header("x-gitlab-token").ok_or(SignatureError::Missing)?;
            // Compared as MACs of a fixed message, so that neither the
            // content nor the length of the secret shows in the time taken.
            let given = hmac_sha256(token.as_bytes(), b"ferry gitlab token");
            let wanted = hmac_sha256(secret.as_bytes(), b"ferry gitlab token");
            if bool::from(given.ct_eq(&wanted)) { Ok(()) } else { Err(SignatureError::Wrong) }
        }
    }
}

/// GitHub's signature header value for `body` (for tests and for `ferry`'s docs).
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", ferry_sigv4::hex(&hmac_sha256(secret.as_bytes(), body)))
}

/// Gitea's signature header value for `body`.
pub fn gitea_signature(secret: &str, body: &[u8]) -> String {
    ferry_sigv4::hex(&hmac_sha256(secret.as_bytes(), body))
}

/// A push or pull-request event, whatever the forge, with CodeBuild's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub forge: Forge,
    pub event: WebhookEventType,
    /// `refs/heads/<branch>` or `refs/tags/<tag>`; a pull request's source branch.
    pub head_ref: String,
    /// A pull request's target branch (`refs/heads/main`).
    pub base_ref: Option<String>,
    /// The head commit (what the build builds).
    pub commit: String,
    /// A push's previous head.
    pub prev_commit: Option<String>,
    /// A merged pull request's merge commit.
    pub merge_commit: Option<String>,
    /// The forge's numeric id of who caused the event.
    pub actor_account_id: Option<String>,
    /// The head commit's message, when the payload carries it.
    pub commit_message: Option<String>,
    /// Files the pushed commits added, modified or removed; `None` when
    /// the payload does not list them (pull requests).
    pub changed_files: Option<Vec<String>>,
    pub repository_url: Option<String>,
    pub pr_number: Option<u64>,
}

impl WebhookEvent {
    /// CodeBuild's `CODEBUILD_WEBHOOK_TRIGGER`: `pr/<n>`, `tag/<name>` or `branch/<name>`.
    pub fn trigger(&self) -> String {
        if let Some(n) = self.pr_number {
            return format!("pr/{n}");
        }
        match self.head_ref.strip_prefix("refs/tags/") {
            Some(tag) => format!("tag/{tag}"),
            None => format!("branch/{}", self.head_ref.strip_prefix("refs/heads/").unwrap_or(&self.head_ref)),
        }
    }

    /// The build's source version: the pushed commit, or `pr/<n>`.
    pub fn source_version(&self) -> String {
        match self.pr_number {
            Some(n) => format!("pr/{n}"),
            None => self.commit.clone(),
        }
    }

    /// What the build records of the event.
    pub fn build_webhook(&self) -> BuildWebhook {
        BuildWebhook {
            forge: self.forge.name().into(),
            event: self.event,
            head_ref: self.head_ref.clone(),
            base_ref: self.base_ref.clone(),
            commit: self.commit.clone(),
            actor_account_id: self.actor_account_id.clone(),
            trigger: self.trigger(),
            prev_commit: self.prev_commit.clone(),
            merge_commit: self.merge_commit.clone(),
            pr_number: self.pr_number,
            repository_url: self.repository_url.clone(),
            server_url: None,
        }
    }
}

/// What a payload amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Event(Box<WebhookEvent>),
    /// A well-formed delivery that starts no build (a ping, another kind of
    /// event, a branch deletion, a pull request labelled), with why.
    Ignored(String),
}

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(pub String);

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PayloadError {}

fn text<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_str()
}

fn id(v: &Value, path: &[&str]) -> Option<String> {
    match path.iter().try_fold(v, |v, key| v.get(key))? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn required<'v>(v: &'v Value, path: &[&str]) -> Result<&'v str, PayloadError> {
    text(v, path).ok_or_else(|| PayloadError(format!("the payload has no {}", path.join("."))))
}

/// The files a push's commits touched, in first-seen order, each once.
fn changed_files(commits: Option<&Value>) -> Option<Vec<String>> {
    let commits = commits?.as_array()?;
    let mut files: Vec<String> = Vec::new();
    for commit in commits {
        for kind in ["added", "modified", "removed"] {
            for file in commit.get(kind).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if !files.iter().any(|f| f == file) {
                    files.push(file.to_string());
                }
            }
        }
    }
    Some(files)
}

const ZERO_COMMIT: &str = "0000000000000000000000000000000000000000";

fn branch_ref(name: &str) -> String {
    if name.starts_with("refs/") { name.to_string() } else { format!("refs/heads/{name}") }
}

/// Reads a forge's payload: `event` is the value of its event header.
pub fn parse(forge: Forge, event: &str, body: &[u8]) -> Result<Parsed, PayloadError> {
    if body.len() > MAX_PAYLOAD {
        return Err(PayloadError(format!("the payload is larger than {MAX_PAYLOAD} bytes")));
    }
    let kind = match (forge, event) {
        (Forge::GitHub | Forge::Gitea, "push") | (Forge::GitLab, "Push Hook" | "Tag Push Hook") => Kind::Push,
        (Forge::GitHub | Forge::Gitea, "pull_request") | (Forge::GitLab, "Merge Request Hook") => Kind::PullRequest,
        (_, "ping") => return Ok(Parsed::Ignored("a ping".into())),
        (_, other) => return Ok(Parsed::Ignored(format!("{} event {other:?} starts no build", forge.name()))),
    };
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        PayloadError(format!("the payload is not JSON ({e}): set the webhook's content type to application/json"))
    })?;
    match (forge, kind) {
        (Forge::GitHub | Forge::Gitea, Kind::Push) => github_push(forge, &v),
        (Forge::GitLab, Kind::Push) => gitlab_push(&v),
        (Forge::GitHub | Forge::Gitea, Kind::PullRequest) => github_pull_request(forge, &v),
        (Forge::GitLab, Kind::PullRequest) => gitlab_merge_request(&v),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Push,
    PullRequest,
}

/// GitHub's and Gitea's push payloads (Gitea's follows GitHub's).
fn github_push(forge: Forge, v: &Value) -> Result<Parsed, PayloadError> {
    let head_ref = required(v, &["ref"])?.to_string();
    let after = required(v, &["after"])?.to_string();
    if v.get("deleted").and_then(Value::as_bool) == Some(true) || after == ZERO_COMMIT {
        return Ok(Parsed::Ignored(format!("{head_ref} was deleted")));
    }
    let before = text(v, &["before"]).filter(|b| *b != ZERO_COMMIT).map(str::to_string);
    let message = text(v, &["head_commit", "message"])
        .or_else(|| v.get("commits")?.as_array()?.last().and_then(|c| text(c, &["message"])))
        .map(str::to_string);
    Ok(Parsed::Event(Box::new(WebhookEvent {
        forge,
        event: WebhookEventType::Push,
        head_ref,
        base_ref: None,
        commit: after,
        prev_commit: before,
        merge_commit: None,
        actor_account_id: id(v, &["sender", "id"]).or_else(|| id(v, &["pusher", "id"])),
        commit_message: message,
        changed_files: changed_files(v.get("commits")),
        repository_url: text(v, &["repository", "clone_url"]).map(str::to_string),
        pr_number: None,
    })))
}

fn gitlab_push(v: &Value) -> Result<Parsed, PayloadError> {
    let head_ref = required(v, &["ref"])?.to_string();
    let after = required(v, &["after"])?.to_string();
    if after == ZERO_COMMIT {
        return Ok(Parsed::Ignored(format!("{head_ref} was deleted")));
    }
    let commit = text(v, &["checkout_sha"]).unwrap_or(&after).to_string();
    let message = v
        .get("commits")
        .and_then(Value::as_array)
        .and_then(|commits| commits.iter().find(|c| text(c, &["id"]) == Some(commit.as_str())).or(commits.last()))
        .and_then(|c| text(c, &["message"]))
        .map(str::to_string);
    Ok(Parsed::Event(Box::new(WebhookEvent {
        forge: Forge::GitLab,
        event: WebhookEventType::Push,
        head_ref,
        base_ref: None,
        commit,
        prev_commit: text(v, &["before"]).filter(|b| *b != ZERO_COMMIT).map(str::to_string),
        merge_commit: None,
        actor_account_id: id(v, &["user_id"]),
        commit_message: message,
        changed_files: changed_files(v.get("commits")),
        repository_url: text(v, &["project", "git_http_url"])
            .or_else(|| text(v, &["repository", "git_http_url"]))
            .map(str::to_string),
        pr_number: None,
    })))
}

/// GitHub's and Gitea's pull-request payloads.
fn github_pull_request(forge: Forge, v: &Value) -> Result<Parsed, PayloadError> {
    let action = required(v, &["action"])?;
    let pr = v.get("pull_request").ok_or_else(|| PayloadError("the payload has no pull_request".into()))?;
    let merged = pr.get("merged").and_then(Value::as_bool) == Some(true);
    let event = match action {
        "opened" => WebhookEventType::PullRequestCreated,
        // GitHub says synchronize, Gitea synchronized.
        "synchronize" | "synchronized" => WebhookEventType::PullRequestUpdated,
        "reopened" => WebhookEventType::PullRequestReopened,
        "closed" if merged => WebhookEventType::PullRequestMerged,
        "closed" => WebhookEventType::PullRequestClosed,
        other => return Ok(Parsed::Ignored(format!("pull request action {other:?} starts no build"))),
    };
    let number = v
        .get("number")
        .or_else(|| pr.get("number"))
        .and_then(Value::as_u64)
        .ok_or_else(|| PayloadError("the payload has no pull request number".into()))?;
    Ok(Parsed::Event(Box::new(WebhookEvent {
        forge,
        event,
        head_ref: branch_ref(required(pr, &["head", "ref"])?),
        base_ref: Some(branch_ref(required(pr, &["base", "ref"])?)),
        commit: required(pr, &["head", "sha"])?.to_string(),
        prev_commit: None,
        merge_commit: merged.then(|| text(pr, &["merge_commit_sha"]).map(str::to_string)).flatten(),
        actor_account_id: id(v, &["sender", "id"]),
        commit_message: None,
        changed_files: None,
        repository_url: text(v, &["repository", "clone_url"]).map(str::to_string),
        pr_number: Some(number),
    })))
}

fn gitlab_merge_request(v: &Value) -> Result<Parsed, PayloadError> {
    let mr = v.get("object_attributes").ok_or_else(|| PayloadError("the payload has no object_attributes".into()))?;
    let action = text(mr, &["action"]).unwrap_or("");
    let event = match action {
        "open" => WebhookEventType::PullRequestCreated,
        // A title or label edit is an update too, but only new commits (oldrev) change what is built.
        "update" if mr.get("oldrev").is_some() => WebhookEventType::PullRequestUpdated,
        "reopen" => WebhookEventType::PullRequestReopened,
        "merge" => WebhookEventType::PullRequestMerged,
        "close" => WebhookEventType::PullRequestClosed,
        other => return Ok(Parsed::Ignored(format!("merge request action {other:?} starts no build"))),
    };
    let number = mr.get("iid").and_then(Value::as_u64).ok_or_else(|| PayloadError("the payload has no iid".into()))?;
    Ok(Parsed::Event(Box::new(WebhookEvent {
        forge: Forge::GitLab,
        event,
        head_ref: branch_ref(required(mr, &["source_branch"])?),
        base_ref: Some(branch_ref(required(mr, &["target_branch"])?)),
        commit: required(mr, &["last_commit", "id"])?.to_string(),
        prev_commit: text(mr, &["oldrev"]).map(str::to_string),
        merge_commit: (event == WebhookEventType::PullRequestMerged)
            .then(|| text(mr, &["merge_commit_sha"]).map(str::to_string))
            .flatten(),
        actor_account_id: id(v, &["user", "id"]),
        commit_message: text(mr, &["last_commit", "message"]).map(str::to_string),
        changed_files: None,
        repository_url: text(v, &["project", "git_http_url"]).map(str::to_string),
        pr_number: Some(number),
    })))
}

// ---------------------------------------------------------------------------
// Filter groups

/// The events a project without filter groups builds.
pub const DEFAULT_EVENTS: [WebhookEventType; 4] = [
    WebhookEventType::Push,
    WebhookEventType::PullRequestCreated,
    WebhookEventType::PullRequestUpdated,
    WebhookEventType::PullRequestReopened,
];

/// The longest pattern and the compiled size a pattern may take.
const MAX_PATTERN: usize = 1024;
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn compile(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_PATTERN {
        return Err(format!("a pattern has at most {MAX_PATTERN} characters"));
    }
    regex::RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).build().map_err(|e| e.to_string())
}

fn event_names(pattern: &str) -> Result<Vec<WebhookEventType>, String> {
    pattern
        .split(',')
        .map(str::trim)
        .map(|name| {
            WebhookEventType::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = WebhookEventType::ALL.iter().map(|e| e.name()).collect();
                format!(
                    "EVENT {name:?} is not one of {} (release and workflow events are not supported)",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// CodeBuild's rules for filter groups: each group has filters, exactly
/// one of them of type EVENT naming known events; each pattern of the
/// other types is a valid regular expression. At most 100 groups.
pub fn check_filter_groups(groups: &[Vec<WebhookFilter>]) -> Result<(), String> {
    if groups.len() > 100 {
        return Err("at most 100 filter groups".into());
    }
    for (i, group) in groups.iter().enumerate() {
        let n = i + 1;
        let events = group.iter().filter(|f| f.filter_type == WebhookFilterType::Event).count();
        if events != 1 {
            return Err(format!("filter group {n} has {events} EVENT filters; each group needs exactly one"));
        }
        for filter in group {
            let checked = match filter.filter_type {
                WebhookFilterType::Event => event_names(&filter.pattern).map(drop),
                _ => compile(&filter.pattern).map(drop),
            };
            checked.map_err(|e| format!("filter group {n}, {}: {e}", filter.filter_type.name()))?;
        }
    }
    Ok(())
}

/// Whether one filter matches the event (filters are checked first with
/// [`check_filter_groups`]; one that does not compile matches nothing).
pub fn filter_matches(filter: &WebhookFilter, event: &WebhookEvent) -> bool {
    let found = |text: Option<&str>| -> Option<bool> {
        let text = text?;
        Some(compile(&filter.pattern).ok()?.is_match(text))
    };
    let matched = match filter.filter_type {
        WebhookFilterType::Event => event_names(&filter.pattern).ok().map(|names| names.contains(&event.event)),
        WebhookFilterType::HeadRef => found(Some(&event.head_ref)),
        WebhookFilterType::BaseRef => found(event.base_ref.as_deref()),
        WebhookFilterType::CommitMessage => found(event.commit_message.as_deref()),
        WebhookFilterType::ActorAccountId => found(event.actor_account_id.as_deref()),
        WebhookFilterType::FilePath => event.changed_files.as_ref().and_then(|files| {
            let re = compile(&filter.pattern).ok()?;
            Some(files.iter().any(|f| re.is_match(f)))
        }),
    };
    // Nothing to match against: the filter does not match either way.
    matched.is_some_and(|m| m != filter.exclude_matched_pattern)
}

/// The first group (0-based) that matches `event`: every filter in it
/// matches. No groups at all: [`DEFAULT_EVENTS`] start a build (`Some(0)`).
pub fn matching_group(groups: &[Vec<WebhookFilter>], event: &WebhookEvent) -> Option<usize> {
    if groups.is_empty() {
        return DEFAULT_EVENTS.contains(&event.event).then_some(0);
    }
    groups.iter().position(|group| !group.is_empty() && group.iter().all(|f| filter_matches(f, event)))
}

/// Reads the CLI's filter group syntax: `TYPE=PATTERN` pairs separated by
/// `;`, a `!` before `=` excluding (`HEAD_REF!=^refs/tags/`); e.g.
/// `EVENT=PUSH,PULL_REQUEST_CREATED;HEAD_REF=^refs/heads/main$`.
pub fn parse_filter_group(text: &str) -> Result<Vec<WebhookFilter>, String> {
    text.split(';')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (name, pattern) =
                part.split_once('=').ok_or_else(|| format!("filter {part:?}: expected TYPE=PATTERN"))?;
            let (name, exclude) = match name.trim().strip_suffix('!') {
                Some(name) => (name.trim(), true),
                None => (name.trim(), false),
            };
            let filter_type = WebhookFilterType::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = WebhookFilterType::ALL.iter().map(|t| t.name()).collect();
                format!("filter type {name:?} is not one of {}", known.join(", "))
            })?;
            Ok(WebhookFilter { filter_type, pattern: pattern.to_string(), exclude_matched_pattern: exclude })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Commit status

/// A build's state as a commit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitState {
    Pending,
    Success,
    Failure,
    /// The build could not run (fault, timeout, stopped).
    Error,
}

/// What a commit status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status<'a> {
    pub state: CommitState,
    /// The link the forge shows beside the status (the build).
    pub target_url: &'a str,
    pub description: &'a str,
    /// The status's name on the forge (`ferry/<project>`).
    pub context: &'a str,
}

/// The forge API call that sets a commit's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRequest {
    pub url: String,
    /// The authentication header and its value (it holds the token).
    pub auth_header: (&'static str, String),
    pub body: Value,
}

/// `origin` (`https://host[:port]`) and the repository path (`owner/repo`,
/// GitLab's `group/sub/project`) of a clone URL: `https://host/o/r.git`,
/// `ssh://git@host/o/r.git` or `git@host:o/r.git`.
pub fn repository_of(url: &str) -> Option<(String, String)> {
    let url = url.trim();
    let (origin, path) = if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let scheme = if scheme == "http" { "http" } else { "https" };
        // ssh's port is not the web's.
        let host = if scheme != "http" && url.starts_with("ssh://") { host.split(':').next()? } else { host };
        (format!("{scheme}://{host}"), path)
    } else {
        let (user_host, path) = url.split_once(':')?;
        let host = user_host.rsplit_once('@').map_or(user_host, |(_, h)| h);
        (format!("https://{host}"), path)
    };
    let path = path.trim_matches('/').trim_end_matches(".git").trim_matches('/');
    (!path.is_empty() && !origin.ends_with("://")).then(|| (origin, path.to_string()))
}

fn encode_path(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The commit status call for `commit` of the repository at `repository_url`
/// on `forge`: GitHub `POST /repos/{owner}/{repo}/statuses/{sha}`
/// (api.github.com for github.com, else GitHub Enterprise's `/api/v3`),
/// GitLab `POST /api/v4/projects/{id}/statuses/{sha}` (the id is the
/// project's path, encoded), Gitea `POST /api/v1/repos/{owner}/{repo}/statuses/{sha}`.
/// `None` when the URL names no repository.
pub fn status_request(
    forge: Forge,
    repository_url: &str,
    commit: &str,
    status: &Status<'_>,
    token: &str,
) -> Option<StatusRequest> {
    let Status { state, target_url, description, context } = *status;
    let (origin, path) = repository_of(repository_url)?;
    let sha = encode_path(commit);
    Some(match forge {
        Forge::GitHub => {
            let api = if origin == "https://github.com" {
                "https://api.github.com".to_string()
            } else {
                format!("{origin}/api/v3")
            };
            StatusRequest {
                url: format!("{api}/repos/{path}/statuses/{sha}"),
                auth_header: ("authorization", format!("Bearer {token}")),
                body: serde_json::json!({
                    "state": match state {
                        CommitState::Pending => "pending",
                        CommitState::Success => "success",
                        CommitState::Failure => "failure",
                        CommitState::Error => "error",
                    },
                    "target_url": target_url,
                    "description": description,
                    "context": context,
                }),
            }
        }
        Forge::Gitea => StatusRequest {
            url: format!("{origin}/api/v1/repos/{path}/statuses/{sha}"),
            auth_header: ("authorization", format!("token {token}")),
            body: serde_json::json!({
                "state": match state {
                    CommitState::Pending => "pending",
                    CommitState::Success => "success",
                    CommitState::Failure => "failure",
                    CommitState::Error => "error",
                },
                "target_url": target_url,
                "description": description,
                "context": context,
            }),
        },
        Forge::GitLab => StatusRequest {
            url: format!("{origin}/api/v4/projects/{}/statuses/{sha}", encode_path(&path)),
            auth_header: ("private-token", token.to_string()),
            body: serde_json::json!({
                "state": match state {
                    CommitState::Pending => "pending",
                    CommitState::Success => "success",
                    CommitState::Failure => "failed",
                    CommitState::Error => "canceled",
                },
                "target_url": target_url,
                "description": description,
                "name": context,
            }),
        },
    })
}

#[cfg(test)]
mod tests;
