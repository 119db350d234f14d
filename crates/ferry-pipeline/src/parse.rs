//! Text to model: a pipeline declaration in JSON (as `aws codepipeline
//! get-pipeline` prints it, `{"pipeline": {...}, "metadata": {...}}`, or the
//! bare declaration as `create-pipeline --cli-input-json` and
//! `--pipeline file://…` take it) or in YAML with the same keys.
//!
//! Both go through `ferry-yaml` (JSON is YAML), so every error names the
//! file, the key path relative to the declaration
//! (`stages[1].actions[0].runOrder`), what was expected and the line.
//!
//! Rules of the shape (botocore's `PipelineDeclaration`): `name` and
//! `stages` are required; `actionTypeId` and its four members are required;
//! `runOrder` is a whole number (default 1); `configuration` maps names to
//! scalars (a YAML `PollForSourceChanges: false` is the text `false`, as
//! CloudFormation templates write it); enums (`category`, `owner`,
//! `pipelineType`, `executionMode`, `onFailure.result`, `retryMode`,
//! pull-request `events`) take CodePipeline's spellings exactly. Unknown
//! keys are errors with the key probably meant; keys of CodePipeline
//! features ferry does not run (stage conditions, `blockers`, the Compute
//! action's `commands`) are refused by name. After the shape, every rule of
//! [`crate::check`] runs, and its problems get their lines too.

use std::collections::BTreeMap;

use crate::model::*;
use crate::yaml::words::{child, describe, index, suggestion, truncate};
use crate::yaml::{self, Key, Node, Resolved, Value};
use crate::{PipelineError, Problem};

/// Largest declaration accepted, in bytes (1 MiB; CodePipeline's own limit
/// on a pipeline structure is 100 KB of JSON).
pub const MAX_DECLARATION_BYTES: usize = 1 << 20;

const WRAPPER: [&str; 2] = ["pipeline", "metadata"];
const TOP: [&str; 10] = [
    "name",
    "roleArn",
    "artifactStore",
    "artifactStores",
    "stages",
    "version",
    "pipelineType",
    "executionMode",
    "variables",
    "triggers",
];
const STORE: [&str; 3] = ["type", "location", "encryptionKey"];
const KEY: [&str; 2] = ["id", "type"];
const STAGE: [&str; 3] = ["name", "actions", "onFailure"];
const ON_FAILURE: [&str; 2] = ["result", "retryConfiguration"];
const ACTION: [&str; 10] = [
    "name",
    "actionTypeId",
    "runOrder",
    "configuration",
    "inputArtifacts",
    "outputArtifacts",
    "namespace",
    "region",
    "roleArn",
    "timeoutInMinutes",
];
const TYPE_ID: [&str; 4] = ["category", "owner", "provider", "version"];
const VARIABLE: [&str; 3] = ["name", "defaultValue", "description"];
const TRIGGER: [&str; 2] = ["providerType", "gitConfiguration"];
const GIT: [&str; 3] = ["sourceActionName", "push", "pullRequest"];
const PUSH: [&str; 3] = ["tags", "branches", "filePaths"];
const PULL: [&str; 3] = ["events", "branches", "filePaths"];
const CRITERIA: [&str; 2] = ["includes", "excludes"];

/// Parses a pipeline declaration (JSON or YAML) and checks every rule of
/// [`crate::check`]. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<PipelineDeclaration, PipelineError> {
    let ctx = Ctx { file };
    if text.len() > MAX_DECLARATION_BYTES {
        return Err(ctx.err(
            "",
            None,
            format!("the file is {} bytes; ferry accepts pipeline declarations up to 1 MiB", text.len()),
        ));
    }
    let root = match yaml::load(text) {
        Ok(Some(root)) if !root.is_null() => root,
        Ok(_) => return Err(ctx.err("", None, "the file is empty; expected a pipeline declaration (name, stages)")),
        Err(e) => return Err(ctx.err(&e.key, e.line, e.message)),
    };
    let declaration_node = unwrap(&ctx, &root)?;
    let declaration = declaration(&ctx, declaration_node)?;
    if let Err(problems) = crate::check::check(&declaration) {
        let mut problems: Vec<Problem> = problems
            .into_iter()
            .map(|p| Problem { line: p.line.or_else(|| line_of(declaration_node, &p.key)), ..p })
            .collect();
        // In the order of the file.
        problems.sort_by_key(|p| p.line);
        return Err(PipelineError { file: file.to_owned(), problems });
    }
    Ok(declaration)
}

