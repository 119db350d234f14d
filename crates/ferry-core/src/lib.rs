//! ferry's deployment core: domain types, deployment configurations, the
//! planner (which instances go next) and the deployment state machine.
//!
//! Everything here is pure: no I/O, no clocks, no randomness. Time comes in
//! as [`Millis`] arguments, randomness as bytes. The driver in the server
//! feeds [`machine::Input`]s to [`machine::step`], persists the resulting
//! state, then performs the returned [`machine::Effect`]s.
//!
//! Types derive serde because the store persists them as documents; the
//! JSON wire shapes of the APIs live elsewhere.
//!
//! # Layout
//! - [`ids`]: CodeDeploy-shaped identifiers.
//! - [`build`]: build projects and build records (CodeBuild's job).
//! - [`config`]: deployment configs, built-in and custom; minimum healthy hosts.
//! - [`events`]: lifecycle event lists and who runs each event.
//! - [`deployment`]: the deployment aggregate (targets, lifecycle events, statuses).
//! - [`plan`]: the rules for groups, configs and new deployments; what a new
//!   deployment is and what rolls a failed one back.
//! - [`planner`]: minimum-healthy-hosts arithmetic.
//! - [`machine`]: the transitions.
//! - [`notices`]: what changed between two versions of a deployment (event stream, triggers).

pub mod build;
pub mod config;
pub mod deployment;
pub mod events;
pub mod ids;
pub mod joins;
pub mod machine;
pub mod notices;
pub mod plan;
pub mod planner;
pub mod resources;
pub mod scaling;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;
