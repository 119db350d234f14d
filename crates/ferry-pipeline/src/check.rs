//! CodePipeline's structure rules, and the action providers ferry runs.
//!
//! The rules (CodePipeline UG "Pipeline structure reference" and "Quotas",
//! botocore's constraints), each reported with the key path:
//! - Names: pipeline, stage and action names `[A-Za-z0-9.@\-_]{1,100}`;
//!   artifact names `[A-Za-z0-9_\-]{1,100}`; namespaces and variable names
//!   `[A-Za-z0-9@\-_]` (1–100 and 1–128). `.` and `..` alone are refused
//!   (ferry's rule for every name that may end up in a path or URL).
//! - 2–50 stages; 1–50 actions per stage; at most 500 actions in all.
//! - The first stage holds only Source actions, and only it does.
//! - Stage names unique in the pipeline; action names unique in their stage.
//! - `runOrder` 1–999.
//! - Every input artifact is the output of an action that runs earlier: an
//!   earlier stage, or a lower `runOrder` in the same stage. Output artifact
//!   names are unique in the pipeline; an action names an input once.
//! - Artifact counts and configuration keys per action type (UG "Valid
//!   action types and providers in CodePipeline"): see [`provider`].
//!   Configuration keys are 1–50 characters, values 1–1000.
//! - Namespaces are unique, and are neither `codepipeline` nor `variables`
//!   (reserved) nor the name of an output artifact.
//! - `#{namespace.name}` references in configurations name
//!   `codepipeline.PipelineExecutionId`, a declared pipeline variable
//!   (`variables.<name>`), or the namespace of an action that runs earlier.
//! - V2 only: `variables` (at most 50, unique, default 1–1000 characters,
//!   description up to 200), `triggers`, stage `onFailure`, and the
//!   execution modes QUEUED and PARALLEL.
//! - `timeoutInMinutes` (5–86400) only on Approval actions.
//! - `artifactStore` and `artifactStores` are not both given.
//! - Triggers: `providerType` CodeStarSourceConnection; `sourceActionName`
//!   names a git source action (see below) in the first stage, one trigger
//!   per action; at most 3 push and 3 pull-request filters; a push filter
//!   filters on branches or on tags (not both), `filePaths` only with
//!   `branches`; a pull-request filter needs `branches`; each criterion has
//!   includes or excludes (at most 8 each), patterns 1–255 characters and
//!   well-formed globs ([`crate::trigger::check_glob`]).
//!
//! Where ferry differs, on purpose:
//! - `onFailure.result: ROLLBACK` is refused (ferry does not roll stages back
//!   yet); RETRY retries the stage once, FAILED_ACTIONS unless
//!   `retryConfiguration.retryMode` says ALL_ACTIONS.
//! - Triggers may name any git source (CodeCommit and GitHub too, not only
//!   CodeStarSourceConnection): all three are git repositories to ferry.
//! - Git sources name a repository for ferry's own git client
//!   ([`git_source`]): `FullRepositoryId` (CodeStarSourceConnection) and
//!   `RepositoryName` (CodeCommit) may be a git URL (`https://…`, `ssh://…`,
//!   `git@host:path`, `file:///…`, or an absolute path on the server); then
//!   `ConnectionArn` is optional. An `owner/repo` FullRepositoryId needs a
//!   `ConnectionArn`, which the server maps to a forge; a plain CodeCommit
//!   name is resolved by the server (its configured git root).
//!   ThirdParty/GitHub's `Owner` and `Repo` mean `https://github.com/Owner/Repo.git`;
//!   its `OAuthToken` is optional.
//! - CodeBuild's `BatchEnabled: true` is refused (ferry has no batch builds).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::*;
use crate::vars::{self, CODEPIPELINE, PIPELINE_EXECUTION_ID, PIPELINE_VARIABLES};
use crate::yaml::words::suggestion;
use crate::{PipelineError, Problem};

/// Most stages in a pipeline, actions in a stage and in a pipeline (Quotas).
pub const MAX_STAGES: usize = 50;
pub const MAX_ACTIONS_PER_STAGE: usize = 50;
pub const MAX_ACTIONS: usize = 500;
/// Manual approval's default timeout: 7 days.
pub const APPROVAL_TIMEOUT_MINUTES: u32 = 7 * 24 * 60;

