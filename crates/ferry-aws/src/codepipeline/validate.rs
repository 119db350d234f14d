//! CodePipeline's rules for request members, with CodePipeline's exception
//! names.
//!
//! botocore checks only required members and minimums on the client side
//! and other clients check nothing, so [`Request::validate`] checks every
//! member as CodePipeline does before a handler reads it:
//! - every constraint of the model (required members, lengths of strings,
//!   lists and maps, ranges, patterns, enums), read from
//!   `codepipeline-model-inputs.json` (botocore's, held to it by
//!   `crates/ferry/tests/aws/codepipeline_model.py`) and walked over the
//!   decoded input, so no member is forgotten: `ValidationException` with
//!   "N validation error(s) detected: Value … at '…' failed to satisfy
//!   constraint: …", members of lists named `stages.1.member.name` as AWS
//!   names them;
//! - CodePipeline's rules for a pipeline's structure ([`pipeline_structure`]:
//!   `InvalidStructureException`, `InvalidStageDeclarationException`,
//!   `InvalidActionDeclarationException`, `InvalidBlockerDeclarationException`,
//!   `LimitExceededException`) and for tags (`InvalidTagsException`,
//!   `TooManyTagsException`, `InvalidArnException`).
//!
//! Whether a named pipeline, execution, stage, action or job exists, and
//! whether ferry can run what a declaration asks for (its providers,
//! regions, stage conditions), is the handler's question; the constructors
//! below ([`pipeline_not_found`], …) give their exception names.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use super::wire::*;
use super::{Operation, Request, arn};
use crate::{AwsError, AwsResult};

// ---------------------------------------------------------------- the model

/// `codepipeline-model-inputs.json`: each operation's input shape and
/// declared exceptions, and every shape reachable from the inputs.
#[derive(Debug, Deserialize)]
struct Model {
    operations: BTreeMap<String, OperationModel>,
    shapes: BTreeMap<String, Shape>,
}

#[derive(Debug, Deserialize)]
struct OperationModel {
    input: String,
    errors: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Shape {
    #[serde(rename = "type")]
    kind: String,
    min: Option<i64>,
    max: Option<i64>,
    pattern: Option<String>,
    #[serde(rename = "enum")]
    values: Option<Vec<String>>,
    #[serde(default)]
    members: BTreeMap<String, String>,
    #[serde(default)]
    required: Vec<String>,
    member: Option<String>,
    key: Option<String>,
    value: Option<String>,
    /// `pattern`, anchored (the model's patterns match whole values).
    #[serde(skip)]
    regex: Option<Regex>,
}

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut model: Model = serde_json::from_str(include_str!("../../codepipeline-model-inputs.json"))
            .expect("codepipeline-model-inputs.json is valid");
        for shape in model.shapes.values_mut() {
            shape.regex = shape.pattern.as_ref().map(|p| {
                Regex::new(&format!("^(?:{p})$")).unwrap_or_else(|e| panic!("the model's pattern {p:?}: {e}"))
            });
        }
        model
    })
}

/// The exceptions the model declares for `op`.
pub fn declared_errors(op: Operation) -> &'static [String] {
    model().operations.get(op.name()).map_or(&[], |o| o.errors.as_slice())
}

/// Every model enum by its shape name (for the domain conversion and tests).
pub fn model_enum(shape: &str) -> Option<&'static [String]> {
    model().shapes.get(shape)?.values.as_deref()
}

/// The model's violations of `value` (the JSON of an input) against `shape`.
struct Walk {
    problems: Vec<String>,
}

/// How a value shows in a message: strings as they are, the rest as JSON,
/// both cut short.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 200 { format!("{}…", text.chars().take(200).collect::<String>()) } else { text }
}

fn join(path: &str, member: &str) -> String {
    if path.is_empty() { member.to_string() } else { format!("{path}.{member}") }
}

impl Walk {
    fn fail(&mut self, value: Option<&Value>, path: &str, rule: &str) {
        let value = value.map_or_else(|| "null".to_string(), |v| format!("'{}'", shown(v)));
        self.problems.push(format!("Value {value} at '{path}' failed to satisfy constraint: {rule}"));
    }

    /// The rules a string or number breaks.
    fn rules(shape: &Shape, value: &Value) -> Vec<String> {
        let mut broken = Vec::new();
        match (shape.kind.as_str(), value) {
            ("string", Value::String(s)) => {
                let len = i64::try_from(s.chars().count()).unwrap_or(i64::MAX);
                if let Some(min) = shape.min.filter(|&min| len < min) {
                    broken.push(format!("Member must have length greater than or equal to {min}"));
                }
                if let Some(max) = shape.max.filter(|&max| len > max) {
                    broken.push(format!("Member must have length less than or equal to {max}"));
                }
                if let (Some(regex), Some(pattern)) = (&shape.regex, &shape.pattern)
                    && !regex.is_match(s)
                {
                    broken.push(format!("Member must satisfy regular expression pattern: {pattern}"));
                }
                if let Some(values) = shape.values.as_ref().filter(|v| !v.contains(s)) {
                    broken.push(format!("Member must satisfy enum value set: [{}]", values.join(", ")));
                }
            }
            ("integer" | "long", Value::Number(n)) => {
                let n = n.as_i64().unwrap_or(i64::MAX);
                if let Some(min) = shape.min.filter(|&min| n < min) {
                    broken.push(format!("Member must have value greater than or equal to {min}"));
                }
                if let Some(max) = shape.max.filter(|&max| n > max) {
                    broken.push(format!("Member must have value less than or equal to {max}"));
                }
            }
            _ => {}
        }
        broken
    }

    fn count(&mut self, shape: &Shape, count: usize, value: &Value, path: &str) {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        if let Some(min) = shape.min.filter(|&min| count < min) {
            self.fail(Some(value), path, &format!("Member must have length greater than or equal to {min}"));
        }
        if let Some(max) = shape.max.filter(|&max| count > max) {
            self.fail(Some(value), path, &format!("Member must have length less than or equal to {max}"));
        }
    }

