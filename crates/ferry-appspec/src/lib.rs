//! The appspec file: its model, parsing and validation.
//!
//! This crate knows the shape and the rules of `appspec.yml` (and its JSON
//! spelling) for the three compute platforms CodeDeploy defines. It knows
//! nothing of files or processes: callers hand it the text and the file name
//! to use in error messages, and get back a validated model or an
//! [`AppSpecError`] naming the file, the key and what was expected.
//!
//! # Layout
//! - [`model`]: the validated types (`ServerAppSpec`, `LambdaAppSpec`, `EcsAppSpec`).
//! - `parse`: YAML/JSON text to model, with every rule the CodeDeploy agent applies.

pub mod model;
mod parse;

pub use model::*;
pub use parse::{
    MAX_APPSPEC_BYTES, codedeploy_warnings, parse, parse_installed_server, parse_server, parse_server_with_events,
};

/// Checks the events a deployment is told to run (`ferry local --events`)
/// against its appspec, parsed with [`parse_server_with_events`] given the
/// non-standard ones: each must be a Server lifecycle event, or a custom
/// event the appspec hooks (else it is most likely a typo).
pub fn check_requested_events(events: &[String], spec: &ServerAppSpec) -> Result<(), String> {
    for event in events.iter().filter(|e| !SERVER_LIFECYCLE_EVENTS.contains(&e.as_str())) {
        if spec.hooks.iter().any(|(hooked, _)| hooked == event) {
            continue;
        }
        let hint = match parse::suggestion(event, &SERVER_LIFECYCLE_EVENTS) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "a custom event needs a hook in the appspec; the lifecycle events are {}",
                SERVER_LIFECYCLE_EVENTS.join(", ")
            ),
        };
        return Err(format!("`{event}` is not a lifecycle event and the appspec has no hook for it ({hint})"));
    }
    Ok(())
}

/// A problem with an appspec file. `Display` gives a one-line message such as
/// `appspec.yml: hooks.BeforeInstall[0].timeout: expected a whole number of seconds greater than 0, got "soon"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}{message}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
pub struct AppSpecError {
    /// The file name as the caller gave it (e.g. `appspec.yml`).
    pub file: String,
    /// Dotted path of the offending key (`permissions[2].mode`); empty for
    /// whole-document problems such as an empty file.
    pub key: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl AppSpecError {
    /// The line the problem was found on, when the message carries one (the
    /// parser appends ` (line N)` wherever it knows the line).
    pub fn line(&self) -> Option<usize> {
        let rest = self.message.strip_suffix(')')?;
        let start = rest.rfind(" (line ")?;
        rest[start + " (line ".len()..].parse().ok()
    }
}