/// What ferry knows about one action type it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub category: Category,
    pub owner: Owner,
    /// `None` for Custom action types (any provider name).
    pub provider: Option<&'static str>,
    pub inputs: (usize, usize),
    pub outputs: (usize, usize),
    pub required: &'static [&'static str],
    /// Keys it takes besides the required ones; `None`: any (Custom).
    pub optional: Option<&'static [&'static str]>,
    /// How long the action may run (UG "Quotas": CodeBuild 8 h, CodeDeploy
    /// 5 days, Manual approval 7 days, custom actions 24 h, all others 1 h).
    pub default_timeout_minutes: u32,
}

const GIT_SOURCE_OUT: (usize, usize) = (1, 1);

/// The action types ferry runs, by (category, owner, provider).
pub const PROVIDERS: &[Provider] = &[
    Provider {
        category: Category::Source,
        owner: Owner::Aws,
        provider: Some("CodeCommit"),
        inputs: (0, 0),
        outputs: GIT_SOURCE_OUT,
        required: &["RepositoryName", "BranchName"],
        optional: Some(&["PollForSourceChanges", "OutputArtifactFormat"]),
        default_timeout_minutes: 60,
    },
    Provider {
        category: Category::Source,
        owner: Owner::Aws,
        provider: Some("CodeStarSourceConnection"),
        inputs: (0, 0),
        outputs: GIT_SOURCE_OUT,
        required: &["FullRepositoryId", "BranchName"],
        optional: Some(&["ConnectionArn", "OutputArtifactFormat", "DetectChanges"]),
        default_timeout_minutes: 60,
    },
    Provider {
        category: Category::Source,
        owner: Owner::ThirdParty,
        provider: Some("GitHub"),
        inputs: (0, 0),
        outputs: GIT_SOURCE_OUT,
        required: &["Owner", "Repo", "Branch"],
        optional: Some(&["OAuthToken", "PollForSourceChanges"]),
        default_timeout_minutes: 60,
    },
    Provider {
        category: Category::Source,
        owner: Owner::Aws,
        provider: Some("S3"),
        inputs: (0, 0),
        outputs: (1, 1),
        required: &["S3Bucket", "S3ObjectKey"],
        optional: Some(&["PollForSourceChanges", "AllowOverrideForS3ObjectKey"]),
        default_timeout_minutes: 60,
    },
    Provider {
        category: Category::Build,
        owner: Owner::Aws,
        provider: Some("CodeBuild"),
        inputs: (1, 5),
        outputs: (0, 5),
        required: &["ProjectName"],
        optional: Some(&["PrimarySource", "EnvironmentVariables", "BatchEnabled", "CombineArtifacts"]),
        default_timeout_minutes: 8 * 60,
    },
    Provider {
        category: Category::Test,
        owner: Owner::Aws,
        provider: Some("CodeBuild"),
        inputs: (1, 5),
        outputs: (0, 5),
        required: &["ProjectName"],
        optional: Some(&["PrimarySource", "EnvironmentVariables", "BatchEnabled", "CombineArtifacts"]),
        default_timeout_minutes: 8 * 60,
    },
    Provider {
        category: Category::Deploy,
        owner: Owner::Aws,
        provider: Some("CodeDeploy"),
        inputs: (1, 1),
        outputs: (0, 0),
        required: &["ApplicationName", "DeploymentGroupName"],
        optional: Some(&[]),
        default_timeout_minutes: 5 * 24 * 60,
    },
    Provider {
        category: Category::Approval,
        owner: Owner::Aws,
        provider: Some("Manual"),
        inputs: (0, 0),
        outputs: (0, 0),
        required: &[],
        optional: Some(&["NotificationArn", "CustomData", "ExternalEntityLink"]),
        default_timeout_minutes: APPROVAL_TIMEOUT_MINUTES,
    },
];

/// Custom action types (the job worker contract: PollForJobs,
/// AcknowledgeJob, PutJobSuccessResult / PutJobFailureResult), in any
/// category but Approval and Compute, with CodePipeline's bounds on
/// artifacts (0–5 each way) and any configuration keys.
const CUSTOM: Provider = Provider {
    category: Category::Invoke,
    owner: Owner::Custom,
    provider: None,
    inputs: (0, 5),
    outputs: (0, 5),
    required: &[],
    optional: None,
    default_timeout_minutes: 24 * 60,
};