    fn check(&mut self, shape_name: &str, value: &Value, path: &str) {
        let model = model();
        let Some(shape) = model.shapes.get(shape_name) else { return };
        match (shape.kind.as_str(), value) {
            ("structure", Value::Object(members)) => {
                for required in &shape.required {
                    if members.get(required).is_none_or(Value::is_null) {
                        self.fail(None, &join(path, required), "Member must not be null");
                    }
                }
                for (name, member) in members {
                    if let (Some(member_shape), false) = (shape.members.get(name), member.is_null()) {
                        self.check(member_shape, member, &join(path, name));
                    }
                }
            }
            ("list", Value::Array(items)) => {
                self.count(shape, items.len(), value, path);
                let member = shape.member.as_deref().unwrap_or_default();
                for (i, item) in items.iter().enumerate() {
                    self.check(member, item, &format!("{path}.{}.member", i + 1));
                }
            }
            ("map", Value::Object(entries)) => {
                self.count(shape, entries.len(), value, path);
                let key_shape = shape.key.as_deref().and_then(|k| model.shapes.get(k));
                let value_name = shape.value.as_deref().unwrap_or_default();
                let value_shape = model.shapes.get(value_name);
                for (key, entry) in entries {
                    let key_value = Value::String(key.clone());
                    if let Some(broken) = key_shape.map(|s| Self::rules(s, &key_value)).filter(|b| !b.is_empty()) {
                        self.fail(
                            Some(&key_value),
                            path,
                            &format!("Map keys must satisfy constraint: [{}]", broken.join(", ")),
                        );
                    }
                    match value_shape {
                        Some(s) if s.kind == "structure" || s.kind == "list" || s.kind == "map" => {
                            self.check(value_name, entry, &join(path, key));
                        }
                        Some(s) => {
                            let broken = Self::rules(s, entry);
                            if !broken.is_empty() {
                                self.fail(
                                    Some(entry),
                                    path,
                                    &format!("Map value must satisfy constraint: [{}]", broken.join(", ")),
                                );
                            }
                        }
                        None => {}
                    }
                }
            }
            ("string" | "integer" | "long", _) => {
                for rule in Self::rules(shape, value) {
                    self.fail(Some(value), path, &rule);
                }
            }
            _ => {}
        }
    }
}

/// Checks `input` (an input's JSON) against the model's shape `shape`.
fn model_constraints(shape: &str, input: &Value) -> AwsResult<()> {
    let mut walk = Walk { problems: Vec::new() };
    walk.check(shape, input, "");
    match walk.problems.len() {
        0 => Ok(()),
        1 => Err(validation(format!("1 validation error detected: {}", walk.problems[0]))),
        n => Err(validation(format!("{n} validation errors detected: {}", walk.problems.join("; ")))),
    }
}

// ---------------------------------------------------------------- errors

/// A model constraint or a rule of a request's members.
pub fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new("ValidationException", message)
}

/// A pipeline's structure breaks CodePipeline's rules.
pub fn invalid_structure(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidStructureException", message)
}

pub fn invalid_stage(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidStageDeclarationException", message)
}

/// An action CodePipeline (or ferry) cannot run as declared: an unknown
/// provider, a configuration it does not take.
pub fn invalid_action(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidActionDeclarationException", message)
}

pub fn invalid_blocker(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidBlockerDeclarationException", message)
}

pub fn limit_exceeded(message: impl Into<String>) -> AwsError {
    AwsError::new("LimitExceededException", message)
}

pub fn pipeline_not_found(name: &str) -> AwsError {
    AwsError::new("PipelineNotFoundException", format!("No pipeline with name '{name}'"))
}

pub fn pipeline_name_in_use(name: &str) -> AwsError {
    AwsError::new("PipelineNameInUseException", format!("A pipeline with name '{name}' already exists"))
}

pub fn pipeline_version_not_found(name: &str, version: i64) -> AwsError {
    AwsError::new("PipelineVersionNotFoundException", format!("Pipeline '{name}' has no version {version}"))
}

pub fn execution_not_found(pipeline: &str, id: &str) -> AwsError {
    AwsError::new(
        "PipelineExecutionNotFoundException",
        format!("Pipeline execution '{id}' of pipeline '{pipeline}' does not exist"),
    )
}

pub fn stage_not_found(pipeline: &str, stage: &str) -> AwsError {
    AwsError::new("StageNotFoundException", format!("Pipeline '{pipeline}' has no stage '{stage}'"))
}

pub fn action_not_found(stage: &str, action: &str) -> AwsError {
    AwsError::new("ActionNotFoundException", format!("Stage '{stage}' has no action '{action}'"))
}

/// The approval token is not that of the action's current approval.
pub fn invalid_approval_token(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidApprovalTokenException", message)
}

pub fn approval_already_completed(message: impl Into<String>) -> AwsError {
    AwsError::new("ApprovalAlreadyCompletedException", message)
}

pub fn stage_not_retryable(message: impl Into<String>) -> AwsError {
    AwsError::new("StageNotRetryableException", message)
}

pub fn not_latest_execution(message: impl Into<String>) -> AwsError {
    AwsError::new("NotLatestPipelineExecutionException", message)
}

/// A change that conflicts with one in progress (CodePipeline's
/// `ConflictException`: another retry, stop or start of the same thing).
pub fn conflict(message: impl Into<String>) -> AwsError {
    AwsError::new("ConflictException", message)
}

pub fn execution_not_stoppable(message: impl Into<String>) -> AwsError {
    AwsError::new("PipelineExecutionNotStoppableException", message)
}

pub fn duplicated_stop(message: impl Into<String>) -> AwsError {
    AwsError::new("DuplicatedStopRequestException", message)
}

pub fn concurrent_executions_limit(message: impl Into<String>) -> AwsError {
    AwsError::new("ConcurrentPipelineExecutionsLimitExceededException", message)
}

pub fn action_type_not_found(message: impl Into<String>) -> AwsError {
    AwsError::new("ActionTypeNotFoundException", message)
}

pub fn job_not_found(id: &str) -> AwsError {
    AwsError::new("JobNotFoundException", format!("Job '{id}' does not exist"))
}

pub fn invalid_nonce(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidNonceException", message)
}

/// A job result for a job that is not in progress (already finished, or
/// not acknowledged).
pub fn invalid_job_state(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidJobStateException", message)
}

pub fn output_variables_too_large(message: impl Into<String>) -> AwsError {
    AwsError::new("OutputVariablesSizeExceededException", message)
}

/// The tagged resource does not exist.
pub fn resource_not_found(arn: &str) -> AwsError {
    AwsError::new("ResourceNotFoundException", format!("The resource {arn} does not exist"))
}

pub fn invalid_arn(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidArnException", message)
}

pub fn invalid_tags(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidTagsException", message)
}

pub fn too_many_tags(message: impl Into<String>) -> AwsError {
    AwsError::new("TooManyTagsException", message)
}

// ---------------------------------------------------------------- CodePipeline's rules