/// `{"pipeline": {...}, "metadata": {...}}` (get-pipeline's output) or the
/// bare declaration.
fn unwrap<'n>(ctx: &Ctx<'_>, root: &'n Node) -> Result<&'n Node, PipelineError> {
    let f = Fields::of(ctx, "", root, "a pipeline declaration (a mapping with name and stages)")?;
    match f.get("pipeline") {
        Some(inner) if matches!(inner.value, Value::Map(_)) => {
            f.check_known(ctx, &WRAPPER)?;
            Ok(inner)
        }
        _ => Ok(root),
    }
}

fn declaration(ctx: &Ctx<'_>, node: &Node) -> Result<PipelineDeclaration, PipelineError> {
    let f = Fields::of(ctx, "", node, "a pipeline declaration (a mapping with name and stages)")?;
    f.check_known(ctx, &TOP)?;
    let name = f.req_string(ctx, "name", "the pipeline's name")?;
    let stages_node = f.require(ctx, "stages", "a list of stages")?;
    let mut stages = Vec::new();
    for (i, item) in items(ctx, "stages", stages_node, "a list of stages")?.iter().enumerate() {
        stages.push(stage(ctx, &index("stages", i), item)?);
    }
    let artifact_store = f.get("artifactStore").map(|n| store(ctx, "artifactStore", n)).transpose()?;
    let mut artifact_stores = BTreeMap::new();
    if let Some(node) = f.get("artifactStores") {
        let m = Fields::of(ctx, "artifactStores", node, "a mapping of regions to artifact stores")?;
        for (key, value) in m.entries {
            artifact_stores.insert(key.text.clone(), store(ctx, &m.path_of(&key.text), value)?);
        }
    }
    let version = f.opt_number(ctx, "version", 1, u32::MAX)?;
    let pipeline_type =
        f.opt_enum(ctx, "pipelineType", &[("V1", PipelineType::V1), ("V2", PipelineType::V2)])?.unwrap_or_default();
    let execution_mode = f
        .opt_enum(
            ctx,
            "executionMode",
            &[
                ("SUPERSEDED", ExecutionMode::Superseded),
                ("QUEUED", ExecutionMode::Queued),
                ("PARALLEL", ExecutionMode::Parallel),
            ],
        )?
        .unwrap_or_default();
    let mut variables = Vec::new();
    if let Some(node) = f.get("variables") {
        for (i, item) in items(ctx, "variables", node, "a list of variables")?.iter().enumerate() {
            let path = index("variables", i);
            let v = Fields::of(ctx, &path, item, "a variable (name, defaultValue, description)")?;
            v.check_known(ctx, &VARIABLE)?;
            variables.push(PipelineVariableDeclaration {
                name: v.req_string(ctx, "name", "the variable's name")?,
                default_value: v.opt_string(ctx, "defaultValue", "the default value")?,
                description: v.opt_string(ctx, "description", "a description")?,
            });
        }
    }
    let mut triggers = Vec::new();
    if let Some(node) = f.get("triggers") {
        for (i, item) in items(ctx, "triggers", node, "a list of triggers")?.iter().enumerate() {
            triggers.push(trigger(ctx, &index("triggers", i), item)?);
        }
    }
    Ok(PipelineDeclaration {
        name,
        role_arn: f.opt_string(ctx, "roleArn", "a role ARN")?,
        artifact_store,
        artifact_stores,
        stages,
        version,
        pipeline_type,
        execution_mode,
        variables,
        triggers,
    })
}