/// The provider ferry uses for an action type, or why it has none (naming
/// the ones it has).
pub fn provider(id: &ActionTypeId) -> Result<Provider, String> {
    if id.owner == Owner::Custom {
        return match id.category {
            Category::Approval | Category::Compute => Err(format!(
                "custom action types cannot be in the {} category; ferry runs custom actions (job workers) in Source, Build, Test, Deploy and Invoke",
                id.category.as_str()
            )),
            category => Ok(Provider { category, ..CUSTOM }),
        };
    }
    if let Some(p) = PROVIDERS
        .iter()
        .find(|p| p.category == id.category && p.owner == id.owner && p.provider == Some(id.provider.as_str()))
    {
        return Ok(p.clone());
    }
    let supported: Vec<String> = PROVIDERS
        .iter()
        .map(|p| format!("{}/{}/{}", p.category.as_str(), p.owner.as_str(), p.provider.unwrap_or("*")))
        .chain(std::iter::once("Source|Build|Test|Deploy|Invoke/Custom/<any provider>".to_owned()))
        .collect();
    let hint = if id.category == Category::Compute {
        " (the Compute category's Commands action is not supported; use a CodeBuild action)".to_owned()
    } else {
        String::new()
    };
    Err(format!("ferry does not run {id} actions{hint}; it runs: {}", supported.join(", ")))
}

/// A git repository a source action reads, as ferry's git client names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// A git URL or absolute path; or (with `connection`) `owner/repo`; or a
    /// CodeCommit repository name the server resolves.
    pub repository: String,
    pub branch: String,
    pub connection: Option<String>,
}

/// The git repository and branch of a git source action
/// (CodeCommit, CodeStarSourceConnection, ThirdParty/GitHub).
pub fn git_source(action: &ActionDeclaration) -> Option<GitSource> {
    git_source_of(&action.action_type_id, &action.configuration)
}

/// [`git_source`] of an action type and its configuration.
pub fn git_source_of(id: &ActionTypeId, c: &std::collections::BTreeMap<String, String>) -> Option<GitSource> {
    let get = |k: &str| c.get(k).cloned();
    match (id.category, id.owner, id.provider.as_str()) {
        (Category::Source, Owner::Aws, "CodeCommit") => {
            Some(GitSource { repository: get("RepositoryName")?, branch: get("BranchName")?, connection: None })
        }
        (Category::Source, Owner::Aws, "CodeStarSourceConnection") => Some(GitSource {
            repository: get("FullRepositoryId")?,
            branch: get("BranchName")?,
            connection: get("ConnectionArn"),
        }),
        (Category::Source, Owner::ThirdParty, "GitHub") => Some(GitSource {
            repository: format!("https://github.com/{}/{}.git", get("Owner")?, get("Repo")?),
            branch: get("Branch")?,
            connection: None,
        }),
        _ => None,
    }
}

/// `https://…`, `http://…`, `ssh://…`, `git://…`, `file://…`, an absolute
/// path, or scp-like `user@host:path`.
pub fn is_git_url(text: &str) -> bool {
    const SCHEMES: [&str; 5] = ["https://", "http://", "ssh://", "git://", "file://"];
    if SCHEMES.iter().any(|s| text.starts_with(s)) || text.starts_with('/') {
        return true;
    }
    match text.split_once(':') {
        Some((user_host, path)) => {
            let parts: Vec<&str> = user_host.splitn(2, '@').collect();
            parts.len() == 2
                && !parts[0].is_empty()
                && !parts[1].is_empty()
                && !path.is_empty()
                && !user_host.contains('/')
        }
        None => false,
    }
}

/// How long an action may run before it fails, in minutes.
pub fn timeout_minutes(action: &ActionDeclaration) -> u32 {
    let default = provider(&action.action_type_id).map(|p| p.default_timeout_minutes).unwrap_or(60);
    match action.action_type_id.category {
        Category::Approval => action.timeout_in_minutes.unwrap_or(default),
        _ => default,
    }
}

/// Checks a declaration, returning every problem (with key paths; no lines).
pub fn check(p: &PipelineDeclaration) -> Result<(), Vec<Problem>> {
    let mut c = Checker::default();
    c.pipeline(p);
    if c.problems.is_empty() { Ok(()) } else { Err(c.problems) }
}

/// [`check`] as a [`PipelineError`] naming `file` (for declarations that did
/// not come from text, such as an API request).
pub fn check_named(file: &str, p: &PipelineDeclaration) -> Result<(), PipelineError> {
    check(p).map_err(|problems| PipelineError { file: file.to_owned(), problems })
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
}

/// Where an action sits: (stage index, runOrder).
type Place = (usize, u32);

fn runs_before(a: Place, b: Place) -> bool {
    a.0 < b.0 || (a.0 == b.0 && a.1 < b.1)
}