/// Tags a resource may have.
pub const TAG_LIMIT: usize = 50;
/// Actions a pipeline may have, and actions a stage may run in parallel
/// (one runOrder) or in sequence (distinct runOrders).
pub const PIPELINE_ACTION_LIMIT: usize = 500;
pub const STAGE_PARALLEL_LIMIT: usize = 50;
pub const STAGE_SEQUENTIAL_LIMIT: usize = 50;

/// Tags: unique keys, none of AWS's own (`aws:`), at most [`TAG_LIMIT`]
/// (`existing` more keys are already on the resource).
pub fn tags(tags: &[Tag], existing: usize) -> AwsResult<()> {
    let mut keys = BTreeSet::new();
    for tag in tags {
        let key = tag.key.as_deref().unwrap_or_default();
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_tags(format!("Tag key '{key}': keys starting with 'aws:' are reserved for AWS")));
        }
        if !keys.insert(key) {
            return Err(invalid_tags(format!("Tag key '{key}' is given twice")));
        }
    }
    if keys.len() + existing > TAG_LIMIT {
        return Err(too_many_tags(format!(
            "A resource has at most {TAG_LIMIT} tags ({} requested)",
            keys.len() + existing
        )));
    }
    Ok(())
}

/// Whether a pipeline declaration is V2 (the default is V1).
fn is_v2(p: &PipelineDeclaration) -> bool {
    p.pipeline_type.as_deref() == Some("V2")
}

fn name_of(name: &Option<String>) -> &str {
    name.as_deref().unwrap_or_default()
}

/// CodePipeline's rules for a pipeline's structure, beyond the model's
/// constraints (which [`Request::validate`] checks first):
/// - one artifact store: `artifactStore` or per-region `artifactStores`;
/// - at least two stages, with unique names; each stage 1–50 actions in
///   parallel and at most 50 run orders, with unique names; blockers with
///   unique names; at most 500 actions in all;
/// - Source actions in the first stage only, and only Source actions there;
///   a Source action takes no input artifacts;
/// - output artifact names unique in the pipeline; every input artifact the
///   output of an earlier action (an earlier stage, or a lower runOrder in
///   the same stage); action namespaces unique;
/// - V2 features (variables, triggers, QUEUED and PARALLEL modes, stage
///   conditions) only with `pipelineType` V2; variable names unique;
///   triggers on a Source action of the pipeline, each push filter on
///   branches or tags (file paths with branches), each pull-request filter
///   on branches.
pub fn pipeline_structure(p: &PipelineDeclaration) -> AwsResult<()> {
    match (&p.artifact_store, &p.artifact_stores) {
        (None, None) => {
            return Err(invalid_structure("The pipeline needs an artifactStore (or per-region artifactStores)"));
        }
        (Some(_), Some(_)) => {
            return Err(invalid_structure("artifactStore and artifactStores cannot both be given"));
        }
        _ => {}
    }
    let stages = p.stages.as_deref().unwrap_or_default();
    if stages.len() < 2 {
        return Err(invalid_structure(format!(
            "Pipeline has only {} stage(s). There should be a minimum of 2 stages in a pipeline",
            stages.len()
        )));
    }
    let mut stage_names = BTreeSet::new();
    let mut produced: BTreeSet<&str> = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    let mut source_actions = BTreeSet::new();
    let mut total_actions = 0;
    for (index, stage) in stages.iter().enumerate() {
        let stage_name = name_of(&stage.name);
        if !stage_names.insert(stage_name) {
            return Err(invalid_structure(format!("Stage name '{stage_name}' is not unique in the pipeline")));
        }
        let mut blockers = BTreeSet::new();
        for blocker in stage.blockers.as_deref().unwrap_or_default() {
            let name = name_of(&blocker.name);
            if !blockers.insert(name) {
                return Err(invalid_blocker(format!("Blocker name '{name}' is not unique in stage '{stage_name}'")));
            }
        }
        let actions = stage.actions.as_deref().unwrap_or_default();
        if actions.is_empty() {
            return Err(invalid_stage(format!("Stage '{stage_name}' has no actions; a stage needs at least one")));
        }
        total_actions += actions.len();
        let mut by_run_order: BTreeMap<i64, Vec<&ActionDeclaration>> = BTreeMap::new();
        let mut action_names = BTreeSet::new();
        for action in actions {
            let name = name_of(&action.name);
            if !action_names.insert(name) {
                return Err(invalid_structure(format!("Action name '{name}' is not unique in stage '{stage_name}'")));
            }
            by_run_order.entry(action.run_order.unwrap_or(1)).or_default().push(action);
        }
        if let Some((order, parallel)) = by_run_order.iter().find(|(_, a)| a.len() > STAGE_PARALLEL_LIMIT) {
            return Err(invalid_stage(format!(
                "Stage '{stage_name}' runs {} actions with runOrder {order}; at most {STAGE_PARALLEL_LIMIT} run in parallel",
                parallel.len()
            )));
        }
        if by_run_order.len() > STAGE_SEQUENTIAL_LIMIT {
            return Err(invalid_stage(format!(
                "Stage '{stage_name}' has {} run orders; at most {STAGE_SEQUENTIAL_LIMIT} actions run in sequence",
                by_run_order.len()
            )));
        }
        // Artifacts flow by run order: an action sees what earlier stages and
        // lower run orders of its own stage produced.
        for group in by_run_order.values() {
            for action in group {
                action_structure(action, stage_name, index == 0, &produced, &mut namespaces)?;
                if action.action_type_id.as_ref().and_then(|t| t.category.as_deref()) == Some("Source") {
                    source_actions.insert(name_of(&action.name));
                }
            }
            for action in group {
                for artifact in action.output_artifacts.as_deref().unwrap_or_default() {
                    let name = name_of(&artifact.name);
                    if !produced.insert(name) {
                        return Err(invalid_structure(format!(
                            "Output artifact name '{name}' is not unique in the pipeline"
                        )));
                    }
                }
            }
        }
        if !is_v2(p) && (stage.on_failure.is_some() || stage.on_success.is_some() || stage.before_entry.is_some()) {
            return Err(invalid_structure(format!(
                "Stage '{stage_name}': stage conditions (onFailure, onSuccess, beforeEntry) need pipelineType V2"
            )));
        }
    }
    if total_actions > PIPELINE_ACTION_LIMIT {
        return Err(limit_exceeded(format!(
            "The pipeline has {total_actions} actions; a pipeline has at most {PIPELINE_ACTION_LIMIT}"
        )));
    }
    v2_features(p, &source_actions)
}

