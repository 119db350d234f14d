//! Pipelines as AWS CodePipeline defines them (issue #14): the declaration,
//! its structure rules, variables, and the execution state machine. Pure:
//! no I/O, no clock, no randomness, no store, no HTTP. Times are arguments
//! ([`Millis`]); ids and approval tokens are given by the caller.
//!
//! Sources: botocore `codepipeline/2015-07-09` (the shapes and their
//! constraints); CodePipeline User Guide: "CodePipeline pipeline structure
//! reference" (`reference-pipeline-structure`: names, stages, actions,
//! artifacts, the valid action types and their artifact counts and
//! configuration keys), "How pipeline executions work"
//! (`concepts-how-it-works`: stage locks, superseding, stop, retry,
//! transitions), "Variables reference" (`reference-variables`), "Quotas"
//! (`limits`: timeouts, counts), "Manage approval actions" (`approvals`),
//! "Filter triggers on code push or pull requests" (`pipelines-filter`).
//! Each module says which rules it implements and where ferry differs.
//!
//! # Layout
//! - [`model`]: [`PipelineDeclaration`] and its parts, serialised as
//!   CodePipeline's JSON.
//! - `parse`: JSON or YAML text to model; errors are [`PipelineError`]
//!   (file, key path such as `stages[1].actions[0].runOrder`, what was
//!   expected, line).
//! - [`check`]: CodePipeline's structure rules and the action providers
//!   ferry runs ([`check::provider`]).
//! - [`vars`]: `#{namespace.name}` references and their resolution.
//! - [`trigger`]: which git pushes and pull requests a V2 trigger's filters
//!   take (globs, includes and excludes).
//! - [`execution`]: the execution state machine
//!   ([`execution::step`] over a pipeline's [`execution::Runs`]).

pub mod check;
pub mod execution;
pub mod model;
mod parse;
pub mod trigger;
pub mod vars;

#[cfg(test)]
mod fixtures;
use ferry_yaml as yaml;

pub use model::*;
pub use parse::{MAX_DECLARATION_BYTES, parse};

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// One problem with a declaration: the key path (empty for the whole
/// document), what is wrong and what was expected, and the line when the
/// declaration came from text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
    pub line: Option<usize>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// A declaration that cannot be used. `Display` gives one line per problem
/// such as `pipeline.yml: stages[1].actions[0].runOrder: expected a whole
/// number from 1 to 999, got 0 (line 14)`. Parsing stops at the first
/// problem of shape; the structure rules report every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineError {
    /// The file name as the caller gave it.
    pub file: String,
    /// At least one.
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {problem}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for PipelineError {}