impl Checker {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { key: key.into(), message: message.into(), line: None });
    }

    fn name(&mut self, key: &str, what: &str, name: &str, max: usize, extra: &str, allow_dot: bool) {
        let ok_char =
            |c: char| c.is_ascii_alphanumeric() || "@-_".contains(c) || (allow_dot && c == '.') || extra.contains(c);
        let len = name.chars().count();
        if len == 0 || len > max {
            self.add(key, format!("{what} must be 1 to {max} characters, got {len}"));
        } else if let Some(bad) = name.chars().find(|c| !ok_char(*c)) {
            let allowed = if allow_dot { "letters, digits and . @ - _" } else { "letters, digits and @ - _" };
            self.add(key, format!("{what} {name:?} contains {bad:?}; it may hold only {allowed}"));
        } else if name == "." || name == ".." {
            self.add(key, format!("{what} cannot be {name:?}"));
        }
    }

    fn artifact_name(&mut self, key: &str, name: &str) {
        let len = name.chars().count();
        if len == 0 || len > 100 {
            self.add(key, format!("an artifact name must be 1 to 100 characters, got {len}"));
        } else if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            self.add(key, format!("artifact name {name:?} contains {bad:?}; it may hold only letters, digits and - _"));
        }
    }

    fn pipeline(&mut self, p: &PipelineDeclaration) {
        self.name("name", "the pipeline name", &p.name, 100, "", true);
        if p.artifact_store.is_some() && !p.artifact_stores.is_empty() {
            self.add("artifactStores", "give artifactStore or artifactStores, not both");
        }
        for (key, store) in p
            .artifact_store
            .iter()
            .map(|s| ("artifactStore".to_owned(), s))
            .chain(p.artifact_stores.iter().map(|(r, s)| (format!("artifactStores.{r}"), s)))
        {
            if store.store_type != "S3" {
                self.add(format!("{key}.type"), format!("expected S3, got {:?}", store.store_type));
            }
        }
        let v2 = p.pipeline_type == PipelineType::V2;
        if !v2 && p.execution_mode != ExecutionMode::Superseded {
            self.add(
                "executionMode",
                format!(
                    "execution mode {} needs pipelineType V2 (V1 pipelines run SUPERSEDED)",
                    p.execution_mode.as_str()
                ),
            );
        }
        if !v2 && !p.variables.is_empty() {
            self.add("variables", "pipeline-level variables need pipelineType V2");
        }
        if !v2 && !p.triggers.is_empty() {
            self.add("triggers", "triggers need pipelineType V2");
        }
        self.variables(p);
        if p.stages.len() < 2 {
            self.add(
                "stages",
                format!("a pipeline needs at least 2 stages (a source stage and another), got {}", p.stages.len()),
            );
        }
        if p.stages.len() > MAX_STAGES {
            self.add("stages", format!("a pipeline has at most {MAX_STAGES} stages, got {}", p.stages.len()));
        }
        let total: usize = p.stages.iter().map(|s| s.actions.len()).sum();
        if total > MAX_ACTIONS {
            self.add("stages", format!("a pipeline has at most {MAX_ACTIONS} actions, got {total}"));
        }
        let mut stage_names = BTreeSet::new();
        // Output artifact → where it is produced; namespace → where declared.
        let mut outputs: BTreeMap<&str, (Place, String)> = BTreeMap::new();
        let mut namespaces: BTreeMap<&str, (Place, String)> = BTreeMap::new();
        for (si, stage) in p.stages.iter().enumerate() {
            let sk = format!("stages[{si}]");
            self.name(&format!("{sk}.name"), "a stage name", &stage.name, 100, "", true);
            if !stage_names.insert(stage.name.as_str()) {
                self.add(
                    format!("{sk}.name"),
                    format!("stage name {:?} is used twice; stage names are unique in a pipeline", stage.name),
                );
            }
            if stage.actions.is_empty() || stage.actions.len() > MAX_ACTIONS_PER_STAGE {
                self.add(
                    format!("{sk}.actions"),
                    format!("a stage has 1 to {MAX_ACTIONS_PER_STAGE} actions, got {}", stage.actions.len()),
                );
            }
            if let Some(f) = &stage.on_failure {
                self.on_failure(&sk, v2, f);
            }
            let mut action_names = BTreeSet::new();
            for (ai, action) in stage.actions.iter().enumerate() {
                let ak = format!("{sk}.actions[{ai}]");
                let place = (si, action.run_order);
                self.name(&format!("{ak}.name"), "an action name", &action.name, 100, "", true);
                if !action_names.insert(action.name.as_str()) {
                    self.add(
                        format!("{ak}.name"),
                        format!(
                            "action name {:?} is used twice in stage {:?}; action names are unique in a stage",
                            action.name, stage.name
                        ),
                    );
                }
                if !(1..=999).contains(&action.run_order) {
                    self.add(
                        format!("{ak}.runOrder"),
                        format!("runOrder must be from 1 to 999, got {}", action.run_order),
                    );
                }
                let is_source = action.action_type_id.category == Category::Source;
                if si == 0 && !is_source {
                    self.add(
                        format!("{ak}.actionTypeId.category"),
                        format!(
                            "the first stage holds only Source actions; {:?} is a {} action",
                            action.name,
                            action.action_type_id.category.as_str()
                        ),
                    );
                }
                if si > 0 && is_source {
                    self.add(
                        format!("{ak}.actionTypeId.category"),
                        format!(
                            "Source actions belong in the first stage only; move {:?} to stage {:?}",
                            action.name, p.stages[0].name
                        ),
                    );
                }
                self.action(&ak, action);
                for (oi, output) in action.output_artifacts.iter().enumerate() {
                    let key = format!("{ak}.outputArtifacts[{oi}].name");
                    self.artifact_name(&key, &output.name);
                    let by = format!("action {:?} in stage {:?}", action.name, stage.name);
                    if let Some((_, first)) = outputs.get(output.name.as_str()) {
                        self.add(&key, format!("output artifact {:?} is also produced by {first}; output artifact names are unique in a pipeline", output.name));
                    } else {
                        outputs.insert(output.name.as_str(), (place, by));
                    }
                }
                if let Some(ns) = &action.namespace {
                    let key = format!("{ak}.namespace");
                    self.name(&key, "a namespace", ns, 100, "", false);
                    if ns == CODEPIPELINE || ns == PIPELINE_VARIABLES {
                        self.add(&key, format!("namespace {ns:?} is reserved by CodePipeline"));
                    } else if let Some((_, first)) = namespaces.get(ns.as_str()) {
                        self.add(
                            &key,
                            format!(
                                "namespace {ns:?} is also declared by {first}; namespaces are unique in a pipeline"
                            ),
                        );
                    } else {
                        namespaces.insert(
                            ns.as_str(),
                            (place, format!("action {:?} in stage {:?}", action.name, stage.name)),
                        );
                    }
                }
            }
        }
        // Namespaces against artifact names, and references, need the whole map.
        for (ns, (_, by)) in &namespaces {
            if outputs.contains_key(ns) {
                self.add("", format!("namespace {ns:?} (declared by {by}) is also an output artifact name; namespaces and artifact names must differ"));
            }
        }
        let declared: BTreeSet<&str> = p.variables.iter().map(|v| v.name.as_str()).collect();
        for (si, stage) in p.stages.iter().enumerate() {
            for (ai, action) in stage.actions.iter().enumerate() {
                let place = (si, action.run_order);
                for (ii, input) in action.input_artifacts.iter().enumerate() {
                    let key = format!("stages[{si}].actions[{ai}].inputArtifacts[{ii}].name");
                    if action.input_artifacts[..ii].iter().any(|a| a.name == input.name) {
                        self.add(&key, format!("input artifact {:?} is named twice", input.name));
                    }
                    match outputs.get(input.name.as_str()) {
                        Some((at, _)) if runs_before(*at, place) => {}
                        Some((_, by)) => self.add(
                            &key,
                            format!("input artifact {:?} is produced by {by}, which does not run before this action (an input must come from an earlier stage or a lower runOrder)", input.name),
                        ),
                        None => {
                            let known: Vec<&str> = outputs.keys().copied().collect();
                            let hint = suggestion(&input.name, &known).map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default();
                            self.add(&key, format!("no earlier action has an output artifact named {:?}{hint}", input.name))
                        }
                    }
                }
                for (key, value) in &action.configuration {
                    for r in vars::references(value) {
                        let at = format!("stages[{si}].actions[{ai}].configuration.{key}");
                        match r.namespace {
                            CODEPIPELINE if r.name == PIPELINE_EXECUTION_ID => {}
                            CODEPIPELINE => self
                                .add(at, format!("{r}: the codepipeline namespace has only {PIPELINE_EXECUTION_ID}")),
                            PIPELINE_VARIABLES if declared.contains(r.name) => {}
                            PIPELINE_VARIABLES => {
                                self.add(at, format!("{r}: the pipeline declares no variable {:?}", r.name))
                            }
                            ns => match namespaces.get(ns) {
                                Some((declared_at, _)) if runs_before(*declared_at, place) => {}
                                Some((_, by)) => self.add(
                                    at,
                                    format!(
                                        "{r}: namespace {ns:?} belongs to {by}, which does not run before this action"
                                    ),
                                ),
                                None => {
                                    let known: Vec<&str> = namespaces.keys().copied().collect();
                                    let hint = suggestion(ns, &known)
                                        .map(|s| format!(" (did you mean {s:?}?)"))
                                        .unwrap_or_default();
                                    self.add(at, format!("{r}: no action declares namespace {ns:?}{hint}"))
                                }
                            },
                        }
                    }
                }
            }
        }
        self.triggers(p);
    }

    fn variables(&mut self, p: &PipelineDeclaration) {
        if p.variables.len() > 50 {
            self.add("variables", format!("at most 50 pipeline variables, got {}", p.variables.len()));
        }
        let mut seen = BTreeSet::new();
        for (i, v) in p.variables.iter().enumerate() {
            let key = format!("variables[{i}]");
            self.name(&format!("{key}.name"), "a variable name", &v.name, 128, "", false);
            if !seen.insert(v.name.as_str()) {
                self.add(format!("{key}.name"), format!("variable {:?} is declared twice", v.name));
            }
            if let Some(d) = &v.default_value {
                let len = d.chars().count();
                if len == 0 || len > 1000 {
                    self.add(
                        format!("{key}.defaultValue"),
                        format!("a default value is 1 to 1000 characters, got {len}"),
                    );
                }
            }
            if let Some(d) = &v.description
                && d.chars().count() > 200
            {
                self.add(format!("{key}.description"), "a description is at most 200 characters");
            }
        }
    }

    fn on_failure(&mut self, sk: &str, v2: bool, f: &FailureConditions) {
        let key = format!("{sk}.onFailure");
        if !v2 {
            self.add(&key, "onFailure needs pipelineType V2");
        }
        match f.result {
            Some(StageFailureResult::Rollback) => self.add(
                format!("{key}.result"),
                "ROLLBACK is not supported by ferry yet; use FAIL, or RETRY (one automatic retry of the stage)",
            ),
            Some(StageFailureResult::Retry) => {}
            _ if f.retry_configuration.is_some() => {
                self.add(format!("{key}.retryConfiguration"), "retryConfiguration goes with result RETRY");
            }
            _ => {}
        }
    }

    fn action(&mut self, ak: &str, action: &ActionDeclaration) {
        let id = &action.action_type_id;
        let provider = match provider(id) {
            Ok(p) => p,
            Err(message) => {
                self.add(format!("{ak}.actionTypeId"), message);
                return;
            }
        };
        if provider.provider.is_some() {
            if id.version != "1" {
                self.add(format!("{ak}.actionTypeId.version"), format!("{id} has version 1, got {:?}", id.version));
            }
        } else {
            let len = id.provider.chars().count();
            if len == 0 || len > 35 || !id.provider.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                self.add(
                    format!("{ak}.actionTypeId.provider"),
                    "a custom provider name is 1 to 35 letters, digits, - or _",
                );
            }
            let len = id.version.chars().count();
            if len == 0 || len > 9 || !id.version.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                self.add(
                    format!("{ak}.actionTypeId.version"),
                    "a custom action version is 1 to 9 letters, digits, - or _",
                );
            }
        }
        for (what, list, (min, max)) in [
            ("inputArtifacts", &action.input_artifacts, provider.inputs),
            ("outputArtifacts", &action.output_artifacts, provider.outputs),
        ] {
            let n = list.len();
            if n < min || n > max {
                let range = if min == max { format!("exactly {min}") } else { format!("{min} to {max}") };
                let noun = if what == "inputArtifacts" { "input" } else { "output" };
                self.add(format!("{ak}.{what}"), format!("{id} actions take {range} {noun} artifacts, got {n}"));
            }
        }
        if action.timeout_in_minutes.is_some() && id.category != Category::Approval {
            self.add(format!("{ak}.timeoutInMinutes"), "timeoutInMinutes applies to Approval actions only");
        }
        if let Some(m) = action.timeout_in_minutes
            && !(5..=86_400).contains(&m)
        {
            self.add(format!("{ak}.timeoutInMinutes"), format!("timeoutInMinutes is 5 to 86400, got {m}"));
        }
        let ck = format!("{ak}.configuration");
        for (key, value) in &action.configuration {
            let (kl, vl) = (key.chars().count(), value.chars().count());
            if kl == 0 || kl > 50 {
                self.add(format!("{ck}.{key}"), format!("a configuration key is 1 to 50 characters, got {kl}"));
            }
            if vl == 0 || vl > 1000 {
                self.add(format!("{ck}.{key}"), format!("a configuration value is 1 to 1000 characters, got {vl}"));
            }
        }
        for required in provider.required {
            if !action.configuration.contains_key(*required) {
                self.add(format!("{ck}.{required}"), format!("{id} actions need configuration `{required}`"));
            }
        }
        if let Some(optional) = provider.optional {
            let known: Vec<&str> = provider.required.iter().chain(optional.iter()).copied().collect();
            for key in action.configuration.keys() {
                if !known.contains(&key.as_str()) {
                    let hint = suggestion(key, &known).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                    self.add(
                        format!("{ck}.{key}"),
                        format!("{id} actions have no configuration `{key}`{hint}; they take: {}", known.join(", ")),
                    );
                }
            }
        }
        self.configuration_values(&ck, action);
    }

    /// Provider-specific rules on configuration values.
    fn configuration_values(&mut self, ck: &str, action: &ActionDeclaration) {
        let c = &action.configuration;
        let id = &action.action_type_id;
        match (id.category, id.owner, id.provider.as_str()) {
            (Category::Source, Owner::Aws, "CodeStarSourceConnection") => {
                if let Some(repo) = c.get("FullRepositoryId")
                    && !is_git_url(repo)
                    && !c.contains_key("ConnectionArn")
                {
                    self.add(
                        format!("{ck}.FullRepositoryId"),
                        format!("{repo:?} is not a git URL; give a git URL (https://…, ssh://…, git@host:path or an absolute path), or `owner/repo` with a ConnectionArn"),
                    );
                }
            }
            (Category::Source, _, _) => {}
            (Category::Build | Category::Test, Owner::Aws, "CodeBuild") => {
                if let Some(primary) = c.get("PrimarySource")
                    && !action.input_artifacts.iter().any(|a| &a.name == primary)
                {
                    self.add(
                        format!("{ck}.PrimarySource"),
                        format!("PrimarySource {primary:?} is not one of this action's input artifacts"),
                    );
                }
                if c.get("BatchEnabled").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                    self.add(
                        format!("{ck}.BatchEnabled"),
                        "batch builds are not supported by ferry; remove BatchEnabled",
                    );
                }
                if c.contains_key("CombineArtifacts")
                    && !c.get("BatchEnabled").is_some_and(|v| v.eq_ignore_ascii_case("true"))
                {
                    self.add(
                        format!("{ck}.CombineArtifacts"),
                        "CombineArtifacts goes with batch builds, which ferry does not run",
                    );
                }
                if let Some(env) = c.get("EnvironmentVariables")
                    && vars::references(env).is_empty()
                    && let Err(message) = environment_variables(env)
                {
                    self.add(format!("{ck}.EnvironmentVariables"), message);
                }
            }
            (Category::Approval, Owner::Aws, "Manual") => {
                if let Some(data) = c.get("CustomData")
                    && data.chars().count() > 500
                {
                    self.add(format!("{ck}.CustomData"), "CustomData is at most 500 characters");
                }
                if let Some(link) = c.get("ExternalEntityLink")
                    && !(link.starts_with("https://")
                        || link.starts_with("http://")
                        || !vars::references(link).is_empty())
                {
                    self.add(format!("{ck}.ExternalEntityLink"), format!("expected an http(s) URL, got {link:?}"));
                }
            }
            _ => {}
        }
    }

    fn triggers(&mut self, p: &PipelineDeclaration) {
        let mut seen = BTreeSet::new();
        for (ti, t) in p.triggers.iter().enumerate() {
            let tk = format!("triggers[{ti}]");
            if t.provider_type != "CodeStarSourceConnection" {
                self.add(
                    format!("{tk}.providerType"),
                    format!("expected CodeStarSourceConnection, got {:?}", t.provider_type),
                );
            }
            let g = &t.git_configuration;
            let gk = format!("{tk}.gitConfiguration");
            let source = p.stages.first().and_then(|s| s.action(&g.source_action_name)).map(|(_, a)| a);
            match source {
                None => self.add(
                    format!("{gk}.sourceActionName"),
                    format!("the first stage has no action {:?}", g.source_action_name),
                ),
                Some(a) if git_source(a).is_none() => self.add(
                    format!("{gk}.sourceActionName"),
                    format!("{:?} is a {} action; triggers start git sources (CodeStarSourceConnection, CodeCommit, GitHub)", a.name, a.action_type_id),
                ),
                Some(_) => {}
            }
            if !seen.insert(g.source_action_name.as_str()) {
                self.add(
                    format!("{gk}.sourceActionName"),
                    format!("{:?} already has a trigger; one trigger per source action", g.source_action_name),
                );
            }
            if g.push.is_empty() && g.pull_request.is_empty() {
                self.add(&gk, "a trigger needs push or pullRequest filters");
            }
            for (what, n) in [("push", g.push.len()), ("pullRequest", g.pull_request.len())] {
                if n > 3 {
                    self.add(format!("{gk}.{what}"), format!("at most 3 {what} filters, got {n}"));
                }
            }
            for (i, f) in g.push.iter().enumerate() {
                let fk = format!("{gk}.push[{i}]");
                match (&f.branches, &f.tags) {
                    (None, None) => self.add(&fk, "a push filter filters on branches or on tags"),
                    (Some(_), Some(_)) => self.add(&fk, "a push filter filters on branches or on tags, not both"),
                    _ => {}
                }
                if f.file_paths.is_some() && f.branches.is_none() {
                    self.add(format!("{fk}.filePaths"), "filePaths goes with branches");
                }
                for (what, c) in [("tags", &f.tags), ("branches", &f.branches), ("filePaths", &f.file_paths)] {
                    if let Some(c) = c {
                        self.criteria(&format!("{fk}.{what}"), c);
                    }
                }
            }
            for (i, f) in g.pull_request.iter().enumerate() {
                let fk = format!("{gk}.pullRequest[{i}]");
                if f.branches.is_none() {
                    self.add(&fk, "a pull-request filter needs branches");
                }
                let unique: BTreeSet<String> = f.events.iter().map(|e| format!("{e:?}")).collect();
                if unique.len() != f.events.len() {
                    self.add(format!("{fk}.events"), "an event is listed twice");
                }
                for (what, c) in [("branches", &f.branches), ("filePaths", &f.file_paths)] {
                    if let Some(c) = c {
                        self.criteria(&format!("{fk}.{what}"), c);
                    }
                }
            }
        }
    }

    fn criteria(&mut self, key: &str, c: &IncludeExclude) {
        if c.includes.is_empty() && c.excludes.is_empty() {
            self.add(key, "give includes or excludes");
        }
        for (what, list) in [("includes", &c.includes), ("excludes", &c.excludes)] {
            if list.len() > 8 {
                self.add(format!("{key}.{what}"), format!("at most 8 patterns, got {}", list.len()));
            }
            for (i, pattern) in list.iter().enumerate() {
                let len = pattern.chars().count();
                if len == 0 || len > 255 {
                    self.add(format!("{key}.{what}[{i}]"), format!("a pattern is 1 to 255 characters, got {len}"));
                } else if let Err(why) = crate::trigger::check_glob(pattern) {
                    self.add(format!("{key}.{what}[{i}]"), format!("the glob pattern {pattern:?} {why}"));
                }
            }
        }
    }
}