fn action_structure<'a>(
    action: &'a ActionDeclaration,
    stage: &str,
    first_stage: bool,
    produced: &BTreeSet<&str>,
    namespaces: &mut BTreeSet<&'a str>,
) -> AwsResult<()> {
    let name = name_of(&action.name);
    let is_source = action.action_type_id.as_ref().and_then(|t| t.category.as_deref()) == Some("Source");
    if first_stage && !is_source {
        return Err(invalid_structure(format!(
            "Action '{name}' in stage '{stage}': the first stage holds only Source actions"
        )));
    }
    if !first_stage && is_source {
        return Err(invalid_structure(format!(
            "Action '{name}' in stage '{stage}': Source actions belong in the first stage only"
        )));
    }
    let inputs = action.input_artifacts.as_deref().unwrap_or_default();
    if is_source && !inputs.is_empty() {
        return Err(invalid_action(format!("Source action '{name}' cannot take input artifacts")));
    }
    let mut seen = BTreeSet::new();
    for input in inputs {
        let artifact = name_of(&input.name);
        if !seen.insert(artifact) {
            return Err(invalid_structure(format!("Action '{name}' names input artifact '{artifact}' twice")));
        }
        if !produced.contains(artifact) {
            return Err(invalid_structure(format!(
                "Input artifact '{artifact}' of action '{name}' in stage '{stage}' is not the output of an \
                 earlier action (an earlier stage, or a lower runOrder in this stage)"
            )));
        }
    }
    if let Some(namespace) = action.namespace.as_deref()
        && !namespaces.insert(namespace)
    {
        return Err(invalid_structure(format!("Namespace '{namespace}' is used by more than one action")));
    }
    Ok(())
}

fn v2_features(p: &PipelineDeclaration, source_actions: &BTreeSet<&str>) -> AwsResult<()> {
    let variables = p.variables.as_deref().unwrap_or_default();
    let triggers = p.triggers.as_deref().unwrap_or_default();
    let mode = p.execution_mode.as_deref().unwrap_or("SUPERSEDED");
    if !is_v2(p) {
        let feature = if !variables.is_empty() {
            Some("pipeline variables")
        } else if !triggers.is_empty() {
            Some("triggers")
        } else if mode != "SUPERSEDED" {
            Some("the QUEUED and PARALLEL execution modes")
        } else {
            None
        };
        if let Some(feature) = feature {
            return Err(invalid_structure(format!("{feature} need pipelineType V2")));
        }
    }
    let mut names = BTreeSet::new();
    for variable in variables {
        let name = name_of(&variable.name);
        if !names.insert(name) {
            return Err(invalid_structure(format!("Pipeline variable '{name}' is declared twice")));
        }
    }
    for trigger in triggers {
        let Some(git) = &trigger.git_configuration else { continue };
        let source = name_of(&git.source_action_name);
        if !source_actions.contains(source) {
            return Err(invalid_structure(format!(
                "Trigger sourceActionName '{source}' is not a Source action of the pipeline"
            )));
        }
        for filter in git.push.as_deref().unwrap_or_default() {
            match (&filter.branches, &filter.tags) {
                (None, None) => {
                    return Err(invalid_structure(format!(
                        "A push filter of the trigger on '{source}' needs branches or tags"
                    )));
                }
                (Some(_), Some(_)) => {
                    return Err(invalid_structure(format!(
                        "A push filter of the trigger on '{source}' takes branches or tags, not both"
                    )));
                }
                (None, Some(_)) if filter.file_paths.is_some() => {
                    return Err(invalid_structure(format!(
                        "A push filter of the trigger on '{source}' takes filePaths only with branches"
                    )));
                }
                _ => {}
            }
        }
        for filter in git.pull_request.as_deref().unwrap_or_default() {
            if filter.branches.is_none() {
                return Err(invalid_structure(format!(
                    "A pull request filter of the trigger on '{source}' needs branches"
                )));
            }
        }
    }
    Ok(())
}

/// Names that must be unique in a list (StartPipelineExecution's variables
/// and source revisions).
fn unique<'a>(names: impl Iterator<Item = &'a str>, what: &str) -> AwsResult<()> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(validation(format!("{what} '{name}' is given twice")));
        }
    }
    Ok(())
}

fn resource_arn(value: &Option<String>) -> AwsResult<()> {
    arn::parse_resource(value.as_deref().unwrap_or_default()).map(drop)
}

impl Request {
    /// Checks the input as CodePipeline does, before the handler looks
    /// anything up: the model's constraints, then the operation's own rules.
    /// Every operation is listed, so a new one needs a decision.
    pub fn validate(&self) -> AwsResult<()> {
        let op = self.operation();
        // The model's name of the input shape (a unit test holds it to the
        // struct's, `Operation::input_shape`).
        let shape = model().operations.get(op.name()).map_or(op.input_shape(), |o| o.input.as_str());
        let result = model_constraints(shape, &self.input_value()).and_then(|()| self.rules());
        if let Err(e) = &result {
            debug_assert!(
                declared_errors(op).iter().any(|d| *d == e.code),
                "{} answered {}, which it does not declare",
                op.name(),
                e.code
            );
        }
        result
    }

