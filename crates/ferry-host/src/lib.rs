//! The host-side engine: turns a revision bundle into an installed
//! application, exactly as the AWS CodeDeploy agent does, event by event.
//!
//! It knows nothing of HTTP or the server: callers (the agent, `ferry local`)
//! hand it a [`DeploymentSpec`] and a lifecycle event and get [`Diagnostics`].
//!
//! # Layout
//! - `layout`: the deployment root's directories and pointer files.
//! - `install`: cleanup of the previous install, instruction generation and execution.
//! - `hooks` / `scripts_log`: running hook scripts, `scripts.log`.
//! - `retention`: pruning old revisions.
//! - `engine`: `HostEngine::run_event`, which ties these together.

pub mod diagnostics;
pub mod hooks;
pub mod install;
pub mod scripts_log;

pub use diagnostics::{Diagnostics, ErrorCode};
pub mod engine;
pub mod layout;
pub mod retention;

pub use engine::{BundleFetcher, Creator, DeploymentSpec, DeploymentType, HostConfig, HostEngine, RevisionSource};