/// CodeBuild's `EnvironmentVariables`: a JSON array of
/// `{name, value, type?}` with type PLAINTEXT, PARAMETER_STORE or
/// SECRETS_MANAGER.
pub fn environment_variables(text: &str) -> Result<Vec<(String, String, String)>, String> {
    const EXPECTED: &str = "expected a JSON array of {\"name\", \"value\", \"type\"} objects";
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("{EXPECTED}: {e}"))?;
    let items = value.as_array().ok_or_else(|| format!("{EXPECTED}, got {}", kind(&value)))?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let obj = item.as_object().ok_or_else(|| format!("{EXPECTED}; item {i} is {}", kind(item)))?;
        if let Some(k) = obj.keys().find(|k| !["name", "value", "type"].contains(&k.as_str())) {
            return Err(format!("item {i} has an unknown member {k:?}; expected name, value, type"));
        }
        let field = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let name =
            field("name").filter(|n| !n.is_empty()).ok_or_else(|| format!("item {i} needs a \"name\" string"))?;
        let value = field("value").ok_or_else(|| format!("item {i} ({name}) needs a \"value\" string"))?;
        let kind = field("type").unwrap_or_else(|| "PLAINTEXT".to_owned());
        if !["PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"].contains(&kind.as_str()) {
            return Err(format!(
                "item {i} ({name}): type is PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER, got {kind:?}"
            ));
        }
        out.push((name, value, kind));
    }
    Ok(out)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