    /// The operation's own rules; the model's constraints hold.
    fn rules(&self) -> AwsResult<()> {
        use Request::*;
        match self {
            CreatePipeline(i) => {
                pipeline_structure(i.pipeline.as_ref().unwrap_or(&PipelineDeclaration::default()))?;
                tags(i.tags.as_deref().unwrap_or_default(), 0)
            }
            UpdatePipeline(i) => pipeline_structure(i.pipeline.as_ref().unwrap_or(&PipelineDeclaration::default())),
            StartPipelineExecution(i) => {
                unique(i.variables.iter().flatten().map(|v| name_of(&v.name)), "Pipeline variable")?;
                unique(
                    i.source_revisions.iter().flatten().map(|r| name_of(&r.action_name)),
                    "Source revision of action",
                )
            }
            TagResource(i) => {
                resource_arn(&i.resource_arn)?;
                tags(i.tags.as_deref().unwrap_or_default(), 0)
            }
            UntagResource(i) => {
                resource_arn(&i.resource_arn)?;
                match i.tag_keys.iter().flatten().find(|k| k.to_ascii_lowercase().starts_with("aws:")) {
                    Some(key) => Err(invalid_tags(format!("Tag key '{key}' is reserved for AWS"))),
                    None => Ok(()),
                }
            }
            ListTagsForResource(i) => resource_arn(&i.resource_arn),
            AcknowledgeJob(_)
            | DeletePipeline(_)
            | DisableStageTransition(_)
            | EnableStageTransition(_)
            | GetJobDetails(_)
            | GetPipeline(_)
            | GetPipelineExecution(_)
            | GetPipelineState(_)
            | ListActionExecutions(_)
            | ListActionTypes(_)
            | ListPipelineExecutions(_)
            | ListPipelines(_)
            | PollForJobs(_)
            | PutApprovalResult(_)
            | PutJobFailureResult(_)
            | PutJobSuccessResult(_)
            | RetryStageExecution(_)
            | StopPipelineExecution(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UUID: &str = "0b1c2d3e-aaaa-4bbb-8ccc-123456789012";
    const ARN: &str = "arn:aws:codepipeline:us-east-1:000000000000:web";
    const ROLE: &str = "arn:aws:iam::000000000000:role/pipeline";

    fn action(name: &str, category: &str, provider: &str) -> Value {
        json!({
            "name": name,
            "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
        })
    }

    /// A V2 pipeline using every member of the declaration.
    fn pipeline() -> Value {
        let mut source = action("Source", "Source", "CodeCommit");
        source["configuration"] = json!({"RepositoryName": "web", "BranchName": "main"});
        source["outputArtifacts"] = json!([{"name": "src"}]);
        source["namespace"] = json!("SourceVariables");
        let mut build = action("Build", "Build", "CodeBuild");
        build["inputArtifacts"] = json!([{"name": "src"}]);
        build["outputArtifacts"] = json!([{"name": "bin", "files": ["app.zip"]}]);
        build["runOrder"] = json!(1);
        build["roleArn"] = json!(ROLE);
        build["region"] = json!("us-east-1");
        let mut check = action("Check", "Compute", "Commands");
        check["inputArtifacts"] = json!([{"name": "bin"}]);
        check["runOrder"] = json!(2);
        check["commands"] = json!(["make check"]);
        check["outputVariables"] = json!(["RESULT"]);
        check["environmentVariables"] = json!([{"name": "STAGE", "value": "test", "type": "PLAINTEXT"}]);
        check["timeoutInMinutes"] = json!(60);
        let mut approve = action("Approve", "Approval", "Manual");
        approve["configuration"] = json!({"CustomData": "ship #{SourceVariables.CommitId}?"});
        let mut deploy = action("Deploy", "Deploy", "CodeDeploy");
        deploy["inputArtifacts"] = json!([{"name": "bin"}]);
        deploy["runOrder"] = json!(2);
        let rule = json!({
            "name": "Window",
            "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "DeploymentWindow", "version": "1"},
            "configuration": {"Cron": "0 9 ? * MON-FRI *"},
            "commands": ["true"],
            "inputArtifacts": [{"name": "bin"}],
            "roleArn": ROLE,
            "region": "us-east-1",
            "timeoutInMinutes": 5,
        });
        json!({
            "name": "web",
            "roleArn": ROLE,
            "artifactStore": {"type": "S3", "location": "ferry-artifacts", "encryptionKey": {"id": "k", "type": "KMS"}},
            "stages": [
                {"name": "Source", "actions": [source]},
                {"name": "Build", "actions": [build, check],
                 "onFailure": {"result": "RETRY", "retryConfiguration": {"retryMode": "FAILED_ACTIONS"},
                               "conditions": [{"result": "FAIL", "rules": [rule.clone()]}]}},
                {"name": "Deploy", "blockers": [{"name": "freeze", "type": "Schedule"}], "actions": [approve, deploy],
                 "beforeEntry": {"conditions": [{"result": "FAIL", "rules": [rule.clone()]}]},
                 "onSuccess": {"conditions": [{"rules": [rule]}]}},
            ],
            "version": 1,
            "executionMode": "QUEUED",
            "pipelineType": "V2",
            "variables": [{"name": "env", "defaultValue": "staging", "description": "where to"}],
            "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
                "sourceActionName": "Source",
                "push": [{"branches": {"includes": ["main"], "excludes": ["wip/*"]},
                          "filePaths": {"includes": ["src/**"], "excludes": ["docs/**"]}},
                         {"tags": {"includes": ["v*"], "excludes": ["v0*"]}}],
                "pullRequest": [{"events": ["OPEN", "UPDATED"], "branches": {"includes": ["main"]}}],
            }}],
        })
    }