fn store(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<ArtifactStore, PipelineError> {
    let f = Fields::of(ctx, path, node, "an artifact store (type, location)")?;
    f.check_known(ctx, &STORE)?;
    let store_type = f.req_string(ctx, "type", "S3")?;
    if store_type != "S3" {
        return Err(ctx.at(
            &f.path_of("type"),
            node,
            format!("expected S3 (the only artifact store type), got {store_type:?}"),
        ));
    }
    let encryption_key = match f.get("encryptionKey") {
        None => None,
        Some(node) => {
            let k = Fields::of(ctx, &f.path_of("encryptionKey"), node, "an encryption key (id, type)")?;
            k.check_known(ctx, &KEY)?;
            Some(EncryptionKey {
                id: k.req_string(ctx, "id", "a key id")?,
                key_type: k.req_string(ctx, "type", "KMS")?,
            })
        }
    };
    Ok(ArtifactStore { store_type, location: f.req_string(ctx, "location", "a bucket name")?, encryption_key })
}

fn stage(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<StageDeclaration, PipelineError> {
    let f = Fields::of(ctx, path, node, "a stage (name, actions)")?;
    f.refuse(ctx, "blockers", "stage `blockers` are reserved by CodePipeline and not supported by ferry; remove them")?;
    for key in ["beforeEntry", "onSuccess"] {
        f.refuse(ctx, key, &format!("stage conditions (`{key}`) are not supported by ferry yet; remove `{key}`"))?;
    }
    f.check_known(ctx, &STAGE)?;
    let name = f.req_string(ctx, "name", "the stage's name")?;
    let actions_node = f.require(ctx, "actions", "a list of actions")?;
    let mut actions = Vec::new();
    let actions_path = f.path_of("actions");
    for (i, item) in items(ctx, &actions_path, actions_node, "a list of actions")?.iter().enumerate() {
        actions.push(action(ctx, &index(&actions_path, i), item)?);
    }
    let on_failure = match f.get("onFailure") {
        None => None,
        Some(node) => {
            let o = Fields::of(ctx, &f.path_of("onFailure"), node, "a mapping with result and retryConfiguration")?;
            o.refuse(ctx, "conditions", "stage conditions (`onFailure.conditions`) are not supported by ferry yet")?;
            o.check_known(ctx, &ON_FAILURE)?;
            let result = o.opt_enum(
                ctx,
                "result",
                &[
                    ("ROLLBACK", StageFailureResult::Rollback),
                    ("FAIL", StageFailureResult::Fail),
                    ("RETRY", StageFailureResult::Retry),
                ],
            )?;
            let retry_configuration = match o.get("retryConfiguration") {
                None => None,
                Some(node) => {
                    let r = Fields::of(ctx, &o.path_of("retryConfiguration"), node, "a mapping with retryMode")?;
                    r.check_known(ctx, &["retryMode"])?;
                    let retry_mode = r.opt_enum(
                        ctx,
                        "retryMode",
                        &[("FAILED_ACTIONS", RetryMode::FailedActions), ("ALL_ACTIONS", RetryMode::AllActions)],
                    )?;
                    Some(RetryConfiguration { retry_mode })
                }
            };
            Some(FailureConditions { result, retry_configuration })
        }
    };
    Ok(StageDeclaration { name, actions, on_failure })
}

fn action(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<ActionDeclaration, PipelineError> {
    let f = Fields::of(ctx, path, node, "an action (name, actionTypeId, configuration, ...)")?;
    for key in ["commands", "outputVariables", "environmentVariables"] {
        f.refuse(ctx, key, &format!("`{key}` belongs to the Compute category's Commands action, which ferry does not run; use a CodeBuild action"))?;
    }
    f.check_known(ctx, &ACTION)?;
    let type_node = f.require(ctx, "actionTypeId", "a mapping with category, owner, provider and version")?;
    let t =
        Fields::of(ctx, &f.path_of("actionTypeId"), type_node, "a mapping with category, owner, provider and version")?;
    t.check_known(ctx, &TYPE_ID)?;
    let categories: Vec<(&str, Category)> = Category::ALL.iter().map(|c| (c.as_str(), *c)).collect();
    let owners: Vec<(&str, Owner)> = Owner::ALL.iter().map(|o| (o.as_str(), *o)).collect();
    let action_type_id = ActionTypeId {
        category: t.req_enum(ctx, "category", &categories)?,
        owner: t.req_enum(ctx, "owner", &owners)?,
        provider: t.req_string(ctx, "provider", "a provider such as CodeBuild")?,
        version: t.req_string(ctx, "version", "the action type's version, such as 1")?,
    };
    let mut configuration = BTreeMap::new();
    if let Some(node) = f.get("configuration") {
        let c = Fields::of(ctx, &f.path_of("configuration"), node, "a mapping of configuration names to values")?;
        for (key, value) in c.entries {
            let text = match &value.value {
                Value::Scalar(s) if s.resolved == Resolved::Null => {
                    return Err(ctx.at(
                        &c.path_of(&key.text),
                        value,
                        format!("expected a value, got {}; leave the key out instead", describe(value)),
                    ));
                }
                Value::Scalar(s) if s.text.contains('\0') => {
                    return Err(ctx.at(&c.path_of(&key.text), value, "expected text without a NUL character"));
                }
                Value::Scalar(s) => s.text.clone(),
                _ => {
                    return Err(ctx.at(
                        &c.path_of(&key.text),
                        value,
                        format!("expected a single value (text), got {}; configuration values are strings (write JSON as a quoted string)", describe(value)),
                    ));
                }
            };
            configuration.insert(key.text.clone(), text);
        }
    }
    Ok(ActionDeclaration {
        name: f.req_string(ctx, "name", "the action's name")?,
        action_type_id,
        run_order: f.opt_number(ctx, "runOrder", 1, 999)?.unwrap_or(1),
        configuration,
        output_artifacts: artifacts(ctx, &f, "outputArtifacts")?,
        input_artifacts: artifacts(ctx, &f, "inputArtifacts")?,
        role_arn: f.opt_string(ctx, "roleArn", "a role ARN")?,
        region: f.opt_string(ctx, "region", "a region name")?,
        namespace: f.opt_string(ctx, "namespace", "a namespace name")?,
        timeout_in_minutes: f.opt_number(ctx, "timeoutInMinutes", 5, 86_400)?,
    })
}

fn artifacts(ctx: &Ctx<'_>, f: &Fields<'_>, name: &str) -> Result<Vec<Artifact>, PipelineError> {
    let Some(node) = f.get(name) else { return Ok(Vec::new()) };
    let path = f.path_of(name);
    let mut out = Vec::new();
    for (i, item) in items(ctx, &path, node, "a list of artifacts ({name: ...})")?.iter().enumerate() {
        let a = Fields::of(ctx, &index(&path, i), item, "an artifact ({name: ...})")?;
        a.refuse(ctx, "files", "`files` belongs to the Compute category's Commands action, which ferry does not run")?;
        a.check_known(ctx, &["name"])?;
        out.push(Artifact { name: a.req_string(ctx, "name", "the artifact's name")? });
    }
    Ok(out)
}

fn trigger(ctx: &Ctx<'_>, path: &str, node: &Node) -> Result<TriggerDeclaration, PipelineError> {
    let f = Fields::of(ctx, path, node, "a trigger (providerType, gitConfiguration)")?;
    f.check_known(ctx, &TRIGGER)?;
    let provider_type = f.req_string(ctx, "providerType", "CodeStarSourceConnection")?;
    let g_node = f.require(ctx, "gitConfiguration", "a mapping with sourceActionName, push and pullRequest")?;
    let g = Fields::of(
        ctx,
        &f.path_of("gitConfiguration"),
        g_node,
        "a mapping with sourceActionName, push and pullRequest",
    )?;
    g.check_known(ctx, &GIT)?;
    let mut push = Vec::new();
    if let Some(node) = g.get("push") {
        let p = g.path_of("push");
        for (i, item) in items(ctx, &p, node, "a list of push filters")?.iter().enumerate() {
            let pf = Fields::of(ctx, &index(&p, i), item, "a push filter (branches, tags, filePaths)")?;
            pf.check_known(ctx, &PUSH)?;
            push.push(GitPushFilter {
                tags: criteria(ctx, &pf, "tags")?,
                branches: criteria(ctx, &pf, "branches")?,
                file_paths: criteria(ctx, &pf, "filePaths")?,
            });
        }
    }
    let mut pull_request = Vec::new();
    if let Some(node) = g.get("pullRequest") {
        let p = g.path_of("pullRequest");
        for (i, item) in items(ctx, &p, node, "a list of pull-request filters")?.iter().enumerate() {
            let pf = Fields::of(ctx, &index(&p, i), item, "a pull-request filter (events, branches, filePaths)")?;
            pf.check_known(ctx, &PULL)?;
            let mut events = Vec::new();
            if let Some(node) = pf.get("events") {
                let ep = pf.path_of("events");
                for (j, e) in items(ctx, &ep, node, "a list of OPEN, UPDATED, CLOSED")?.iter().enumerate() {
                    events.push(enum_value(
                        ctx,
                        &index(&ep, j),
                        e,
                        &[
                            ("OPEN", PullRequestEvent::Open),
                            ("UPDATED", PullRequestEvent::Updated),
                            ("CLOSED", PullRequestEvent::Closed),
                        ],
                    )?);
                }
            }
            pull_request.push(GitPullRequestFilter {
                events,
                branches: criteria(ctx, &pf, "branches")?,
                file_paths: criteria(ctx, &pf, "filePaths")?,
            });
        }
    }
    Ok(TriggerDeclaration {
        provider_type,
        git_configuration: GitConfiguration {
            source_action_name: g.req_string(ctx, "sourceActionName", "the name of the source action it starts")?,
            push,
            pull_request,
        },
    })
}

fn criteria(ctx: &Ctx<'_>, f: &Fields<'_>, name: &str) -> Result<Option<IncludeExclude>, PipelineError> {
    let Some(node) = f.get(name) else { return Ok(None) };
    let c = Fields::of(ctx, &f.path_of(name), node, "a mapping with includes and excludes")?;
    c.check_known(ctx, &CRITERIA)?;
    let mut out = IncludeExclude::default();
    for (key, list) in [("includes", &mut out.includes), ("excludes", &mut out.excludes)] {
        if let Some(node) = c.get(key) {
            let p = c.path_of(key);
            for (i, item) in items(ctx, &p, node, "a list of glob patterns")?.iter().enumerate() {
                list.push(string(ctx, &index(&p, i), item, "a glob pattern")?);
            }
        }
    }
    Ok(Some(out))
}

/// The line of the node at `path` (`stages[1].actions[0].runOrder`), or of
/// the deepest node on the way that exists.
fn line_of(root: &Node, path: &str) -> Option<usize> {
    let mut node = root;
    let mut line = root.line;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, indexes) = match segment.find('[') {
            Some(at) => (&segment[..at], &segment[at..]),
            None => (segment, ""),
        };
        if !name.is_empty() {
            let Value::Map(entries) = &node.value else { return Some(line) };
            let Some((key, value)) = entries.iter().find(|(k, _)| k.text == name) else { return Some(line) };
            line = key.line;
            node = value;
        }
        for i in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            let (Ok(i), Value::Seq(items)) = (i.parse::<usize>(), &node.value) else { return Some(line) };
            let Some(item) = items.get(i) else { return Some(line) };
            line = item.line;
            node = item;
        }
    }
    Some(line)
}

