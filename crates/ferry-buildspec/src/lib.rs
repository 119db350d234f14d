//! `buildspec.yml` version 0.2, exactly as AWS CodeBuild reads it, and the
//! pure rules a build runner follows around it.
//!
//! Sources: CodeBuild User Guide, "Build specification reference"
//! (`build-spec-ref`), "Build phase transitions" (`view-build-details-phases`),
//! "Environment variables in build environments" (`build-env-ref-env-vars`),
//! "Working with test reporting" (`test-report-file-format`); the API's
//! `BuildPhase` and `TestCase` shapes (botocore `codebuild/2016-10-06`). Each
//! module says which rule it implements and where ferry deliberately differs.
//!
//! This crate knows no processes, servers, containers or network. Callers hand
//! it text (and a file name for messages); the only file-system access is
//! [`walk`], which lists a directory tree without following symbolic links,
//! and [`reports::read_report`], which reads one bounded file.
//!
//! # Layout
//! - [`model`]: the validated buildspec ([`Buildspec`]).
//! - `parse`: YAML text to model, with every rule; errors are
//!   [`BuildspecError`] (file, dotted key, what was expected, line).
//! - [`phases`]: the phase state machine (`SUBMITTED` … `COMPLETED`) and
//!   `CODEBUILD_BUILD_SUCCEEDING`.
//! - [`select`]: artifact, cache and report file selection (globs,
//!   `base-directory`, `discard-paths`, `exclude-paths`) and [`walk`].
//! - [`reports`]: JUnit XML, TestNG XML and Cucumber JSON test reports.
//! - [`vars`]: the `CODEBUILD_*` variables and the precedence of user ones.

pub mod model;
mod parse;
pub mod phases;
pub mod reports;
pub mod select;
pub mod vars;
use ferry_yaml as yaml;

pub use model::*;
pub use parse::{MAX_BUILDSPEC_BYTES, parse};
pub use phases::{BuildStatus, Outcome, Phase, PhaseMachine, PhaseStatus, Transition, transition};
pub use select::{Entry, EntryKind, Selected, Selection, SelectionError, walk};

/// A problem with a buildspec. `Display` gives one line such as
/// `buildspec.yml: phases.build.on-failure: expected ABORT or CONTINUE, got "STOP" (line 7)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}{message}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct BuildspecError {
    /// The file name as the caller gave it (`buildspec.yml`, or a name for an
    /// inline buildspec).
    pub file: String,
    /// Dotted path of the offending key (`phases.build.commands[2]`); empty for
    /// whole-document problems such as an empty file.
    pub key: String,
    /// What was wrong and what was expected, ending in ` (line N)` when the
    /// line is known.
    pub message: String,
}

impl BuildspecError {
    /// The line the problem was found on, when known.
    pub fn line(&self) -> Option<usize> {
        let rest = self.message.strip_suffix(')')?;
        let start = rest.rfind(" (line ")?;
        rest[start + " (line ".len()..].parse().ok()
    }
}