    /// A valid input of every operation, with as many members as it has.
    fn valid(op: Operation) -> Value {
        use Operation::*;
        let type_id = json!({"category": "Build", "owner": "Custom", "provider": "Make", "version": "1"});
        match op {
            AcknowledgeJob => json!({"jobId": UUID, "nonce": "n1"}),
            CreatePipeline => json!({"pipeline": pipeline(), "tags": [{"key": "team", "value": "web"}]}),
            DeletePipeline => json!({"name": "web"}),
            DisableStageTransition => json!({"pipelineName": "web", "stageName": "Deploy", "transitionType": "Inbound",
                "reason": "Holding for release (freeze)"}),
            EnableStageTransition => {
                json!({"pipelineName": "web", "stageName": "Deploy", "transitionType": "Outbound"})
            }
            GetJobDetails => json!({"jobId": UUID}),
            GetPipeline => json!({"name": "web", "version": 2}),
            GetPipelineExecution => json!({"pipelineName": "web", "pipelineExecutionId": UUID}),
            GetPipelineState => json!({"name": "web"}),
            ListActionExecutions => json!({"pipelineName": "web", "filter": {"pipelineExecutionId": UUID,
                "latestInPipelineExecution": {"pipelineExecutionId": UUID, "startTimeRange": "Latest"}},
                "maxResults": 100, "nextToken": "t"}),
            ListActionTypes => json!({"actionOwnerFilter": "Custom", "nextToken": "t", "regionFilter": "us-east-1"}),
            ListPipelineExecutions => json!({"pipelineName": "web", "maxResults": 1,
                "filter": {"succeededInStage": {"stageName": "Build"}}, "nextToken": "t"}),
            ListPipelines => json!({"nextToken": "t", "maxResults": 1000}),
            ListTagsForResource => json!({"resourceArn": ARN, "nextToken": "t", "maxResults": 50}),
            PollForJobs => json!({"actionTypeId": type_id, "maxBatchSize": 5, "queryParam": {"ProjectName": "web"}}),
            PutApprovalResult => json!({"pipelineName": "web", "stageName": "Deploy", "actionName": "Approve",
                "result": {"summary": "looks good", "status": "Approved"}, "token": UUID}),
            PutJobFailureResult => json!({"jobId": UUID,
                "failureDetails": {"type": "JobFailed", "message": "make failed", "externalExecutionId": "b-1"}}),
            PutJobSuccessResult => json!({"jobId": UUID,
                "currentRevision": {"revision": "abc", "changeIdentifier": "c1", "created": 1_700_000_000,
                    "revisionSummary": "s"},
                "continuationToken": "ct",
                "executionDetails": {"summary": "done", "externalExecutionId": "b-1", "percentComplete": 100},
                "outputVariables": {"VERSION": "1.2"}}),
            RetryStageExecution => json!({"pipelineName": "web", "stageName": "Build", "pipelineExecutionId": UUID,
                "retryMode": "FAILED_ACTIONS"}),
            StartPipelineExecution => json!({"name": "web", "variables": [{"name": "env", "value": "prod"}],
                "clientRequestToken": "req-1",
                "sourceRevisions": [{"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "abc"}]}),
            StopPipelineExecution => json!({"pipelineName": "web", "pipelineExecutionId": UUID, "abandon": true,
                "reason": "wrong commit"}),
            TagResource => json!({"resourceArn": ARN, "tags": [{"key": "team", "value": ""}]}),
            UntagResource => json!({"resourceArn": ARN, "tagKeys": ["team"]}),
            UpdatePipeline => json!({"pipeline": pipeline()}),
        }
    }

    fn check(op: Operation, body: &Value) -> AwsResult<()> {
        Request::decode(op, body.to_string().as_bytes())?.validate()
    }

    fn refused(op: Operation, body: &Value, code: &str, words: &str) {
        let err = check(op, body).expect_err(&format!("{} accepted {body}", op.name()));
        assert_eq!(err.code, code, "{}: {}", op.name(), err.message);
        assert!(err.message.contains(words), "{}: {words:?} not in {}", op.name(), err.message);
    }

    #[test]
    fn the_model_file_is_whole() {
        let model = model();
        for (name, shape) in &model.shapes {
            let refs = shape.members.values().chain(&shape.member).chain(&shape.key).chain(&shape.value);
            for r in refs {
                assert!(model.shapes.contains_key(r), "{name} refers to {r}, which is not in the file");
            }
            for required in &shape.required {
                assert!(shape.members.contains_key(required), "{name}: required {required} is no member");
            }
        }
        assert_eq!(model_enum("StageRetryMode").unwrap(), ["FAILED_ACTIONS", "ALL_ACTIONS"]);
        assert!(declared_errors(Operation::PutApprovalResult).iter().any(|e| e == "InvalidApprovalTokenException"));
    }

    #[test]
    fn a_valid_input_of_every_operation_passes() {
        for op in Operation::ALL {
            check(*op, &valid(*op)).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
        }
        // So does the least an operation can be called with.
        check(Operation::ListPipelines, &json!({})).unwrap();
        check(Operation::GetPipelineState, &json!({"name": "web"})).unwrap();
    }

    /// Every change to a valid input that breaks one model constraint, with
    /// the member path AWS names and the words of the broken rule.
    fn mutations(shape: &str, value: &Value, pointer: &str, path: &str, out: &mut Vec<(String, Mutation)>) {
        let model = model();
        let shape = &model.shapes[shape];
        match (shape.kind.as_str(), value) {
            ("structure", Value::Object(members)) => {
                for required in shape.required.iter().filter(|r| members.contains_key(*r)) {
                    out.push((
                        format!(
                            "Value null at '{}' failed to satisfy constraint: Member must not be null",
                            join(path, required)
                        ),
                        Mutation::Remove(format!("{pointer}/{required}")),
                    ));
                }
                for (name, member) in members {
                    mutations(&shape.members[name], member, &format!("{pointer}/{name}"), &join(path, name), out);
                }
            }
            ("list", Value::Array(items)) => {
                if shape.min.is_some_and(|m| m >= 1) {
                    out.push((
                        format!(
                            "at '{path}' failed to satisfy constraint: Member must have length greater than or equal to"
                        ),
                        Mutation::Set(pointer.to_string(), json!([])),
                    ));
                }
                if let Some(max) = shape.max.filter(|&m| m <= 60) {
                    let many = vec![items[0].clone(); usize::try_from(max).unwrap() + 1];
                    out.push((
                        format!("at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}"),
                        Mutation::Set(pointer.to_string(), Value::Array(many)),
                    ));
                }
                for (i, item) in items.iter().enumerate() {
                    let member = shape.member.as_deref().unwrap();
                    mutations(member, item, &format!("{pointer}/{i}"), &format!("{path}.{}.member", i + 1), out);
                }
            }
            ("string", Value::String(valid)) => {
                let at = |rule: &str| format!("at '{path}' failed to satisfy constraint: {rule}");
                if let Some(max) = shape.max {
                    // The valid value made too long (so it keeps its pattern).
                    let pad = usize::try_from(max).unwrap() + 1 - valid.chars().count();
                    let long = format!("{valid}{}", "x".repeat(pad));
                    out.push((
                        at(&format!("Member must have length less than or equal to {max}")),
                        Mutation::Set(pointer.to_string(), json!(long)),
                    ));
                }
                if shape.values.is_some() {
                    out.push((
                        at("Member must satisfy enum value set"),
                        Mutation::Set(pointer.to_string(), json!("NOPE")),
                    ));
                }
                // Long enough for the minimum, short enough for the maximum.
                let odd = "#".repeat(usize::try_from(shape.min.unwrap_or(1).max(1)).unwrap());
                if shape.regex.as_ref().is_some_and(|r| !r.is_match(&odd)) {
                    out.push((
                        at("Member must satisfy regular expression pattern"),
                        Mutation::Set(pointer.to_string(), json!(odd)),
                    ));
                }
            }
            ("integer", Value::Number(_)) => {
                let at = |rule: &str| format!("at '{path}' failed to satisfy constraint: {rule}");
                if let Some(min) = shape.min {
                    out.push((
                        at(&format!("Member must have value greater than or equal to {min}")),
                        Mutation::Set(pointer.to_string(), json!(min - 1)),
                    ));
                }
                if let Some(max) = shape.max {
                    out.push((
                        at(&format!("Member must have value less than or equal to {max}")),
                        Mutation::Set(pointer.to_string(), json!(max + 1)),
                    ));
                }
            }
            _ => {}
        }
    }

    #[derive(Debug)]
    enum Mutation {
        Remove(String),
        Set(String, Value),
    }

    fn apply(body: &Value, mutation: &Mutation) -> Value {
        let mut body = body.clone();
        match mutation {
            Mutation::Remove(pointer) => {
                let (parent, member) = pointer.rsplit_once('/').unwrap();
                body.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(member).unwrap();
            }
            Mutation::Set(pointer, value) => *body.pointer_mut(pointer).unwrap() = value.clone(),
        }
        body
    }

    #[test]
    fn every_constraint_of_every_member_is_checked() {
        let mut checked = 0;
        for op in Operation::ALL {
            let body = valid(*op);
            let mut all = Vec::new();
            mutations(op.input_shape(), &body, "", "", &mut all);
            assert!(!all.is_empty(), "{}", op.name());
            for (words, mutation) in all {
                let broken = apply(&body, &mutation);
                let err = check(*op, &broken).expect_err(&format!("{} accepted {mutation:?}", op.name()));
                assert_eq!(err.code, "ValidationException", "{} {mutation:?}: {}", op.name(), err.message);
                assert!(err.message.starts_with("1 validation error detected: "), "{}", err.message);
                assert!(err.message.contains(&words), "{} {mutation:?}: {words:?} not in {}", op.name(), err.message);
                checked += 1;
            }
        }
        // Required members, lengths, enums, patterns and ranges all over the
        // declaration: many hundreds of them.
        assert!(checked > 300, "{checked}");
    }

    #[test]
    fn messages_read_as_aws_writes_them() {
        let err = check(Operation::GetPipeline, &json!({"name": "a b"})).unwrap_err();
        assert_eq!(
            err.message,
            r"1 validation error detected: Value 'a b' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9.@\-_]+"
        );
        let err = check(Operation::RetryStageExecution, &json!({"pipelineName": "web"})).unwrap_err();
        assert_eq!(
            err.message,
            "3 validation errors detected: Value null at 'stageName' failed to satisfy constraint: Member must not be null; \
             Value null at 'pipelineExecutionId' failed to satisfy constraint: Member must not be null; \
             Value null at 'retryMode' failed to satisfy constraint: Member must not be null"
        );
        let mut body = valid(Operation::RetryStageExecution);
        body["retryMode"] = json!("SOME");
        refused(
            Operation::RetryStageExecution,
            &body,
            "ValidationException",
            "enum value set: [FAILED_ACTIONS, ALL_ACTIONS]",
        );
        refused(
            Operation::GetPipeline,
            &json!({"name": "x".repeat(101)}),
            "ValidationException",
            "Member must have length less than or equal to 100",
        );
        refused(Operation::GetPipeline, &json!({"name": "web", "version": 0}), "ValidationException", "at 'version'");
    }

    #[test]
    fn map_keys_and_values_are_checked() {
        let mut body = valid(Operation::CreatePipeline);
        body["pipeline"]["stages"][0]["actions"][0]["configuration"] = json!({"BranchName": ""});
        refused(
            Operation::CreatePipeline,
            &body,
            "ValidationException",
            "at 'pipeline.stages.1.member.actions.1.member.configuration' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length greater than or equal to 1]",
        );
        body["pipeline"]["stages"][0]["actions"][0]["configuration"] = json!({"K".repeat(51): "v"});
        refused(Operation::CreatePipeline, &body, "ValidationException", "Map keys must satisfy constraint");
        let mut body = valid(Operation::PollForJobs);
        body["queryParam"] = json!({"a": "1", "b": "2"});
        refused(Operation::PollForJobs, &body, "ValidationException", "at 'queryParam'");
        body["queryParam"] = json!({"a": "no spaces"});
        refused(Operation::PollForJobs, &body, "ValidationException", "Map value must satisfy constraint");
        let mut body = valid(Operation::PutJobSuccessResult);
        body["outputVariables"] = json!({"bad key": "v"});
        refused(Operation::PutJobSuccessResult, &body, "ValidationException", "Map keys must satisfy constraint");
        let mut body = valid(Operation::UpdatePipeline);
        body["pipeline"]["artifactStores"] = json!({"us-east-1": {"type": "S3"}});
        body["pipeline"].as_object_mut().unwrap().remove("artifactStore");
        refused(
            Operation::UpdatePipeline,
            &body,
            "ValidationException",
            "Value null at 'pipeline.artifactStores.us-east-1.location'",
        );
    }

    fn with_pipeline(change: impl FnOnce(&mut Value)) -> Value {
        let mut body = valid(Operation::CreatePipeline);
        change(&mut body["pipeline"]);
        body
    }

    fn structure(change: impl FnOnce(&mut Value), code: &str, words: &str) {
        let body = with_pipeline(change);
        refused(Operation::CreatePipeline, &body, code, words);
        refused(Operation::UpdatePipeline, &json!({"pipeline": body["pipeline"]}), code, words);
    }

    #[test]
    fn a_pipeline_is_held_to_codepipelines_structure_rules() {
        use serde_json::Map;
        const STRUCTURE: &str = "InvalidStructureException";
        structure(|p| drop(p.as_object_mut().unwrap().remove("artifactStore")), STRUCTURE, "artifactStore");
        structure(
            |p| p["artifactStores"] = json!({"us-east-1": {"type": "S3", "location": "abc"}}),
            STRUCTURE,
            "cannot both",
        );
        structure(|p| p["stages"].as_array_mut().unwrap().truncate(1), STRUCTURE, "Pipeline has only 1 stage(s)");
        structure(|p| p["stages"][2]["name"] = json!("Build"), STRUCTURE, "Stage name 'Build' is not unique");
        structure(|p| p["stages"][2]["actions"] = json!([]), "InvalidStageDeclarationException", "has no actions");
        structure(|p| p["stages"][1]["actions"][1]["name"] = json!("Build"), STRUCTURE, "Action name 'Build'");
        structure(
            |p| {
                p["stages"][2]["blockers"] =
                    json!([{"name": "b", "type": "Schedule"}, {"name": "b", "type": "Schedule"}])
            },
            "InvalidBlockerDeclarationException",
            "Blocker name 'b'",
        );
        structure(
            |p| p["stages"][1]["actions"][0]["actionTypeId"]["category"] = json!("Source"),
            STRUCTURE,
            "first stage only",
        );
        structure(
            |p| p["stages"][0]["actions"][0]["actionTypeId"]["category"] = json!("Build"),
            STRUCTURE,
            "only Source actions",
        );
        structure(
            |p| p["stages"][0]["actions"][0]["inputArtifacts"] = json!([{"name": "src"}]),
            "InvalidActionDeclarationException",
            "cannot take input artifacts",
        );
        structure(
            |p| p["stages"][1]["actions"][1]["outputArtifacts"] = json!([{"name": "src"}]),
            STRUCTURE,
            "Output artifact name 'src' is not unique",
        );
        // Same run order: Check cannot see Build's output any more.
        structure(|p| p["stages"][1]["actions"][1]["runOrder"] = json!(1), STRUCTURE, "Input artifact 'bin'");
        structure(
            |p| p["stages"][1]["actions"][0]["inputArtifacts"] = json!([{"name": "src"}, {"name": "src"}]),
            STRUCTURE,
            "twice",
        );
        structure(
            |p| p["stages"][1]["actions"][0]["namespace"] = json!("SourceVariables"),
            STRUCTURE,
            "Namespace 'SourceVariables'",
        );
        structure(|p| p["variables"] = json!([{"name": "a"}, {"name": "a"}]), STRUCTURE, "declared twice");
        structure(
            |p| p["triggers"][0]["gitConfiguration"]["sourceActionName"] = json!("Build"),
            STRUCTURE,
            "not a Source action",
        );
        structure(|p| p["triggers"][0]["gitConfiguration"]["push"] = json!([{}]), STRUCTURE, "needs branches or tags");
        structure(
            |p| {
                p["triggers"][0]["gitConfiguration"]["push"] =
                    json!([{"tags": {"includes": ["v1"]}, "branches": {"includes": ["main"]}}]);
            },
            STRUCTURE,
            "not both",
        );
        structure(
            |p| {
                p["triggers"][0]["gitConfiguration"]["push"] =
                    json!([{"tags": {"includes": ["v1"]}, "filePaths": {"includes": ["a"]}}]);
            },
            STRUCTURE,
            "filePaths only with branches",
        );
        structure(
            |p| p["triggers"][0]["gitConfiguration"]["pullRequest"] = json!([{"events": ["OPEN"]}]),
            STRUCTURE,
            "needs branches",
        );
        // V2 features on a V1 pipeline, one at a time.
        let v1 = |p: &mut Value| {
            p["pipelineType"] = json!("V1");
            let p = p.as_object_mut().unwrap();
            for key in ["variables", "triggers", "executionMode"] {
                p.remove(key);
            }
            for stage in p["stages"].as_array_mut().unwrap() {
                let stage: &mut Map<String, Value> = stage.as_object_mut().unwrap();
                for key in ["onFailure", "onSuccess", "beforeEntry"] {
                    stage.remove(key);
                }
            }
        };
        check(Operation::CreatePipeline, &with_pipeline(v1)).unwrap();
        structure(
            |p| {
                v1(p);
                p["variables"] = json!([{"name": "a"}]);
            },
            STRUCTURE,
            "pipeline variables need pipelineType V2",
        );
        // V1 is the default.
        structure(
            |p| {
                v1(p);
                p.as_object_mut().unwrap().remove("pipelineType");
                p["executionMode"] = json!("PARALLEL");
            },
            STRUCTURE,
            "execution modes need pipelineType V2",
        );
        structure(
            |p| {
                v1(p);
                p["stages"][1]["onSuccess"] = json!({"conditions": [{}]});
            },
            STRUCTURE,
            "need pipelineType V2",
        );
        // Limits.
        structure(
            |p| {
                let many: Vec<Value> = (0..51).map(|i| action(&format!("a{i}"), "Approval", "Manual")).collect();
                p["stages"][2]["actions"] = Value::Array(many);
            },
            "InvalidStageDeclarationException",
            "at most 50 run in parallel",
        );
        structure(
            |p| {
                let many: Vec<Value> = (0..51)
                    .map(|i| {
                        let mut a = action(&format!("a{i}"), "Approval", "Manual");
                        a["runOrder"] = json!(i + 1);
                        a
                    })
                    .collect();
                p["stages"][2]["actions"] = Value::Array(many);
            },
            "InvalidStageDeclarationException",
            "at most 50 actions run in sequence",
        );
        structure(
            |p| {
                let stages: Vec<Value> = (0..11)
                    .map(|s| {
                        let actions: Vec<Value> =
                            (0..50).map(|i| action(&format!("a{i}"), "Approval", "Manual")).collect();
                        json!({"name": format!("s{s}"), "actions": actions})
                    })
                    .collect();
                p["stages"].as_array_mut().unwrap().extend(stages);
            },
            "LimitExceededException",
            "at most 500",
        );
    }

    #[test]
    fn tags_and_resource_arns() {
        let tag_body = |tags: Value| json!({"resourceArn": ARN, "tags": tags});
        refused(
            Operation::TagResource,
            &tag_body(json!([{"key": "aws:x", "value": "v"}])),
            "InvalidTagsException",
            "aws:",
        );
        refused(
            Operation::TagResource,
            &tag_body(json!([{"key": "a", "value": "1"}, {"key": "a", "value": "2"}])),
            "InvalidTagsException",
            "twice",
        );
        let many: Vec<Value> = (0..51).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect();
        refused(Operation::TagResource, &tag_body(Value::Array(many.clone())), "TooManyTagsException", "at most 50");
        refused(
            Operation::CreatePipeline,
            &json!({"pipeline": pipeline(), "tags": many}),
            "TooManyTagsException",
            "at most 50",
        );
        assert_eq!(tags(&[Tag { key: Some("a".into()), value: None }], 49), Ok(()));
        assert_eq!(tags(&[Tag { key: Some("a".into()), value: None }], 50).unwrap_err().code, "TooManyTagsException");
        refused(
            Operation::UntagResource,
            &json!({"resourceArn": ARN, "tagKeys": ["AWS:x"]}),
            "InvalidTagsException",
            "reserved",
        );
        // The model's pattern first (ValidationException), then what the ARN names.
        refused(
            Operation::ListTagsForResource,
            &json!({"resourceArn": "arn:aws:codebuild:r:000000000000:project/web"}),
            "ValidationException",
            "regular expression pattern",
        );
        refused(
            Operation::ListTagsForResource,
            &json!({"resourceArn": "arn:aws:codepipeline:r:000000000000:a/b"}),
            "InvalidArnException",
            "a/b",
        );
        check(
            Operation::UntagResource,
            &json!({"resourceArn": "arn:aws:codepipeline:r:000000000000:actiontype:Custom/Build/Make/1", "tagKeys": []}),
        )
        .unwrap();
    }

    #[test]
    fn start_execution_names_each_variable_and_source_once() {
        let mut body = valid(Operation::StartPipelineExecution);
        body["variables"] = json!([{"name": "env", "value": "a"}, {"name": "env", "value": "b"}]);
        refused(Operation::StartPipelineExecution, &body, "ValidationException", "Pipeline variable 'env'");
        let mut body = valid(Operation::StartPipelineExecution);
        let revision = json!({"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": "abc"});
        body["sourceRevisions"] = json!([revision.clone(), revision]);
        refused(Operation::StartPipelineExecution, &body, "ValidationException", "Source revision of action 'Source'");
    }
}