// ------------------------------------------------------------------ helpers

/// Attaches the file name to errors.
struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, key: &str, line: Option<usize>, message: impl Into<String>) -> PipelineError {
        PipelineError {
            file: self.file.to_owned(),
            problems: vec![Problem { key: truncate(key, 200), message: truncate(&message.into(), 1000), line }],
        }
    }

    fn at(&self, key: &str, node: &Node, message: impl Into<String>) -> PipelineError {
        self.err(key, Some(node.line), message)
    }

    fn expected(&self, key: &str, node: &Node, expected: &str) -> PipelineError {
        self.at(key, node, format!("expected {expected}, got {}", describe(node)))
    }
}

/// A mapping being read, with its key path.
struct Fields<'n> {
    path: String,
    line: usize,
    entries: &'n [(Key, Node)],
}

impl<'n> Fields<'n> {
    fn of(ctx: &Ctx<'_>, path: &str, node: &'n Node, expected: &str) -> Result<Self, PipelineError> {
        match &node.value {
            Value::Map(entries) => Ok(Self { path: path.to_owned(), line: node.line, entries }),
            _ => Err(ctx.expected(path, node, expected)),
        }
    }

    fn path_of(&self, name: &str) -> String {
        child(&self.path, name)
    }

    fn check_known(&self, ctx: &Ctx<'_>, known: &[&str]) -> Result<(), PipelineError> {
        for (key, _) in self.entries {
            if known.contains(&key.text.as_str()) {
                continue;
            }
            let hint = suggestion(&key.text, known).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
            return Err(ctx.err(
                &self.path_of(&key.text),
                Some(key.line),
                format!("unknown key `{}`{hint}; expected one of: {}", key.text, known.join(", ")),
            ));
        }
        Ok(())
    }

