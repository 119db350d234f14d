//! The operations layer: every change to applications, deployment groups,
//! deployment configs and deployments, whichever surface asks for it.
//!
//! ```text
//! native API (native.rs) ─┐
//! AWS API (aws/)         ─┼─ wire ↔ domain ─▶ ops ─▶ driver (lock, machine) ─▶ store
//! console (console/)     ─┘   OpError ↔ their error shape
//! ```
//!
//! Adapters decode their wire shapes, check the caller's role, call one
//! function here and turn [`OpError`] into their own error shape; they
//! hold no rule of their own. The rules are `ferry_core::plan`'s (pure);
//! what they name (configs, target groups, alarms) is looked up here; and
//! every write to a group or a deployment is serialised with the driver's
//! transitions. A new API surface (builds, pipelines) plugs in as another
//! adapter over these functions.

pub mod applications;
#[cfg(test)]
mod build_host_tests;
pub mod build_hosts;
pub mod builds;
pub mod configs;
pub mod container_hosts;
pub mod deployments;
pub mod ecs_deployments;
mod error;
pub mod git_poll;
pub mod groups;
pub mod instances;
pub mod keys;
pub mod pipeline_actions;
pub mod pipeline_events;
pub mod pipeline_jobs;
pub mod pipeline_runs;
pub mod pipeline_triggers;
pub mod pipelines;
pub mod scaling_groups;
pub mod secrets;
pub mod services;
pub mod target_groups;
pub mod task_definitions;
pub mod webhooks;

pub use error::OpError;

#[cfg(test)]
mod tests;