    /// Refuses a key CodePipeline has but ferry does not support.
    fn refuse(&self, ctx: &Ctx<'_>, name: &str, message: &str) -> Result<(), PipelineError> {
        match self.entries.iter().find(|(k, _)| k.text == name) {
            Some((key, _)) => Err(ctx.err(&self.path_of(name), Some(key.line), message)),
            None => Ok(()),
        }
    }

    fn entry(&self, name: &str) -> Option<(&'n Key, &'n Node)> {
        self.entries.iter().find(|(k, _)| k.text == name).map(|(k, v)| (k, v))
    }

    /// The value of `name`; a null value counts as absent.
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entry(name).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    fn require(&self, ctx: &Ctx<'_>, name: &str, expected: &str) -> Result<&'n Node, PipelineError> {
        match self.entry(name) {
            Some((_, v)) if !v.is_null() => Ok(v),
            Some((k, v)) => {
                Err(ctx.err(&self.path_of(name), Some(k.line), format!("expected {expected}, got {}", describe(v))))
            }
            None => Err(ctx.err(
                &self.path_of(name),
                Some(self.line),
                format!("missing required key `{name}`; expected {expected}"),
            )),
        }
    }

    fn req_string(&self, ctx: &Ctx<'_>, name: &str, expected: &str) -> Result<String, PipelineError> {
        string(ctx, &self.path_of(name), self.require(ctx, name, expected)?, expected)
    }

    fn opt_string(&self, ctx: &Ctx<'_>, name: &str, expected: &str) -> Result<Option<String>, PipelineError> {
        self.get(name).map(|n| string(ctx, &self.path_of(name), n, expected)).transpose()
    }

    fn opt_number(&self, ctx: &Ctx<'_>, name: &str, min: u32, max: u32) -> Result<Option<u32>, PipelineError> {
        let Some(node) = self.get(name) else { return Ok(None) };
        let expected = if max == u32::MAX {
            format!("a whole number of at least {min}")
        } else {
            format!("a whole number from {min} to {max}")
        };
        match &node.value {
            Value::Scalar(s) => match s.resolved {
                Resolved::Int(i) if i >= i64::from(min) && i <= i64::from(max) => Ok(Some(i as u32)),
                _ => Err(ctx.expected(&self.path_of(name), node, &expected)),
            },
            _ => Err(ctx.expected(&self.path_of(name), node, &expected)),
        }
    }

    fn opt_enum<T: Copy>(&self, ctx: &Ctx<'_>, name: &str, choices: &[(&str, T)]) -> Result<Option<T>, PipelineError> {
        self.get(name).map(|n| enum_value(ctx, &self.path_of(name), n, choices)).transpose()
    }

    fn req_enum<T: Copy>(&self, ctx: &Ctx<'_>, name: &str, choices: &[(&str, T)]) -> Result<T, PipelineError> {
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let node = self.require(ctx, name, &one_of(&names))?;
        enum_value(ctx, &self.path_of(name), node, choices)
    }
}

fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// One of CodePipeline's spellings, exactly (with the one probably meant).
fn enum_value<T: Copy>(ctx: &Ctx<'_>, path: &str, node: &Node, choices: &[(&str, T)]) -> Result<T, PipelineError> {
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let text = string(ctx, path, node, &one_of(&names))?;
    if let Some((_, v)) = choices.iter().find(|(n, _)| *n == text) {
        return Ok(*v);
    }
    let hint = suggestion(&text, &names).map(|s| format!(" (did you mean {s}?)")).unwrap_or_default();
    Err(ctx.at(path, node, format!("expected {}, got {:?}{hint}", one_of(&names), truncate(&text, 60))))
}

/// A list (a single mapping or scalar is not taken as a one-item list:
/// CodePipeline's JSON always has lists here).
fn items<'n>(ctx: &Ctx<'_>, path: &str, node: &'n Node, expected: &str) -> Result<&'n [Node], PipelineError> {
    match &node.value {
        Value::Seq(items) => Ok(items),
        _ => Err(ctx.expected(path, node, expected)),
    }
}

/// A scalar's text as written; numbers are fine (`version: 1`); booleans,
/// nulls, lists, mappings, blank text and NUL characters are errors.
fn string(ctx: &Ctx<'_>, path: &str, node: &Node, expected: &str) -> Result<String, PipelineError> {
    match &node.value {
        Value::Scalar(s) if matches!(s.resolved, Resolved::Str | Resolved::Int(_) | Resolved::Float(_)) => {
            if s.text.trim().is_empty() {
                Err(ctx.expected(path, node, expected))
            } else if s.text.contains('\0') {
                Err(ctx.at(path, node, format!("expected {expected}, got text containing a NUL character")))
            } else {
                Ok(s.text.clone())
            }
        }
        _ => Err(ctx.expected(path, node, expected)),
    }
}

#[cfg(test)]
mod tests;
